package wire

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"time"
)

// ProtocolVersion is the Jupyter messaging protocol version spoken here.
const ProtocolVersion = "5.3"

// Channels of the Jupyter protocol.
const (
	Shell   = "shell"
	IOPub   = "iopub"
	Stdin   = "stdin"
	Control = "control"
)

// Header is a message header. All fields are strings on the wire: clients
// validate that.
type Header struct {
	MsgID    string `json:"msg_id"`
	MsgType  string `json:"msg_type"`
	Session  string `json:"session"`
	Username string `json:"username"`
	Version  string `json:"version"`
	Date     string `json:"date"`
}

// Message is one Jupyter message as it travels over a websocket.
//
// ParentHeader is nil for messages without a parent; it is then encoded as
// {}. Metadata is never encoded as null. Content is raw JSON (an object);
// use [DecodeContent] for the typed form and [NewMessage] to build one.
type Message struct {
	Channel      string
	Header       Header
	ParentHeader *Header
	Metadata     map[string]any
	Content      json.RawMessage
	Buffers      [][]byte
}

// NewID returns a random message or session id (32 hex digits, like a
// UUID without dashes, as jupyter_client produces).
func NewID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("wire: crypto/rand failed: " + err.Error()) // never happens on supported platforms
	}
	return hex.EncodeToString(b[:])
}

// Now formats t the way Jupyter does: ISO 8601 in UTC with microseconds
// and a Z (jupyter-server 1.23 rejects other forms in some places).
func Now() string { return FormatTime(time.Now()) }

// FormatTime formats t as Jupyter dates: 2006-01-02T15:04:05.000000Z.
func FormatTime(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000000Z") }

// NewMessage builds a message of msgType on channel, in reply to parent (nil
// for none), from session and with content marshalled to JSON. content may
// be a typed struct, a map or nil (encoded as {}).
func NewMessage(channel, msgType, session string, parent *Header, content any) (*Message, error) {
	raw := json.RawMessage("{}")
	if content != nil {
		b, err := json.Marshal(content)
		if err != nil {
			return nil, fmt.Errorf("wire: marshal %s content: %w", msgType, err)
		}
		raw = b
	}
	m := &Message{
		Channel: channel,
		Header: Header{
			MsgID:    NewID(),
			MsgType:  msgType,
			Session:  session,
			Username: "netssm",
			Version:  ProtocolVersion,
			Date:     Now(),
		},
		Metadata: map[string]any{},
		Content:  raw,
	}
	if parent != nil {
		p := *parent
		m.ParentHeader = &p
		if p.Username != "" {
			m.Header.Username = p.Username
		}
	}
	return m, nil
}

// jsonMessage is the legacy JSON shape of a message.
type jsonMessage struct {
	Header       json.RawMessage   `json:"header"`
	ParentHeader json.RawMessage   `json:"parent_header"`
	Metadata     json.RawMessage   `json:"metadata"`
	Content      json.RawMessage   `json:"content"`
	Buffers      []json.RawMessage `json:"buffers,omitempty"`
	Channel      *string           `json:"channel,omitempty"`
}

// encodeParts returns the JSON of header, parent_header, metadata and content.
func (m *Message) encodeParts() (h, p, md, c []byte, err error) {
	if h, err = json.Marshal(&m.Header); err != nil {
		return
	}
	if m.ParentHeader == nil {
		p = []byte("{}")
	} else if p, err = json.Marshal(m.ParentHeader); err != nil {
		return
	}
	if m.Metadata == nil {
		md = []byte("{}")
	} else if md, err = json.Marshal(m.Metadata); err != nil {
		err = fmt.Errorf("wire: marshal metadata of %s: %w", m.Header.MsgType, err)
		return
	}
	c = m.Content
	if len(c) == 0 {
		c = []byte("{}")
	} else if !isObject(c) {
		err = fmt.Errorf("wire: content of %s is not a JSON object", m.Header.MsgType)
	}
	return
}

// Errors for malformed input; decoders wrap them with detail.
var (
	ErrMalformed = errors.New("malformed message")
	ErrTooLarge  = errors.New("message too large")
)

// MaxFrame bounds the size of a frame the decoders accept (64 MiB).
const MaxFrame = 64 << 20

// maxParts bounds the number of parts (buffers) in a binary frame.
const maxParts = 1 << 16

func malformed(format string, args ...any) error {
	return fmt.Errorf("%w: "+format, append([]any{ErrMalformed}, args...)...)
}

// isObject reports whether b is a JSON object (after optional whitespace).
func isObject(b []byte) bool {
	for _, c := range b {
		switch c {
		case ' ', '\t', '\r', '\n':
			continue
		case '{':
			return json.Valid(b)
		default:
			return false
		}
	}
	return false
}

// decodeHeader decodes a header object whose fields must be strings; an
// empty object or null gives a nil header (allowed for parent_header only).
func decodeHeader(raw []byte, what string, required bool) (*Header, error) {
	if len(raw) == 0 || string(raw) == "null" {
		if required {
			return nil, malformed("%s is missing", what)
		}
		return nil, nil
	}
	if !isObject(raw) {
		return nil, malformed("%s is not an object", what)
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(raw, &fields); err != nil {
		return nil, malformed("%s: %v", what, err)
	}
	if len(fields) == 0 {
		if required {
			return nil, malformed("%s is empty", what)
		}
		return nil, nil
	}
	var h Header
	for k, dst := range map[string]*string{
		"msg_id": &h.MsgID, "msg_type": &h.MsgType, "session": &h.Session,
		"username": &h.Username, "version": &h.Version, "date": &h.Date,
	} {
		v, ok := fields[k]
		if !ok || string(v) == "null" {
			continue
		}
		if err := json.Unmarshal(v, dst); err != nil {
			// jupyter_server's gateway client sends the date as a Unix
			// timestamp (a number); accept numbers for every field.
			var n json.Number
			dec := json.NewDecoder(bytes.NewReader(v))
			dec.UseNumber()
			if dec.Decode(&n) != nil {
				return nil, malformed("%s.%s is not a string", what, k)
			}
			*dst = n.String()
			if f, err := n.Float64(); err == nil && k == "date" && f > 0 && f < 1e11 {
				sec, frac := math.Modf(f)
				*dst = FormatTime(time.Unix(int64(sec), int64(frac*1e9)))
			}
		}
	}
	if required && h.MsgType == "" {
		return nil, malformed("%s has no msg_type", what)
	}
	return &h, nil
}

// assemble checks and stores the decoded parts of a message.
func assemble(channel string, hdr, parent, md, content []byte) (*Message, error) {
	h, err := decodeHeader(hdr, "header", true)
	if err != nil {
		return nil, err
	}
	p, err := decodeHeader(parent, "parent_header", false)
	if err != nil {
		return nil, err
	}
	m := &Message{Channel: channel, Header: *h, ParentHeader: p, Metadata: map[string]any{}}
	if len(md) != 0 && string(md) != "null" {
		if !isObject(md) {
			return nil, malformed("metadata is not an object")
		}
		if err := json.Unmarshal(md, &m.Metadata); err != nil {
			return nil, malformed("metadata: %v", err)
		}
	}
	switch {
	case len(content) == 0 || string(content) == "null":
		m.Content = json.RawMessage("{}")
	case isObject(content):
		m.Content = append(json.RawMessage(nil), content...)
	default:
		return nil, malformed("content is not an object")
	}
	switch m.Channel {
	case "":
		m.Channel = Shell // nbclient's gateway client sends no channel
	case Shell, IOPub, Stdin, Control:
	default:
		return nil, malformed("unknown channel %q", truncate(m.Channel))
	}
	return m, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
