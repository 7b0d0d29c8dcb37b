package session

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"os"
	"reflect"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"unicode"
	"unicode/utf8"

	"github.com/traefik/yaegi/interp"
	ystdlib "github.com/traefik/yaegi/stdlib"
	"github.com/traefik/yaegi/stdlib/unrestricted"

	"github.com/netssm/netssm/internal/cellctx"
	"github.com/netssm/netssm/internal/displayhook"
	nstdlib "github.com/netssm/netssm/stdlib"
	"github.com/netssm/netssm/stdlib/display"
)

// Options configure a Session.
type Options struct {
	// Stdout and Stderr receive what cells print through fmt.Print*, log
	// and ! commands (default os.Stdout, os.Stderr). Writes to the real
	// os.Stdout/os.Stderr files go to the process's fds 1 and 2, which is
	// why kernel/proc points those at the same pipes.
	Stdout, Stderr io.Writer
	// Stdin is what os.Stdin and fmt.Scan* read in cells. Nil: reading
	// fails with an error saying that input is not available.
	Stdin io.Reader
	// Dir is the working directory for ! commands and %cd; "" keeps the
	// process's. A non-empty Dir (and %cd) also changes the process's
	// working directory, so that relative paths in cells resolve there.
	Dir string
	// Env is the environment of ! commands (nil: the process's).
	Env []string
	// Display receives display_data from cells (stdlib/display). Nil:
	// displays print their text/plain form to Stdout.
	Display func(DisplayMsg)
}

// Session is one Go interpreter and the state of the cells run in it.
type Session struct {
	opts     Options
	interp   *interp.Interpreter
	stderr   *panicFilter
	mu       sync.Mutex        // guards imports and dir
	imports  map[string]string // local name -> import path, for dedup and completion
	declared map[string]string // func/type/var name -> declaration text, for completion and inspection
	defined  map[string]bool   // names defined by top-level := in cells
	dir      string
}

// errNoStdin is what cells reading stdin get when the client allows none.
var errNoStdin = errors.New("stdin is not available: the client does not allow input")

type noStdin struct{}

func (noStdin) Read([]byte) (int, error) { return 0, errNoStdin }

const noGoPath = "/nonexistent/netssm-kernel-gopath"

// maxPlain caps the text/plain form of a cell's result (front ends choke
// on megabytes of text in one output; printing shows everything).
const maxPlain = 1 << 20

// resultMethods are the methods that make a value displayable, with the
// MIME type each gives. They are called as `__netssm_r.M()` inside the
// interpreter, so methods of types declared in cells count, not only those
// of compiled types. (Not by type assertions: yaegi v0.16.1 matches
// interface type switches wrongly for interpreted types.)
var resultMethods = []struct{ method, mime string }{
	{"HTML", "text/html"}, {"Markdown", "text/markdown"}, {"SVG", "image/svg+xml"},
	{"PNG", "image/png"}, {"JPEG", "image/jpeg"}, {"Error", "text/plain"}, {"String", "text/plain"},
}

