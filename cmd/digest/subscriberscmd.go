package main

import (
	"context"
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
list gets the name, topics and edition given, and is confirmed if it was
pending. An address that unsubscribed or bounced is refused: only its owner
can subscribe it again, through the web form or by email.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			req := subscribers.AddRequest{Email: args[0], Name: name, Topics: splitTopics(topics), Edition: edition}
			return withRoster(cmd, g, func(cfg *config.Config) error {
				return subscribers.CheckAdd(req, topicNames(cfg), editionNames(cfg))
			}, func(r *subscribers.Roster) error {
				s, created, err := r.Add(cmd.Context(), req)
				if err != nil {
					return operatorError(err)
				}
				verb := "added"
				if !created {
					verb = "updated"
				}
				fmt.Fprintf(g.stdout, "%s %s (%s)\n", verb, s.Email, s.Status)
				return nil
			})
		},
	}
	cmd.Flags().StringVar(&name, "name", "", "display name")
	cmd.Flags().StringVar(&topics, "topics", "", "comma-separated topic names (default: all)")
	cmd.Flags().StringVar(&edition, "edition", "", "edition name (default: the first edition)")
	return cmd
}

// withRoster checks the arguments with check (before a store is opened, so
// a typo creates none; nil: no check), opens the store and runs fn with the
// list rules.
func withRoster(cmd *cobra.Command, g *globals, check func(*config.Config) error, fn func(r *subscribers.Roster) error) error {
	cfg, err := g.loadConfig()
	if err != nil {
		return err
	}
	if check != nil {
		if err := check(cfg); err != nil {
			return operatorError(err)
		}
	}
	st, err := openStore(cmd.Context(), cfg)
	if err != nil {
		return err
	}
	defer st.Close()
	r, err := subscribers.NewRoster(subscribers.RosterOptions{Store: st, Topics: topicNames(cfg), Editions: editionNames(cfg), Logger: g.log})
	if err != nil {
		return err
	}
	return fn(r)
}

// operatorError makes a refusal the operator can fix on the command line
// a usage error (exit 2).
func operatorError(err error) error {
	var ae *subscribers.AddressError
	var ce *subscribers.ChoiceError
	if errors.As(err, &ae) || errors.As(err, &ce) {
		return usageError{err}
	}
	return err
}

func subRemoveCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "remove EMAIL",
		Short: "Delete a subscriber and their history from the store",
		Long: `remove erases EMAIL with its consent history, deliveries and unsent mail.
Its id is never given to anyone else, and the links in its old emails stop
working.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			return withRoster(cmd, g, func(*config.Config) error {
				_, err := subscribers.NormalizeAddress(args[0])
				return err
			}, func(r *subscribers.Roster) error {
				if err := r.Remove(cmd.Context(), args[0]); err != nil {
					return operatorError(err)
				}
				fmt.Fprintf(g.stdout, "removed %s\n", strings.TrimSpace(args[0]))
				return nil
			})
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
			return withRoster(cmd, g, nil, func(r *subscribers.Roster) error {
				return listSubscribers(cmd.Context(), g, r, store.Filter{Status: status, Edition: edition}, asJSON)
			})
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as a JSON array")
	cmd.Flags().StringVar(&status, "status", "", "only this status: pending, confirmed, unsubscribed or bounced")
	cmd.Flags().StringVar(&edition, "edition", "", "only this edition")
	return cmd
}

// listSubscribers prints the list as text or as a JSON array.
func listSubscribers(ctx context.Context, g *globals, r *subscribers.Roster, f store.Filter, asJSON bool) error {
	// Stream: a JSON array written element by element, so a large
	// list never sits in memory.
	first := true
	if asJSON {
		fmt.Fprint(g.stdout, "[")
	}
	err := r.Each(ctx, f, func(s store.Subscriber) error {
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
}

func subImportCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "import FILE.csv",
		Short: "Import subscribers from CSV (email,name,topics,edition,status,created)",
		Long: `import reads a CSV file with a header row: email (required), name, topics
(separated by ';'), edition, status and created (RFC 3339), the columns
export writes, so export then import on a new store is a round trip. Bad rows
are reported by line number on stderr and skipped; the good rows are imported
in one transaction. A row without status is confirmed (the operator vouches
for it); a row's status is kept. Consent is never invented: an address that
unsubscribed or bounced stays so whatever the file says, and a confirmed one
is not made pending. Addresses already on the list get the name, topics and
edition from the file. Use - for standard input.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			f := os.Stdin
			if args[0] != "-" {
				var err error
				if f, err = os.Open(args[0]); err != nil {
					return fmt.Errorf("subscribers: import: %w", err)
				}
				defer f.Close()
			}
			return withRoster(cmd, g, nil, func(r *subscribers.Roster) error {
				start := time.Now()
				rep, err := r.Import(cmd.Context(), f)
				for _, e := range rep.Refused {
					fmt.Fprintf(g.stderr, "%s:%d: %v\n", args[0], e.Line, e.Err)
				}
				if err != nil {
					return fmt.Errorf("%s: nothing imported: %w", args[0], err)
				}
				fmt.Fprintf(g.stdout, "imported %s: %d added, %d updated, %d unchanged, %d bad rows skipped (%.1fs)\n",
					args[0], rep.Added, rep.Updated, rep.Unchanged, len(rep.Refused), time.Since(start).Seconds())
				return nil
			})
		},
	}
}

func subExportCmd(g *globals) *cobra.Command {
	var status string
	cmd := &cobra.Command{
		Use:   "export",
		Short: "Write the list as CSV to standard output (the columns import reads)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return withRoster(cmd, g, nil, func(r *subscribers.Roster) error {
				return r.Export(cmd.Context(), g.stdout, store.Filter{Status: status})
			})
		},
	}
	cmd.Flags().StringVar(&status, "status", "", "only this status")
	return cmd
}
