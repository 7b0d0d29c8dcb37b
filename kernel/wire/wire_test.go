package wire

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
)

func sample(t testing.TB) *Message {
	parent := &Header{MsgID: "p1", MsgType: "execute_request", Session: "s", Username: "u", Version: "5.3", Date: "2026-01-02T03:04:05.000000Z"}
	m, err := NewMessage(IOPub, "display_data", "kern", parent, DisplayData{
		Data:     map[string]any{"text/plain": "héllo 😀"},
		Metadata: map[string]any{},
	})
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func TestRoundTripBothFramings(t *testing.T) {
	m := sample(t)
	for _, bufs := range [][][]byte{nil, {{1, 2, 3}, {}, []byte("xyz")}} {
		m.Buffers = bufs
		v1, err := EncodeV1(m)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DecodeV1(v1)
		if err != nil {
			t.Fatalf("DecodeV1: %v", err)
		}
		check(t, "v1", m, got)

		fr, bin, err := EncodeJSON(m)
		if err != nil {
			t.Fatal(err)
		}
		if bin != (len(bufs) > 0) {
			t.Fatalf("EncodeJSON binary=%v with %d buffers", bin, len(bufs))
		}
		if bin {
			got, err = DecodeLegacyBinary(fr)
		} else {
			got, err = DecodeJSON(fr)
		}
		if err != nil {
			t.Fatalf("decode legacy: %v", err)
		}
		check(t, "legacy", m, got)
	}
}

func check(t *testing.T, what string, want, got *Message) {
	t.Helper()
	if got.Channel != want.Channel || got.Header != want.Header || *got.ParentHeader != *want.ParentHeader {
		t.Fatalf("%s: header mismatch:\n got %+v %+v\nwant %+v %+v", what, got.Header, got.ParentHeader, want.Header, want.ParentHeader)
	}
	var a, b any
	json.Unmarshal(want.Content, &a)
	json.Unmarshal(got.Content, &b)
	if !reflect.DeepEqual(a, b) {
		t.Fatalf("%s: content %s, want %s", what, got.Content, want.Content)
	}
	if len(got.Buffers) != len(want.Buffers) {
		t.Fatalf("%s: %d buffers, want %d", what, len(got.Buffers), len(want.Buffers))
	}
	for i := range got.Buffers {
		if !bytes.Equal(got.Buffers[i], want.Buffers[i]) {
			t.Fatalf("%s: buffer %d = %q, want %q", what, i, got.Buffers[i], want.Buffers[i])
		}
	}
}

// A v1 frame laid out by hand the way jupyter_server's
// serialize_msg_to_ws_v1 lays it out.
func TestDecodeV1HandMade(t *testing.T) {
	parts := [][]byte{[]byte("shell"), []byte(`{"msg_id":"a","msg_type":"kernel_info_request","session":"s","username":"","version":"5.3","date":""}`), []byte("{}"), []byte("{}"), []byte("{}")}
	n := len(parts) + 1
	var frame []byte
	frame = binary.LittleEndian.AppendUint64(frame, uint64(n))
	off := 8 * (n + 1)
	frame = binary.LittleEndian.AppendUint64(frame, uint64(off))
	for _, p := range parts {
		off += len(p)
		frame = binary.LittleEndian.AppendUint64(frame, uint64(off))
	}
	for _, p := range parts {
		frame = append(frame, p...)
	}
	m, err := DecodeV1(frame)
	if err != nil {
		t.Fatal(err)
	}
	if m.Channel != "shell" || m.Header.MsgType != "kernel_info_request" || m.ParentHeader != nil {
		t.Fatalf("got %+v", m)
	}
}

func TestDecodeJSONDefaultsAndErrors(t *testing.T) {
	m, err := DecodeJSON([]byte(`{"header":{"msg_id":"1","msg_type":"execute_request","session":"s","username":"u","version":"5.3"},"parent_header":{},"metadata":{},"content":{"code":"1"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if m.Channel != Shell {
		t.Fatalf("missing channel decoded as %q, want shell", m.Channel)
	}
	var req ExecuteRequest
	if err := DecodeContent(m, &req); err != nil || req.Code != "1" || !req.StoresHistory() || !req.StopsOnError() {
		t.Fatalf("DecodeContent: %+v %v", req, err)
	}
	m, err = DecodeJSON([]byte(`{"header":{"msg_id":"1","msg_type":"kernel_info_request","date":1767323045.5,"version":5.3}}`))
	if err != nil || m.Header.Date != "2026-01-02T03:04:05.500000Z" || m.Header.Version != "5.3" {
		t.Fatalf("numeric header fields (jupyter_server's gateway client): %+v %v", m, err)
	}
	bad := []string{
		``, `[]`, `{"header":1}`, `{"header":{"msg_type":[3]}}`, `{"header":{"msg_type":"x","date":{}}}`, `{"header":{}}`,
		`{"header":{"msg_type":"x"},"content":[]}`, `{"header":{"msg_type":"x"},"metadata":"m"}`,
		`{"header":{"msg_type":"x"},"channel":"bogus"}`, `{"header":{"msg_type":"x"},"parent_header":5}`,
		`{"header":{"msg_type":"x"},"buffers":[1]}`, `{"header":{"msg_type":"x"},"buffers":["!!"]}`,
	}
	for _, b := range bad {
		if _, err := DecodeJSON([]byte(b)); !errors.Is(err, ErrMalformed) {
			t.Errorf("DecodeJSON(%s) = %v, want ErrMalformed", b, err)
		}
	}
	for _, b := range [][]byte{nil, {1}, make([]byte, 16), append(binary.LittleEndian.AppendUint64(nil, 1<<40), make([]byte, 8)...)} {
		if _, err := DecodeV1(b); err == nil {
			t.Errorf("DecodeV1(%x) succeeded", b)
		}
		if _, err := DecodeLegacyBinary(b); err == nil {
			t.Errorf("DecodeLegacyBinary(%x) succeeded", b)
		}
	}
}

func TestEncodeRejectsNonObjectContent(t *testing.T) {
	m := sample(t)
	m.Content = json.RawMessage(`[1]`)
	if _, err := EncodeV1(m); err == nil {
		t.Fatal("EncodeV1 accepted array content")
	}
}

func TestCursor(t *testing.T) {
	s := "a😀é=x" // a(1) 😀(4 bytes, 2 units) é(2 bytes, 1 unit) =(1) x(1)
	cases := []struct{ units, byteOff int }{{0, 0}, {1, 1}, {3, 5}, {4, 7}, {5, 8}, {6, 9}, {99, 9}, {-1, 0}}
	for _, c := range cases {
		if got := CursorToByte(s, c.units); got != c.byteOff {
			t.Errorf("CursorToByte(%d) = %d, want %d", c.units, got, c.byteOff)
		}
	}
	if got := CursorToByte(s, 2); got != 1 { // inside the surrogate pair
		t.Errorf("CursorToByte inside pair = %d, want 1", got)
	}
	for _, c := range cases[:6] {
		if got := ByteToCursor(s, c.byteOff); got != c.units {
			t.Errorf("ByteToCursor(%d) = %d, want %d", c.byteOff, got, c.units)
		}
	}
}

func TestReplyType(t *testing.T) {
	if ReplyType("execute_request") != "execute_reply" || ReplyType("status") != "" || ReplyType("_request") != "" {
		t.Fatal("ReplyType")
	}
}
