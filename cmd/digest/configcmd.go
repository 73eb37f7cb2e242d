package main

import (
	"fmt"
	"sort"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/spf13/cobra"

	"github.com/digest-newsletter/digest/internal/config"
	"github.com/digest-newsletter/digest/links"
)

func newConfigCmd(g *globals) *cobra.Command {
	cmd := &cobra.Command{Use: "config", Short: "Work with the config file"}
	cmd.AddCommand(&cobra.Command{
		Use:   "check",
		Short: "Load and validate the config, print every problem",
		Long: `check loads the config strictly (unknown keys are errors), applies defaults
and validates every key: addresses, URLs, cron schedules, durations (they need
a unit: "30s"), TLS mode and more. It also checks what the config names on
this machine (article folders, file:// feeds, templates, the DKIM key, the
store's folder), the token secret's length and, with [store] driver =
"postgres", that store.url_env names a variable holding a PostgreSQL URL.
Every problem is printed on one line naming the file, line and key; the exit
status is 1 if there is any. A secret that is not set in this environment is
a warning.`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error { return configCheck(g) },
	})
	return cmd
}

func configCheck(g *globals) error {
	cfg, problems := config.Check(g.path())
	if cfg != nil {
		more, warnings := checkSecrets(cfg)
		problems = append(problems, more...)
		sort.SliceStable(problems, func(i, j int) bool { return problems[i].Line < problems[j].Line })
		for _, w := range warnings {
			fmt.Fprintln(g.stderr, "warning:", w)
		}
	}
	if len(problems) > 0 {
		return problems // run prints them, one a line
	}
	for _, e := range cfg.Editions {
		fmt.Fprintf(g.stdout, "edition %q: schedule %q\n", e.Name, cfg.Spec(e))
	}
	fmt.Fprintf(g.stdout, "%s: ok (%d sources, %d topics, %d editions)\n", cfg.Path, len(cfg.Sources), len(cfg.Topics), len(cfg.Editions))
	return nil
}

// checkSecrets checks the secrets the config names. One that is set but
// unusable is a problem; one that is not set here is a warning, since the
// check may run where the daemon's environment is not.
func checkSecrets(cfg *config.Config) (problems config.Errors, warnings []*config.Error) {
	if env := cfg.Server.SecretEnv; env != "" {
		if key := cfg.Server.Secret(); len(key) == 0 {
			warnings = append(warnings, cfg.ErrorAt("server.secret_env", fmt.Errorf(
				"%s is not set in this environment: send, serve and run need it to sign links (make one with: head -c 32 /dev/urandom | base64)", env)))
		} else if _, err := links.NewSigner(key, nil); err != nil {
			problems = append(problems, cfg.ErrorAt("server.secret_env", fmt.Errorf("%s: %w", env, err)))
		}
	}
	if s := cfg.SMTP; s.Username != "" && s.Password() == "" {
		warnings = append(warnings, cfg.ErrorAt("smtp.password_env", fmt.Errorf("%s is not set in this environment: SMTP authentication will fail", s.PasswordEnv)))
	}
	if in := cfg.Inbound; in.Enabled() && in.Username != "" && in.Password() == "" {
		warnings = append(warnings, cfg.ErrorAt("inbound.password_env", fmt.Errorf("%s is not set in this environment: the IMAP login will fail", in.PasswordEnv)))
	}
	if s := cfg.Store; s.Postgres() {
		if u := s.URL(); u == "" {
			warnings = append(warnings, cfg.ErrorAt("store.url_env", errNoStoreURL(s.URLEnv)))
		} else if _, err := pgconn.ParseConfig(u); err != nil {
			// Not err itself: its redaction of the password is best effort.
			problems = append(problems, cfg.ErrorAt("store.url_env", fmt.Errorf(
				"%s is not a PostgreSQL URL (want postgres://user:password@host:5432/db)", s.URLEnv)))
		}
	}
	return problems, warnings
}
