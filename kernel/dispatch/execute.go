package dispatch

import (
	"context"
	"errors"
	"sort"

	"github.com/netssm/netssm/kernel/wire"
)

func (k *Kernel) execute(conn Conn, m *wire.Message) {
	var req wire.ExecuteRequest
	if err := wire.DecodeContent(m, &req); err != nil {
		k.replyError(conn, m, "BadRequest", err.Error())
		return
	}
	store := req.StoresHistory()
	k.mu.Lock()
	if store {
		k.count++
	}
	n := k.count
	sessNum := k.sessNum
	k.mu.Unlock()
	if !req.Silent {
		k.publish(&m.Header, "execute_input", wire.ExecuteInput{Code: req.Code, ExecutionCount: n})
	}

	h := Handler{
		Stream: func(name, text string) {
			if name != "stderr" {
				name = "stdout"
			}
			k.publish(&m.Header, "stream", wire.Stream{Name: name, Text: text})
		},
		Display: func(d Display) { k.display(&m.Header, d) },
	}
	ctx, done := k.beginCall()
	if req.StdinAllowed() {
		h.Input = func(prompt string, password bool) (string, error) {
			return k.requestInput(ctx, conn, m, prompt, password)
		}
	}
	d := k.eng.Done()
	res, err := k.eng.Execute(ctx, req.Code, h)
	interrupted := ctx.Err() != nil
	done()

	var output string
	if err == nil && res != nil && !req.Silent {
		k.publish(&m.Header, "execute_result", wire.ExecuteResult{ExecutionCount: n, Data: nonNil(res.Data), Metadata: nonNil(res.Metadata)})
		if s, ok := res.Data["text/plain"].(string); ok {
			output = s
		}
	}
	if store {
		k.addHistory(histEntry{session: sessNum, line: n, input: req.Code, output: output})
	}
	if err != nil {
		if interrupted && !errors.As(err, new(*CellError)) && !errors.As(err, new(*DiedError)) {
			err = context.Canceled
		}
		ce := asCellError(err)
		k.publish(&m.Header, "error", wire.ErrorContent{EName: ce.EName, EValue: ce.EValue, Traceback: nonNilStrings(ce.Traceback)})
		if req.StopsOnError() {
			k.mu.Lock()
			k.abortUpTo = k.seq
			k.mu.Unlock()
		}
		k.reply(conn, m, wire.ExecuteReply{Status: "error", ExecutionCount: n, EName: ce.EName, EValue: ce.EValue, Traceback: nonNilStrings(ce.Traceback)})
		var de *DiedError
		if errors.As(err, &de) || isClosed(d) {
			if err := k.restartAfterDeath(context.Background(), &m.Header, d); err != nil {
				k.opt.Logf("netssm kernel: %v", err)
			}
		}
		return
	}
	k.reply(conn, m, wire.ExecuteReply{Status: "ok", ExecutionCount: n, UserExpr: k.userExpressions(req.UserExpressions), Payload: []any{}})
}

func isClosed(c <-chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// userExpressions evaluates each expression silently after a successful
// cell, as ipykernel does, and returns their MIME bundles or errors.
func (k *Kernel) userExpressions(exprs map[string]string) map[string]any {
	out := map[string]any{}
	names := make([]string, 0, len(exprs))
	for name := range exprs {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		ctx, done := k.beginCall()
		res, err := k.eng.Execute(ctx, exprs[name], Handler{})
		done()
		switch {
		case err != nil:
			ce := asCellError(err)
			out[name] = map[string]any{"status": "error", "ename": ce.EName, "evalue": ce.EValue, "traceback": nonNilStrings(ce.Traceback)}
		case res == nil:
			out[name] = map[string]any{"status": "ok", "data": map[string]any{"text/plain": ""}, "metadata": map[string]any{}}
		default:
			out[name] = map[string]any{"status": "ok", "data": nonNil(res.Data), "metadata": nonNil(res.Metadata)}
		}
	}
	return out
}

func (k *Kernel) display(parent *wire.Header, d Display) {
	switch {
	case d.Clear:
		k.publish(parent, "clear_output", wire.ClearOutput{Wait: d.Wait})
	case d.Update:
		k.publish(parent, "update_display_data", wire.DisplayData{Data: nonNil(d.Data), Metadata: nonNil(d.Metadata), Transient: nonNil(d.Transient)})
	default:
		k.publish(parent, "display_data", wire.DisplayData{Data: nonNil(d.Data), Metadata: nonNil(d.Metadata), Transient: d.Transient})
	}
}

// requestInput sends input_request on stdin to the client that sent the
// execute_request and waits for its input_reply or an interrupt.
func (k *Kernel) requestInput(ctx context.Context, conn Conn, m *wire.Message, prompt string, password bool) (string, error) {
	ch := make(chan string, 1)
	k.mu.Lock()
	if k.input != nil {
		k.mu.Unlock()
		return "", errors.New("another input request is pending")
	}
	k.input = ch
	k.mu.Unlock()
	defer func() {
		k.mu.Lock()
		k.input = nil
		k.mu.Unlock()
	}()
	msg, err := wire.NewMessage(wire.Stdin, "input_request", k.Session(), &m.Header, wire.InputRequest{Prompt: prompt, Password: password})
	if err != nil {
		return "", err
	}
	if err := conn.Send(msg); err != nil {
		return "", errors.New("the client that ran this cell is gone: no input")
	}
	select {
	case v := <-ch:
		return v, nil
	case <-ctx.Done():
		return "", errors.New("input interrupted")
	}
}

func (k *Kernel) handleInputReply(m *wire.Message) {
	if m.Header.MsgType != "input_reply" {
		k.opt.Logf("netssm kernel: unexpected %s on stdin", m.Header.MsgType)
		return
	}
	var r wire.InputReply
	if err := wire.DecodeContent(m, &r); err != nil {
		k.opt.Logf("netssm kernel: %v", err)
		return
	}
	k.mu.Lock()
	ch := k.input
	k.mu.Unlock()
	if ch == nil {
		k.opt.Logf("netssm kernel: input_reply without a pending input_request")
		return
	}
	select {
	case ch <- r.Value:
	default:
	}
}

func nonNil(m map[string]any) map[string]any {
	if m == nil {
		return map[string]any{}
	}
	return m
}

func nonNilStrings(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}
