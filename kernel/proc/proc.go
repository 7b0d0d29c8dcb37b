package proc

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/netssm/netssm/kernel/session"
)

// Options configure a kernel's child process.
type Options struct {
	Dir  string   // working directory of the child ("" = the parent's)
	Env  []string // environment of the child (nil = the parent's)
	Exe  string   // executable to run (default os.Executable())
	Args []string // its arguments (default ["_kernel-child"]; nil with a custom Exe = none)
	// MemoryLimit caps the child's memory in bytes (0 = no cap): the Go
	// runtime's soft limit and a hard RLIMIT_DATA, so that a cell that
	// allocates without bound kills its kernel, not the machine.
	MemoryLimit int64
	// StartTimeout bounds the wait for the child to come up (default 10 s).
	StartTimeout time.Duration
}

// Handler receives what a cell produces while it runs.
type Handler struct {
	// Stream gets output as it comes: name is "stdout" or "stderr"; the
	// text of each stream arrives in order.
	Stream func(name, text string)
	// Display gets display_data, update_display_data and clear_output.
	Display func(session.DisplayMsg)
	// Input answers a cell reading os.Stdin. Nil: stdin is not allowed
	// and the read fails with an error.
	Input func(prompt string, password bool) (string, error)
}

// DiedError says that the child process ended while (or before) serving a
// request: os.Exit in a cell, a crash, running out of memory, a kill.
type DiedError struct {
	ExitCode int    // -1 when killed by a signal
	Signal   string // the signal, if any
	Reason   string // "out of memory", "restarted", "exited", "crashed"...
	Stderr   string // the last lines the child wrote to stderr
}

func (e *DiedError) Error() string {
	var b strings.Builder
	b.WriteString("kernel died")
	if e.Reason != "" {
		b.WriteString(" (" + e.Reason + ")")
	}
	if e.Signal != "" {
		b.WriteString(": signal " + e.Signal)
	} else {
		b.WriteString(": exit status " + strconv.Itoa(e.ExitCode))
	}
	return b.String()
}

// ErrShutdown is Err after Shutdown.
var ErrShutdown = errors.New("kernel shut down")

// Kernel is the parent side of one kernel. Its methods are safe for
// concurrent use; Execute calls run one at a time.
type Kernel struct {
	opts Options

	execMu sync.Mutex // one Execute (and Restart) at a time
	mu     sync.Mutex
	c      *child // the current child process
	closed bool
}

// child is one child process and its plumbing.
type child struct {
	cmd    *exec.Cmd
	ctrl   *os.File
	enc    *json.Encoder
	encMu  sync.Mutex
	done   chan struct{} // closed when the process exited and its pipes drained
	err    error         // why it ended (set before done closes)
	nextID uint64

	mu       sync.Mutex
	waiters  map[uint64]chan message
	exec     *execState // the running Execute, if any
	ended    [2]uint64  // last end marker seen on stdout, stderr
	markerCh chan struct{}
	bgText   [2]strings.Builder // output between cells
	bgDisp   []session.DisplayMsg
	stderrTl tail
	killing  string // reason when the parent kills the child on purpose
	oom      bool   // the child said "out of memory" on stderr
}

type execState struct {
	seq         uint64
	h           Handler
	interrupted atomic.Bool // Interrupt was called while it ran
}

var streamNames = [2]string{"stdout", "stderr"}

// Start starts a kernel child process and waits until its interpreter is
// ready.
func Start(ctx context.Context, opts Options) (*Kernel, error) {
	k := &Kernel{opts: opts}
	c, err := k.startChild(ctx)
	if err != nil {
		return nil, err
	}
	k.c = c
	return k, nil
}

