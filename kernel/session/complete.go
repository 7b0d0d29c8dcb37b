package session

import (
	"bytes"
	"context"
	"fmt"
	"go/ast"
	"go/format"
	"go/parser"
	"go/token"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	ystdlib "github.com/traefik/yaegi/stdlib"

	nstdlib "github.com/netssm/netssm/stdlib"
)

// Is-complete statuses, as in Jupyter's is_complete_reply.
const (
	StatusComplete   = "complete"
	StatusIncomplete = "incomplete"
	StatusInvalid    = "invalid"
)

// IsComplete says whether code is a complete cell (run it), needs more
// lines (unclosed brackets, raw strings or comments, a trailing operator;
// indent is the suggested indentation of the next line) or cannot become
// valid by adding lines.
func IsComplete(code string) (status, indent string) {
	if strings.TrimSpace(code) == "" {
		return StatusComplete, ""
	}
	for _, seg := range splitCell(code) {
		if seg.kind != segGo {
			continue
		}
		st, depth := openState(seg.text)
		switch st {
		case stateIncomplete:
			return StatusIncomplete, strings.Repeat("\t", max(depth, 0))
		case stateInvalid:
			return StatusInvalid, ""
		}
		items, err := splitItems(seg.text)
		if err != nil {
			return StatusInvalid, ""
		}
		for _, it := range items {
			text := seg.text[it.start:it.end]
			var err error
			switch it.kind {
			case itemStmt:
				_, _, err = parseStmt(text)
			default:
				_, err = parser.ParseFile(token.NewFileSet(), "", "package p\n"+text, 0)
			}
			if err != nil {
				return StatusInvalid, ""
			}
		}
	}
	// A cell ending inside an open ! or % line cannot happen; Go segments
	// are all complete.
	return StatusComplete, ""
}

// IsComplete is the package function, for symmetry with the other requests.
func (s *Session) IsComplete(code string) (status, indent string) { return IsComplete(code) }

var keywords = []string{"break", "case", "chan", "const", "continue", "default", "defer", "else",
	"fallthrough", "for", "func", "go", "goto", "if", "import", "interface", "map", "package",
	"range", "return", "select", "struct", "switch", "type", "var"}

var builtins = []string{"any", "append", "bool", "byte", "cap", "clear", "close", "comparable",
	"complex", "complex128", "complex64", "copy", "delete", "error", "false", "float32", "float64",
	"imag", "int", "int16", "int32", "int64", "int8", "iota", "len", "make", "max", "min", "new",
	"nil", "panic", "print", "println", "real", "recover", "rune", "string", "true", "uint",
	"uint16", "uint32", "uint64", "uint8", "uintptr"}

func isIdentByte(r rune) bool { return r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) }

// identBefore returns the start of the identifier that ends at cursor.
func identBefore(code string, cursor int) int {
	i := cursor
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(code[:i])
		if !isIdentByte(r) {
			break
		}
		i -= n
	}
	return i
}

// chainBefore returns the selector chain (a.b.c) that ends at end.
func chainBefore(code string, end int) string {
	i := end
	for i > 0 {
		r, n := utf8.DecodeLastRuneInString(code[:i])
		if !isIdentByte(r) && r != '.' {
			break
		}
		i -= n
	}
	return strings.Trim(code[i:end], ".")
}

// Complete returns the names that can replace code[start:end], the word
// ending at cursorByte: package members after "pkg.", fields and methods
// after "value.", else the names in scope (cell variables, functions,
// types, imported packages), keywords, builtins and package names.
func (s *Session) Complete(ctx context.Context, code string, cursorByte int) (matches []string, start, end int) {
	defer func() {
		if recover() != nil { // a yaegi failure must not end the kernel
			matches = nil
		}
	}()
	cursorByte = min(max(cursorByte, 0), len(code))
	for cursorByte > 0 && !utf8.RuneStart(code[cursorByte-1]) && cursorByte < len(code) && !utf8.RuneStart(code[cursorByte]) {
		cursorByte-- // never cut a rune
	}
	start = identBefore(code, cursorByte)
	end = cursorByte
	prefix := code[start:end]
	var cands []string
	if start > 0 && code[start-1] == '.' {
		chain := chainBefore(code, start-1)
		if chain == "" {
			return nil, start, end
		}
		cands = s.members(ctx, chain)
	} else {
		cands = s.scopeNames()
	}
	seen := map[string]bool{}
	for _, c := range cands {
		if strings.HasPrefix(c, prefix) && !seen[c] && !strings.HasPrefix(c, "__netssm") {
			seen[c] = true
			matches = append(matches, c)
		}
	}
	sort.Strings(matches)
	return matches, start, end
}

