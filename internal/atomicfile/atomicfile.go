// Package atomicfile writes files so that readers see either the old content
// or the new, never half of it: data goes to a temporary file beside the
// target, which is synced and renamed over it on Commit.
//
// A target that exists and is not a regular file (a device such as
// /dev/null, a FIFO, a terminal) is written in place instead: renaming over
// it would replace the device node with a plain file.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
)

// File is an output file that takes effect on Commit.
type File struct {
	*os.File
	path   string
	perm   os.FileMode
	direct bool // writing the target itself (not a regular file)
	done   bool
}

// Create starts writing path. The caller must call Commit or Abort.
func Create(path string, perm os.FileMode) (*File, error) {
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		if fi.IsDir() {
			return nil, fmt.Errorf("%s is a directory", path)
		}
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return nil, err
		}
		return &File{File: f, path: path, direct: true}, nil
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return nil, err
	}
	return &File{File: f, path: path, perm: perm}, nil
}

// Commit makes the written content the target's.
func (f *File) Commit() error {
	if f.done {
		return fmt.Errorf("%s: already committed or aborted", f.path)
	}
	f.done = true
	if f.direct {
		return f.File.Close()
	}
	err := f.File.Chmod(f.perm)
	if err == nil {
		err = f.File.Sync()
	}
	if cerr := f.File.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.File.Name(), f.path)
	}
	if err != nil {
		os.Remove(f.File.Name())
		return err
	}
	if d, err := os.Open(filepath.Dir(f.path)); err == nil {
		d.Sync() // best effort: make the rename durable
		d.Close()
	}
	return nil
}

// Abort discards what was written; the target is left as it was. Calling it
// after Commit does nothing, so it can be deferred.
func (f *File) Abort() {
	if f.done {
		return
	}
	f.done = true
	f.File.Close()
	if !f.direct {
		os.Remove(f.File.Name())
	}
}

// Write writes a file atomically through the write function.
func Write(path string, perm os.FileMode, write func(w *os.File) error) error {
	f, err := Create(path, perm)
	if err != nil {
		return err
	}
	defer f.Abort()
	if err := write(f.File); err != nil {
		return err
	}
	return f.Commit()
}

// WriteFile is os.WriteFile, atomically.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w *os.File) error {
		_, err := w.Write(data)
		return err
	})
}