func (k *Kernel) startChild(ctx context.Context) (*child, error) {
	exe, args := k.opts.Exe, k.opts.Args
	if exe == "" {
		var err error
		if exe, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("kernel: finding the netssm executable: %w", err)
		}
		if args == nil {
			args = []string{"_kernel-child"}
		}
	}
	var nb [12]byte
	if _, err := rand.Read(nb[:]); err != nil {
		return nil, fmt.Errorf("kernel: nonce: %w", err)
	}
	nonce := hex.EncodeToString(nb[:])
	syscall.ForkLock.RLock() // no fork may inherit the fds before CloseOnExec
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("kernel: control socket: %w", err)
	}
	parentCtrl := os.NewFile(uintptr(fds[0]), "kernel-ctrl")
	childCtrl := os.NewFile(uintptr(fds[1]), "kernel-ctrl-child")
	outR, outW, err := os.Pipe()
	if err != nil {
		parentCtrl.Close()
		childCtrl.Close()
		return nil, fmt.Errorf("kernel: stdout pipe: %w", err)
	}
	errR, errW, err := os.Pipe()
	if err != nil {
		parentCtrl.Close()
		childCtrl.Close()
		outR.Close()
		outW.Close()
		return nil, fmt.Errorf("kernel: stderr pipe: %w", err)
	}
	env := k.opts.Env
	if env == nil {
		env = os.Environ()
	}
	env = append(env[:len(env):len(env)], ChildEnv+"=1", envNonce+"="+nonce)
	if k.opts.MemoryLimit > 0 {
		env = append(env, envMemLimit+"="+strconv.FormatInt(k.opts.MemoryLimit, 10))
	}
	cmd := exec.Command(exe, args...)
	cmd.Dir = k.opts.Dir
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = outW, errW
	cmd.ExtraFiles = []*os.File{childCtrl}
	cmd.SysProcAttr = childAttr()
	if err := cmd.Start(); err != nil {
		for _, f := range []*os.File{parentCtrl, childCtrl, outR, outW, errR, errW} {
			f.Close()
		}
		return nil, fmt.Errorf("kernel: starting %s: %w", exe, err)
	}
	childCtrl.Close()
	outW.Close()
	errW.Close()

	c := &child{cmd: cmd, ctrl: parentCtrl, enc: json.NewEncoder(parentCtrl), done: make(chan struct{}),
		waiters: map[uint64]chan message{}, markerCh: make(chan struct{})}
	ready := make(chan message, 1)
	c.waiters[0] = ready
	prefix := framePrefix(nonce)
	var streams sync.WaitGroup
	streams.Add(2)
	go c.readStream(0, outR, prefix, &streams)
	go c.readStream(1, errR, prefix, &streams)
	ctrlDone := make(chan struct{})
	go func() { c.readCtrl(); close(ctrlDone) }()
	go func() {
		werr := cmd.Wait()
		streams.Wait()
		parentCtrl.Close()
		<-ctrlDone
		c.mu.Lock()
		c.err = c.diedError(werr)
		c.mu.Unlock()
		close(c.done)
	}()

	timeout := k.opts.StartTimeout
	if timeout <= 0 {
		timeout = 10 * time.Second
	}
	t := time.NewTimer(timeout)
	defer t.Stop()
	select {
	case <-ready:
		return c, nil
	case <-c.done:
		return nil, fmt.Errorf("kernel: child %s exited during start: %w", exe, c.err)
	case <-ctx.Done():
		c.kill("start cancelled")
		<-c.done
		return nil, ctx.Err()
	case <-t.C:
		c.kill("start timed out")
		<-c.done
		return nil, fmt.Errorf("kernel: child %s not ready after %v", exe, timeout)
	}
}

// diedError explains the end of the process.
func (c *child) diedError(werr error) error {
	if c.killing == "shutdown" {
		return ErrShutdown
	}
	d := &DiedError{ExitCode: -1, Reason: c.killing, Stderr: c.stderrTl.String()}
	if st := c.cmd.ProcessState; st != nil {
		d.ExitCode = st.ExitCode()
		if ws, ok := st.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
			d.Signal = ws.Signal().String()
		}
	} else if werr != nil {
		d.Reason = werr.Error()
	}
	if d.Reason == "" {
		switch {
		case c.oom:
			d.Reason = "out of memory"
		case d.Signal == syscall.SIGKILL.String():
			d.Reason = "killed" // the OOM killer, or someone else
		case strings.Contains(d.Stderr, "fatal error:") || strings.Contains(d.Stderr, "\ngoroutine ") || d.Signal != "":
			d.Reason = "crashed"
		default:
			d.Reason = "exited"
		}
	}
	return d
}

