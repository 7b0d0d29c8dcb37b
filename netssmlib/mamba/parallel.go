package mamba

import (
	"runtime"
	"sync"
)

// workers is the number of goroutines the kernels split work over.
func workers() int { return runtime.GOMAXPROCS(0) }

// parallelFor runs fn(w, lo, hi) over [0, n) split into contiguous ranges,
// one per worker w (w < workers()), each range a multiple of grain except
// the last. Small jobs run on the calling goroutine.
func parallelFor(n, grain int, fn func(w, lo, hi int)) {
	if grain < 1 {
		grain = 1
	}
	nw := workers()
	blocks := (n + grain - 1) / grain
	if nw > blocks {
		nw = blocks
	}
	if nw <= 1 {
		if n > 0 {
			fn(0, 0, n)
		}
		return
	}
	per := (blocks + nw - 1) / nw * grain
	var wg sync.WaitGroup
	for w := 0; w < nw; w++ {
		lo, hi := w*per, min((w+1)*per, n)
		if lo >= hi {
			break
		}
		if w == nw-1 || hi == n {
			fn(w, lo, hi)
			break
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			fn(w, lo, hi)
		}()
	}
	wg.Wait()
}

// parallelItems runs fn(w, i) for every i in [0, n), handing items to
// workers dynamically (for items of uneven cost, such as SSD heads).
func parallelItems(n int, fn func(w, i int)) {
	parallelItemsIf(true, n, fn)
}

// parallelItemsIf is parallelItems when par, else a plain loop on worker 0
// (for work too small to pay for goroutines).
func parallelItemsIf(par bool, n int, fn func(w, i int)) {
	nw := min(workers(), n)
	if !par {
		nw = 1
	}
	if nw <= 1 {
		for i := 0; i < n; i++ {
			fn(0, i)
		}
		return
	}
	var mu sync.Mutex
	next := 0
	var wg sync.WaitGroup
	for w := 0; w < nw; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				mu.Unlock()
				if i >= n {
					return
				}
				fn(w, i)
			}
		}()
	}
	wg.Wait()
}

// ssdParallelMin is the work per chunk (heads x q² x (headdim+d_state)) from
// which the SSD runs heads on several goroutines; a var so that tests can
// exercise the parallel path on tiny shapes.
var ssdParallelMin = 1 << 16
