// Package testenv lets tests find what they need outside the repository:
// external tools (tshark, node, jupyter) and the shared fixtures beside the
// checkout. A missing tool skips the test with a message locally and fails
// it in CI (CI=true), where .ci/run installs every tool, so that a broken
// install step can never turn into a silent green run. The shared fixtures
// are not installed by anything: where ../shared is absent (a clone
// elsewhere) their tests skip with a message, in CI too.
package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
)

// InCI reports whether the tests run under .ci/run.
func InCI() bool { return os.Getenv("CI") == "true" }

func missing(t testing.TB, format string, args ...any) {
	t.Helper()
	if InCI() {
		t.Fatalf("CI=true but "+format, args...)
	}
	t.Skipf("skipping: "+format, args...)
}

// NeedTool returns the path of an executable, or skips (fails in CI).
func NeedTool(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		missing(t, "%s is not installed (run .ci/run to install test tools)", name)
	}
	return p
}

// RepoRoot is the root of the netssm checkout.
func RepoRoot() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Clean(filepath.Join(filepath.Dir(file), "..", ".."))
}

// Shared returns the path of a file or folder under ../shared beside the
// checkout (or $NETSSM_SHARED), or skips with a message when it is absent.
func Shared(t testing.TB, rel string) string {
	t.Helper()
	dir := os.Getenv("NETSSM_SHARED")
	if dir == "" {
		dir = filepath.Join(RepoRoot(), "..", "shared")
	}
	p := filepath.Join(dir, rel)
	if _, err := os.Stat(p); err != nil {
		t.Skipf("skipping: shared fixture %s is absent (expected under %s, or set NETSSM_SHARED): %v", rel, dir, err)
	}
	return p
}