func (c *child) kill(reason string) {
	c.mu.Lock()
	if c.killing == "" {
		c.killing = reason
	}
	c.mu.Unlock()
	killGroup(c.cmd.Process.Pid)
}

// readStream reads fd 1 or 2 of the child.
func (c *child) readStream(i int, r *os.File, prefix []byte, wg *sync.WaitGroup) {
	defer wg.Done()
	defer r.Close()
	fr := &frameReader{prefix: prefix}
	fr.text = func(b []byte) {
		if i == 1 {
			c.stderrTl.Write(b)
			if bytes.Contains(b, []byte("out of memory")) {
				c.mu.Lock()
				c.oom = true
				c.mu.Unlock()
			}
		}
		c.deliverText(i, string(b))
	}
	fr.end = func(seq uint64) {
		c.mu.Lock()
		if seq > c.ended[i] {
			c.ended[i] = seq
		}
		close(c.markerCh)
		c.markerCh = make(chan struct{})
		c.mu.Unlock()
	}
	fr.display = func(payload []byte) {
		var m session.DisplayMsg
		if err := json.Unmarshal(payload, &m); err != nil {
			c.deliverText(1, fmt.Sprintf("kernel: bad display message: %v\n", err))
			return
		}
		c.deliverDisplay(m)
	}
	buf := make([]byte, 64<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			fr.feed(buf[:n])
		}
		if err != nil {
			fr.flush()
			return
		}
	}
}

const maxBackground = 1 << 20

// target returns the handler that output of stream i goes to now: the
// running cell's, unless that stream already ended it (then nil: keep it).
// c.mu is held.
func (c *child) target(i int) *execState {
	if c.exec != nil && c.exec.seq > c.ended[i] {
		return c.exec
	}
	return nil
}

func (c *child) deliverText(i int, s string) {
	c.mu.Lock()
	ex := c.target(i)
	if ex == nil || ex.h.Stream == nil {
		if ex == nil {
			if bg := &c.bgText[i]; bg.Len() < maxBackground {
				bg.WriteString(s)
			}
		}
		c.mu.Unlock()
		return
	}
	// Delivered with c.mu held, so that output reaches the handler in
	// stream order and never after Execute returned.
	ex.h.Stream(streamNames[i], s)
	c.mu.Unlock()
}

func (c *child) deliverDisplay(m session.DisplayMsg) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ex := c.target(0)
	if ex == nil {
		if len(c.bgDisp) < 100 {
			c.bgDisp = append(c.bgDisp, m)
		}
		return
	}
	if ex.h.Display != nil {
		ex.h.Display(m)
	}
}

// readCtrl routes the child's control messages.
func (c *child) readCtrl() {
	sc := bufio.NewScanner(c.ctrl)
	sc.Buffer(make([]byte, 64<<10), 512<<20)
	for sc.Scan() {
		var m message
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			continue // the child only writes what it encoded; ignore noise
		}
		switch m.Op {
		case opReady, opReply:
			c.mu.Lock()
			w := c.waiters[m.ID]
			delete(c.waiters, m.ID)
			c.mu.Unlock()
			if w != nil {
				w <- m
			}
		case opInputReq:
			go c.answerInput(m)
		}
	}
	// EOF: fail every waiter once the process is gone (see request).
}

func (c *child) answerInput(m message) {
	c.mu.Lock()
	ex := c.exec
	c.mu.Unlock()
	reply := message{Op: opInputReply, ID: m.ID}
	switch {
	case ex == nil || ex.seq != m.ID:
		reply.Failure = "no cell is running"
	case ex.h.Input == nil:
		reply.Failure = "stdin is not available: the client does not allow input"
	default:
		v, err := ex.h.Input(m.Prompt, m.Password)
		if err != nil {
			reply.Failure = err.Error()
		}
		reply.Value = v
	}
	_ = c.send(reply) // a dead child needs no answer
}

