// Command kernelrt measures a Jupyter kernel server from the client side,
// the same way for any server that speaks the Jupyter Server REST and
// websocket API (netssm kernel, or jupyter-server with ipykernel):
//
//   - kernel start: POST /api/kernels, open the websocket, and wait for
//     the kernel_info_reply (the kernel can run a cell then);
//   - round trip of a trivial execute_request: send it, wait for the
//     execute_reply and the idle status.
//
// It prints one JSON object with the median, p90, p99 and max in ms.
//
//	kernelrt -url http://127.0.0.1:8888 -token T [-n 1000] [-starts 10] [-framing legacy|v1] [-code 1+1]
package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/coder/websocket"

	"github.com/netssm/netssm/kernel/wire"
)

type client struct {
	base, token string
	v1          bool
}

func (c *client) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "token "+c.token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if resp.StatusCode >= 300 {
		return nil, fmt.Errorf("%s %s: %s: %s", method, path, resp.Status, b)
	}
	return b, err
}

type conn struct {
	ws      *websocket.Conn
	v1      bool
	session string
}

func (c *client) dial(ctx context.Context, id string) (*conn, error) {
	u := "ws" + strings.TrimPrefix(c.base, "http") + "/api/kernels/" + id + "/channels?session_id=" + wire.NewID()
	opt := &websocket.DialOptions{HTTPHeader: http.Header{"Authorization": {"token " + c.token}}}
	if c.v1 {
		opt.Subprotocols = []string{wire.V1Protocol}
	}
	ws, _, err := websocket.Dial(ctx, u, opt)
	if err != nil {
		return nil, err
	}
	ws.SetReadLimit(wire.MaxFrame)
	return &conn{ws: ws, v1: ws.Subprotocol() == wire.V1Protocol, session: wire.NewID()}, nil
}

// request sends one request and reads until its reply and idle status.
func (k *conn) request(ctx context.Context, msgType string, content any) error {
	m, err := wire.NewMessage(wire.Shell, msgType, k.session, nil, content)
	if err != nil {
		return err
	}
	var frame []byte
	typ := websocket.MessageText
	if k.v1 {
		frame, err = wire.EncodeV1(m)
		typ = websocket.MessageBinary
	} else {
		frame, _, err = wire.EncodeJSON(m)
	}
	if err != nil {
		return err
	}
	if err := k.ws.Write(ctx, typ, frame); err != nil {
		return err
	}
	replied, idle := false, false
	rt := wire.ReplyType(msgType)
	for !replied || !idle {
		t, data, err := k.ws.Read(ctx)
		if err != nil {
			return err
		}
		var r *wire.Message
		switch {
		case t == websocket.MessageText:
			r, err = wire.DecodeJSON(data)
		case k.v1:
			r, err = wire.DecodeV1(data)
		default:
			r, err = wire.DecodeLegacyBinary(data)
		}
		if err != nil {
			return err
		}
		if r.ParentHeader == nil || r.ParentHeader.MsgID != m.Header.MsgID {
			continue
		}
		switch {
		case r.Header.MsgType == rt:
			replied = true
			if rt == "execute_reply" && !bytes.Contains(r.Content, []byte(`"ok"`)) {
				return fmt.Errorf("execute_reply: %s", r.Content)
			}
		case r.Header.MsgType == "status" && bytes.Contains(r.Content, []byte(`"idle"`)):
			idle = true
		}
	}
	return nil
}

func (c *client) startKernel(ctx context.Context, name string) (string, *conn, error) {
	b, err := c.do(ctx, "POST", "/api/kernels", map[string]any{"name": name})
	if err != nil {
		return "", nil, err
	}
	var model struct{ ID string }
	if err := json.Unmarshal(b, &model); err != nil || model.ID == "" {
		return "", nil, fmt.Errorf("bad kernel model %s: %v", b, err)
	}
	k, err := c.dial(ctx, model.ID)
	if err != nil {
		return model.ID, nil, err
	}
	// Like JupyterLab: kernel_info first; retry while the kernel boots.
	for i := 0; ; i++ {
		rctx, cancel := context.WithTimeout(ctx, time.Second)
		err = k.request(rctx, "kernel_info_request", nil)
		cancel()
		if err == nil || i == 60 || ctx.Err() != nil {
			break
		}
		if errors.Is(err, context.DeadlineExceeded) {
			k.ws.CloseNow()
			if k, err = c.dial(ctx, model.ID); err != nil {
				break
			}
		}
	}
	return model.ID, k, err
}

