package server

import (
	"context"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/url"
	"os"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/wire"
)

// SpecName is the name of the one kernelspec served.
const SpecName = "netssm"

// StartOptions tell NewEngine how to start a kernel.
type StartOptions struct {
	Dir string   // working directory ("" = the server's)
	Env []string // extra KEY=VALUE pairs (KERNEL_* from the request)
}

// Options configure a Server.
type Options struct {
	// Token is the API token. Empty disables authentication (tests only;
	// the netssm kernel command always sets one).
	Token string
	// AllowOrigins lists origins (scheme://host[:port]) allowed besides
	// the server's own; "*" allows any.
	AllowOrigins []string
	// NewEngine starts the engine of a new kernel.
	NewEngine func(ctx context.Context, opt StartOptions) (dispatch.Engine, error)
	// Info is reported in kernel_info_reply.
	Info dispatch.Info
	// Logf logs; nil uses log.Printf.
	Logf func(format string, args ...any)
}

// Server is an http.Handler serving the Jupyter kernel API.
type Server struct {
	opt     Options
	mux     *http.ServeMux
	started time.Time

	mu       sync.Mutex
	kernels  map[string]*kernel
	sessions map[string]*session
	closed   bool
}

// New returns a Server. Close it to shut all kernels down.
func New(opt Options) *Server {
	if opt.Logf == nil {
		opt.Logf = log.Printf
	}
	s := &Server{opt: opt, started: time.Now(), kernels: map[string]*kernel{}, sessions: map[string]*session{}}
	m := http.NewServeMux()
	m.HandleFunc("GET /api", s.apiVersion)
	m.HandleFunc("GET /api/{$}", s.apiVersion)
	m.HandleFunc("GET /api/status", s.apiStatus)
	m.HandleFunc("GET /api/kernelspecs", s.listSpecs)
	m.HandleFunc("GET /api/kernelspecs/{name}", s.getSpec)
	m.HandleFunc("GET /kernelspecs/{name}/{file}", s.specFile)
	m.HandleFunc("GET /api/kernels", s.listKernels)
	m.HandleFunc("POST /api/kernels", s.startKernel)
	m.HandleFunc("GET /api/kernels/{id}", s.getKernel)
	m.HandleFunc("DELETE /api/kernels/{id}", s.deleteKernel)
	m.HandleFunc("POST /api/kernels/{id}/interrupt", s.interruptKernel)
	m.HandleFunc("POST /api/kernels/{id}/restart", s.restartKernel)
	m.HandleFunc("GET /api/kernels/{id}/channels", s.channels)
	m.HandleFunc("GET /api/sessions", s.listSessions)
	m.HandleFunc("POST /api/sessions", s.createSession)
	m.HandleFunc("GET /api/sessions/{id}", s.getSession)
	m.HandleFunc("PATCH /api/sessions/{id}", s.patchSession)
	m.HandleFunc("DELETE /api/sessions/{id}", s.deleteSession)
	s.mux = m
	return s
}

// ServeHTTP checks the origin and the token, then routes the request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	origin := r.Header.Get("Origin")
	if origin != "" {
		if !s.originAllowed(origin, r.Host) {
			s.opt.Logf("netssm kernel: refused %s %s from origin %q", r.Method, r.URL.Path, origin)
			httpError(w, http.StatusForbidden, fmt.Sprintf("origin %q is not allowed (see -allow-origin)", origin))
			return
		}
		w.Header().Set("Access-Control-Allow-Origin", origin)
		w.Header().Set("Access-Control-Allow-Credentials", "true")
		w.Header().Set("Vary", "Origin")
		if r.Method == http.MethodOptions {
			w.Header().Set("Access-Control-Allow-Methods", "GET, POST, PATCH, DELETE, OPTIONS")
			w.Header().Set("Access-Control-Allow-Headers", "Authorization, Content-Type, X-XSRFToken, X-Requested-With")
			w.WriteHeader(http.StatusNoContent)
			return
		}
	}
	if !s.authorized(r) {
		s.opt.Logf("netssm kernel: refused %s %s: missing or wrong token", r.Method, r.URL.Path)
		httpError(w, http.StatusForbidden, "missing or wrong token")
		return
	}
	w.Header().Set("Cache-Control", "no-store")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) authorized(r *http.Request) bool {
	if s.opt.Token == "" {
		return true
	}
	got := r.URL.Query().Get("token")
	if a := r.Header.Get("Authorization"); a != "" {
		scheme, tok, ok := strings.Cut(a, " ")
		if ok && (strings.EqualFold(scheme, "token") || strings.EqualFold(scheme, "bearer")) {
			got = strings.TrimSpace(tok)
		}
	}
	return subtle.ConstantTimeCompare([]byte(got), []byte(s.opt.Token)) == 1
}

