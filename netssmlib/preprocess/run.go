package preprocess

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/netssm/netssm/internal/atomicfile"
	"github.com/netssm/netssm/netssmlib/pcapio"
)

// Options configure Run. Exactly one input (InDir, InCSV or Files) and one
// label source (Label or LabelCSV) must be given.
type Options struct {
	InDir    string   // walk recursively for *.pcap / *.pcapng (NetSSM -in-dir)
	InCSV    string   // CSV whose first column lists capture paths (NetSSM -in-csv)
	Files    []string // explicit capture paths, in output order
	Label    string   // blanket label for every capture (NetSSM -label)
	LabelCSV string   // File,Label CSV keyed by base name (NetSSM -label-csv)

	// Out is the JSONL output path. By default the file is replaced
	// atomically (written to a temporary file, then renamed); with Append
	// the records are appended, as NetSSM does. Out "-" writes to Stdout.
	Out    string
	Append bool
	Stdout io.Writer // used for Out "-"; nil means os.Stdout

	// Truncate keeps the first N whitespace-separated words of each sample
	// (label token included) when N > 0; 0 keeps everything. A negative
	// value keeps everything but normalises whitespace in the label token as
	// NetSSM's -truncate does for 0 and values below -1.
	Truncate int

	Workers  int                       // decoding goroutines; 0 = GOMAXPROCS
	Progress func(Progress)            // called a few times a second and at the end
	OnFile   func(FileResult)          // called for each input, in order
	progress time.Duration             // progress interval (tests)
	batch    struct{ bytes, pkts int } // batch limits (tests)
}

// Progress is a snapshot for progress display.
type Progress struct {
	Files, FilesDone int
	Packets          int64 // records read
	Bytes            int64 // capture bytes read
	Elapsed          time.Duration
	Done             bool
}

// FileResult is the outcome of one input capture.
type FileResult struct {
	Path    string
	Label   string
	Records int64 // packet records read
	Packets int   // TCP/UDP packets (the record's OrigLen)
	Bytes   int64 // capture bytes read
	Written bool  // a JSONL record was written
	Skipped bool  // not written: at most one TCP/UDP packet (as in NetSSM)
	Err     error // the input failed: not written, or written from the packets before the error
	Warning error // e.g. truncated capture: the packets before the cut were used
}

// Stats summarises a run.
type Stats struct {
	Files    int   // inputs
	Samples  int   // JSONL records written
	Skipped  int   // inputs with at most one TCP/UDP packet
	Failed   int   // inputs with errors
	Warnings int   // inputs with warnings
	Records  int64 // packet records read
	Packets  int64 // TCP/UDP packets
	Bytes    int64 // capture bytes read
	Elapsed  time.Duration
}

// InputErrors is returned by Run when some inputs failed; the output holds
// the records of the other inputs.
type InputErrors struct {
	Errs []error
}

func (e *InputErrors) Error() string {
	if len(e.Errs) == 1 {
		return "1 input failed: " + e.Errs[0].Error()
	}
	return fmt.Sprintf("%d inputs failed (first: %v)", len(e.Errs), e.Errs[0])
}

func (e *InputErrors) Unwrap() []error { return e.Errs }

