// Package atomicfile writes files so that readers see either the old content
// or the new, never half of it: data goes to a temporary file beside the
// target, which is synced and renamed over it on Commit.
//
// A large file's data is synced in the background while it is written
// (every few MiB written through File.Write), so that Commit's fsync only
// waits for the tail instead of the whole file: the disk works in
// parallel with whatever produces the data.
//
// A target that exists and is not a regular file (a device such as
// /dev/null, a FIFO, a terminal) is written in place instead: renaming over
// it would replace the device node with a plain file.
package atomicfile

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
)

// File is an output file that takes effect on Commit.
type File struct {
	*os.File
	path   string
	perm   os.FileMode
	direct bool // writing the target itself (not a regular file)
	done   bool

	// Background sync (see syncBehind).
	written, kicked int64         // bytes written; bytes when a sync was last asked for
	syncReq         chan struct{} // nil until the first background sync
	syncWG          sync.WaitGroup
	syncErr         error // first background sync error (read after syncWG.Wait)
}

// syncBehind is how much new data accumulates before a background sync is
// asked for.
const syncBehind = 8 << 20

// Write writes to the file. Every syncBehind bytes it asks a background
// goroutine to fsync what has been written so far, so that the disk writes
// overlap with producing the rest and Commit's final fsync is short.
// Durability is unchanged: Commit still syncs everything before the rename.
func (f *File) Write(p []byte) (int, error) {
	n, err := f.File.Write(p)
	f.account(n)
	return n, err
}

// WriteString is Write for a string (os.File's would bypass the accounting).
func (f *File) WriteString(s string) (int, error) {
	n, err := f.File.WriteString(s)
	f.account(n)
	return n, err
}

func (f *File) account(n int) {
	if f.direct || f.done {
		return
	}
	f.written += int64(n)
	if f.written-f.kicked < syncBehind {
		return
	}
	f.kicked = f.written
	if f.syncReq == nil {
		f.syncReq = make(chan struct{}, 1)
		f.syncWG.Add(1)
		go func() {
			defer f.syncWG.Done()
			for range f.syncReq {
				// An fsync error is reported to a file descriptor once:
				// keep it for Commit, whose own fsync may not see it again.
				if err := f.File.Sync(); err != nil && f.syncErr == nil {
					f.syncErr = err
				}
			}
		}()
	}
	select {
	case f.syncReq <- struct{}{}:
	default: // one is pending: it will cover this data too
	}
}

// stopSync waits for the background sync and returns its first error.
func (f *File) stopSync() error {
	if f.syncReq == nil {
		return nil
	}
	close(f.syncReq)
	f.syncReq = nil
	f.syncWG.Wait()
	return f.syncErr
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
	err := f.stopSync()
	if err == nil {
		err = f.File.Chmod(f.perm)
	}
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
	f.stopSync()
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
