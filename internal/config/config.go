// Package config loads digest's TOML configuration: strictly (an unknown key
// is an error), with defaults, then validated. Every error names the file,
// the key and, where it can be found, the line.
//
// Secrets never live in the file: keys ending in _env name the environment
// variable that holds them.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"reflect"
	"slices"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the whole configuration. Each section has its own type and its
// own checks in validate.go.
type Config struct {
	Newsletter Newsletter  `toml:"newsletter"`
	Editions   []Edition   `toml:"editions"`
	Sources    []Source    `toml:"sources"`
	Topics     []TopicRule `toml:"topics"`
	Collect    Collect     `toml:"collect"`
	Stories    Stories     `toml:"stories"`
	Theme      Theme       `toml:"theme"`
	SMTP       SMTP        `toml:"smtp"`
	DKIM       DKIM        `toml:"dkim"`
	Delivery   Delivery    `toml:"delivery"`
	Store      Store       `toml:"store"`
	Server     Server      `toml:"server"`
	Daemon     Daemon      `toml:"daemon"`
	Inbound    Inbound     `toml:"inbound"`
	Archive    Archive     `toml:"archive"`

	// Path is the file the config was loaded from; relative paths in the
	// config are resolved against its folder.
	Path string `toml:"-"`
	// lines maps a dotted key ("smtp.tls", "editions.1.schedule") to the line
	// it was written on, for error messages.
	lines map[string]int
}

// Newsletter describes the publication itself.
type Newsletter struct {
	Title         string        `toml:"title"`
	Description   string        `toml:"description"`
	From          string        `toml:"from"`
	ReplyTo       string        `toml:"reply_to"`
	BaseURL       string        `toml:"base_url"`
	PostalAddress string        `toml:"postal_address"`
	Language      string        `toml:"language"`
	ListID        string        `toml:"list_id"`
	Window        time.Duration `toml:"window"`
	LateArrival   time.Duration `toml:"late_arrival"`
	MaxPerTopic   int           `toml:"max_per_topic"`
	SummaryChars  int           `toml:"summary_chars"`
}

// Edition is one schedule subscribers can choose (daily, weekly, ...).
type Edition struct {
	Name        string `toml:"name"`
	Schedule    string `toml:"schedule"`
	Timezone    string `toml:"timezone"`
	SkipIfEmpty *bool  `toml:"skip_if_empty"`
	Description string `toml:"description"`
}

// SkipEmpty reports whether an issue with no new articles is skipped
// (the default).
func (e Edition) SkipEmpty() bool { return e.SkipIfEmpty == nil || *e.SkipIfEmpty }

// Source is a feed (url) or a folder of article files (path).
type Source struct {
	Name     string        `toml:"name"`
	URL      string        `toml:"url"`
	Path     string        `toml:"path"`
	Weight   float64       `toml:"weight"`
	Timeout  time.Duration `toml:"timeout"`
	MaxBytes int64         `toml:"max_bytes"`
	MaxItems int           `toml:"max_items"`
}

// TopicRule claims articles for a named topic.
type TopicRule struct {
	Name       string   `toml:"name"`
	Keywords   []string `toml:"keywords"`
	Sources    []string `toml:"sources"`
	Categories []string `toml:"categories"`
}

// Collect bounds the fetching of sources.
type Collect struct {
	Concurrency int           `toml:"concurrency"`
	Timeout     time.Duration `toml:"timeout"`
	MaxBytes    int64         `toml:"max_bytes"`
	UserAgent   string        `toml:"user_agent"`
	PerHost     int           `toml:"per_host"`
	MaxItems    int           `toml:"max_items"`
}

// Stories tunes story merging, automatic topics and ranking.
type Stories struct {
	Merge           *bool         `toml:"merge"`
	MergeThreshold  float64       `toml:"merge_threshold"`
	AutoTopics      *bool         `toml:"auto_topics"`
	MinTopics       int           `toml:"min_topics"`
	MaxTopics       int           `toml:"max_topics"`
	LabelTerms      int           `toml:"label_terms"`
	TopStories      int           `toml:"top_stories"`
	TopMinSources   int           `toml:"top_min_sources"`
	RecencyHalfLife time.Duration `toml:"recency_half_life"`
	Language        string        `toml:"language"`
	StopWords       []string      `toml:"stop_words"`
	Seed            int64         `toml:"seed"`
	// Finer thresholds; zero means the stories package's documented default.
	LeadWords          int     `toml:"lead_words"`
	TitleWeight        float64 `toml:"title_weight"`
	CandidateTerms     int     `toml:"candidate_terms"`
	MaxPosting         int     `toml:"max_posting"`
	ClusterTerms       int     `toml:"cluster_terms"`
	ClusterBodyWords   int     `toml:"cluster_body_words"`
	MinTopicArticles   int     `toml:"min_topic_articles"`
	SampleSize         int     `toml:"sample_size"`
	Iterations         int     `toml:"iterations"`
	Restarts           int     `toml:"restarts"`
	BoilerplateShare   float64 `toml:"boilerplate_share"`
	BoilerplateMinDocs int     `toml:"boilerplate_min_docs"`
}

