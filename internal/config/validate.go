package config

import (
	"fmt"
	"net/mail"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"time"
)

// Spec is the edition's schedule with its (or the daemon's) timezone applied.
func (c *Config) Spec(e Edition) string {
	tz := e.Timezone
	if tz == "" {
		tz = c.Daemon.Timezone
	}
	return ScheduleSpec(e.Schedule, tz)
}

// Edition returns the named edition; "" means the first one.
func (c *Config) Edition(name string) (Edition, bool) {
	if name == "" {
		return c.Editions[0], true
	}
	for _, e := range c.Editions {
		if e.Name == name {
			return e, true
		}
	}
	return Edition{}, false
}

// Resolve makes a path from the config relative to the config's folder.
func (c *Config) Resolve(p string) string {
	if p == "" || filepath.IsAbs(p) || c.Path == "" {
		return p
	}
	return filepath.Join(filepath.Dir(c.Path), p)
}

var (
	nameRe  = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]{0,31}$`)
	colorRe = regexp.MustCompile(`^#([0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)
)

// validate checks the decoded, defaulted config and returns every problem.
// Each section has its own check; a new key's rule goes in its section's.
func (c *Config) validate() Errors {
	var errs Errors
	bad := c.collector(&errs)
	for _, check := range []func(problemf){
		c.checkNewsletter, c.checkEditions, c.checkSources, c.checkTopics, c.checkCollect,
		c.checkStories, c.checkTheme, c.checkSMTP, c.checkDKIM, c.checkDelivery,
		c.checkStore, c.checkServer, c.checkInbound,
		c.checkArchive,
	} {
		check(bad)
	}
	return errs
}

func (c *Config) checkNewsletter(bad problemf) {
	n := c.Newsletter
	if n.From == "" {
		bad("newsletter.from", "is required (e.g. \"The Brief <brief@example.org>\")")
	} else if _, err := mail.ParseAddress(n.From); err != nil {
		bad("newsletter.from", "not an email address: %w", err)
	}
	if n.ReplyTo != "" {
		if _, err := mail.ParseAddress(n.ReplyTo); err != nil {
			bad("newsletter.reply_to", "not an email address: %w", err)
		}
	}
	if n.BaseURL == "" {
		bad("newsletter.base_url", "is required: links in emails point there")
	} else if u, err := url.Parse(n.BaseURL); err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		bad("newsletter.base_url", "must be an absolute http(s) URL, got %q", n.BaseURL)
	}
	if n.MaxPerTopic < 0 {
		bad("newsletter.max_per_topic", "must be positive")
	}
}

func (c *Config) checkEditions(bad problemf) {
	seen := map[string]bool{}
	for i, e := range c.Editions {
		key := fmt.Sprintf("editions.%d", i)
		if !nameRe.MatchString(e.Name) {
			bad(key+".name", "%q: use 1-32 lowercase letters, digits, - or _", e.Name)
		}
		if seen[e.Name] {
			bad(key+".name", "%q is used twice", e.Name)
		}
		seen[e.Name] = true
		tzOK := true
		if e.Timezone != "" {
			if _, err := time.LoadLocation(e.Timezone); err != nil {
				bad(key+".timezone", "unknown time zone %q", e.Timezone)
				tzOK = false
			}
		} else if _, err := time.LoadLocation(c.Daemon.Timezone); err != nil {
			tzOK = false // reported at daemon.timezone, not again for each edition
		}
		if e.Schedule == "" {
			bad(key+".schedule", "is required (cron, e.g. \"0 7 * * MON\" or \"@daily\")")
		} else if _, err := ParseSchedule(c.Spec(e), ""); err != nil && tzOK {
			bad(key+".schedule", "%w", err)
		}
	}
	if c.Daemon.Timezone != "" {
		if _, err := time.LoadLocation(c.Daemon.Timezone); err != nil {
			bad("daemon.timezone", "unknown time zone %q", c.Daemon.Timezone)
		}
	}
}

