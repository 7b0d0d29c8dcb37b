package session

import (
	"context"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/traefik/yaegi/interp"
)

// TestInterruptCancelsLibraryCall: a compiled, context-aware call given
// nb.Context() returns when the cell is interrupted (it is not merely
// abandoned), and the session keeps its state.
func TestInterruptCancelsLibraryCall(t *testing.T) {
	s, _, _ := newSession(t)
	returned := make(chan error, 1)
	wait := func(ctx context.Context) error {
		select {
		case <-ctx.Done():
			returned <- ctx.Err()
			return ctx.Err()
		case <-time.After(10 * time.Second):
			returned <- errors.New("not cancelled")
			return nil
		}
	}
	if err := s.interp.Use(interp.Exports{"example.com/lib/lib": {"Wait": reflect.ValueOf(wait)}}); err != nil {
		t.Fatal(err)
	}
	run(t, s, "import (\"example.com/lib\"; \"github.com/netssm/netssm/stdlib/nb\")\nstate := 5")
	if got := run(t, s, "nb.Context().Err() == nil"); got != "true" {
		t.Fatalf("nb.Context() in a running cell: Err() == nil is %s", got)
	}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	_, err := s.Execute(ctx, "err := lib.Wait(nb.Context())\nstate = 6")
	var ce *CellError
	if !errors.As(err, &ce) || ce.EName != ENameInterrupt {
		t.Fatalf("err = %v, want Interrupted", err)
	}
	select {
	case err := <-returned:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("library call returned %v, want context.Canceled", err)
		}
	case <-time.After(2 * time.Second):
		t.Fatal("the library call still runs 2s after the interrupt")
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("interrupt took %v", d)
	}
	if got := run(t, s, "state"); got != "5" {
		t.Errorf("state after interrupt = %q, want 5", got)
	}
	if got := run(t, s, "nb.Context() != nil"); got != "true" {
		t.Errorf("kernel unusable after the interrupt: %q", got)
	}
}
