package zmq

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-zeromq/zmq4"

	"github.com/netssm/netssm/kernel/dispatch/dispatchtest"
	"github.com/netssm/netssm/kernel/wire"
)

// client is a minimal Jupyter client over zmq4: DEALER sockets for shell,
// control and stdin (with one identity, as jupyter_client does), SUB for
// iopub, REQ for the heartbeat.
type client struct {
	t                     testing.TB
	signer                *Signer
	shell, control, stdin zmq4.Socket
	iopub, hb             zmq4.Socket
	session               string
	iopubMsgs             chan *wire.Message
}

// logBuf collects the kernel's log lines.
type logBuf struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *logBuf) logf(f string, a ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	fmt.Fprintf(&l.b, f+"\n", a...)
}

func (l *logBuf) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func startKernel(t testing.TB, key string) (*Kernel, *dispatchtest.Engine, *logBuf) {
	t.Helper()
	eng := dispatchtest.New()
	logs := &logBuf{}
	ci := &ConnectionInfo{Transport: "tcp", IP: "127.0.0.1", Key: key, SignatureScheme: "hmac-sha256"}
	k, err := Start(context.Background(), Options{Conn: ci, Engine: eng, Logf: logs.logf})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { k.Close() })
	return k, eng, logs
}

func dial(t testing.TB, k *Kernel) *client {
	t.Helper()
	ci := k.Connection()
	s, err := NewSigner(ci.SignatureScheme, ci.Key)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	id := zmq4.WithID(zmq4.SocketIdentity(wire.NewID()))
	c := &client{t: t, signer: s, session: wire.NewID(), iopubMsgs: make(chan *wire.Message, 100)}
	c.shell = zmq4.NewDealer(ctx, id)
	c.control = zmq4.NewDealer(ctx, id)
	c.stdin = zmq4.NewDealer(ctx, id)
	c.iopub = zmq4.NewSub(ctx)
	c.hb = zmq4.NewReq(ctx)
	for _, d := range []struct {
		s    zmq4.Socket
		port int
	}{{c.shell, ci.ShellPort}, {c.control, ci.ControlPort}, {c.stdin, ci.StdinPort}, {c.iopub, ci.IOPubPort}, {c.hb, ci.HBPort}} {
		if err := d.s.Dial(ci.Endpoint(d.port)); err != nil {
			t.Fatal(err)
		}
	}
	if err := c.iopub.SetOption(zmq4.OptionSubscribe, ""); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		for _, s := range []zmq4.Socket{c.shell, c.control, c.stdin, c.iopub, c.hb} {
			s.Close()
		}
	})
	go func() {
		for {
			msg, err := c.iopub.Recv()
			if err != nil {
				close(c.iopubMsgs)
				return
			}
			_, m, err := Decode(msg.Frames, wire.IOPub, c.signer)
			if err != nil {
				t.Errorf("iopub: %v", err)
				continue
			}
			c.iopubMsgs <- m
		}
	}()
	// PUB/SUB joins asynchronously: wait until status messages arrive.
	deadline := time.Now().Add(5 * time.Second)
	for {
		c.request(c.shell, wire.Shell, "kernel_info_request", nil)
		select {
		case <-c.iopubMsgs:
			c.drainIOPub()
			c.recv(c.shell, wire.Shell) // the kernel_info_reply
			return c
		case <-time.After(100 * time.Millisecond):
			c.recv(c.shell, wire.Shell)
		}
		if time.Now().After(deadline) {
			t.Fatal("no iopub messages after 5 s")
		}
	}
}

func (c *client) drainIOPub() {
	for {
		select {
		case <-c.iopubMsgs:
		case <-time.After(200 * time.Millisecond):
			return
		}
	}
}

func (c *client) request(sock zmq4.Socket, channel, msgType string, content any) *wire.Message {
	c.t.Helper()
	m, err := wire.NewMessage(channel, msgType, c.session, nil, content)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(sock, m)
	return m
}

