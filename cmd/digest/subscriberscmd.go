package main

import (
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
	"github.com/digest-newsletter/digest/subscribers"
)

func newSubscribersCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:     "subscribers",
		Aliases: []string{"subs"},
		Short:   "Manage the subscriber list",
	}
	cmd.AddCommand(subAddCmd(g), subRemoveCmd(g), subListCmd(g), subImportCmd(g), subExportCmd(g))
	return cmd
}

func topicNames(cfg *config.Config) []string {
	if len(cfg.Topics) == 0 {
		return nil
	}
	names := make([]string, len(cfg.Topics))
	for i, t := range cfg.Topics {
		names[i] = t.Name
	}
	return names
}

func editionNames(cfg *config.Config) []string {
	names := make([]string, len(cfg.Editions))
	for i, e := range cfg.Editions {
		names[i] = e.Name
	}
	return names
}

func splitTopics(s string) []string {
	var out []string
	for _, t := range strings.FieldsFunc(s, func(r rune) bool { return r == ',' || r == ';' }) {
		if t = strings.TrimSpace(t); t != "" {
			out = append(out, t)
		}
	}
	return out
}

func subAddCmd(g *globals) *cobra.Command {
	var name, topics, edition string
	cmd := &cobra.Command{
		Use:   "add EMAIL",
		Short: "Add a confirmed subscriber (the operator vouches for them)",
		Long: `add puts EMAIL on the list as confirmed. An address that is already on the
list is updated (name, topics, edition) and confirmed again unless it
unsubscribed or bounced: their choice is kept, remove and add them to override.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			email, err := subscribers.NormalizeAddress(args[0])
			if err != nil {
				return usageError{err}
			}
			ts := splitTopics(topics)
			if err := checkChoices(cfg, ts, edition); err != nil {
				return usageError{err}
			}
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			now := time.Now()
			s, created, err := st.AddSubscriber(ctx, store.Subscriber{Email: email, Name: name, Status: store.StatusConfirmed, Topics: ts, Edition: edition, Created: now, Confirmed: now})
			if err != nil {
				return err
			}
			if !created {
				if s.Status == store.StatusUnsubscribed || s.Status == store.StatusBounced {
					return fmt.Errorf("subscribers: %s is %s; not re-added (remove it first to override)", email, s.Status)
				}
				s.Name, s.Topics, s.Edition = name, ts, edition
				if s.Status == store.StatusPending {
					s.Status, s.Confirmed = store.StatusConfirmed, now
				}
				if err := st.UpdateSubscriber(ctx, s); err != nil {
					return err
				}
			}
			if err := st.AddConsent(ctx, store.ConsentEvent{SubscriberID: s.ID, Kind: "add", At: now, Form: "cli"}); err != nil {
				return err
			}
			verb := "added"
			if !created {
				verb = "updated"
			}
			fmt.Fprintf(g.stdout, "%s %s (confirmed)\n", verb, email)
			return nil
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().StringVar(&topics, "topics", "", "comma-separated topic names (default: all)")
	cmd.Flags().StringVar(&edition, "edition", "", "edition name (default: the first edition)")
	return cmd
}

func checkChoices(cfg *config.Config, topics []string, edition string) error {
	known := topicNames(cfg)
	for _, t := range topics {
		if known != nil && !contains(known, t) {
			return fmt.Errorf("--topics: unknown topic %q (known: %s)", t, strings.Join(known, ", "))
		}
	}
	if edition != "" {
		if _, ok := cfg.Edition(edition); !ok {
			return fmt.Errorf("--edition: unknown edition %q (known: %s)", edition, strings.Join(editionNames(cfg), ", "))
		}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func subRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove EMAIL",
		Short: "Delete a subscriber and their history from the store",
		Args:  cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			email, err := subscribers.NormalizeAddress(args[0])
			if err != nil {
				return usageError{err}
			}
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			if err := st.DeleteSubscriber(ctx, email); err != nil {
				if errors.Is(err, store.ErrNotFound) {
					return fmt.Errorf("subscribers: %s is not on the list", email)
				}
				return err
			}
			fmt.Fprintf(g.stdout, "removed %s\n", email)
			return nil
		},
	}
}

// subscriberJSON is the contract of `digest subscribers list --json`.
type subscriberJSON struct {
	Email     string    `json:"email"`
	Name      string    `json:"name"`
	Status    string    `json:"status"`
	Topics    []string  `json:"topics"`
	Edition   string    `json:"edition"`
	Created   time.Time `json:"created"`
	LastError string    `json:"last_error,omitempty"`
}

func subListCmd(g *globals) *cobra.Command {
	var asJSON bool
	var status, edition string
	cmd := &cobra.Command{
		Use:   "list",
		Short: "List subscribers (bounced ones with the reason)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			// Stream: a JSON array written element by element, so a large
			// list never sits in memory.
			first := true
			if asJSON {
				fmt.Fprint(g.stdout, "[")
			}
			err = st.EachSubscriber(ctx, store.Filter{Status: status, Edition: edition}, func(s store.Subscriber) error {
				if !asJSON {
					line := fmt.Sprintf("%-40s %-12s %-10s %s", s.Email, s.Status, s.Edition, strings.Join(s.Topics, ","))
					if s.Status == store.StatusBounced && s.LastError != "" {
						line += "  (" + s.LastError + ")"
					}
					_, err := fmt.Fprintln(g.stdout, strings.TrimRight(line, " "))
					return err
				}
				j := subscriberJSON{Email: s.Email, Name: s.Name, Status: s.Status, Topics: s.Topics, Edition: s.Edition, Created: s.Created.UTC(), LastError: s.LastError}
				if j.Topics == nil {
					j.Topics = []string{}
				}
				b, err := jsonMarshal(j)
				if err != nil {
					return err
				}
				if !first {
					fmt.Fprint(g.stdout, ",")
				}
				first = false
				_, err = fmt.Fprintf(g.stdout, "\n  %s", b)
				return err
			})
			if asJSON {
				if !first {
					fmt.Fprintln(g.stdout)
				}
				fmt.Fprintln(g.stdout, "]")
			}
			return err
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as a JSON array")
	cmd.Flags().StringVar(&status, "status", "", "only this status: pending, confirmed, unsubscribed or bounced")
	cmd.Flags().StringVar(&edition, "edition", "", "only this edition")
	return cmd
}

func subImportCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Import subscribers from CSV (email,name,topics,edition) as confirmed",
		Long: `import reads a CSV file with a header row: email (required), name, topics
(separated by ';') and edition. Bad rows are reported by line number on
stderr and skipped; the good rows are imported in one transaction. New
addresses are confirmed (the operator vouches for them); addresses already on
the list keep their status (an unsubscribe is never undone) and get the
name, topics and edition from the file. Use - for standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			f := os.Stdin
			if args[0] != "-" {
				f, err = os.Open(args[0])
				if err != nil {
					return fmt.Errorf("subscribers: import: %w", err)
				}
				defer f.Close()
			}
			rd, err := subscribers.NewCSVReader(f, topicNames(cfg), editionNames(cfg))
			if err != nil {
				return fmt.Errorf("%s: %w", args[0], err)
			}
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			start := time.Now()
			stats, err := st.Import(ctx, func() (store.Subscriber, bool, error) {
				row, ok, err := rd.Next()
				if !ok || err != nil {
					return store.Subscriber{}, ok, err
				}
				return store.Subscriber{Email: row.Email, Name: row.Name, Topics: row.Topics, Edition: row.Edition}, true, nil
			}, time.Now())
			for _, e := range rd.Errors {
				fmt.Fprintf(g.stderr, "%s:%d: %v\n", args[0], e.Line, e.Err)
			}
			if err != nil {
				return fmt.Errorf("%s: nothing imported: %w", args[0], err)
			}
			fmt.Fprintf(g.stdout, "imported %s: %d added, %d updated, %d unchanged, %d bad rows skipped (%.1fs)\n",
				args[0], stats.Added, stats.Updated, stats.Unchanged, len(rd.Errors), time.Since(start).Seconds())
			return nil
		},
	}
	return cmd
}

func subExportCmd(g *globals) *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the list as CSV to standard output",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			st, err := openStore(ctx, cfg)
			if err != nil {
				return err
			}
			defer st.Close()
			w := csv.NewWriter(g.stdout)
			w.Write([]string{"email", "name", "topics", "edition", "status", "created"})
			err = st.EachSubscriber(ctx, store.Filter{Status: status}, func(s store.Subscriber) error {
				return w.Write([]string{s.Email, s.Name, strings.Join(s.Topics, ";"), s.Edition, s.Status, s.Created.UTC().Format(time.RFC3339)})
			})
			w.Flush()
			if err != nil {
				return err
			}
			return w.Error()
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only this status")
	return cmd
}
