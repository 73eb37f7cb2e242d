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
//
// Each article is read in its own language (see language.go): its stop
// words and stemmer, so a German report is not grouped, nor its topic
// named, by "die", "der" and "von".
//
// The package owns its Options and their defaults and knows nothing of the
// application's config: digest/pipeline maps the [stories] section onto
// Options.
package stories

import (
	"strings"
	"time"
)

// Defaults for every knob; Options' zero values mean these. They are
// exported so the docs, the config example, the bench command and the
// tests agree.
const (
	// DefaultMergeThreshold is the TF-IDF cosine of title and lead above
	// which two articles are one story.
	DefaultMergeThreshold = 0.5
	// DefaultMinTopics and DefaultMaxTopics bound the automatic topics.
	DefaultMinTopics = 2
	DefaultMaxTopics = 12
	// DefaultLabelTerms is how many words or phrases name a topic.
	DefaultLabelTerms = 3
	// DefaultTopStories lead stories, each covered by at least
	// DefaultTopMinSources sources.
	DefaultTopStories    = 3
	DefaultTopMinSources = 2
	// DefaultRecencyHalfLife is the age at which a story's recency score
	// halves.
	DefaultRecencyHalfLife = 24 * time.Hour
	// DefaultLanguage is the language of articles whose own words and
	// source do not tell.
	DefaultLanguage = "english"
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
	// Language is the language (English name or ISO 639-1 code) articles
	// are read in when neither their own words nor their source's other
	// articles tell (see language.go), and the one Merge reads every
	// article in. Lucene's stop words exist for 23 languages, Snowball's
	// stemmers for 7 (english, french, spanish, russian, swedish,
	// norwegian, hungarian); a language without them is read word for
	// word.
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

// WithDefaults fills every zero field with its default. The package's
// functions apply it themselves; callers use it to read the values in
// effect (MinTopicArticles).
func (o Options) WithDefaults() Options {
	if o.MergeThreshold <= 0 {
		o.MergeThreshold = DefaultMergeThreshold
	}
	setInt(&o.MinTopics, DefaultMinTopics)
	setInt(&o.MaxTopics, DefaultMaxTopics)
	if o.MaxTopics < o.MinTopics {
		o.MaxTopics = o.MinTopics
	}
	setInt(&o.LabelTerms, DefaultLabelTerms)
	setInt(&o.TopStories, DefaultTopStories)
	setInt(&o.TopMinSources, DefaultTopMinSources)
	if o.RecencyHalfLife <= 0 {
		o.RecencyHalfLife = DefaultRecencyHalfLife
	}
	o.Language = strings.ToLower(strings.TrimSpace(o.Language))
	if o.Language == "" {
		o.Language = DefaultLanguage
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
