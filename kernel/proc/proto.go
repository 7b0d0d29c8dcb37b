package proc

import "github.com/netssm/netssm/kernel/session"

// Environment variables the parent sets for the child.
const (
	// ChildEnv is set to "1" in the child's environment. A test binary
	// can check it in TestMain and call ChildMain, then use
	// Options{Exe: os.Args[0]} to run kernels without the netssm binary.
	ChildEnv    = "NETSSM_KERNEL_CHILD"
	envNonce    = "NETSSM_KERNEL_NONCE"
	envMemLimit = "NETSSM_KERNEL_MEMORY_LIMIT"
)

// Control operations (fd 3, one JSON object per line).
const (
	opReady      = "ready"         // child -> parent, once started
	opExecute    = "execute"       // parent -> child
	opComplete   = "complete"      // parent -> child
	opInspect    = "inspect"       // parent -> child
	opIsComplete = "is_complete"   // parent -> child
	opShutdown   = "shutdown"      // parent -> child
	opInputReply = "input_reply"   // parent -> child
	opReply      = "reply"         // child -> parent, answers a request by ID
	opInputReq   = "input_request" // child -> parent
)

// message is every control message; fields unused by an op are empty.
type message struct {
	Op  string `json:"op"`
	ID  uint64 `json:"id,omitempty"`
	Pid int    `json:"pid,omitempty"` // ready

	Code   string `json:"code,omitempty"`
	Cursor int    `json:"cursor,omitempty"`
	Detail int    `json:"detail,omitempty"`

	// Replies.
	Result  *session.Result    `json:"result,omitempty"`
	Error   *session.CellError `json:"error,omitempty"`
	Matches []string           `json:"matches,omitempty"`
	Start   int                `json:"start,omitempty"`
	End     int                `json:"end,omitempty"`
	Data    map[string]any     `json:"data,omitempty"`
	Found   bool               `json:"found,omitempty"`
	Status  string             `json:"status,omitempty"`
	Indent  string             `json:"indent,omitempty"`

	// Input.
	Prompt   string `json:"prompt,omitempty"`
	Password bool   `json:"password,omitempty"`
	Value    string `json:"value,omitempty"`
	Failure  string `json:"failure,omitempty"` // input_reply: why no input
}