// originAllowed accepts the server's own origin and the allowed ones.
func (s *Server) originAllowed(origin, host string) bool {
	for _, a := range s.opt.AllowOrigins {
		if a == "*" || strings.EqualFold(strings.TrimRight(a, "/"), origin) {
			return true
		}
	}
	u, err := url.Parse(origin)
	if err != nil {
		return false
	}
	return strings.EqualFold(u.Host, host)
}

type apiError struct {
	Message string `json:"message"`
	Reason  any    `json:"reason"`
}

func httpError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, apiError{Message: msg})
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		code, b = http.StatusInternalServerError, []byte(`{"message":"cannot encode the reply","reason":null}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	w.Write(b)
}

// readJSON decodes a request body of at most 1 MiB into v; an empty body
// leaves v alone.
func readJSON(w http.ResponseWriter, r *http.Request, v any) bool {
	body := http.MaxBytesReader(w, r.Body, 1<<20)
	dec := json.NewDecoder(body)
	if err := dec.Decode(v); err != nil && !errors.Is(err, io.EOF) {
		httpError(w, http.StatusBadRequest, fmt.Sprintf("bad JSON body: %v", err))
		return false
	}
	return true
}

func (s *Server) apiVersion(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]string{"version": dispatch.Version})
}

func (s *Server) apiStatus(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ks := s.kernelList()
	s.mu.Unlock()
	conns, last := 0, s.started
	for _, k := range ks {
		m := k.model()
		conns += m.Connections
		if _, t := k.disp.State(); t.After(last) {
			last = t
		}
	}
	writeJSON(w, http.StatusOK, map[string]any{
		"started": wire.FormatTime(s.started), "last_activity": wire.FormatTime(last),
		"kernels": len(ks), "connections": conns,
	})
}

// kernelList returns the kernels sorted by start time; s.mu must be held.
func (s *Server) kernelList() []*kernel {
	ks := make([]*kernel, 0, len(s.kernels))
	for _, k := range s.kernels {
		ks = append(ks, k)
	}
	sort.Slice(ks, func(i, j int) bool { return ks[i].started.Before(ks[j].started) })
	return ks
}

// Close shuts every kernel down and closes their connections.
func (s *Server) Close() error {
	s.mu.Lock()
	s.closed = true
	ks := s.kernelList()
	s.kernels = map[string]*kernel{}
	s.sessions = map[string]*session{}
	s.mu.Unlock()
	var errs []error
	var wg sync.WaitGroup
	var emu sync.Mutex
	for _, k := range ks {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := k.shutdown(); err != nil {
				emu.Lock()
				errs = append(errs, fmt.Errorf("kernel %s: %w", k.id, err))
				emu.Unlock()
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// kernelEnv keeps the KERNEL_* variables of a start request and returns
// the working directory named by KERNEL_WORKING_DIR, if it exists.
func (s *Server) kernelEnv(env map[string]any) (dir string, out []string) {
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if !strings.HasPrefix(k, "KERNEL_") {
			continue
		}
		v, ok := env[k].(string)
		if !ok {
			continue
		}
		if k == "KERNEL_WORKING_DIR" {
			if st, err := os.Stat(v); err == nil && st.IsDir() {
				dir = v
			} else {
				s.opt.Logf("netssm kernel: ignoring KERNEL_WORKING_DIR %q: not a directory here", v)
			}
			continue
		}
		out = append(out, k+"="+v)
	}
	return dir, out
}
