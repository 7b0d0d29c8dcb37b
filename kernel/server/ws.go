package server

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/netssm/netssm/kernel/wire"
)

// outQueue bounds the frames waiting for a slow client; a client that
// falls further behind is disconnected rather than stalling the kernel.
const outQueue = 8192

// writeTimeout bounds one frame write.
const writeTimeout = 10 * time.Second

type frame struct {
	typ  websocket.MessageType
	data []byte
}

type closeReq struct {
	code   websocket.StatusCode
	reason string
}

// wsConn is one websocket client of a kernel; it implements dispatch.Conn.
type wsConn struct {
	c      *websocket.Conn
	v1     bool
	out    chan frame
	closeC chan closeReq
	once   sync.Once
	done   chan struct{}
	logf   func(string, ...any)
}

func newWSConn(c *websocket.Conn, v1 bool, logf func(string, ...any)) *wsConn {
	return &wsConn{c: c, v1: v1, out: make(chan frame, outQueue), closeC: make(chan closeReq, 1), done: make(chan struct{}), logf: logf}
}

var errConnClosed = errors.New("websocket connection closed")

// Send encodes m in the connection's framing and queues it.
func (w *wsConn) Send(m *wire.Message) error {
	var f frame
	if w.v1 {
		b, err := wire.EncodeV1(m)
		if err != nil {
			return err
		}
		f = frame{websocket.MessageBinary, b}
	} else {
		b, bin, err := wire.EncodeJSON(m)
		if err != nil {
			return err
		}
		f = frame{websocket.MessageText, b}
		if bin {
			f.typ = websocket.MessageBinary
		}
	}
	select {
	case <-w.done:
		return errConnClosed
	default:
	}
	select {
	case w.out <- f:
		return nil
	case <-w.done:
		return errConnClosed
	default:
		w.close(websocket.StatusPolicyViolation, "client too slow: output queue full")
		return errors.New("websocket client too slow; disconnected")
	}
}

// close asks the writer to flush the queued frames and close.
func (w *wsConn) close(code websocket.StatusCode, reason string) {
	w.once.Do(func() { w.closeC <- closeReq{code, reason} })
}

func (w *wsConn) closeAfterFlush(reason string) { w.close(websocket.StatusNormalClosure, reason) }

func (w *wsConn) writeLoop(ctx context.Context) {
	defer close(w.done)
	write := func(f frame) error {
		wctx, cancel := context.WithTimeout(ctx, writeTimeout)
		defer cancel()
		return w.c.Write(wctx, f.typ, f.data)
	}
	for {
		select {
		case f := <-w.out:
			if err := write(f); err != nil {
				w.c.CloseNow()
				return
			}
		case cr := <-w.closeC:
			for {
				select {
				case f := <-w.out:
					if write(f) != nil {
						w.c.CloseNow()
						return
					}
					continue
				default:
				}
				break
			}
			if len(cr.reason) > 120 { // a close reason must fit in a control frame
				cr.reason = cr.reason[:120]
			}
			w.c.Close(cr.code, cr.reason)
			return
		case <-ctx.Done():
			w.c.CloseNow()
			return
		}
	}
}

func (s *Server) channels(w http.ResponseWriter, r *http.Request) {
	k := s.lookup(w, r)
	if k == nil {
		return
	}
	if !strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		httpError(w, http.StatusBadRequest, "websocket upgrade required")
		return
	}
	c, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols: []string{wire.V1Protocol},
		// ServeHTTP already checked the origin against -allow-origin.
		InsecureSkipVerify: true,
		CompressionMode:    websocket.CompressionDisabled,
	})
	if err != nil {
		s.opt.Logf("netssm kernel: websocket: %v", err)
		return
	}
	c.SetReadLimit(wire.MaxFrame)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	conn := newWSConn(c, c.Subprotocol() == wire.V1Protocol, s.opt.Logf)
	if !k.attach(conn) {
		c.Close(websocket.StatusGoingAway, "kernel shut down")
		return
	}
	defer k.detach(conn)
	go conn.writeLoop(ctx)
	for {
		typ, data, err := c.Read(ctx)
		if err != nil {
			break
		}
		var m *wire.Message
		switch {
		case typ == websocket.MessageText:
			m, err = wire.DecodeJSON(data)
		case conn.v1:
			m, err = wire.DecodeV1(data)
		default:
			m, err = wire.DecodeLegacyBinary(data)
		}
		if err != nil {
			s.opt.Logf("netssm kernel %s: closing websocket: %v", k.id, err)
			conn.close(websocket.StatusInvalidFramePayloadData, fmt.Sprint(err))
			break
		}
		k.disp.Handle(conn, m)
	}
	// Flush and close (a no-op when a close is already under way); give
	// the writer a moment before the deferred cancel ends it.
	conn.close(websocket.StatusNormalClosure, "")
	select {
	case <-conn.done:
	case <-time.After(time.Second):
	}
}
