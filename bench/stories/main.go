// Command stories measures story merging and automatic topics.
//
// On the labelled BBC news set (-news, read from a path, never copied into
// the repo): clustering quality (NMI, purity), the merge rate of the set's
// listed near-duplicate pairs, the merge and false-merge rates on
// synthetic near duplicates, and the time to group 1k, 10k and 100k
// synthesised articles against a naive all-pairs merge measured in the
// same run (quality.go, timing.go).
//
// On real feeds (-feeds, parsed by digest/collect): the automatic topic
// labels, checked for stop words of the languages the articles are in,
// numbers and single letters; any is a failure (feeds.go).
//
//	go run ./bench/stories -feeds ../shared/testdata/feeds -news ../shared/testdata/news
package main

import (
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/digest-newsletter/digest/digest/stories"
)

var (
	show        = flag.Int("show", 0, "print this many merged stories of the BBC set")
	leadWords   = flag.Int("lead", 0, "Options.LeadWords (0: default)")
	titleWeight = flag.Float64("title-weight", 0, "Options.TitleWeight (0: default)")
	threshold   = flag.Float64("threshold", 0, "Options.MergeThreshold (0: default)")
	minTopics   = flag.Int("min-topics", 0, "Options.MinTopics (0: default)")
	maxTopics   = flag.Int("max-topics", 0, "Options.MaxTopics (0: default)")
	sample      = flag.Int("sample", 0, "Options.SampleSize (0: default)")
	restarts    = flag.Int("restarts", 0, "Options.Restarts (0: default)")
	topicSeeds  = flag.Int("topic-seeds", 5, "also cluster with Options.Seed 2..N and print the spread")
)

func main() {
	news := flag.String("news", "", "directory holding bbc-news-articles.csv and bbc-news-near-duplicates.csv")
	feeds := flag.String("feeds", "", "directory of real feeds whose automatic topic labels are checked")
	sizes := flag.String("sizes", "1000,10000,100000", "article counts to time")
	seed := flag.Uint64("seed", 7, "seed for the synthetic articles")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the timing runs to this file")
	flag.Parse()
	if *news == "" && *feeds == "" {
		fmt.Fprintln(os.Stderr, "stories: -news DIR or -feeds DIR is required")
		os.Exit(2)
	}
	if *feeds != "" {
		if err := feedLabels(*feeds, stories.Options{}); err != nil {
			fmt.Fprintln(os.Stderr, "stories:", err)
			os.Exit(1)
		}
	}
	if *news != "" {
		if err := run(*news, *sizes, *seed, *cpuprofile); err != nil {
			fmt.Fprintln(os.Stderr, "stories:", err)
			os.Exit(1)
		}
	}
}

func run(dir, sizes string, seed uint64, cpuprofile string) error {
	items, err := readArticles(filepath.Join(dir, "bbc-news-articles.csv"))
	if err != nil {
		return err
	}
	pairs, err := readPairs(filepath.Join(dir, "bbc-news-near-duplicates.csv"))
	if err != nil {
		return err
	}
	fmt.Printf("BBC set: %d articles, %d listed near-duplicate pairs, GOMAXPROCS=%d\n", len(items), len(pairs), runtime.GOMAXPROCS(0))
	opts := stories.Options{
		Now:            time.Date(2005, 3, 1, 0, 0, 0, 0, time.UTC),
		LeadWords:      *leadWords,
		TitleWeight:    *titleWeight,
		MergeThreshold: *threshold,
		MinTopics:      *minTopics,
		MaxTopics:      *maxTopics,
		SampleSize:     *sample,
		Restarts:       *restarts,
	}

	if cpuprofile == "" {
		quality(items, opts, true)
		if *topicSeeds > 1 {
			minNMI, minPurity, sumNMI, sumPurity := math.Inf(1), math.Inf(1), 0.0, 0.0
			for seed := 1; seed <= *topicSeeds; seed++ {
				o := opts
				o.Seed = int64(seed)
				nmi, purity := quality(items, o, false)
				minNMI, minPurity = min(minNMI, nmi), min(minPurity, purity)
				sumNMI, sumPurity = sumNMI+nmi, sumPurity+purity
			}
			fmt.Printf("  over seeds 1..%d: NMI min %.3f mean %.3f; purity min %.3f mean %.3f\n",
				*topicSeeds, minNMI, sumNMI/float64(*topicSeeds), minPurity, sumPurity/float64(*topicSeeds))
		}
		listedPairs(items, pairs, opts)
		synthetic(items, pairs, opts, seed, false, false)
		synthetic(items, pairs, opts, seed, true, false)
		synthetic(items, pairs, opts, seed, false, true)
		return timing(items, sizes, opts, seed)
	}
	f, err := os.Create(cpuprofile)
	if err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer f.Close()
	if err := pprof.StartCPUProfile(f); err != nil {
		return fmt.Errorf("profile: %w", err)
	}
	defer pprof.StopCPUProfile()
	return timing(items, sizes, opts, seed)
}
