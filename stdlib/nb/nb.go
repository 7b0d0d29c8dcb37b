// Package nb gives notebook cells the kernel's view of the cell they run
// in. Import it in a cell as "github.com/netssm/netssm/stdlib/nb".
//
// Context is the one to pass to long netssmlib calls, so that interrupting
// the cell (Jupyter's stop button, Ctrl-C in netssm repl, a timeout of
// netssm run) cancels the call too, not only the interpreted code:
//
//	res, err := netssmlib.Train(nb.Context(), m, tok, data, out, opts)
package nb

import (
	"context"

	"github.com/netssm/netssm/internal/cellctx"
)

// Context returns the context of the cell running now. It is cancelled
// when the cell is interrupted, and in a kernel also when the cell ends,
// so call it in the cell that does the work: a context kept from an
// earlier cell is already done. Outside a kernel (compiled programs, tests)
// and when called after the cell ended (a goroutine that outlives it), it
// is context.Background(), or the context of the cell running then.
func Context() context.Context {
	return cellctx.Get()
}