// New starts an interpreter with the Go standard library (including
// os/exec and a real os.Exit: isolation is kernel/proc's job) and netssm's
// cell packages importable.
func New(opts Options) (*Session, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	stdin := opts.Stdin
	if stdin == nil {
		stdin = noStdin{}
	}
	pf := &panicFilter{w: opts.Stderr}
	s := &Session{opts: opts, stderr: pf, imports: map[string]string{}, declared: map[string]string{}, defined: map[string]bool{}}
	if opts.Dir != "" {
		if err := os.Chdir(opts.Dir); err != nil {
			return nil, fmt.Errorf("session: working directory: %w", err)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return nil, fmt.Errorf("session: working directory: %w", err)
	}
	s.dir = wd
	env := opts.Env
	if env == nil {
		env = os.Environ()
	}
	s.interp = interp.New(interp.Options{
		Stdout: opts.Stdout, Stderr: pf, Stdin: stdin,
		// Only compiled-in packages are importable: a GOPATH that does not
		// exist keeps yaegi from interpreting sources found under
		// $GOPATH/src (or ./src, with an empty GOPATH).
		Env: env, GoPath: noGoPath,
	})
	for _, syms := range []interp.Exports{ystdlib.Symbols, unrestricted.Symbols, interp.Exports(nstdlib.Symbols)} {
		if err := s.interp.Use(syms); err != nil {
			return nil, fmt.Errorf("session: loading symbols: %w", err)
		}
	}
	// os.Stdin in cells reads opts.Stdin (kernel/proc turns reads into
	// input_request messages).
	var in io.Reader = stdin
	if err := s.interp.Use(interp.Exports{"os/os": {"Stdin": reflect.ValueOf(&in).Elem()}}); err != nil {
		return nil, fmt.Errorf("session: stdin: %w", err)
	}
	// stdlib/display is compiled code with one process-wide hook: the
	// session created last owns it (a kernel child has exactly one).
	if opts.Display != nil {
		displayhook.SetPublisher(func(m displayhook.Message) {
			opts.Display(DisplayMsg{Data: encodeBinary(m.Data), Metadata: m.Metadata, Transient: m.Transient, Update: m.Update, Clear: m.Clear, Wait: m.Wait})
		})
	} else {
		displayhook.SetPublisher(nil)
	}
	return s, nil
}

// Dir is the session's working directory (changed by %cd).
func (s *Session) Dir() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.dir
}

// Execute runs one cell. It returns the result of a trailing expression
// (nil when the cell ends otherwise, or the expression is a call returning
// zero or several values), or a *CellError for compile errors, panics,
// failed magics and interruption (ctx cancelled). Output goes to the
// writers and Display callback of the Options while the cell runs.
func (s *Session) Execute(ctx context.Context, code string) (res *Result, err error) {
	// yaegi can panic on odd input outside the evaluation it guards; that
	// must fail the cell, not the kernel.
	defer func() {
		if r := recover(); r != nil {
			res, err = nil, &CellError{EName: "InterpreterError", EValue: fmt.Sprint(r),
				Traceback: []string{fmt.Sprintf("InterpreterError: the Go interpreter failed on this cell: %v", r)}}
		}
	}()
	// nb.Context() in the cell is ctx: an interrupt cancels library calls
	// given it, not only the interpreted code.
	defer cellctx.Set(ctx)()
	segs := splitCell(code)
	for i, seg := range segs {
		if err := ctx.Err(); err != nil {
			return nil, interrupted()
		}
		res = nil
		var err error
		switch seg.kind {
		case segShell:
			err = s.shell(ctx, seg)
		case segMagic:
			err = s.magic(seg)
		case segGo:
			res, err = s.evalGo(ctx, seg, i == len(segs)-1)
		}
		if err != nil {
			return nil, err
		}
	}
	return res, nil
}

func interrupted() *CellError {
	return &CellError{EName: ENameInterrupt, EValue: "cell interrupted", Traceback: []string{"Interrupted: cell interrupted"}}
}

