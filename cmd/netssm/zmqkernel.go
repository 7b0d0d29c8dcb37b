package main

import (
	"context"
	"fmt"
	"log"
	"os"
	"os/signal"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/proc"
	"github.com/netssm/netssm/kernel/zmq"
)

// zmq-kernel is the native Jupyter kernel: what the installed kernelspec
// runs (`netssm zmq-kernel -f {connection_file}`).
func init() {
	register(&command{
		name:    "zmq-kernel",
		summary: "run one Go notebook kernel over ZMQ from a Jupyter connection file (the kernelspec's argv)",
		run:     runZMQKernel,
	})
}

func runZMQKernel(ctx context.Context, args []string) error {
	fs := newFlagSet("zmq-kernel", "-f CONNECTION_FILE [-memory-limit-mib N] [ignored args]")
	file := fs.String("f", "", "Jupyter connection file (ports, ip, key, signature_scheme)")
	memMiB := fs.Int64("memory-limit-mib", 0, "memory cap of the kernel's cell process in MiB (0 = none); a cell over it kills and restarts the kernel, not Jupyter")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if *file == "" {
		return fmt.Errorf("%w: -f CONNECTION_FILE is required", errUsage)
	}
	// Extra arguments are ignored: `jupyter run FILE` appends the files it
	// runs to the kernel's argv (jupyter_client's build_kernel_argv), and
	// then sends their code itself.
	if *memMiB < 0 {
		return fmt.Errorf("%w: -memory-limit-mib %d is negative", errUsage, *memMiB)
	}
	ci, err := zmq.ReadConnectionFile(*file)
	if err != nil {
		return err
	}
	// SIGINT interrupts the running cell (interrupt_mode "signal": the
	// kernel manager signals the kernel's process group); it must not end
	// the process, so take it back from main's signal context. SIGTERM
	// still cancels ctx and shuts down.
	signal.Reset(os.Interrupt)
	sigint := make(chan os.Signal, 4)
	signal.Notify(sigint, os.Interrupt)
	defer signal.Stop(sigint)

	logger := log.New(os.Stderr, "", log.LstdFlags)
	eng, err := proc.Start(ctx, proc.Options{MemoryLimit: *memMiB << 20})
	if err != nil {
		return fmt.Errorf("starting the kernel process: %w", err)
	}
	k, err := zmq.Start(ctx, zmq.Options{
		Conn:   ci,
		Engine: eng,
		Info:   dispatch.Info{Implementation: "netssm"},
		Logf:   logger.Printf,
	})
	if err != nil {
		_ = eng.Shutdown()
		return err
	}
	orphaned := watchParent()
	for {
		select {
		case <-sigint:
			if err := k.Interrupt(); err != nil {
				logger.Printf("netssm zmq-kernel: interrupt: %v", err)
			}
			continue
		case <-k.Done():
		case <-ctx.Done():
		case <-orphaned:
			logger.Printf("netssm zmq-kernel: the process that started this kernel is gone; shutting down")
		}
		break
	}
	return k.Close()
}

// watchParent returns a channel closed when the process that launched the
// kernel exits (Jupyter sets JPY_PARENT_PID; ipykernel polls the same way),
// so that a killed front end does not leave kernels behind.
func watchParent() <-chan struct{} {
	c := make(chan struct{})
	if os.Getenv("JPY_PARENT_PID") == "" {
		return c
	}
	ppid := os.Getppid()
	go func() {
		for {
			time.Sleep(time.Second)
			if p := os.Getppid(); p != ppid || p == 1 {
				close(c)
				return
			}
		}
	}()
	return c
}
