package store

import (
	"context"
	"fmt"
)

// archived is the rule for an issue readers have received, and so for an
// issue the public archive shows: it is done, or it is still sending and
// at least one message has left. An issue whose first messages are still
// in the queue is not public yet; one paused by a relay outage after some
// messages is (those readers can already share its link).
const archived = `(status = 'done' OR EXISTS (SELECT 1 FROM deliveries d
	WHERE d.issue_id = issues.id AND d.status = 'sent'))`

// ArchivedIssues returns a page of the issues readers have received
// (without payloads), newest first; edition "" means every edition.
func (db *DB) ArchivedIssues(ctx context.Context, edition string, offset, limit int) ([]Issue, error) {
	if limit <= 0 {
		return nil, nil
	}
	rows, err := db.r.QueryContext(ctx, "SELECT "+issueColsNoPayload+" FROM issues WHERE "+archived+
		" AND (? = '' OR edition = ?) ORDER BY id DESC LIMIT ? OFFSET ?", edition, edition, limit, max(offset, 0))
	if err != nil {
		return nil, fmt.Errorf("store: archived issues: %w", err)
	}
	defer rows.Close()
	var out []Issue
	for rows.Next() {
		is, err := scanIssue(rows, false)
		if err != nil {
			return nil, fmt.Errorf("store: archived issues: %w", err)
		}
		out = append(out, is)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: archived issues: %w", err)
	}
	return out, nil
}

// CountArchivedIssues counts what ArchivedIssues pages through.
func (db *DB) CountArchivedIssues(ctx context.Context, edition string) (int, error) {
	var n int
	err := db.r.QueryRowContext(ctx, "SELECT count(*) FROM issues WHERE "+archived+
		" AND (? = '' OR edition = ?)", edition, edition).Scan(&n)
	if err != nil {
		return 0, fmt.Errorf("store: count archived issues: %w", err)
	}
	return n, nil
}

// ArchivedEditions lists the editions that have an archived issue, by name.
func (db *DB) ArchivedEditions(ctx context.Context) ([]string, error) {
	rows, err := db.r.QueryContext(ctx, "SELECT DISTINCT edition FROM issues WHERE "+archived+" ORDER BY edition")
	if err != nil {
		return nil, fmt.Errorf("store: archived editions: %w", err)
	}
	defer rows.Close()
	var out []string
	for rows.Next() {
		var e string
		if err := rows.Scan(&e); err != nil {
			return nil, fmt.Errorf("store: archived editions: %w", err)
		}
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("store: archived editions: %w", err)
	}
	return out, nil
}

// ArchivedIssue returns an archived issue with its payload, or ErrNotFound
// (also for an issue that exists but has not reached any reader).
func (db *DB) ArchivedIssue(ctx context.Context, id int64) (Issue, error) {
	is, ok, err := db.oneIssue(ctx, fmt.Sprintf("archived issue %d", id), "WHERE id = ? AND "+archived, id)
	if err != nil {
		return Issue{}, err
	}
	if !ok {
		return Issue{}, fmt.Errorf("store: archived issue %d: %w", id, ErrNotFound)
	}
	return is, nil
}