// MergeEnabled reports whether the same story from several sources is merged.
func (s Stories) MergeEnabled() bool { return s.Merge == nil || *s.Merge }

// AutoTopicsEnabled reports whether unclaimed articles are clustered.
func (s Stories) AutoTopicsEnabled() bool { return s.AutoTopics == nil || *s.AutoTopics }

// Theme is the look of the email and where custom templates live.
type Theme struct {
	AccentColor  string `toml:"accent_color"`
	LogoURL      string `toml:"logo_url"`
	LogoAlt      string `toml:"logo_alt"`
	FooterText   string `toml:"footer_text"`
	TemplatesDir string `toml:"templates_dir"`
	MaxHTMLBytes int    `toml:"max_html_bytes"`
	WebURL       string `toml:"web_url"`
}

// SMTP is the outgoing mail server.
type SMTP struct {
	Host               string        `toml:"host"`
	Port               int           `toml:"port"`
	TLS                string        `toml:"tls"`
	Username           string        `toml:"username"`
	PasswordEnv        string        `toml:"password_env"`
	Concurrency        int           `toml:"concurrency"`
	Rate               float64       `toml:"rate"`
	Timeout            time.Duration `toml:"timeout"`
	MaxPerConnection   int           `toml:"max_per_connection"`
	InsecureSkipVerify bool          `toml:"insecure_skip_verify"`
	HELO               string        `toml:"helo"`
}

// Password reads the SMTP password from the environment variable the config
// names. It is never stored in Config.
func (s SMTP) Password() string {
	if s.PasswordEnv == "" {
		return ""
	}
	return os.Getenv(s.PasswordEnv)
}

// DKIM signs outgoing mail when Domain is set.
type DKIM struct {
	Domain         string `toml:"domain"`
	Selector       string `toml:"selector"`
	PrivateKeyFile string `toml:"private_key_file"`
}

// Enabled reports whether messages are DKIM-signed.
func (d DKIM) Enabled() bool { return d.Domain != "" }

// Delivery tunes retries and bounce handling.
type Delivery struct {
	Retries         int           `toml:"retries"`
	RetryBackoff    time.Duration `toml:"retry_backoff"`
	MaxBackoff      time.Duration `toml:"max_backoff"`
	BounceAfter     int           `toml:"bounce_after"`
	SoftBounceAfter int           `toml:"soft_bounce_after"`
	MarkBatch       int           `toml:"mark_batch"`
	MarkInterval    time.Duration `toml:"mark_interval"`
	Breaker         int           `toml:"breaker"`
	ClaimTTL        time.Duration `toml:"claim_ttl"`
}

// Store drivers.
const (
	DriverSQLite   = "sqlite"
	DriverPostgres = "postgres"
)

// Store is where digest keeps its state: an SQLite file (the default), or a
// PostgreSQL database that several digest processes share.
type Store struct {
	Driver string `toml:"driver"` // DriverSQLite or DriverPostgres
	Path   string `toml:"path"`   // SQLite: the database file
	// URLEnv names the environment variable holding the postgres:// URL:
	// the URL carries the database password, so it never sits in the file.
	URLEnv string `toml:"url_env"`
}

// Postgres reports whether the store is a PostgreSQL database.
func (s Store) Postgres() bool { return s.Driver == DriverPostgres }

// URL reads the PostgreSQL URL from the environment variable the config
// names. It is never stored in Config.
func (s Store) URL() string {
	if s.URLEnv == "" {
		return ""
	}
	return os.Getenv(s.URLEnv)
}

// Server is the web endpoint (subscribe, confirm, unsubscribe, preferences).
type Server struct {
	Listen         string        `toml:"listen"`
	SecretEnv      string        `toml:"secret_env"`
	TrustProxy     bool          `toml:"trust_proxy"`
	ConfirmTTL     time.Duration `toml:"confirm_ttl"`
	UnsubscribeTTL time.Duration `toml:"unsubscribe_ttl"`
	PendingTTL     time.Duration `toml:"pending_ttl"`
	RatePerIP      int           `toml:"rate_per_ip"`
	RateWindow     time.Duration `toml:"rate_window"`
	ConfirmEvery   time.Duration `toml:"confirm_every"`
	ConsentText    string        `toml:"consent_text"`
	// Welcome is what a subscriber gets on confirming: "latest" (the
	// latest issue of their edition) or "none".
	Welcome string `toml:"welcome"`
	// ConfirmationsPerHour is the budget of confirmation emails for the
	// whole list; beyond it they wait in the outbox.
	ConfirmationsPerHour int `toml:"confirmations_per_hour"`
}

// Secret reads the HMAC key for tokens from the environment.
func (s Server) Secret() []byte { return []byte(os.Getenv(s.SecretEnv)) }

