package server_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/netssm/netssm/kernel/kerneltest"
	"github.com/netssm/netssm/kernel/server"
	"github.com/netssm/netssm/kernel/wire"
)

// FuzzWebsocketFrames sends arbitrary frames to a kernel's websocket.
// Frames that do not decode must close that connection with status 1007;
// whatever arrives, the server must not panic and another kernel (and
// another connection to the same kernel) must keep answering.
func FuzzWebsocketFrames(f *testing.F) {
	good, _ := wire.NewMessage(wire.Shell, "execute_request", "s", nil, map[string]any{"code": "out x"})
	v1, _ := wire.EncodeV1(good)
	js, _, _ := wire.EncodeJSON(good)
	for _, seed := range []struct {
		mode  byte
		frame []byte
	}{
		{0, v1}, {1, js}, {2, js}, {0, nil}, {1, []byte("{")}, {1, []byte(`{"header":{"msg_type":"kernel_info_request","msg_id":1}}`)},
		{0, []byte{6, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}, {2, []byte{0, 0, 0, 9}},
		{1, []byte(`{"header":{"msg_type":"status","msg_id":"1"},"channel":"iopub","content":{}}`)},
		{1, []byte(`{"header":{"msg_type":"complete_request","msg_id":"1"},"content":{"code":"😀","cursor_pos":-5}}`)},
		{1, []byte(`{"header":{"msg_type":"history_request","msg_id":"1"},"content":{"hist_access_type":"search","pattern":"[" }}`)},
		{1, []byte(`{"header":{"msg_type":"execute_request","msg_id":"1"},"content":{"code":5}}`)},
	} {
		f.Add(seed.mode, seed.frame)
	}
	// The fuzz engine forbids f.Logf inside the target: the server logs nowhere.
	s := fakeServer(f, server.Options{Logf: func(string, ...any) {}})
	target := s.StartKernel(f)
	other := s.StartKernel(f)
	ctx, cancel := context.WithCancel(context.Background())
	f.Cleanup(cancel)
	bystander, err := s.Dial(ctx, target, true)
	if err != nil {
		f.Fatal(err)
	}
	otherConn, err := s.Dial(ctx, other, false)
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, mode byte, frame []byte) {
		mode %= 3 // 0: v1 binary, 1: legacy text, 2: legacy binary
		tctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		defer cancel()
		c, err := s.Dial(tctx, target, mode == 0)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		typ := websocket.MessageBinary
		var decodeErr error
		switch mode {
		case 0:
			_, decodeErr = wire.DecodeV1(frame)
		case 1:
			typ = websocket.MessageText
			_, decodeErr = wire.DecodeJSON(frame)
		case 2:
			_, decodeErr = wire.DecodeLegacyBinary(frame)
		}
		if err := c.Conn().Write(tctx, typ, frame); err != nil {
			t.Fatal(err)
		}
		if decodeErr != nil {
			_, err := c.Wait(tctx, func(*wire.Message) bool { return false })
			if websocket.CloseStatus(errors.Unwrap(err)) != websocket.StatusInvalidFramePayloadData && websocket.CloseStatus(err) != websocket.StatusInvalidFramePayloadData {
				t.Fatalf("undecodable frame (%v): connection ended with %v, want close 1007", decodeErr, err)
			}
		}
		for _, cl := range []*kerneltest.Client{bystander, otherConn} {
			if r, err := cl.Request(tctx, wire.Shell, "kernel_info_request", nil); err != nil || r.Content()["status"] != "ok" {
				t.Fatalf("other connection stopped answering: %v", err)
			}
		}
	})
}
