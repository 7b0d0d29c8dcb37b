package dispatch

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/netssm/netssm/kernel/wire"
)

// Version is the implementation version reported in kernel_info_reply.
var Version = "0.1.0"

func (k *Kernel) kernelInfo(conn Conn, m *wire.Message) {
	i := k.opt.Info
	banner := i.Banner
	if banner == "" {
		banner = "netssm Go kernel (yaegi, Go " + i.LanguageVersion + ")"
	}
	iv := i.ImplementationVersion
	if iv == "" {
		iv = Version
	}
	k.reply(conn, m, wire.KernelInfoReply{
		Status:                "ok",
		ProtocolVersion:       wire.ProtocolVersion,
		Implementation:        i.Implementation,
		ImplementationVersion: iv,
		LanguageInfo: wire.LanguageInfo{
			Name: "go", Version: i.LanguageVersion, Mimetype: "text/x-go", FileExtension: ".go",
			PygmentsLexer: "go", CodemirrorMode: "go", NbconvertExporter: "script",
		},
		Banner:    banner,
		HelpLinks: []wire.HelpLink{{Text: "Go standard library", URL: "https://pkg.go.dev/std"}},
	})
}

func (k *Kernel) complete(conn Conn, m *wire.Message) {
	var req wire.CompleteRequest
	if err := wire.DecodeContent(m, &req); err != nil {
		k.replyError(conn, m, "BadRequest", err.Error())
		return
	}
	cur := wire.CursorToByte(req.Code, req.CursorPos)
	ctx, done := k.beginCall()
	matches, start, end, err := k.eng.Complete(ctx, req.Code, cur)
	done()
	if err != nil {
		ce := asCellError(err)
		k.replyError(conn, m, ce.EName, ce.EValue)
		return
	}
	start, end = clamp(start, len(req.Code)), clamp(end, len(req.Code))
	if start > end {
		start = end
	}
	if matches == nil {
		matches = []string{}
	}
	k.reply(conn, m, wire.CompleteReply{
		Status: "ok", Matches: matches,
		CursorStart: wire.ByteToCursor(req.Code, start), CursorEnd: wire.ByteToCursor(req.Code, end),
		Metadata: map[string]any{},
	})
}

func clamp(v, n int) int {
	if v < 0 {
		return 0
	}
	if v > n {
		return n
	}
	return v
}

func (k *Kernel) inspect(conn Conn, m *wire.Message) {
	var req wire.InspectRequest
	if err := wire.DecodeContent(m, &req); err != nil {
		k.replyError(conn, m, "BadRequest", err.Error())
		return
	}
	ctx, done := k.beginCall()
	data, found, err := k.eng.Inspect(ctx, req.Code, wire.CursorToByte(req.Code, req.CursorPos), req.DetailLevel)
	done()
	if err != nil {
		ce := asCellError(err)
		k.replyError(conn, m, ce.EName, ce.EValue)
		return
	}
	k.reply(conn, m, wire.InspectReply{Status: "ok", Found: found, Data: nonNil(data), Metadata: map[string]any{}})
}

func (k *Kernel) isComplete(conn Conn, m *wire.Message) {
	var req wire.IsCompleteRequest
	if err := wire.DecodeContent(m, &req); err != nil {
		k.replyError(conn, m, "BadRequest", err.Error())
		return
	}
	ctx, done := k.beginCall()
	status, indent, err := k.eng.IsComplete(ctx, req.Code)
	done()
	if err != nil {
		k.reply(conn, m, wire.IsCompleteReply{Status: "unknown"})
		return
	}
	switch status {
	case "complete", "invalid", "unknown":
		indent = ""
	case "incomplete":
	default:
		status, indent = "unknown", ""
	}
	k.reply(conn, m, wire.IsCompleteReply{Status: status, Indent: indent})
}

type histEntry struct {
	session, line int
	input, output string
}

// maxHistory bounds the history kept in memory per kernel.
const maxHistory = 10000

func (k *Kernel) addHistory(e histEntry) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.history = append(k.history, e)
	if len(k.history) > maxHistory {
		k.history = append(k.history[:0:0], k.history[len(k.history)-maxHistory:]...)
	}
}

func (k *Kernel) historyReq(conn Conn, m *wire.Message) {
	var req wire.HistoryRequest
	if err := wire.DecodeContent(m, &req); err != nil {
		k.replyError(conn, m, "BadRequest", err.Error())
		return
	}
	k.mu.Lock()
	all := append([]histEntry(nil), k.history...)
	cur := k.sessNum
	k.mu.Unlock()
	var sel []histEntry
	switch req.HistAccessType {
	case "tail", "":
		sel = all
		if req.N > 0 && len(sel) > req.N {
			sel = sel[len(sel)-req.N:]
		}
	case "range":
		s := req.Session
		if s <= 0 {
			s = cur + s // 0 is the current session, negative counts back
		}
		for _, e := range all {
			if e.session == s && e.line >= req.Start && (req.Stop <= 0 || e.line < req.Stop) {
				sel = append(sel, e)
			}
		}
	case "search":
		pat := req.Pattern
		if pat == "" {
			pat = "*"
		}
		seen := map[string]bool{}
		for i := len(all) - 1; i >= 0; i-- { // newest first for unique and n
			e := all[i]
			if ok, err := path.Match(pat, e.input); err != nil {
				k.replyError(conn, m, "BadRequest", fmt.Sprintf("history pattern %q: %v", pat, err))
				return
			} else if !ok {
				continue
			}
			if req.Unique {
				if seen[e.input] {
					continue
				}
				seen[e.input] = true
			}
			sel = append(sel, e)
			if req.N > 0 && len(sel) == req.N {
				break
			}
		}
		for i, j := 0, len(sel)-1; i < j; i, j = i+1, j-1 {
			sel[i], sel[j] = sel[j], sel[i]
		}
	default:
		k.replyError(conn, m, "BadRequest", fmt.Sprintf("unknown hist_access_type %q", req.HistAccessType))
		return
	}
	out := make([][]any, 0, len(sel))
	for _, e := range sel {
		if req.Output {
			out = append(out, []any{e.session, e.line, []any{e.input, e.output}})
		} else {
			out = append(out, []any{e.session, e.line, e.input})
		}
	}
	k.reply(conn, m, wire.HistoryReply{Status: "ok", History: out})
}

// handleControl handles interrupt_request and shutdown_request (and any
// request sent on the control channel).
func (k *Kernel) handleControl(conn Conn, m *wire.Message) {
	switch m.Header.MsgType {
	case "interrupt_request":
		err := k.Interrupt()
		if err != nil {
			k.replyError(conn, m, "InterruptFailed", err.Error())
			return
		}
		k.reply(conn, m, wire.ReplyStatus{Status: "ok"})
	case "shutdown_request":
		var req wire.ShutdownRequest
		if err := wire.DecodeContent(m, &req); err != nil {
			k.replyError(conn, m, "BadRequest", err.Error())
			return
		}
		if req.Restart {
			if err := k.restart(context.Background(), &m.Header, false); err != nil {
				k.replyError(conn, m, "RestartFailed", err.Error())
				return
			}
			k.reply(conn, m, wire.ShutdownRequest{Status: "ok", Restart: true})
			return
		}
		k.reply(conn, m, wire.ShutdownRequest{Status: "ok", Restart: false})
		err := k.Close()
		k.publish(&m.Header, "status", wire.Status{ExecutionState: string(Dead)})
		if err != nil {
			k.opt.Logf("netssm kernel: shutdown: %v", err)
		}
		if k.opt.OnShutdown != nil {
			k.opt.OnShutdown()
		}
	case "kernel_info_request":
		k.setBusyIdle(m, func() { k.kernelInfo(conn, m) })
	default:
		if strings.HasSuffix(m.Header.MsgType, "_request") {
			k.replyError(conn, m, "UnknownMessageType", fmt.Sprintf("netssm does not handle %q on control", m.Header.MsgType))
		}
	}
}
