package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"time"
)

// Issue is one edition sent at one time. Payload is opaque to the store:
// the frozen digest and rendered bodies, stored before the first message
// leaves so a resumed send is identical to the interrupted one.
type Issue struct {
	ID      int64
	Edition string
	// Slot is the scheduled cron time the issue was made for; zero for a
	// manual send.
	Slot                 time.Time
	WindowFrom, WindowTo time.Time
	Status               string // IssueSending or IssueDone
	Created, Finished    time.Time
	Articles             int
	Payload              []byte
}

const issueColsNoPayload = `id, edition, slot, window_from, window_to, status, created, finished, articles`
const issueCols = issueColsNoPayload + `, payload`

func scanIssue(sc scanner, withPayload bool) (Issue, error) {
	var is Issue
	var slot, from, to, created, finished sql.NullInt64
	dest := []any{&is.ID, &is.Edition, &slot, &from, &to, &is.Status, &created, &finished, &is.Articles}
	if withPayload {
		dest = append(dest, &is.Payload)
	}
	if err := sc.Scan(dest...); err != nil {
		return Issue{}, err
	}
	is.Slot, is.WindowFrom, is.WindowTo = fromNanos(slot), fromNanos(from), fromNanos(to)
	is.Created, is.Finished = fromNanos(created), fromNanos(finished)
	return is, nil
}

// CreateIssue inserts the issue (Status "" = sending, Created zero = now)
// and, in the same transaction, one pending delivery per confirmed
// subscriber of its edition; subscribers whose edition is "" belong to
// defaultEdition. It returns ErrSlotTaken if (edition, slot) already has an
// issue. The returned Issue has its ID set.
func (db *DB) CreateIssue(ctx context.Context, is Issue, defaultEdition string) (Issue, error) {
	if is.Edition == "" {
		return Issue{}, errors.New("store: create issue: empty edition")
	}
	if is.Status == "" {
		is.Status = IssueSending
	}
	if is.Status != IssueSending && is.Status != IssueDone {
		return Issue{}, fmt.Errorf("store: create issue: invalid status %q", is.Status)
	}
	if is.Created.IsZero() {
		is.Created = time.Now()
	}
	is = normaliseIssueTimes(is)
	err := db.write(ctx, func(tx *sql.Tx) error {
		// Inside an immediate transaction this check cannot race another
		// writer; the UNIQUE index backs it up all the same.
		if !is.Slot.IsZero() {
			var one int
			err := tx.QueryRowContext(ctx, "SELECT 1 FROM issues WHERE edition = ? AND slot = ?",
				is.Edition, nanos(is.Slot)).Scan(&one)
			if err == nil {
				return ErrSlotTaken
			}
			if !errors.Is(err, sql.ErrNoRows) {
				return err
			}
		}
		err := tx.QueryRowContext(ctx, `INSERT INTO issues
			(edition, slot, window_from, window_to, status, created, finished, articles, payload)
			VALUES (?,?,?,?,?,?,?,?,?) RETURNING id`,
			is.Edition, nanos(is.Slot), nanos(is.WindowFrom), nanos(is.WindowTo), is.Status,
			nanos(is.Created), nanos(is.Finished), is.Articles, is.Payload).Scan(&is.ID)
		if err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `INSERT INTO deliveries (issue_id, subscriber_id, status, updated)
			SELECT ?, id, 'pending', ? FROM subscribers
			WHERE status = 'confirmed' AND (edition = ? OR (edition = '' AND ? = ?))
			ORDER BY id`,
			is.ID, nanos(is.Created), is.Edition, is.Edition, defaultEdition)
		return err
	})
	if errors.Is(err, ErrSlotTaken) {
		return Issue{}, fmt.Errorf("store: create issue %s at %s: %w", is.Edition, is.Slot.Format(time.RFC3339), ErrSlotTaken)
	}
	if err != nil {
		return Issue{}, fmt.Errorf("store: create issue %s: %w", is.Edition, err)
	}
	return is, nil
}

// normaliseIssueTimes puts times in UTC with the precision they are stored
// with, so the Issue CreateIssue returns equals the one read back.
func normaliseIssueTimes(is Issue) Issue {
	f := func(t time.Time) time.Time {
		if t.IsZero() {
			return t
		}
		return time.Unix(0, t.UnixNano()).UTC()
	}
	is.Slot, is.WindowFrom, is.WindowTo = f(is.Slot), f(is.WindowFrom), f(is.WindowTo)
	is.Created, is.Finished = f(is.Created), f(is.Finished)
	return is
}

func (db *DB) oneIssue(ctx context.Context, what, query string, args ...any) (Issue, bool, error) {
	is, err := scanIssue(db.r.QueryRowContext(ctx, "SELECT "+issueCols+" FROM issues "+query, args...), true)
	if errors.Is(err, sql.ErrNoRows) {
		return Issue{}, false, nil
	}
	if err != nil {
		return Issue{}, false, fmt.Errorf("store: %s: %w", what, err)
	}
	return is, true, nil
}

