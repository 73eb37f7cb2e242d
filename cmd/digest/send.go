package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/internal/config"
)

func newSendCmd(g *globals) *cobra.Command {
	var (
		so         delivery.SendOptions
		asJSON     bool
		noProgress bool
		test       bool
		testTo     []string
	)
	cmd := &cobra.Command{
		Use:   "send",
		Short: "Send one issue now (or resume the unfinished one)",
		Long: `send collects, groups and renders the digest, freezes it as an issue in the
store and sends it to every confirmed subscriber of the edition. An unfinished
issue (after a crash or kill) is resumed instead of starting a new one: only
recipients not yet marked sent get it.

--dry-run does everything but SMTP and writing state, and prints what would be
sent; --out DIR writes each message as an .eml file and a preview.html.

--test --to a@x,b@y sends the digest the next issue would carry to those
addresses only, subject prefixed [TEST], rendered for a sample subscriber
with links that work nowhere: no issue, no ledger row, nothing marked seen.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if so.OutDir != "" && !so.DryRun {
				return usageError{fmt.Errorf("--out needs --dry-run")}
			}
			if _, ok := cfg.Edition(so.Edition); !ok {
				return usageError{fmt.Errorf("--edition: no edition %q in %s", so.Edition, cfg.Path)}
			}
			if test || len(testTo) > 0 {
				if !test || len(testTo) == 0 || so.DryRun {
					return usageError{fmt.Errorf("--test needs --to ADDR[,ADDR] (and no --dry-run)")}
				}
				return testSend(cmd, g, cfg, so.Edition, testTo)
			}
			return sendIssue(cmd, g, cfg, so, asJSON, noProgress)
		},
	}
	f := cmd.Flags()
	f.BoolVar(&so.DryRun, "dry-run", false, "do everything but SMTP and writing state; print what would be sent")
	f.StringVar(&so.OutDir, "out", "", "with --dry-run: write each message as DIR/*.eml and DIR/preview.html")
	f.StringVar(&so.Edition, "edition", "", "edition to send (default: the first in the config)")
	f.BoolVar(&so.Force, "force", false, "send even when there is nothing new (ignores skip_if_empty)")
	f.BoolVar(&asJSON, "json", false, "print the summary as JSON")
	f.BoolVar(&noProgress, "no-progress", false, "no progress bar or progress log lines")
	f.BoolVar(&test, "test", false, "send the current digest to --to only, subject prefixed [TEST]; stores nothing")
	f.StringSliceVar(&testTo, "to", nil, "with --test: the addresses, comma-separated")
	return cmd
}

// sendIssue is `digest send` without --test: one issue, made or resumed,
// then the outbox, then the summary.
func sendIssue(cmd *cobra.Command, g *globals, cfg *config.Config, so delivery.SendOptions, asJSON, noProgress bool) error {
	ctx := cmd.Context()
	st, err := openStoreIfExists(ctx, cfg)
	if !so.DryRun {
		st, err = openStore(ctx, cfg)
	}
	if err != nil {
		return err
	}
	if st != nil {
		defer st.Close()
	}
	signer, err := newSigner(cfg, !so.DryRun)
	if err != nil {
		return err
	}
	var onProgress func(delivery.Summary)
	if !so.DryRun && !noProgress {
		p := newProgress(g.stderr)
		defer p.done()
		onProgress = p.update
	}
	sender, err := newSender(cfg, st, so.DryRun, signer, so.Edition, onProgress, g.log)
	if err != nil {
		return err
	}
	sum, err := sender.Send(ctx, so)
	if !so.DryRun {
		// Confirmations and replies recorded since the last run go
		// out before the command ends (cron users have no daemon).
		if ferr := flushOutbox(ctx, cfg, st, g.log); ferr != nil {
			g.log.Error("outbox: not flushed", "error", ferr)
		}
	}
	if asJSON {
		enc := json.NewEncoder(g.stdout)
		enc.SetIndent("", "  ")
		if jerr := enc.Encode(sum); jerr != nil {
			return jerr
		}
	} else {
		printSummary(g.stdout, sum)
	}
	if err == nil && sum.State == delivery.StatePending {
		// Cron users need a failing exit to notice a relay that
		// was down; the ledger keeps these for the next run.
		err = fmt.Errorf("send: issue %d: %d recipients left pending for the next run (digest send again to retry)", sum.Issue, sum.Pending)
	}
	return err
}

func printSummary(w io.Writer, s delivery.Summary) {
	if s.Digest != nil {
		// The sources that failed now, not those of the build an issue
		// joined from the store was frozen with.
		d := *s.Digest
		d.Errors = s.Errors
		printDigest(w, &d)
	} else {
		for _, e := range s.Errors {
			fmt.Fprintf(w, "! source %q failed: %s\n", e.Source, e.Error)
		}
	}
	switch s.State {
	case "":
		return // stopped before there was an issue; the error says why
	case delivery.StateEmpty:
		fmt.Fprintf(w, "Nothing new for edition %q: no issue sent.\n", s.Edition)
		return
	case delivery.StateDryRun:
		n := s.Recipients
		fmt.Fprintf(w, "Dry run: %d articles, would send to %d recipient(s)", s.Articles, n)
		if n == 0 {
			fmt.Fprint(w, " (no confirmed subscribers yet: rendered for one sample recipient)")
		}
		fmt.Fprintln(w, ".")
		return
	}
	if s.SentByOther {
		fmt.Fprintf(w, "Issue %d (%s) was sent by another digest process while this one collected: nothing left to send.\n", s.Issue, s.Edition)
		return
	}
	what := "Issue"
	if s.Resumed {
		what = "Resumed issue" // frozen by an earlier run, or by another sender this one joined
	}
	fmt.Fprintf(w, "%s %d (%s): %d articles, %d recipients. This run sent %d, failed temporarily %d, failed permanently %d, skipped %d in %.1fs.\n",
		what, s.Issue, s.Edition, s.Articles, s.Recipients, s.Sent, s.FailedTemporary, s.FailedPermanent, s.Skipped, s.Seconds)
	switch s.State {
	case delivery.StateDone:
		fmt.Fprintln(w, "The issue is complete: every recipient got it or failed for good.")
	case delivery.StatePaused:
		fmt.Fprintf(w, "Paused: recipients in a row failed with %q, so the server, not the recipients, is at fault; nobody was marked bounced. %d recipients are left pending: fix the relay and run digest send again.\n",
			s.Paused, s.Pending)
	default:
		fmt.Fprintf(w, "Not complete: %d recipients are left pending for the next run (digest send again).\n", s.Pending)
	}
}

// printDigest writes the topics and articles in a human-readable form.
func printDigest(w io.Writer, d *digest.Digest) {
	fmt.Fprintf(w, "%s", d.Title)
	if d.Edition != "" {
		fmt.Fprintf(w, " (%s)", d.Edition)
	}
	fmt.Fprintf(w, ": %s to %s\n\n", d.From.Format(time.DateTime), d.To.Format(time.DateTime))
	if len(d.Top) > 0 {
		fmt.Fprintln(w, "Top stories")
		for _, a := range d.Top {
			fmt.Fprintf(w, "  * %s (%s and %d more)\n", a.Title, a.Source, len(a.Also))
		}
		fmt.Fprintln(w)
	}
	for _, t := range d.Topics {
		fmt.Fprintf(w, "%s (%d)\n", t.Name, len(t.Articles))
		for _, a := range t.Articles {
			fmt.Fprintf(w, "  - %s\n    %s, %s", a.Title, a.Source, a.Published.Format("2 Jan 2006 15:04"))
			if a.Author != "" {
				fmt.Fprintf(w, ", by %s", a.Author)
			}
			fmt.Fprintln(w)
			if len(a.Also) > 0 {
				var names []string
				for _, x := range a.Also {
					names = append(names, x.Source)
				}
				fmt.Fprintf(w, "    also in: %s\n", strings.Join(names, ", "))
			}
		}
		fmt.Fprintln(w)
	}
	for _, e := range d.Errors {
		fmt.Fprintf(w, "! source %q failed: %s\n", e.Source, e.Error)
	}
	if len(d.Errors) > 0 {
		fmt.Fprintln(w)
	}
}

// progress draws a bar on a terminal, or a log line every few seconds
// otherwise.
type progress struct {
	mu    sync.Mutex
	w     io.Writer
	tty   bool
	last  time.Time
	start time.Time
	drawn bool
}

func newProgress(w io.Writer) *progress {
	tty := false
	if f, ok := w.(*os.File); ok {
		if fi, err := f.Stat(); err == nil && fi.Mode()&os.ModeCharDevice != 0 {
			tty = true
		}
	}
	return &progress{w: w, tty: tty, start: time.Now()}
}

func (p *progress) update(s delivery.Summary) {
	p.mu.Lock()
	defer p.mu.Unlock()
	every := 5 * time.Second
	if p.tty {
		every = 100 * time.Millisecond
	}
	if time.Since(p.last) < every {
		return
	}
	p.last = time.Now()
	done := s.Sent + s.FailedPermanent + s.FailedTemporary + s.Skipped
	if !p.tty {
		fmt.Fprintf(p.w, "progress: %d/%d done, sent %d, failed %d, skipped %d\n", done, s.Recipients, s.Sent, s.FailedPermanent+s.FailedTemporary, s.Skipped)
		return
	}
	const width = 30
	frac := 0.0
	if s.Recipients > 0 {
		frac = min(float64(done)/float64(s.Recipients), 1)
	}
	fill := int(frac * width)
	rate := float64(s.Sent) / max(time.Since(p.start).Seconds(), 0.001)
	fmt.Fprintf(p.w, "\r[%s%s] %3.0f%% %d/%d sent %d failed %d %.0f/s ", strings.Repeat("=", fill), strings.Repeat(" ", width-fill), frac*100, done, s.Recipients, s.Sent, s.FailedPermanent+s.FailedTemporary, rate)
	p.drawn = true
}

func (p *progress) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.tty && p.drawn {
		fmt.Fprintln(p.w)
	}
}
