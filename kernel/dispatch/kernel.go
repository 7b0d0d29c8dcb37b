package dispatch

import (
	"context"
	"errors"
	"fmt"
	"log"
	"runtime"
	"sync"
	"time"

	"github.com/netssm/netssm/kernel/wire"
)

// Conn reaches the client that sent a request: shell and control replies
// and stdin requests go through it. Send must be safe for concurrent use;
// an error means the client is gone and is otherwise ignored.
type Conn interface {
	Send(m *wire.Message) error
}

// Info describes the kernel in kernel_info_reply.
type Info struct {
	Implementation        string // "netssm"
	ImplementationVersion string
	LanguageVersion       string // Go version, e.g. runtime.Version()
	Banner                string
}

// Options configure a Kernel.
type Options struct {
	Engine Engine
	// Publish broadcasts an iopub message to every client of this kernel.
	// It must be safe for concurrent use and must not block for long.
	Publish func(*wire.Message)
	Info    Info
	// OnShutdown is called once after a shutdown_request without restart
	// has shut the engine down (the transport then forgets the kernel).
	OnShutdown func()
	// Logf logs problems that no client can be told about; nil uses log.Printf.
	Logf func(format string, args ...any)
	// MaxQueue bounds the queued shell requests (default 10000); beyond
	// it requests are answered with an error.
	MaxQueue int
}

// State is a kernel's execution_state as Jupyter reports it.
type State string

const (
	Starting   State = "starting"
	Idle       State = "idle"
	Busy       State = "busy"
	Restarting State = "restarting"
	Dead       State = "dead"
)

// request is a queued shell request with the connection that sent it.
type request struct {
	conn Conn
	msg  *wire.Message
	seq  uint64
}

// Kernel dispatches the messages of one kernel. Create it with [New].
type Kernel struct {
	opt Options
	eng Engine

	mu        sync.Mutex
	cond      *sync.Cond
	queue     []request
	seq       uint64 // sequence of the last queued shell request
	abortUpTo uint64 // queued executes with seq <= abortUpTo are aborted
	session   string // kernel session id; new on every restart
	sessNum   int    // history session number, 1-based
	count     int    // execution_count
	history   []histEntry
	state     State
	activity  time.Time
	cancel    context.CancelFunc // cancels the engine call in progress
	serving   *wire.Header       // header of the shell request being served
	input     chan string        // pending input_request, if any
	closed    bool
	done      chan struct{}
	restartMu sync.Mutex // serialises restarts
}

// New starts dispatching for opt.Engine. The caller must Close the kernel.
func New(opt Options) *Kernel {
	if opt.Publish == nil {
		opt.Publish = func(*wire.Message) {}
	}
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	if opt.MaxQueue <= 0 {
		opt.MaxQueue = 10000
	}
	if opt.Info.Implementation == "" {
		opt.Info.Implementation = "netssm"
	}
	if opt.Info.LanguageVersion == "" {
		opt.Info.LanguageVersion = runtime.Version()[2:]
	}
	k := &Kernel{opt: opt, eng: opt.Engine, session: wire.NewID(), sessNum: 1, state: Idle, activity: time.Now(), done: make(chan struct{})}
	k.cond = sync.NewCond(&k.mu)
	go k.worker()
	go k.watch()
	return k
}

// State returns the execution state and the time of the last activity.
func (k *Kernel) State() (State, time.Time) {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.state, k.activity
}

// Session returns the kernel's current session id (header.session of
// the messages it sends).
func (k *Kernel) Session() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.session
}

func (k *Kernel) setState(s State, parent *wire.Header) {
	k.mu.Lock()
	if k.state == Dead && s != Dead {
		k.mu.Unlock()
		return
	}
	k.state = s
	k.activity = time.Now()
	k.mu.Unlock()
	k.publish(parent, "status", wire.Status{ExecutionState: string(s)})
}

// Handle processes one incoming message from conn. It never blocks on a
// running cell: control and stdin messages are handled at once, shell
// requests are queued and run in order.
func (k *Kernel) Handle(conn Conn, m *wire.Message) {
	switch {
	case m.Channel == wire.Stdin || m.Header.MsgType == "input_reply":
		k.handleInputReply(m)
	case m.Channel == wire.Control || m.Header.MsgType == "interrupt_request" || m.Header.MsgType == "shutdown_request":
		go k.handleControl(conn, m)
	case m.Channel == wire.IOPub:
		k.replyError(conn, m, "InvalidChannel", "clients cannot send on iopub")
	case m.Header.MsgType == "kernel_info_request":
		// Answered at once, even while a cell runs: clients send it on
		// connect and wait for it before anything else.
		k.setBusyIdle(m, func() { k.kernelInfo(conn, m) })
	default:
		k.mu.Lock()
		if k.closed {
			k.mu.Unlock()
			k.replyError(conn, m, "KernelShutdown", "the kernel is shutting down")
			return
		}
		if len(k.queue) >= k.opt.MaxQueue {
			k.mu.Unlock()
			k.replyError(conn, m, "QueueFull", fmt.Sprintf("more than %d requests are queued", k.opt.MaxQueue))
			return
		}
		k.seq++
		k.queue = append(k.queue, request{conn: conn, msg: m, seq: k.seq})
		k.cond.Signal()
		k.mu.Unlock()
	}
}

