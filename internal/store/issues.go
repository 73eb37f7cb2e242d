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
	// SeenKeys are the article keys CreateIssue records as sent in this
	// edition (digest.SeenKeys of every article), in the issue's own
	// transaction; never read back.
	SeenKeys []string
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
// subscriber of its edition (subscribers whose edition is "" belong to
// defaultEdition) and the issue's SeenKeys as seen articles of its edition.
// The returned Issue has its ID set.
//
// An edition has at most one unfinished issue, and the windows of its
// issues never overlap. So, for a new sending issue, inside the immediate
// transaction (no other writer, in this process or another, runs between
// the check and the insert):
//   - an unfinished issue of the edition: *IssueConflict (Open) naming it,
//     which the caller joins instead;
//   - an issue already made for the same (edition, slot): ErrSlotTaken;
//   - an issue whose window ends after this one's starts (another sender
//     made and finished it since the caller looked): *IssueConflict.
//
// Both conflicts match errors.Is(err, ErrIssueExists).
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
		if err := checkNewIssue(ctx, tx, is); err != nil {
			return err
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
		if err != nil {
			return err
		}
		return markSeen(ctx, tx, is.Edition, is.SeenKeys, is.ID, is.Created)
	})
	var conflict *IssueConflict
	switch {
	case errors.As(err, &conflict):
		return Issue{}, err
	case errors.Is(err, ErrSlotTaken):
		return Issue{}, fmt.Errorf("store: create issue %s at %s: %w", is.Edition, is.Slot.Format(time.RFC3339), ErrSlotTaken)
	case err != nil:
		return Issue{}, fmt.Errorf("store: create issue %s: %w", is.Edition, err)
	}
	is.SeenKeys = nil
	return is, nil
}

// checkNewIssue refuses an issue that would duplicate one the edition has.
func checkNewIssue(ctx context.Context, tx *sql.Tx, is Issue) error {
	if is.Status == IssueSending {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM issues WHERE edition = ? AND status = 'sending' ORDER BY id LIMIT 1",
			is.Edition).Scan(&id)
		if err == nil {
			return &IssueConflict{Edition: is.Edition, ID: id, Open: true}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
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
	if is.Status == IssueSending && !is.WindowFrom.IsZero() {
		var id int64
		err := tx.QueryRowContext(ctx, "SELECT id FROM issues WHERE edition = ? AND window_to > ? ORDER BY id DESC LIMIT 1",
			is.Edition, nanos(is.WindowFrom)).Scan(&id)
		if err == nil {
			return &IssueConflict{Edition: is.Edition, ID: id}
		}
		if !errors.Is(err, sql.ErrNoRows) {
			return err
		}
	}
	return nil
}

// IssueConflict is CreateIssue's answer when the edition already has the
// issue the caller was about to make: an unfinished one (Open), or one
// covering part of the new window.
type IssueConflict struct {
	Edition string
	ID      int64 // the existing issue
	Open    bool
}

func (e *IssueConflict) Error() string {
	if e.Open {
		return fmt.Sprintf("store: edition %s already has an unfinished issue (%d)", e.Edition, e.ID)
	}
	return fmt.Sprintf("store: edition %s: issue %d already covers this window", e.Edition, e.ID)
}

// Is makes errors.Is(err, ErrIssueExists) true.
func (e *IssueConflict) Is(target error) bool { return target == ErrIssueExists }

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
// joins or resumes it instead of starting a new one. There is at most one
// (a store from before that rule may hold more: the oldest goes first).
func (db *DB) OpenIssue(ctx context.Context, edition string) (Issue, bool, error) {
	return db.oneIssue(ctx, "open issue of "+edition,
		"WHERE edition = ? AND status = 'sending' ORDER BY id LIMIT 1", edition)
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

// FinishIssue marks the issue done at `at`. Several senders of one issue
// may all see it finished: the first one's time stays.
func (db *DB) FinishIssue(ctx context.Context, id int64, at time.Time) error {
	res, err := db.w.ExecContext(ctx, `UPDATE issues SET status = 'done', finished = coalesce(finished, ?)
		WHERE id = ?`, nanos(at), id)
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
	count(*) FILTER (WHERE d.status = 'sent'),
	count(*) FILTER (WHERE d.status = 'pending'),
	count(*) FILTER (WHERE d.status = 'failed_temp'),
	count(*) FILTER (WHERE d.status = 'failed_perm'),
	count(*) FILTER (WHERE d.status = 'skipped')
	FROM %s i LEFT JOIN deliveries d ON d.issue_id = i.id
	GROUP BY i.id, i.edition, i.slot, i.window_from, i.window_to, i.status,
		i.created, i.finished, i.articles
	ORDER BY i.id DESC`

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