// evalGo evaluates one Go segment: imports, then declarations, then
// statements, each as its own yaegi Eval, over a copy of the source in
// which the other parts are blanked, so positions stay cell positions.
func (s *Session) evalGo(ctx context.Context, seg segment, last bool) (*Result, error) {
	// One extra leading line takes yaegi's "package main; func main() {"
	// wrapper, so reported lines are cell lines plus one and columns exact.
	pad := strings.Repeat("\n", seg.line)
	src := pad + seg.text
	items, err := splitItems(src)
	if err != nil {
		return nil, compileError(err)
	}
	var imps, decls, stmts []item
	for _, it := range items {
		if strings.HasPrefix(src[it.start:it.end], "package") && strings.TrimSpace(src[it.start+len("package"):it.end]) != "" &&
			isIdent(strings.TrimSpace(src[it.start+len("package"):it.end])) {
			continue // a pasted program's package clause: cells live in main
		}
		switch it.kind {
		case itemImport:
			imps = append(imps, it)
		case itemDecl:
			decls = append(decls, it)
		default:
			stmts = append(stmts, it)
		}
	}
	for _, it := range imps {
		if err := s.evalImport(ctx, src, it); err != nil {
			return nil, err
		}
	}
	hasMain := false
	if len(decls) > 0 {
		var declSrc string
		declSrc, hasMain = renameMain(src, decls)
		if _, err := s.eval(ctx, declSrc); err != nil {
			return nil, err
		}
		s.recordDecls(src, decls)
	}
	if hasMain {
		// A pasted program runs once, as with go run. (yaegi would run a
		// function named main after every later evaluation.)
		stmts = append(stmts, item{start: len(src), end: len(src) + len(mainCall), kind: itemStmt})
		src += mainCall
	}
	if len(stmts) == 0 {
		return nil, nil
	}
	// The last statement of the cell shows its value if it is an
	// expression giving one; that is known once the statements before it
	// ran (they may define what it calls).
	var trailing *item
	if last {
		t := stmts[len(stmts)-1]
		trailing = &t
		stmts = stmts[:len(stmts)-1]
	}
	if err := s.evalStmts(ctx, src, stmts); err != nil {
		return nil, err
	}
	if trailing == nil {
		return nil, nil
	}
	if !s.isValueExpr(ctx, src[trailing.start:trailing.end]) {
		return nil, s.evalStmts(ctx, src, []item{*trailing})
	}
	// The value, as compiled code sees it, then the method checks done
	// inside the interpreter.
	line := strings.Count(src[:trailing.start], "\n")
	col := trailing.start - strings.LastIndexByte(src[:trailing.start], '\n') - 1
	const assign = "__netssm_r := ("
	v, err := s.eval(ctx, strings.Repeat("\n", line)+strings.Repeat(" ", max(col-len(assign), 0))+assign+src[trailing.start:trailing.end]+")")
	if err != nil {
		var ce *CellError
		if errors.As(err, &ce) && col < len(assign) {
			shiftColumns(ce, line, len(assign)-col)
		}
		return nil, err
	}
	return s.result(ctx, v), nil
}

// shiftColumns moves "cell:LINE:COL:" positions on the given cell line
// left by delta columns.
func shiftColumns(ce *CellError, cellLine, delta int) {
	prefix := fmt.Sprintf("cell:%d:", cellLine)
	fix := func(m string) string {
		if !strings.HasPrefix(m, prefix) {
			return m
		}
		rest := m[len(prefix):]
		i := strings.IndexByte(rest, ':')
		c, err := strconv.Atoi(rest[:max(i, 0)])
		if i < 0 || err != nil {
			return m
		}
		return prefix + strconv.Itoa(max(c-delta, 1)) + rest[i:]
	}
	for i := range ce.Traceback {
		ce.Traceback[i] = fix(ce.Traceback[i])
	}
	if len(ce.Traceback) > 0 && ce.EName == ENameCompile {
		if m := posRE.FindString(ce.Traceback[0]); m != "" {
			ce.EValue = strings.TrimPrefix(ce.Traceback[0], m)
		}
	}
}

// explainUndefined finds the first name in src that nothing defines and
// returns "cell:L:C: undefined: name".
func (s *Session) explainUndefined(src string) (string, bool) {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "", "package main; func main() {"+src+"\n}", 0)
	if err != nil {
		if f, err = parser.ParseFile(fset, "", "package main;"+src, 0); err != nil {
			return "", false
		}
	}
	known := s.globals()
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range f.Unresolved {
		n := id.Name
		if _, ok := known[n]; ok || s.declared[n] != "" || s.defined[n] || s.imports[n] != "" || universe[n] {
			continue
		}
		p := fset.Position(id.Pos())
		msg := "undefined: " + n
		if _, syms := s.packageSymbolsLocked(n); syms != nil {
			msg += " (missing import?)"
		}
		return fmt.Sprintf("cell:%d:%d: %s", max(p.Line-1, 1), p.Column, msg), true
	}
	return "", false
}

