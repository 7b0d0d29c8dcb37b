package dispatch_test

import (
	"testing"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/dispatch/dispatchtest"
	"github.com/netssm/netssm/kernel/wire"
)

// With ExitOnRestart (the ZMQ transport), shutdown_request{restart: true}
// shuts the kernel down and says restart true; the kernel manager then
// starts a new process. Without it the engine restarts in place.
func TestExitOnRestart(t *testing.T) {
	for _, exit := range []bool{true, false} {
		eng := dispatchtest.New()
		rec := newRecorder()
		shut := make(chan struct{})
		k := dispatch.New(dispatch.Options{Engine: eng, Publish: func(m *wire.Message) { rec.ch <- m }, Logf: t.Logf,
			ExitOnRestart: exit, OnShutdown: func() { close(shut) }})
		m, _ := wire.NewMessage(wire.Control, "shutdown_request", "client", nil, map[string]any{"restart": true})
		k.Handle(rec, m)
		reply := rec.find(m, "shutdown_reply")
		if reply == nil {
			t.Fatalf("exit=%v: no shutdown_reply", exit)
		}
		if c := content(t, reply); c["status"] != "ok" || c["restart"] != true {
			t.Errorf("exit=%v: reply %v", exit, c)
		}
		select {
		case <-shut:
			if !exit {
				t.Error("restart in place called OnShutdown")
			}
		case <-time.After(time.Second):
			if exit {
				t.Error("ExitOnRestart: OnShutdown not called")
			}
		}
		if got := k.Closed(); got != exit {
			t.Errorf("exit=%v: Closed() = %v", exit, got)
		}
		if !exit && eng.Starts() != 2 {
			t.Errorf("restart in place: %d starts, want 2", eng.Starts())
		}
		k.Close()
	}
}
