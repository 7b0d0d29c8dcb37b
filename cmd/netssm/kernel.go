package main

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/netssm/netssm/kernel/dispatch"
	"github.com/netssm/netssm/kernel/proc"
	"github.com/netssm/netssm/kernel/server"
)

func init() {
	register(&command{
		name:    "kernel",
		summary: "serve Go notebook kernels over the Jupyter Server REST and websocket API",
		run: func(ctx context.Context, args []string) error {
			return serveKernels(ctx, args, os.Stdout, nil)
		},
	})
}

// newEngine starts the engine of one kernel: a child process running a
// yaegi session (kernel/proc). Tests may replace it.
var newEngine = startProcEngine

func startProcEngine(ctx context.Context, opt server.StartOptions) (dispatch.Engine, error) {
	var env []string
	if len(opt.Env) > 0 {
		env = append(os.Environ(), opt.Env...)
	}
	k, err := proc.Start(ctx, proc.Options{Dir: opt.Dir, Env: env})
	if err != nil {
		return nil, err
	}
	return k, nil
}

// listFlag collects repeated or comma-separated flag values.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }
func (l *listFlag) Set(v string) error {
	for _, s := range strings.Split(v, ",") {
		if s = strings.TrimSpace(s); s != "" {
			*l = append(*l, s)
		}
	}
	return nil
}

// serveKernels runs `netssm kernel`. It prints the server's URL to out;
// ready, if not nil, receives the base URL and token once listening.
func serveKernels(ctx context.Context, args []string, out io.Writer, ready func(url, token string)) error {
	fs := newFlagSet("kernel", "[-ip 127.0.0.1] [-port 8888] [-token T] [-allow-origin ORIGIN]")
	ip := fs.String("ip", "127.0.0.1", "address to listen on (loopback by default)")
	port := fs.Int("port", 8888, "port to listen on (0 picks a free one)")
	token := fs.String("token", "", "API token (default: a random one, printed with the URL); -token '' disables authentication, on loopback only, as Jupyter's --ServerApp.token=''")
	var origins listFlag
	fs.Var(&origins, "allow-origin", "origin allowed to open websockets and call the API besides the server's own (repeatable, comma-separated; * allows any)")
	if err := parseFlags(fs, args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("%w: unexpected arguments %q", errUsage, fs.Args())
	}
	if *port < 0 || *port > 65535 {
		return fmt.Errorf("%w: -port %d out of range", errUsage, *port)
	}
	tokenGiven := false
	fs.Visit(func(f *flag.Flag) { tokenGiven = tokenGiven || f.Name == "token" })
	noAuth := tokenGiven && *token == ""
	if noAuth {
		if a := net.ParseIP(*ip); a == nil || !a.IsLoopback() {
			return fmt.Errorf("%w: -token '' (no authentication) is allowed only with a loopback -ip, not %q", errUsage, *ip)
		}
		fmt.Fprintln(os.Stderr, "netssm kernel: WARNING: authentication is disabled (-token ''): any local user can run code")
	} else if *token == "" {
		var b [24]byte
		if _, err := rand.Read(b[:]); err != nil {
			return fmt.Errorf("random token: %w", err)
		}
		*token = hex.EncodeToString(b[:])
	}
	ln, err := net.Listen("tcp", net.JoinHostPort(*ip, strconv.Itoa(*port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	if a, ok := ln.Addr().(*net.TCPAddr); ok && !a.IP.IsLoopback() {
		fmt.Fprintf(os.Stderr, "netssm kernel: WARNING: listening on %s, reachable beyond this machine; anyone with the token can run code\n", a)
	}
	logger := log.New(os.Stderr, "", log.LstdFlags)
	srv := server.New(server.Options{
		Token:        *token,
		AllowOrigins: origins,
		NewEngine:    newEngine,
		Info:         dispatch.Info{Implementation: "netssm"},
		Logf:         logger.Printf,
	})
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second, ErrorLog: logger}
	base := "http://" + ln.Addr().String()
	if noAuth {
		fmt.Fprintf(out, "netssm kernel: serving Jupyter kernels (kernelspec %q) at\n    %s/\n", server.SpecName, base)
		fmt.Fprintf(out, "Jupyter Server / Notebook can use it with:\n    --gateway-url=%s\n", base)
	} else {
		fmt.Fprintf(out, "netssm kernel: serving Jupyter kernels (kernelspec %q) at\n    %s/?token=%s\n", server.SpecName, base, *token)
		fmt.Fprintf(out, "Jupyter Server / Notebook can use it with:\n    --gateway-url=%s --GatewayClient.auth_token=%s\n", base, *token)
	}
	if ready != nil {
		ready(base, *token)
	}
	errc := make(chan error, 1)
	go func() { errc <- hs.Serve(ln) }()
	select {
	case err = <-errc:
	case <-ctx.Done():
		fmt.Fprintln(os.Stderr, "netssm kernel: shutting down kernels")
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		hs.Shutdown(sctx)
		cancel()
		err = <-errc
	}
	if cerr := srv.Close(); cerr != nil {
		logger.Printf("netssm kernel: %v", cerr)
	}
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}
