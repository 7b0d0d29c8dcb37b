// Package session evaluates notebook cells: one yaegi Go interpreter whose
// state (variables, functions, types, imports) persists from cell to cell.
//
// A cell is Go source as people write it in a notebook: imports,
// declarations and statements mixed, ending perhaps in an expression whose
// value becomes the cell's result, plus lines for the shell (`!ls -l`) and
// `%cd DIR`. The session splits it (go/scanner, go/parser) into what yaegi
// can evaluate: imports already done are dropped so cells can be re-run,
// declarations are evaluated before statements (package-level semantics),
// and `x := f(x)` of a name defined by an earlier cell is rewritten through
// temporaries, since yaegi would otherwise bind the new x on the right-hand
// side. Errors name cell line numbers.
//
// Completion, inspection and is_complete work on the same source and the
// interpreter's state. A Session is not safe for concurrent use (yaegi is
// not): kernel/proc runs one request at a time against it and answers
// completion with nothing while a cell runs. IsComplete needs no session.
//
// The session runs in-process; kernel/proc puts each one in its own child
// process so that crashes, os.Exit and memory exhaustion end only that kernel.
package session
