// Package cellctx connects stdlib/nb, which cells import, to the kernel
// session that runs them: the session sets the context of the running
// cell, nb.Context returns it. It is internal so that cells cannot set it
// (its symbols are never extracted).
package cellctx

import (
	"context"
	"sync/atomic"
)

var current atomic.Pointer[context.Context]

// Set makes ctx the running cell's context and returns the function that
// restores the previous one (call it when the cell ends).
func Set(ctx context.Context) (restore func()) {
	prev := current.Swap(&ctx)
	return func() { current.Store(prev) }
}

// Get returns the running cell's context, or context.Background when no
// cell runs (compiled programs, goroutines after their cell).
func Get() context.Context {
	if p := current.Load(); p != nil {
		return *p
	}
	return context.Background()
}