var universe = func() map[string]bool {
	m := map[string]bool{}
	for _, b := range builtins {
		m[b] = true
	}
	return m
}()

const mainCall = "\n__netssm_main()"

// renameMain lays out the declarations of src (the rest blanked), with a
// `func main()` renamed to __netssm_main; it reports whether there was one.
func renameMain(src string, decls []item) (string, bool) {
	out := []byte(blankExcept(src, decls))
	found := false
	var b strings.Builder
	prev := 0
	for _, it := range decls {
		f, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+src[it.start:it.end], 0)
		if err != nil || len(f.Decls) != 1 {
			continue
		}
		fd, ok := f.Decls[0].(*ast.FuncDecl)
		if !ok || fd.Recv != nil || fd.Name.Name != "main" {
			continue
		}
		at := it.start + int(fd.Name.Pos()) - 1 - len("package p\n")
		b.Write(out[prev:at])
		b.WriteString("__netssm_main")
		prev = at + len("main")
		found = true
	}
	b.Write(out[prev:])
	return b.String(), found
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || unicode.IsLetter(r) || (i > 0 && unicode.IsDigit(r))) {
			return false
		}
	}
	return s != ""
}

// evalStmts evaluates statements, in as many Evals as redefinitions need.
func (s *Session) evalStmts(ctx context.Context, src string, stmts []item) error {
	if len(stmts) == 0 {
		return nil
	}
	for _, chunk := range s.rewriteRedefinitions(src, stmts) {
		if _, err := s.eval(ctx, chunk); err != nil {
			return err
		}
	}
	for _, it := range stmts {
		if st, _, err := parseStmt(src[it.start:it.end]); err == nil {
			if as, ok := st.(*ast.AssignStmt); ok && as.Tok == token.DEFINE {
				s.mu.Lock()
				for _, l := range as.Lhs {
					if id, ok := l.(*ast.Ident); ok && id.Name != "_" {
						s.defined[id.Name] = true
					}
				}
				s.mu.Unlock()
			}
		}
	}
	return nil
}

// result renders v, the value of a cell's trailing expression, held in
// the interpreter's __netssm_r; nil for a nil value (nothing is shown, as
// for None in IPython).
func (s *Session) result(ctx context.Context, v reflect.Value) *Result {
	for v.IsValid() && v.Kind() == reflect.Interface {
		if v.IsNil() {
			return nil
		}
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil
	}
	data := map[string]any{}
	if v.CanInterface() {
		data = map[string]any(display.MIME(v.Interface()))
	}
	hasError := false
	for _, rm := range resultMethods {
		if rm.method == "String" && hasError {
			continue // Error() won
		}
		// Compiling first (cheap, in this goroutine) tells whether the
		// method exists; only existing ones run, interruptibly.
		prog, err := s.interp.Compile("__netssm_r." + rm.method + "()")
		if err != nil {
			continue // no such method: not displayable so
		}
		m, err := s.interp.ExecuteWithContext(ctx, prog)
		if err != nil || !m.IsValid() {
			continue
		}
		switch {
		case m.Kind() == reflect.String:
			data[rm.mime] = m.String()
			hasError = hasError || rm.method == "Error"
		case m.Kind() == reflect.Slice && m.Type().Elem().Kind() == reflect.Uint8:
			data[rm.mime] = m.Bytes()
		}
	}
	data = encodeBinary(data)
	if _, ok := data["text/plain"]; !ok {
		data["text/plain"] = v.String()
	}
	if t, ok := data["text/plain"].(string); ok && len(t) > maxPlain {
		cut := maxPlain
		for cut > 0 && !utf8.RuneStart(t[cut]) {
			cut--
		}
		data["text/plain"] = fmt.Sprintf("%s\n... (%d more bytes of text; print the value to see it all)", t[:cut], len(t)-cut)
	}
	return &Result{Data: data, Metadata: map[string]any{}}
}

