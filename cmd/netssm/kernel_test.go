package main

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

func TestKernelFlags(t *testing.T) {
	ctx := context.Background()
	for _, args := range [][]string{
		{"-port", "70000"},
		{"-ip", "0.0.0.0", "-token", ""},
		{"extra"},
		{"-no-such-flag"},
	} {
		if err := serveKernels(ctx, args, io.Discard, nil); !errors.Is(err, errUsage) {
			t.Errorf("netssm kernel %q: %v, want a usage error", args, err)
		}
	}
	if err := runNotebook(ctx, nil); !errors.Is(err, errUsage) {
		t.Errorf("netssm run without a notebook: %v", err)
	}
	if err := runNotebook(ctx, []string{"a.ipynb", "-timeout", "-1s"}); !errors.Is(err, errUsage) {
		t.Errorf("netssm run -timeout -1s: %v", err)
	}
	if err := runNotebook(ctx, []string{"/nonexistent/x.ipynb"}); err == nil || !strings.Contains(err.Error(), "/nonexistent/x.ipynb") {
		t.Errorf("netssm run on a missing file: %v", err)
	}
}

// TestKernelServes starts `netssm kernel -port 0`, checks the banner, the
// token and the default kernelspec, and stops it by cancelling.
func TestKernelServes(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var banner strings.Builder
	ready := make(chan [2]string, 1)
	done := make(chan error, 1)
	go func() {
		done <- serveKernels(ctx, []string{"-port", "0", "-allow-origin", "http://a.example,http://b.example"}, &banner, func(url, token string) { ready <- [2]string{url, token} })
	}()
	var url, token string
	select {
	case r := <-ready:
		url, token = r[0], r[1]
	case err := <-done:
		t.Fatal(err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	if len(token) != 48 || !strings.HasPrefix(url, "http://127.0.0.1:") {
		t.Fatalf("url %q token %q", url, token)
	}
	get := func(auth string) (*http.Response, error) {
		req, _ := http.NewRequest("GET", url+"/api/kernelspecs", nil)
		if auth != "" {
			req.Header.Set("Authorization", auth)
		}
		return http.DefaultClient.Do(req)
	}
	resp, err := get("token " + token)
	if err != nil {
		t.Fatal(err)
	}
	var specs struct{ Default string }
	json.NewDecoder(resp.Body).Decode(&specs)
	resp.Body.Close()
	if resp.StatusCode != 200 || specs.Default != "netssm" {
		t.Fatalf("kernelspecs: %d %+v", resp.StatusCode, specs)
	}
	if resp, err := get(""); err != nil || resp.StatusCode != 403 {
		t.Fatalf("without token: %v %v", resp, err)
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("serveKernels after cancel: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop")
	}
	if !strings.Contains(banner.String(), url+"/?token="+token) || !strings.Contains(banner.String(), "--gateway-url="+url) {
		t.Fatalf("banner:\n%s", banner.String())
	}
}