type stats struct {
	N                           int
	Median, P90, P99, Max, Mean float64
}

func summarize(d []time.Duration) stats {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	ms := func(x time.Duration) float64 { return float64(x.Microseconds()) / 1000 }
	q := func(p float64) float64 { return ms(d[min(len(d)-1, int(p*float64(len(d))))]) }
	var sum time.Duration
	for _, x := range d {
		sum += x
	}
	return stats{N: len(d), Median: q(0.5), P90: q(0.9), P99: q(0.99), Max: ms(d[len(d)-1]), Mean: ms(sum / time.Duration(len(d)))}
}

func main() {
	url := flag.String("url", "", "server base URL, e.g. http://127.0.0.1:8888")
	token := flag.String("token", "", "API token")
	name := flag.String("kernel", "", "kernelspec name (default: the server's default)")
	n := flag.Int("n", 1000, "execute round trips to time")
	warm := flag.Int("warmup", 50, "untimed round trips first")
	starts := flag.Int("starts", 10, "kernel starts to time")
	framing := flag.String("framing", "legacy", "websocket framing: legacy or v1")
	code := flag.String("code", "1+1", "the trivial cell")
	label := flag.String("label", "", "label in the output")
	timeout := flag.Duration("timeout", 5*time.Minute, "overall limit")
	flag.Parse()
	if *url == "" || *n < 1 || *starts < 1 || (*framing != "legacy" && *framing != "v1") {
		flag.Usage()
		os.Exit(2)
	}
	ctx, cancel := context.WithTimeout(context.Background(), *timeout)
	defer cancel()
	c := &client{base: strings.TrimRight(*url, "/"), token: *token, v1: *framing == "v1"}
	if err := run(ctx, c, *name, *n, *warm, *starts, *code, *label, *framing); err != nil {
		fmt.Fprintln(os.Stderr, "kernelrt:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, c *client, name string, n, warm, starts int, code, label, framing string) error {
	if name == "" {
		b, err := c.do(ctx, "GET", "/api/kernelspecs", nil)
		if err != nil {
			return err
		}
		var specs struct{ Default string }
		json.Unmarshal(b, &specs)
		name = specs.Default
	}
	var startTimes []time.Duration
	for i := 0; i < starts; i++ {
		t0 := time.Now()
		id, k, err := c.startKernel(ctx, name)
		if err != nil {
			return fmt.Errorf("start kernel: %w", err)
		}
		startTimes = append(startTimes, time.Since(t0))
		k.ws.Close(websocket.StatusNormalClosure, "")
		if _, err := c.do(ctx, "DELETE", "/api/kernels/"+id, nil); err != nil {
			return err
		}
	}
	id, k, err := c.startKernel(ctx, name)
	if err != nil {
		return err
	}
	defer c.do(context.Background(), "DELETE", "/api/kernels/"+id, nil)
	exec := map[string]any{"code": code, "silent": false, "store_history": true, "user_expressions": map[string]any{}, "allow_stdin": false, "stop_on_error": true}
	for i := 0; i < warm; i++ {
		if err := k.request(ctx, "execute_request", exec); err != nil {
			return err
		}
	}
	rts := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		t0 := time.Now()
		if err := k.request(ctx, "execute_request", exec); err != nil {
			return err
		}
		rts = append(rts, time.Since(t0))
	}
	k.ws.Close(websocket.StatusNormalClosure, "")
	out, _ := json.Marshal(map[string]any{"label": label, "kernel": name, "framing": framing, "negotiated_v1": k.v1,
		"execute_roundtrip_ms": summarize(rts), "kernel_start_ms": summarize(startTimes)})
	fmt.Println(string(out))
	return nil
}