// Run preprocesses captures into a JSONL dataset, byte-identical to NetSSM's
// preprocessor for the inputs it handles. Inputs are read in order and
// streamed: captures and large captures are decoded in parallel, records are
// written in input order, and memory use does not grow with input size.
//
// Failed inputs (unreadable, malformed, missing from the label CSV) are
// reported through OnFile and in the returned *InputErrors; the other inputs
// are still written. Any other error (bad options, output not writable,
// cancellation) leaves the output untouched (unless Append).
func Run(ctx context.Context, opt Options) (Stats, error) {
	var st Stats
	nIn := 0
	for _, set := range []bool{opt.InDir != "", opt.InCSV != "", opt.Files != nil} {
		if set {
			nIn++
		}
	}
	if nIn != 1 {
		return st, errors.New("preprocess: give exactly one input: a directory, an input CSV or a list of files")
	}
	if opt.Label != "" && opt.LabelCSV != "" {
		return st, errors.New("preprocess: give either a blanket label or a label CSV, not both")
	}
	if opt.Label == "" && opt.LabelCSV == "" {
		return st, errors.New("preprocess: no label: give a blanket label or a label CSV")
	}
	if opt.Out == "" {
		return st, errors.New("preprocess: no output file")
	}
	var (
		paths   []string
		preErrs []error
		err     error
	)
	switch {
	case opt.InDir != "":
		paths, preErrs, err = ListDir(opt.InDir)
	case opt.InCSV != "":
		paths, preErrs, err = ReadPathCSV(opt.InCSV)
	default:
		paths = opt.Files
	}
	if err != nil {
		return st, err
	}
	var labels *Labels
	if opt.LabelCSV != "" {
		if labels, err = ReadLabelCSV(opt.LabelCSV); err != nil {
			return st, err
		}
	}
	jobs := make([]*fileJob, 0, len(paths))
	prefixes := map[string]*labelPrefix{}
	truncate := -1 // NetSSM's "off"
	switch {
	case opt.Truncate > 0:
		truncate = opt.Truncate
	case opt.Truncate < 0:
		truncate = 0
	}
	for _, p := range paths {
		j := &fileJob{path: p, label: opt.Label}
		if labels != nil {
			j.label, j.err = labels.Lookup(p)
		}
		lp, ok := prefixes[j.label]
		if !ok {
			v := newLabelPrefix(j.label, truncate)
			lp = &v
			prefixes[j.label] = lp
		}
		j.prefix = lp
		j.textDone.Store(lp.empty)
		jobs = append(jobs, j)
	}

	// Output.
	var (
		w       io.Writer
		tmp     *atomicfile.File
		outFile *os.File
	)
	switch {
	case opt.Out == "-":
		w = opt.Stdout
		if w == nil {
			w = os.Stdout
		}
	case opt.Append:
		outFile, err = os.OpenFile(opt.Out, os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
		if err != nil {
			return st, fmt.Errorf("output: %w", err)
		}
		w = outFile
	default:
		tmp, err = atomicfile.Create(opt.Out, 0o644)
		if err != nil {
			return st, fmt.Errorf("output: %w", err)
		}
		w = tmp
	}
	bw := bufio.NewWriterSize(w, 1<<20)
	inErrs := append([]error(nil), preErrs...)
	if opt.OnFile != nil {
		for _, e := range preErrs {
			res := FileResult{Err: e}
			var fe *FileError
			if errors.As(e, &fe) {
				res.Path = fe.Path
			}
			opt.OnFile(res)
		}
	}
	st, runErr := process(ctx, opt, jobs, bw, &inErrs)
	st.Failed += len(preErrs)
	if runErr == nil {
		runErr = bw.Flush()
	}
	switch {
	case tmp != nil:
		if runErr == nil {
			runErr = tmp.Commit()
		}
		tmp.Abort()
	case outFile != nil:
		if cerr := outFile.Close(); runErr == nil {
			runErr = cerr
		}
	}
	if runErr != nil {
		return st, runErr
	}
	if len(inErrs) > 0 {
		return st, &InputErrors{Errs: inErrs}
	}
	return st, nil
}

// ProcessFile preprocesses one capture and writes its JSONL record (if it
// has at least two TCP/UDP packets) to w, streaming: memory use does not
// depend on the capture size. path is written as the Filename and hashed as
// NetSSM does. truncate follows Options.Truncate.
func ProcessFile(ctx context.Context, w io.Writer, path, label string, truncate int) (FileResult, error) {
	var res FileResult
	opt := Options{Files: []string{path}, Label: label, Truncate: truncate, OnFile: func(r FileResult) { res = r }}
	nt := -1
	switch {
	case truncate > 0:
		nt = truncate
	case truncate < 0:
		nt = 0
	}
	lp := newLabelPrefix(label, nt)
	j := &fileJob{path: path, label: label, prefix: &lp}
	j.textDone.Store(lp.empty)
	bw := bufio.NewWriterSize(w, 256<<10)
	var errs []error
	_, err := process(ctx, opt, []*fileJob{j}, bw, &errs)
	if err == nil {
		err = bw.Flush()
	}
	if err == nil && res.Err != nil {
		err = res.Err
	}
	return res, err
}

type fileJob struct {
	path     string
	label    string
	prefix   *labelPrefix
	err      error // failure before reading (label missing)
	readErr  error // failure while reading
	warn     error
	records  int64
	bytes    int64
	textDone atomic.Bool // the writer needs no more text of this file
}

type batch struct {
	f     *fileJob
	last  bool
	data  []byte
	raw   []byte // a whole small capture, parsed by the decoder (pooled)
	ends  []int32
	links []uint32
	text  []byte
	n     int
	pkt   []byte
	done  chan struct{}
}

func (b *batch) reset(f *fileJob) {
	if cap(b.data) > 4<<20 { // grown by a jumbo record: don't keep it
		b.data, b.pkt = nil, nil
	}
	b.f, b.last, b.n, b.raw = f, false, 0, nil
	b.data, b.ends, b.links, b.text = b.data[:0], b.ends[:0], b.links[:0], b.text[:0]
	b.done = make(chan struct{})
}

// process runs the reader -> decoders -> ordered writer pipeline.
func process(ctx context.Context, opt Options, jobs []*fileJob, w *bufio.Writer, inErrs *[]error) (Stats, error) {
	start := time.Now()
	st := Stats{Files: len(jobs)}
	workers := opt.Workers
	if workers <= 0 {
		workers = runtime.GOMAXPROCS(0)
	}
	maxBytes, maxPkts, whole := 1<<20, 4096, wholeFile
	if opt.batch.bytes > 0 { // tests: every capture goes through the batching
		maxBytes, maxPkts, whole = opt.batch.bytes, opt.batch.pkts, -1
	}
	nbuf := 2*workers + 2
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	free := make(chan *batch, nbuf)
	for range nbuf {
		free <- &batch{}
	}
	order := make(chan *batch, nbuf)
	work := make(chan *batch, nbuf)
	var readBytes, readRecords atomic.Int64
	var wg sync.WaitGroup
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for b := range work {
				b.decode(&readBytes, &readRecords)
				close(b.done)
			}
		}()
	}
	go func() {
		defer close(order)
		defer close(work)
		produce(ctx, jobs, free, order, work, maxBytes, maxPkts, whole, &readBytes, &readRecords)
	}()

	wr := &sampleWriter{w: w}
	var werr error
	filesDone := 0
	interval := opt.progress
	if interval == 0 {
		interval = 200 * time.Millisecond
	}
	lastProgress := start
	report := func(done bool) {
		if opt.Progress == nil {
			return
		}
		opt.Progress(Progress{Files: len(jobs), FilesDone: filesDone, Packets: readRecords.Load(), Bytes: readBytes.Load(), Elapsed: time.Since(start), Done: done})
	}
	for b := range order {
		<-b.done
		if werr == nil && ctx.Err() == nil {
			if res, done, err := wr.consume(b); err != nil {
				werr = err
				cancel()
			} else if done {
				filesDone++
				st.Records += res.Records
				st.Packets += int64(res.Packets)
				st.Bytes += res.Bytes
				switch {
				case res.Err != nil:
					st.Failed++
					*inErrs = append(*inErrs, res.Err)
				case res.Skipped:
					st.Skipped++
				}
				if res.Written {
					st.Samples++
				}
				if res.Warning != nil {
					st.Warnings++
				}
				if opt.OnFile != nil {
					opt.OnFile(res)
				}
			}
			if now := time.Now(); now.Sub(lastProgress) >= interval {
				lastProgress = now
				report(false)
			}
		}
		free <- b
	}
	wg.Wait()
	st.Elapsed = time.Since(start)
	if werr == nil {
		werr = parent.Err()
	}
	if werr == nil {
		report(true)
	}
	return st, werr
}

