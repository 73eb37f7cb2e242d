package articlefile

import (
	"regexp"
	"strconv"
	"strings"
	"time"
)

var months = map[string]time.Month{
	"jan": time.January, "feb": time.February, "mar": time.March, "apr": time.April,
	"may": time.May, "jun": time.June, "jul": time.July, "aug": time.August,
	"sep": time.September, "oct": time.October, "nov": time.November, "dec": time.December,
}

// humanDate matches "Jan. 26, 2025", "Sept. 3, 2025", "May 5, 2025" and
// "January 26, 2025", optionally followed by more ("• 2 min read").
var humanDate = regexp.MustCompile(`^([A-Za-z]{3,9})\.?\s+(\d{1,2}),?\s+(\d{4})\b`)

// dayFirstDate matches "26 January 2025" and "26 Jan. 2025".
var dayFirstDate = regexp.MustCompile(`^(\d{1,2})\s+([A-Za-z]{3,9})\.?,?\s+(\d{4})\b`)

// parseHumanDate parses the dates news pages print; ok is false when s
// does not start with one.
func parseHumanDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	var mon, day, year string
	if m := humanDate.FindStringSubmatch(s); m != nil {
		mon, day, year = m[1], m[2], m[3]
	} else if m := dayFirstDate.FindStringSubmatch(s); m != nil {
		day, mon, year = m[1], m[2], m[3]
	} else {
		return time.Time{}, false
	}
	lm := strings.ToLower(mon)
	month, ok := months[lm[:3]]
	if !ok || !monthName(lm, month) {
		return time.Time{}, false
	}
	d, _ := strconv.Atoi(day)
	y, _ := strconv.Atoi(year)
	if d < 1 || d > 31 {
		return time.Time{}, false
	}
	t := time.Date(y, month, d, 0, 0, 0, 0, time.UTC)
	if t.Day() != d { // Feb. 30 and the like
		return time.Time{}, false
	}
	return t, true
}

// monthName reports whether s is month's name or an abbreviation of it
// ("sept", "sep", "september"), so "Marvel 3, 2025" is not a date.
func monthName(s string, month time.Month) bool {
	full := strings.ToLower(month.String())
	return strings.HasPrefix(full, s)
}

var dateLayouts = []string{
	time.RFC3339Nano,
	time.RFC3339,
	"2006-01-02T15:04:05",
	"2006-01-02T15:04",
	"2006-01-02 15:04:05Z07:00",
	"2006-01-02 15:04:05 -0700",
	"2006-01-02 15:04:05",
	"2006-01-02 15:04",
	"2006-01-02",
	time.RFC1123Z,
	time.RFC1123,
	time.RFC850,
	time.RFC822Z,
	time.RFC822,
	"Mon, 2 Jan 2006 15:04:05 -0700",
	"Mon, 2 Jan 2006 15:04:05 MST",
	"2006/01/02",
}

// parseDate parses the date formats found in front matter, meta tags and
// JSON-LD. Dates without a zone are taken as UTC.
func parseDate(s string) (time.Time, bool) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, false
	}
	for _, l := range dateLayouts {
		if t, err := time.Parse(l, s); err == nil {
			return t.UTC(), true
		}
	}
	return parseHumanDate(s)
}