func (c *client) send(sock zmq4.Socket, m *wire.Message) { c.sendSigned(sock, m, c.signer) }

func (c *client) sendSigned(sock zmq4.Socket, m *wire.Message, s *Signer) {
	c.t.Helper()
	frames, err := Encode(nil, m, s)
	if err != nil {
		c.t.Fatal(err)
	}
	if err := sock.SendMulti(zmq4.NewMsgFrom(frames...)); err != nil {
		c.t.Fatal(err)
	}
}

// recv reads one message from a DEALER socket, or fails after 5 s.
func (c *client) recv(sock zmq4.Socket, channel string) *wire.Message {
	c.t.Helper()
	type res struct {
		m   *wire.Message
		err error
	}
	ch := make(chan res, 1)
	go func() {
		msg, err := sock.Recv()
		if err != nil {
			ch <- res{nil, err}
			return
		}
		_, m, err := Decode(msg.Frames, channel, c.signer)
		ch <- res{m, err}
	}()
	select {
	case r := <-ch:
		if r.err != nil {
			c.t.Fatalf("%s: %v", channel, r.err)
		}
		return r.m
	case <-time.After(5 * time.Second):
		c.t.Fatalf("no message on %s after 5 s", channel)
		return nil
	}
}

// iopubUntilIdle collects the iopub messages of request id up to idle.
func (c *client) iopubUntilIdle(id string) []*wire.Message {
	c.t.Helper()
	var out []*wire.Message
	timeout := time.After(5 * time.Second)
	for {
		select {
		case m := <-c.iopubMsgs:
			if m.ParentHeader == nil || m.ParentHeader.MsgID != id {
				continue
			}
			out = append(out, m)
			var st wire.Status
			if m.Header.MsgType == "status" && json.Unmarshal(m.Content, &st) == nil && st.ExecutionState == "idle" {
				return out
			}
		case <-timeout:
			c.t.Fatalf("no idle for %s after 5 s; got %d messages", id, len(out))
		}
	}
}

