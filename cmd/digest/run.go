package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newRunCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "run",
		Short: "Run the daemon: editions on their schedules, plus the web endpoints",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("run: not implemented yet")
		},
	}
}
