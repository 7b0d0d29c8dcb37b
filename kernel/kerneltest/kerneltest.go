package kerneltest

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/netssm/netssm/kernel/server"
	"github.com/netssm/netssm/kernel/wire"
)

// Server is a kernel server listening on 127.0.0.1 on an ephemeral port.
type Server struct {
	*server.Server
	URL   string // http://127.0.0.1:PORT
	Token string
	hs    *httptest.Server
}

// NewServer starts a server with opt (a random token when opt.Token is
// empty). It is closed when the test ends.
func NewServer(t testing.TB, opt server.Options) *Server {
	t.Helper()
	if opt.Token == "" {
		opt.Token = wire.NewID()
	}
	return newServer(t, opt)
}

// NewUnauthenticatedServer is NewServer without a token (what
// `netssm kernel -token ”` serves).
func NewUnauthenticatedServer(t testing.TB, opt server.Options) *Server {
	t.Helper()
	opt.Token = ""
	return newServer(t, opt)
}

func newServer(t testing.TB, opt server.Options) *Server {
	if opt.Logf == nil {
		opt.Logf = t.Logf
	}
	s := server.New(opt)
	hs := httptest.NewServer(s)
	ts := &Server{Server: s, URL: hs.URL, Token: opt.Token, hs: hs}
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Logf("kerneltest: close: %v", err)
		}
		hs.CloseClientConnections()
		hs.Close()
	})
	return ts
}

// Do sends a REST request with the token and decodes a JSON reply into out
// (unless nil). It returns the status code.
func (s *Server) Do(method, path string, body, out any) (int, error) {
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return 0, err
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, s.URL+path, rd)
	if err != nil {
		return 0, err
	}
	req.Header.Set("Authorization", "token "+s.Token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		return resp.StatusCode, err
	}
	if out != nil && len(b) > 0 {
		if err := json.Unmarshal(b, out); err != nil {
			return resp.StatusCode, fmt.Errorf("%s %s: %w: %s", method, path, err, b)
		}
	}
	return resp.StatusCode, nil
}

// StartKernel starts a kernel over REST and returns its id.
func (s *Server) StartKernel(t testing.TB) string {
	t.Helper()
	var m server.Model
	code, err := s.Do("POST", "/api/kernels", map[string]any{"name": "netssm"}, &m)
	if err != nil || code != http.StatusCreated {
		t.Fatalf("POST /api/kernels: %d %v", code, err)
	}
	return m.ID
}

// Client is one websocket connection to a kernel.
type Client struct {
	c       *websocket.Conn
	V1      bool // the v1 framing was negotiated
	session string

	mu   sync.Mutex
	msgs []*wire.Message
	cond *sync.Cond
	err  error
}

// Dial connects to kernel id; v1 offers the v1 subprotocol.
func (s *Server) Dial(ctx context.Context, id string, v1 bool) (*Client, error) {
	u := "ws" + strings.TrimPrefix(s.URL, "http") + "/api/kernels/" + id + "/channels?session_id=" + wire.NewID()
	opt := &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"token " + s.Token}}}
	if v1 {
		opt.Subprotocols = []string{wire.V1Protocol}
	}
	c, _, err := websocket.Dial(ctx, u, opt)
	if err != nil {
		return nil, err
	}
	c.SetReadLimit(wire.MaxFrame)
	cl := &Client{c: c, V1: c.Subprotocol() == wire.V1Protocol, session: wire.NewID()}
	cl.cond = sync.NewCond(&cl.mu)
	go cl.readLoop()
	return cl, nil
}

// Conn is the underlying websocket (for sending raw frames).
func (c *Client) Conn() *websocket.Conn { return c.c }

// Close closes the connection.
func (c *Client) Close() error { return c.c.Close(websocket.StatusNormalClosure, "") }

func (c *Client) readLoop() {
	for {
		typ, data, err := c.c.Read(context.Background())
		var m *wire.Message
		if err == nil {
			switch {
			case typ == websocket.MessageText:
				m, err = wire.DecodeJSON(data)
			case c.V1:
				m, err = wire.DecodeV1(data)
			default:
				m, err = wire.DecodeLegacyBinary(data)
			}
		}
		c.mu.Lock()
		if err != nil {
			c.err = err
			c.cond.Broadcast()
			c.mu.Unlock()
			return
		}
		c.msgs = append(c.msgs, m)
		c.cond.Broadcast()
		c.mu.Unlock()
	}
}

// Err returns the error that ended the connection, if it ended.
func (c *Client) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Send sends a request and returns it.
func (c *Client) Send(ctx context.Context, channel, msgType string, content any) (*wire.Message, error) {
	m, err := wire.NewMessage(channel, msgType, c.session, nil, content)
	if err != nil {
		return nil, err
	}
	return m, c.SendMsg(ctx, m)
}

