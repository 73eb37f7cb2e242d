-- Fixed-window counters shared by every process on the store, e.g. sign-ups
-- per client IP (HitRateWindow). A row is the window that ends at ends (unix
-- ns) and the events counted in it; a hit after ends starts a new window.
-- Rows past their end are pruned (PruneRateWindows), so the table holds
-- about the keys seen in one window.
CREATE TABLE rate_windows (
    key  TEXT    PRIMARY KEY,
    n    INTEGER NOT NULL,
    ends INTEGER NOT NULL
);
CREATE INDEX rate_windows_ends ON rate_windows (ends);