// encodeBinary base64-encodes []byte values (images), as Jupyter wants.
func encodeBinary(m map[string]any) map[string]any {
	out := make(map[string]any, len(m))
	for k, v := range m {
		if b, ok := v.([]byte); ok {
			v = base64.StdEncoding.EncodeToString(b)
		}
		out[k] = v
	}
	return out
}

var builtinsNoValue = map[string]bool{"print": true, "println": true, "panic": true, "close": true, "delete": true, "clear": true}

// isValueExpr reports whether text is an expression statement giving one
// value (calls of functions with no or several results are statements).
func (s *Session) isValueExpr(ctx context.Context, text string) bool {
	st, off, err := parseStmt(text)
	if err != nil {
		return false
	}
	es, ok := st.(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := ast.Unparen(es.X).(*ast.CallExpr)
	if !ok {
		return true // an operand, <-ch, x+y...: a value
	}
	fun := ast.Unparen(call.Fun)
	if id, ok := fun.(*ast.Ident); ok && builtinsNoValue[id.Name] {
		return false
	}
	if fl, ok := fun.(*ast.FuncLit); ok {
		return fl.Type.Results.NumFields() == 1 // func() {...}() gives no value
	}
	if !isPureRef(fun) {
		return true // f()(x) and friends: evaluating f() has effects; assume a value
	}
	funText := text[int(fun.Pos())-off-1 : int(fun.End())-off-1]
	fv, err := s.interp.EvalWithContext(ctx, funText)
	if err != nil || !fv.IsValid() {
		return true // a conversion, a builtin such as len: one value
	}
	for fv.Kind() == reflect.Interface && !fv.IsNil() {
		fv = fv.Elem()
	}
	if fv.Kind() != reflect.Func {
		return true
	}
	return fv.Type().NumOut() == 1
}

// isPureRef reports whether e is an identifier or a selector chain, which
// can be evaluated without side effects.
func isPureRef(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return true
	case *ast.SelectorExpr:
		return isPureRef(x.X)
	}
	return false
}

// rewriteRedefinitions lays out stmts (the rest of src blanked) as one or
// more sources to evaluate in turn. It touches only the cell's top-level
// statements:
//
//   - Each `a, b := rhs` that redefines a name already defined (by an
//     earlier cell or an earlier statement of this one) becomes
//     `t0, t1 := rhs` ending one source, then `a, b := t0, t1` alone in the
//     next, and the rest after it: within one yaegi Eval the new a would
//     already be the one rhs sees (and it is zero), and a temporary
//     redefined with another type in the same Eval gives every use of it
//     the last type. New names in the list are defined the same way, and a
//     name whose type changes gets the new type.
//   - A compound statement (if, for, switch, select, a block) that declares
//     a name of a global in a nested scope runs inside `func() { ... }()`:
//     yaegi, compiling statements at package level, would assign to the
//     global instead of shadowing it (or fail with "undefined").
func (s *Session) rewriteRedefinitions(src string, stmts []item) []string {
	globals := s.globals()
	known := map[string]bool{}
	for n := range globals {
		known[n] = true
	}
	s.mu.Lock()
	for n := range s.declared {
		known[n] = true
	}
	for n := range s.defined {
		known[n] = true
	}
	s.mu.Unlock()
	var chunks []string
	var b strings.Builder
	prev := 0
	blank := func(from, to int) {
		for _, c := range []byte(src[from:to]) {
			if c == '\n' {
				b.WriteByte('\n')
			} else {
				b.WriteByte(' ')
			}
		}
	}
	for _, it := range stmts {
		blank(prev, it.start)
		text := src[it.start:it.end]
		st, _, perr := parseStmt(text)
		first, second, ok := splitRedefinition(text, known)
		if perr == nil {
			if as, isAssign := st.(*ast.AssignStmt); isAssign && as.Tok == token.DEFINE {
				for _, l := range as.Lhs {
					if id, isIdent := l.(*ast.Ident); isIdent && id.Name != "_" {
						known[id.Name] = true
					}
				}
			}
		}
		if !ok {
			switch {
			case perr != nil:
			case needsFuncScope(st, known):
				text = openScope(&b, "{ func() {") + text + "}() }"
			case isFuncLitCall(st):
				text = openScope(&b, "{") + text + " }"
			}
			b.WriteString(text)
			prev = it.end
			continue
		}
		b.WriteString(first)
		blank(it.end, len(src))
		chunks = append(chunks, b.String())
		b.Reset()
		blank(0, it.start)
		b.WriteString(second)
		b.WriteString(strings.Repeat("\n", strings.Count(text, "\n")))
		blank(it.end, len(src))
		chunks = append(chunks, b.String())
		b.Reset()
		blank(0, it.end)
		prev = it.end
	}
	blank(prev, len(src))
	return append(chunks, b.String())
}

