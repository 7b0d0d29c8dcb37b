package wire

import (
	"encoding/json"
	"fmt"
)

// Requests (client to kernel). Spec: jupyter-client "Messaging in Jupyter".

// ExecuteRequest is the content of execute_request.
type ExecuteRequest struct {
	Code            string            `json:"code"`
	Silent          bool              `json:"silent"`
	StoreHistory    *bool             `json:"store_history,omitempty"` // default true (false when silent)
	UserExpressions map[string]string `json:"user_expressions,omitempty"`
	AllowStdin      *bool             `json:"allow_stdin,omitempty"`   // default true
	StopOnError     *bool             `json:"stop_on_error,omitempty"` // default true
}

// StoresHistory reports whether the request increments execution_count
// and is kept in history.
func (r *ExecuteRequest) StoresHistory() bool {
	if r.Silent {
		return false
	}
	return r.StoreHistory == nil || *r.StoreHistory
}

// StdinAllowed reports allow_stdin (default true).
func (r *ExecuteRequest) StdinAllowed() bool { return r.AllowStdin == nil || *r.AllowStdin }

// StopsOnError reports stop_on_error (default true).
func (r *ExecuteRequest) StopsOnError() bool { return r.StopOnError == nil || *r.StopOnError }

// CompleteRequest is the content of complete_request.
type CompleteRequest struct {
	Code      string `json:"code"`
	CursorPos int    `json:"cursor_pos"`
}

// InspectRequest is the content of inspect_request.
type InspectRequest struct {
	Code        string `json:"code"`
	CursorPos   int    `json:"cursor_pos"`
	DetailLevel int    `json:"detail_level"`
}

// IsCompleteRequest is the content of is_complete_request.
type IsCompleteRequest struct {
	Code string `json:"code"`
}

// HistoryRequest is the content of history_request.
type HistoryRequest struct {
	Output         bool   `json:"output"`
	Raw            bool   `json:"raw"`
	HistAccessType string `json:"hist_access_type"` // range | tail | search
	Session        int    `json:"session"`
	Start          int    `json:"start"`
	Stop           int    `json:"stop"`
	N              int    `json:"n"`
	Pattern        string `json:"pattern"`
	Unique         bool   `json:"unique"`
}

// CommInfoRequest is the content of comm_info_request.
type CommInfoRequest struct {
	TargetName string `json:"target_name,omitempty"`
}

// CommOpen is the content of comm_open (either direction).
type CommOpen struct {
	CommID     string         `json:"comm_id"`
	TargetName string         `json:"target_name"`
	Data       map[string]any `json:"data"`
}

// CommMsg is the content of comm_msg and comm_close.
type CommMsg struct {
	CommID string         `json:"comm_id"`
	Data   map[string]any `json:"data"`
}

// ShutdownRequest is the content of shutdown_request and shutdown_reply.
type ShutdownRequest struct {
	Status  string `json:"status,omitempty"`
	Restart bool   `json:"restart"`
}

// InputReply is the content of input_reply.
type InputReply struct {
	Value string `json:"value"`
}

// Replies and broadcasts (kernel to client).

// ReplyStatus is embedded in replies: status is ok, error or aborted.
type ReplyStatus struct {
	Status string `json:"status"`
}

// ErrorContent is the content of an error message on iopub, and the error
// fields of a reply with status "error".
type ErrorContent struct {
	EName     string   `json:"ename"`
	EValue    string   `json:"evalue"`
	Traceback []string `json:"traceback"`
}

// ExecuteReply is the content of execute_reply.
type ExecuteReply struct {
	Status         string         `json:"status"`
	ExecutionCount int            `json:"execution_count"`
	UserExpr       map[string]any `json:"user_expressions,omitempty"`
	Payload        []any          `json:"payload,omitempty"`
	EName          string         `json:"ename,omitempty"`
	EValue         string         `json:"evalue,omitempty"`
	Traceback      []string       `json:"traceback,omitempty"`
}

