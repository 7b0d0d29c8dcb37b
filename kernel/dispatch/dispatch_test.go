package dispatch_test

import (
	"encoding/json"
	"sync"
	"testing"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/dispatch/dispatchtest"
	"github.com/netssm/netssm/kernel/wire"
)

// recorder is both the client connection and the iopub subscriber.
type recorder struct {
	mu   sync.Mutex
	msgs []*wire.Message
	ch   chan *wire.Message
}

func newRecorder() *recorder { return &recorder{ch: make(chan *wire.Message, 1000)} }

func (r *recorder) Send(m *wire.Message) error {
	r.mu.Lock()
	r.msgs = append(r.msgs, m)
	r.mu.Unlock()
	r.ch <- m
	return nil
}

// find returns a message sent to the client (not iopub) of type msgType in
// reply to parent.
// It waits up to two seconds.
func (r *recorder) find(parent *wire.Message, msgType string) *wire.Message {
	for deadline := time.Now().Add(2 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		r.mu.Lock()
		for _, m := range r.msgs {
			if m.Header.MsgType == msgType && m.ParentHeader != nil && m.ParentHeader.MsgID == parent.Header.MsgID {
				r.mu.Unlock()
				return m
			}
		}
		r.mu.Unlock()
	}
	return nil
}

type harness struct {
	t   *testing.T
	k   *dispatch.Kernel
	eng *dispatchtest.Engine
	rec *recorder
}

func start(t *testing.T) *harness {
	eng := dispatchtest.New()
	rec := newRecorder()
	k := dispatch.New(dispatch.Options{Engine: eng, Publish: func(m *wire.Message) { rec.ch <- m }, Logf: t.Logf})
	t.Cleanup(func() { k.Close() })
	return &harness{t: t, k: k, eng: eng, rec: rec}
}

func (h *harness) send(channel, msgType string, content any) *wire.Message {
	h.t.Helper()
	m, err := wire.NewMessage(channel, msgType, "client", nil, content)
	if err != nil {
		h.t.Fatal(err)
	}
	h.k.Handle(h.rec, m)
	return m
}

// until collects messages in reply to parent until the reply of the given
// type and the idle status have both arrived.
func (h *harness) until(parent *wire.Message, replyType string) (reply *wire.Message, iopub []*wire.Message) {
	h.t.Helper()
	idle := false
	deadline := time.After(5 * time.Second)
	for reply == nil || !idle {
		select {
		case m := <-h.rec.ch:
			if m.ParentHeader == nil || m.ParentHeader.MsgID != parent.Header.MsgID {
				continue
			}
			if m.Header.MsgType == replyType {
				reply = m
				continue
			}
			if m.Channel == wire.IOPub {
				iopub = append(iopub, m)
				if m.Header.MsgType == "status" && state(m) == "idle" {
					idle = true
				}
			}
		case <-deadline:
			h.t.Fatalf("no %s and idle for %s (got reply %v, iopub %d)", replyType, parent.Header.MsgType, reply != nil, len(iopub))
		}
	}
	return reply, iopub
}

func state(m *wire.Message) string {
	var s wire.Status
	json.Unmarshal(m.Content, &s)
	return s.ExecutionState
}

func content(t *testing.T, m *wire.Message) map[string]any {
	t.Helper()
	var c map[string]any
	if err := json.Unmarshal(m.Content, &c); err != nil {
		t.Fatal(err)
	}
	return c
}

func types(ms []*wire.Message) []string {
	var out []string
	for _, m := range ms {
		out = append(out, m.Header.MsgType)
	}
	return out
}

func (h *harness) exec(code string, extra map[string]any) (map[string]any, []*wire.Message) {
	h.t.Helper()
	c := map[string]any{"code": code}
	for k, v := range extra {
		c[k] = v
	}
	m := h.send(wire.Shell, "execute_request", c)
	r, io := h.until(m, "execute_reply")
	return content(h.t, r), io
}

