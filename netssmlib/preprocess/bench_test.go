package preprocess

import (
	"context"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// benchDir builds a directory of about mb megabytes from the test captures
// (copies, as in bench/mkbenchdir.py) and returns it with its size.
func benchDir(b *testing.B, mb int) (string, int64) {
	b.Helper()
	caps := captures(b)
	dir := b.TempDir()
	var size int64
	for i := 0; size < int64(mb)*1e6; i++ {
		src := caps[i%len(caps)]
		data, err := os.ReadFile(src)
		if err != nil {
			b.Fatal(err)
		}
		dst := filepath.Join(dir, strconv.Itoa(i/100), strconv.Itoa(i)+filepath.Ext(src))
		os.MkdirAll(filepath.Dir(dst), 0o755)
		if err := os.WriteFile(dst, data, 0o644); err != nil {
			b.Fatal(err)
		}
		size += int64(len(data))
	}
	return dir, size
}

// BenchmarkRun measures the whole pipeline (read, decode, format, write to
// a discarded stream); MB/s is capture bytes per second.
//
//	go test -run XXX -bench 'Run$|RunReference' -benchtime 3x ./netssmlib/preprocess
func BenchmarkRun(b *testing.B) {
	dir, size := benchDir(b, 10)
	b.SetBytes(size)
	for b.Loop() {
		if _, err := Run(context.Background(), Options{InDir: dir, Label: "bench", Out: "-", Stdout: io.Discard}); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkRunReference is the NetSSM-equivalent baseline on the same input.
func BenchmarkRunReference(b *testing.B) {
	dir, size := benchDir(b, 10)
	paths, _, err := ListDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	b.SetBytes(size)
	for b.Loop() {
		for _, p := range paths {
			if _, _, err := ReferenceRecord(context.Background(), p, "bench", -1); err != nil {
				b.Fatal(err)
			}
		}
	}
}