// smallFile is the size up to which captures are read whole, by several
// loader goroutines ahead of the producer (opening and reading thousands of
// small files one by one would make the single producer the bottleneck).
// Larger captures are streamed by the producer.
const smallFile = 1 << 20

// wholeFile is the size up to which a loaded capture is parsed by a decoder
// as one batch rather than cut into batches by the producer. It bounds a
// batch's text: a capture this size holds at most ~4,500 TCP/UDP packets,
// ~2.3 MB of text.
const wholeFile = 256 << 10

// prefetched is a capture loaded ahead of the producer.
type prefetched struct {
	data   []byte // whole file (nil: stream it)
	stream bool
	err    error
	done   chan struct{}
}

var fileBufPool = sync.Pool{New: func() any { b := make([]byte, 0, 64<<10); return &b }}

// prefetch loads the small captures among jobs with a few goroutines and
// delivers them in order on the returned channel (bounded look-ahead).
func prefetch(ctx context.Context, jobs []*fileJob, loaders int) <-chan *prefetched {
	out := make(chan *prefetched, 4*loaders)
	todo := make(chan struct {
		f *fileJob
		p *prefetched
	}, 4*loaders)
	for range loaders {
		go func() {
			for t := range todo {
				t.p.data, t.p.stream, t.p.err = loadSmall(t.f.path)
				close(t.p.done)
			}
		}()
	}
	go func() {
		defer close(out)
		defer close(todo)
		for _, f := range jobs {
			p := &prefetched{done: make(chan struct{})}
			if f.err != nil {
				close(p.done)
			} else {
				todo <- struct {
					f *fileJob
					p *prefetched
				}{f, p}
			}
			select {
			case out <- p:
			case <-ctx.Done():
				return
			}
		}
	}()
	return out
}

