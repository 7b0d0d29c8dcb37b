package server

import (
	"bytes"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"os"
	"sync"
)

// Spec is a kernelspec as the REST API reports it.
type Spec struct {
	Name      string            `json:"name"`
	Spec      SpecBody          `json:"spec"`
	Resources map[string]string `json:"resources"`
}

// SpecBody is the kernel.json part of a kernelspec.
type SpecBody struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env"`
	Metadata      map[string]any    `json:"metadata"`
}

func netssmSpec() Spec {
	exe, err := os.Executable()
	if err != nil {
		exe = "netssm"
	}
	return Spec{
		Name: SpecName,
		Spec: SpecBody{
			Argv:          []string{exe, "kernel"},
			DisplayName:   "Go (netssm)",
			Language:      "go",
			InterruptMode: "message",
			Env:           map[string]string{},
			Metadata:      map[string]any{},
		},
		Resources: map[string]string{
			"logo-32x32": "/kernelspecs/" + SpecName + "/logo-32x32.png",
			"logo-64x64": "/kernelspecs/" + SpecName + "/logo-64x64.png",
		},
	}
}

func (s *Server) listSpecs(w http.ResponseWriter, r *http.Request) {
	writeJSON(w, http.StatusOK, map[string]any{"default": SpecName, "kernelspecs": map[string]Spec{SpecName: netssmSpec()}})
}

func (s *Server) getSpec(w http.ResponseWriter, r *http.Request) {
	if name := r.PathValue("name"); name != SpecName {
		httpError(w, http.StatusNotFound, "kernel spec not found: "+name)
		return
	}
	writeJSON(w, http.StatusOK, netssmSpec())
}

var (
	logoOnce sync.Once
	logos    map[string][]byte
)

// logo draws the kernel's logo: a Go-blue tile with a lighter band.
func logo(size int) []byte {
	img := image.NewNRGBA(image.Rect(0, 0, size, size))
	blue, light := color.NRGBA{0x00, 0xad, 0xd8, 0xff}, color.NRGBA{0x5d, 0xc9, 0xe2, 0xff}
	for y := 0; y < size; y++ {
		for x := 0; x < size; x++ {
			c := blue
			if y > size/3 && y < 2*size/3 {
				c = light
			}
			img.SetNRGBA(x, y, c)
		}
	}
	var b bytes.Buffer
	png.Encode(&b, img)
	return b.Bytes()
}

func (s *Server) specFile(w http.ResponseWriter, r *http.Request) {
	logoOnce.Do(func() {
		logos = map[string][]byte{"logo-32x32.png": logo(32), "logo-64x64.png": logo(64)}
	})
	b, ok := logos[r.PathValue("file")]
	if r.PathValue("name") != SpecName || !ok {
		httpError(w, http.StatusNotFound, "no such kernelspec file: "+r.URL.Path)
		return
	}
	w.Header().Set("Content-Type", "image/png")
	w.Write(b)
}
