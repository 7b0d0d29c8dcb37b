package zmq

import (
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"strings"
)

// ConnectionInfo is the content of a Jupyter connection file
// (jupyter_client's write_connection_file).
type ConnectionInfo struct {
	Transport       string `json:"transport"` // "tcp" (default) or "ipc"
	IP              string `json:"ip"`        // tcp: address; ipc: path prefix
	ShellPort       int    `json:"shell_port"`
	IOPubPort       int    `json:"iopub_port"`
	StdinPort       int    `json:"stdin_port"`
	ControlPort     int    `json:"control_port"`
	HBPort          int    `json:"hb_port"`
	Key             string `json:"key"`              // HMAC key; empty disables signing
	SignatureScheme string `json:"signature_scheme"` // "hmac-sha256" (default)
	KernelName      string `json:"kernel_name,omitempty"`
}

// maxConnFile bounds the size of a connection file (they are ~300 bytes).
const maxConnFile = 1 << 20

// ReadConnectionFile reads and checks a connection file. Errors name the
// file and the reason.
func ReadConnectionFile(path string) (*ConnectionInfo, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("connection file: %w", err)
	}
	if len(b) > maxConnFile {
		return nil, fmt.Errorf("connection file %s: larger than %d bytes", path, maxConnFile)
	}
	ci, err := ParseConnectionInfo(b)
	if err != nil {
		return nil, fmt.Errorf("connection file %s: %w", path, err)
	}
	return ci, nil
}

// ParseConnectionInfo decodes and checks the JSON of a connection file and
// fills in the defaults (transport tcp, ip 127.0.0.1, hmac-sha256).
func ParseConnectionInfo(b []byte) (*ConnectionInfo, error) {
	var ci ConnectionInfo
	if err := json.Unmarshal(b, &ci); err != nil {
		return nil, fmt.Errorf("not a JSON connection object: %v", err)
	}
	if ci.Transport == "" {
		ci.Transport = "tcp"
	}
	if ci.SignatureScheme == "" {
		ci.SignatureScheme = "hmac-sha256"
	}
	switch ci.Transport {
	case "tcp":
		if ci.IP == "" {
			ci.IP = "127.0.0.1"
		}
		if strings.ContainsAny(ci.IP, "/ ") {
			return nil, fmt.Errorf("ip %q is not an address", ci.IP)
		}
	case "ipc":
		if ci.IP == "" {
			return nil, fmt.Errorf("transport ipc needs ip, the socket path prefix")
		}
	default:
		return nil, fmt.Errorf("transport %q is not supported (tcp or ipc)", ci.Transport)
	}
	for _, p := range []struct {
		name string
		port int
	}{{"shell_port", ci.ShellPort}, {"iopub_port", ci.IOPubPort}, {"stdin_port", ci.StdinPort}, {"control_port", ci.ControlPort}, {"hb_port", ci.HBPort}} {
		if p.port < 0 || p.port > 65535 {
			return nil, fmt.Errorf("%s %d out of range", p.name, p.port)
		}
		if p.port == 0 && ci.Transport == "ipc" {
			return nil, fmt.Errorf("%s is missing (ipc needs every port number)", p.name)
		}
	}
	if _, err := NewSigner(ci.SignatureScheme, ci.Key); err != nil {
		return nil, err
	}
	return &ci, nil
}

// Endpoint returns the ZMQ endpoint of a port: tcp://IP:PORT or
// ipc://IP-PORT, as jupyter_client forms them. Port 0 (tcp only) asks for
// a free port; [Kernel.Connection] reports the ones chosen.
func (ci *ConnectionInfo) Endpoint(port int) string {
	if ci.Transport == "ipc" {
		return "ipc://" + ci.IP + "-" + strconv.Itoa(port)
	}
	host := ci.IP
	if strings.Contains(host, ":") && !strings.HasPrefix(host, "[") {
		host = "[" + host + "]"
	}
	return "tcp://" + host + ":" + strconv.Itoa(port)
}