// loadSmall reads a capture of at most smallFile bytes into a pooled
// buffer; larger files are left to be streamed.
func loadSmall(path string) ([]byte, bool, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, false, err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return nil, false, err
	}
	if fi.Size() > smallFile || !fi.Mode().IsRegular() {
		return nil, true, nil
	}
	bp := fileBufPool.Get().(*[]byte)
	b := (*bp)[:0]
	if int64(cap(b)) < fi.Size()+1 {
		b = make([]byte, 0, fi.Size()+1)
	}
	for {
		n, err := f.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			break
		}
		if err != nil {
			*bp = b[:0]
			fileBufPool.Put(bp)
			return nil, false, err
		}
		if len(b) == cap(b) {
			if len(b) > smallFile { // grew while we read: stream it
				*bp = b[:0]
				fileBufPool.Put(bp)
				return nil, true, nil
			}
			b = slices.Grow(b, 64<<10)
		}
	}
	return b, false, nil
}

// produce reads the captures in order and cuts them into batches.
func produce(ctx context.Context, jobs []*fileJob, free <-chan *batch, order, work chan<- *batch, maxBytes, maxPkts, whole int, readBytes, readRecords *atomic.Int64) {
	loaded := prefetch(ctx, jobs, 2)
	get := func(f *fileJob) *batch {
		select {
		case b := <-free:
			b.reset(f)
			return b
		case <-ctx.Done():
			return nil
		}
	}
	send := func(b *batch) {
		order <- b
		work <- b
	}
	for _, f := range jobs {
		var pf *prefetched
		select {
		case pf = <-loaded:
		case <-ctx.Done():
			return
		}
		<-pf.done
		b := get(f)
		if b == nil {
			return
		}
		if f.err == nil {
			b = readCapture(ctx, f, pf, b, get, send, maxBytes, maxPkts, whole, readBytes, readRecords)
			if b == nil {
				return
			}
		}
		b.last = true
		send(b)
	}
}