// OpenIssue returns the edition's unfinished (sending) issue, if any: a send
// resumes it instead of starting a new one.
func (db *DB) OpenIssue(ctx context.Context, edition string) (Issue, bool, error) {
	return db.oneIssue(ctx, "open issue of "+edition,
		"WHERE edition = ? AND status = 'sending' ORDER BY id DESC LIMIT 1", edition)
}

// LastIssue returns the edition's newest issue in any status; the next
// issue's window starts at its WindowTo.
func (db *DB) LastIssue(ctx context.Context, edition string) (Issue, bool, error) {
	return db.oneIssue(ctx, "last issue of "+edition, "WHERE edition = ? ORDER BY id DESC LIMIT 1", edition)
}

// IssueBySlot returns the edition's issue for a scheduled slot, if any.
func (db *DB) IssueBySlot(ctx context.Context, edition string, slot time.Time) (Issue, bool, error) {
	if slot.IsZero() {
		return Issue{}, false, nil
	}
	return db.oneIssue(ctx, "issue of "+edition+" at "+slot.UTC().Format(time.RFC3339),
		"WHERE edition = ? AND slot = ?", edition, nanos(slot))
}

// IssueByID returns the issue with its payload, or ErrNotFound.
func (db *DB) IssueByID(ctx context.Context, id int64) (Issue, error) {
	is, ok, err := db.oneIssue(ctx, fmt.Sprintf("issue %d", id), "WHERE id = ?", id)
	if err != nil {
		return Issue{}, err
	}
	if !ok {
		return Issue{}, fmt.Errorf("store: issue %d: %w", id, ErrNotFound)
	}
	return is, nil
}

// FinishIssue marks the issue done at `at`.
func (db *DB) FinishIssue(ctx context.Context, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, "UPDATE issues SET status = 'done', finished = ? WHERE id = ?", nanos(at), id)
	return affectedOne(res, err, fmt.Sprintf("finish issue %d", id))
}

// IssueSummary is an issue (without its payload) with its ledger counts.
// Recipients is the number of delivery rows.
type IssueSummary struct {
	Issue
	Recipients, Sent, Pending, FailedTemp, FailedPerm, Skipped int
}

const summaryQuery = `SELECT i.id, i.edition, i.slot, i.window_from, i.window_to, i.status,
	i.created, i.finished, i.articles,
	count(d.status),
	coalesce(sum(d.status = 'sent'), 0),
	coalesce(sum(d.status = 'pending'), 0),
	coalesce(sum(d.status = 'failed_temp'), 0),
	coalesce(sum(d.status = 'failed_perm'), 0),
	coalesce(sum(d.status = 'skipped'), 0)
	FROM %s i LEFT JOIN deliveries d ON d.issue_id = i.id
	GROUP BY i.id ORDER BY i.id DESC`

func scanSummary(sc scanner) (IssueSummary, error) {
	var s IssueSummary
	var slot, from, to, created, finished sql.NullInt64
	if err := sc.Scan(&s.ID, &s.Edition, &slot, &from, &to, &s.Status, &created, &finished,
		&s.Articles, &s.Recipients, &s.Sent, &s.Pending, &s.FailedTemp, &s.FailedPerm, &s.Skipped); err != nil {
		return IssueSummary{}, err
	}
	s.Slot, s.WindowFrom, s.WindowTo = fromNanos(slot), fromNanos(from), fromNanos(to)
	s.Created, s.Finished = fromNanos(created), fromNanos(finished)
	return s, nil
}

