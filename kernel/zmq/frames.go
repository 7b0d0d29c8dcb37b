package zmq

import (
	"bytes"
	"errors"
	"fmt"
	"sync"

	"github.com/netssm/netssm/kernel/wire"
)

// Delimiter separates the routing identities from the message frames.
var Delimiter = []byte("<IDS|MSG>")

// Errors of [Decode]; the returned errors wrap one of them.
var (
	ErrBadSignature = errors.New("bad signature")
	ErrReplayed     = errors.New("replayed signature")
	ErrMalformed    = errors.New("malformed zmq message")
)

// maxIDs bounds the routing identities before the delimiter.
const maxIDs = 64

// Encode returns the frames of m for a socket: the routing ids, the
// delimiter, the signature and the four JSON parts, then the buffers.
func Encode(ids [][]byte, m *wire.Message, s *Signer) ([][]byte, error) {
	h, p, md, c, err := m.Parts()
	if err != nil {
		return nil, err
	}
	frames := make([][]byte, 0, len(ids)+6+len(m.Buffers))
	frames = append(frames, ids...)
	frames = append(frames, Delimiter, s.Sign(h, p, md, c), h, p, md, c)
	frames = append(frames, m.Buffers...)
	return frames, nil
}

// Decode splits frames received on channel into the routing ids and the
// message, checking the signature with s. It never panics on bad input.
func Decode(frames [][]byte, channel string, s *Signer) (ids [][]byte, m *wire.Message, err error) {
	d := -1
	for i, f := range frames {
		if bytes.Equal(f, Delimiter) {
			d = i
			break
		}
		if i >= maxIDs {
			break
		}
	}
	if d < 0 {
		return nil, nil, fmt.Errorf("%w: no %s delimiter", ErrMalformed, Delimiter)
	}
	rest := frames[d+1:]
	if len(rest) < 5 {
		return nil, nil, fmt.Errorf("%w: %d frames after the delimiter, want at least 5", ErrMalformed, len(rest))
	}
	sig, h, p, md, c := rest[0], rest[1], rest[2], rest[3], rest[4]
	if !s.Verify(sig, h, p, md, c) {
		return nil, nil, ErrBadSignature
	}
	m, err = wire.FromParts(channel, h, p, md, c, rest[5:])
	if err != nil {
		return nil, nil, err
	}
	ids = make([][]byte, d)
	for i := range ids {
		ids[i] = append([]byte(nil), frames[i]...)
	}
	return ids, m, nil
}

// replayGuard remembers the last signatures seen and rejects repeats, as
// jupyter_client's Session does (digest_history): a captured message
// cannot be sent again.
type replayGuard struct {
	mu   sync.Mutex
	seen map[string]struct{}
	ring []string
	next int
}

func newReplayGuard(n int) *replayGuard {
	return &replayGuard{seen: make(map[string]struct{}, n), ring: make([]string, n)}
}

// check records sig and reports whether it is new.
func (g *replayGuard) check(sig []byte) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := string(sig)
	if _, dup := g.seen[k]; dup {
		return false
	}
	if old := g.ring[g.next]; old != "" {
		delete(g.seen, old)
	}
	g.ring[g.next] = k
	g.seen[k] = struct{}{}
	g.next = (g.next + 1) % len(g.ring)
	return true
}

// signature returns the signature frame of a message that Decode accepted.
func signature(frames [][]byte) []byte {
	for i, f := range frames {
		if bytes.Equal(f, Delimiter) && i+1 < len(frames) {
			return frames[i+1]
		}
	}
	return nil
}
