package nbrun_test

import (
	"context"
	"encoding/json"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/netssm/netssm/internal/testenv"
	"github.com/netssm/netssm/kernel/dispatch/dispatchtest"
	"github.com/netssm/netssm/kernel/nbrun"
)

func outputsOf(t *testing.T, c nbrun.Cell) []map[string]any {
	t.Helper()
	var out []map[string]any
	if err := json.Unmarshal(c.Raw["outputs"], &out); err != nil {
		t.Fatalf("outputs: %v", err)
	}
	return out
}

func TestRunFakeNotebook(t *testing.T) {
	data, err := os.ReadFile("testdata/fake.ipynb")
	if err != nil {
		t.Fatal(err)
	}
	nb, err := nbrun.Parse("fake.ipynb", data)
	if err != nil {
		t.Fatal(err)
	}
	err = nbrun.Run(context.Background(), nb, dispatchtest.New(), nbrun.Options{Timeout: 5 * time.Second})
	var ce *nbrun.CellError
	if !errors.As(err, &ce) || ce.Index != 4 || ce.CodeIndex != 4 || ce.EName != "panic" || !strings.Contains(err.Error(), "cell 5") {
		t.Fatalf("Run error %v, want the failing cell 5 named", err)
	}
	o := outputsOf(t, nb.Cells[1])
	if len(o) != 3 || o[0]["text"] != "one\ntwo\n" || o[1]["name"] != "stderr" || o[2]["output_type"] != "execute_result" || o[2]["execution_count"] != 1.0 {
		t.Fatalf("cell 2 outputs %v", o)
	}
	o = outputsOf(t, nb.Cells[2])
	if len(o) != 2 || o[0]["data"].(map[string]any)["image/png"] != dispatchtest.PNG || o[1]["data"].(map[string]any)["text/plain"] != "100%" {
		t.Fatalf("cell 3 outputs (display updated in place) %v", o)
	}
	if string(nb.Cells[3].Raw["execution_count"]) != "null" {
		t.Fatalf("empty cell got a count: %s", nb.Cells[3].Raw["execution_count"])
	}
	o = outputsOf(t, nb.Cells[4])
	if len(o) != 2 || o[1]["output_type"] != "error" || o[1]["ename"] != "panic" {
		t.Fatalf("failing cell outputs %v", o)
	}
	if len(outputsOf(t, nb.Cells[5])) != 0 {
		t.Fatal("cell after the error ran")
	}
	if nb.Metadata["custom"] == nil || nb.Metadata["kernelspec"].(map[string]any)["name"] != "netssm" {
		t.Fatalf("metadata %v", nb.Metadata)
	}
	out, err := nb.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "out.ipynb")
	os.WriteFile(path, out, 0o644)
	validate(t, path)
}

// validate checks a notebook with Debian's nbformat (the reference
// implementation of the schema).
func validate(t *testing.T, path string) {
	t.Helper()
	py := testenv.NeedTool(t, "/usr/bin/python3")
	out, err := exec.Command(py, "-c", "import sys, nbformat; nbformat.validate(nbformat.read(sys.argv[1], as_version=4)); print('valid')", path).CombinedOutput()
	if err != nil {
		if strings.Contains(string(out), "No module named") && !testenv.InCI() {
			t.Skipf("python3-nbformat is not installed: %s", out)
		}
		t.Fatalf("nbformat.validate: %v\n%s", err, out)
	}
}

func TestTimeout(t *testing.T) {
	nb, err := nbrun.Parse("t.ipynb", []byte(`{"cells":[{"cell_type":"code","source":"loop","metadata":{},"outputs":[],"execution_count":null}],"metadata":{},"nbformat":4,"nbformat_minor":4}`))
	if err != nil {
		t.Fatal(err)
	}
	t0 := time.Now()
	err = nbrun.Run(context.Background(), nb, dispatchtest.New(), nbrun.Options{Timeout: 200 * time.Millisecond})
	var ce *nbrun.CellError
	if !errors.As(err, &ce) || ce.EName != "Timeout" || time.Since(t0) > 3*time.Second {
		t.Fatalf("timeout: %v after %v", err, time.Since(t0))
	}
}

func TestParseErrors(t *testing.T) {
	for _, bad := range []string{`[]`, `{"nbformat":3,"cells":[]}`, `{"nbformat":4,"cells":{}}`, `{"nbformat":4,"cells":[{"cell_type":"bogus"}]}`, `{"nbformat":4,"cells":[null]}`} {
		if _, err := nbrun.Parse("bad.ipynb", []byte(bad)); err == nil || !strings.Contains(err.Error(), "bad.ipynb") {
			t.Errorf("Parse(%s) = %v, want an error naming the file", bad, err)
		}
	}
}

// TestUpdateDisplayAcrossCells: an update_display_data changes the output
// with that display_id in whichever cell showed it (nbclient does so), not
// only in the running cell.
func TestUpdateDisplayAcrossCells(t *testing.T) {
	nb, err := nbrun.Parse("u.ipynb", []byte(`{"cells":[
 {"cell_type":"code","source":"display bar 0%","metadata":{},"outputs":[],"execution_count":null},
 {"cell_type":"code","source":"out working\nupdate bar 50%","metadata":{},"outputs":[],"execution_count":null},
 {"cell_type":"code","source":"display bar 60%\nupdate bar 100%","metadata":{},"outputs":[],"execution_count":null},
 {"cell_type":"code","source":"update other 1%","metadata":{},"outputs":[],"execution_count":null}
],"metadata":{},"nbformat":4,"nbformat_minor":4}`))
	if err != nil {
		t.Fatal(err)
	}
	if err := nbrun.Run(context.Background(), nb, dispatchtest.New(), nbrun.Options{Timeout: 5 * time.Second}); err != nil {
		t.Fatal(err)
	}
	text := func(o map[string]any) any { d, _ := o["data"].(map[string]any); return d["text/plain"] }
	o0, o1, o2 := outputsOf(t, nb.Cells[0]), outputsOf(t, nb.Cells[1]), outputsOf(t, nb.Cells[2])
	if len(o0) != 1 || text(o0[0]) != "100%" {
		t.Errorf("cell 1 outputs %v, want its display updated by cells 2 and 3 to 100%%", o0)
	}
	if len(o1) != 1 || o1[0]["text"] != "working\n" {
		t.Errorf("cell 2 outputs %v, want only its stream", o1)
	}
	if len(o2) != 1 || text(o2[0]) != "100%" {
		t.Errorf("cell 3 outputs %v", o2)
	}
	if o3 := outputsOf(t, nb.Cells[3]); len(o3) != 0 {
		t.Errorf("cell 4 (update of an unknown id) outputs %v", o3)
	}
}
