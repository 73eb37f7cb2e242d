package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/daemon"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
)

func newStoreCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "store", Short: "Work with the store itself"}
	cmd.AddCommand(&cobra.Command{
		Use:   "import-sqlite FILE",
		Short: "Copy an SQLite store into the configured (empty) store",
		Long: `import-sqlite copies everything in the SQLite store FILE into the store the
config names (typically [store] driver = "postgres"): subscribers with their
consent history, issues, the delivery ledger, seen articles, feed state,
schedule slots, processed inbound mail, the outbox and the rate budgets.
Ids are kept, so links in mail already sent keep working.

FILE is first brought to this version's schema. The copy is one transaction
of the target: all of it arrives or none. The target must be empty; the
command names the tables that are not. Stop every digest process using FILE
first (a digest run holding its lease is refused): what they write after
the copy would stay behind.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			return importSQLite(cmd.Context(), cfg, args[0], cmd.OutOrStdout(), time.Now())
		},
	})
	return cmd
}

// importSQLite copies the SQLite store at file into cfg's store and prints
// the rows copied per table.
func importSQLite(ctx context.Context, cfg *config.Config, file string, out io.Writer, now time.Time) error {
	fi, err := os.Stat(file)
	if err != nil {
		return fmt.Errorf("import-sqlite: %w", err) // store.Open would create it
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("import-sqlite: %s is not a regular file", file)
	}
	if !cfg.Store.Postgres() {
		if ti, err := os.Stat(cfg.Resolve(cfg.Store.Path)); err == nil && os.SameFile(fi, ti) {
			return fmt.Errorf("import-sqlite: %s is the configured store itself (store.path)", file)
		}
	}
	src, err := store.Open(ctx, file)
	if err != nil {
		return fmt.Errorf("import-sqlite: %w", err)
	}
	defer src.Close()
	if err := sourceIdle(ctx, src, file, now); err != nil {
		return err
	}
	dst, err := openStore(ctx, cfg)
	if err != nil {
		return err
	}
	defer dst.Close()
	rep, err := dst.ImportFrom(ctx, src)
	if err != nil {
		return fmt.Errorf("import-sqlite: %w", err)
	}
	fmt.Fprintf(out, "copied %s into %s:\n", file, describeStore(cfg))
	for _, t := range rep.Tables {
		fmt.Fprintf(out, "  %-18s %9d\n", t.Table, t.Rows)
	}
	fmt.Fprintf(out, "  %-18s %9d\n", "total", rep.Total())
	return nil
}

// sourceIdle refuses a source whose scheduler is running: the snapshot
// copied would miss what it sends next.
func sourceIdle(ctx context.Context, src *store.DB, file string, now time.Time) error {
	holder, until, err := src.LeaseHolder(ctx, daemon.LeaseName)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return nil
	case err != nil:
		return fmt.Errorf("import-sqlite: %w", err)
	case until.After(now):
		return fmt.Errorf("import-sqlite: %s is in use: digest run %s holds its lease until %s; stop it first, or what it writes after the copy stays behind",
			file, holder, until.Format(time.RFC3339))
	}
	return nil
}

// describeStore names the configured store without its URL, which may
// hold a password.
func describeStore(cfg *config.Config) string {
	if cfg.Store.Postgres() {
		return "the PostgreSQL store named by $" + cfg.Store.URLEnv
	}
	return filepath.Clean(cfg.Resolve(cfg.Store.Path))
}
