package digest

import (
	"sort"
	"strings"
	"time"
)

// dedupeKey is CanonicalURL without the scheme: the same article is often
// linked over http from one feed and https from another.
func dedupeKey(raw string) string {
	c := CanonicalURL(raw)
	if i := strings.Index(c, "://"); i >= 0 {
		return c[i+3:]
	}
	return c
}

// SelectOptions decides which collected articles go into an issue.
type SelectOptions struct {
	From, To time.Time // the window: From < Published <= To
	// Seen reports whether a key of SeenKeys was recorded by an earlier
	// issue (nil: nothing was).
	Seen func(key string) bool
}

// Select keeps the articles in the window that were not seen before,
// without duplicates (same ID/GUID, or the same canonical URL). Of two
// duplicates the more complete one is kept. The result is newest first.
func Select(articles []Article, o SelectOptions) []Article {
	out := make([]Article, 0, len(articles))
	byKey := map[string]int{} // id or url key → index in out
	for _, a := range articles {
		if !o.From.IsZero() && !a.Published.After(o.From) {
			continue
		}
		if !o.To.IsZero() && a.Published.After(o.To) {
			continue
		}
		if o.Seen != nil && seen(a, o.Seen) {
			continue
		}
		keys := make([]string, 0, 3)
		if a.ID != "" {
			keys = append(keys, "id:"+a.ID)
		}
		if a.GUID != "" && a.GUID != a.ID {
			keys = append(keys, "id:"+a.GUID)
		}
		if a.URL != "" {
			keys = append(keys, "url:"+dedupeKey(a.URL))
		}
		dup := -1
		for _, k := range keys {
			if i, ok := byKey[k]; ok {
				dup = i
				break
			}
		}
		if dup >= 0 {
			if completeness(a) > completeness(out[dup]) {
				out[dup] = a
			}
			for _, k := range keys {
				byKey[k] = dup
			}
			continue
		}
		for _, k := range keys {
			byKey[k] = len(out)
		}
		out = append(out, a)
	}
	SortByRecency(out)
	return out
}

// SeenKeys are the keys under which an issue records an article as sent:
// its ID and the canonical URLs of it and of every other report of the same
// story, so that none of them comes back in a later issue.
func SeenKeys(a Article) []string {
	keys := []string{a.ID}
	if a.URL != "" {
		keys = append(keys, "url:"+dedupeKey(a.URL))
	}
	for _, x := range a.Also {
		if x.URL != "" {
			keys = append(keys, "url:"+dedupeKey(x.URL))
		}
	}
	return keys
}

func seen(a Article, isSeen func(string) bool) bool {
	if a.ID != "" && isSeen(a.ID) {
		return true
	}
	return a.URL != "" && isSeen("url:"+dedupeKey(a.URL))
}

func completeness(a Article) int {
	n := a.Body.Len() + len(a.Summary)
	if a.Author != "" {
		n += 50
	}
	return n
}

// SortByRecency orders newest first, then by title for a stable order.
func SortByRecency(as []Article) {
	sort.SliceStable(as, func(i, j int) bool {
		if !as[i].Published.Equal(as[j].Published) {
			return as[i].Published.After(as[j].Published)
		}
		return as[i].Title < as[j].Title
	})
}
