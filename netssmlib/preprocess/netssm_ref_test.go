package preprocess

import (
	"context"
	"testing"
)

// netssmEquivalent is ReferenceRecord, the NetSSM-equivalent baseline.
func netssmEquivalent(path, label string, truncate int) ([]byte, bool, error) {
	return ReferenceRecord(context.Background(), path, label, truncate)
}

func TestNetSSMTruncateReference(t *testing.T) {
	// The reference truncation itself, on hand-checked cases.
	for _, c := range []struct {
		in   string
		n    int
		want string
	}{
		{"<|a|> 1 2 3", 2, "<|a|> 1"},
		{"<|a|> 1 2 3", 4, "<|a|> 1 2 3"},
		{"<|a|> 1 2 3", 9, "<|a|> 1 2 3"},
		{"<|a  b|> 1 2", 0, "<|a b|> 1 2"},
		{"<|a\tb|> 1 2", 2, "<|a b|>"},
		{"<|a b|> 1 2", 1, "<|a"},
	} {
		if got := netssmTruncate(c.in, c.n); got != c.want {
			t.Errorf("netssmTruncate(%q, %d) = %q, want %q", c.in, c.n, got, c.want)
		}
	}
}