// SendMsg sends m in the connection's framing.
func (c *Client) SendMsg(ctx context.Context, m *wire.Message) error {
	if c.V1 {
		b, err := wire.EncodeV1(m)
		if err != nil {
			return err
		}
		return c.c.Write(ctx, websocket.MessageBinary, b)
	}
	b, bin, err := wire.EncodeJSON(m)
	if err != nil {
		return err
	}
	typ := websocket.MessageText
	if bin {
		typ = websocket.MessageBinary
	}
	return c.c.Write(ctx, typ, b)
}

// Wait returns the first message received for which match is true,
// waiting until ctx is done.
func (c *Client) Wait(ctx context.Context, match func(*wire.Message) bool) (*wire.Message, error) {
	return c.waitFrom(ctx, 0, match)
}

// mark returns the number of messages received so far.
func (c *Client) mark() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.msgs)
}

func (c *Client) waitFrom(ctx context.Context, from int, match func(*wire.Message) bool) (*wire.Message, error) {
	stop := context.AfterFunc(ctx, func() {
		c.mu.Lock()
		c.cond.Broadcast()
		c.mu.Unlock()
	})
	defer stop()
	c.mu.Lock()
	defer c.mu.Unlock()
	for i := from; ; {
		for ; i < len(c.msgs); i++ {
			if match(c.msgs[i]) {
				return c.msgs[i], nil
			}
		}
		if c.err != nil {
			return nil, fmt.Errorf("connection ended: %w", c.err)
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		c.cond.Wait()
	}
}

// Children returns the messages received so far in reply to parent.
func (c *Client) Children(parent *wire.Message) []*wire.Message {
	return c.childrenFrom(0, parent)
}

func (c *Client) childrenFrom(from int, parent *wire.Message) []*wire.Message {
	c.mu.Lock()
	defer c.mu.Unlock()
	var out []*wire.Message
	for _, m := range c.msgs[from:] {
		if m.ParentHeader != nil && m.ParentHeader.MsgID == parent.Header.MsgID {
			out = append(out, m)
		}
	}
	return out
}

// Reply is the outcome of a request: its reply and the iopub messages in
// response to it, up to the idle status.
type Reply struct {
	Reply *wire.Message
	IOPub []*wire.Message
}

// Content decodes the reply's content.
func (r *Reply) Content() map[string]any {
	var c map[string]any
	json.Unmarshal(r.Reply.Content, &c)
	return c
}

// Request sends a request and waits for its reply and the idle status.
func (c *Client) Request(ctx context.Context, channel, msgType string, content any) (*Reply, error) {
	from := c.mark()
	m, err := c.Send(ctx, channel, msgType, content)
	if err != nil {
		return nil, err
	}
	return c.await(ctx, from, m)
}

// Await waits for the reply to m and the idle status that follows it.
func (c *Client) Await(ctx context.Context, m *wire.Message) (*Reply, error) {
	return c.await(ctx, 0, m)
}

func (c *Client) await(ctx context.Context, from int, m *wire.Message) (*Reply, error) {
	child := func(x *wire.Message) bool { return x.ParentHeader != nil && x.ParentHeader.MsgID == m.Header.MsgID }
	rt := wire.ReplyType(m.Header.MsgType)
	reply, err := c.waitFrom(ctx, from, func(x *wire.Message) bool { return child(x) && x.Header.MsgType == rt })
	if err != nil {
		return nil, fmt.Errorf("waiting for %s: %w", rt, err)
	}
	if _, err := c.waitFrom(ctx, from, func(x *wire.Message) bool {
		return child(x) && x.Header.MsgType == "status" && strings.Contains(string(x.Content), `"idle"`)
	}); err != nil {
		return nil, fmt.Errorf("waiting for idle after %s: %w", m.Header.MsgType, err)
	}
	r := &Reply{Reply: reply}
	for _, x := range c.childrenFrom(from, m) {
		if x.Channel == wire.IOPub {
			r.IOPub = append(r.IOPub, x)
		}
	}
	return r, nil
}

// Execute runs code and waits for the reply and idle.
func (c *Client) Execute(ctx context.Context, code string) (*Reply, error) {
	return c.Request(ctx, wire.Shell, "execute_request", map[string]any{"code": code, "silent": false, "store_history": true, "allow_stdin": false, "stop_on_error": true, "user_expressions": map[string]any{}})
}

// Timeout is a convenient per-test deadline.
func Timeout(t testing.TB, d time.Duration) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	t.Cleanup(cancel)
	return ctx
}
