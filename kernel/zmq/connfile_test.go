package zmq

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A connection file as jupyter_client 7.4 writes it.
const jupyterConnFile = `{
  "shell_port": 50001,
  "iopub_port": 50002,
  "stdin_port": 50003,
  "control_port": 50004,
  "hb_port": 50005,
  "ip": "127.0.0.1",
  "key": "a0436f6c-1916-498b-8eb9-e81ab9368e84",
  "transport": "tcp",
  "signature_scheme": "hmac-sha256",
  "kernel_name": "netssm"
}`

func TestReadConnectionFile(t *testing.T) {
	p := filepath.Join(t.TempDir(), "kernel-1.json")
	if err := os.WriteFile(p, []byte(jupyterConnFile), 0o600); err != nil {
		t.Fatal(err)
	}
	ci, err := ReadConnectionFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if ci.ShellPort != 50001 || ci.HBPort != 50005 || ci.Key != "a0436f6c-1916-498b-8eb9-e81ab9368e84" || ci.KernelName != "netssm" {
		t.Errorf("parsed %+v", ci)
	}
	if got := ci.Endpoint(ci.ControlPort); got != "tcp://127.0.0.1:50004" {
		t.Errorf("endpoint %s", got)
	}
	ipc := ConnectionInfo{Transport: "ipc", IP: "/tmp/k"}
	if got := ipc.Endpoint(3); got != "ipc:///tmp/k-3" {
		t.Errorf("ipc endpoint %s", got)
	}
	v6 := ConnectionInfo{Transport: "tcp", IP: "::1"}
	if got := v6.Endpoint(9); got != "tcp://[::1]:9" {
		t.Errorf("ipv6 endpoint %s", got)
	}
}

func TestConnectionFileDefaults(t *testing.T) {
	ci, err := ParseConnectionInfo([]byte(`{"shell_port": 1}`))
	if err != nil {
		t.Fatal(err)
	}
	if ci.Transport != "tcp" || ci.IP != "127.0.0.1" || ci.SignatureScheme != "hmac-sha256" {
		t.Errorf("defaults: %+v", ci)
	}
}

func TestConnectionFileErrors(t *testing.T) {
	dir := t.TempDir()
	cases := map[string]string{
		"not json":    `{"shell_port": `,
		"port range":  `{"shell_port": 70000}`,
		"transport":   `{"transport": "udp"}`,
		"scheme":      `{"signature_scheme": "hmac-md5", "key": "k"}`,
		"ipc no ip":   `{"transport": "ipc"}`,
		"ipc no port": `{"transport": "ipc", "ip": "/tmp/x", "shell_port": 1}`,
		"port type":   `{"shell_port": "1"}`,
	}
	for name, body := range cases {
		p := filepath.Join(dir, strings.ReplaceAll(name, " ", "_")+".json")
		os.WriteFile(p, []byte(body), 0o600)
		_, err := ReadConnectionFile(p)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if !strings.Contains(err.Error(), p) {
			t.Errorf("%s: error %q does not name the file", name, err)
		}
	}
	if _, err := ReadConnectionFile(filepath.Join(dir, "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}
