-- A per-package sequence over every event a subscriber sees (creation, status
-- changes, location points), so a client that reconnects can ask for what it
-- missed ("since_seq") and get it with no gap and no duplicate.

ALTER TABLE packages ADD COLUMN IF NOT EXISTS event_seq bigint NOT NULL DEFAULT 0;
ALTER TABLE status_events ADD COLUMN IF NOT EXISTS seq bigint;

-- Which event got which number. event_id is the command's event id or the
-- location point's id: a redelivered event keeps its number.
CREATE TABLE IF NOT EXISTS package_events (
    package_id uuid   NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    seq        bigint NOT NULL,
    event_id   uuid   NOT NULL UNIQUE,
    kind       text   NOT NULL,
    PRIMARY KEY (package_id, seq)
);
CREATE INDEX IF NOT EXISTS status_events_package_seq_idx ON status_events (package_id, seq);