func (c *Config) checkSources(bad problemf) {
	seen := map[string]bool{}
	for i, s := range c.Sources {
		key := fmt.Sprintf("sources.%d", i)
		if s.Name == "" {
			bad(key+".name", "is required")
		} else if seen[s.Name] {
			bad(key+".name", "%q is used twice", s.Name)
		}
		seen[s.Name] = true
		switch {
		case s.URL == "" && s.Path == "":
			bad(key, "needs url (a feed) or path (a folder of articles)")
		case s.URL != "" && s.Path != "":
			bad(key, "has both url and path; use one")
		case s.URL != "":
			u, err := url.Parse(s.URL)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https" && u.Scheme != "file") {
				bad(key+".url", "must be an http, https or file URL, got %q", s.URL)
			}
		}
		if s.Weight < 0 {
			bad(key+".weight", "must not be negative")
		}
		if s.MaxItems < 0 {
			bad(key+".max_items", "must not be negative")
		}
	}
}

func (c *Config) checkTopics(bad problemf) {
	seen := map[string]bool{}
	for i, t := range c.Topics {
		key := fmt.Sprintf("topics.%d", i)
		if strings.TrimSpace(t.Name) == "" {
			bad(key+".name", "is required")
		} else if seen[t.Name] {
			bad(key+".name", "%q is used twice", t.Name)
		}
		seen[t.Name] = true
		if len(t.Keywords)+len(t.Sources)+len(t.Categories) == 0 {
			bad(key, "topic %q needs keywords, sources or categories", t.Name)
		}
	}
}

func (c *Config) checkCollect(bad problemf) {
	if c.Collect.Concurrency < 1 {
		bad("collect.concurrency", "must be at least 1")
	}
	if c.Collect.PerHost < 1 {
		bad("collect.per_host", "must be at least 1")
	}
	if c.Collect.MaxItems < 1 {
		bad("collect.max_items", "must be at least 1")
	}
}

func (c *Config) checkStories(bad problemf) {
	st := c.Stories
	// Zero (or absent) means the stories package's default.
	if st.MergeThreshold < 0 || st.MergeThreshold > 1 {
		bad("stories.merge_threshold", "must be in (0, 1], got %v", st.MergeThreshold)
	}
	if st.MinTopics < 0 || st.MaxTopics < 0 || (st.MinTopics > 0 && st.MaxTopics > 0 && st.MaxTopics < st.MinTopics) {
		bad("stories.max_topics", "need 1 <= min_topics (%d) <= max_topics (%d)", st.MinTopics, st.MaxTopics)
	}
	for key, v := range map[string]int{"lead_words": st.LeadWords, "candidate_terms": st.CandidateTerms, "max_posting": st.MaxPosting,
		"cluster_terms": st.ClusterTerms, "cluster_body_words": st.ClusterBodyWords, "min_topic_articles": st.MinTopicArticles,
		"sample_size": st.SampleSize, "iterations": st.Iterations, "restarts": st.Restarts, "boilerplate_min_docs": st.BoilerplateMinDocs} {
		if v < 0 {
			bad("stories."+key, "must not be negative")
		}
	}
	if st.TitleWeight < 0 {
		bad("stories.title_weight", "must not be negative")
	}
	if st.BoilerplateShare < 0 || st.BoilerplateShare > 1 {
		bad("stories.boilerplate_share", "must be in [0, 1]")
	}
	if st.TopStories < 0 {
		bad("stories.top_stories", "must not be negative")
	}
}

func (c *Config) checkTheme(bad problemf) {
	th := c.Theme
	if !colorRe.MatchString(th.AccentColor) {
		bad("theme.accent_color", "must be a hex colour like #1a5fb4, got %q", th.AccentColor)
	}
	if th.LogoURL != "" {
		if u, err := url.Parse(th.LogoURL); err != nil || u.Scheme != "https" {
			bad("theme.logo_url", "must be an https URL, got %q", th.LogoURL)
		}
	}
	if th.MaxHTMLBytes < 10*1024 {
		bad("theme.max_html_bytes", "must be at least 10240")
	}
}

