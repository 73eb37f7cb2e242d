package config

import (
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
)

// cronParser is the schedule syntax digest accepts: five fields, optional
// CRON_TZ= prefix, and descriptors such as @daily and @every 1h.
var cronParser = cron.NewParser(cron.Minute | cron.Hour | cron.Dom | cron.Month | cron.Dow | cron.Descriptor)

// ParseSchedule parses an edition's schedule, applying tz (an IANA name)
// when the spec has no CRON_TZ/TZ prefix of its own. robfig/cron decides
// what is valid; when it refuses, the error says in plain words which field
// is wrong and why (its own words leak strconv: `failed to parse int from
// x: strconv.Atoi: parsing "x": invalid syntax`).
func ParseSchedule(spec, tz string) (cron.Schedule, error) {
	full := ScheduleSpec(spec, tz)
	// robfig/cron v3.0.1 slices out of range (a panic) on "CRON_TZ=Zone"
	// with nothing after it.
	if hasTZPrefix(full) && !strings.Contains(full, " ") {
		return nil, fmt.Errorf("%s needs a schedule after it, e.g. %q", full, full+" 0 7 * * *")
	}
	s, err := cronParser.Parse(full)
	if err != nil {
		msg := explainSchedule(full)
		if msg == "" {
			msg = err.Error()
		}
		return nil, detail{msg, err}
	}
	return s, nil
}

// ScheduleSpec is spec with tz prefixed as CRON_TZ when it has none.
func ScheduleSpec(spec, tz string) string {
	spec = strings.TrimSpace(spec)
	if tz == "" || hasTZPrefix(spec) {
		return spec
	}
	return "CRON_TZ=" + tz + " " + spec
}

func hasTZPrefix(spec string) bool {
	return strings.HasPrefix(spec, "CRON_TZ=") || strings.HasPrefix(spec, "TZ=")
}

const cronShape = `minute hour day-of-month month day-of-week, e.g. "0 7 * * MON"`

// explainSchedule says what is wrong with a spec robfig/cron refused, or ""
// when it cannot tell.
func explainSchedule(spec string) string {
	if hasTZPrefix(spec) {
		zone, rest, _ := strings.Cut(spec[strings.Index(spec, "=")+1:], " ")
		if _, err := time.LoadLocation(zone); err != nil {
			return fmt.Sprintf("unknown time zone %q (use an IANA name such as \"Europe/Berlin\")", zone)
		}
		spec = strings.TrimSpace(rest)
	}
	if strings.HasPrefix(spec, "@") {
		if d, ok := strings.CutPrefix(spec, "@every "); ok {
			return fmt.Sprintf("%q is not a duration: write one with a unit, such as \"@every 1h\" or \"@every 30m\"", d)
		}
		return fmt.Sprintf("unknown descriptor %q (known: @yearly, @monthly, @weekly, @daily, @hourly, @every <duration>)", spec)
	}
	fields := strings.Fields(spec)
	switch {
	case len(fields) == 6:
		return "has 6 fields, want 5 (seconds are not supported): " + cronShape
	case len(fields) != 5:
		return fmt.Sprintf("has %d fields, want 5: %s", len(fields), cronShape)
	}
	for i, f := range fields {
		if msg := cronFields[i].explain(f); msg != "" {
			return msg
		}
	}
	return ""
}

// cronField is one of the five fields, with robfig/cron's bounds.
type cronField struct {
	name     string
	min, max int
	names    []string // names[i] is min+i, as robfig/cron reads them
	hint     string
}

var cronFields = [5]cronField{
	{name: "minute", max: 59},
	{name: "hour", max: 23},
	{name: "day-of-month", min: 1, max: 31},
	{name: "month", min: 1, max: 12, hint: "or JAN-DEC",
		names: []string{"jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"}},
	{name: "day-of-week", max: 6, hint: "0 is Sunday; or SUN-SAT",
		names: []string{"sun", "mon", "tue", "wed", "thu", "fri", "sat"}},
}

// explain checks one field (a comma list of *, N, N-M, each with an
// optional /step) as robfig/cron does, and says what is wrong or "".
func (f cronField) explain(field string) string {
	at := fmt.Sprintf("%s field %q", f.name, field)
	for _, item := range strings.Split(field, ",") {
		rng, step, hasStep := strings.Cut(item, "/")
		if hasStep {
			if n, err := strconv.Atoi(step); err != nil || n <= 0 {
				return fmt.Sprintf("%s: step %q must be a whole number above 0", at, step)
			}
		}
		if rng == "*" || rng == "?" {
			continue
		}
		parts := strings.Split(rng, "-")
		if len(parts) > 2 {
			return fmt.Sprintf("%s: %q has too many hyphens", at, rng)
		}
		var vals []int
		for _, p := range parts {
			v, msg := f.value(p, field, at)
			if msg != "" {
				return msg
			}
			vals = append(vals, v)
		}
		if len(vals) == 2 && vals[0] > vals[1] {
			return fmt.Sprintf("%s: range %s runs backwards", at, rng)
		}
	}
	return ""
}

func (f cronField) value(s, field, at string) (int, string) {
	for i, n := range f.names {
		if strings.EqualFold(s, n) {
			return f.min + i, ""
		}
	}
	bounds := fmt.Sprintf("%d-%d", f.min, f.max)
	if f.hint != "" {
		bounds += " (" + f.hint + ")"
	}
	n, err := strconv.Atoi(s)
	switch {
	case err != nil && s == "":
		return 0, fmt.Sprintf("%s: a value is missing (%s)", at, bounds)
	case err != nil:
		return 0, fmt.Sprintf("%s: %q is not a number in %s", at, s, bounds)
	case n < f.min || n > f.max:
		if s == field {
			return 0, fmt.Sprintf("%s is out of range %s", at, bounds)
		}
		return 0, fmt.Sprintf("%s: %d is out of range %s", at, n, bounds)
	}
	return n, ""
}
