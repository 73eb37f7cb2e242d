-- Times are INTEGER unix nanoseconds in UTC; NULL means "never" (zero time).

CREATE TABLE subscribers (
    id              INTEGER PRIMARY KEY,
    -- NOCASE: Foo@Example.org and foo@example.org are one person in practice.
    email           TEXT    NOT NULL UNIQUE COLLATE NOCASE,
    name            TEXT    NOT NULL DEFAULT '',
    status          TEXT    NOT NULL
                    CHECK (status IN ('pending', 'confirmed', 'unsubscribed', 'bounced')),
    topics          TEXT    NOT NULL DEFAULT '[]', -- JSON array of topic names
    edition         TEXT    NOT NULL DEFAULT '',   -- '' = the default edition
    created         INTEGER NOT NULL,
    confirmed       INTEGER,
    unsubscribed    INTEGER,
    confirm_sent_at INTEGER,
    hard_bounces    INTEGER NOT NULL DEFAULT 0,
    soft_bounces    INTEGER NOT NULL DEFAULT 0,
    last_error      TEXT    NOT NULL DEFAULT '',
    last_bounce     INTEGER
);
CREATE INDEX subscribers_status_edition ON subscribers (status, edition);

-- Proof of consent. Rows outlive an unsubscribe (that is a status change);
-- they go only with the subscriber row itself (erasure, expired pending).
CREATE TABLE consent_events (
    id            INTEGER PRIMARY KEY,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    kind          TEXT    NOT NULL,
    at            INTEGER NOT NULL,
    ip            TEXT    NOT NULL DEFAULT '',
    user_agent    TEXT    NOT NULL DEFAULT '',
    form          TEXT    NOT NULL DEFAULT '',
    text          TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX consent_events_subscriber ON consent_events (subscriber_id, id);

CREATE TABLE issues (
    id          INTEGER PRIMARY KEY,
    edition     TEXT    NOT NULL,
    -- The cron slot this issue was made for; NULL for a manual send. NULLs are
    -- distinct in a UNIQUE index, so manual sends never collide.
    slot        INTEGER,
    window_from INTEGER,
    window_to   INTEGER,
    status      TEXT    NOT NULL CHECK (status IN ('sending', 'done')),
    created     INTEGER NOT NULL,
    finished    INTEGER,
    articles    INTEGER NOT NULL DEFAULT 0,
    payload     BLOB,
    UNIQUE (edition, slot)
);
CREATE INDEX issues_edition_status ON issues (edition, status, id);

CREATE TABLE deliveries (
    id            INTEGER PRIMARY KEY,
    issue_id      INTEGER NOT NULL REFERENCES issues (id) ON DELETE CASCADE,
    subscriber_id INTEGER NOT NULL REFERENCES subscribers (id) ON DELETE CASCADE,
    status        TEXT    NOT NULL
                  CHECK (status IN ('pending', 'sent', 'failed_temp', 'failed_perm', 'skipped')),
    attempts      INTEGER NOT NULL DEFAULT 0,
    error         TEXT    NOT NULL DEFAULT '',
    updated       INTEGER NOT NULL,
    UNIQUE (issue_id, subscriber_id)
);
-- (issue_id) entries are ordered by rowid within an issue, which is what the
-- keyset scan of EachPending walks; (issue_id, status) covers the counts.
CREATE INDEX deliveries_issue ON deliveries (issue_id);
CREATE INDEX deliveries_issue_status ON deliveries (issue_id, status);
CREATE INDEX deliveries_subscriber ON deliveries (subscriber_id);

CREATE TABLE feed_state (
    url           TEXT PRIMARY KEY,
    etag          TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT ''
);

CREATE TABLE seen_articles (
    article_id TEXT    PRIMARY KEY,
    issue_id   INTEGER REFERENCES issues (id) ON DELETE SET NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX seen_articles_issue ON seen_articles (issue_id);

CREATE TABLE leases (
    name    TEXT    PRIMARY KEY,
    holder  TEXT    NOT NULL,
    expires INTEGER NOT NULL
);

CREATE TABLE schedule_slots (
    edition TEXT    PRIMARY KEY,
    slot    INTEGER NOT NULL
);

CREATE TABLE inbound_processed (
    key TEXT    PRIMARY KEY,
    at  INTEGER NOT NULL
);