func readCapture(ctx context.Context, f *fileJob, pf *prefetched, b *batch, get func(*fileJob) *batch, send func(*batch), maxBytes, maxPkts, whole int, readBytes, readRecords *atomic.Int64) *batch {
	var (
		r   *pcapio.Reader
		err error
	)
	switch {
	case pf.err != nil:
		err = pf.err
	case pf.stream:
		r, err = pcapio.Open(f.path)
	case len(pf.data) <= whole:
		// Parsed by a decoder: the producer only hands it on.
		b.raw = pf.data
		return b
	default:
		defer func() {
			bp := &pf.data
			*bp = (*bp)[:0]
			fileBufPool.Put(bp)
		}()
		r, err = pcapio.NewReaderBytes(pf.data, f.path)
	}
	if err != nil {
		f.readErr = err
		return b
	}
	defer r.Close()
	var lastOff int64
	if cap(b.data) < maxBytes && maxBytes <= 1<<20 {
		b.data = make([]byte, 0, maxBytes) // once per pooled batch, not by doubling
	}
	readPackets(f, r, func(link uint32, data []byte) bool {
		if len(b.ends) >= maxPkts || (len(b.data) > 0 && len(b.data)+len(data) > maxBytes) {
			off := r.Offset()
			readBytes.Add(off - lastOff)
			lastOff = off
			readRecords.Add(int64(len(b.ends)))
			send(b)
			if b = get(f); b == nil {
				return false
			}
			if cap(b.data) < maxBytes && maxBytes <= 1<<20 {
				b.data = make([]byte, 0, maxBytes)
			}
		}
		b.data = append(b.data, data...)
		b.ends = append(b.ends, int32(len(b.data)))
		b.links = append(b.links, link)
		return true
	})
	if b == nil {
		return nil
	}
	readBytes.Add(f.bytes - lastOff)
	readRecords.Add(int64(len(b.ends)))
	if ctx.Err() != nil {
		return nil
	}
	return b
}

// readPackets calls add with each packet record of f's capture r (cut to
// the snap length as libpcap does) until the end, an error (recorded in f)
// or add returns false. It sets f.records and f.bytes.
func readPackets(f *fileJob, r *pcapio.Reader, add func(link uint32, data []byte) bool) {
	lastLink, linkOK := ^uint32(0), false
	for {
		data, p, err := r.Next()
		if err != nil {
			if err != io.EOF {
				if errors.Is(err, pcapio.ErrTruncated) {
					f.warn = err
				} else {
					f.readErr = err
				}
			}
			break
		}
		if p.LinkType != lastLink {
			lastLink, linkOK = p.LinkType, LinkTypeSupported(p.LinkType)
		}
		if !linkOK {
			f.readErr = fmt.Errorf("%s: unsupported link type %d (interface %d)", f.path, p.LinkType, p.Interface)
			break
		}
		f.records++
		if !add(p.LinkType, libpcapSnap(r, data)) {
			return
		}
	}
	f.bytes = r.Offset()
}

// decode turns the batch's packets into sample text (run by the workers).
func (b *batch) decode(readBytes, readRecords *atomic.Int64) {
	if b.f.err != nil {
		return
	}
	textDone := b.f.textDone.Load()
	if b.raw != nil {
		b.decodeWhole(textDone, readBytes, readRecords)
		return
	}
	if need := len(b.ends) * (4*SampleBytes + len(pktSep)); !textDone && cap(b.text) < need {
		b.text = make([]byte, 0, need) // at most this much: grow once, reused after
	}
	start := int32(0)
	for i, end := range b.ends {
		b.packet(b.links[i], b.data[start:end], textDone)
		start = end
	}
}

