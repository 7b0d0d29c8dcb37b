package zmq

import (
	"context"
	"errors"
	"fmt"
	"log"
	"net"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/wire"
)

// Options configure a ZMQ kernel.
type Options struct {
	// Conn says where to listen and how to sign (a connection file).
	Conn *ConnectionInfo
	// Engine runs the cells (a *proc.Kernel in production). The kernel
	// owns it from now on and shuts it down on Close.
	Engine dispatch.Engine
	// Info describes the kernel in kernel_info_reply.
	Info dispatch.Info
	// Logf logs dropped messages and socket problems; nil uses log.Printf
	// (stderr, which Jupyter shows in its own log).
	Logf func(format string, args ...any)
	// SendTimeout bounds a send to a ROUTER socket whose peer never
	// connected (default 10 s).
	SendTimeout time.Duration
}

// Kernel is one kernel served over ZMQ. Create it with [Start].
type Kernel struct {
	conn   ConnectionInfo
	signer *Signer
	replay *replayGuard
	logf   func(format string, args ...any)

	ctx    context.Context
	cancel context.CancelFunc

	shell, control, stdin, iopub, hb zmq4.Socket

	disp *dispatch.Kernel

	dropped   atomic.Int64
	dropLog   rateLog
	done      chan struct{} // closed on shutdown_request or Close
	doneOnce  sync.Once
	closeOnce sync.Once
	closeErr  error
	wg        sync.WaitGroup
}

// replayWindow is how many recent signatures are remembered to reject
// replays (jupyter_client keeps 2^16 as well).
const replayWindow = 1 << 16

// Start binds the sockets of opt.Conn and starts serving. Port 0 in a tcp
// connection picks a free port; [Kernel.Connection] tells which.
func Start(ctx context.Context, opt Options) (*Kernel, error) {
	if opt.Conn == nil {
		return nil, errors.New("zmq: no connection info")
	}
	if opt.Engine == nil {
		return nil, errors.New("zmq: no engine")
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	signer, err := NewSigner(opt.Conn.SignatureScheme, opt.Conn.Key)
	if err != nil {
		return nil, err
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	if opt.SendTimeout <= 0 {
		opt.SendTimeout = 10 * time.Second
	}
	sctx, cancel := context.WithCancel(context.Background())
	k := &Kernel{
		conn:   *opt.Conn,
		signer: signer,
		replay: newReplayGuard(replayWindow),
		logf:   opt.Logf,
		ctx:    sctx,
		cancel: cancel,
		done:   make(chan struct{}),
	}
	to := zmq4.WithTimeout(opt.SendTimeout)
	k.shell = zmq4.NewRouter(sctx, to)
	k.control = zmq4.NewRouter(sctx, to)
	k.stdin = zmq4.NewRouter(sctx, to)
	k.iopub = zmq4.NewPub(sctx, to)
	k.hb = zmq4.NewRep(sctx, to)
	binds := []struct {
		name string
		sock zmq4.Socket
		port *int
	}{
		{"shell", k.shell, &k.conn.ShellPort},
		{"iopub", k.iopub, &k.conn.IOPubPort},
		{"stdin", k.stdin, &k.conn.StdinPort},
		{"control", k.control, &k.conn.ControlPort},
		{"hb", k.hb, &k.conn.HBPort},
	}
	for _, b := range binds {
		ep := k.conn.Endpoint(*b.port)
		if err := b.sock.Listen(ep); err != nil {
			k.closeSockets()
			return nil, fmt.Errorf("zmq: %s socket: listen on %s: %w", b.name, ep, err)
		}
		if a, ok := b.sock.Addr().(*net.TCPAddr); ok {
			*b.port = a.Port
		}
	}
	k.disp = dispatch.New(dispatch.Options{
		Engine:        opt.Engine,
		Publish:       k.publish,
		Info:          opt.Info,
		OnShutdown:    k.finish,
		ExitOnRestart: true,
		Logf:          opt.Logf,
	})
	k.wg.Add(4)
	go k.serve(k.shell, wire.Shell)
	go k.serve(k.control, wire.Control)
	go k.serve(k.stdin, wire.Stdin)
	go k.heartbeat()
	return k, nil
}

// Connection returns the connection info with the ports actually bound.
func (k *Kernel) Connection() ConnectionInfo { return k.conn }

// Done is closed when a client asked the kernel to shut down (or restart,
// which over ZMQ means a new process) and after Close.
func (k *Kernel) Done() <-chan struct{} { return k.done }

// Dropped counts the messages dropped for a bad signature, a replay or a
// malformed frame.
func (k *Kernel) Dropped() int64 { return k.dropped.Load() }

// Interrupt stops the running cell (what SIGINT to the kernel process
// does when the kernelspec's interrupt_mode is "signal").
func (k *Kernel) Interrupt() error { return k.disp.Interrupt() }

// Dispatcher returns the message handler shared with the other transport.
func (k *Kernel) Dispatcher() *dispatch.Kernel { return k.disp }

func (k *Kernel) finish() { k.doneOnce.Do(func() { close(k.done) }) }

// Close shuts the engine down and closes the sockets. Messages published
// just before (the shutdown reply, status dead) get a moment to leave.
func (k *Kernel) Close() error {
	k.closeOnce.Do(func() {
		k.closeErr = k.disp.Close()
		time.Sleep(50 * time.Millisecond) // let queued iopub frames go out
		k.closeSockets()
		k.wg.Wait()
		k.finish()
	})
	return k.closeErr
}

func (k *Kernel) closeSockets() {
	k.cancel()
	for _, s := range []zmq4.Socket{k.shell, k.control, k.stdin, k.iopub, k.hb} {
		if s != nil {
			_ = s.Close()
		}
	}
}

// serve reads the requests of one ROUTER socket and hands them to the
// dispatcher.
func (k *Kernel) serve(sock zmq4.Socket, channel string) {
	defer k.wg.Done()
	for {
		msg, err := sock.Recv()
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			k.logf("netssm zmq: %s: receive: %v", channel, err)
			time.Sleep(10 * time.Millisecond) // never spin on a broken socket
			continue
		}
		ids, m, err := Decode(msg.Frames, channel, k.signer)
		if err != nil {
			k.dropped.Add(1)
			k.dropLog.logf(k.logf, "netssm zmq: dropped a message on %s: %v", channel, err)
			continue
		}
		if k.signer.Enabled() && !k.replay.check(signature(msg.Frames)) {
			k.dropped.Add(1)
			k.dropLog.logf(k.logf, "netssm zmq: dropped %s on %s: %v", m.Header.MsgType, channel, ErrReplayed)
			continue
		}
		k.disp.Handle(&peer{k: k, ids: ids}, m)
	}
}

// heartbeat echoes every ping on the REP socket.
func (k *Kernel) heartbeat() {
	defer k.wg.Done()
	for {
		msg, err := k.hb.Recv()
		if err != nil {
			if k.ctx.Err() != nil {
				return
			}
			time.Sleep(10 * time.Millisecond)
			continue
		}
		if err := k.hb.SendMulti(msg); err != nil && k.ctx.Err() == nil {
			k.logf("netssm zmq: heartbeat: %v", err)
		}
	}
}

// publish sends an iopub message to every subscriber. The topic follows
// ipykernel: "kernel.<session>.<msg_type>" (clients subscribe to all).
func (k *Kernel) publish(m *wire.Message) {
	topic := "kernel." + m.Header.Session + "." + m.Header.MsgType
	frames, err := Encode([][]byte{[]byte(topic)}, m, k.signer)
	if err != nil {
		k.logf("netssm zmq: iopub %s: %v", m.Header.MsgType, err)
		return
	}
	if err := k.iopub.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil && k.ctx.Err() == nil {
		k.logf("netssm zmq: iopub %s: %v", m.Header.MsgType, err)
	}
}

// peer is the client that sent one request: replies go back to its
// routing identity on the reply's channel (input_request goes on stdin to
// the same identity, which jupyter_client gives its shell and stdin
// sockets alike).
type peer struct {
	k   *Kernel
	ids [][]byte
}

func (p *peer) Send(m *wire.Message) error {
	var sock zmq4.Socket
	switch m.Channel {
	case wire.Shell:
		sock = p.k.shell
	case wire.Control:
		sock = p.k.control
	case wire.Stdin:
		sock = p.k.stdin
	default:
		return fmt.Errorf("zmq: cannot send %s on channel %q", m.Header.MsgType, m.Channel)
	}
	if len(p.ids) == 0 {
		return fmt.Errorf("zmq: %s has no routing identity", m.Header.MsgType)
	}
	frames, err := Encode(p.ids, m, p.k.signer)
	if err != nil {
		return err
	}
	return sock.SendMulti(zmq4.NewMsgFrom(frames...))
}

// rateLog limits the log lines about dropped messages to dropLogBurst per
// dropLogWindow, so that a flood of forged messages cannot flood the log;
// the number left out is logged with the next line that gets through.
type rateLog struct {
	mu         sync.Mutex
	start      time.Time
	n          int
	suppressed int
}

const (
	dropLogBurst  = 20
	dropLogWindow = 10 * time.Second
)

func (r *rateLog) logf(logf func(string, ...any), format string, args ...any) {
	r.mu.Lock()
	now := time.Now()
	if now.Sub(r.start) > dropLogWindow {
		r.start, r.n = now, 0
	}
	r.n++
	if r.n > dropLogBurst {
		r.suppressed++
		r.mu.Unlock()
		return
	}
	sup := r.suppressed
	r.suppressed = 0
	r.mu.Unlock()
	if sup > 0 {
		logf("netssm zmq: %d more messages dropped (not logged)", sup)
	}
	logf(format, args...)
}
