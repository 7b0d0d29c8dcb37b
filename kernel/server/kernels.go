package server

import (
	"context"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/wire"
)

// kernel is one running kernel: its dispatcher and websocket connections.
type kernel struct {
	id      string
	started time.Time
	disp    *dispatch.Kernel

	mu    sync.Mutex
	conns map[*wsConn]struct{}
	gone  bool
}

// Model is the kernel model of the REST API.
type Model struct {
	ID             string `json:"id"`
	Name           string `json:"name"`
	LastActivity   string `json:"last_activity"`
	ExecutionState string `json:"execution_state"`
	Connections    int    `json:"connections"`
}

func (k *kernel) model() Model {
	st, t := k.disp.State()
	k.mu.Lock()
	n := len(k.conns)
	k.mu.Unlock()
	return Model{ID: k.id, Name: SpecName, LastActivity: wire.FormatTime(t), ExecutionState: string(st), Connections: n}
}

// publish broadcasts an iopub message to every connection of the kernel.
func (k *kernel) publish(m *wire.Message) {
	k.mu.Lock()
	conns := make([]*wsConn, 0, len(k.conns))
	for c := range k.conns {
		conns = append(conns, c)
	}
	k.mu.Unlock()
	for _, c := range conns {
		c.Send(m)
	}
}

func (k *kernel) attach(c *wsConn) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.gone {
		return false
	}
	k.conns[c] = struct{}{}
	return true
}

func (k *kernel) detach(c *wsConn) {
	k.mu.Lock()
	delete(k.conns, c)
	k.mu.Unlock()
}

// shutdown stops the engine and closes the connections once their
// queued messages are written.
func (k *kernel) shutdown() error {
	err := k.disp.Close()
	k.closeConns()
	return err
}

func (k *kernel) closeConns() {
	k.mu.Lock()
	k.gone = true
	conns := k.conns
	k.conns = map[*wsConn]struct{}{}
	k.mu.Unlock()
	for c := range conns {
		c.closeAfterFlush("kernel shut down")
	}
}

// StartKernel starts a kernel as POST /api/kernels does and returns its model.
func (s *Server) StartKernel(ctx context.Context, opt StartOptions) (Model, error) {
	k, err := s.startKernelInternal(ctx, opt)
	if err != nil {
		return Model{}, err
	}
	return k.model(), nil
}

func (s *Server) startKernelInternal(ctx context.Context, opt StartOptions) (*kernel, error) {
	if s.opt.NewEngine == nil {
		return nil, fmt.Errorf("server has no engine")
	}
	eng, err := s.opt.NewEngine(ctx, opt)
	if err != nil {
		return nil, fmt.Errorf("start kernel: %w", err)
	}
	k := &kernel{id: newUUID(), started: time.Now(), conns: map[*wsConn]struct{}{}}
	k.disp = dispatch.New(dispatch.Options{
		Engine:  eng,
		Publish: k.publish,
		Info:    s.opt.Info,
		Logf:    s.opt.Logf,
		OnShutdown: func() {
			// shutdown_request from a client: forget the kernel.
			s.mu.Lock()
			delete(s.kernels, k.id)
			s.dropSessionsOf(k.id)
			s.mu.Unlock()
			go func() {
				time.Sleep(100 * time.Millisecond) // let the reply and status go out
				k.closeConns()
			}()
		},
	})
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		k.disp.Close()
		return nil, fmt.Errorf("server is shutting down")
	}
	s.kernels[k.id] = k
	s.mu.Unlock()
	return k, nil
}

func (s *Server) lookup(w http.ResponseWriter, r *http.Request) *kernel {
	id := r.PathValue("id")
	s.mu.Lock()
	k := s.kernels[id]
	s.mu.Unlock()
	if k == nil {
		httpError(w, http.StatusNotFound, fmt.Sprintf("kernel does not exist: %s", id))
	}
	return k
}

func (s *Server) listKernels(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	ks := s.kernelList()
	s.mu.Unlock()
	out := make([]Model, 0, len(ks))
	for _, k := range ks {
		out = append(out, k.model())
	}
	writeJSON(w, http.StatusOK, out)
}

type startRequest struct {
	Name string         `json:"name"`
	Path string         `json:"path"`
	Env  map[string]any `json:"env"`
}

func (s *Server) startKernel(w http.ResponseWriter, r *http.Request) {
	var req startRequest
	if !readJSON(w, r, &req) {
		return
	}
	if req.Name != "" && req.Name != SpecName {
		// jupyter_server's GatewayKernelManager (used by nbclient and
		// nbconvert) asks for "python3" whatever kernel_name it was given.
		// This server has one kernelspec, so it starts that one; the model
		// it returns says which.
		s.opt.Logf("netssm kernel: kernelspec %q requested; starting %q, the only one served", req.Name, SpecName)
	}
	dir, env := s.kernelEnv(req.Env)
	k, err := s.startKernelInternal(r.Context(), StartOptions{Dir: dir, Env: env})
	if err != nil {
		s.opt.Logf("netssm kernel: %v", err)
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.Header().Set("Location", "/api/kernels/"+k.id)
	writeJSON(w, http.StatusCreated, k.model())
}

func (s *Server) getKernel(w http.ResponseWriter, r *http.Request) {
	if k := s.lookup(w, r); k != nil {
		writeJSON(w, http.StatusOK, k.model())
	}
}

// ShutdownKernel stops kernel id and forgets it.
func (s *Server) ShutdownKernel(id string) error {
	s.mu.Lock()
	k := s.kernels[id]
	delete(s.kernels, id)
	s.dropSessionsOf(id)
	s.mu.Unlock()
	if k == nil {
		return fmt.Errorf("kernel does not exist: %s", id)
	}
	return k.shutdown()
}

func (s *Server) deleteKernel(w http.ResponseWriter, r *http.Request) {
	k := s.lookup(w, r)
	if k == nil {
		return
	}
	if err := s.ShutdownKernel(k.id); err != nil {
		s.opt.Logf("netssm kernel: shutdown %s: %v", k.id, err)
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) interruptKernel(w http.ResponseWriter, r *http.Request) {
	k := s.lookup(w, r)
	if k == nil {
		return
	}
	if err := k.disp.Interrupt(); err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return
	}
	w.WriteHeader(http.StatusNoContent)
}

func (s *Server) restartKernel(w http.ResponseWriter, r *http.Request) {
	k := s.lookup(w, r)
	if k == nil {
		return
	}
	if err := k.disp.Restart(r.Context()); err != nil {
		httpError(w, http.StatusInternalServerError, fmt.Sprintf("kernel %s: %v", k.id, err))
		return
	}
	writeJSON(w, http.StatusOK, k.model())
}

// newUUID returns a random UUID (version 4) in the canonical form Jupyter uses.
func newUUID() string {
	h := []byte(wire.NewID())
	h[12] = '4'
	h[16] = "89ab"[h[16]%4]
	return fmt.Sprintf("%s-%s-%s-%s-%s", h[0:8], h[8:12], h[12:16], h[16:20], h[20:32])
}