func (c *child) send(m message) error {
	c.encMu.Lock()
	defer c.encMu.Unlock()
	return c.enc.Encode(m)
}

// request sends m and waits for the reply; the error is the child's death.
func (c *child) request(ctx context.Context, m message, onCancel func()) (message, error) {
	ch := make(chan message, 1)
	c.mu.Lock()
	c.nextID++
	m.ID = c.nextID
	c.waiters[m.ID] = ch
	c.mu.Unlock()
	if err := c.send(m); err != nil {
		<-c.done
		return message{}, c.err
	}
	cancelled := ctx.Done()
	for {
		select {
		case r := <-ch:
			return r, nil
		case <-c.done:
			return message{}, c.err
		case <-cancelled:
			cancelled = nil
			if onCancel != nil {
				onCancel()
				continue // the child answers (interrupted)
			}
			c.mu.Lock()
			delete(c.waiters, m.ID)
			c.mu.Unlock()
			return message{}, ctx.Err()
		}
	}
}

// current returns the running child or the reason there is none.
func (k *Kernel) current() (*child, error) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		return nil, ErrShutdown
	}
	select {
	case <-k.c.done:
		return nil, k.c.err
	default:
	}
	return k.c, nil
}

// Execute runs a cell. It returns the trailing expression's result (nil
// when none) and a nil error on success; a *session.CellError for compile
// errors, panics and interrupts; a *DiedError when the child died. Cancelling
// ctx interrupts the cell. All Handler callbacks happen before it returns.
func (k *Kernel) Execute(ctx context.Context, code string, h Handler) (*session.Result, error) {
	k.execMu.Lock()
	defer k.execMu.Unlock()
	c, err := k.current()
	if err != nil {
		return nil, err
	}
	// Deliver what came between cells, then route output to h.
	c.mu.Lock()
	for i := range c.bgText {
		if s := c.bgText[i].String(); s != "" && h.Stream != nil {
			h.Stream(streamNames[i], s)
		}
		c.bgText[i].Reset()
	}
	for _, m := range c.bgDisp {
		if h.Display != nil {
			h.Display(m)
		}
	}
	c.bgDisp = nil
	c.nextID++
	seq := c.nextID
	ex := &execState{seq: seq, h: h}
	c.exec = ex
	ch := make(chan message, 1)
	c.waiters[seq] = ch
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.exec = nil
		c.mu.Unlock()
	}()

	if err := c.send(message{Op: opExecute, ID: seq, Code: code}); err != nil {
		<-c.done
		return nil, c.err
	}
	cancelled := ctx.Done()
	// An interrupt signal can beat the cell to the child (then nothing
	// runs yet to cancel): while one is asked for, repeat it until the
	// reply comes.
	resend := time.NewTicker(200 * time.Millisecond)
	defer resend.Stop()
	var reply message
wait:
	for {
		select {
		case reply = <-ch:
			break wait
		case <-c.done:
			return nil, c.err
		case <-cancelled:
			cancelled = nil
			ex.interrupted.Store(true)
			_ = signalChild(c.cmd.Process.Pid, syscall.SIGINT)
		case <-resend.C:
			if ex.interrupted.Load() {
				_ = signalChild(c.cmd.Process.Pid, syscall.SIGINT)
			}
		}
	}
	// Wait for the end markers: all output of the cell has been delivered.
	for {
		c.mu.Lock()
		ok := c.ended[0] >= seq && c.ended[1] >= seq
		mc := c.markerCh
		c.mu.Unlock()
		if ok {
			break
		}
		select {
		case <-mc:
		case <-c.done:
			return nil, c.err
		}
	}
	if reply.Error != nil {
		return nil, reply.Error
	}
	return reply.Result, nil
}

