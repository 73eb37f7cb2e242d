-- Delivery semantics under concurrency (issue 11): claims, one open issue per
-- edition, and per-edition memory of sent articles and feed validators.

-- Any number of senders share one issue's ledger. A sender claims a batch of
-- open rows (claimed_by, claimed_until in unix ns) before any SMTP, renews
-- the claim while it works, and clears it when it marks a row sent, failed
-- for good or skipped. A claim whose holder died expires at claimed_until and
-- the row goes to another sender. A row that failed temporarily stays claimed
-- (tried = 1) until its holder's run ends, so one run tries it once, and
-- nobody waits for it. Only open rows keep a claim, so the partial index stays
-- as small as the work in progress.
ALTER TABLE deliveries ADD COLUMN claimed_by TEXT;
ALTER TABLE deliveries ADD COLUMN claimed_until INTEGER;
ALTER TABLE deliveries ADD COLUMN tried INTEGER NOT NULL DEFAULT 0;
CREATE INDEX deliveries_claimed_by ON deliveries (claimed_by) WHERE claimed_by IS NOT NULL;

-- An edition has at most one unfinished issue: a send that finds one joins
-- it. CreateIssue checks this inside its immediate transaction; the triggers
-- hold it for every writer. (A partial unique index would say the same, but
-- would refuse to migrate a store where the old race already left two open
-- issues; those are finished one after the other.)
CREATE TRIGGER issues_one_open_insert BEFORE INSERT ON issues
WHEN NEW.status = 'sending'
 AND EXISTS (SELECT 1 FROM issues WHERE edition = NEW.edition AND status = 'sending')
BEGIN
    SELECT RAISE(ABORT, 'edition already has an unfinished issue');
END;
CREATE TRIGGER issues_one_open_update BEFORE UPDATE OF status, edition ON issues
WHEN NEW.status = 'sending'
 AND EXISTS (SELECT 1 FROM issues WHERE edition = NEW.edition AND status = 'sending' AND id != NEW.id)
BEGIN
    SELECT RAISE(ABORT, 'edition already has an unfinished issue');
END;

-- Editions are independent: an article sent in the daily edition is still
-- new for the weekly one. Rows from before this migration take the edition of
-- the issue that recorded them; rows with no issue get '' and count as seen
-- for every edition (what they meant before).
CREATE TABLE seen_articles_by_edition (
    edition    TEXT    NOT NULL,
    article_id TEXT    NOT NULL,
    issue_id   INTEGER REFERENCES issues (id) ON DELETE SET NULL,
    at         INTEGER NOT NULL,
    PRIMARY KEY (edition, article_id)
);
INSERT INTO seen_articles_by_edition (edition, article_id, issue_id, at)
    SELECT coalesce(i.edition, ''), s.article_id, s.issue_id, s.at
    FROM seen_articles s LEFT JOIN issues i ON i.id = s.issue_id;
DROP TABLE seen_articles;
ALTER TABLE seen_articles_by_edition RENAME TO seen_articles;
CREATE INDEX seen_articles_issue ON seen_articles (issue_id);
-- A build reads the keys its edition recorded since its window's start.
CREATE INDEX seen_articles_edition_at ON seen_articles (edition, at);

-- Conditional GET validators are per edition too: a feed fetched for the
-- daily edition answers 304 to the weekly one's next fetch, which would then
-- get none of its items. The old validators cannot be told apart: forgetting
-- them costs one full fetch per feed.
DROP TABLE feed_state;
CREATE TABLE feed_state (
    edition       TEXT NOT NULL,
    url           TEXT NOT NULL,
    etag          TEXT NOT NULL DEFAULT '',
    last_modified TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (edition, url)
);
