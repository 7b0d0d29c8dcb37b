package proc

import (
	"errors"
	"testing"
	"time"

	"github.com/netssm/netssm/kernel/session"
)

// TestInterruptCancelsContextCall: Interrupt (SIGINT to the child) cancels
// nb.Context(), so a context-aware compiled call in the cell (here
// exec.CommandContext's Run) returns and its process is killed, instead of
// running on after the cell is abandoned.
func TestInterruptCancelsContextCall(t *testing.T) {
	k := startKernel(t, testOptions())
	exec1(t, k, "import (\"os/exec\"; \"github.com/netssm/netssm/stdlib/nb\")\nstate := 7\nvar cmd *exec.Cmd", Handler{})
	go func() {
		time.Sleep(300 * time.Millisecond)
		k.Interrupt()
	}()
	_, err := k.Execute(t.Context(), "cmd = exec.CommandContext(nb.Context(), \"sleep\", \"30\")\nerr := cmd.Run()", Handler{})
	var ce *session.CellError
	if !errors.As(err, &ce) || ce.EName != session.ENameInterrupt {
		t.Fatalf("err = %v, want an Interrupted CellError", err)
	}
	deadline := time.Now().Add(3 * time.Second)
	for {
		res := exec1(t, k, "cmd.ProcessState != nil && !cmd.ProcessState.Exited()", Handler{})
		if res.Data["text/plain"] == "true" {
			break // Run returned: sleep was killed
		}
		if time.Now().After(deadline) {
			t.Fatal("3 s after the interrupt the cell's `sleep 30` still runs: the call did not see the cancellation")
		}
		time.Sleep(100 * time.Millisecond)
	}
	if res := exec1(t, k, "state", Handler{}); res.Data["text/plain"] != "7" {
		t.Errorf("state after interrupt = %v", res.Data)
	}
}