func (c *Config) checkSMTP(bad problemf) {
	s := c.SMTP
	switch s.TLS {
	case "none", "starttls", "tls":
	default:
		bad("smtp.tls", "must be none, starttls or tls, got %q", s.TLS)
	}
	if s.Port < 1 || s.Port > 65535 {
		bad("smtp.port", "must be 1-65535, got %d", s.Port)
	}
	if s.Concurrency < 1 || s.Concurrency > 64 {
		bad("smtp.concurrency", "must be 1-64, got %d", s.Concurrency)
	}
	if s.Rate < 0 {
		bad("smtp.rate", "must not be negative (0 means unlimited)")
	}
	if s.Username != "" && s.PasswordEnv == "" {
		bad("smtp.password_env", "is required with smtp.username: name the environment variable holding the password")
	}
}

func (c *Config) checkDKIM(bad problemf) {
	if d := c.DKIM; d.Domain != "" || d.Selector != "" || d.PrivateKeyFile != "" {
		if d.Domain == "" || d.Selector == "" || d.PrivateKeyFile == "" {
			bad("dkim", "domain, selector and private_key_file are all required to sign")
		}
	}
}

func (c *Config) checkDelivery(bad problemf) {
	if c.Delivery.Retries < 0 {
		bad("delivery.retries", "must not be negative")
	}
	if c.Delivery.Breaker < 0 {
		bad("delivery.breaker", "must not be negative")
	}
	if c.Delivery.ClaimTTL < time.Second {
		bad("delivery.claim_ttl", "must be at least 1s")
	}
}

// envNameRe is what a shell accepts as a variable name.
var envNameRe = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (c *Config) checkStore(bad problemf) {
	s := c.Store
	switch s.Driver {
	case DriverSQLite:
		if s.Path == "" {
			bad("store.path", "is required with driver = %q", DriverSQLite)
		}
	case DriverPostgres:
		switch {
		case strings.Contains(s.URLEnv, "://"):
			// Someone pasted the URL, password and all: say where it goes
			// without echoing it.
			bad("store.url_env", "names the environment variable that holds the postgres:// URL, not the URL itself: secrets stay out of the config file")
		case !envNameRe.MatchString(s.URLEnv):
			bad("store.url_env", "%q is not an environment variable name (letters, digits and _, e.g. %q)", s.URLEnv, DefaultURLEnv)
		}
	default:
		bad("store.driver", "must be %q or %q, got %q", DriverSQLite, DriverPostgres, s.Driver)
	}
}

func (c *Config) checkServer(bad problemf) {
	if c.Server.UnsubscribeTTL < 60*24*time.Hour {
		bad("server.unsubscribe_ttl", "must be at least 60 days (1440h): unsubscribe links in old digests must keep working")
	}
	if w := c.Server.Welcome; w != "latest" && w != "none" {
		bad("server.welcome", "must be \"latest\" or \"none\", got %q", w)
	}
	if c.Server.ConfirmationsPerHour < 0 {
		bad("server.confirmations_per_hour", "must not be negative")
	}
}

func (c *Config) checkInbound(bad problemf) {
	if in := c.Inbound; in.IMAPHost != "" {
		switch in.TLS {
		case "none", "starttls", "tls":
		default:
			bad("inbound.tls", "must be none, starttls or tls, got %q", in.TLS)
		}
		if in.Address == "" {
			bad("inbound.address", "is required with inbound.imap_host: the address people write to")
		}
	}
}

func (c *Config) checkArchive(bad problemf) {
	if n := c.Archive.PageSize; n < 1 || n > 500 {
		bad("archive.page_size", "must be between 1 and 500, got %d", n)
	}
	if n := c.Archive.FeedItems; n < 1 || n > 200 {
		bad("archive.feed_items", "must be between 1 and 200, got %d", n)
	}
}
