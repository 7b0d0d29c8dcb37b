package dataset

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"testing"

	"github.com/netssm/netssm/internal/testenv"
)

func testdata(parts ...string) string {
	return filepath.Join(append([]string{testenv.RepoRoot(), "testdata", "dataset"}, parts...)...)
}

type expected struct {
	InputIDs      [][]int32 `json:"input_ids"`
	AttentionMask [][]int8  `json:"attention_mask"`
}

func loadExpected(t *testing.T) expected {
	t.Helper()
	var e expected
	b, err := os.ReadFile(testdata("expected.json"))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &e); err != nil {
		t.Fatal(err)
	}
	return e
}

// TestReadForeignArrow reads Arrow files written by apache-arrow (JS), an
// independent implementation (testdata/dataset/js/gen-arrow.mjs): the
// columns NetSSM's create_tok_dataset keeps (Data, token_type_ids,
// OrigLen) around ours, large_list<int64>, the IPC file format without an
// attention_mask, and a two-shard save_to_disk folder.
func TestReadForeignArrow(t *testing.T) {
	want := loadExpected(t)
	ones := make([][]int8, len(want.InputIDs))
	for i, r := range want.InputIDs {
		ones[i] = make([]int8, len(r))
		for k := range r {
			ones[i][k] = 1
		}
	}
	for _, tc := range []struct {
		path  string
		masks [][]int8
	}{
		{"hf-columns.arrow", want.AttentionMask},
		{"large-list-int64.arrow", want.AttentionMask},
		{"file-format.arrow", ones},
		{"two-shards", want.AttentionMask},
	} {
		t.Run(tc.path, func(t *testing.T) {
			r, err := Open(testdata(tc.path), Options{})
			if err != nil {
				t.Fatal(err)
			}
			defer r.Close()
			got := readAll(t, r)
			if len(got) != len(want.InputIDs) {
				t.Fatalf("%d examples, want %d", len(got), len(want.InputIDs))
			}
			for i, ex := range got {
				if !equalIDs(ex.InputIDs, want.InputIDs[i]) || !equalMask(ex.AttentionMask, tc.masks[i]) {
					t.Errorf("example %d = %v / %v, want %v / %v", i, ex.InputIDs, ex.AttentionMask, want.InputIDs[i], tc.masks[i])
				}
			}
			// random access agrees with sequential reading
			ex, err := r.At(3)
			if err != nil || !equalIDs(ex.InputIDs, want.InputIDs[3]) {
				t.Errorf("At(3) = %v, %v", ex.InputIDs, err)
			}
		})
	}
}

func equalIDs(a, b []int32) bool { return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b)) }
func equalMask(a, b []int8) bool { return len(a) == len(b) && (len(a) == 0 || reflect.DeepEqual(a, b)) }

// TestArrowJSReadsOurs has apache-arrow (JS) read what Writer writes: types,
// nullability, the huggingface metadata and every value. It needs node and
// the npm package that .ci/setup.d/arrow.sh installs.
func TestArrowJSReadsOurs(t *testing.T) {
	node := testenv.NeedTool(t, "node")
	script := testdata("js", "read-arrow.mjs")
	if _, err := os.Stat(testdata("js", "node_modules", "apache-arrow")); err != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true but apache-arrow is not installed in testdata/dataset/js (.ci/setup.d/arrow.sh)")
		}
		t.Skip("skipping: apache-arrow not installed (cd testdata/dataset/js && npm ci)")
	}
	dir := filepath.Join(t.TempDir(), "ds")
	exs := examples(1500) // two record batches
	writeDataset(t, dir, exs, WriterOptions{})
	out, err := exec.Command(node, script, filepath.Join(dir, "data-00000-of-00001.arrow")).Output()
	if err != nil {
		t.Fatalf("node: %v", err)
	}
	var got struct {
		Fields        []string          `json:"fields"`
		Nullable      []bool            `json:"nullable"`
		Metadata      map[string]string `json:"metadata"`
		Batches       int               `json:"batches"`
		InputIDs      [][]int32         `json:"input_ids"`
		AttentionMask [][]int8          `json:"attention_mask"`
	}
	if err := json.Unmarshal(out, &got); err != nil {
		t.Fatalf("node output: %v", err)
	}
	if want := []string{"input_ids: List<Int32>", "attention_mask: List<Int8>"}; !reflect.DeepEqual(got.Fields, want) {
		t.Errorf("fields %v, want %v", got.Fields, want)
	}
	if !reflect.DeepEqual(got.Nullable, []bool{true, true}) || got.Batches != 2 {
		t.Errorf("nullable %v, batches %d", got.Nullable, got.Batches)
	}
	var meta struct {
		Info struct {
			Features map[string]struct {
				Type    string `json:"_type"`
				Feature struct {
					Dtype string `json:"dtype"`
				} `json:"feature"`
			} `json:"features"`
		} `json:"info"`
	}
	if err := json.Unmarshal([]byte(got.Metadata["huggingface"]), &meta); err != nil {
		t.Fatalf("huggingface metadata: %v", err)
	}
	if f := meta.Info.Features; f["input_ids"].Feature.Dtype != "int32" || f["attention_mask"].Feature.Dtype != "int8" || f["input_ids"].Type != "List" {
		t.Errorf("features %+v", f)
	}
	for i, ex := range exs {
		if !equalIDs(got.InputIDs[i], ex.InputIDs) || !equalMask(got.AttentionMask[i], ex.AttentionMask) {
			t.Fatalf("example %d differs as read by apache-arrow", i)
		}
	}
}
