// Package pipeline turns a config into a digest: collect every source,
// select what is new, merge the same story across sources, group by the
// config's topic rules, cluster what no rule claims into automatic topics,
// rank, and pick the top stories. It is the one place that knows the order
// of those steps; each step lives in its own package.
package pipeline

import (
	"context"
	"log/slog"
	"net/http"
	"time"

	"github.com/digest-newsletter/digest/digest"
	"github.com/digest-newsletter/digest/digest/collect"
	"github.com/digest-newsletter/digest/digest/collect/feedparse"
	"github.com/digest-newsletter/digest/digest/spill"
	"github.com/digest-newsletter/digest/digest/stories"
	"github.com/digest-newsletter/digest/internal/config"
)

// Options are the run-time inputs of one build.
type Options struct {
	// From and To bound the window; zero From means To - newsletter.window.
	From, To time.Time
	// Edition names the digest's edition (for display).
	Edition string
	// Seen reports articles already sent in an earlier issue; nil: none.
	Seen       func(id string) bool
	State      collect.FeedState
	HTTPClient *http.Client
	Logger     *slog.Logger
}

// Build collects and groups. Source failures are reported in Digest.Errors,
// never returned: one broken feed must not stop the newsletter.
func Build(ctx context.Context, cfg *config.Config, o Options) *digest.Digest {
	log := o.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if o.To.IsZero() {
		o.To = time.Now()
	}
	if o.From.IsZero() {
		o.From = o.To.Add(-cfg.Newsletter.Window)
	}
	// The articles' texts wait in a spill file until grouping is done
	// with them; without one (no temporary directory) they wait in memory.
	texts, err := spill.Create("")
	if err != nil {
		log.Warn("article texts kept in memory", "error", err)
	}
	defer func() {
		if err := texts.Err(); err != nil {
			log.Warn("article texts: some kept in memory or unread", "error", err)
		}
		texts.Close()
	}()
	sources := make([]config.Source, len(cfg.Sources))
	for i, s := range cfg.Sources {
		s.Path = cfg.Resolve(s.Path)
		sources[i] = s
	}
	res := collect.Collect(ctx, sources, collect.Options{
		Concurrency:  cfg.Collect.Concurrency,
		PerHost:      cfg.Collect.PerHost,
		MaxItems:     cfg.Collect.MaxItems,
		UserAgent:    cfg.Collect.UserAgent,
		SummaryChars: cfg.Newsletter.SummaryChars,
		TextBytes:    textBytes(cfg.Stories),
		HTTPClient:   o.HTTPClient,
		Spill:        texts,
		State:        o.State,
		Logger:       log,
		Now:          func() time.Time { return o.To },
	})
	d := &digest.Digest{
		Title:   cfg.Newsletter.Title,
		Edition: o.Edition,
		From:    o.From,
		To:      o.To,
		Errors:  res.Errors,
		Topics:  []digest.Topic{},
	}
	if d.Errors == nil {
		d.Errors = []digest.SourceError{}
	}
	articles := digest.Select(res.Articles, digest.SelectOptions{From: o.From, To: o.To, Seen: o.Seen})
	log.Info("collected", "articles", len(res.Articles), "selected", len(articles), "failed_sources", len(res.Errors))
	Group(cfg, d, articles, o.To)
	dropGroupingFields(d.Top)
	for _, t := range d.Topics {
		dropGroupingFields(t.Articles)
	}
	return d
}

// textBytes is the text each article keeps: enough for what story
// merging and clustering read (stories.cluster_body_words words at most),
// at least collect's default.
func textBytes(st config.Stories) int {
	return max(feedparse.DefaultTextBytes, st.ClusterBodyWords*8)
}

// dropBodies lets the articles' text go once grouping is done with them:
// rendering and the payload use titles and summaries only, and a
// send holds the digest for as long as it runs.
func dropBodies(articles []digest.Article) {
	for i := range articles {
		articles[i].Body = digest.Text{}
	}
}

// dropGroupingFields lets go, besides the text, what only selection and
// grouping read (GUID, categories): the payload leaves them out,
// so a digest read back from the store has none of them either.
func dropGroupingFields(articles []digest.Article) {
	for i := range articles {
		a := &articles[i]
		a.Body, a.GUID, a.Categories = digest.Text{}, "", nil
	}
}

// Group fills d.Topics and d.Top from selected articles.
func Group(cfg *config.Config, d *digest.Digest, articles []digest.Article, now time.Time) {
	so := storiesOptions(cfg, now).WithDefaults()
	if cfg.Stories.MergeEnabled() {
		articles = stories.Merge(articles, so)
	}
	// The lead stories come from all the stories; taken now, the stories
	// need not outlive the grouping, whose copies are all that is kept.
	d.Top = stories.Top(articles, so)
	rules := make([]digest.Rule, len(cfg.Topics))
	for i, t := range cfg.Topics {
		rules[i] = digest.Rule{Name: t.Name, Keywords: t.Keywords, Sources: t.Sources, Categories: t.Categories}
	}
	topics, unclaimed := digest.NewGrouper(rules).Group(articles)
	for i := range topics {
		stories.Rank(topics[i].Articles, so)
		// Only what no rule claims is clustered: these bodies are done.
		dropBodies(topics[i].Articles)
	}
	var more []digest.Article
	if cfg.Stories.AutoTopicsEnabled() && len(unclaimed) >= so.MinTopicArticles {
		for _, t := range stories.AutoTopics(unclaimed, so) {
			// A topic named after one or two articles reads like noise
			// ("84th · Aaberg · Arnholt"): those go to More.
			if len(t.Articles) < so.MinTopicArticles {
				more = append(more, t.Articles...)
				continue
			}
			topics = append(topics, t)
		}
	} else {
		more = unclaimed
	}
	if len(more) > 0 {
		digest.SortByRecency(more)
		topics = append(topics, digest.Topic{Name: digest.MoreTopic, Articles: more})
	}
	d.Topics = topics
}

// storiesOptions maps the [stories] section and the sources' weights onto
// the stories package's Options; zero values keep its defaults.
func storiesOptions(cfg *config.Config, now time.Time) stories.Options {
	c := cfg.Stories
	w := make(map[string]float64, len(cfg.Sources))
	for _, s := range cfg.Sources {
		if s.Weight > 0 {
			w[s.Name] = s.Weight
		}
	}
	return stories.Options{
		MergeThreshold:  c.MergeThreshold,
		MinTopics:       c.MinTopics,
		MaxTopics:       c.MaxTopics,
		LabelTerms:      c.LabelTerms,
		TopStories:      c.TopStories,
		TopMinSources:   c.TopMinSources,
		RecencyHalfLife: c.RecencyHalfLife,
		Language:        c.Language,
		StopWords:       append([]string(nil), c.StopWords...),
		Seed:            c.Seed,
		SourceWeights:   w,
		Now:             now,

		LeadWords:          c.LeadWords,
		TitleWeight:        c.TitleWeight,
		CandidateTerms:     c.CandidateTerms,
		MaxPosting:         c.MaxPosting,
		ClusterTerms:       c.ClusterTerms,
		ClusterBodyWords:   c.ClusterBodyWords,
		MinTopicArticles:   c.MinTopicArticles,
		SampleSize:         c.SampleSize,
		Iterations:         c.Iterations,
		Restarts:           c.Restarts,
		BoilerplateShare:   c.BoilerplateShare,
		BoilerplateMinDocs: c.BoilerplateMinDocs,
	}
}