// scopeNames lists everything a name in a cell can refer to.
func (s *Session) scopeNames() []string {
	var out []string
	for n := range s.globals() {
		out = append(out, n)
	}
	s.mu.Lock()
	for n := range s.imports {
		out = append(out, n)
	}
	for n := range s.declared {
		out = append(out, n)
	}
	s.mu.Unlock()
	out = append(out, keywords...)
	out = append(out, builtins...)
	for _, p := range knownPackages() {
		out = append(out, p[strings.LastIndexByte(p, '/')+1:])
	}
	return out
}

// knownPackages lists the symbol-table keys ("path/name") of everything
// importable.
func knownPackages() []string {
	var out []string
	for _, tab := range []map[string]map[string]reflect.Value{ystdlib.Symbols, nstdlib.Symbols} {
		for k := range tab {
			if strings.LastIndexByte(k, '/') > 0 {
				out = append(out, k)
			}
		}
	}
	return out
}

// packageSymbols returns the symbols of the package a cell name refers to:
// an imported one, else a known package with that name.
func (s *Session) packageSymbols(name string) (path string, syms map[string]reflect.Value) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.packageSymbolsLocked(name)
}

func (s *Session) packageSymbolsLocked(name string) (path string, syms map[string]reflect.Value) {
	p, ok := s.imports[name]
	for _, tab := range []map[string]map[string]reflect.Value{nstdlib.Symbols, ystdlib.Symbols} {
		for k, v := range tab {
			i := strings.LastIndexByte(k, '/')
			if i <= 0 {
				continue
			}
			kp, kn := k[:i], k[i+1:]
			if (ok && kp == p) || (!ok && kn == name) {
				return kp, v
			}
		}
	}
	return "", nil
}

// members lists what can follow "chain.".
func (s *Session) members(ctx context.Context, chain string) []string {
	if !strings.Contains(chain, ".") {
		if _, syms := s.packageSymbols(chain); syms != nil {
			out := make([]string, 0, len(syms))
			for n := range syms {
				if !strings.HasPrefix(n, "_") {
					out = append(out, n)
				}
			}
			return out
		}
	}
	v, err := s.interp.EvalWithContext(ctx, chain)
	if err != nil || !v.IsValid() {
		return nil
	}
	out := fieldsAndMethods(v)
	// Methods of cell-declared types are invisible to reflect: try the
	// ones cells declared (compiling only, nothing runs).
	s.mu.Lock()
	var methods []string
	for k := range s.declared {
		if i := strings.IndexByte(k, '.'); i > 0 {
			methods = append(methods, k[i+1:])
		}
	}
	s.mu.Unlock()
	for i, m := range methods {
		if i == 200 {
			break
		}
		if _, err := s.interp.Compile(chain + "." + m); err == nil {
			out = append(out, m)
		}
	}
	return out
}

func fieldsAndMethods(v reflect.Value) []string {
	for v.Kind() == reflect.Interface && !v.IsNil() {
		v = v.Elem()
	}
	if !v.IsValid() {
		return nil
	}
	t := v.Type()
	var out []string
	for i := 0; i < t.NumMethod(); i++ {
		out = append(out, t.Method(i).Name)
	}
	if t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	if t.Kind() == reflect.Struct {
		for i := 0; i < t.NumField(); i++ {
			if f := t.Field(i); f.IsExported() || !strings.HasPrefix(f.Name, "X") {
				out = append(out, f.Name)
			}
		}
	}
	return out
}

// identAt returns the selector chain around cursor (the identifier under
// or just before it, with what it is selected from).
func identAt(code string, cursor int) string {
	cursor = min(max(cursor, 0), len(code))
	end := cursor
	for end < len(code) {
		r, n := utf8.DecodeRuneInString(code[end:])
		if !isIdentByte(r) {
			break
		}
		end += n
	}
	return chainBefore(code, end)
}

