package display

import (
	"bytes"
	"strings"
	"sync"
	"testing"

	"github.com/netssm/netssm/internal/displayhook"
)

type page struct{}

func (page) HTML() string { return "<p>page</p>" }
func (page) PNG() []byte  { return []byte("\x89PNG") }

func TestMIME(t *testing.T) {
	b := MIME(page{})
	if b["text/html"] != "<p>page</p>" || b["image/png"] != "iVBORw==" || b["text/plain"] != "{}" {
		t.Errorf("MIME(page) = %v", b)
	}
	j := JSON(map[string]int{"a": 1})
	if tree, ok := j["application/json"].(map[string]any); !ok || tree["a"] != float64(1) {
		t.Errorf("JSON bundle = %v", j)
	}
	if bad := JSON(func() {}); !strings.Contains(bad["text/plain"].(string), "unsupported type") {
		t.Errorf("JSON of a func = %v", bad)
	}
	if got := MIME(Markdown("# x")); got["text/markdown"] != "# x" {
		t.Errorf("MIME of a Bundle = %v", got)
	}
}

func capture(t *testing.T) *[]displayhook.Message {
	var mu sync.Mutex
	var msgs []displayhook.Message
	displayhook.SetPublisher(func(m displayhook.Message) {
		mu.Lock()
		msgs = append(msgs, m)
		mu.Unlock()
	})
	t.Cleanup(func() { displayhook.SetPublisher(nil) })
	return &msgs
}

func TestHandleUpdates(t *testing.T) {
	msgs := capture(t)
	h := New()
	h.Update(Text("a")) // first update of a fresh handle displays it
	h.Update(Text("b"))
	Clear(true)
	if len(*msgs) != 3 {
		t.Fatalf("messages = %+v", *msgs)
	}
	m := *msgs
	if m[0].Update || !m[1].Update || m[0].Transient["display_id"] != h.ID() || m[1].Transient["display_id"] != h.ID() {
		t.Errorf("display then update by id: %+v", m)
	}
	if !m[2].Clear || !m[2].Wait {
		t.Errorf("clear = %+v", m[2])
	}
}

func TestProgressNotebook(t *testing.T) {
	msgs := capture(t)
	p := NewProgress("train")
	cb := p.Callback()
	for i := 0; i <= 1000; i++ {
		cb(i, 1000) // throttled: only a few updates go out
	}
	p.Update(5, 1000) // after completion: ignored
	m := *msgs
	if len(m) < 2 || len(m) > 10 {
		t.Fatalf("%d display messages for 1001 callbacks", len(m))
	}
	last := m[len(m)-1]
	if !last.Update || !strings.Contains(last.Data["text/html"].(string), `value="1000" max="1000"`) {
		t.Errorf("final update = %+v", last)
	}
}

func TestProgressTerminal(t *testing.T) {
	var buf bytes.Buffer
	p := NewProgress("tok")
	p.term = &buf // what NewProgress does outside a kernel, on stderr
	p.Callback64()(50, 100)
	p.Update(100, 100)
	out := buf.String()
	if !strings.Contains(out, "\rtok [###############---------------]  50% 50/100") || !strings.HasSuffix(out, "\n") ||
		!strings.Contains(out, "100% 100/100") {
		t.Errorf("terminal bar = %q", out)
	}
}

func TestLineWriter(t *testing.T) {
	msgs := capture(t)
	w := NewLineWriter()
	n, err := w.Write([]byte("step 1 loss 3.2\rstep 2 lo"))
	if n != 25 || err != nil {
		t.Fatalf("Write = %d, %v", n, err)
	}
	w.Write([]byte("ss 2.9\rstep 3 loss 2.5\n"))
	w.Flush()
	m := *msgs
	if len(m) < 2 {
		t.Fatalf("messages = %+v", m)
	}
	last := m[len(m)-1]
	if last.Data["text/plain"] != "step 3 loss 2.5" || !last.Update || last.Transient["display_id"] != m[0].Transient["display_id"] {
		t.Errorf("last = %+v", last)
	}
	for _, x := range m {
		if s := x.Data["text/plain"]; s != "step 1 loss 3.2" && s != "step 2 loss 2.9" && s != "step 3 loss 2.5" {
			t.Errorf("a partial line was shown: %q", s)
		}
	}
}
