package atomicfile

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

func TestCommitReplaces(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.txt")
	os.WriteFile(p, []byte("old"), 0o600)
	if err := WriteFile(p, []byte("new"), 0o644); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	fi, _ := os.Stat(p)
	if string(b) != "new" || fi.Mode().Perm() != 0o644 {
		t.Fatalf("content %q mode %v", b, fi.Mode())
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

func TestFailedWriteKeepsOld(t *testing.T) {
	p := filepath.Join(t.TempDir(), "out.txt")
	os.WriteFile(p, []byte("old"), 0o600)
	boom := errors.New("boom")
	err := Write(p, 0o644, func(w *os.File) error {
		w.WriteString("half")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	b, _ := os.ReadFile(p)
	if string(b) != "old" {
		t.Fatalf("content %q, want old", b)
	}
	if ents, _ := os.ReadDir(filepath.Dir(p)); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}

// Writing to /dev/null must write to the device, never rename a plain file
// over it (which, as root, would replace /dev/null for the whole machine).
func TestDeviceWrittenInPlace(t *testing.T) {
	fi, err := os.Stat(os.DevNull)
	if err != nil || fi.Mode()&os.ModeDevice == 0 {
		t.Skipf("%s is not a device here", os.DevNull)
	}
	if err := WriteFile(os.DevNull, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Stat(os.DevNull)
	if err != nil || fi.Mode()&os.ModeDevice == 0 {
		t.Fatalf("%s is no longer a device: %v %v", os.DevNull, fi.Mode(), err)
	}
}

func TestDirectoryTargetIsError(t *testing.T) {
	if err := WriteFile(t.TempDir(), []byte("x"), 0o644); err == nil {
		t.Fatal("no error writing over a directory")
	}
}

// A file larger than syncBehind goes through the background sync: the
// content must arrive whole and in order, through Write and WriteString, and
// Abort while a sync may be running must leave the old file and no
// temporary file.
func TestLargeFileBackgroundSync(t *testing.T) {
	dir := t.TempDir()
	p := filepath.Join(dir, "big.bin")
	os.WriteFile(p, []byte("old"), 0o600)
	chunk := make([]byte, 1<<20)
	write := func(f *File) []byte {
		var want []byte
		for i := range 3 * syncBehind / len(chunk) {
			for j := range chunk {
				chunk[j] = byte(i + j)
			}
			if i%2 == 0 {
				f.Write(chunk)
			} else {
				f.WriteString(string(chunk))
			}
			want = append(want, chunk...)
		}
		return want
	}

	f, err := Create(p, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	write(f)
	if f.syncReq == nil {
		t.Fatal("no background sync started for a large file")
	}
	f.Abort()
	if b, _ := os.ReadFile(p); string(b) != "old" {
		t.Fatalf("after Abort: %d bytes, want old", len(b))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}

	if f, err = Create(p, 0o644); err != nil {
		t.Fatal(err)
	}
	want := write(f)
	if err := f.Commit(); err != nil {
		t.Fatal(err)
	}
	if got, _ := os.ReadFile(p); !bytes.Equal(got, want) {
		t.Fatalf("content differs: %d bytes, want %d", len(got), len(want))
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Fatalf("temporary files left: %v", ents)
	}
}