// decodeWhole parses and decodes a whole small capture held in b.raw, so
// that the producer, a single goroutine, does not parse small captures.
func (b *batch) decodeWhole(textDone bool, readBytes, readRecords *atomic.Int64) {
	f := b.f
	defer func() {
		buf := b.raw[:0]
		b.raw = nil
		fileBufPool.Put(&buf)
	}()
	r, err := pcapio.NewReaderBytes(b.raw, f.path)
	if err != nil {
		f.readErr = err
		return
	}
	defer r.Close()
	readPackets(f, r, func(link uint32, data []byte) bool {
		b.packet(link, data, textDone)
		return true
	})
	readBytes.Add(f.bytes)
	readRecords.Add(f.records)
}

// packet decodes one packet into the batch's text.
func (b *batch) packet(link uint32, data []byte, textDone bool) {
	var kind Kind
	b.pkt, kind = PacketBytes(b.pkt[:0], link, data)
	if kind == Skip {
		return
	}
	b.n++
	if textDone {
		return
	}
	if b.n > 1 {
		b.text = append(b.text, pktSep...)
	}
	b.text = AppendPacketText(b.text, b.pkt)
}

// sampleWriter assembles the JSONL records from batches in order.
type sampleWriter struct {
	w         *bufio.Writer
	cur       *fileJob
	count     int
	started   bool
	pending   []byte
	budget    int  // words left; -1 = unlimited
	needSpace bool // a word was written last (truncation mode)
}

func (s *sampleWriter) consume(b *batch) (FileResult, bool, error) {
	f := b.f
	if f != s.cur {
		s.cur, s.count, s.started, s.pending = f, 0, false, s.pending[:0]
		s.budget, s.needSpace = f.prefix.limit, false
	}
	if b.n > 0 && f.err == nil {
		if !s.started {
			if s.count+b.n >= 2 {
				s.started = true
				s.w.WriteString(`{"Data":"`)
				s.w.Write(f.prefix.json)
				if s.count == 1 {
					s.emit(s.pending)
					s.emit([]byte(pktSep))
				}
				s.emit(b.text)
			} else {
				s.pending = append(s.pending[:0], b.text...)
			}
		} else {
			s.emit([]byte(pktSep))
			s.emit(b.text)
		}
		s.count += b.n
	}
	if !b.last {
		return FileResult{}, false, nil
	}
	res := FileResult{Path: f.path, Label: f.label, Records: f.records, Packets: s.count, Bytes: f.bytes, Warning: f.warn}
	switch {
	case f.err != nil:
		res.Err = &FileError{Path: f.path, Err: f.err}
	case f.readErr != nil:
		res.Err = &FileError{Path: f.path, Err: f.readErr}
	}
	if res.Warning != nil {
		res.Warning = &FileError{Path: f.path, Err: res.Warning}
	}
	if s.started {
		s.w.Write(recordTrailer(f.path))
		s.w.WriteString(strconv.Itoa(s.count))
		s.w.WriteString("}\n")
		res.Written = true
	} else if f.err == nil {
		res.Skipped = s.count <= 1 && res.Err == nil
	}
	s.cur = nil
	_, err := s.w.Write(nil) // surface a sticky write error
	return res, true, err
}

// emit writes sample text, applying the truncation word budget.
func (s *sampleWriter) emit(p []byte) {
	if s.budget < 0 {
		s.w.Write(p)
		return
	}
	// p holds ASCII words separated by single spaces, maybe with a leading
	// or trailing space.
	for len(p) > 0 && s.budget > 0 {
		if p[0] == ' ' {
			p = p[1:]
			continue
		}
		i := bytes.IndexByte(p, ' ')
		if i < 0 {
			i = len(p)
		}
		if s.needSpace {
			s.w.WriteByte(' ')
		}
		s.w.Write(p[:i])
		s.needSpace = true
		s.budget--
		p = p[i:]
	}
	if s.budget == 0 {
		s.cur.textDone.Store(true)
	}
}