func content(t *testing.T, m *wire.Message) map[string]any {
	t.Helper()
	var v map[string]any
	if err := json.Unmarshal(m.Content, &v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestExecuteOverZMQ(t *testing.T) {
	k, _, _ := startKernel(t, "secret-key")
	c := dial(t, k)
	req := c.request(c.shell, wire.Shell, "execute_request", map[string]any{"code": "out hello\nset x 42\n= x"})
	reply := c.recv(c.shell, wire.Shell)
	if reply.Header.MsgType != "execute_reply" || reply.ParentHeader.MsgID != req.Header.MsgID {
		t.Fatalf("reply %s to %v", reply.Header.MsgType, reply.ParentHeader)
	}
	if got := content(t, reply); got["status"] != "ok" || got["execution_count"] != float64(1) {
		t.Errorf("reply content %v", got)
	}
	var types []string
	for _, m := range c.iopubUntilIdle(req.Header.MsgID) {
		types = append(types, m.Header.MsgType)
		if m.Header.MsgType == "stream" && content(t, m)["text"] != "hello\n" {
			t.Errorf("stream %v", content(t, m))
		}
		if m.Header.MsgType == "execute_result" && content(t, m)["data"].(map[string]any)["text/plain"] != "42" {
			t.Errorf("result %v", content(t, m))
		}
	}
	if got := strings.Join(types, " "); got != "status execute_input stream execute_result status" {
		t.Errorf("iopub sequence %q", got)
	}
}

func TestBadSignatureDropped(t *testing.T) {
	k, _, logs := startKernel(t, "secret-key")
	c := dial(t, k)
	// A message signed with the wrong key: no reply, logged, counted.
	wrong, _ := NewSigner("hmac-sha256", "wrong-key")
	forged, _ := wire.NewMessage(wire.Shell, "execute_request", c.session, nil, map[string]any{"code": "out pwned"})
	c.sendSigned(c.shell, forged, wrong)
	deadline := time.Now().Add(2 * time.Second)
	for k.Dropped() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if k.Dropped() != 1 {
		t.Fatalf("dropped = %d, want 1", k.Dropped())
	}
	if !strings.Contains(logs.String(), "bad signature") {
		t.Errorf("log %q does not mention the bad signature", logs.String())
	}
	// A replay of a correctly signed message is dropped too.
	m, _ := wire.NewMessage(wire.Shell, "execute_request", c.session, nil, map[string]any{"code": "out once"})
	c.send(c.shell, m)
	first := c.recv(c.shell, wire.Shell)
	if first.ParentHeader.MsgID != m.Header.MsgID {
		t.Fatalf("reply to %v", first.ParentHeader)
	}
	c.send(c.shell, m)
	// The next good request gets the next reply: the bad ones got none.
	req := c.request(c.shell, wire.Shell, "kernel_info_request", nil)
	reply := c.recv(c.shell, wire.Shell)
	if reply.ParentHeader.MsgID != req.Header.MsgID {
		t.Errorf("reply to %s, want %s (a dropped message was answered)", reply.ParentHeader.MsgType, req.Header.MsgType)
	}
	if k.Dropped() != 2 || !strings.Contains(logs.String(), "replayed") {
		t.Errorf("dropped = %d, log %q", k.Dropped(), logs.String())
	}
	// Nothing the forged request asked for ran.
	for {
		select {
		case m := <-c.iopubMsgs:
			if m.Header.MsgType == "stream" && strings.Contains(string(m.Content), "pwned") {
				t.Fatal("forged code ran")
			}
			continue
		default:
		}
		break
	}
}

func TestInterruptAndShutdown(t *testing.T) {
	k, eng, _ := startKernel(t, "")
	c := dial(t, k)
	req := c.request(c.shell, wire.Shell, "execute_request", map[string]any{"code": "loop"})
	time.Sleep(100 * time.Millisecond)
	// interrupt_mode "signal": the command turns SIGINT into Interrupt.
	if err := k.Interrupt(); err != nil {
		t.Fatal(err)
	}
	reply := c.recv(c.shell, wire.Shell)
	if got := content(t, reply); reply.ParentHeader.MsgID != req.Header.MsgID || got["status"] != "error" || got["ename"] != "Interrupted" {
		t.Fatalf("interrupted reply %v", got)
	}
	// interrupt_mode "message": interrupt_request on control.
	req = c.request(c.shell, wire.Shell, "execute_request", map[string]any{"code": "loop"})
	time.Sleep(100 * time.Millisecond)
	c.request(c.control, wire.Control, "interrupt_request", nil)
	if r := c.recv(c.control, wire.Control); r.Header.MsgType != "interrupt_reply" || content(t, r)["status"] != "ok" {
		t.Fatalf("control reply %s %v", r.Header.MsgType, content(t, r))
	}
	if got := content(t, c.recv(c.shell, wire.Shell)); got["ename"] != "Interrupted" {
		t.Fatalf("second interrupt: %v", got)
	}
	// Heartbeat echoes.
	if err := c.hb.Send(zmq4.NewMsgString("ping")); err != nil {
		t.Fatal(err)
	}
	if msg, err := c.hb.Recv(); err != nil || string(msg.Frames[0]) != "ping" {
		t.Fatalf("heartbeat: %q %v", msg.Frames, err)
	}
	// shutdown_request with restart: jupyter_client will start a new
	// process, so this one shuts down and says restart true.
	c.request(c.control, wire.Control, "shutdown_request", map[string]any{"restart": true})
	r := c.recv(c.control, wire.Control)
	if got := content(t, r); r.Header.MsgType != "shutdown_reply" || got["restart"] != true || got["status"] != "ok" {
		t.Fatalf("shutdown reply %s %v", r.Header.MsgType, got)
	}
	select {
	case <-k.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("Done not closed after shutdown_request")
	}
	select {
	case <-eng.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("engine not shut down")
	}
}

func TestStdinOverZMQ(t *testing.T) {
	k, _, _ := startKernel(t, "k")
	c := dial(t, k)
	req := c.request(c.shell, wire.Shell, "execute_request", map[string]any{"code": "input name?", "allow_stdin": true})
	ir := c.recv(c.stdin, wire.Stdin)
	if ir.Header.MsgType != "input_request" || content(t, ir)["prompt"] != "name?" || ir.ParentHeader.MsgID != req.Header.MsgID {
		t.Fatalf("input request %s %v", ir.Header.MsgType, content(t, ir))
	}
	m, _ := wire.NewMessage(wire.Stdin, "input_reply", c.session, &ir.Header, map[string]any{"value": "gopher"})
	c.send(c.stdin, m)
	if got := content(t, c.recv(c.shell, wire.Shell)); got["status"] != "ok" {
		t.Fatalf("reply %v", got)
	}
	found := false
	for _, m := range c.iopubUntilIdle(req.Header.MsgID) {
		found = found || m.Header.MsgType == "stream" && content(t, m)["text"] == "gopher\n"
	}
	if !found {
		t.Error("the input value was not echoed on stdout")
	}
}

func TestStartErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Start(ctx, Options{Engine: dispatchtest.New()}); err == nil {
		t.Error("no connection info accepted")
	}
	k, _, _ := startKernel(t, "")
	// The same ports again: the error names the socket and endpoint.
	ci := k.Connection()
	_, err := Start(ctx, Options{Conn: &ci, Engine: dispatchtest.New(), Logf: t.Logf})
	if err == nil || !strings.Contains(err.Error(), "shell socket") || !strings.Contains(err.Error(), fmt.Sprint(ci.ShellPort)) {
		t.Errorf("port in use: %v", err)
	}
}

// BenchmarkExecuteRoundTrip measures one trivial execute_request over ZMQ
// through the dispatcher (fake engine): request sent until the reply and
// the idle status arrived, as a notebook front end waits for them.
func BenchmarkExecuteRoundTrip(b *testing.B) {
	k, _, _ := startKernel(b, "secret-key")
	c := dial(b, k)
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := c.request(c.shell, wire.Shell, "execute_request", map[string]any{"code": "= x"})
		c.recv(c.shell, wire.Shell)
		c.iopubUntilIdle(req.Header.MsgID)
	}
}

