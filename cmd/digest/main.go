// Command digest collects articles, groups them by topic, renders an HTML
// email digest and sends it to a subscriber list. This package is wiring
// only: each command builds the parts it needs from the config and runs
// them; the work happens in the packages it imports.
package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"runtime/debug"
	"strings"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/internal/config"
)

// globals are the flags every command accepts.
type globals struct {
	configPath string
	logFormat  string
	logLevel   string
	stdout     io.Writer
	stderr     io.Writer
	log        *slog.Logger
	// cmd is the command being run, so loadConfig can check its --edition.
	cmd *cobra.Command
}

// usageError marks a command-line mistake (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

// defaultMemoryLimit is the soft limit on the Go runtime's memory (heap,
// stacks, runtime metadata; not the binary's own pages) when GOMEMLIMIT is
// not set. Without it the collector lets the heap grow to twice what is
// live, and a send of ten thousand articles peaks far above what it
// holds. A soft limit only makes the collector run sooner: past it the
// program goes on, with at most half the CPU spent collecting. Set
// GOMEMLIMIT (e.g. "off", or "512MiB") to choose otherwise.
//
// 30 MiB sits just above the largest live heap of the 500-feed send of
// bench/collect (~22 MB, while automatic topics cluster ten thousand
// articles; their texts wait in a spill file, see digest/spill): it peaks
// at ~62 MB RSS, ~25 MB of which are the binary's own pages. At 32 MiB it
// peaks at ~64 MB for ~10% less CPU; at 28 MiB the collector runs all
// through grouping for under a megabyte less.
const defaultMemoryLimit = 30 << 20

func main() {
	if _, set := os.LookupEnv("GOMEMLIMIT"); !set {
		debug.SetMemoryLimit(defaultMemoryLimit)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := run(ctx, os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// run executes the command line and returns the exit status: 0 success, 1
// failure, 2 usage error.
func run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	g := &globals{stdout: stdout, stderr: stderr}
	root := newRoot(g)
	root.SetArgs(args)
	root.SetOut(stdout)
	root.SetErr(stderr)
	err := root.ExecuteContext(ctx)
	if err == nil {
		return 0
	}
	// One line a problem: a config's problems each get their own.
	var problems config.Errors
	if errors.As(err, &problems) {
		for _, p := range problems {
			fmt.Fprintln(stderr, "digest:", p)
		}
	} else {
		fmt.Fprintln(stderr, "digest:", err)
	}
	var ue usageError
	if errors.As(err, &ue) {
		return 2
	}
	return 1
}

func newRoot(g *globals) *cobra.Command {
	root := &cobra.Command{
		Use:   "digest",
		Short: "Newsletter digest generator and mailer",
		Long: `digest collects recent articles from feeds and article files, groups them by
topic, renders an HTML email digest and sends it to a subscriber list over SMTP.

Start with:  digest send --dry-run --config config.example.toml`,
		SilenceUsage:  true,
		SilenceErrors: true,
		PersistentPreRunE: func(cmd *cobra.Command, _ []string) error {
			l, err := newLogger(g.stderr, g.logFormat, g.logLevel)
			if err != nil {
				return usageError{err}
			}
			g.log = l
			g.cmd = cmd
			return nil
		},
		Version: versionLine(),
	}
	root.SetVersionTemplate("{{.Version}}\n")
	root.SetFlagErrorFunc(func(_ *cobra.Command, err error) error { return usageError{err} })
	pf := root.PersistentFlags()
	pf.StringVar(&g.configPath, "config", "", "config file (default: $DIGEST_CONFIG, else config.toml)")
	pf.StringVar(&g.logFormat, "log-format", "text", "log format: text or json")
	pf.StringVar(&g.logLevel, "log-level", "info", "log level: debug, info, warn or error")

	root.AddCommand(
		newSendCmd(g),
		newPreviewCmd(g),
		newCollectCmd(g),
		newRunCmd(g),
		newServeCmd(g),
		newSubscribersCmd(g),
		newConfigCmd(g),
		newStatusCmd(g),
		newInboundCmd(g),
		newArchiveCmd(g),
		newStoreCmd(g),
		newVersionCmd(g),
	)
	wrapArgs(root)
	return root
}

// wrapArgs makes argument-count errors usage errors (exit 2), and an
// unknown subcommand of a command group too, recursively.
func wrapArgs(c *cobra.Command) {
	if c.HasSubCommands() && !c.Runnable() {
		c.Args = cobra.ArbitraryArgs
		c.RunE = unknownCommand
	}
	if c.Args != nil {
		inner := c.Args
		c.Args = func(cmd *cobra.Command, args []string) error {
			if err := inner(cmd, args); err != nil {
				return usageError{err}
			}
			return nil
		}
	}
	for _, sub := range c.Commands() {
		wrapArgs(sub)
	}
}

func newLogger(w io.Writer, format, level string) (*slog.Logger, error) {
	var lv slog.Level
	if err := lv.UnmarshalText([]byte(level)); err != nil {
		return nil, fmt.Errorf("--log-level: %w", err)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format must be text or json, got %q", format)
}

// unknownCommand runs for a command group (digest, digest subscribers):
// without arguments it shows the help, with one it is a usage error that
// lists the commands there are. (cobra alone exits 0 with the help for
// "digest subscribers bogus".)
func unknownCommand(cmd *cobra.Command, args []string) error {
	if len(args) == 0 {
		return cmd.Help()
	}
	var known []string
	for _, c := range cmd.Commands() {
		if c.IsAvailableCommand() {
			known = append(known, c.Name())
		}
	}
	hint := ""
	if cmd.SuggestionsMinimumDistance <= 0 {
		cmd.SuggestionsMinimumDistance = 2 // cobra's default, set only on its own path
	}
	if s := cmd.SuggestionsFor(args[0]); len(s) > 0 {
		hint = fmt.Sprintf("; did you mean %q?", s[0])
	}
	return usageError{fmt.Errorf("unknown command %q for %q%s (commands: %s)", args[0], cmd.CommandPath(), hint, strings.Join(known, ", "))}
}

// path is the config named by --config, $DIGEST_CONFIG or
// config.toml, in that order.
func (g *globals) path() string {
	switch {
	case g.configPath != "":
		return g.configPath
	case os.Getenv("DIGEST_CONFIG") != "":
		return os.Getenv("DIGEST_CONFIG")
	}
	return "config.toml"
}

// loadConfig reads the config, and checks the running command's --edition
// against it: an edition it does not have is a usage error listing those
// it has, for every command that takes the flag.
func (g *globals) loadConfig() (*config.Config, error) {
	cfg, err := config.Load(g.path())
	if err != nil {
		return nil, err
	}
	if g.cmd == nil {
		return cfg, nil
	}
	if f := g.cmd.Flags().Lookup("edition"); f != nil && f.Value.String() != "" {
		if _, ok := cfg.Edition(f.Value.String()); !ok {
			names := make([]string, len(cfg.Editions))
			for i, e := range cfg.Editions {
				names[i] = e.Name
			}
			return nil, usageError{fmt.Errorf("--edition: no edition %q in %s (editions: %s)", f.Value.String(), cfg.Path, strings.Join(names, ", "))}
		}
	}
	return cfg, nil
}
