package main

import (
	"errors"

	"github.com/spf13/cobra"
)

func newInboundCmd(g *globals) *cobra.Command {
	return &cobra.Command{
		Use:   "inbound",
		Short: "Poll the inbound mailbox once: commands by email and bounces",
		Args:  cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			return errors.New("inbound: not implemented yet")
		},
	}
}
