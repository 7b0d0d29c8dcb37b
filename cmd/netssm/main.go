// Command netssm is the single binary of the netssm project: the NetSSM
// pipeline (preprocess, tokenizer, tokenize, train, generate, convert, eval)
// as batch subcommands, and the notebook kernel (kernel, run, repl).
//
// Each subcommand lives in its own file and registers itself from init, so
// adding one never touches this file.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
)

// command is one subcommand of netssm.
type command struct {
	name    string
	summary string // one line for the top-level usage
	// run executes the subcommand with the arguments after its name.
	// It returns errUsage (possibly wrapped) for bad flags so that main
	// exits with status 2.
	run func(ctx context.Context, args []string) error
}

var commands = map[string]*command{}

func register(c *command) {
	if _, dup := commands[c.name]; dup {
		panic("netssm: duplicate subcommand " + c.name)
	}
	commands[c.name] = c
}

// errUsage marks errors caused by bad command-line usage (exit status 2).
var errUsage = errors.New("usage error")

// newFlagSet returns a flag set for a subcommand that reports errors instead
// of exiting, and writes its help to stderr.
func newFlagSet(name, usage string) *flag.FlagSet {
	fs := flag.NewFlagSet("netssm "+name, flag.ContinueOnError)
	fs.SetOutput(os.Stderr)
	fs.Usage = func() {
		fmt.Fprintf(fs.Output(), "usage: netssm %s %s\n", name, usage)
		fs.PrintDefaults()
	}
	return fs
}

// parseFlags parses args and wraps flag errors in errUsage.
func parseFlags(fs *flag.FlagSet, args []string) error {
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return fmt.Errorf("%w: %v", errUsage, err)
	}
	return nil
}

func usage(w io.Writer) {
	fmt.Fprintln(w, "netssm: synthetic packet traces with a Mamba2 language model")
	fmt.Fprintln(w, "\nusage: netssm <command> [flags]\n\ncommands:")
	names := make([]string, 0, len(commands))
	for n := range commands {
		if !strings.HasPrefix(n, "_") { // internal commands start with _
			names = append(names, n)
		}
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-12s %s\n", n, commands[n].summary)
	}
	fmt.Fprintln(w, "\nRun 'netssm <command> -h' for a command's flags.")
}

func main() {
	os.Exit(run(os.Args[1:]))
}

func run(args []string) int {
	if len(args) == 0 || args[0] == "-h" || args[0] == "-help" || args[0] == "--help" || args[0] == "help" {
		usage(os.Stdout)
		if len(args) == 0 {
			return 2
		}
		return 0
	}
	c, ok := commands[args[0]]
	if !ok {
		fmt.Fprintf(os.Stderr, "netssm: unknown command %q\n\n", args[0])
		usage(os.Stderr)
		return 2
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := c.run(ctx, args[1:])
	switch {
	case err == nil:
		return 0
	case errors.Is(err, flag.ErrHelp):
		return 0
	case errors.Is(err, errUsage):
		fmt.Fprintf(os.Stderr, "netssm %s: %v\n", c.name, err)
		return 2
	default:
		fmt.Fprintf(os.Stderr, "netssm %s: %v\n", c.name, err)
		return 1
	}
}