func TestKernelInfo(t *testing.T) {
	h := start(t)
	m := h.send(wire.Shell, "kernel_info_request", nil)
	r, io := h.until(m, "kernel_info_reply")
	c := content(t, r)
	li := c["language_info"].(map[string]any)
	if c["protocol_version"] != "5.3" || li["name"] != "go" || li["mimetype"] != "text/x-go" || li["file_extension"] != ".go" || li["pygments_lexer"] != "go" || li["codemirror_mode"] != "go" {
		t.Fatalf("kernel_info_reply %v", c)
	}
	if got := types(io); len(got) != 2 || state(io[0]) != "busy" {
		t.Fatalf("iopub %v, want busy, idle", got)
	}
	if r.Channel != wire.Shell || r.Header.Session != h.k.Session() {
		t.Fatalf("reply channel %q session %q", r.Channel, r.Header.Session)
	}
}

func TestExecuteOrderAndCount(t *testing.T) {
	h := start(t)
	c, io := h.exec("out hello\nerr oops\npng\nset x 42\n= x", nil)
	if c["status"] != "ok" || c["execution_count"] != 1.0 {
		t.Fatalf("reply %v", c)
	}
	want := []string{"status", "execute_input", "stream", "stream", "display_data", "execute_result", "status"}
	if got := types(io); len(got) != len(want) {
		t.Fatalf("iopub %v, want %v", got, want)
	} else {
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("iopub %v, want %v", got, want)
			}
		}
	}
	if s := content(t, io[3]); s["name"] != "stderr" || s["text"] != "oops\n" {
		t.Fatalf("stderr stream %v", s)
	}
	if r := content(t, io[5]); r["execution_count"] != 1.0 || r["data"].(map[string]any)["text/plain"] != "42" {
		t.Fatalf("execute_result %v", r)
	}
	c, _ = h.exec("= x", nil)
	if c["execution_count"] != 2.0 {
		t.Fatalf("second count %v", c["execution_count"])
	}
	// silent: no execute_input, no result, no count.
	c, io = h.exec("= x", map[string]any{"silent": true})
	if c["execution_count"] != 2.0 || len(io) != 2 {
		t.Fatalf("silent: reply %v iopub %v", c, types(io))
	}
	c, _ = h.exec("= y", map[string]any{"store_history": false})
	if c["execution_count"] != 2.0 {
		t.Fatalf("store_history false counted: %v", c)
	}
	c, _ = h.exec("out u", map[string]any{"user_expressions": map[string]any{"a": "= x", "b": "panic no"}})
	ue := c["user_expressions"].(map[string]any)
	if ue["a"].(map[string]any)["data"].(map[string]any)["text/plain"] != "42" || ue["b"].(map[string]any)["status"] != "error" {
		t.Fatalf("user_expressions %v", ue)
	}
}

func TestErrorAndStopOnError(t *testing.T) {
	h := start(t)
	first := h.send(wire.Shell, "execute_request", map[string]any{"code": "sleep 100ms\npanic boom"})
	queued := h.send(wire.Shell, "execute_request", map[string]any{"code": "out never"})
	r, io := h.until(first, "execute_reply")
	c := content(t, r)
	if c["status"] != "error" || c["ename"] != "panic" || c["evalue"] != "boom" {
		t.Fatalf("error reply %v", c)
	}
	if got := types(io); got[len(got)-2] != "error" {
		t.Fatalf("iopub %v: want error before idle", got)
	}
	r, io = h.until(queued, "execute_reply")
	if c := content(t, r); c["status"] != "aborted" {
		t.Fatalf("queued execute after error: %v", c)
	}
	for _, m := range io {
		if m.Header.MsgType == "stream" {
			t.Fatal("aborted cell ran")
		}
	}
	// stop_on_error false: the next one runs.
	first = h.send(wire.Shell, "execute_request", map[string]any{"code": "sleep 50ms\npanic again", "stop_on_error": false})
	queued = h.send(wire.Shell, "execute_request", map[string]any{"code": "out ran"})
	h.until(first, "execute_reply")
	if r, _ := h.until(queued, "execute_reply"); content(t, r)["status"] != "ok" {
		t.Fatal("execute after stop_on_error=false error was aborted")
	}
}

func TestInterrupt(t *testing.T) {
	h := start(t)
	h.exec("set v kept", nil)
	m := h.send(wire.Shell, "execute_request", map[string]any{"code": "loop"})
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	im := h.send(wire.Control, "interrupt_request", nil)
	r, _ := h.until(m, "execute_reply")
	if c := content(t, r); c["status"] != "error" || c["ename"] != "Interrupted" {
		t.Fatalf("interrupted reply %v", c)
	}
	if d := time.Since(t0); d > time.Second {
		t.Fatalf("interrupt took %v", d)
	}
	got := h.rec.find(im, "interrupt_reply")
	if got == nil || got.Channel != wire.Control || content(t, got)["status"] != "ok" {
		t.Fatalf("interrupt_reply %v", got)
	}
	if c, _ := h.exec("= v", nil); c["status"] != "ok" {
		t.Fatalf("after interrupt: %v", c)
	}
}

