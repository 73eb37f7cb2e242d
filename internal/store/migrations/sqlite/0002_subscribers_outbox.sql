-- Links outlive nothing (DESIGN.md): subscriber ids are never reused, and
-- every subscriber has a random stamp that its tokens are signed with.
--
-- Without AUTOINCREMENT, SQLite gives a new row max(id)+1, so removing the
-- newest subscriber hands their id, and the links in their old emails, to
-- the next one. Rebuilding the table with AUTOINCREMENT would need
-- DROP TABLE subscribers, which with foreign keys on (they are, during
-- migrations) cascade-deletes consent_events and deliveries, and would
-- copy columns that other migrations may add. Instead a high-water mark
-- survives deletes: inserts take last + 1, and a trigger refuses any id at
-- or below the mark, whoever inserts.
CREATE TABLE id_high_water (
    name TEXT    PRIMARY KEY,
    last INTEGER NOT NULL
);
INSERT INTO id_high_water (name, last) SELECT 'subscribers', coalesce(max(id), 0) FROM subscribers;

CREATE TRIGGER subscribers_id_never_reused AFTER INSERT ON subscribers
BEGIN
    SELECT RAISE(ABORT, 'subscriber id reused')
        WHERE NEW.id <= (SELECT last FROM id_high_water WHERE name = 'subscribers');
    UPDATE id_high_water SET last = NEW.id WHERE name = 'subscribers';
END;

-- 0 for rows made before stamps: their tokens are signed as they were then.
ALTER TABLE subscribers ADD COLUMN stamp INTEGER NOT NULL DEFAULT 0;

-- Transactional mail (confirmations, welcome issues, help replies): the web
-- handler records the message and answers at once; a worker claims due rows
-- in a short transaction (FOR UPDATE SKIP LOCKED on PostgreSQL), sends them
-- and marks them, like the delivery ledger. A claim whose holder died
-- expires at claimed_until.
CREATE TABLE outbox (
    id            INTEGER PRIMARY KEY AUTOINCREMENT,
    kind          TEXT    NOT NULL,                 -- confirm | welcome | reply
    -- The subscriber the mail is about: removing them takes their unsent
    -- mail with them. NULL for a reply to someone who is not on the list.
    subscriber_id INTEGER REFERENCES subscribers (id) ON DELETE CASCADE,
    message       BLOB    NOT NULL,                 -- opaque to the store
    status        TEXT    NOT NULL DEFAULT 'pending'
                  CHECK (status IN ('pending', 'sent', 'failed')),
    created       INTEGER NOT NULL,
    due           INTEGER NOT NULL,                 -- not before: backoff, budget
    attempts      INTEGER NOT NULL DEFAULT 0,
    claimed_by    TEXT    NOT NULL DEFAULT '',
    claimed_until INTEGER,
    sent          INTEGER,
    error         TEXT    NOT NULL DEFAULT ''
);
CREATE INDEX outbox_due ON outbox (status, due);
CREATE INDEX outbox_subscriber ON outbox (subscriber_id);

-- Rate budgets shared by every process on the store (GCRA: one theoretical
-- arrival time per budget), e.g. confirmation mails per hour.
CREATE TABLE rate_budgets (
    name TEXT    PRIMARY KEY,
    tat  INTEGER NOT NULL
);
