package server_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/dispatch/dispatchtest"
	"github.com/netssm/netssm/kernel/kerneltest"
	"github.com/netssm/netssm/kernel/server"
	"github.com/netssm/netssm/kernel/wire"
)

func fakeServer(t testing.TB, opt server.Options) *kerneltest.Server {
	opt.NewEngine = fakeOptions().NewEngine
	return kerneltest.NewServer(t, opt)
}

func fakeOptions() server.Options {
	return server.Options{NewEngine: func(ctx context.Context, o server.StartOptions) (dispatch.Engine, error) {
		return dispatchtest.New(), nil
	}}
}

func TestREST(t *testing.T) {
	s := fakeServer(t, server.Options{})
	var specs struct {
		Default     string
		Kernelspecs map[string]server.Spec
	}
	if code, err := s.Do("GET", "/api/kernelspecs", nil, &specs); err != nil || code != 200 {
		t.Fatalf("kernelspecs: %d %v", code, err)
	}
	sp := specs.Kernelspecs["netssm"]
	if specs.Default != "netssm" || sp.Spec.DisplayName != "Go (netssm)" || sp.Spec.Language != "go" || len(sp.Spec.Argv) == 0 {
		t.Fatalf("kernelspecs %+v", specs)
	}
	resp, err := http.Get(s.URL + sp.Resources["logo-64x64"] + "?token=" + s.Token)
	if err != nil || resp.StatusCode != 200 || resp.Header.Get("Content-Type") != "image/png" {
		t.Fatalf("logo: %v %v", resp, err)
	}
	resp.Body.Close()

	var m server.Model
	code, err := s.Do("POST", "/api/kernels", map[string]any{"name": "netssm", "env": map[string]any{"PATH": "/x", "KERNEL_USERNAME": "u"}}, &m)
	if err != nil || code != 201 || m.ExecutionState != "idle" || m.Name != "netssm" {
		t.Fatalf("start: %d %v %+v", code, err, m)
	}
	if _, err := time.Parse("2006-01-02T15:04:05.000000Z", m.LastActivity); err != nil {
		t.Fatalf("last_activity %q: %v", m.LastActivity, err)
	}
	// nbclient's gateway manager always asks for python3: it gets the
	// one kernelspec there is, and the model says so.
	var other server.Model
	if code, _ := s.Do("POST", "/api/kernels", map[string]any{"name": "python3"}, &other); code != 201 || other.Name != "netssm" {
		t.Fatalf("other kernelspec name: %d %+v", code, other)
	}
	var list []server.Model
	if code, _ := s.Do("GET", "/api/kernels", nil, &list); code != 200 || len(list) != 2 || list[0].ID != m.ID {
		t.Fatalf("list %d %+v", code, list)
	}
	if code, _ := s.Do("DELETE", "/api/kernels/"+other.ID, nil, nil); code != 204 {
		t.Fatalf("delete %d", code)
	}
	if code, _ := s.Do("POST", "/api/kernels/"+m.ID+"/interrupt", nil, nil); code != 204 {
		t.Fatalf("interrupt %d", code)
	}
	if code, _ := s.Do("POST", "/api/kernels/"+m.ID+"/restart", nil, &m); code != 200 || m.ExecutionState != "idle" {
		t.Fatalf("restart %d %+v", code, m)
	}
	// Sessions.
	var sess server.SessionModel
	code, err = s.Do("POST", "/api/sessions", map[string]any{"path": "a.ipynb", "name": "a.ipynb", "type": "notebook", "kernel": map[string]any{"id": m.ID}}, &sess)
	if err != nil || code != 201 || sess.Kernel == nil || sess.Kernel.ID != m.ID {
		t.Fatalf("session: %d %v %+v", code, err, sess)
	}
	if code, _ := s.Do("PATCH", "/api/sessions/"+sess.ID, map[string]any{"path": "b.ipynb"}, &sess); code != 200 || sess.Path != "b.ipynb" {
		t.Fatalf("patch %d %+v", code, sess)
	}
	var sl []server.SessionModel
	if code, _ := s.Do("GET", "/api/sessions", nil, &sl); code != 200 || len(sl) != 1 {
		t.Fatalf("sessions %d %+v", code, sl)
	}
	if code, _ := s.Do("DELETE", "/api/sessions/"+sess.ID, nil, nil); code != 204 {
		t.Fatalf("delete session %d", code)
	}
	if code, _ := s.Do("GET", "/api/kernels/"+m.ID, nil, nil); code != 404 {
		t.Fatalf("kernel of deleted session still there: %d", code)
	}
	if code, _ := s.Do("DELETE", "/api/kernels/nope", nil, nil); code != 404 {
		t.Fatalf("delete unknown %d", code)
	}
}