func TestDeathRestartsEngine(t *testing.T) {
	h := start(t)
	h.exec("set v 1", nil)
	c, io := h.exec("exit", nil)
	if c["status"] != "error" || c["ename"] != "DeadKernelError" {
		t.Fatalf("reply %v", c)
	}
	var states []string
	for _, m := range io {
		if m.Header.MsgType == "status" {
			states = append(states, state(m))
		}
	}
	if len(states) < 3 || states[1] != "restarting" {
		t.Fatalf("states %v, want busy, restarting, ...", states)
	}
	c, io = h.exec("= v", nil)
	if c["status"] != "ok" || c["execution_count"] != 1.0 || content(t, io[2])["data"].(map[string]any)["text/plain"] != "v" {
		t.Fatalf("after restart: %v", c)
	}
	// Death while idle (a goroutine calling os.Exit) is noticed too.
	h.eng.Kill(nil)
	deadline := time.Now().Add(3 * time.Second)
	for h.eng.Starts() < 3 && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if c, _ := h.exec("out alive", nil); c["status"] != "ok" {
		t.Fatalf("after idle death: %v", c)
	}
}

func TestInput(t *testing.T) {
	h := start(t)
	m := h.send(wire.Shell, "execute_request", map[string]any{"code": "input name?", "allow_stdin": true})
	var req *wire.Message
	for req == nil {
		select {
		case x := <-h.rec.ch:
			if x.Header.MsgType == "input_request" {
				req = x
			}
		case <-time.After(3 * time.Second):
			t.Fatal("no input_request")
		}
	}
	if req.Channel != wire.Stdin || content(t, req)["prompt"] != "name?" {
		t.Fatalf("input_request %v %v", req.Channel, content(t, req))
	}
	reply, _ := wire.NewMessage(wire.Stdin, "input_reply", "client", &req.Header, wire.InputReply{Value: "gopher"})
	h.k.Handle(h.rec, reply)
	_, io := h.until(m, "execute_reply")
	found := false
	for _, x := range io {
		if x.Header.MsgType == "stream" && content(t, x)["text"] == "gopher\n" {
			found = true
		}
	}
	if !found {
		t.Fatalf("input value not echoed: %v", types(io))
	}
	c, _ := h.exec("input x", map[string]any{"allow_stdin": false})
	if c["ename"] != "StdinNotAllowed" {
		t.Fatalf("allow_stdin false: %v", c)
	}
}

func TestCompleteInspectIsComplete(t *testing.T) {
	h := start(t)
	h.exec("set alpha 1\nset alpine 2\nset beta 3", nil)
	code := "😀 = alp" // cursor at the end: 2 + 6 UTF-16 units
	m := h.send(wire.Shell, "complete_request", map[string]any{"code": code, "cursor_pos": 8})
	r, _ := h.until(m, "complete_reply")
	c := content(t, r)
	if ms := c["matches"].([]any); len(ms) != 2 || ms[0] != "alpha" || c["cursor_start"] != 5.0 || c["cursor_end"] != 8.0 {
		t.Fatalf("complete_reply %v", c)
	}
	m = h.send(wire.Shell, "inspect_request", map[string]any{"code": "beta", "cursor_pos": 2, "detail_level": 0})
	r, _ = h.until(m, "inspect_reply")
	if c := content(t, r); c["found"] != true || c["data"].(map[string]any)["text/plain"] != "beta = 3" {
		t.Fatalf("inspect_reply %v", c)
	}
	for code, want := range map[string]string{"x {": "incomplete", "x }": "invalid", "x": "complete"} {
		m = h.send(wire.Shell, "is_complete_request", map[string]any{"code": code})
		r, _ = h.until(m, "is_complete_reply")
		if c := content(t, r); c["status"] != want {
			t.Fatalf("is_complete(%q) = %v, want %s", code, c, want)
		}
	}
}