// isFuncLitCall reports whether st is `func() {...}()`. yaegi v0.16.1 runs
// the whole Eval twice when such a call is a top-level statement of it; in
// a block it runs once.
func isFuncLitCall(st ast.Stmt) bool {
	es, ok := st.(*ast.ExprStmt)
	if !ok {
		return false
	}
	call, ok := ast.Unparen(es.X).(*ast.CallExpr)
	if !ok {
		return false
	}
	_, ok = ast.Unparen(call.Fun).(*ast.FuncLit)
	return ok
}

// openScope returns the text that puts opener before a statement about to
// be written to b: on the line before when the statement starts its line
// (positions stay cell positions), else in front of it. (The statement is
// wrapped in `{ func() {` ... `}() }`: yaegi runs a top-level function
// literal call twice, see isFuncLitCall.)
func openScope(b *strings.Builder, opener string) string {
	out := b.String()
	nl := strings.LastIndexByte(out, '\n')
	if nl < 0 || strings.TrimSpace(out[nl:]) != "" {
		return "; " + opener + " "
	}
	lineStart := strings.LastIndexByte(out[:nl], '\n') + 1
	sep := opener
	if strings.TrimSpace(out[lineStart:nl]) != "" {
		sep = "; " + opener
	}
	b.Reset()
	b.WriteString(out[:nl] + sep + out[nl:])
	return ""
}

// needsFuncScope reports whether st is a compound statement that declares,
// in a scope of its own, a name in known, and can run inside a function
// literal (it has no return, defer, goto or fallthrough outside function
// literals, which would change meaning there).
func needsFuncScope(st ast.Stmt, known map[string]bool) bool {
	switch st.(type) {
	case *ast.IfStmt, *ast.ForStmt, *ast.RangeStmt, *ast.SwitchStmt, *ast.TypeSwitchStmt,
		*ast.SelectStmt, *ast.BlockStmt, *ast.LabeledStmt:
	default:
		return false
	}
	shadows, movable := false, true
	def := func(e ast.Expr) {
		if id, ok := e.(*ast.Ident); ok && known[id.Name] {
			shadows = true
		}
	}
	ast.Inspect(st, func(n ast.Node) bool {
		switch x := n.(type) {
		case *ast.FuncLit:
			return false // its own function scope: yaegi gets that right
		case *ast.ReturnStmt, *ast.DeferStmt:
			movable = false
		case *ast.BranchStmt:
			if x.Tok == token.GOTO || x.Tok == token.FALLTHROUGH {
				movable = movable && x.Tok == token.FALLTHROUGH
			}
		case *ast.AssignStmt:
			if x.Tok == token.DEFINE {
				for _, l := range x.Lhs {
					def(l)
				}
			}
		case *ast.RangeStmt:
			if x.Tok == token.DEFINE {
				def(x.Key)
				def(x.Value)
			}
		case *ast.ValueSpec:
			for _, id := range x.Names {
				def(id)
			}
		case *ast.TypeSpec:
			def(x.Name)
		}
		return true
	})
	return shadows && movable
}

