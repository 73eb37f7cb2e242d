package config

import (
	"errors"
	"fmt"
	"sort"
	"strings"

	"github.com/BurntSushi/toml"
)

// Error is one problem in a config: the file, the key and the line it is
// on, and what is wrong (Err, which it wraps).
//
// It prints as "config: FILE:LINE: KEY: what", the line left out when it
// is unknown. Key names arrays of tables by index from 0, as
// "editions[1].schedule" (the second [[editions]]).
type Error struct {
	File string
	Key  string
	Line int // 0 when unknown
	Err  error
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("config: ")
	if e.File != "" {
		b.WriteString(e.File)
		if e.Line > 0 {
			fmt.Fprintf(&b, ":%d", e.Line)
		}
		b.WriteString(": ")
	}
	if e.Key != "" {
		fmt.Fprintf(&b, "%s: ", e.Key)
	}
	b.WriteString(e.Err.Error())
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// Errors is every problem found in one config, in file order.
type Errors []*Error

func (es Errors) Error() string {
	msgs := make([]string, len(es))
	for i, e := range es {
		msgs[i] = e.Error()
	}
	return strings.Join(msgs, "\n")
}

// Unwrap lets errors.As find each *Error.
func (es Errors) Unwrap() []error {
	out := make([]error, len(es))
	for i, e := range es {
		out[i] = e
	}
	return out
}

func (es Errors) sort() {
	sort.SliceStable(es, func(i, j int) bool { return es[i].Line < es[j].Line })
}

// ErrorAt is a problem at key (dotted, indices as numbers:
// "editions.1.schedule"), with the line it is on in the config file. For
// checks that live outside this package, such as the token key's length.
func (c *Config) ErrorAt(key string, err error) *Error {
	return &Error{File: c.Path, Key: displayKey(key), Line: c.line(key), Err: err}
}

// problemf records a problem at key; format is fmt.Errorf's, so %w wraps.
type problemf func(key, format string, args ...any)

// collector returns a problemf that appends to errs.
func (c *Config) collector(errs *Errors) problemf {
	return func(key, format string, args ...any) {
		*errs = append(*errs, c.ErrorAt(key, fmt.Errorf(format, args...)))
	}
}

// displayKey writes array indices in brackets: editions.1.schedule is
// editions[1].schedule.
func displayKey(key string) string {
	parts := strings.Split(key, ".")
	var b strings.Builder
	for i, p := range parts {
		switch {
		case isIndex(p) && i > 0:
			fmt.Fprintf(&b, "[%s]", p)
		case i > 0:
			b.WriteString("." + p)
		default:
			b.WriteString(p)
		}
	}
	return b.String()
}

func isIndex(s string) bool {
	if s == "" {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// related reports whether key a is b or inside it, or b inside a
// (display keys: "dkim" and "dkim.domain", "sources[1]" and "sources[1].url").
func related(a, b string) bool {
	inside := func(x, y string) bool {
		return x == y || strings.HasPrefix(x, y) && (x[len(y)] == '.' || x[len(y)] == '[')
	}
	return inside(a, b) || inside(b, a)
}

// syntaxError turns the parser's error into an Error at its line.
func (c *Config) syntaxError(err error) *Error {
	var pe toml.ParseError
	if ppe := (*toml.ParseError)(nil); errors.As(err, &ppe) {
		pe = *ppe
	} else if !errors.As(err, &pe) {
		return &Error{File: c.Path, Err: err}
	}
	msg := pe.Message
	if pe.Usage != "" {
		msg += " (" + strings.TrimSpace(pe.Usage) + ")"
	}
	return &Error{File: c.Path, Key: displayKey(pe.LastKey), Line: pe.Position.Line, Err: detail{msg, err}}
}

// detail is an error told in our words that wraps the library's.
type detail struct {
	msg string
	err error
}

func (d detail) Error() string { return d.msg }
func (d detail) Unwrap() error { return d.err }
