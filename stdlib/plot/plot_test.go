package plot

import (
	"bytes"
	"encoding/base64"
	"image/png"
	"math"
	"sync"
	"testing"

	"github.com/netssm/netssm/internal/displayhook"
)

func TestLinesIsAPNG(t *testing.T) {
	b, err := Lines("t", "x", "y", Series{Name: "a", X: []float64{0, 1, 2, math.NaN()}, Y: []float64{3, 1, 2, 5}})
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := png.DecodeConfig(bytes.NewReader(b))
	if err != nil || cfg.Width < 400 || cfg.Height < 200 {
		t.Fatalf("not a chart-sized PNG: %+v %v", cfg, err)
	}
	if _, err := Lines("t", "x", "y", Series{Name: "bad", X: []float64{1}, Y: nil}); err == nil {
		t.Error("mismatched series lengths accepted")
	}
}

func TestLiveUpdatesInPlace(t *testing.T) {
	var mu sync.Mutex
	var msgs []displayhook.Message
	displayhook.SetPublisher(func(m displayhook.Message) { mu.Lock(); msgs = append(msgs, m); mu.Unlock() })
	defer displayhook.SetPublisher(nil)
	l := NewLive("training", "step", "loss")
	for i := 1; i <= 50; i++ {
		l.Add("loss", float64(i), 5/float64(i))
	}
	l.Flush()
	if len(msgs) != 2 { // the first point draws at once; Flush draws the rest
		t.Fatalf("%d display messages, want 2 (throttled)", len(msgs))
	}
	last := msgs[1]
	if !last.Update || last.Transient["display_id"] != msgs[0].Transient["display_id"] {
		t.Errorf("not an in-place update: %+v", last.Transient)
	}
	raw, err := base64.StdEncoding.DecodeString(last.Data["image/png"].(string))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := png.DecodeConfig(bytes.NewReader(raw)); err != nil {
		t.Errorf("update is not a PNG: %v", err)
	}
	if last.Data["text/plain"] != "training  loss: 0.1 at 50" {
		t.Errorf("text = %q", last.Data["text/plain"])
	}
}
