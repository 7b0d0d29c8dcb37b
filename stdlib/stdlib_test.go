package stdlib

import (
	"os"
	"regexp"
	"testing"
)

// Every go:generate line has its symbols registered, and nothing else is.
func TestGeneratedSymbolsMatchGenerateLines(t *testing.T) {
	src, err := os.ReadFile("stdlib.go")
	if err != nil {
		t.Fatal(err)
	}
	re := regexp.MustCompile(`(?m)^//go:generate go run github.com/traefik/yaegi/cmd/yaegi extract -name stdlib (\S+)$`)
	lines := re.FindAllStringSubmatch(string(src), -1)
	if len(lines) == 0 {
		t.Fatal("no go:generate lines in stdlib.go")
	}
	want := map[string]bool{}
	for _, l := range lines {
		path := l[1]
		name := path[len(regexp.MustCompile(`^.*/`).FindString(path)):]
		want[path+"/"+name] = true
		if _, ok := Symbols[path+"/"+name]; !ok {
			t.Errorf("%s: go:generate line but no symbols (run go generate ./stdlib/...)", path)
		}
	}
	for k := range Symbols {
		if !want[k] {
			t.Errorf("symbols for %s but no go:generate line", k)
		}
	}
	if _, ok := Symbols["github.com/netssm/netssm/stdlib/display/display"]["NewProgress"]; !ok {
		t.Error("display.NewProgress is not exported to cells")
	}
}
