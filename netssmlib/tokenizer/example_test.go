package tokenizer_test

import (
	"fmt"

	"github.com/netssm/netssm/netssmlib/tokenizer"
)

func ExampleNew() {
	tok, err := tokenizer.New([]string{"netflix", "amazon"})
	if err != nil {
		panic(err)
	}
	ids := tok.Encode("<|amazon|> 69 0 999 <|pkt|> 255")
	fmt.Println(ids)
	fmt.Println(tok.Decode(ids, false))
	fmt.Println(tok.Decode(ids, true))
	more, _ := tok.WithLabels("youtube")
	id, _ := more.TokenID("<|youtube|>")
	fmt.Println(tok.VocabSize(), more.VocabSize(), id)
	// Output:
	// [261 69 0 256 259 255]
	// <|amazon|> 69 0 <|unk|> <|pkt|> 255
	// 69 0 255
	// 262 263 262
}