// Complete returns completions for the word ending at cursorByte (byte
// offsets): the matches and the byte range [start, end) they replace.
// While a cell runs it answers with no matches rather than wait.
func (k *Kernel) Complete(ctx context.Context, code string, cursorByte int) (matches []string, startByte, endByte int, err error) {
	c, err := k.current()
	if err != nil {
		return nil, 0, 0, err
	}
	r, err := c.request(ctx, message{Op: opComplete, Code: code, Cursor: cursorByte}, nil)
	if err != nil {
		return nil, 0, 0, err
	}
	return r.Matches, r.Start, r.End, nil
}

// Inspect describes the identifier at cursorByte (a MIME bundle).
func (k *Kernel) Inspect(ctx context.Context, code string, cursorByte, detail int) (data map[string]any, found bool, err error) {
	c, err := k.current()
	if err != nil {
		return nil, false, err
	}
	r, err := c.request(ctx, message{Op: opInspect, Code: code, Cursor: cursorByte, Detail: detail}, nil)
	if err != nil {
		return nil, false, err
	}
	return r.Data, r.Found, nil
}

// IsComplete says whether code is "complete", "incomplete" (with the
// indent of the next line) or "invalid". It needs no interpreter state, so
// it is answered in the parent, even while the child is busy or dead.
func (k *Kernel) IsComplete(ctx context.Context, code string) (status, indent string, err error) {
	status, indent = session.IsComplete(code)
	return status, indent, nil
}

// Interrupt stops the running cell (even `for {}`), keeping the kernel's
// state; without a running cell it does nothing.
func (k *Kernel) Interrupt() error {
	c, err := k.current()
	if err != nil {
		return err
	}
	c.mu.Lock()
	ex := c.exec
	c.mu.Unlock()
	if ex == nil {
		return nil // nothing runs; a signal now could hit the next cell
	}
	ex.interrupted.Store(true)
	return signalChild(c.cmd.Process.Pid, syscall.SIGINT)
}

// Restart replaces the child by a fresh one (fresh state), keeping the
// Kernel value. A running Execute returns a *DiedError (reason
// "restarted"). Done and Err then refer to the new child.
func (k *Kernel) Restart(ctx context.Context) error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return ErrShutdown
	}
	old := k.c
	k.mu.Unlock()
	old.kill("restarted")
	<-old.done
	k.execMu.Lock() // the running Execute has returned
	defer k.execMu.Unlock()
	c, err := k.startChild(ctx)
	if err != nil {
		return err
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.closed {
		c.kill("shutdown")
		return ErrShutdown
	}
	k.c = c
	return nil
}

// Shutdown asks the child to exit, kills its process group after a grace
// period of one second, and waits for it.
func (k *Kernel) Shutdown() error {
	k.mu.Lock()
	if k.closed {
		k.mu.Unlock()
		return nil
	}
	k.closed = true
	c := k.c
	k.mu.Unlock()
	c.mu.Lock()
	if c.killing == "" {
		c.killing = "shutdown"
	}
	c.mu.Unlock()
	_ = c.send(message{Op: opShutdown})
	select {
	case <-c.done:
	case <-time.After(time.Second):
		c.kill("shutdown")
		<-c.done
	}
	killGroup(c.cmd.Process.Pid) // whatever the cells left running
	return nil
}

// Done is closed when the current child process has exited (died, shut
// down or restarted); Err says why. After Restart, Done returns the new
// child's channel.
func (k *Kernel) Done() <-chan struct{} {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c.done
}

// Err is nil while the current child runs, then why it ended: a
// *DiedError, or ErrShutdown.
func (k *Kernel) Err() error {
	k.mu.Lock()
	c := k.c
	k.mu.Unlock()
	select {
	case <-c.done:
		return c.err
	default:
		return nil
	}
}

// Pid is the current child's process id.
func (k *Kernel) Pid() int {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.c.cmd.Process.Pid
}

// tail keeps the last 4 KiB written to it.
type tail struct {
	mu  sync.Mutex
	buf []byte
}

func (t *tail) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.buf = append(t.buf, p...)
	if len(t.buf) > 4096 {
		t.buf = append(t.buf[:0], t.buf[len(t.buf)-4096:]...)
	}
	return len(p), nil
}

func (t *tail) String() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return string(t.buf)
}

var _ io.Writer = (*tail)(nil)
