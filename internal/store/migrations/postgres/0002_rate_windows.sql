-- Fixed-window counters shared by every process on the store (SQLite's
-- 0004_rate_windows.sql): ends is the window's end in unix ns.
CREATE TABLE rate_windows (
    key  TEXT   PRIMARY KEY,
    n    BIGINT NOT NULL,
    ends BIGINT NOT NULL
);
CREATE INDEX rate_windows_ends ON rate_windows (ends);
