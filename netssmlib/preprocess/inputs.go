package preprocess

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
)

// ListDir returns the captures under dir in NetSSM's order: a recursive,
// lexical walk (filepath.Walk order) keeping regular files whose extension
// is exactly ".pcap" or ".pcapng". Like NetSSM it does not follow symbolic
// links below dir (a symlinked capture is not listed); unlike NetSSM it
// follows dir itself when dir is a symlink. Paths are joined onto dir as
// given, so they match NetSSM's Filename/Hash fields. Unreadable
// directories are reported in errs and skipped.
func ListDir(dir string) (paths []string, errs []error, err error) {
	fi, err := os.Stat(dir)
	if err != nil {
		return nil, nil, fmt.Errorf("input directory: %w", err)
	}
	if !fi.IsDir() {
		// NetSSM's walk lists a capture given as the "directory" itself.
		li, err := os.Lstat(dir)
		if err == nil && li.Mode().IsRegular() {
			if ext := filepath.Ext(dir); ext == ".pcap" || ext == ".pcapng" {
				return []string{dir}, nil, nil
			}
		}
		return nil, nil, fmt.Errorf("input directory %s: not a directory or a .pcap/.pcapng file", dir)
	}
	root := dir
	if li, err := os.Lstat(dir); err == nil && li.Mode()&fs.ModeSymlink != 0 {
		// WalkDir does not follow a symlinked root; with a trailing slash
		// the kernel resolves it, and joined paths stay "dir/name".
		root = dir + string(filepath.Separator)
	}
	walkErr := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if path == root {
				return err
			}
			errs = append(errs, &FileError{Path: path, Err: err})
			if d != nil && d.IsDir() {
				return filepath.SkipDir
			}
			return nil
		}
		if path == root {
			return nil
		}
		if d.Type().IsRegular() {
			if ext := filepath.Ext(d.Name()); ext == ".pcap" || ext == ".pcapng" {
				paths = append(paths, path)
			}
		}
		return nil
	})
	if walkErr != nil {
		return nil, errs, fmt.Errorf("input directory %s: %w", dir, walkErr)
	}
	return paths, errs, nil
}

// ReadPathCSV reads a CSV whose first column lists capture paths (NetSSM's
// -in-csv). A first row whose first cell is "File" (any case) is a header
// and is not read as a path (NetSSM tries to open it as a capture). Rows
// with an empty first cell are reported in errs.
func ReadPathCSV(path string) (paths []string, errs []error, err error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, fmt.Errorf("input CSV: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(skipBOM(f))
	r.FieldsPerRecord = -1
	for row := 1; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, nil, fmt.Errorf("input CSV %s: %w", path, err)
		}
		cell := rec[0]
		if row == 1 && strings.EqualFold(strings.TrimSpace(cell), "file") {
			continue
		}
		if cell == "" {
			errs = append(errs, fmt.Errorf("input CSV %s: row %d: empty path", path, row))
			continue
		}
		paths = append(paths, cell)
	}
	return paths, errs, nil
}

// Labels maps capture base names to labels (NetSSM's -label-csv).
type Labels struct {
	byName map[string]string
	source string
}

// ReadLabelCSV reads a label CSV: a header row with a column named "File"
// (the capture's base file name) and the label in the second column, as
// NetSSM reads it. Cells are kept exactly as written: "02" stays "02" and an
// empty cell is an empty label (NetSSM's dataframe turns them into "2" and
// "NaN"). The first row for a name wins. A UTF-8 byte order mark is ignored.
func ReadLabelCSV(path string) (*Labels, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("label CSV: %w", err)
	}
	defer f.Close()
	r := csv.NewReader(skipBOM(f))
	r.FieldsPerRecord = -1
	header, err := r.Read()
	if err == io.EOF {
		return nil, fmt.Errorf("label CSV %s: empty file, want a header row with a File column", path)
	}
	if err != nil {
		return nil, fmt.Errorf("label CSV %s: %w", path, err)
	}
	fileCol := -1
	for i, h := range header {
		if h == "File" {
			fileCol = i
			break
		}
	}
	if fileCol < 0 {
		return nil, fmt.Errorf("label CSV %s: no column named File in header %q", path, header)
	}
	if len(header) < 2 {
		return nil, fmt.Errorf("label CSV %s: header %q has no label column (want File,Label)", path, header)
	}
	l := &Labels{byName: map[string]string{}, source: path}
	for row := 2; ; row++ {
		rec, err := r.Read()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("label CSV %s: %w", path, err)
		}
		if len(rec) <= fileCol || len(rec) < 2 {
			return nil, fmt.Errorf("label CSV %s: row %d has %d fields, want at least %d", path, row, len(rec), max(2, fileCol+1))
		}
		if _, dup := l.byName[rec[fileCol]]; !dup {
			l.byName[rec[fileCol]] = rec[1]
		}
	}
	return l, nil
}

// ErrNoLabel is wrapped by the error for a capture missing from the label CSV.
var ErrNoLabel = errors.New("not in the label CSV")

// Lookup returns the label of a capture path, looked up by base name as
// NetSSM does.
func (l *Labels) Lookup(path string) (string, error) {
	name := path
	if strings.Contains(name, "/") {
		name = filepath.Base(name)
	}
	v, ok := l.byName[name]
	if !ok {
		return "", fmt.Errorf("%q %w %s", name, ErrNoLabel, l.source)
	}
	return v, nil
}

// Len is the number of labelled captures.
func (l *Labels) Len() int { return len(l.byName) }

func skipBOM(r io.Reader) io.Reader {
	var bom [3]byte
	n, _ := io.ReadFull(r, bom[:])
	if n == 3 && bytes.Equal(bom[:], []byte{0xEF, 0xBB, 0xBF}) {
		return r
	}
	return io.MultiReader(bytes.NewReader(bom[:n]), r)
}

// FileError is an error about one input capture.
type FileError struct {
	Path string
	Err  error
}

func (e *FileError) Error() string {
	msg := e.Err.Error()
	if strings.HasPrefix(msg, e.Path+":") {
		return msg
	}
	return e.Path + ": " + msg
}

func (e *FileError) Unwrap() error { return e.Err }
