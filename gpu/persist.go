package gpu

// PersistentRecorder is implemented by backends that can run a recorded
// decode step as one persistent kernel (gpu/cuda: one cooperative launch
// with grid-wide barriers between the recorded ops).
type PersistentRecorder interface {
	// RecordPersistent calls record, which must only queue the decode ops
	// the backend supports there (gpu/cuda: Embedding and the FusedDecoder
	// ops), and returns them as a Graph that runs them all in one launch,
	// in order, without running them now. An op it cannot run persistently
	// is an error naming it.
	RecordPersistent(record func() error) (Graph, error)
}
