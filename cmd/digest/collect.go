package main

import (
	"encoding/json"
	"time"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/pipeline"
)

func newCollectCmd(g *globals) *cobra.Command {
	var asJSON bool
	var edition string
	cmd := &cobra.Command{
		Use:   "collect",
		Short: "Print what would be collected and how it is grouped",
		Long: `collect fetches every source, selects the articles in the window
(newsletter.window back from now), merges the same story across sources and
groups them into topics. Nothing is stored. A source that fails is reported
by name and the rest go on.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			d := pipeline.Build(cmd.Context(), cfg, pipeline.Options{To: time.Now(), Edition: edition, Logger: g.log})
			if !asJSON {
				printDigest(g.stdout, d)
				return nil
			}
			return writeJSON(g, collectJSON(d))
		},
	}
	cmd.Flags().BoolVar(&asJSON, "json", false, "print the grouped articles as JSON")
	cmd.Flags().StringVar(&edition, "edition", "", "edition name to show in the output")
	return cmd
}

// collectOutput is the JSON contract of `digest collect --json`.
type collectOutput struct {
	Title  string               `json:"title"`
	From   time.Time            `json:"from"`
	To     time.Time            `json:"to"`
	Top    []digest.Article     `json:"top_stories"`
	Topics []digest.Topic       `json:"topics"`
	Errors []digest.SourceError `json:"errors"`
}

func collectJSON(d *digest.Digest) collectOutput {
	out := collectOutput{Title: d.Title, From: d.From, To: d.To, Top: d.Top, Topics: d.Topics, Errors: d.Errors}
	if out.Top == nil {
		out.Top = []digest.Article{}
	}
	return out
}

func writeJSON(g *globals, v any) error {
	enc := json.NewEncoder(g.stdout)
	enc.SetIndent("", "  ")
	enc.SetEscapeHTML(false)
	return enc.Encode(v)
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }
