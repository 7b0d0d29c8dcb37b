//go:build cuda || cudaemu

package cuda

import (
	"errors"
	"fmt"
	"unsafe"

	"github.com/netssm/netssm/gpu"
)

// Persistent decode (docs/gpu.md, Persistent decode): the launches of a
// decode step recorded from the fused ops and run by k_dec_persistent
// (kernels/decode_persist.cu) in one cooperative launch.

var _ gpu.PersistentRecorder = (*Backend)(nil)

// Layout of the kernel's program (PERSIST_WORDS, PERSIST_ARGS, PH_* in
// decode_persist.cu).
const (
	persistWords   = 40
	persistHeader  = 4
	persistThreads = 128
	persistScratch = 128 // bytes of reduction scratch ahead of a phase's shared memory
)

var persistKinds = map[string]uint64{"k_embed": 1, "k_dec_in": 2, "k_dec_ssd": 3, "k_dec_out": 4}

// coopDevice is a device that can launch a kernel cooperatively (every
// block resident at once, or the launch fails).
type coopDevice interface {
	// coResident is how many blocks of kernel name (block threads, smem
	// bytes of dynamic shared memory) fit on the whole device at once.
	coResident(name string, block, smem int) (int, error)
	coopLaunch(name string, grid, block, smem int, args []uint64) error
}

// recCall is one recorded launch.
type recCall struct {
	name              string
	gx, gy, gz, block int
	smem              int
	args              []uint64
}

// recDevice records launches instead of running them; everything else
// goes to the device.
type recDevice struct {
	device
	calls []recCall
}

func (r *recDevice) launch(name string, gx, gy, gz, block, smem int, args []uint64) error {
	r.calls = append(r.calls, recCall{name, gx, gy, gz, block, smem, append([]uint64(nil), args...)})
	return nil
}

// PersistentDecode is a recorded decode step run as one cooperative launch
// of k_dec_persistent (a gpu.Graph).
type PersistentDecode struct {
	b      *Backend
	prog   dptr // [phases][persistWords] uint64
	bar    dptr // the grid barrier's two words
	phases int
	grid   int
	smem   int
	ok     bool // the barrier words are known to be zero
}

// persistentBlocks, when > 0, caps the grid of persistent decodes recorded
// after it is set (a test hook).
var persistentBlocks = 0

// RecordPersistent implements gpu.PersistentRecorder.
func (b *Backend) RecordPersistent(record func() error) (gpu.Graph, error) {
	p, err := b.NewPersistentDecode(record)
	if err != nil {
		return nil, err // not a typed nil inside the interface
	}
	return p, nil
}

