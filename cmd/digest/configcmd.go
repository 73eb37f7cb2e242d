package main

import (
	"fmt"

	"github.com/spf13/cobra"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the config file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Load and validate the config, print problems",
		Long: `check loads the config strictly (unknown keys are errors), applies defaults
and validates every key: addresses, URLs, cron schedules, TLS mode and more.
Each problem is printed on one line naming the file, line and key. It also
warns when a secret named by *_env is not set in the environment.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			cfg, err := g.loadConfig()
			if err != nil {
				return err
			}
			if cfg.Server.SecretEnv != "" && len(cfg.Server.Secret()) == 0 {
				fmt.Fprintf(g.stdout, "warning: %s is not set: needed to send and to serve (tokens in links)\n", cfg.Server.SecretEnv)
			}
			if cfg.SMTP.Username != "" && cfg.SMTP.Password() == "" {
				fmt.Fprintf(g.stdout, "warning: %s is not set: SMTP authentication will fail\n", cfg.SMTP.PasswordEnv)
			}
			for _, e := range cfg.Editions {
				fmt.Fprintf(g.stdout, "edition %q: schedule %q\n", e.Name, cfg.Spec(e))
			}
			fmt.Fprintf(g.stdout, "%s: ok (%d sources, %d topics, %d editions)\n", cfg.Path, len(cfg.Sources), len(cfg.Topics), len(cfg.Editions))
			return nil
		},
	})
	return cmd
}
