package checkpoint

import (
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

func writeFile(t *testing.T, path, content string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestWriteDirAtomicKeepsOldOnFailure(t *testing.T) {
	out := t.TempDir()
	dir := filepath.Join(out, "checkpoint-5")
	if err := WriteDirAtomic(dir, func(tmp string) error {
		writeFile(t, filepath.Join(tmp, "a"), "old")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	// A save that dies half way (here: returns an error after writing a
	// file) must leave the previous folder untouched and no debris.
	boom := errors.New("disk full")
	err := WriteDirAtomic(dir, func(tmp string) error {
		writeFile(t, filepath.Join(tmp, "a"), "new, half written")
		return boom
	})
	if !errors.Is(err, boom) {
		t.Fatalf("err = %v", err)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "a")); string(b) != "old" {
		t.Errorf("old checkpoint changed: %q", b)
	}
	ents, _ := os.ReadDir(out)
	if len(ents) != 1 {
		t.Errorf("debris left: %v", ents)
	}
	// Replacing works and leaves only the new content.
	if err := WriteDirAtomic(dir, func(tmp string) error {
		writeFile(t, filepath.Join(tmp, "b"), "new")
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "a")); err == nil {
		t.Error("replaced folder still has the old file")
	}
}

func TestCheckpointRotation(t *testing.T) {
	out := t.TempDir()
	for _, n := range []int{10, 2, 30, 20} {
		if err := os.Mkdir(filepath.Join(out, CheckpointPrefix+itoa(n)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	// What a killed save leaves behind, and unrelated folders.
	os.Mkdir(filepath.Join(out, ".checkpoint-40.tmp-123"), 0o755)
	os.Mkdir(filepath.Join(out, "checkpoint-x"), 0o755)
	os.Mkdir(filepath.Join(out, "3_epochs"), 0o755)
	cps, err := ListCheckpoints(out)
	if err != nil {
		t.Fatal(err)
	}
	var steps []int
	for _, c := range cps {
		steps = append(steps, c.Step)
	}
	if len(steps) != 4 || steps[0] != 2 || steps[3] != 30 {
		t.Fatalf("steps = %v", steps)
	}
	if err := PruneCheckpoints(out, 2); err != nil {
		t.Fatal(err)
	}
	ents, _ := os.ReadDir(out)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	got := strings.Join(names, ",")
	if got != "3_epochs,checkpoint-20,checkpoint-30,checkpoint-x" {
		t.Errorf("after pruning: %s", got)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }

func TestTrainerStateHFSchema(t *testing.T) {
	loss, lr := 2.5, 1e-4
	s := &TrainerState{GlobalStep: 7, Epoch: 1.5, MaxSteps: 10, LogHistory: []LogEntry{{Epoch: 0.5, Step: 2, Loss: &loss, LearningRate: &lr}}}
	path := filepath.Join(t.TempDir(), TrainerStateName)
	if err := WriteJSON(path, s); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(path)
	// Keys HF's TrainerState(**json) requires by name.
	for _, k := range []string{`"global_step": 7`, `"log_history"`, `"best_model_checkpoint": null`, `"trial_params": null`, `"loss": 2.5`} {
		if !strings.Contains(string(b), k) {
			t.Errorf("trainer_state.json lacks %s:\n%s", k, b)
		}
	}
	back, err := ReadTrainerState(path)
	if err != nil {
		t.Fatal(err)
	}
	if back.GlobalStep != 7 || len(back.LogHistory) != 1 || *back.LogHistory[0].Loss != 2.5 {
		t.Errorf("read back %+v", back)
	}
}

func TestReadModelDir(t *testing.T) {
	dir := t.TempDir()
	if _, err := ReadModelDir(dir); err == nil || !strings.Contains(err.Error(), "no model.safetensors") {
		t.Errorf("empty folder: err = %v", err)
	}
	sd := StateDict{"w": {DType: F32, Shape: []int{2}, Data: []float32{1, 2}}}
	if err := WriteTorch(filepath.Join(dir, TorchName), sd); err != nil {
		t.Fatal(err)
	}
	got, err := ReadModelDir(dir)
	if err != nil || got["w"] == nil || got["w"].Data[1] != 2 {
		t.Fatalf("torch folder: %v %v", got, err)
	}
	sd["w"].Data[1] = 3
	if err := WriteSafetensors(filepath.Join(dir, SafetensorsName), sd); err != nil {
		t.Fatal(err)
	}
	got, err = ReadModelDir(dir)
	if err != nil || got["w"].Data[1] != 3 {
		t.Fatalf("safetensors should win: %v %v", got, err)
	}
}
