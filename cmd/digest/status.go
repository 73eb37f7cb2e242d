package main

import (
	"fmt"
	"time"

	"github.com/spf13/cobra"
)

func newStatusCmd(g *globals) *cobra.Command {
	var n int
	var asJSON bool
	cmd := &cobra.Command{
		Use:   "status",
		Short: "Print the last issues and their delivery counts",
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
			issues, err := st.RecentIssues(ctx, n)
			if err != nil {
				return err
			}
			if asJSON {
				type row struct {
					Issue      int64     `json:"issue"`
					Edition    string    `json:"edition"`
					Status     string    `json:"status"`
					Created    time.Time `json:"created"`
					Articles   int       `json:"articles"`
					Recipients int       `json:"recipients"`
					Sent       int       `json:"sent"`
					Pending    int       `json:"pending"`
					FailedTemp int       `json:"failed_temporary"`
					FailedPerm int       `json:"failed_permanent"`
					Skipped    int       `json:"skipped"`
				}
				rows := []row{}
				for _, is := range issues {
					rows = append(rows, row{is.ID, is.Edition, is.Status, is.Created.UTC(), is.Articles, is.Recipients, is.Sent, is.Pending, is.FailedTemp, is.FailedPerm, is.Skipped})
				}
				return writeJSON(g, rows)
			}
			if len(issues) == 0 {
				fmt.Fprintln(g.stdout, "no issues yet")
				return nil
			}
			fmt.Fprintf(g.stdout, "%-6s %-10s %-8s %-20s %8s %10s %8s %8s %8s %8s\n", "ISSUE", "EDITION", "STATUS", "CREATED", "ARTICLES", "RECIPIENTS", "SENT", "PENDING", "FAILED", "SKIPPED")
			for _, is := range issues {
				fmt.Fprintf(g.stdout, "%-6d %-10s %-8s %-20s %8d %10d %8d %8d %8d %8d\n", is.ID, is.Edition, is.Status, is.Created.Local().Format(time.DateTime),
					is.Articles, is.Recipients, is.Sent, is.Pending+is.FailedTemp, is.FailedPerm, is.Skipped)
			}
			return nil
		},
	}
	cmd.Flags().IntVarP(&n, "n", "n", 10, "how many issues")
	cmd.Flags().BoolVar(&asJSON, "json", false, "print as JSON")
	return cmd
}