// setBusyIdle runs f between status busy and idle for request m. When a
// cell is running the state stays busy.
func (k *Kernel) setBusyIdle(m *wire.Message, f func()) {
	k.publish(&m.Header, "status", wire.Status{ExecutionState: string(Busy)})
	f()
	k.mu.Lock()
	cur := k.serving
	k.mu.Unlock()
	if cur != nil {
		// A shell request is still being served: close this request's
		// busy/idle pair (clients wait for it), then say busy again for
		// the running one so front ends do not show an idle kernel.
		k.publish(&m.Header, "status", wire.Status{ExecutionState: string(Idle)})
		k.publish(cur, "status", wire.Status{ExecutionState: string(Busy)})
		return
	}
	k.setState(Idle, &m.Header)
}

func (k *Kernel) worker() {
	for {
		k.mu.Lock()
		for len(k.queue) == 0 && !k.closed {
			k.cond.Wait()
		}
		if k.closed {
			pending := k.queue
			k.queue = nil
			k.mu.Unlock()
			for _, r := range pending {
				k.replyError(r.conn, r.msg, "KernelShutdown", "the kernel shut down")
			}
			close(k.done)
			return
		}
		r := k.queue[0]
		k.queue = k.queue[1:]
		abort := r.seq <= k.abortUpTo
		k.mu.Unlock()
		k.serve(r, abort)
	}
}

// serve handles one shell request.
func (k *Kernel) serve(r request, abort bool) {
	m := r.msg
	defer func() {
		// A bug in a handler must not take the server down.
		if p := recover(); p != nil {
			k.opt.Logf("netssm kernel: panic handling %s: %v", m.Header.MsgType, p)
			k.replyError(r.conn, m, "InternalError", fmt.Sprint(p))
			k.setState(Idle, &m.Header)
		}
	}()
	k.mu.Lock()
	k.state = Busy
	k.activity = time.Now()
	k.serving = &m.Header
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.serving = nil
		k.mu.Unlock()
	}()
	k.publish(&m.Header, "status", wire.Status{ExecutionState: string(Busy)})
	switch m.Header.MsgType {
	case "execute_request":
		if abort {
			k.reply(r.conn, m, wire.ExecuteReply{Status: "aborted", ExecutionCount: k.execCount()})
		} else {
			k.execute(r.conn, m)
		}
	case "complete_request":
		k.complete(r.conn, m)
	case "inspect_request":
		k.inspect(r.conn, m)
	case "is_complete_request":
		k.isComplete(r.conn, m)
	case "history_request":
		k.historyReq(r.conn, m)
	case "comm_info_request":
		k.reply(r.conn, m, wire.CommInfoReply{Status: "ok", Comms: map[string]map[string]any{}})
	case "comm_open":
		// No comm targets are registered: close it as ipykernel does for
		// an unknown target, so the front end does not wait.
		var c wire.CommOpen
		if err := wire.DecodeContent(m, &c); err == nil && c.CommID != "" {
			k.publish(&m.Header, "comm_close", wire.CommMsg{CommID: c.CommID, Data: map[string]any{}})
		}
	case "comm_msg", "comm_close":
		// Nothing is open; ignore as ipykernel does for unknown comms.
	default:
		k.replyError(r.conn, m, "UnknownMessageType", fmt.Sprintf("netssm does not handle %q", m.Header.MsgType))
	}
	k.setState(Idle, &m.Header)
}

func (k *Kernel) execCount() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.count
}

// publish sends an iopub message in reply to parent.
func (k *Kernel) publish(parent *wire.Header, msgType string, content any) {
	msg, err := wire.NewMessage(wire.IOPub, msgType, k.Session(), parent, content)
	if err != nil {
		k.opt.Logf("netssm kernel: %v", err)
		msg, err = wire.NewMessage(wire.IOPub, "stream", k.Session(), parent, wire.Stream{Name: "stderr", Text: fmt.Sprintf("netssm: cannot send %s: %v\n", msgType, err)})
		if err != nil {
			return
		}
	}
	k.opt.Publish(msg)
}

// reply sends the reply of request m (x_request -> x_reply) on m's channel.
func (k *Kernel) reply(conn Conn, m *wire.Message, content any) {
	rt := wire.ReplyType(m.Header.MsgType)
	if rt == "" {
		rt = m.Header.MsgType + "_reply"
	}
	ch := m.Channel
	if ch != wire.Control {
		ch = wire.Shell
	}
	msg, err := wire.NewMessage(ch, rt, k.Session(), &m.Header, content)
	if err != nil {
		k.opt.Logf("netssm kernel: %v", err)
		msg, err = wire.NewMessage(ch, rt, k.Session(), &m.Header, errorReply("InternalError", err.Error()))
		if err != nil {
			return
		}
	}
	if err := conn.Send(msg); err != nil {
		k.opt.Logf("netssm kernel: send %s: %v", rt, err)
	}
}