// globals returns the names of the cells' global variables and constants.
// yaegi's Globals can panic after a failed Eval (its frame is not resized);
// then the names the session recorded itself serve.
func (s *Session) globals() (g map[string]reflect.Value) {
	defer func() {
		if recover() != nil {
			g = map[string]reflect.Value{}
			s.mu.Lock()
			for n := range s.declared {
				g[n] = reflect.Value{}
			}
			for n := range s.defined {
				g[n] = reflect.Value{}
			}
			s.mu.Unlock()
		}
	}()
	return s.interp.Globals()
}

// splitRedefinition splits `a, b := rhs` into `t0, t1 := rhs` and
// `a, b := t0, t1` when a or b is a global already.
func splitRedefinition(text string, globals map[string]bool) (first, second string, ok bool) {
	st, off, err := parseStmt(text)
	if err != nil {
		return "", "", false
	}
	as, isAssign := st.(*ast.AssignStmt)
	if !isAssign || as.Tok != token.DEFINE {
		return "", "", false
	}
	redefines := false
	for _, l := range as.Lhs {
		id, isIdent := l.(*ast.Ident)
		if !isIdent {
			return "", "", false
		}
		if globals[id.Name] && id.Name != "_" {
			redefines = true
		}
	}
	if !redefines {
		return "", "", false
	}
	var tmps, names, vals []string
	for i, l := range as.Lhs {
		n := l.(*ast.Ident).Name
		if n == "_" {
			tmps = append(tmps, "_")
			continue
		}
		t := "__netssm_t" + strconv.Itoa(i)
		tmps = append(tmps, t)
		names = append(names, n)
		vals = append(vals, t)
	}
	tok := int(as.TokPos) - off - 1 // offset of := in text
	return strings.Join(tmps, ", ") + " " + text[tok:], strings.Join(names, ", ") + " := " + strings.Join(vals, ", "), true
}

// evalImport evaluates one import declaration, dropping packages the
// session imported already under the same name.
func (s *Session) evalImport(ctx context.Context, src string, it item) error {
	text := src[it.start:it.end]
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p;"+text, parser.ImportsOnly)
	if err != nil {
		return compileError(err)
	}
	line := strings.Count(src[:it.start], "\n")
	var b strings.Builder
	var added [][2]string
	s.mu.Lock()
	for _, spec := range f.Imports {
		p, err := strconv.Unquote(spec.Path.Value)
		if err != nil {
			s.mu.Unlock()
			return compileError(err)
		}
		name := s.packageName(p)
		if spec.Name != nil {
			name = spec.Name.Name
		}
		if s.imports[name] == p {
			continue
		}
		if name == "_" || name == "." {
			name = name + p
		}
		fmt.Fprintf(&b, "%s %q; ", importName(spec), p)
		added = append(added, [2]string{name, p})
	}
	s.mu.Unlock()
	if len(added) == 0 {
		return nil
	}
	if _, err := s.eval(ctx, strings.Repeat("\n", line)+"import ("+b.String()+")"); err != nil {
		return err
	}
	s.mu.Lock()
	for _, a := range added {
		s.imports[a[0]] = a[1]
	}
	s.mu.Unlock()
	return nil
}

func importName(spec *ast.ImportSpec) string {
	if spec.Name != nil {
		return spec.Name.Name
	}
	return ""
}

// packageName is the name a package is imported under by default.
func (s *Session) packageName(path string) string {
	for _, tab := range []map[string]map[string]reflect.Value{ystdlib.Symbols, nstdlib.Symbols} {
		for k := range tab {
			if i := strings.LastIndexByte(k, '/'); i > 0 && k[:i] == path {
				return k[i+1:]
			}
		}
	}
	return path[strings.LastIndexByte(path, '/')+1:]
}

