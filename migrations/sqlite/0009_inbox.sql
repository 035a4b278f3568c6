-- How far the inbox (the `-inbox` file next to this one) has been applied: written in the same transaction as the
-- entries it counts, so after a crash the inbox rows past it are exactly the events still to apply.
CREATE TABLE inbox_progress (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    applied_through INTEGER NOT NULL
);
INSERT INTO inbox_progress (id, applied_through) VALUES (1, 0);
