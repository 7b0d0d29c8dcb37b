package proc

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/signal"
	"runtime/debug"
	"strconv"
	"sync"
	"syscall"

	"github.com/netssm/netssm/kernel/session"
)

// ChildMain is the main function of a kernel's child process: it serves
// the parent's requests on fd 3 until told to shut down or the parent goes
// away, and returns the process exit status.
func ChildMain() int {
	ctrl := os.NewFile(3, "kernel-ctrl")
	nonce := os.Getenv(envNonce)
	if ctrl == nil || nonce == "" {
		fmt.Fprintln(os.Stderr, "netssm _kernel-child: not started by a kernel parent (no control fd or nonce)")
		return 2
	}
	if s := os.Getenv(envMemLimit); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n <= 0 {
			fmt.Fprintf(os.Stderr, "netssm _kernel-child: bad %s=%q\n", envMemLimit, s)
			return 2
		}
		debug.SetMemoryLimit(n * 9 / 10)
		if err := limitMemory(n); err != nil {
			fmt.Fprintf(os.Stderr, "netssm _kernel-child: memory limit: %v\n", err)
		}
	}
	// Cells and the commands they start must not think they are kernel
	// children themselves.
	for _, v := range []string{ChildEnv, envNonce, envMemLimit} {
		os.Unsetenv(v)
	}
	ch := &childServer{ctrl: ctrl, enc: json.NewEncoder(ctrl), prefix: framePrefix(nonce), inputs: map[uint64]chan message{}}
	// fmt.Print* in cells write under the lock that display frames take,
	// so a frame is never split by a goroutine's output.
	sess, err := session.New(session.Options{
		Stdout: lockedFile{&ch.outMu, os.Stdout}, Stderr: lockedFile{&ch.outMu, os.Stderr},
		Stdin:   &childStdin{c: ch},
		Display: ch.display,
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "netssm _kernel-child: %v\n", err)
		return 1
	}
	ch.sess = sess
	return ch.serve()
}

type childServer struct {
	ctrl   *os.File
	enc    *json.Encoder
	encMu  sync.Mutex
	outMu  sync.Mutex // frames on fd 1 and 2
	prefix []byte
	sess   *session.Session

	mu       sync.Mutex
	cancel   context.CancelFunc // of the running cell
	cellDone <-chan struct{}    // its context's Done
	running  uint64             // its request id
	inputs   map[uint64]chan message
	busy     sync.Mutex // held while the interpreter evaluates
}

func (ch *childServer) send(m message) {
	ch.encMu.Lock()
	defer ch.encMu.Unlock()
	_ = ch.enc.Encode(m) // the parent is gone: serve's read fails next
}

// display writes a display frame in-band on stdout (ordered with it).
func (ch *childServer) display(m session.DisplayMsg) {
	payload, err := json.Marshal(m)
	if err != nil {
		fmt.Fprintf(os.Stderr, "display: %v\n", err)
		return
	}
	ch.outMu.Lock()
	defer ch.outMu.Unlock()
	_, _ = os.Stdout.Write(displayFrame(ch.prefix, payload))
}

func (ch *childServer) serve() int {
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT)
	go func() {
		for range sigs {
			ch.mu.Lock()
			if ch.cancel != nil {
				ch.cancel()
			}
			ch.mu.Unlock()
		}
	}()
	// One long-lived goroutine runs cells: its stack, grown deep by the
	// parser and the interpreter, is kept from cell to cell.
	execs := make(chan message, 1)
	go func() {
		for m := range execs {
			ch.execute(m)
		}
	}()
	ch.send(message{Op: opReady, Pid: os.Getpid()})
	sc := bufio.NewScanner(ch.ctrl)
	sc.Buffer(make([]byte, 64<<10), 256<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			fmt.Fprintf(os.Stderr, "kernel: bad control message: %v\n", err)
			continue
		}
		switch m.Op {
		case opExecute:
			execs <- m
		case opComplete, opInspect:
			go ch.query(m)
		case opIsComplete:
			st, ind := session.IsComplete(m.Code)
			ch.send(message{Op: opReply, ID: m.ID, Status: st, Indent: ind})
		case opInputReply:
			ch.mu.Lock()
			w := ch.inputs[m.ID]
			delete(ch.inputs, m.ID)
			ch.mu.Unlock()
			if w != nil {
				w <- m
			}
		case opShutdown:
			return 0
		}
	}
	return 0 // the parent closed the socket: it is gone or done with us
}

