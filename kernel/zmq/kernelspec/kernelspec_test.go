package kernelspec

import (
	"bytes"
	"image/png"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

func TestInstallReplaceRemove(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "kernels")
	exe, _ := filepath.Abs("/opt/bin/netssm")
	spec, err := New(exe, "signal")
	if err != nil {
		t.Fatal(err)
	}
	p, err := Install(dir, "netssm", spec)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Read(p)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(got.Argv, " ") != exe+" zmq-kernel -f {connection_file}" || got.DisplayName != "Go (netssm)" || got.Language != "go" || got.InterruptMode != "signal" {
		t.Errorf("kernel.json: %+v", got)
	}
	// Reinstalling replaces it (and leaves no temp folders behind).
	spec.InterruptMode = "message"
	if _, err := Install(dir, "netssm", spec); err != nil {
		t.Fatal(err)
	}
	if got, _ := Read(p); got.InterruptMode != "message" {
		t.Errorf("not replaced: %+v", got)
	}
	ents, _ := os.ReadDir(dir)
	if len(ents) != 1 {
		t.Errorf("kernels folder holds %d entries, want 1", len(ents))
	}
	files, _ := os.ReadDir(p)
	var names []string
	for _, f := range files {
		names = append(names, f.Name())
	}
	if strings.Join(names, " ") != "kernel.json logo-32x32.png logo-64x64.png" {
		t.Errorf("files %v", names)
	}
	if _, err := Remove(dir, "netssm"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(p); !os.IsNotExist(err) {
		t.Errorf("still there: %v", err)
	}
	if _, err := Remove(dir, "netssm"); err == nil {
		t.Error("removing a missing kernelspec succeeded")
	}
}

func TestRemoveRefusesForeign(t *testing.T) {
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "python3"), 0o755)
	os.WriteFile(filepath.Join(dir, "python3", "kernel.json"), []byte(`{"argv":["python3","-m","ipykernel_launcher","-f","{connection_file}"]}`), 0o644)
	if _, err := Remove(dir, "python3"); err == nil || !strings.Contains(err.Error(), "not a netssm kernel") {
		t.Errorf("err = %v", err)
	}
	if _, err := os.Stat(filepath.Join(dir, "python3", "kernel.json")); err != nil {
		t.Error("foreign kernelspec deleted")
	}
}

func TestBadInput(t *testing.T) {
	if _, err := New("netssm", "signal"); err == nil {
		t.Error("relative executable accepted")
	}
	if _, err := New("/bin/netssm", "sometimes"); err == nil {
		t.Error("bad interrupt mode accepted")
	}
	for _, n := range []string{"", ".", "..", "a/b", "go kernel", "../x"} {
		if CheckName(n) == nil {
			t.Errorf("name %q accepted", n)
		}
	}
	for _, n := range []string{"netssm", "netssm-2.0", "Go_1"} {
		if err := CheckName(n); err != nil {
			t.Errorf("name %q: %v", n, err)
		}
	}
}

func TestDirs(t *testing.T) {
	t.Setenv("JUPYTER_DATA_DIR", "/tmp/jd")
	if d, _ := UserDir(); d != filepath.Join("/tmp/jd", "kernels") {
		t.Errorf("UserDir = %s", d)
	}
	if runtime.GOOS == "linux" {
		t.Setenv("JUPYTER_DATA_DIR", "")
		t.Setenv("XDG_DATA_HOME", "/tmp/xdg")
		if d, _ := UserDir(); d != "/tmp/xdg/jupyter/kernels" {
			t.Errorf("UserDir with XDG_DATA_HOME = %s", d)
		}
	}
	t.Setenv("JUPYTER_PATH", "/a"+string(filepath.ListSeparator)+"/b")
	dirs := SearchDirs()
	if len(dirs) < 3 || dirs[0] != filepath.Join("/a", "kernels") || dirs[1] != filepath.Join("/b", "kernels") {
		t.Errorf("SearchDirs = %v", dirs)
	}
	if PrefixDir("/p") != filepath.Join("/p", "share", "jupyter", "kernels") {
		t.Error(PrefixDir("/p"))
	}
}

func TestLogo(t *testing.T) {
	for _, size := range []int{32, 64} {
		img := Logo(size)
		var buf bytes.Buffer
		if err := png.Encode(&buf, img); err != nil {
			t.Fatal(err)
		}
		dec, err := png.Decode(&buf)
		if err != nil || dec.Bounds().Dx() != size || dec.Bounds().Dy() != size {
			t.Fatalf("size %d: %v %v", size, err, dec.Bounds())
		}
		// Corners are transparent (rounded), the centre is opaque, and
		// both the blue background and the white bars are present.
		if _, _, _, a := img.At(0, 0).RGBA(); a != 0 {
			t.Errorf("size %d: corner alpha %d", size, a)
		}
		var blue, white int
		for y := 0; y < size; y++ {
			for x := 0; x < size; x++ {
				c := img.NRGBAAt(x, y)
				if c.A == 255 && c.R == 0 && c.B == 0xd8 {
					blue++
				}
				if c.A == 255 && c.R == 255 && c.G == 255 && c.B == 255 {
					white++
				}
			}
		}
		if blue < size*size/3 || white < size*size/20 {
			t.Errorf("size %d: %d blue and %d white pixels", size, blue, white)
		}
	}
}
