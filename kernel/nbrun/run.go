package nbrun

import (
	"context"
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/wire"
)

// Options configure Run.
type Options struct {
	// Timeout bounds each cell; 0 means no limit. A cell that runs longer
	// is interrupted and reported as an error.
	Timeout time.Duration
	// Progress, if set, is called before each code cell runs (index is
	// 0-based among all cells).
	Progress func(index int, source string)
	// Info is the kernel info recorded in the notebook's metadata.
	Info dispatch.Info
}

// CellError reports the cell that stopped the run.
type CellError struct {
	Index     int // 0-based index among all cells
	CodeIndex int // 1-based among code cells
	EName     string
	EValue    string
	Traceback []string
}

func (e *CellError) Error() string {
	msg := e.EName
	if e.EValue != "" {
		msg += ": " + e.EValue
	}
	return fmt.Sprintf("cell %d (code cell %d) failed: %s", e.Index+1, e.CodeIndex, msg)
}

// collector is the client side of the in-process kernel: it receives the
// replies and iopub messages for the request in flight.
type collector struct {
	msgs chan *wire.Message
}

func (c *collector) Send(m *wire.Message) error {
	c.msgs <- m
	return nil
}

// Run executes the code cells of nb on eng, which it owns and shuts down.
// The notebook is updated in place even when an error is returned.
func Run(ctx context.Context, nb *Notebook, eng dispatch.Engine, opt Options) error {
	col := &collector{msgs: make(chan *wire.Message, 4096)}
	k := dispatch.New(dispatch.Options{Engine: eng, Publish: func(m *wire.Message) { col.msgs <- m }, Info: opt.Info, Logf: func(string, ...any) {}})
	defer k.Close()

	setKernelMetadata(nb, opt.Info)
	// update_display_data changes every output with its display_id, in any
	// cell run so far (as nbclient does), so every cell's outputs are kept.
	shared := &displays{refs: map[string][]displayRef{}, dirty: map[int]bool{}}
	cellOuts := map[int]*outputs{}
	rewriteDirty := func() {
		for c := range shared.dirty {
			if o := cellOuts[c]; o != nil {
				nb.Cells[c].Raw["outputs"] = mustJSON(o.list())
			}
		}
		clear(shared.dirty)
	}
	code := 0
	for i := range nb.Cells {
		cell := &nb.Cells[i]
		if cell.Type() != "code" {
			continue
		}
		code++
		src := cell.Source()
		out := &outputs{cell: i, shared: shared}
		cellOuts[i] = out
		if strings.TrimSpace(src) == "" {
			cell.Raw["outputs"] = json.RawMessage("[]")
			cell.Raw["execution_count"] = json.RawMessage("null")
			continue
		}
		if opt.Progress != nil {
			opt.Progress(i, src)
		}
		reply, err := execute(ctx, k, col, src, opt.Timeout, out)
		cell.Raw["outputs"] = mustJSON(out.list())
		delete(shared.dirty, i)
		rewriteDirty()
		if reply != nil {
			cell.Raw["execution_count"] = mustJSON(reply.ExecutionCount)
		}
		if err != nil {
			return fmt.Errorf("cell %d (code cell %d): %w", i+1, code, err)
		}
		if reply.Status != "ok" {
			return &CellError{Index: i, CodeIndex: code, EName: reply.EName, EValue: reply.EValue, Traceback: reply.Traceback}
		}
	}
	return nil
}

func mustJSON(v any) json.RawMessage {
	b, err := json.Marshal(v)
	if err != nil {
		return json.RawMessage("null")
	}
	return b
}

func setKernelMetadata(nb *Notebook, info dispatch.Info) {
	nb.Metadata["kernelspec"] = map[string]any{"name": "netssm", "display_name": "Go (netssm)", "language": "go"}
	li := map[string]any{"name": "go", "mimetype": "text/x-go", "file_extension": ".go", "pygments_lexer": "go", "codemirror_mode": "go", "nbconvert_exporter": "script"}
	if info.LanguageVersion != "" {
		li["version"] = info.LanguageVersion
	}
	nb.Metadata["language_info"] = li
}

