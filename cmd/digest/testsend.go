package main

import (
	"fmt"
	"net/mail"
	"strings"

	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/delivery"
	"github.com/digest-newsletter/digest/internal/config"
)

// testSend wires `digest send --test --to ...`: the store is only read
// (and not created), feed state is not remembered, links carry the
// placeholder token.
func testSend(cmd *cobra.Command, g *globals, cfg *config.Config, edition string, to []string) error {
	ctx := cmd.Context()
	for _, a := range to {
		if _, err := mail.ParseAddress(strings.TrimSpace(a)); err != nil {
			return usageError{fmt.Errorf("--to: %q is not an address: %v", a, err)}
		}
	}
	st, err := openStoreIfExists(ctx, cfg)
	if err != nil {
		return err
	}
	do := deliveryOptions(cfg)
	o := delivery.TestSendOptions{
		Editions: do.Editions, Newsletter: do.Newsletter, Archive: do.Archive,
		Window: do.Window, LateArrival: do.LateArrival,
		Build: buildFunc(cfg, nil, edition, g.log),
	}
	if st != nil {
		defer st.Close()
		o.Store = st
	}
	if o.Renderer, err = newRenderer(cfg); err != nil {
		return err
	}
	if o.Links, err = newLinks(cfg, nil); err != nil {
		return err
	}
	if o.Mailer, err = newMailer(cfg, g.log); err != nil {
		return err
	}
	res, err := delivery.TestSend(ctx, o, edition, to)
	if err != nil {
		return err
	}
	fmt.Fprintf(g.stdout, "Test sent: %q, %d articles, to %s. No issue was created and nothing was marked sent.\n",
		res.Subject, res.Articles, strings.Join(res.Sent, ", "))
	return nil
}