// LanguageInfo describes the kernel's language in kernel_info_reply.
type LanguageInfo struct {
	Name              string `json:"name"`
	Version           string `json:"version"`
	Mimetype          string `json:"mimetype"`
	FileExtension     string `json:"file_extension"`
	PygmentsLexer     string `json:"pygments_lexer"`
	CodemirrorMode    string `json:"codemirror_mode"`
	NbconvertExporter string `json:"nbconvert_exporter"`
}

// HelpLink is one entry of kernel_info_reply.help_links.
type HelpLink struct {
	Text string `json:"text"`
	URL  string `json:"url"`
}

// KernelInfoReply is the content of kernel_info_reply.
type KernelInfoReply struct {
	Status                string       `json:"status"`
	ProtocolVersion       string       `json:"protocol_version"`
	Implementation        string       `json:"implementation"`
	ImplementationVersion string       `json:"implementation_version"`
	LanguageInfo          LanguageInfo `json:"language_info"`
	Banner                string       `json:"banner"`
	Debugger              bool         `json:"debugger"`
	HelpLinks             []HelpLink   `json:"help_links"`
}

// CompleteReply is the content of complete_reply.
type CompleteReply struct {
	Status      string         `json:"status"`
	Matches     []string       `json:"matches"`
	CursorStart int            `json:"cursor_start"`
	CursorEnd   int            `json:"cursor_end"`
	Metadata    map[string]any `json:"metadata"`
}

// InspectReply is the content of inspect_reply.
type InspectReply struct {
	Status   string         `json:"status"`
	Found    bool           `json:"found"`
	Data     map[string]any `json:"data"`
	Metadata map[string]any `json:"metadata"`
}

// IsCompleteReply is the content of is_complete_reply.
type IsCompleteReply struct {
	Status string `json:"status"` // complete | incomplete | invalid | unknown
	Indent string `json:"indent,omitempty"`
}

// HistoryReply is the content of history_reply. Each entry is
// [session, line, input] or [session, line, [input, output]].
type HistoryReply struct {
	Status  string  `json:"status"`
	History [][]any `json:"history"`
}

// CommInfoReply is the content of comm_info_reply.
type CommInfoReply struct {
	Status string                    `json:"status"`
	Comms  map[string]map[string]any `json:"comms"`
}

// Status is the content of an iopub status message.
type Status struct {
	ExecutionState string `json:"execution_state"` // busy | idle | starting | restarting | dead
}

// Stream is the content of an iopub stream message.
type Stream struct {
	Name string `json:"name"` // stdout | stderr
	Text string `json:"text"`
}

// ExecuteInput is the content of iopub execute_input.
type ExecuteInput struct {
	Code           string `json:"code"`
	ExecutionCount int    `json:"execution_count"`
}

// DisplayData is the content of display_data and update_display_data.
type DisplayData struct {
	Data      map[string]any `json:"data"`
	Metadata  map[string]any `json:"metadata"`
	Transient map[string]any `json:"transient,omitempty"`
}

// ExecuteResult is the content of execute_result.
type ExecuteResult struct {
	ExecutionCount int            `json:"execution_count"`
	Data           map[string]any `json:"data"`
	Metadata       map[string]any `json:"metadata"`
}

// ClearOutput is the content of clear_output.
type ClearOutput struct {
	Wait bool `json:"wait"`
}

// InputRequest is the content of input_request on the stdin channel.
type InputRequest struct {
	Prompt   string `json:"prompt"`
	Password bool   `json:"password"`
}

// DecodeContent decodes m.Content into v (a pointer to one of the request
// structs). It rejects fields of the wrong type with an error that names
// the message type.
func DecodeContent(m *Message, v any) error {
	if err := json.Unmarshal(m.Content, v); err != nil {
		return fmt.Errorf("%w: %s content: %v", ErrMalformed, m.Header.MsgType, err)
	}
	return nil
}

// ReplyType returns the reply msg_type of a request type (x_request ->
// x_reply), or "" when msgType is not a request.
func ReplyType(msgType string) string {
	const suf = "_request"
	if len(msgType) > len(suf) && msgType[len(msgType)-len(suf):] == suf {
		return msgType[:len(msgType)-len(suf)] + "_reply"
	}
	return ""
}