func (ch *childServer) execute(m message) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch.mu.Lock()
	ch.cancel, ch.running, ch.cellDone = cancel, m.ID, ctx.Done()
	ch.mu.Unlock()
	ch.busy.Lock()
	res, err := ch.sess.Execute(ctx, m.Code)
	ch.busy.Unlock()
	ch.mu.Lock()
	ch.cancel, ch.running = nil, 0
	ch.mu.Unlock()
	// End markers after all of the cell's output, then the reply.
	ch.outMu.Lock()
	_, _ = os.Stdout.Write(endFrame(ch.prefix, m.ID))
	_, _ = os.Stderr.Write(endFrame(ch.prefix, m.ID))
	ch.outMu.Unlock()
	r := message{Op: opReply, ID: m.ID, Result: res}
	var ce *session.CellError
	if errors.As(err, &ce) {
		r.Error = ce
	} else if err != nil {
		r.Error = &session.CellError{EName: "KernelError", EValue: err.Error(), Traceback: []string{err.Error()}}
	}
	ch.send(r)
}

// query answers complete and inspect; while a cell runs the interpreter is
// not safe to query, so the answer is empty rather than late.
func (ch *childServer) query(m message) {
	r := message{Op: opReply, ID: m.ID}
	if ch.busy.TryLock() {
		switch m.Op {
		case opComplete:
			r.Matches, r.Start, r.End = ch.sess.Complete(context.Background(), m.Code, m.Cursor)
		case opInspect:
			r.Data, r.Found = ch.sess.Inspect(context.Background(), m.Code, m.Cursor, m.Detail)
		}
		ch.busy.Unlock()
	} else if m.Op == opComplete {
		r.Start, r.End = m.Cursor, m.Cursor
	}
	ch.send(r)
}

// childStdin is os.Stdin for cells: each read with nothing buffered asks
// the parent for a line (input_request).
type childStdin struct {
	c   *childServer
	mu  sync.Mutex
	buf []byte
}

var errInterrupted = errors.New("input interrupted")

func (in *childStdin) Read(p []byte) (int, error) {
	in.mu.Lock()
	defer in.mu.Unlock()
	if len(in.buf) == 0 {
		ch := in.c
		ch.mu.Lock()
		id, done := ch.running, ch.cellDone
		if id == 0 {
			ch.mu.Unlock()
			return 0, errors.New("stdin: no cell is running")
		}
		w := make(chan message, 1)
		ch.inputs[id] = w
		ch.mu.Unlock()
		ch.send(message{Op: opInputReq, ID: id})
		var r message
		select {
		case r = <-w:
		case <-done:
			ch.mu.Lock()
			delete(ch.inputs, id)
			ch.mu.Unlock()
			return 0, errInterrupted
		}
		if r.Failure != "" {
			return 0, errors.New(r.Failure)
		}
		in.buf = append(in.buf, r.Value...)
		in.buf = append(in.buf, '\n')
	}
	n := copy(p, in.buf)
	in.buf = in.buf[n:]
	return n, nil
}

// lockedFile writes to f under mu. File gives ! commands the fd itself.
type lockedFile struct {
	mu *sync.Mutex
	f  *os.File
}

func (w lockedFile) Write(p []byte) (int, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.f.Write(p)
}

func (w lockedFile) File() *os.File { return w.f }
