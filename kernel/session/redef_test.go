package session

import (
	"context"
	"strings"
	"testing"
)

// TestRedefinitionSequences runs cell sequences that redeclare names with
// := at top level and in nested scopes, and checks each cell's result.
func TestRedefinitionSequences(t *testing.T) {
	type cell struct{ code, want string }
	cases := []struct {
		name  string
		cells []cell
	}{
		{"type change of err partner", []cell{
			{`import ("fmt";"net/url";"os"); wd, err := os.Getwd(); _ = wd`, ""},
			{`u, err := url.Parse("http://x"); n, err := fmt.Println(u.Host)`, ""},
			{`n`, "2"},
			{`u.Host`, "x"},
			{`err == nil`, "true"},
		}},
		{"nested if err inside top-level if", []cell{
			{`import ("os";"strconv"); _, err := os.Getwd()`, ""},
			{"ok := false\nif err == nil {\n\tif _, err := strconv.Atoi(\"x\"); err != nil {\n\t\tok = true\n\t}\n}", ""},
			{`ok`, "true"},
		}},
		{"out in else", []cell{
			{`import "strconv"; out, err := strconv.Atoi("1")`, ""},
			{"var r int\nif out == 0 {\n\tr = -1\n} else {\n\tout, err := strconv.Atoi(\"5\")\n\t_ = err\n\tr = out\n}", ""},
			{`r*10 + out`, "51"},
		}},
		{"blank and new", []cell{
			{`import "path/filepath"; finals, _ := filepath.Split("a/b")`, ""},
			{`finals, _ := filepath.Split("c/d")`, ""},
			{`finals`, "c/"},
			{`finals, rest := filepath.Split(finals+"e")`, ""},
			{`finals + rest`, "c/e"},
		}},
		{"within one cell", []cell{
			{"import (\"strconv\";\"net/url\")\na, err := strconv.Atoi(\"3\")\nu, err := url.Parse(\"http://h\")\nb, err := strconv.Atoi(\"4\")\n_ = err", ""},
			{`u.Host + strconv.Itoa(a+b)`, "h7"},
		}},
		{"exact notebook repro", []cell{
			{"import (\"fmt\";\"net/url\";\"os\")\nwd, err := os.Getwd()", ""},
			{"u, err := url.Parse(\"http://x\")\nn, err := fmt.Println(u.Host)\nhost := u.Host", ""},
			{"n + len(wd) - len(wd)", "2"},
			{"u2, err := url.Parse(\"http://y\")\nn, err := fmt.Println(u.Host)\nu3, err := url.Parse(\"http://z\")\nhost += u2.Host + u3.Host", ""},
			{"host", "xyz"},
		}},
		{"shadowing statement mid-line and after a statement", []cell{
			{`x := 1`, ""},
			{"y := 2; if true { x := 3; y = x }\nz := 0\nfor x := 0; x < 4; x++ { z += x }", ""},
			{`x*100 + y*10 + z`, "136"},
		}},
		{"labeled loop with shadowing", []cell{
			{`i := 42`, ""},
			{"n := 0\nouter:\nfor i := 0; i < 3; i++ {\n\tfor j := 0; j < 3; j++ {\n\t\tif j == 1 { continue outer }\n\t\tn++\n\t}\n}", ""},
			{`i + n`, "45"},
		}},
		{"a function literal call runs once", []cell{
			{`z := 0`, ""},
			{"func() { z++ }()", ""},
			{"func() { z += 10 }(); z += 100", ""},
			{`z`, "111"},
		}},
		{"range, type switch, select and var in nested scopes", []cell{
			{"import \"fmt\"\nv := \"keep\"\nvar any1 any = 3\nch := make(chan int, 1)\nsum := 0", ""},
			{"for _, v := range []int{1, 2, 3} { sum += v }", ""},
			{"switch v := any1.(type) { case int: sum += v * 10 }", ""},
			{"ch <- 100\nselect {\ncase v := <-ch:\n\tsum += v\n}", ""},
			{"if true {\n\tvar v int = 1000\n\tsum += v\n}", ""},
			{`v + fmt.Sprint(sum)`, "keep1136"},
		}},
		{"type change of a single name", []cell{
			{`x := 1`, ""},
			{`x := "s"`, ""},
			{`x + "t"`, "st"},
			{`x := 2.5`, ""},
			{`x * 2`, "5"},
		}},
		{"redefine uses old value", []cell{
			{`x := 2`, ""},
			{`x, y := x*3, x+1`, ""},
			{`x*10 + y`, "63"},
		}},
		{"closures see the new value", []cell{
			{`x := 1; f := func() int { return x }`, ""},
			{`x := 5; g := func() int { return x }`, ""},
			{`g()`, "5"},
		}},
		{"nested := of global name does not rewrite", []cell{
			{`x := 1`, ""},
			{"for i := 0; i < 3; i++ {\n\tx := i\n\t_ = x\n}", ""},
			{`x`, "1"},
			{"func() { x := 7; _ = x }()", ""},
			{`x`, "1"},
			{"switch x := 9; x {\ncase 9:\n\tx := 10\n\t_ = x\n}", ""},
			{`x`, "1"},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for pass := 0; pass < 2; pass++ { // re-running all cells in the same kernel
				s, _, _ := newSession(t)
				if pass == 1 {
					// second pass: run all cells twice in the same session
					for _, c := range tc.cells {
						if _, err := s.Execute(context.Background(), c.code); err != nil {
							t.Fatalf("first run of cell %q: %v", c.code, err)
						}
					}
				}
				for _, c := range tc.cells {
					if got := run(t, s, c.code); got != c.want {
						t.Errorf("pass %d: cell %q = %q, want %q", pass, c.code, got, c.want)
					}
				}
			}
		})
	}
}

// TestRedefinitionErrors: statements run in a function scope still report
// cell positions and panics, and the session keeps its state.
func TestRedefinitionErrors(t *testing.T) {
	s, _, _ := newSession(t)
	run(t, s, "x := 1")
	ce := cellErr(t, s, "if true {\n\tx := 2\n\tnoSuchFunc(x)\n}")
	if ce.EName != ENameCompile || !strings.HasPrefix(ce.Traceback[0], "cell:3:2: undefined: noSuchFunc") {
		t.Errorf("compile error %q %q, want cell:3:2: undefined: noSuchFunc", ce.EName, ce.Traceback)
	}
	ce = cellErr(t, s, "for x := 0; x < 2; x++ {\n\tif x == 1 { panic(\"boom\") }\n}")
	if ce.EName != ENamePanic || ce.EValue != "boom" {
		t.Errorf("panic = %q %q, want panic boom", ce.EName, ce.EValue)
	}
	if got := run(t, s, "x"); got != "1" {
		t.Errorf("x after the errors = %q, want 1", got)
	}
}