// Inspect describes the identifier at cursorByte: its signature or type
// and, for packages compiled in, the documentation `go doc` prints (when
// the go command is installed; detail > 0 asks for all of it).
func (s *Session) Inspect(ctx context.Context, code string, cursorByte, detail int) (data map[string]any, found bool) {
	defer func() {
		if recover() != nil { // a yaegi failure must not end the kernel
			data, found = nil, false
		}
	}()
	chain := identAt(code, cursorByte)
	if chain == "" {
		return nil, false
	}
	var text string
	parts := strings.Split(chain, ".")
	if len(parts) >= 2 {
		if path, syms := s.packageSymbols(parts[0]); syms != nil {
			if v, ok := syms[parts[1]]; ok {
				text = fmt.Sprintf("%s.%s: %s", parts[0], parts[1], describeBinary(v))
				if doc := goDoc(ctx, path+"."+parts[1], detail); doc != "" {
					text += "\n\n" + doc
				}
			}
		}
	} else if path, syms := s.packageSymbols(parts[0]); syms != nil {
		text = fmt.Sprintf("package %s // import %q", parts[0], path)
		if doc := goDoc(ctx, path, detail); doc != "" {
			text += "\n\n" + doc
		}
	}
	if text == "" {
		s.mu.Lock()
		decl, ok := s.declared[chain]
		s.mu.Unlock()
		if ok {
			text = decl
		}
	}
	if text == "" {
		if v, err := s.interp.EvalWithContext(ctx, chain); err == nil && v.IsValid() {
			val := ""
			if v.CanInterface() {
				val = fmt.Sprint(v.Interface())
				if len(val) > 200 {
					val = val[:200] + "..."
				}
			}
			if v.Kind() == reflect.Func {
				text = fmt.Sprintf("%s: %s", chain, v.Type())
			} else {
				text = fmt.Sprintf("%s: %s = %s", chain, v.Type(), val)
			}
		}
	}
	if text == "" {
		return nil, false
	}
	return map[string]any{"text/plain": text}, true
}

// describeBinary describes a compiled symbol from a yaegi symbol table.
func describeBinary(v reflect.Value) string {
	if !v.IsValid() {
		return "?"
	}
	switch {
	case v.Kind() == reflect.Func:
		return v.Type().String()
	case v.Kind() == reflect.Pointer && v.IsNil():
		return "type " + v.Type().Elem().String() // types are stored as (*T)(nil)
	case v.Kind() == reflect.Pointer:
		return "var " + v.Type().Elem().String() // variables as pointers
	}
	return fmt.Sprintf("const %s = %v", v.Type(), v)
}

// goDoc runs `go doc` for a symbol, with a short timeout; "" when the go
// command or the sources are not there.
func goDoc(ctx context.Context, sym string, detail int) string {
	goCmd, err := exec.LookPath("go")
	if err != nil {
		return ""
	}
	ctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	args := []string{"doc"}
	if detail > 0 {
		args = append(args, "-all")
	}
	cmd := exec.CommandContext(ctx, goCmd, append(args, sym)...)
	var out bytes.Buffer
	cmd.Stdout = &out
	if cmd.Run() != nil {
		return ""
	}
	doc := strings.TrimSpace(out.String())
	if detail == 0 && len(doc) > 4000 {
		doc = doc[:4000] + "\n..."
	}
	return doc
}

// recordDecls remembers the functions and types a cell declared, with
// their declarations (bodies elided), for completion and inspection.
func (s *Session) recordDecls(src string, decls []item) {
	for _, it := range decls {
		f, err := parser.ParseFile(token.NewFileSet(), "", "package p\n"+src[it.start:it.end], parser.ParseComments)
		if err != nil {
			continue
		}
		for _, d := range f.Decls {
			switch d := d.(type) {
			case *ast.FuncDecl:
				name := d.Name.Name
				if d.Recv != nil && len(d.Recv.List) == 1 {
					name = recvName(d.Recv.List[0].Type) + "." + name
				}
				d.Body = nil
				s.setDecl(name, nodeText(d))
			case *ast.GenDecl:
				for _, sp := range d.Specs {
					switch sp := sp.(type) {
					case *ast.TypeSpec:
						s.setDecl(sp.Name.Name, "type "+nodeText(sp))
					case *ast.ValueSpec:
						for _, n := range sp.Names {
							s.setDecl(n.Name, d.Tok.String()+" "+nodeText(sp))
						}
					}
				}
			}
		}
	}
}

func recvName(e ast.Expr) string {
	switch x := e.(type) {
	case *ast.StarExpr:
		return recvName(x.X)
	case *ast.Ident:
		return x.Name
	case *ast.IndexExpr:
		return recvName(x.X)
	}
	return "?"
}

func (s *Session) setDecl(name, text string) {
	s.mu.Lock()
	s.declared[name] = text
	s.mu.Unlock()
}

func nodeText(n any) string {
	var b bytes.Buffer
	if err := format.Node(&b, token.NewFileSet(), n); err != nil {
		return ""
	}
	return b.String()
}
