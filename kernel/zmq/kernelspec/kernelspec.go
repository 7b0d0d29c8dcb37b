package kernelspec

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
)

// DefaultName is the kernelspec name the kernel is installed under.
const DefaultName = "netssm"

// DisplayName is what launchers show.
const DisplayName = "Go (netssm)"

// Command is the netssm subcommand the kernelspec runs.
const Command = "zmq-kernel"

// Spec is the content of kernel.json.
type Spec struct {
	Argv          []string          `json:"argv"`
	DisplayName   string            `json:"display_name"`
	Language      string            `json:"language"`
	InterruptMode string            `json:"interrupt_mode"`
	Env           map[string]string `json:"env,omitempty"`
	Metadata      map[string]any    `json:"metadata,omitempty"`
}

// New returns the spec that runs the netssm executable exe (an absolute
// path) with interruptMode "signal" or "message".
func New(exe, interruptMode string) (Spec, error) {
	if !filepath.IsAbs(exe) {
		return Spec{}, fmt.Errorf("kernelspec: executable %q is not an absolute path", exe)
	}
	switch interruptMode {
	case "signal", "message":
	default:
		return Spec{}, fmt.Errorf("kernelspec: interrupt_mode %q is neither signal nor message", interruptMode)
	}
	return Spec{
		Argv:          []string{exe, Command, "-f", "{connection_file}"},
		DisplayName:   DisplayName,
		Language:      "go",
		InterruptMode: interruptMode,
		Metadata:      map[string]any{"debugger": false},
	}, nil
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9._-]+$`)

// CheckName reports whether name is a valid kernelspec name (letters,
// digits, ".", "_", "-", as jupyter_client requires).
func CheckName(name string) error {
	if !validName.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("kernelspec: invalid name %q (letters, digits, '.', '_' and '-' only)", name)
	}
	return nil
}

// UserDir returns the user's kernels folder.
func UserDir() (string, error) {
	if d := os.Getenv("JUPYTER_DATA_DIR"); d != "" {
		return filepath.Join(d, "kernels"), nil
	}
	switch runtime.GOOS {
	case "windows":
		if d := os.Getenv("APPDATA"); d != "" {
			return filepath.Join(d, "jupyter", "kernels"), nil
		}
	case "darwin":
		home, err := os.UserHomeDir()
		if err != nil {
			return "", fmt.Errorf("kernelspec: %w", err)
		}
		return filepath.Join(home, "Library", "Jupyter", "kernels"), nil
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "jupyter", "kernels"), nil
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	return filepath.Join(home, ".local", "share", "jupyter", "kernels"), nil
}

// PrefixDir returns the kernels folder of an installation prefix.
func PrefixDir(prefix string) string {
	return filepath.Join(prefix, "share", "jupyter", "kernels")
}

// SystemDir returns the system-wide kernels folder.
func SystemDir() string {
	if runtime.GOOS == "windows" {
		if d := os.Getenv("PROGRAMDATA"); d != "" {
			return filepath.Join(d, "jupyter", "kernels")
		}
	}
	return filepath.Join("/usr", "local", "share", "jupyter", "kernels")
}

// SearchDirs returns the kernels folders Jupyter looks in, in its order:
// $JUPYTER_PATH entries, the user's folder, then the system folders.
func SearchDirs() []string {
	var dirs []string
	for _, d := range filepath.SplitList(os.Getenv("JUPYTER_PATH")) {
		if d != "" {
			dirs = append(dirs, filepath.Join(d, "kernels"))
		}
	}
	if d, err := UserDir(); err == nil {
		dirs = append(dirs, d)
	}
	dirs = append(dirs, SystemDir())
	if runtime.GOOS != "windows" {
		dirs = append(dirs, filepath.Join("/usr", "share", "jupyter", "kernels"))
	}
	return dirs
}

// Install writes the kernelspec name into kernelsDir (replacing an
// existing one of that name) and returns its folder. The files are
// written to a temporary folder first, so a failed install leaves no
// half-written kernelspec behind.
func Install(kernelsDir, name string, spec Spec) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	if err := os.MkdirAll(kernelsDir, 0o755); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	dst := filepath.Join(kernelsDir, name)
	tmp, err := os.MkdirTemp(kernelsDir, "."+name+".tmp-")
	if err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	defer os.RemoveAll(tmp)
	if err := os.Chmod(tmp, 0o755); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	b, err := json.MarshalIndent(spec, "", "  ")
	if err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	if err := os.WriteFile(filepath.Join(tmp, "kernel.json"), append(b, '\n'), 0o644); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	for _, size := range []int{32, 64} {
		p := filepath.Join(tmp, fmt.Sprintf("logo-%dx%d.png", size, size))
		if err := writeLogo(p, size); err != nil {
			return "", fmt.Errorf("kernelspec: %s: %w", p, err)
		}
	}
	if _, err := os.Lstat(dst); err == nil {
		if err := os.RemoveAll(dst); err != nil {
			return "", fmt.Errorf("kernelspec: replacing %s: %w", dst, err)
		}
	}
	if err := os.Rename(tmp, dst); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	return dst, nil
}

// ErrNotFound is returned by Remove when there is no such kernelspec.
var ErrNotFound = errors.New("no such kernelspec")

// Read reads the kernel.json of the kernelspec in dir.
func Read(dir string) (Spec, error) {
	var s Spec
	b, err := os.ReadFile(filepath.Join(dir, "kernel.json"))
	if err != nil {
		return s, fmt.Errorf("kernelspec: %w", err)
	}
	if err := json.Unmarshal(b, &s); err != nil {
		return s, fmt.Errorf("kernelspec: %s: %v", filepath.Join(dir, "kernel.json"), err)
	}
	return s, nil
}

// IsNetssm reports whether s runs a netssm kernel (argv EXE zmq-kernel ...).
func IsNetssm(s Spec) bool {
	return len(s.Argv) >= 2 && s.Argv[1] == Command && strings.Contains(strings.ToLower(filepath.Base(s.Argv[0])), "netssm")
}

// Remove deletes the kernelspec name from kernelsDir. It refuses to
// delete a kernelspec that is not a netssm kernel (another language's
// kernel that happens to have the name).
func Remove(kernelsDir, name string) (string, error) {
	if err := CheckName(name); err != nil {
		return "", err
	}
	dir := filepath.Join(kernelsDir, name)
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("kernelspec: %s: %w", dir, ErrNotFound)
	}
	s, err := Read(dir)
	if err != nil {
		return "", err
	}
	if !IsNetssm(s) {
		return "", fmt.Errorf("kernelspec: %s is not a netssm kernel (argv %q); not removing it", dir, s.Argv)
	}
	if err := os.RemoveAll(dir); err != nil {
		return "", fmt.Errorf("kernelspec: %w", err)
	}
	return dir, nil
}