// NewPersistentDecode calls record, which must only queue Embedding and
// the fused decode ops (DecodeInProj, DecodeMixer, DecodeOutProj), records
// their launches instead of running them, and returns them as one
// persistent kernel: a grid of as many blocks as the device can hold at
// once (cooperative launch), a grid barrier between consecutive ops.
func (b *Backend) NewPersistentDecode(record func() error) (*PersistentDecode, error) {
	cd, ok := b.dev.(coopDevice)
	if !ok {
		return nil, notImpl("persistent decode", "the device has no cooperative launch")
	}
	if b.lost != nil {
		return nil, b.lost
	}
	if why := b.usableKernel("k_dec_persistent"); why != "" {
		return nil, notImpl("persistent decode", why)
	}
	rec := &recDevice{device: b.dev}
	b.dev = rec
	err := record()
	b.dev = rec.device
	if err != nil {
		return nil, fmt.Errorf("cuda: persistent decode: recording: %w", err)
	}
	if len(rec.calls) == 0 {
		return nil, errors.New("cuda: persistent decode: the recording queued no kernels")
	}
	prog := make([]uint64, len(rec.calls)*persistWords)
	smem, need := 0, 1
	for i, c := range rec.calls {
		kind, ok := persistKinds[c.name]
		switch {
		case !ok:
			return nil, notImpl("persistent decode", fmt.Sprintf("op %d launches %s, which the persistent kernel cannot run", i, c.name))
		case c.block != persistThreads && c.name != "k_embed":
			return nil, fmt.Errorf("cuda: persistent decode: op %d (%s) has blocks of %d threads, want %d", i, c.name, c.block, persistThreads)
		case len(c.args) > persistWords-persistHeader:
			return nil, fmt.Errorf("cuda: persistent decode: op %d (%s) has %d arguments, at most %d", i, c.name, len(c.args), persistWords-persistHeader)
		}
		if c.name == "k_embed" && c.gy*c.gz != 1 {
			return nil, fmt.Errorf("cuda: persistent decode: op %d (k_embed) has grid %dx%dx%d, want one dimension", i, c.gx, c.gy, c.gz)
		}
		w := prog[i*persistWords:]
		w[0], w[1], w[2], w[3] = kind, uint64(c.gx), uint64(c.gy), uint64(c.gz)
		copy(w[persistHeader:], c.args)
		if c.name != "k_embed" {
			smem = max(smem, c.smem)
		}
		need = max(need, c.gx*c.gy*c.gz)
	}
	smem += persistScratch
	p := &PersistentDecode{b: b, phases: len(rec.calls), smem: smem}
	err = b.do(func() error {
		n, err := cd.coResident("k_dec_persistent", persistThreads, smem)
		if err != nil {
			return fmt.Errorf("cuda: persistent decode: occupancy: %w", err)
		}
		if n < 1 {
			return notImpl("persistent decode", fmt.Sprintf("no block of %d threads with %d B of shared memory fits on an SM", persistThreads, smem))
		}
		p.grid = min(n, need)
		if persistentBlocks > 0 {
			p.grid = min(p.grid, persistentBlocks)
		}
		bytes := int64(len(prog) * 8)
		if p.prog, err = b.dev.alloc(bytes); err != nil {
			return fmt.Errorf("cuda: persistent decode: allocating the program: %v", err)
		}
		if p.bar, err = b.dev.alloc(8); err != nil {
			return fmt.Errorf("cuda: persistent decode: allocating the barrier: %v", err)
		}
		b.account(bytes + 8)
		if err := b.dev.htod(p.prog, unsafe.Pointer(&prog[0]), bytes); err != nil {
			return err
		}
		return b.dev.memsetD32(p.bar, 0, 2)
	})
	if err != nil {
		p.Destroy()
		return nil, err
	}
	p.ok = true
	return p, nil
}

// Grid is the number of blocks of the launch; Phases the number of ops.
func (p *PersistentDecode) Grid() int   { return p.grid }
func (p *PersistentDecode) Phases() int { return p.phases }

// Launch queues one run of the recorded step. A failed launch re-zeroes the
// barrier before the next.
func (p *PersistentDecode) Launch() error {
	if p.prog == 0 {
		return errors.New("cuda: persistent decode destroyed")
	}
	b := p.b
	return b.do(func() error {
		cd := b.dev.(coopDevice)
		if !p.ok {
			if err := b.dev.memsetD32(p.bar, 0, 2); err != nil {
				return err
			}
			p.ok = true
		}
		if b.lost != nil {
			return b.lost
		}
		le := &LaunchError{Kernel: "k_dec_persistent", Grid: [3]int{p.grid, 1, 1}, Block: persistThreads, Smem: p.smem}
		if why := b.fits(le.Kernel, persistThreads, p.smem); why != "" {
			le.Reason = why
			return le
		}
		err := cd.coopLaunch(le.Kernel, p.grid, persistThreads, p.smem, []uint64{uint64(p.prog), intArg(p.phases), uint64(p.bar)})
		if err == nil {
			return nil
		}
		p.ok = false
		le.Err = err
		c, isCode := codeOf(err)
		le.Code = c
		switch {
		case isCode && stickyCode(c):
			le.stuck, le.fit = true, true
			b.lost = le
		case isCode && (unfitCode(c) || c == 720): // 720: CUDA_ERROR_COOPERATIVE_LAUNCH_TOO_LARGE
		default:
			le.fit = true
		}
		return le
	})
}

// Destroy frees the program and the barrier.
func (p *PersistentDecode) Destroy() {
	b := p.b
	_ = b.do(func() error {
		_ = b.dev.sync()
		if p.prog != 0 {
			_ = b.dev.free(p.prog)
			b.account(-int64(p.phases * persistWords * 8))
		}
		if p.bar != 0 {
			_ = b.dev.free(p.bar)
			b.account(-8)
		}
		return nil
	})
	p.prog, p.bar = 0, 0
}
