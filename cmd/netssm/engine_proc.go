package main

import (
	"context"
	"errors"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/server"
)

// startProcEngine starts a kernel child process. Until kernel/proc is
// merged there is no engine.
func startProcEngine(ctx context.Context, opt server.StartOptions) (dispatch.Engine, error) {
	return nil, errors.New("no kernel engine in this build (kernel/proc missing)")
}
