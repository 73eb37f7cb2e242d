package main

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/archive"
	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/internal/store"
)

// newArchive wires the public archive from the config.
func newArchive(cfg *config.Config, st *store.DB, log *slog.Logger) (*archive.Archive, error) {
	r, err := newRenderer(cfg)
	if err != nil {
		return nil, err
	}
	light, dark, err := render.Accents(cfg.Theme.AccentColor)
	if err != nil {
		return nil, fmt.Errorf("theme.accent_color: %w", err)
	}
	n := cfg.Newsletter
	a, err := archive.New(archive.Options{
		Accent: light, AccentDark: dark,
		Store: st, Renderer: r, Digest: delivery.FrozenDigest,
		BaseURL: n.BaseURL, Title: n.Title, Description: n.Description, Language: n.Language,
		PageSize: cfg.Archive.PageSize, FeedItems: cfg.Archive.FeedItems, Logger: log,
	})
	if err != nil {
		return nil, fmt.Errorf("%s: %w", cfg.Path, err)
	}
	return a, nil
}

// webHandler is what digest serve and digest run answer on server.listen:
// the subscription pages and, unless [archive] enabled = false, the archive.
// The archive has its own headers (its pages are the email's HTML, with
// inline styles), so it is mounted beside the subscribers handler, not
// inside it.
func webHandler(cfg *config.Config, st *store.DB, subs http.Handler, log *slog.Logger) (*http.ServeMux, error) {
	mux := http.NewServeMux()
	mux.Handle("/", subs)
	if cfg.Archive.On() {
		a, err := newArchive(cfg, st, log)
		if err != nil {
			return nil, err
		}
		a.Register(mux)
	}
	return mux, nil
}

func newArchiveCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{
		Use:   "archive",
		Short: "The public archive of sent issues",
	}
	var root string
	export := &cobra.Command{
		Use:   "export DIR",
		Short: "Write the archive as static files: index.html, one page per issue, feed.atom, feed.json",
		Long: `archive export writes every issue that reached a reader to DIR as static
files for any web host: index.html (every issue, newest first), ID.html (one
per issue, rendered for a neutral reader: no name, address or token),
feed.atom and feed.json (the newest archive.feed_items issues, full content).
Links between the files are relative. Feed links and og:url are absolute
under --url, the address DIR will be served at (default:
{newsletter.base_url}/archive). Works whatever [archive] enabled says.`,
		Args: cobra.ExactArgs(1),
		RunE: func(cmd *cobra.Command, args []string) error {
			ctx := cmd.Context()
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			st, err := openStoreIfExists(ctx, cfg)
			if err != nil {
				return err
			}
			if st == nil {
				return fmt.Errorf("archive export: no store at %s: nothing has been sent yet", cfg.Resolve(cfg.Store.Path))
			}
			defer st.Close()
			a, err := newArchive(cfg, st, g.log)
			if err != nil {
				return err
			}
			n, err := a.Export(ctx, args[0], root)
			if err != nil {
				return err
			}
			fmt.Fprintf(cmd.OutOrStdout(), "wrote %d issues to %s\n", n, args[0])
			return nil
		},
	}
	export.Flags().StringVar(&root, "url", "", "the URL DIR will be served at (default: newsletter.base_url + /archive)")
	cmd.AddCommand(export)
	return cmd
}
