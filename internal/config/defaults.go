package config

import "time"

// Defaults, named so the docs, the example config and the tests agree.
const (
	DefaultWindow           = 7 * 24 * time.Hour
	DefaultLateArrival      = 48 * time.Hour
	DefaultMaxPerTopic      = 10
	DefaultSummaryChars     = 280
	DefaultCollectWorkers   = 48
	DefaultCollectPerHost   = 4
	DefaultMaxItems         = 200
	DefaultSourceTimeout    = 20 * time.Second
	DefaultMaxBytes         = 10 << 20
	DefaultMaxHTMLBytes     = 100 * 1024
	DefaultAccentColor      = "#1a5fb4"
	DefaultSMTPConcurrency  = 4
	DefaultSMTPTimeout      = 30 * time.Second
	DefaultMaxPerConn       = 100
	DefaultRetries          = 3
	DefaultRetryBackoff     = 500 * time.Millisecond
	DefaultMaxBackoff       = 30 * time.Second
	DefaultBounceAfter      = 1
	DefaultSoftBounceAfter  = 5
	DefaultMarkBatch        = 16
	DefaultMarkInterval     = 20 * time.Millisecond
	DefaultBreaker          = 20
	DefaultClaimTTL         = 30 * time.Second
	DefaultConfirmTTL       = 48 * time.Hour
	DefaultUnsubscribeTTL   = 90 * 24 * time.Hour
	DefaultPendingTTL       = 7 * 24 * time.Hour
	DefaultRatePerIP        = 10
	DefaultRateWindow       = time.Minute
	DefaultConfirmEvery     = 4 * time.Hour
	DefaultConfirmsPerHour  = 120
	DefaultGrace            = 6 * time.Hour
	DefaultLeaseTTL         = 30 * time.Second
	DefaultShutdownGrace    = 20 * time.Second
	DefaultRetryInterval    = 10 * time.Minute
	DefaultPollInterval     = 5 * time.Minute
	DefaultArchivePageSize  = 20
	DefaultArchiveFeedItems = 20
	DefaultURLEnv           = "DIGEST_DATABASE_URL"
	DefaultConsentText      = "I want to receive this newsletter by email. I can unsubscribe at any time with one click."
)

func (c *Config) applyDefaults() {
	n := &c.Newsletter
	setDur(&n.Window, DefaultWindow)
	setDur(&n.LateArrival, DefaultLateArrival)
	setInt(&n.MaxPerTopic, DefaultMaxPerTopic)
	setInt(&n.SummaryChars, DefaultSummaryChars)
	setStr(&n.Language, "en")
	setStr(&n.Title, "Digest")

	if len(c.Editions) == 0 {
		c.Editions = []Edition{{Name: "default", Schedule: "@weekly"}}
	}

	col := &c.Collect
	setInt(&col.Concurrency, DefaultCollectWorkers)
	setDur(&col.Timeout, DefaultSourceTimeout)
	if col.MaxBytes == 0 {
		col.MaxBytes = DefaultMaxBytes
	}
	setStr(&col.UserAgent, "digest/1 (+https://github.com/digest-newsletter/digest)")
	setInt(&col.PerHost, DefaultCollectPerHost)
	setInt(&col.MaxItems, DefaultMaxItems)
	for i := range c.Sources {
		s := &c.Sources[i]
		if s.Weight == 0 {
			s.Weight = 1
		}
		setDur(&s.Timeout, col.Timeout)
		if s.MaxBytes == 0 {
			s.MaxBytes = col.MaxBytes
		}
		setInt(&s.MaxItems, col.MaxItems)
	}

	// [stories] zero values mean the stories package's defaults, which
	// it owns (digest/pipeline maps the section onto stories.Options).

	th := &c.Theme
	setStr(&th.AccentColor, DefaultAccentColor)
	setInt(&th.MaxHTMLBytes, DefaultMaxHTMLBytes)

	c.applySendDefaults()
	c.applyServeDefaults()
}

// applySendDefaults fills in [smtp], [delivery] and [store].
func (c *Config) applySendDefaults() {
	s := &c.SMTP
	setStr(&s.Host, "127.0.0.1")
	setInt(&s.Port, 25)
	setStr(&s.TLS, "starttls")
	setInt(&s.Concurrency, DefaultSMTPConcurrency)
	setDur(&s.Timeout, DefaultSMTPTimeout)
	setInt(&s.MaxPerConnection, DefaultMaxPerConn)

	d := &c.Delivery
	setInt(&d.Retries, DefaultRetries)
	setDur(&d.RetryBackoff, DefaultRetryBackoff)
	setDur(&d.MaxBackoff, DefaultMaxBackoff)
	setInt(&d.BounceAfter, DefaultBounceAfter)
	setInt(&d.SoftBounceAfter, DefaultSoftBounceAfter)
	setInt(&d.MarkBatch, DefaultMarkBatch)
	setDur(&d.MarkInterval, DefaultMarkInterval)
	setInt(&d.Breaker, DefaultBreaker)
	setDur(&d.ClaimTTL, DefaultClaimTTL)

	setStr(&c.Store.Driver, DriverSQLite)
	setStr(&c.Store.Path, "digest.db")
	setStr(&c.Store.URLEnv, DefaultURLEnv)
}

// applyServeDefaults fills in [server], [daemon], [archive] and [inbound].
func (c *Config) applyServeDefaults() {
	sv := &c.Server
	setStr(&sv.Listen, "127.0.0.1:8080")
	setStr(&sv.SecretEnv, "DIGEST_SECRET")
	setDur(&sv.ConfirmTTL, DefaultConfirmTTL)
	setDur(&sv.UnsubscribeTTL, DefaultUnsubscribeTTL)
	setDur(&sv.PendingTTL, DefaultPendingTTL)
	setInt(&sv.RatePerIP, DefaultRatePerIP)
	setDur(&sv.RateWindow, DefaultRateWindow)
	setDur(&sv.ConfirmEvery, DefaultConfirmEvery)
	setStr(&sv.ConsentText, DefaultConsentText)
	setStr(&sv.Welcome, "latest")
	setInt(&sv.ConfirmationsPerHour, DefaultConfirmsPerHour)

	dm := &c.Daemon
	setDur(&dm.Grace, DefaultGrace)
	setDur(&dm.LeaseTTL, DefaultLeaseTTL)
	setDur(&dm.ShutdownGrace, DefaultShutdownGrace)
	setDur(&dm.RetryInterval, DefaultRetryInterval)

	ar := &c.Archive
	setInt(&ar.PageSize, DefaultArchivePageSize)
	setInt(&ar.FeedItems, DefaultArchiveFeedItems)

	in := &c.Inbound
	setInt(&in.Port, 993)
	setStr(&in.TLS, "tls")
	setStr(&in.Mailbox, "INBOX")
	setStr(&in.DoneMailbox, "digest-processed")
	setDur(&in.PollInterval, DefaultPollInterval)
}

func setDur(p *time.Duration, v time.Duration) {
	if *p == 0 {
		*p = v
	}
}

func setInt(p *int, v int) {
	if *p == 0 {
		*p = v
	}
}

func setStr(p *string, v string) {
	if *p == "" {
		*p = v
	}
}