// execute runs one cell and gathers its outputs until the reply and idle.
func execute(ctx context.Context, k *dispatch.Kernel, col *collector, src string, timeout time.Duration, out *outputs) (*wire.ExecuteReply, error) {
	req, err := wire.NewMessage(wire.Shell, "execute_request", wire.NewID(), nil, map[string]any{
		"code": src, "silent": false, "store_history": true, "allow_stdin": false, "stop_on_error": true, "user_expressions": map[string]any{},
	})
	if err != nil {
		return nil, err
	}
	k.Handle(col, req)
	var timer <-chan time.Time
	if timeout > 0 {
		t := time.NewTimer(timeout)
		defer t.Stop()
		timer = t.C
	}
	var reply *wire.ExecuteReply
	idle, timedOut := false, false
	for reply == nil || !idle {
		select {
		case m := <-col.msgs:
			if m.ParentHeader == nil || m.ParentHeader.MsgID != req.Header.MsgID {
				continue
			}
			switch {
			case m.Header.MsgType == "execute_reply":
				reply = &wire.ExecuteReply{}
				if err := json.Unmarshal(m.Content, reply); err != nil {
					return nil, fmt.Errorf("bad execute_reply: %v", err)
				}
			case m.Header.MsgType == "status":
				var s wire.Status
				json.Unmarshal(m.Content, &s)
				if s.ExecutionState == "idle" {
					idle = true
				}
			default:
				out.add(m)
			}
		case <-timer:
			timedOut = true
			timer = nil
			k.Interrupt()
		case <-ctx.Done():
			k.Interrupt()
			return reply, ctx.Err()
		}
	}
	if timedOut && reply.Status != "ok" {
		reply.EName = "Timeout"
		reply.EValue = fmt.Sprintf("the cell ran longer than %v and was interrupted", timeout)
		out.items = append(out.items, map[string]any{"output_type": "error", "ename": reply.EName, "evalue": reply.EValue, "traceback": []string{reply.EName + ": " + reply.EValue}})
	}
	return reply, nil
}

// outputs accumulates one cell's outputs as nbformat output dicts.
type outputs struct {
	items     []map[string]any
	cell      int       // the cell's index in the notebook
	shared    *displays // display_id -> outputs, across the notebook
	clearWait bool
}

// displays maps display_ids to the outputs (of any cell) showing them.
type displays struct {
	refs  map[string][]displayRef
	dirty map[int]bool // cells whose outputs an update changed
}

type displayRef struct {
	cell int
	item map[string]any
}

// clearCell forgets the display outputs of a cell whose outputs were
// cleared (nbclient's clear_display_id_mapping).
func (d *displays) clearCell(cell int) {
	for id, refs := range d.refs {
		kept := refs[:0]
		for _, r := range refs {
			if r.cell != cell {
				kept = append(kept, r)
			}
		}
		d.refs[id] = kept
	}
}

func (o *outputs) reset() {
	o.items = nil
	if o.shared != nil {
		o.shared.clearCell(o.cell)
	}
}

func (o *outputs) list() []map[string]any {
	if o.items == nil {
		return []map[string]any{}
	}
	return o.items
}

func (o *outputs) add(m *wire.Message) {
	var c map[string]any
	if json.Unmarshal(m.Content, &c) != nil {
		return
	}
	t := m.Header.MsgType
	if o.clearWait && t != "clear_output" && t != "update_display_data" {
		o.reset()
		o.clearWait = false
	}
	switch t {
	case "stream":
		name, _ := c["name"].(string)
		text, _ := c["text"].(string)
		if n := len(o.items); n > 0 && o.items[n-1]["output_type"] == "stream" && o.items[n-1]["name"] == name {
			o.items[n-1]["text"] = o.items[n-1]["text"].(string) + text
			return
		}
		o.items = append(o.items, map[string]any{"output_type": "stream", "name": name, "text": text})
	case "display_data":
		item := map[string]any{"output_type": "display_data", "data": obj(c["data"]), "metadata": obj(c["metadata"])}
		o.items = append(o.items, item)
		if id := displayID(c); id != "" && o.shared != nil {
			o.shared.refs[id] = append(o.shared.refs[id], displayRef{o.cell, item})
		}
	case "update_display_data":
		if o.shared == nil {
			return
		}
		for _, r := range o.shared.refs[displayID(c)] {
			r.item["data"] = obj(c["data"])
			r.item["metadata"] = obj(c["metadata"])
			if r.cell != o.cell {
				o.shared.dirty[r.cell] = true
			}
		}
	case "execute_result":
		o.items = append(o.items, map[string]any{"output_type": "execute_result", "data": obj(c["data"]), "metadata": obj(c["metadata"]), "execution_count": c["execution_count"]})
	case "error":
		tb, _ := c["traceback"].([]any)
		if tb == nil {
			tb = []any{}
		}
		o.items = append(o.items, map[string]any{"output_type": "error", "ename": c["ename"], "evalue": c["evalue"], "traceback": tb})
	case "clear_output":
		if w, _ := c["wait"].(bool); w {
			o.clearWait = true
		} else {
			o.reset()
		}
	}
}

func obj(v any) map[string]any {
	if m, ok := v.(map[string]any); ok {
		return m
	}
	return map[string]any{}
}

func displayID(c map[string]any) string {
	t, _ := c["transient"].(map[string]any)
	id, _ := t["display_id"].(string)
	return id
}
