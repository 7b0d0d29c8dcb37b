package dataset_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/netssm/netssm/netssmlib/dataset"
	"github.com/netssm/netssm/netssmlib/tokenizer"
)

func Example() {
	dir, _ := os.MkdirTemp("", "example")
	defer os.RemoveAll(dir)
	jsonl := filepath.Join(dir, "samples.jsonl")
	os.WriteFile(jsonl, []byte(`{"Data":"<|netflix|> 69 0 <|pkt|> 69 0 6","Hash":"h","Filename":"a.pcap","OrigLen":2}`+"\n"), 0o644)

	tok, _ := tokenizer.New([]string{"netflix"})
	ds := filepath.Join(dir, "ds")
	st, err := dataset.Tokenize(context.Background(), tok, jsonl, ds, dataset.TokenizeOptions{MaxLen: 8, Padding: true})
	if err != nil {
		panic(err)
	}
	fmt.Println(st.Examples, st.Tokens, st.Padded)

	r, err := dataset.Open(ds, dataset.Options{})
	if err != nil {
		panic(err)
	}
	defer r.Close()
	for {
		ex, err := r.Next()
		if err == io.EOF {
			break
		}
		fmt.Println(ex.InputIDs, ex.AttentionMask)
	}
	// Output:
	// 1 7 1
	// [260 69 0 259 69 0 6 258] [1 1 1 1 1 1 1 0]
}
