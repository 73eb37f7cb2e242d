// Package stories turns a pile of articles from many sources into stories:
// it merges the same event reported by several outlets into one article
// (the others listed in Also), clusters articles no topic rule claims into
// automatically named topics, and ranks stories by how many sources
// covered them, how recent they are and how much their sources weigh.
//
// Everything is deterministic: the same articles in any order give the same
// stories and topics, because the work is done in a canonical article order
// with a fixed seed, and parallel steps only compute per-article results
// that are combined sequentially.
package stories

import (
	"strings"
	"time"

	"github.com/digest-newsletter/digest/internal/config"
)

// Defaults for the tuning knobs that have no config key (yet). They are
// exported so the docs, the bench command and the tests agree.
const (
	// DefaultLeadWords is how many content words of the body (or, when the
	// body is empty, the summary) form the lead compared in story merging.
	// Outlets agree most at the start of a report; later paragraphs drift.
	DefaultLeadWords = 60
	// DefaultTitleWeight multiplies title terms against lead terms in the
	// merge vectors, so feeds that carry only titles still merge.
	DefaultTitleWeight = 3.0
	// DefaultCandidateTerms is how many of an article's heaviest terms are
	// used to look up merge candidates in the inverted index. Two reports
	// of one story share at least one of their most distinctive terms.
	DefaultCandidateTerms = 10
	// DefaultMaxPosting skips, for candidate look-up only, terms found in
	// more articles than this: they are too common to single out a story
	// and would make merging quadratic.
	DefaultMaxPosting = 2000
	// DefaultClusterTerms is how many of an article's heaviest TF-IDF
	// terms are kept for clustering: enough to place it, few enough to
	// keep k-means fast and deaf to incidental words.
	DefaultClusterTerms = 80
	// DefaultClusterBodyWords caps the body words read for clustering.
	DefaultClusterBodyWords = 600
	// DefaultMinTopicArticles is the smallest number of articles a topic is
	// expected to hold; it bounds the number of topics for small inputs
	// (with fewer than twice this many articles there is one topic).
	DefaultMinTopicArticles = 3
	// DefaultSampleSize is how many articles are clustered for every
	// candidate number of topics when choosing it; the chosen clustering
	// then seeds the run over all articles.
	DefaultSampleSize = 1000
	// DefaultBoilerplateShare: a word found in the bodies of at least this
	// share of one source's articles is that source's furniture ("Continue
	// reading…") and is ignored for its articles.
	DefaultBoilerplateShare = 0.8
	// DefaultBoilerplateMinDocs is how many articles a source needs before
	// its boilerplate is looked for.
	DefaultBoilerplateMinDocs = 5
	// DefaultIterations bounds the k-means iterations.
	DefaultIterations = 30
	// DefaultRestarts is how many k-means++ seedings are tried per number
	// of topics; the tightest clustering wins.
	DefaultRestarts = 2
)

// Options tunes merging, automatic topics and ranking. The zero value of
// every field means its default, so Options{} is usable as it is.
type Options struct {
	// MergeThreshold is the TF-IDF cosine of title+lead above which two
	// articles are the same story (config stories.merge_threshold).
	MergeThreshold float64
	// MinTopics and MaxTopics bound the number of automatic topics.
	MinTopics, MaxTopics int
	// LabelTerms is how many words name an automatic topic.
	LabelTerms int
	// TopStories is how many lead stories Top returns; TopMinSources the
	// distinct sources a story needs to be one.
	TopStories, TopMinSources int
	// RecencyHalfLife is the age at which a story's recency score halves.
	RecencyHalfLife time.Duration
	// Language selects stemming and stop words: english, french, spanish,
	// russian, swedish, norwegian, hungarian; any other language gets
	// neither stemming nor built-in stop words.
	Language string
	// StopWords are extra words ignored everywhere (any case).
	StopWords []string
	// Seed fixes k-means++ seeding and sampling.
	Seed int64
	// SourceWeights by Article.SourceName; missing names weigh 1.
	SourceWeights map[string]float64
	// Now is the reference time for recency; zero means the newest
	// article's time, so ranking does not drift with the wall clock.
	Now time.Time

	// Knobs without a config key; zero means the Default* constant.
	LeadWords        int
	TitleWeight      float64
	CandidateTerms   int
	MaxPosting       int
	ClusterTerms     int
	ClusterBodyWords int
	MinTopicArticles int
	SampleSize       int
	Iterations       int
	Restarts         int
	// BoilerplateShare in (0,1]; BoilerplateMinDocs articles at least.
	BoilerplateShare   float64
	BoilerplateMinDocs int
	// Workers bounds parallelism; zero means GOMAXPROCS. Results do not
	// depend on it.
	Workers int
}

// OptionsFrom builds Options from the [stories] config section and the
// sources' weights.
func OptionsFrom(c config.Stories, sources []config.Source, now time.Time) Options {
	w := make(map[string]float64, len(sources))
	for _, s := range sources {
		if s.Weight > 0 {
			w[s.Name] = s.Weight
		}
	}
	return Options{
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
		Now:                now,
	}.withDefaults()
}

// withDefaults fills every zero field with its default, so callers that
// build Options by hand get the same behaviour as the config path.
func (o Options) withDefaults() Options {
	if o.MergeThreshold <= 0 {
		o.MergeThreshold = config.DefaultMergeThreshold
	}
	setInt(&o.MinTopics, config.DefaultMinTopics)
	setInt(&o.MaxTopics, config.DefaultMaxTopics)
	if o.MaxTopics < o.MinTopics {
		o.MaxTopics = o.MinTopics
	}
	setInt(&o.LabelTerms, config.DefaultLabelTerms)
	setInt(&o.TopStories, config.DefaultTopStories)
	setInt(&o.TopMinSources, config.DefaultTopMinSources)
	if o.RecencyHalfLife <= 0 {
		o.RecencyHalfLife = config.DefaultRecencyHalfLife
	}
	o.Language = strings.ToLower(strings.TrimSpace(o.Language))
	if o.Language == "" {
		o.Language = "english"
	}
	if o.Seed == 0 {
		o.Seed = 1
	}
	setInt(&o.LeadWords, DefaultLeadWords)
	if o.TitleWeight <= 0 {
		o.TitleWeight = DefaultTitleWeight
	}
	setInt(&o.CandidateTerms, DefaultCandidateTerms)
	setInt(&o.MaxPosting, DefaultMaxPosting)
	setInt(&o.ClusterTerms, DefaultClusterTerms)
	setInt(&o.ClusterBodyWords, DefaultClusterBodyWords)
	setInt(&o.MinTopicArticles, DefaultMinTopicArticles)
	setInt(&o.SampleSize, DefaultSampleSize)
	setInt(&o.Iterations, DefaultIterations)
	setInt(&o.Restarts, DefaultRestarts)
	if o.BoilerplateShare <= 0 || o.BoilerplateShare > 1 {
		o.BoilerplateShare = DefaultBoilerplateShare
	}
	setInt(&o.BoilerplateMinDocs, DefaultBoilerplateMinDocs)
	return o
}

func setInt(p *int, def int) {
	if *p <= 0 {
		*p = def
	}
}

// weight is the configured weight of an article's source.
func (o Options) weight(sourceName string) float64 {
	if w, ok := o.SourceWeights[sourceName]; ok && w > 0 {
		return w
	}
	return 1
}