// eval runs src (already laid out with one wrapper line) and turns errors
// into CellErrors.
func (s *Session) eval(ctx context.Context, src string) (reflect.Value, error) {
	s.stderr.start()
	v, err := s.interp.EvalWithContext(ctx, src)
	trace := s.stderr.stop()
	if err != nil {
		if ctx.Err() != nil {
			return v, interrupted()
		}
		ce := s.cellError(err)
		if ce.EName == ENamePanic {
			ce.Traceback = append(ce.Traceback, trace...)
		}
		if strings.Contains(err.Error(), "constant definition loop") {
			// What yaegi says about an undefined name at top level.
			if msg, ok := s.explainUndefined(src); ok {
				ce.EValue, ce.Traceback = msg[strings.Index(msg, ": ")+2:], []string{msg}
			}
		}
		return v, ce
	}
	return v, nil
}

// cellError converts a yaegi error to a CellError with cell positions.
func (s *Session) cellError(err error) *CellError {
	var p interp.Panic
	if errors.As(err, &p) {
		ev := fmt.Sprint(p.Value)
		if e, ok := p.Value.(error); ok {
			ev = e.Error()
		}
		return &CellError{EName: ENamePanic, EValue: ev, Traceback: []string{"panic: " + ev}}
	}
	return compileError(err)
}

var posRE = regexp.MustCompile(`^(?:_\.go:|cell:)?(\d+):(\d+): `)

// compileError formats errors as "cell:LINE:COL: msg", shifting lines by
// the wrapper line that evaluated sources start with.
func compileError(err error) *CellError {
	var msgs []string
	var list scanner.ErrorList
	if errors.As(err, &list) {
		for _, e := range list {
			msgs = append(msgs, fmt.Sprintf("%d:%d: %s", e.Pos.Line, e.Pos.Column, e.Msg))
		}
	} else {
		msgs = strings.Split(strings.TrimSpace(err.Error()), "\n")
	}
	tb := make([]string, 0, len(msgs))
	first := ""
	for _, m := range msgs {
		m = cellPos(m)
		tb = append(tb, m)
		if first == "" {
			first = m
		}
	}
	ev := first
	if m := posRE.FindString(ev); m != "" {
		ev = strings.TrimPrefix(ev, m)
	}
	return &CellError{EName: ENameCompile, EValue: ev, Traceback: tb}
}

// cellPos rewrites a leading "L:C: " (or "_.go:L:C: ") to "cell:L-1:C: ".
func cellPos(m string) string {
	sub := posRE.FindStringSubmatch(m)
	if sub == nil {
		return m
	}
	line, _ := strconv.Atoi(sub[1])
	if line > 1 {
		line--
	}
	return fmt.Sprintf("cell:%d:%s: %s", line, sub[2], m[len(sub[0]):])
}

// panicFilter passes writes through to w, except the "L:C: panic: f(...)"
// lines yaegi prints while a panic unwinds; during an eval it collects them
// (with cell positions) for the traceback.
type panicFilter struct {
	w      io.Writer
	mu     sync.Mutex
	active bool
	lines  []string
}

var panicLineRE = regexp.MustCompile(`^(?:_\.go:)?\d+:\d+: panic: .*\(\.\.\.\)\n$`)

func (f *panicFilter) Write(p []byte) (int, error) {
	f.mu.Lock()
	if f.active && panicLineRE.Match(p) {
		line := strings.TrimSuffix(string(p), "\n")
		line = cellPos(line)
		line = strings.Replace(line, "panic: main(...)", "in cell", 1)
		line = strings.Replace(line, "panic: main.", "in ", 1)
		f.lines = append(f.lines, line)
		f.mu.Unlock()
		return len(p), nil
	}
	f.mu.Unlock()
	return f.w.Write(p)
}

func (f *panicFilter) start() {
	f.mu.Lock()
	f.active, f.lines = true, nil
	f.mu.Unlock()
}

func (f *panicFilter) stop() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.active = false
	l := f.lines
	f.lines = nil
	return l
}

// Imports lists the packages imported so far, as "name path", sorted.
func (s *Session) Imports() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]string, 0, len(s.imports))
	for n, p := range s.imports {
		out = append(out, n+" "+p)
	}
	sort.Strings(out)
	return out
}
