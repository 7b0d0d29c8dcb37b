package wire

import (
	"bytes"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
)

// V1Protocol is the websocket subprotocol of the binary v1 framing.
const V1Protocol = "v1.kernel.websocket.jupyter.org"

// EncodeJSON encodes m in the legacy framing. It returns the frame and
// whether it must be sent as a binary frame (only when m has buffers).
func EncodeJSON(m *Message) (frame []byte, binaryFrame bool, err error) {
	h, p, md, c, err := m.encodeParts()
	if err != nil {
		return nil, false, err
	}
	var b bytes.Buffer
	b.Grow(len(h) + len(p) + len(md) + len(c) + 96)
	b.WriteString(`{"header":`)
	b.Write(h)
	b.WriteString(`,"parent_header":`)
	b.Write(p)
	b.WriteString(`,"metadata":`)
	b.Write(md)
	b.WriteString(`,"content":`)
	b.Write(c)
	b.WriteString(`,"buffers":[],"channel":`)
	ch, _ := json.Marshal(m.Channel)
	b.Write(ch)
	// Jupyter Server's JSON frames also carry msg_id and msg_type at the
	// top level (jupyter_client's message dicts do), and some clients,
	// such as jupyter_server's own GatewayKernelClient, read them there.
	id, _ := json.Marshal(m.Header.MsgID)
	typ, _ := json.Marshal(m.Header.MsgType)
	b.WriteString(`,"msg_id":`)
	b.Write(id)
	b.WriteString(`,"msg_type":`)
	b.Write(typ)
	b.WriteByte('}')
	if len(m.Buffers) == 0 {
		return b.Bytes(), false, nil
	}
	// Legacy binary: uint32 BE count n, n uint32 BE offsets, then the JSON
	// message and the buffers (jupyter_server serialize_binary_message).
	parts := append([][]byte{b.Bytes()}, m.Buffers...)
	n := len(parts)
	hdr := 4 * (n + 1)
	size := hdr
	for _, q := range parts {
		size += len(q)
	}
	out := make([]byte, hdr, size)
	binary.BigEndian.PutUint32(out, uint32(n))
	off := hdr
	for i, q := range parts {
		binary.BigEndian.PutUint32(out[4*(i+1):], uint32(off))
		off += len(q)
	}
	for _, q := range parts {
		out = append(out, q...)
	}
	return out, true, nil
}

// DecodeJSON decodes a legacy JSON text frame. Buffers given inline as
// base64 strings are decoded; a missing channel means shell.
func DecodeJSON(frame []byte) (*Message, error) {
	if len(frame) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(frame))
	}
	if !isObject(frame) {
		return nil, malformed("frame is not a JSON object")
	}
	var jm jsonMessage
	if err := json.Unmarshal(frame, &jm); err != nil {
		return nil, malformed("%v", err)
	}
	ch := ""
	if jm.Channel != nil {
		ch = *jm.Channel
	}
	m, err := assemble(ch, jm.Header, jm.ParentHeader, jm.Metadata, jm.Content)
	if err != nil {
		return nil, err
	}
	for i, raw := range jm.Buffers {
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return nil, malformed("buffers[%d] is not a base64 string", i)
		}
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return nil, malformed("buffers[%d]: %v", i, err)
		}
		m.Buffers = append(m.Buffers, b)
	}
	return m, nil
}

// DecodeLegacyBinary decodes a legacy binary frame (a JSON message followed
// by its buffers, with big-endian uint32 offsets in front).
func DecodeLegacyBinary(frame []byte) (*Message, error) {
	if len(frame) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(frame))
	}
	if len(frame) < 8 {
		return nil, malformed("binary frame of %d bytes is too short", len(frame))
	}
	n := uint64(binary.BigEndian.Uint32(frame))
	if n < 1 || n > maxParts || 4*(n+1) > uint64(len(frame)) {
		return nil, malformed("binary frame declares %d parts", n)
	}
	offs := make([]uint64, n+1)
	for i := uint64(0); i < n; i++ {
		offs[i] = uint64(binary.BigEndian.Uint32(frame[4*(i+1):]))
	}
	offs[n] = uint64(len(frame))
	parts, err := split(frame, offs, 4*(n+1))
	if err != nil {
		return nil, err
	}
	m, err := DecodeJSON(parts[0])
	if err != nil {
		return nil, err
	}
	m.Buffers = parts[1:]
	return m, nil
}

// split cuts frame at offsets, which must be non-decreasing, start at
// headerLen and stay within the frame.
func split(frame []byte, offs []uint64, headerLen uint64) ([][]byte, error) {
	if offs[0] != headerLen {
		return nil, malformed("first offset %d, want %d", offs[0], headerLen)
	}
	parts := make([][]byte, len(offs)-1)
	for i := range parts {
		a, b := offs[i], offs[i+1]
		if a > b || b > uint64(len(frame)) {
			return nil, malformed("offsets %d..%d out of range for %d bytes", a, b, len(frame))
		}
		parts[i] = frame[a:b:b]
	}
	return parts, nil
}

// EncodeV1 encodes m in the v1.kernel.websocket.jupyter.org framing
// (always a binary frame).
func EncodeV1(m *Message) ([]byte, error) {
	h, p, md, c, err := m.encodeParts()
	if err != nil {
		return nil, err
	}
	parts := make([][]byte, 0, 5+len(m.Buffers))
	parts = append(parts, []byte(m.Channel), h, p, md, c)
	parts = append(parts, m.Buffers...)
	nOffs := len(parts) + 1
	hdr := 8 * (1 + nOffs)
	size := hdr
	for _, q := range parts {
		size += len(q)
	}
	out := make([]byte, hdr, size)
	binary.LittleEndian.PutUint64(out, uint64(nOffs))
	off := hdr
	binary.LittleEndian.PutUint64(out[8:], uint64(off))
	for i, q := range parts {
		off += len(q)
		binary.LittleEndian.PutUint64(out[8*(i+2):], uint64(off))
	}
	for _, q := range parts {
		out = append(out, q...)
	}
	return out, nil
}

// DecodeV1 decodes a v1.kernel.websocket.jupyter.org binary frame. The
// message's buffers alias frame.
func DecodeV1(frame []byte) (*Message, error) {
	if len(frame) > MaxFrame {
		return nil, fmt.Errorf("%w: %d bytes", ErrTooLarge, len(frame))
	}
	if len(frame) < 8 {
		return nil, malformed("v1 frame of %d bytes is too short", len(frame))
	}
	n := binary.LittleEndian.Uint64(frame)
	// channel, header, parent_header, metadata, content: 5 parts, 6 offsets.
	if n < 6 || n > maxParts || 8*(n+1) > uint64(len(frame)) {
		return nil, malformed("v1 frame declares %d offsets", n)
	}
	offs := make([]uint64, n)
	for i := range offs {
		offs[i] = binary.LittleEndian.Uint64(frame[8*(i+1):])
	}
	if offs[n-1] != uint64(len(frame)) {
		return nil, malformed("v1 frame: last offset %d, frame has %d bytes", offs[n-1], len(frame))
	}
	parts, err := split(frame, offs, 8*(n+1))
	if err != nil {
		return nil, err
	}
	m, err := assemble(string(parts[0]), parts[1], parts[2], parts[3], parts[4])
	if err != nil {
		return nil, err
	}
	if len(parts) > 5 {
		m.Buffers = parts[5:]
	}
	return m, nil
}
