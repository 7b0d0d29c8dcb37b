package session

import (
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"strings"
)

// segKind says what a segment of a cell is.
type segKind int

const (
	segGo    segKind = iota // Go source
	segShell                // "!cmd": a shell command
	segMagic                // "%name args": a magic (only %cd so far)
)

// segment is a run of cell lines of one kind.
type segment struct {
	kind segKind
	line int    // 1-based cell line of the segment's first line
	text string // Go source lines, or the command / magic after ! or %
}

// splitCell cuts a cell into Go segments and ! / % lines. A line is a shell
// or magic line when it starts (after blanks) with ! or % and the Go source
// before it is not inside brackets or a raw string, so `a &&\n!b` stays Go.
func splitCell(code string) []segment {
	var segs []segment
	var goLines []string
	goStart := 1
	flush := func() {
		if len(goLines) > 0 && strings.TrimSpace(strings.Join(goLines, "")) != "" {
			segs = append(segs, segment{kind: segGo, line: goStart, text: strings.Join(goLines, "\n")})
		}
		goLines = nil
	}
	lines := strings.Split(code, "\n")
	for i, l := range lines {
		t := strings.TrimSpace(l)
		if (strings.HasPrefix(t, "!") || strings.HasPrefix(t, "%")) && !inOpenConstruct(strings.Join(goLines, "\n")) {
			flush()
			k := segShell
			if t[0] == '%' {
				k = segMagic
			}
			segs = append(segs, segment{kind: k, line: i + 1, text: strings.TrimSpace(t[1:])})
			goStart = i + 2
			continue
		}
		if len(goLines) == 0 {
			goStart = i + 1
		}
		goLines = append(goLines, l)
	}
	flush()
	return segs
}

// inOpenConstruct reports whether src ends inside brackets, a raw string or
// a comment, or after a token that needs a continuation.
func inOpenConstruct(src string) bool {
	st, _ := openState(src)
	return st != stateComplete
}

type completeState int

const (
	stateComplete completeState = iota
	stateIncomplete
	stateInvalid
)

// openState scans src and says whether it is complete, needs more lines
// (unclosed brackets, an unterminated raw string or comment, a trailing
// binary operator or comma), or is invalid (a closing bracket without its
// opening one). depth is the bracket depth at the end.
func openState(src string) (completeState, int) {
	var s scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile("", fset.Base(), len(src))
	var errs []string
	s.Init(file, []byte(src), func(pos token.Position, msg string) { errs = append(errs, msg) }, 0)
	depth := 0
	last := token.ILLEGAL
	for {
		_, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		switch tok {
		case token.LPAREN, token.LBRACK, token.LBRACE:
			depth++
		case token.RPAREN, token.RBRACK, token.RBRACE:
			depth--
			if depth < 0 {
				return stateInvalid, depth
			}
		}
		if tok == token.SEMICOLON && lit == "\n" {
			continue // automatic semicolon: keep the token before it
		}
		last = tok
	}
	for _, e := range errs {
		if strings.Contains(e, "raw string literal not terminated") || strings.Contains(e, "comment not terminated") {
			return stateIncomplete, depth
		}
	}
	if depth > 0 {
		return stateIncomplete, depth
	}
	if last.IsOperator() && needsOperand(last) {
		return stateIncomplete, depth
	}
	return stateComplete, depth
}

// needsOperand reports whether a line ending in tok must continue.
func needsOperand(tok token.Token) bool {
	switch tok {
	case token.RPAREN, token.RBRACK, token.RBRACE, token.INC, token.DEC, token.SEMICOLON:
		return false
	}
	return true
}

// itemKind classifies a top-level item of a Go segment.
type itemKind int

const (
	itemImport itemKind = iota
	itemDecl            // func, method, type, var or const declaration
	itemStmt            // anything else: statements and expressions
)

// item is one top-level declaration or statement: src[start:end].
type item struct {
	start, end int
	kind       itemKind
}

// splitItems cuts Go source at top-level semicolons (explicit or
// automatic) and classifies each piece by its first tokens. Scanner errors
// are returned as a scanner.ErrorList.
func splitItems(src string) ([]item, error) {
	var s scanner.Scanner
	fset := token.NewFileSet()
	file := fset.AddFile("cell", fset.Base(), len(src))
	var errs scanner.ErrorList
	s.Init(file, []byte(src), func(pos token.Position, msg string) { errs.Add(pos, msg) }, 0)
	type tk struct {
		off int
		tok token.Token
	}
	var items []item
	var cur []tk
	depth := 0
	end := 0
	header := false // inside the header of a for, if, switch or select
	finish := func() {
		if len(cur) == 0 {
			return
		}
		ts := cur
		kind := classifyTokens(func(i int) token.Token { return ts[i].tok }, len(ts))
		items = append(items, item{start: cur[0].off, end: end, kind: kind})
		cur = cur[:0]
	}
	for {
		pos, tok, lit := s.Scan()
		if tok == token.EOF {
			break
		}
		off := file.Offset(pos)
		if depth == 0 {
			switch tok {
			case token.FOR, token.IF, token.SWITCH, token.SELECT:
				header = true
			case token.LBRACE:
				header = false
			}
		}
		switch tok {
		case token.LPAREN, token.LBRACK, token.LBRACE:
			depth++
		case token.RPAREN, token.RBRACK, token.RBRACE:
			depth--
		}
		if tok == token.SEMICOLON && depth <= 0 && !header {
			finish()
			continue
		}
		cur = append(cur, tk{off, tok})
		n := len(lit)
		if n == 0 {
			n = len(tok.String())
		}
		end = off + n
	}
	finish()
	if len(errs) > 0 {
		return nil, errs
	}
	return items, nil
}

func classifyTokens(at func(int) token.Token, n int) itemKind {
	switch at(0) {
	case token.IMPORT:
		return itemImport
	case token.TYPE, token.VAR, token.CONST:
		return itemDecl
	case token.FUNC:
		if n > 1 && at(1) == token.IDENT {
			return itemDecl // func name(...)
		}
		if n > 1 && at(1) == token.LPAREN {
			// func (recv T) Name(...) is a method; func(...) {...}() a literal.
			depth := 0
			for i := 1; i < n; i++ {
				switch at(i) {
				case token.LPAREN:
					depth++
				case token.RPAREN:
					depth--
					if depth == 0 {
						if i+1 < n && at(i+1) == token.IDENT && i+2 < n && (at(i+2) == token.LPAREN || at(i+2) == token.LBRACK) {
							return itemDecl
						}
						return itemStmt
					}
				}
			}
		}
	}
	return itemStmt
}

// blankExcept returns src with every byte outside the kept items replaced by
// a space (newlines kept), so positions in the result are positions in src.
func blankExcept(src string, keep []item) string {
	b := []byte(src)
	in := make([]bool, len(b))
	for _, it := range keep {
		for i := it.start; i < it.end && i < len(in); i++ {
			in[i] = true
		}
	}
	for i := range b {
		if !in[i] && b[i] != '\n' {
			b[i] = ' '
		}
	}
	return string(b)
}

// parseStmt parses one top-level statement.
func parseStmt(text string) (ast.Stmt, int, error) {
	const prefix = "package p; func _() {\n"
	f, err := parser.ParseFile(token.NewFileSet(), "", prefix+text+"\n}", 0)
	if err != nil {
		return nil, 0, err
	}
	body := f.Decls[0].(*ast.FuncDecl).Body
	if len(body.List) != 1 {
		return nil, 0, errNotOne
	}
	return body.List[0], len(prefix), nil
}

type constError string

func (e constError) Error() string { return string(e) }

const errNotOne = constError("not a single statement")
