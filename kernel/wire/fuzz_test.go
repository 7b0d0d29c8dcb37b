package wire

import (
	"encoding/json"
	"testing"
)

// FuzzDecode feeds arbitrary bytes to every decoder: none may panic, and
// whatever decodes must encode again and decode to the same header.
func FuzzDecode(f *testing.F) {
	m := sample(f)
	v1, _ := EncodeV1(m)
	js, _, _ := EncodeJSON(m)
	m.Buffers = [][]byte{{1, 2}}
	lb, _, _ := EncodeJSON(m)
	for _, s := range [][]byte{v1, js, lb, []byte(`{"header":{"msg_type":"x"}}`), {}, {0xff}} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		for name, dec := range map[string]func([]byte) (*Message, error){
			"json": DecodeJSON, "legacybinary": DecodeLegacyBinary, "v1": DecodeV1,
		} {
			m, err := dec(b)
			if err != nil {
				continue
			}
			if !json.Valid(m.Content) {
				t.Fatalf("%s: invalid content kept: %q", name, m.Content)
			}
			out, err := EncodeV1(m)
			if err != nil {
				t.Fatalf("%s: re-encode: %v", name, err)
			}
			m2, err := DecodeV1(out)
			if err != nil {
				t.Fatalf("%s: decode re-encoded: %v", name, err)
			}
			if m2.Header != m.Header || m2.Channel != m.Channel {
				t.Fatalf("%s: round trip changed header %+v -> %+v", name, m.Header, m2.Header)
			}
			var (
				ex ExecuteRequest
				co CompleteRequest
				hi HistoryRequest
			)
			_ = DecodeContent(m, &ex)
			_ = DecodeContent(m, &co)
			_ = DecodeContent(m, &hi)
			CursorToByte(string(b), co.CursorPos)
			ByteToCursor(string(b), co.CursorPos)
		}
	})
}
