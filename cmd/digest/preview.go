package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"time"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/digest/pipeline"
	"github.com/digest-newsletter/digest/digest/render"
	"github.com/digest-newsletter/digest/links"
)

func newPreviewCmd(g *globals) *cobra.Command {
	var out, serve, edition string
	cmd := &cobra.Command{
		Use:   "preview",
		Short: "Render the current digest for a sample subscriber (light and dark side by side)",
		Long: `preview collects and renders the digest as it would be sent now, for a
sample subscriber, and writes a page showing the email in light and dark mode
side by side plus its plain-text part: to --out FILE, or served at
--serve ADDR (re-rendered on every reload). Nothing is stored or sent.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			r, err := newRenderer(cfg)
			if err != nil {
				return err
			}
			// Placeholder tokens: preview links must work for nobody.
			lb, err := newLinks(cfg, nil)
			if err != nil {
				return err
			}
			sample := links.Subject{}
			page := func(ctx context.Context) ([]byte, error) {
				d := pipeline.Build(ctx, cfg, pipeline.Options{To: time.Now(), Edition: edition, Logger: g.log})
				rd, err := r.Render(d, nil)
				if err != nil {
					return nil, err
				}
				return r.PreviewPage(rd, render.Recipient{
					Name: "Sample Reader", Email: "reader@example.org",
					UnsubscribeURL: lb.UnsubscribeURL(sample, time.Time{}),
					PreferencesURL: lb.PreferencesURL(sample, time.Time{}),
				}), nil
			}
			if serve == "" {
				b, err := page(cmd.Context())
				if err != nil {
					return err
				}
				if out == "" || out == "-" {
					_, err = g.stdout.Write(b)
					return err
				}
				if err := os.WriteFile(out, b, 0o644); err != nil {
					return fmt.Errorf("preview: %w", err)
				}
				fmt.Fprintf(g.stdout, "wrote %s\n", out)
				return nil
			}
			return servePreview(cmd.Context(), g, serve, page)
		},
	}
	cmd.Flags().StringVar(&out, "out", "", "write the preview page to FILE (default: standard output)")
	cmd.Flags().StringVar(&serve, "serve", "", "serve the preview at ADDR, e.g. 127.0.0.1:8081")
	cmd.Flags().StringVar(&edition, "edition", "", "edition name to show")
	return cmd
}

func servePreview(ctx context.Context, g *globals, addr string, page func(context.Context) ([]byte, error)) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return fmt.Errorf("preview: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) {
		b, err := page(r.Context())
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Header().Set("Content-Security-Policy", "default-src 'none'; img-src https: data:; style-src 'unsafe-inline'; frame-src 'self' data: about:; frame-ancestors 'none'")
		w.Write(b)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	fmt.Fprintf(g.stdout, "preview at http://%s/ (Ctrl-C to stop)\n", ln.Addr())
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("preview: %w", err)
	}
	return nil
}
