package server

import (
	"fmt"
	"net/http"
	"sort"
	"time"
)

// session pairs a notebook path with a kernel, as Jupyter Server does.
type session struct {
	id, path, name, typ string
	kernelID            string
	created             time.Time
}

// SessionModel is the session model of the REST API.
type SessionModel struct {
	ID       string            `json:"id"`
	Path     string            `json:"path"`
	Name     string            `json:"name"`
	Type     string            `json:"type"`
	Kernel   *Model            `json:"kernel"`
	Notebook map[string]string `json:"notebook"`
}

// sessionModel builds the model of ss; s.mu must be held.
func (s *Server) sessionModel(ss *session) SessionModel {
	m := SessionModel{ID: ss.id, Path: ss.path, Name: ss.name, Type: ss.typ, Notebook: map[string]string{"path": ss.path, "name": ss.name}}
	if k := s.kernels[ss.kernelID]; k != nil {
		km := k.model()
		m.Kernel = &km
	}
	return m
}

// dropSessionsOf forgets the sessions of kernel id; s.mu must be held.
func (s *Server) dropSessionsOf(id string) {
	for sid, ss := range s.sessions {
		if ss.kernelID == id {
			delete(s.sessions, sid)
		}
	}
}

func (s *Server) listSessions(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	list := make([]*session, 0, len(s.sessions))
	for _, ss := range s.sessions {
		list = append(list, ss)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].created.Before(list[j].created) })
	out := make([]SessionModel, 0, len(list))
	for _, ss := range list {
		out = append(out, s.sessionModel(ss))
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, out)
}

type sessionRequest struct {
	ID       string            `json:"id"`
	Path     *string           `json:"path"`
	Name     *string           `json:"name"`
	Type     *string           `json:"type"`
	Kernel   *kernelRef        `json:"kernel"`
	Notebook map[string]string `json:"notebook"` // older clients
}

type kernelRef struct {
	ID   string `json:"id"`
	Name string `json:"name"`
}

func str(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// kernelFor returns the id of the kernel a session request names: an
// existing one by id, or a new one started for name.
func (s *Server) kernelFor(w http.ResponseWriter, r *http.Request, ref *kernelRef) (string, bool) {
	if ref != nil && ref.ID != "" {
		s.mu.Lock()
		k := s.kernels[ref.ID]
		s.mu.Unlock()
		if k == nil {
			httpError(w, http.StatusNotFound, fmt.Sprintf("kernel does not exist: %s", ref.ID))
			return "", false
		}
		return k.id, true
	}
	if ref != nil && ref.Name != "" && ref.Name != SpecName {
		s.opt.Logf("netssm kernel: kernelspec %q requested; starting %q, the only one served", ref.Name, SpecName)
	}
	k, err := s.startKernelInternal(r.Context(), StartOptions{})
	if err != nil {
		httpError(w, http.StatusInternalServerError, err.Error())
		return "", false
	}
	return k.id, true
}

func (s *Server) createSession(w http.ResponseWriter, r *http.Request) {
	var req sessionRequest
	if !readJSON(w, r, &req) {
		return
	}
	path := str(req.Path)
	if path == "" && req.Notebook != nil {
		path = req.Notebook["path"]
	}
	if path == "" {
		httpError(w, http.StatusBadRequest, "session needs a path")
		return
	}
	typ := str(req.Type)
	if typ == "" {
		typ = "notebook"
	}
	// An existing session for the path is returned as it is.
	s.mu.Lock()
	for _, ss := range s.sessions {
		if ss.path == path && s.kernels[ss.kernelID] != nil {
			m := s.sessionModel(ss)
			s.mu.Unlock()
			writeJSON(w, http.StatusCreated, m)
			return
		}
	}
	s.mu.Unlock()
	kid, ok := s.kernelFor(w, r, req.Kernel)
	if !ok {
		return
	}
	ss := &session{id: newUUID(), path: path, name: str(req.Name), typ: typ, kernelID: kid, created: time.Now()}
	s.mu.Lock()
	s.sessions[ss.id] = ss
	m := s.sessionModel(ss)
	s.mu.Unlock()
	w.Header().Set("Location", "/api/sessions/"+ss.id)
	writeJSON(w, http.StatusCreated, m)
}

func (s *Server) getSession(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.sessions[r.PathValue("id")]
	if ss == nil {
		httpError(w, http.StatusNotFound, "session not found: "+r.PathValue("id"))
		return
	}
	writeJSON(w, http.StatusOK, s.sessionModel(ss))
}

func (s *Server) patchSession(w http.ResponseWriter, r *http.Request) {
	var req sessionRequest
	if !readJSON(w, r, &req) {
		return
	}
	id := r.PathValue("id")
	s.mu.Lock()
	ss := s.sessions[id]
	s.mu.Unlock()
	if ss == nil {
		httpError(w, http.StatusNotFound, "session not found: "+id)
		return
	}
	var newKernel, oldKernel string
	if req.Kernel != nil && (req.Kernel.ID != "" || req.Kernel.Name != "") && req.Kernel.ID != ss.kernelID {
		kid, ok := s.kernelFor(w, r, req.Kernel)
		if !ok {
			return
		}
		newKernel = kid
	}
	s.mu.Lock()
	if req.Path != nil {
		ss.path = *req.Path
	}
	if req.Name != nil {
		ss.name = *req.Name
	}
	if req.Type != nil {
		ss.typ = *req.Type
	}
	if newKernel != "" {
		oldKernel, ss.kernelID = ss.kernelID, newKernel
		// The old kernel goes unless another session still uses it.
		for _, o := range s.sessions {
			if o.kernelID == oldKernel {
				oldKernel = ""
				break
			}
		}
	}
	m := s.sessionModel(ss)
	s.mu.Unlock()
	if oldKernel != "" {
		s.ShutdownKernel(oldKernel)
	}
	writeJSON(w, http.StatusOK, m)
}

func (s *Server) deleteSession(w http.ResponseWriter, r *http.Request) {
	id := r.PathValue("id")
	s.mu.Lock()
	ss := s.sessions[id]
	delete(s.sessions, id)
	s.mu.Unlock()
	if ss == nil {
		httpError(w, http.StatusNotFound, "session not found: "+id)
		return
	}
	if err := s.ShutdownKernel(ss.kernelID); err != nil {
		s.opt.Logf("netssm kernel: session %s: %v", id, err)
	}
	w.WriteHeader(http.StatusNoContent)
}
