package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newServeCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "serve",
		Short: "Serve the web endpoints alone (subscribe, confirm, unsubscribe, preferences)",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("serve: not implemented yet")
		},
	}
}
