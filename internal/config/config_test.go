package config

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

const minimal = `
[newsletter]
from = "Brief <brief@example.org>"
base_url = "https://news.example.org"

[[sources]]
name = "notes"
path = "articles"
`

func TestExampleConfigLoads(t *testing.T) {
	c, err := Load(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(c.Sources) == 0 || len(c.Editions) < 2 || len(c.Topics) == 0 {
		t.Fatalf("example config looks empty: %+v", c)
	}
	// It must run offline: no source may need the network.
	for _, s := range c.Sources {
		if s.URL != "" && !strings.HasPrefix(s.URL, "file://") {
			t.Errorf("source %q needs the network: %s", s.Name, s.URL)
		}
		if s.Path != "" {
			if _, err := os.Stat(c.Resolve(s.Path)); err != nil {
				t.Errorf("source %q: %v", s.Name, err)
			}
		}
	}
}

// TestExampleDocumentsEveryKey keeps config.example.toml complete: every
// key of every section must appear in it.
func TestExampleDocumentsEveryKey(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", "..", "config.example.toml"))
	if err != nil {
		t.Fatal(err)
	}
	lines := keyLines(string(data))
	for _, key := range []string{
		"newsletter.title", "newsletter.description", "newsletter.from", "newsletter.reply_to", "newsletter.base_url",
		"newsletter.postal_address", "newsletter.language", "newsletter.list_id", "newsletter.window", "newsletter.late_arrival",
		"newsletter.max_per_topic", "newsletter.summary_chars",
		"editions.name", "editions.schedule", "editions.timezone", "editions.skip_if_empty", "editions.description",
		"sources.name", "sources.path", "sources.weight", "sources.timeout", "sources.max_bytes", "sources.max_items",
		"topics.name", "topics.keywords", "topics.categories", "topics.sources",
		"collect.concurrency", "collect.timeout", "collect.max_bytes", "collect.user_agent", "collect.per_host", "collect.max_items",
		"stories.merge", "stories.merge_threshold", "stories.auto_topics", "stories.min_topics", "stories.max_topics",
		"stories.label_terms", "stories.top_stories", "stories.top_min_sources", "stories.recency_half_life",
		"stories.language", "stories.stop_words", "stories.seed", "stories.lead_words", "stories.title_weight",
		"stories.candidate_terms", "stories.max_posting", "stories.cluster_terms", "stories.cluster_body_words",
		"stories.min_topic_articles", "stories.sample_size", "stories.iterations", "stories.restarts",
		"stories.boilerplate_share", "stories.boilerplate_min_docs",
		"theme.accent_color", "theme.logo_url", "theme.logo_alt", "theme.footer_text", "theme.templates_dir",
		"theme.max_html_bytes", "theme.web_url",
		"smtp.host", "smtp.port", "smtp.tls", "smtp.username", "smtp.password_env", "smtp.concurrency", "smtp.rate",
		"smtp.timeout", "smtp.max_per_connection", "smtp.insecure_skip_verify", "smtp.helo",
		"dkim.domain", "dkim.selector", "dkim.private_key_file",
		"delivery.retries", "delivery.retry_backoff", "delivery.max_backoff", "delivery.bounce_after",
		"delivery.soft_bounce_after", "delivery.mark_batch", "delivery.mark_interval",
		"store.driver", "store.path", "store.url_env",
		"server.listen", "server.secret_env", "server.trust_proxy", "server.confirm_ttl", "server.unsubscribe_ttl",
		"server.pending_ttl", "server.rate_per_ip", "server.rate_window", "server.confirm_every", "server.consent_text",
		"daemon.timezone", "daemon.grace", "daemon.lease_ttl", "daemon.shutdown_grace", "daemon.retry_interval",
		"inbound.imap_host", "inbound.port", "inbound.tls", "inbound.username", "inbound.password_env", "inbound.mailbox",
		"inbound.done_mailbox", "inbound.address", "inbound.bounce_address", "inbound.poll_interval",
		"archive.enabled", "archive.page_size", "archive.feed_items",
	} {
		if _, ok := lines[key]; !ok {
			t.Errorf("config.example.toml does not document %s", key)
		}
	}
}

func TestDefaults(t *testing.T) {
	c, err := Parse("c.toml", []byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	checks := []struct {
		name      string
		got, want any
	}{
		{"window", c.Newsletter.Window, DefaultWindow},
		{"edition", c.Editions[0].Name, "default"},
		{"skip_if_empty", c.Editions[0].SkipEmpty(), true},
		{"source weight", c.Sources[0].Weight, 1.0},
		{"source timeout", c.Sources[0].Timeout, DefaultSourceTimeout},
		{"merge", c.Stories.MergeEnabled(), true},
		{"merge_threshold (the stories package's default)", c.Stories.MergeThreshold, 0.0},
		{"smtp tls", c.SMTP.TLS, "starttls"},
		{"concurrency", c.SMTP.Concurrency, DefaultSMTPConcurrency},
		{"confirm ttl", c.Server.ConfirmTTL, 48 * time.Hour},
		{"unsubscribe ttl", c.Server.UnsubscribeTTL >= 60*24*time.Hour, true},
		{"grace", c.Daemon.Grace, 6 * time.Hour},
		{"store", c.Store.Path, "digest.db"},
	}
	for _, ck := range checks {
		if ck.got != ck.want {
			t.Errorf("%s = %v, want %v", ck.name, ck.got, ck.want)
		}
	}
	if got := c.Resolve("articles"); got != "articles" {
		t.Errorf("Resolve = %q", got)
	}
}

func TestErrorsNameKeyAndLine(t *testing.T) {
	tests := []struct {
		name    string
		src     string
		key     string
		line    int
		message string
	}{
		{"unknown key", minimal + "\n[smtp]\nhost = \"x\"\ntlss = \"none\"\n", "smtp.tlss", 12, "unknown key"},
		{"unknown section", minimal + "\n[smpt]\nhost = \"x\"\n", "smpt", 10, "unknown key"},
		{"bad cron", minimal + "\n[[editions]]\nname = \"daily\"\nschedule = \"0 7 * *\"\n", "editions[0].schedule", 12, "has 4 fields, want 5"},
		{"bad cron in second edition", minimal + "\n[[editions]]\nname = \"a\"\nschedule = \"@daily\"\n[[editions]]\nname = \"b\"\nschedule = \"@sometimes\"\n", "editions[1].schedule", 15, `unknown descriptor "@sometimes"`},
		{"bad tls", minimal + "\n[smtp]\ntls = \"ssl\"\n", "smtp.tls", 11, "none, starttls or tls"},
		{"bad from", strings.Replace(minimal, "Brief <brief@example.org>", "nobody", 1), "newsletter.from", 3, "not an email"},
		{"source without url or path", minimal + "\n[[sources]]\nname = \"x\"\n", "sources[1]", 10, "needs url"},
		{"bad type", minimal + "\n[smtp]\nport = \"25\"\n", "smtp.port", 11, `must be a whole number, not a string ("25")`},
		{"typo", minimal + "\n[smtp]\nhost = \"x\"\ntimout = \"5s\"\n", "smtp.timout", 12, `unknown key (did you mean "timeout"?)`},
		{"syntax", minimal + "\n[smtp\n", "", 11, ""},
		{"bad timezone", minimal + "\n[[editions]]\nname = \"d\"\nschedule = \"@daily\"\ntimezone = \"Mars/Base\"\n", "editions[0].timezone", 13, "unknown time zone"},
		{"short unsubscribe ttl", minimal + "\n[server]\nunsubscribe_ttl = \"24h\"\n", "server.unsubscribe_ttl", 11, "60 days"},
		{"dkim incomplete", minimal + "\n[dkim]\ndomain = \"example.org\"\n", "dkim", 10, "all required"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Parse("c.toml", []byte(tt.src))
			if err == nil {
				t.Fatal("no error")
			}
			var e *Error
			var es Errors
			switch {
			case errors.As(err, &es):
				e = es[0]
			case errors.As(err, &e):
			default:
				t.Fatalf("error %T %v is not a config error", err, err)
			}
			if tt.key != "" && e.Key != tt.key {
				t.Errorf("key = %q, want %q (%v)", e.Key, tt.key, err)
			}
			if e.Line != tt.line {
				t.Errorf("line = %d, want %d (%v)", e.Line, tt.line, err)
			}
			if !strings.Contains(err.Error(), tt.message) || !strings.Contains(err.Error(), "c.toml") {
				t.Errorf("message %q does not mention %q and the file", err, tt.message)
			}
		})
	}
}

func TestSecretsFromEnvironment(t *testing.T) {
	c, err := Parse("c.toml", []byte(minimal+"\n[smtp]\nusername = \"u\"\npassword_env = \"TEST_DIGEST_PW\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("TEST_DIGEST_PW", "s3cret")
	if c.SMTP.Password() != "s3cret" {
		t.Fatal("password not read from the environment")
	}
	if _, err := Parse("c.toml", []byte(minimal+"\n[smtp]\npassword = \"inline\"\n")); err == nil {
		t.Fatal("an inline password key was accepted")
	}
}
