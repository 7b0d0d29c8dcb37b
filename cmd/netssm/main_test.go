package main

import (
	"context"
	"testing"
)

func TestUnknownCommandIsUsageError(t *testing.T) {
	if got := run([]string{"no-such-command"}); got != 2 {
		t.Fatalf("exit status = %d, want 2", got)
	}
}

func TestBadFlagIsUsageError(t *testing.T) {
	if got := run([]string{"version", "-no-such-flag"}); got != 2 {
		t.Fatalf("exit status = %d, want 2", got)
	}
}

func TestVersionRuns(t *testing.T) {
	if err := commands["version"].run(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
}
