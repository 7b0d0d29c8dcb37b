package nb

import (
	"context"
	"testing"

	"github.com/netssm/netssm/internal/cellctx"
)

func TestContext(t *testing.T) {
	if Context() != context.Background() {
		t.Fatal("outside a cell Context() is not context.Background()")
	}
	ctx, cancel := context.WithCancel(context.Background())
	restore := cellctx.Set(ctx)
	if Context() != ctx {
		t.Fatal("Context() is not the running cell's context")
	}
	cancel()
	if Context().Err() == nil {
		t.Fatal("the cell's cancellation does not show")
	}
	restore()
	if Context() != context.Background() {
		t.Fatal("after the cell Context() is not context.Background()")
	}
}
