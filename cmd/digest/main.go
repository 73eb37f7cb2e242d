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
}

// usageError marks a command-line mistake (exit status 2).
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func main() {
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
	fmt.Fprintln(stderr, "digest:", err)
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
			return nil
		},
	}
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
	)
	for _, c := range root.Commands() {
		wrapArgs(c)
	}
	return root
}

// wrapArgs makes argument-count errors usage errors (exit 2), recursively.
func wrapArgs(c *cobra.Command) {
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

// loadConfig reads the config named by --config, $DIGEST_CONFIG or
// config.toml, in that order.
func (g *globals) loadConfig() (*config.Config, error) {
	path := g.configPath
	if path == "" {
		path = os.Getenv("DIGEST_CONFIG")
	}
	if path == "" {
		path = "config.toml"
	}
	return config.Load(path)
}