// BenchmarkSignVerify measures signing and verifying a typical reply.
func BenchmarkSignVerify(b *testing.B) {
	s, _ := NewSigner("hmac-sha256", "a0436f6c-1916-498b-8eb9-e81ab9368e84")
	m, _ := wire.NewMessage(wire.Shell, "execute_reply", "sess", &wire.Header{MsgID: "p", MsgType: "execute_request"}, map[string]any{"status": "ok", "execution_count": 1})
	b.ReportAllocs()
	for i := 0; i < b.N; i++ {
		frames, err := Encode([][]byte{[]byte("id")}, m, s)
		if err != nil {
			b.Fatal(err)
		}
		if _, _, err := Decode(frames, wire.Shell, s); err != nil {
			b.Fatal(err)
		}
	}
}

func TestDropLogIsRateLimited(t *testing.T) {
	var r rateLog
	var lines []string
	logf := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	for i := 0; i < 100; i++ {
		r.logf(logf, "dropped %d", i)
	}
	if len(lines) != dropLogBurst {
		t.Fatalf("%d lines logged, want %d", len(lines), dropLogBurst)
	}
	r.start = time.Now().Add(-2 * dropLogWindow) // the window passes
	r.logf(logf, "dropped again")
	if n := len(lines); n != dropLogBurst+2 || lines[n-2] != "netssm zmq: 80 more messages dropped (not logged)" || lines[n-1] != "dropped again" {
		t.Fatalf("after the window: %q", lines[dropLogBurst:])
	}
}
