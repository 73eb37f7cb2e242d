package subscribers

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"

	"github.com/digest-newsletter/digest/internal/store"
)

// Columns are the CSV columns, in the order export writes them; import
// reads them in any order and ignores unknown ones.
var Columns = []string{"email", "name", "topics", "edition", "status", "created"}

// Row is one subscriber read from a CSV file. Status is "" when the file
// has none (the operator vouches: confirmed); Created is zero when absent.
type Row struct {
	Line    int
	Email   string
	Name    string
	Topics  []string
	Edition string
	Status  string
	Created time.Time
}

// RowError is a CSV row that was refused, by line number.
type RowError struct {
	Line int
	Err  error
}

func (e *RowError) Error() string { return fmt.Sprintf("line %d: %v", e.Line, e.Err) }
func (e *RowError) Unwrap() error { return e.Err }

// CSVReader streams subscribers from CSV with a header row: email
// (required), name, topics (separated by ';'), edition, status and created
// (RFC 3339). Columns may come in any order; unknown columns are ignored.
type CSVReader struct {
	r       *csv.Reader
	col     map[string]int
	topics  []string // allowed topic names; nil: any
	edition []string // allowed edition names; nil: any
	// Errors collects refused rows; reading goes on past them.
	Errors []*RowError
}

// NewCSVReader reads the header. topics and editions, when non-nil, are the
// allowed values.
func NewCSVReader(r io.Reader, topics, editions []string) (*CSVReader, error) {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	cr.ReuseRecord = true
	header, err := cr.Read()
	if err != nil {
		return nil, fmt.Errorf("subscribers: csv header: %w", err)
	}
	col := map[string]int{}
	for i, h := range header {
		h = strings.ToLower(strings.TrimSpace(strings.TrimPrefix(h, "\ufeff")))
		col[h] = i
	}
	if _, ok := col["email"]; !ok {
		return nil, errors.New("subscribers: csv header: no \"email\" column (expected " + strings.Join(Columns, ",") + ")")
	}
	return &CSVReader{r: cr, col: col, topics: topics, edition: editions}, nil
}

func (c *CSVReader) field(rec []string, name string) string {
	i, ok := c.col[name]
	if !ok || i >= len(rec) {
		return ""
	}
	return strings.TrimSpace(rec[i])
}

// Next returns the next good row; ok is false at the end. A bad row is
// recorded in Errors and skipped; a broken file is an error.
func (c *CSVReader) Next() (row Row, ok bool, err error) {
	for {
		rec, err := c.r.Read()
		if err == io.EOF {
			return Row{}, false, nil
		}
		line, _ := c.r.FieldPos(0)
		if err != nil {
			var pe *csv.ParseError
			if errors.As(err, &pe) {
				c.Errors = append(c.Errors, &RowError{Line: pe.Line, Err: pe.Err})
				if pe.Err == csv.ErrQuote || pe.Err == csv.ErrBareQuote {
					continue
				}
			}
			return Row{}, false, fmt.Errorf("subscribers: csv: %w", err)
		}
		if len(rec) == 1 && strings.TrimSpace(rec[0]) == "" {
			continue // blank line
		}
		row, err := c.parse(line, rec)
		if err != nil {
			c.Errors = append(c.Errors, &RowError{Line: line, Err: err})
			continue
		}
		return row, true, nil
	}
}

func (c *CSVReader) parse(line int, rec []string) (Row, error) {
	email, err := NormalizeAddress(c.field(rec, "email"))
	if err != nil {
		var ae *AddressError
		if errors.As(err, &ae) {
			return Row{}, fmt.Errorf("email %q %s", ae.Input, ae.Reason)
		}
		return Row{}, err
	}
	name := c.field(rec, "name")
	if strings.ContainsAny(name, "\r\n") {
		return Row{}, errors.New("name contains a line break")
	}
	row := Row{Line: line, Email: email, Name: cleanName(name), Edition: c.field(rec, "edition")}
	switch st := strings.ToLower(c.field(rec, "status")); st {
	case "", store.StatusConfirmed, store.StatusPending, store.StatusUnsubscribed, store.StatusBounced:
		row.Status = st
	default:
		return Row{}, fmt.Errorf("unknown status %q (known: confirmed, pending, unsubscribed, bounced)", st)
	}
	if v := c.field(rec, "created"); v != "" {
		t, err := parseCreated(v)
		if err != nil {
			return Row{}, err
		}
		row.Created = t
	}
	for _, t := range strings.Split(c.field(rec, "topics"), ";") {
		if t = strings.TrimSpace(t); t == "" {
			continue
		}
		if c.topics != nil && !slices.Contains(c.topics, t) {
			return Row{}, fmt.Errorf("unknown topic %q (known: %s)", t, strings.Join(c.topics, ", "))
		}
		row.Topics = append(row.Topics, t)
	}
	if row.Edition != "" && c.edition != nil && !slices.Contains(c.edition, row.Edition) {
		return Row{}, fmt.Errorf("unknown edition %q (known: %s)", row.Edition, strings.Join(c.edition, ", "))
	}
	return row, nil
}

// parseCreated reads the created column: RFC 3339 as export writes it, or
// a plain date.
func parseCreated(v string) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
		return t.UTC(), nil
	}
	if t, err := time.Parse(time.DateOnly, v); err == nil {
		return t.UTC(), nil
	}
	return time.Time{}, fmt.Errorf("created %q is not an RFC 3339 time (2026-01-31T09:00:00Z) or a date (2026-01-31)", v)
}

// CSVWriter writes subscribers in the columns CSVReader reads, so export
// followed by import is a round trip.
type CSVWriter struct{ w *csv.Writer }

// NewCSVWriter writes the header row.
func NewCSVWriter(w io.Writer) (*CSVWriter, error) {
	cw := &CSVWriter{w: csv.NewWriter(w)}
	if err := cw.w.Write(Columns); err != nil {
		return nil, fmt.Errorf("subscribers: csv: %w", err)
	}
	return cw, nil
}

// Write writes one subscriber.
func (c *CSVWriter) Write(s store.Subscriber) error {
	created := ""
	if !s.Created.IsZero() {
		created = s.Created.UTC().Format(time.RFC3339)
	}
	if err := c.w.Write([]string{s.Email, s.Name, strings.Join(s.Topics, ";"), s.Edition, s.Status, created}); err != nil {
		return fmt.Errorf("subscribers: csv: %w", err)
	}
	return nil
}

// Flush writes what is buffered and reports any write error.
func (c *CSVWriter) Flush() error {
	c.w.Flush()
	if err := c.w.Error(); err != nil {
		return fmt.Errorf("subscribers: csv: %w", err)
	}
	return nil
}
