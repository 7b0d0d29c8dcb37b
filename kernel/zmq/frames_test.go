package zmq

import (
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"testing"

	"github.com/netssm/netssm/kernel/wire"
)

func testMessage(t *testing.T) *wire.Message {
	t.Helper()
	parent := &wire.Header{MsgID: "p1", MsgType: "execute_request", Session: "s", Username: "u", Version: "5.3", Date: "2026-01-02T03:04:05.000000Z"}
	m, err := wire.NewMessage(wire.Shell, "execute_reply", "sess", parent, map[string]any{"status": "ok", "execution_count": 3})
	if err != nil {
		t.Fatal(err)
	}
	m.Buffers = [][]byte{{1, 2, 3}}
	return m
}

func TestEncodeDecodeRoundTrip(t *testing.T) {
	s, err := NewSigner("hmac-sha256", "secret")
	if err != nil {
		t.Fatal(err)
	}
	m := testMessage(t)
	ids := [][]byte{[]byte("client-a"), []byte("proxy")}
	frames, err := Encode(ids, m, s)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(frames[2], Delimiter) {
		t.Fatalf("frame 2 = %q, want the delimiter", frames[2])
	}
	// The signature is the hex HMAC-SHA256 of the four JSON frames, as
	// jupyter_client's Session.sign computes it.
	mac := hmac.New(sha256.New, []byte("secret"))
	for _, f := range frames[4:8] {
		mac.Write(f)
	}
	if want := hex.EncodeToString(mac.Sum(nil)); string(frames[3]) != want {
		t.Fatalf("signature %s, want %s", frames[3], want)
	}
	gotIDs, got, err := Decode(frames, wire.Control, s)
	if err != nil {
		t.Fatal(err)
	}
	if len(gotIDs) != 2 || string(gotIDs[0]) != "client-a" || string(gotIDs[1]) != "proxy" {
		t.Errorf("ids = %q", gotIDs)
	}
	if got.Channel != wire.Control || got.Header != m.Header || got.ParentHeader.MsgID != "p1" {
		t.Errorf("decoded %+v", got)
	}
	if string(got.Content) != string(m.Content) || len(got.Buffers) != 1 || !bytes.Equal(got.Buffers[0], []byte{1, 2, 3}) {
		t.Errorf("content %s buffers %v", got.Content, got.Buffers)
	}
}

func TestDecodeRejects(t *testing.T) {
	s, _ := NewSigner("hmac-sha256", "secret")
	m := testMessage(t)
	good, err := Encode([][]byte{[]byte("id")}, m, s)
	if err != nil {
		t.Fatal(err)
	}
	clone := func() [][]byte {
		out := make([][]byte, len(good))
		for i, f := range good {
			out[i] = append([]byte(nil), f...)
		}
		return out
	}
	tampered := clone()
	// frames: id, delimiter, signature, header, parent, metadata, content, buffer
	tampered[6] = []byte(`{"status":"ok","execution_count":4}`)
	badSig := clone()
	badSig[2][0] ^= 1
	wrongKey, _ := NewSigner("hmac-sha256", "other")
	cases := []struct {
		name   string
		frames [][]byte
		s      *Signer
		want   error
	}{
		{"tampered content", tampered, s, ErrBadSignature},
		{"bad signature", badSig, s, ErrBadSignature},
		{"wrong key", clone(), wrongKey, ErrBadSignature},
		{"no delimiter", [][]byte{[]byte("id"), []byte("x")}, s, ErrMalformed},
		{"too few frames", clone()[:6], s, ErrMalformed},
		{"empty", nil, s, ErrMalformed},
	}
	for _, c := range cases {
		_, _, err := Decode(c.frames, wire.Shell, c.s)
		if !errors.Is(err, c.want) {
			t.Errorf("%s: err = %v, want %v", c.name, err, c.want)
		}
	}
	// A well-signed message whose header is not an object is malformed.
	bad := clone()
	bad[3] = []byte(`"header"`)
	bad[2] = s.Sign(bad[3], bad[4], bad[5], bad[6])
	if _, _, err := Decode(bad, wire.Shell, s); !errors.Is(err, wire.ErrMalformed) {
		t.Errorf("string header: err = %v, want wire.ErrMalformed", err)
	}
}

func TestNoKeyNoAuth(t *testing.T) {
	s, _ := NewSigner("hmac-sha256", "")
	frames, err := Encode(nil, testMessage(t), s)
	if err != nil {
		t.Fatal(err)
	}
	if len(frames[1]) != 0 {
		t.Errorf("signature with no key = %q, want empty", frames[1])
	}
	frames[1] = []byte("anything")
	if _, _, err := Decode(frames, wire.Shell, s); err != nil {
		t.Errorf("no key: %v", err)
	}
}

func TestSignatureSchemes(t *testing.T) {
	for _, sc := range []string{"hmac-sha256", "hmac-sha1", "hmac-sha224", "hmac-sha384", "hmac-sha512"} {
		s, err := NewSigner(sc, "k")
		if err != nil {
			t.Fatalf("%s: %v", sc, err)
		}
		frames, _ := Encode(nil, testMessage(t), s)
		if _, _, err := Decode(frames, wire.Shell, s); err != nil {
			t.Errorf("%s: %v", sc, err)
		}
	}
	for _, sc := range []string{"hmac-md5", "sha256", "", "hmac-"} {
		if _, err := NewSigner(sc, "k"); err == nil {
			t.Errorf("NewSigner(%q) accepted", sc)
		}
	}
}

func TestReplayGuard(t *testing.T) {
	g := newReplayGuard(3)
	for _, s := range []string{"a", "b", "c"} {
		if !g.check([]byte(s)) {
			t.Fatalf("%s rejected the first time", s)
		}
	}
	if g.check([]byte("b")) {
		t.Error("replayed b accepted")
	}
	g.check([]byte("d")) // evicts a
	if !g.check([]byte("a")) {
		t.Error("a still remembered after eviction")
	}
}

func FuzzDecode(f *testing.F) {
	s, _ := NewSigner("hmac-sha256", "")
	m, _ := wire.NewMessage(wire.Shell, "kernel_info_request", "s", nil, nil)
	good, _ := Encode([][]byte{[]byte("id")}, m, s)
	f.Add(bytes.Join(good, []byte{0}))
	f.Add([]byte("<IDS|MSG>\x00\x00{}\x00{}\x00{}\x00{}"))
	f.Add([]byte("<IDS|MSG>\x00\x00{\"msg_type\":1}\x00null\x00[]\x00{}"))
	f.Fuzz(func(t *testing.T, b []byte) {
		frames := bytes.Split(b, []byte{0})
		ids, m, err := Decode(frames, wire.Shell, s)
		if err != nil {
			return
		}
		if m.Header.MsgType == "" {
			t.Fatalf("decoded a message without msg_type: %+v", m)
		}
		// What decodes must encode again and decode to the same header.
		out, err := Encode(ids, m, s)
		if err != nil {
			t.Fatalf("re-encode: %v", err)
		}
		_, m2, err := Decode(out, wire.Shell, s)
		if err != nil || m2.Header != m.Header {
			t.Fatalf("round trip: %v %+v %+v", err, m2, m)
		}
	})
}