// RecentIssues returns the n newest issues (all editions), newest first,
// with their counts.
func (db *DB) RecentIssues(ctx context.Context, n int) ([]IssueSummary, error) {
	if n <= 0 {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, fmt.Sprintf(summaryQuery,
		"(SELECT "+issueColsNoPayload+" FROM issues ORDER BY id DESC LIMIT ?)"), n)
	if err != nil {
		return nil, fmt.Errorf("store: recent issues: %w", err)
	}
	defer rows.Close()
	var out []IssueSummary
	for rows.Next() {
		s, err := scanSummary(rows)
		if err != nil {
			return nil, fmt.Errorf("store: recent issues: %w", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: recent issues: %w", err)
	}
	return out, nil
}

// IssueCounts returns one issue's summary, or ErrNotFound.
func (db *DB) IssueCounts(ctx context.Context, issueID int64) (IssueSummary, error) {
	s, err := scanSummary(db.r.QueryRowContext(ctx, fmt.Sprintf(summaryQuery,
		"(SELECT "+issueColsNoPayload+" FROM issues WHERE id = ?)"), issueID))
	if errors.Is(err, sql.ErrNoRows) {
		return IssueSummary{}, fmt.Errorf("store: issue counts %d: %w", issueID, ErrNotFound)
	}
	if err != nil {
		return IssueSummary{}, fmt.Errorf("store: issue counts %d: %w", issueID, err)
	}
	return s, nil
}

// Delivery is one ledger row joined with its subscriber as it is now.
type Delivery struct {
	ID                       int64
	IssueID, SubscriberID    int64
	Email, Name, Edition     string
	Topics                   []string
	SubscriberStatus, Status string
	Attempts                 int
	Error                    string
	// SubscriberStamp signs the subscriber's links (package links).
	SubscriberStamp int64
}

// EachPending calls fn for each delivery of the issue still to do (status
// pending or failed_temp), joined with its subscriber, in id order. It reads
// pages of `batch` rows by key and holds no transaction or cursor while fn
// runs, so fn (or another goroutine) may mark rows meanwhile; each row is
// seen at most once per call. Rows whose subscriber is no longer confirmed
// come too, with SubscriberStatus telling why: the caller marks them
// skipped. An error from fn stops the walk and is returned as is.
func (db *DB) EachPending(ctx context.Context, issueID int64, batch int, fn func(Delivery) error) error {
	if batch <= 0 {
		batch = eachBatch
	}
	// INDEXED BY pins the (issue_id) index, whose entries run in rowid
	// order within an issue: a page is then a short range scan, where the
	// (issue_id, status) index would make every page sort all open rows.
	const query = `SELECT d.id, d.issue_id, d.subscriber_id, s.email, s.name, s.edition, s.topics,
		s.status, d.status, d.attempts, d.error, s.stamp
		FROM deliveries d INDEXED BY deliveries_issue JOIN subscribers s ON s.id = d.subscriber_id
		WHERE d.issue_id = ? AND d.id > ? AND d.status IN ('pending', 'failed_temp')
		ORDER BY d.id LIMIT ?`
	var last int64
	page := make([]Delivery, 0, batch)
	for {
		page = page[:0]
		rows, err := db.r.QueryContext(ctx, query, issueID, last, batch)
		if err != nil {
			return fmt.Errorf("store: pending deliveries of issue %d: %w", issueID, err)
		}
		for rows.Next() {
			var d Delivery
			var topics string
			if err := rows.Scan(&d.ID, &d.IssueID, &d.SubscriberID, &d.Email, &d.Name, &d.Edition,
				&topics, &d.SubscriberStatus, &d.Status, &d.Attempts, &d.Error, &d.SubscriberStamp); err != nil {
				rows.Close()
				return fmt.Errorf("store: pending deliveries of issue %d: %w", issueID, err)
			}
			if d.Topics, err = decodeTopics(topics); err != nil {
				rows.Close()
				return fmt.Errorf("store: pending deliveries of issue %d: %w", issueID, err)
			}
			page = append(page, d)
		}
		err = rows.Err()
		rows.Close()
		if err != nil {
			return fmt.Errorf("store: pending deliveries of issue %d: %w", issueID, err)
		}
		for _, d := range page {
			if err := fn(d); err != nil {
				return err
			}
		}
		if len(page) < batch {
			return nil
		}
		last = page[len(page)-1].ID
	}
}

// Mark is a status change of one delivery row. Attempts is the new total
// (not an increment).
type Mark struct {
	DeliveryID int64
	Status     string
	Error      string
	Attempts   int
	At         time.Time
}

// MarkDeliveries applies marks in one transaction with one prepared
// statement, which is what lets the ledger keep up with SMTP. A row already
// sent stays sent (nothing can un-send a message), and a mark for a row that
// no longer exists (its subscriber was erased) is ignored, so one stale mark
// never loses the batch.
func (db *DB) MarkDeliveries(ctx context.Context, marks []Mark) error {
	if len(marks) == 0 {
		return nil
	}
	for _, m := range marks {
		if !validDeliveryStatus(m.Status) {
			return fmt.Errorf("store: mark delivery %d: invalid status %q", m.DeliveryID, m.Status)
		}
	}
	db.markOnce.Do(func() {
		db.mark, db.markErr = db.w.PrepareContext(context.WithoutCancel(ctx), `UPDATE deliveries SET status = ?, error = ?, attempts = ?, updated = ?
			WHERE id = ? AND status != 'sent'`)
	})
	if db.markErr != nil {
		return fmt.Errorf("store: mark deliveries: prepare: %w", db.markErr)
	}
	err := db.write(ctx, func(tx *sql.Tx) error {
		st := tx.StmtContext(ctx, db.mark)
		defer st.Close()
		now := time.Now()
		for _, m := range marks {
			at := m.At
			if at.IsZero() {
				at = now
			}
			if _, err := st.ExecContext(ctx, m.Status, m.Error, m.Attempts, nanos(at), m.DeliveryID); err != nil {
				return fmt.Errorf("delivery %d: %w", m.DeliveryID, err)
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("store: mark %d deliveries: %w", len(marks), err)
	}
	return nil
}