type errReply struct {
	Status string `json:"status"`
	wire.ErrorContent
}

func errorReply(ename, evalue string) errReply {
	return errReply{Status: "error", ErrorContent: wire.ErrorContent{EName: ename, EValue: evalue, Traceback: []string{ename + ": " + evalue}}}
}

// replyError answers request m with status "error".
func (k *Kernel) replyError(conn Conn, m *wire.Message, ename, evalue string) {
	if wire.ReplyType(m.Header.MsgType) == "" && m.Header.MsgType != "" {
		// Not a request (a stray broadcast or reply): tell the log only.
		k.opt.Logf("netssm kernel: dropped %s on %s: %s", m.Header.MsgType, m.Channel, evalue)
		return
	}
	k.reply(conn, m, errorReply(ename, evalue))
}

// Close shuts the engine down and stops the dispatcher. Queued requests
// are answered with an error.
func (k *Kernel) Close() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	k.state = Dead
	if k.cancel != nil {
		k.cancel()
	}
	k.cond.Broadcast()
	k.mu.Unlock()
	err := k.eng.Shutdown()
	<-k.done
	return err
}

// Closed reports whether Close was called.
func (k *Kernel) Closed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.closed
}

// beginCall registers the cancel function of an engine call so that an
// interrupt reaches it.
func (k *Kernel) beginCall() (context.Context, func()) {
	ctx, cancel := context.WithCancel(context.Background())
	k.mu.Lock()
	k.cancel = cancel
	k.mu.Unlock()
	return ctx, func() {
		k.mu.Lock()
		k.cancel = nil
		k.mu.Unlock()
		cancel()
	}
}

// Interrupt stops the engine call in progress (the REST interrupt and
// interrupt_request both end here).
func (k *Kernel) Interrupt() error {
	k.mu.Lock()
	cancel := k.cancel
	k.mu.Unlock()
	if cancel == nil {
		return nil
	}
	cancel() // cancelling the call's context interrupts the engine
	return nil
}

// Restart restarts the engine with a fresh state: the cell in progress is
// interrupted, execution_count starts again at 0 and history starts a new
// session. Status "starting" then "idle" are published.
func (k *Kernel) Restart(ctx context.Context) error {
	return k.restart(ctx, nil, false)
}

func (k *Kernel) restart(ctx context.Context, parent *wire.Header, auto bool) error {
	k.restartMu.Lock()
	defer k.restartMu.Unlock()
	return k.restartLocked(ctx, parent, auto)
}

// restartAfterDeath restarts the engine unless someone else already did
// since its Done channel d was closed.
func (k *Kernel) restartAfterDeath(ctx context.Context, parent *wire.Header, d <-chan struct{}) error {
	k.restartMu.Lock()
	defer k.restartMu.Unlock()
	if k.eng.Done() != d {
		return nil
	}
	return k.restartLocked(ctx, parent, true)
}

func (k *Kernel) restartLocked(ctx context.Context, parent *wire.Header, auto bool) error {
	if k.Closed() {
		return errors.New("kernel is shut down")
	}
	_ = k.Interrupt()
	if auto {
		k.setState(Restarting, parent)
	}
	err := k.eng.Restart(ctx)
	k.mu.Lock()
	k.session = wire.NewID()
	k.sessNum++
	k.count = 0
	k.abortUpTo = k.seq // requests queued for the old state are void
	k.mu.Unlock()
	if err != nil {
		k.setState(Dead, parent)
		return fmt.Errorf("restart: %w", err)
	}
	k.setState(Starting, parent)
	k.setState(Idle, parent)
	return nil
}

// watch restarts the engine when its process dies while no cell runs (a
// goroutine started by a cell may call os.Exit at any time). Death during
// a cell is reported by execute itself.
func (k *Kernel) watch() {
	for {
		d := k.eng.Done()
		select {
		case <-k.done:
			return
		case <-d:
		}
		if k.Closed() {
			return
		}
		// Let a running execute report the death first.
		time.Sleep(200 * time.Millisecond)
		k.restartMu.Lock()
		stillDead := k.eng.Done() == d
		k.restartMu.Unlock()
		if !stillDead {
			continue // execute already restarted it
		}
		if k.Closed() {
			return
		}
		reason := "the kernel process exited"
		if err := k.eng.Err(); err != nil {
			reason = err.Error()
		}
		k.opt.Logf("netssm kernel: %s; restarting", reason)
		if err := k.restartAfterDeath(context.Background(), nil, d); err != nil {
			k.opt.Logf("netssm kernel: %v", err)
			return
		}
		if k.eng.Done() == d {
			// The engine kept a closed Done channel after restart: we
			// cannot watch it any more.
			return
		}
	}
}