func TestHistory(t *testing.T) {
	h := start(t)
	h.exec("set a 1", nil)
	h.exec("= a", nil)
	h.exec("out x", nil)
	get := func(c map[string]any) []any {
		m := h.send(wire.Shell, "history_request", c)
		r, _ := h.until(m, "history_reply")
		return content(t, r)["history"].([]any)
	}
	if got := get(map[string]any{"hist_access_type": "tail", "n": 2, "output": true}); len(got) != 2 || got[1].([]any)[1] != 3.0 || got[0].([]any)[2].([]any)[1] != "1" {
		t.Fatalf("tail %v", got)
	}
	if got := get(map[string]any{"hist_access_type": "range", "session": 0, "start": 2, "stop": 3}); len(got) != 1 || got[0].([]any)[2] != "= a" {
		t.Fatalf("range %v", got)
	}
	if got := get(map[string]any{"hist_access_type": "search", "pattern": "set*"}); len(got) != 1 || got[0].([]any)[2] != "set a 1" {
		t.Fatalf("search %v", got)
	}
}

func TestCommsAndUnknown(t *testing.T) {
	h := start(t)
	m := h.send(wire.Shell, "comm_info_request", nil)
	r, _ := h.until(m, "comm_info_reply")
	if c := content(t, r); c["status"] != "ok" || len(c["comms"].(map[string]any)) != 0 {
		t.Fatalf("comm_info_reply %v", c)
	}
	m = h.send(wire.Shell, "comm_open", map[string]any{"comm_id": "c1", "target_name": "jupyter.widget", "data": map[string]any{}})
	r, _ = h.until(m, "comm_close")
	if c := content(t, r); c["comm_id"] != "c1" || r.Channel != wire.IOPub {
		t.Fatalf("comm_open answered with %v on %s", c, r.Channel)
	}
	m = h.send(wire.Shell, "frobnicate_request", nil)
	r, _ = h.until(m, "frobnicate_reply")
	if c := content(t, r); c["status"] != "error" || c["ename"] != "UnknownMessageType" {
		t.Fatalf("unknown request answered %v", c)
	}
}

func TestShutdown(t *testing.T) {
	h := start(t)
	var once sync.WaitGroup
	once.Add(1)
	eng := dispatchtest.New()
	rec := newRecorder()
	k := dispatch.New(dispatch.Options{Engine: eng, Publish: func(m *wire.Message) { rec.ch <- m }, OnShutdown: once.Done})
	m, _ := wire.NewMessage(wire.Control, "shutdown_request", "c", nil, wire.ShutdownRequest{})
	k.Handle(rec, m)
	once.Wait()
	if !k.Closed() {
		t.Fatal("not closed after shutdown_request")
	}
	if st, _ := k.State(); st != dispatch.Dead {
		t.Fatalf("state %s after shutdown", st)
	}
	// A restart via shutdown_request keeps the kernel.
	m = h.send(wire.Control, "shutdown_request", map[string]any{"restart": true})
	r, _ := h.until(m, "shutdown_reply")
	if c := content(t, r); c["restart"] != true || h.k.Closed() || h.eng.Starts() != 2 {
		t.Fatalf("restart via shutdown: %v closed=%v starts=%d", c, h.k.Closed(), h.eng.Starts())
	}
}

// kernel_info is answered while a cell runs, and the kernel is reported
// busy again afterwards.
func TestKernelInfoWhileBusy(t *testing.T) {
	h := start(t)
	cell := h.send(wire.Shell, "execute_request", map[string]any{"code": "sleep 300ms\nout done"})
	time.Sleep(50 * time.Millisecond)
	t0 := time.Now()
	ki := h.send(wire.Shell, "kernel_info_request", nil)
	h.until(ki, "kernel_info_reply")
	if d := time.Since(t0); d > 200*time.Millisecond {
		t.Fatalf("kernel_info waited for the cell: %v", d)
	}
	select {
	case m := <-h.rec.ch:
		if m.Header.MsgType != "status" || state(m) != "busy" || m.ParentHeader.MsgID != cell.Header.MsgID {
			t.Fatalf("after kernel_info's idle got %s %s, want busy for the running cell", m.Header.MsgType, m.Content)
		}
	case <-time.After(time.Second):
		t.Fatal("no busy status after kernel_info")
	}
	if st, _ := h.k.State(); st != dispatch.Busy {
		t.Fatalf("state %s while the cell runs", st)
	}
	h.until(cell, "execute_reply")
}
