package wire

// The ZMQ wire format (kernel/zmq) sends a message as separate frames:
// header, parent_header, metadata and content as JSON, then the buffers.
// Its signature covers exactly the bytes of those four frames, so the
// transport needs them as they are sent, not re-encoded.

// Parts returns the JSON of the header, parent_header, metadata and
// content of m, in the form every framing sends them (parent_header {}
// when there is none, metadata never null).
func (m *Message) Parts() (header, parent, metadata, content []byte, err error) {
	return m.encodeParts()
}

// FromParts decodes a message from its four JSON parts and buffers, with
// the same checks as the websocket decoders: the header must be an object
// of strings with a msg_type, the others objects (or empty/null). channel
// is the channel the message arrived on.
func FromParts(channel string, header, parent, metadata, content []byte, buffers [][]byte) (*Message, error) {
	m, err := assemble(channel, header, parent, metadata, content)
	if err != nil {
		return nil, err
	}
	if len(buffers) > 0 {
		m.Buffers = make([][]byte, len(buffers))
		for i, b := range buffers {
			m.Buffers[i] = append([]byte(nil), b...)
		}
	}
	return m, nil
}
