package convert_test

import (
	"fmt"

	"github.com/netssm/netssm/netssmlib/convert"
)

func ExampleParse() {
	// A label, three packets and an incomplete fourth, as a model writes
	// them. NetSSM's rule drops the label piece (with its packet) and the
	// last piece.
	text := "<|netflix|> 1 2 3 <|pkt|> 4 5 6 <|pkt|> 7 8 999 <|pkt|> 9 10 11 <|pkt|> 12"
	pkts, st, err := convert.Parse(text, convert.Options{})
	if err != nil {
		panic(err)
	}
	for _, p := range pkts {
		fmt.Println(p.Piece, p.Data)
	}
	fmt.Println(st.Packets, "packets,", st.Unparseable, "unparseable:", st.Errors[0])
	// Output:
	// 1 [4 5 6]
	// 3 [9 10 11]
	// 2 packets, 1 unparseable: piece 2: word 2 "999" is larger than 255
}
