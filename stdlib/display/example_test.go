package display_test

import (
	"fmt"

	"github.com/netssm/netssm/stdlib/display"
)

type table [][]string

// HTML makes table displayable as HTML, by method set alone.
func (t table) HTML() string {
	s := "<table>"
	for _, row := range t {
		s += "<tr>"
		for _, c := range row {
			s += "<td>" + c + "</td>"
		}
		s += "</tr>"
	}
	return s + "</table>"
}

func ExampleMIME() {
	b := display.MIME(table{{"a", "b"}})
	fmt.Println(b["text/html"])
	fmt.Println(b["text/plain"])
	// Output:
	// <table><tr><td>a</td><td>b</td></tr></table>
	// [[a b]]
}

// Outside a kernel, displays print their text/plain form.
func ExampleDisplay() {
	display.Display(display.Markdown("# Results"))
	display.Display(42)
	// Output:
	// # Results
	// 42
}

func ExampleHandle_Update() {
	d := display.New()
	d.Display(display.Text("epoch 1: loss 2.31"))
	d.Update(display.Text("epoch 2: loss 1.87")) // in a notebook: replaces the line above
	// Output:
	// epoch 1: loss 2.31
	// epoch 2: loss 1.87
}