// Daemon tunes `digest run`.
type Daemon struct {
	Timezone      string        `toml:"timezone"`
	Grace         time.Duration `toml:"grace"`
	LeaseTTL      time.Duration `toml:"lease_ttl"`
	ShutdownGrace time.Duration `toml:"shutdown_grace"`
	RetryInterval time.Duration `toml:"retry_interval"`
	Metrics       *bool         `toml:"metrics"`
}

// Archive is the public archive of sent issues: /archive, one page per
// issue and two feeds.
type Archive struct {
	// Enabled (default true) serves the archive and puts its links in
	// every email; false removes both.
	Enabled *bool `toml:"enabled"`
	// PageSize is the number of issues listed per /archive page.
	PageSize int `toml:"page_size"`
	// FeedItems is the number of newest issues in each feed.
	FeedItems int `toml:"feed_items"`
}

// On reports whether the archive is served and linked.
func (a Archive) On() bool { return a.Enabled == nil || *a.Enabled }

// Inbound is the mailbox read for commands by email and bounces.
type Inbound struct {
	IMAPHost      string        `toml:"imap_host"`
	Port          int           `toml:"port"`
	TLS           string        `toml:"tls"`
	Username      string        `toml:"username"`
	PasswordEnv   string        `toml:"password_env"`
	Mailbox       string        `toml:"mailbox"`
	DoneMailbox   string        `toml:"done_mailbox"`
	Address       string        `toml:"address"`
	BounceAddress string        `toml:"bounce_address"`
	PollInterval  time.Duration `toml:"poll_interval"`
}

// Enabled reports whether an inbound mailbox is configured.
func (i Inbound) Enabled() bool { return i.IMAPHost != "" }

// Password reads the IMAP password from the environment.
func (i Inbound) Password() string {
	if i.PasswordEnv == "" {
		return ""
	}
	return os.Getenv(i.PasswordEnv)
}

// Load reads, decodes, defaults and validates the config at path.
func Load(path string) (*Config, error) {
	data, err := read(path)
	if err != nil {
		return nil, err
	}
	return Parse(path, data)
}

// Parse decodes data (read from path, used only for messages and relative
// paths), applies defaults and validates. A config with any problem is an
// Errors listing all of them.
func Parse(path string, data []byte) (*Config, error) {
	c, errs := parse(path, data)
	if len(errs) > 0 {
		return nil, errs
	}
	return c, nil
}

// Check loads the config like Load and also checks what it names on this
// machine (see checkFiles). It returns every problem at once, in file
// order; the config is nil only when the file cannot be read or is not
// TOML, and must not be used to run anything when there are problems.
func Check(path string) (*Config, Errors) {
	data, err := read(path)
	if err != nil {
		return nil, Errors{err}
	}
	c, errs := parse(path, data)
	if c != nil {
		c.checkFiles(c.collector(&errs))
		errs.sort()
	}
	return c, errs
}

// read reads the config file; its error names the file once
// ("config: c.toml: no such file or directory").
func read(path string) ([]byte, *Error) {
	data, err := os.ReadFile(path)
	if err != nil {
		if pe, ok := errors.AsType[*fs.PathError](err); ok {
			err = pe.Err
		}
		return nil, &Error{File: path, Err: err}
	}
	return data, nil
}

// parse runs every step that can find problems and returns them all: a
// syntax error stops it (the parser cannot go on), a key at fault is left
// out of the decoding (see shape.go) and its follow-up problems are not
// reported twice.
func parse(path string, data []byte) (*Config, Errors) {
	c := &Config{Path: path, lines: keyLines(string(data))}
	var tree map[string]any
	if _, err := toml.Decode(string(data), &tree); err != nil {
		return nil, Errors{c.syntaxError(err)}
	}
	var shapeErrs Errors
	shapeChecker{bad: c.collector(&shapeErrs)}.table(tree, reflect.TypeFor[Config](), "")

	// The pruned tree goes back through the parser so that BurntSushi/toml
	// stays the one decoder of values.
	var buf bytes.Buffer
	if err := toml.NewEncoder(&buf).Encode(tree); err != nil {
		return nil, append(shapeErrs, &Error{File: path, Err: fmt.Errorf("re-encoding: %w", err)})
	}
	if _, err := toml.Decode(buf.String(), c); err != nil {
		// shape.go let through a value the decoder refuses: a bug there.
		return nil, append(shapeErrs, &Error{File: path, Err: fmt.Errorf("decoding: %w", err)})
	}
	c.applyDefaults()
	errs := shapeErrs
	for _, e := range c.validate() {
		if !slices.ContainsFunc(shapeErrs, func(s *Error) bool { return related(s.Key, e.Key) }) {
			errs = append(errs, e)
		}
	}
	errs.sort()
	return c, errs
}

// Default returns a config with every default filled in and no sources, for
// tests and tools that build a config in code.
func Default() *Config {
	c := &Config{}
	c.applyDefaults()
	return c
}
