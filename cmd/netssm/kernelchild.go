package main

import (
	"context"
	"os"

	"github.com/netssm/netssm/kernel/proc"
)

// _kernel-child is the child process of a notebook kernel (kernel/proc
// starts it; it is not for people to run).
func init() {
	register(&command{
		name:    "_kernel-child",
		summary: "internal: the child process of a kernel",
		run: func(ctx context.Context, args []string) error {
			os.Exit(proc.ChildMain())
			return nil
		},
	})
}