func TestAuthAndOrigin(t *testing.T) {
	s := fakeServer(t, server.Options{Token: "secret", AllowOrigins: []string{"http://good.example"}})
	for _, c := range []struct {
		auth, query string
		want        int
	}{{"", "", 403}, {"token wrong", "", 403}, {"token secret", "", 200}, {"Bearer secret", "", 200}, {"", "?token=secret", 200}, {"", "?token=secre", 403}} {
		req, _ := http.NewRequest("GET", s.URL+"/api/kernels"+c.query, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != c.want {
			t.Errorf("auth %q query %q: %d, want %d", c.auth, c.query, resp.StatusCode, c.want)
		}
	}
	id := s.StartKernel(t)
	ctx := kerneltest.Timeout(t, 10*time.Second)
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/api/kernels/" + id + "/channels?token=secret"
	for origin, ok := range map[string]bool{"http://evil.example": false, "http://good.example": true, s.URL: true} {
		c, resp, err := websocket.Dial(ctx, u, &websocket.DialOptions{HTTPHeader: http.Header{"Origin": {origin}}})
		if ok != (err == nil) {
			t.Errorf("origin %s: err %v", origin, err)
		}
		if !ok && resp != nil && resp.StatusCode != 403 {
			t.Errorf("origin %s: status %d", origin, resp.StatusCode)
		}
		if c != nil {
			c.Close(websocket.StatusNormalClosure, "")
		}
	}
}

func TestWebsocketBothFramings(t *testing.T) {
	s := fakeServer(t, server.Options{})
	id := s.StartKernel(t)
	for _, v1 := range []bool{true, false} {
		ctx := kerneltest.Timeout(t, 10*time.Second)
		c, err := s.Dial(ctx, id, v1)
		if err != nil {
			t.Fatal(err)
		}
		if c.V1 != v1 {
			t.Fatalf("offered v1=%v, negotiated v1=%v", v1, c.V1)
		}
		r, err := c.Request(ctx, wire.Shell, "kernel_info_request", nil)
		if err != nil || r.Content()["protocol_version"] != "5.3" || r.Reply.Channel != "shell" {
			t.Fatalf("kernel_info: %v %v", err, r)
		}
		r, err = c.Execute(ctx, "out hi\nerr ho\npng\n= 7")
		if err != nil {
			t.Fatal(err)
		}
		var kinds []string
		for _, m := range r.IOPub {
			kinds = append(kinds, m.Header.MsgType)
		}
		if got := strings.Join(kinds, ","); got != "status,execute_input,stream,stream,display_data,execute_result,status" {
			t.Fatalf("v1=%v iopub %s", v1, got)
		}
		var dd wire.DisplayData
		json.Unmarshal(r.IOPub[4].Content, &dd)
		if dd.Data["image/png"] != dispatchtest.PNG {
			t.Fatalf("display_data %v", dd.Data)
		}
		// A message without channel (nbclient's gateway client) is shell.
		m, _ := wire.NewMessage("", "kernel_info_request", "x", nil, nil)
		if err := c.SendMsg(ctx, m); err != nil {
			t.Fatal(err)
		}
		if _, err := c.Await(ctx, m); err != nil {
			t.Fatalf("channel-less request: %v", err)
		}
		c.Close()
	}
}

// Interrupt over REST while a cell loops; the kernel keeps its state.
func TestInterruptAndDeathOverWebsocket(t *testing.T) {
	s := fakeServer(t, server.Options{})
	id := s.StartKernel(t)
	ctx := kerneltest.Timeout(t, 10*time.Second)
	c, err := s.Dial(ctx, id, true)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Execute(ctx, "set v 1"); err != nil {
		t.Fatal(err)
	}
	m, _ := c.Send(ctx, wire.Shell, "execute_request", map[string]any{"code": "loop"})
	time.Sleep(100 * time.Millisecond)
	var model server.Model
	s.Do("GET", "/api/kernels/"+id, nil, &model)
	if model.ExecutionState != "busy" || model.Connections != 1 {
		t.Fatalf("model while busy %+v", model)
	}
	if code, _ := s.Do("POST", "/api/kernels/"+id+"/interrupt", nil, nil); code != 204 {
		t.Fatalf("interrupt %d", code)
	}
	r, err := c.Await(ctx, m)
	if err != nil || r.Content()["ename"] != "Interrupted" {
		t.Fatalf("interrupted: %v %v", err, r)
	}
	r, err = c.Execute(ctx, "exit")
	if err != nil || r.Content()["ename"] != "DeadKernelError" {
		t.Fatalf("exit: %v %v", err, r.Content())
	}
	if r, err := c.Execute(ctx, "out alive"); err != nil || r.Content()["status"] != "ok" {
		t.Fatalf("after death: %v", err)
	}
	// shutdown_request removes the kernel and closes the socket.
	if _, err := c.Send(ctx, wire.Control, "shutdown_request", map[string]any{"restart": false}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Wait(ctx, func(m *wire.Message) bool { return false }); err == nil || ctx.Err() != nil {
		t.Fatalf("socket not closed after shutdown: %v", err)
	}
	if code, _ := s.Do("GET", "/api/kernels/"+id, nil, nil); code != 404 {
		t.Fatalf("kernel still listed after shutdown_request: %d", code)
	}
}

func serverOptions() server.Options { return server.Options{} }
