-- A command sent with an Idempotency-Key carries a digest of its request; a
-- later command with the same key (hence the same event id) but another
-- digest is refused instead of being answered with the first one's outcome.
ALTER TABLE status_events ADD COLUMN IF NOT EXISTS request_fingerprint text;

-- Creation takes seq 1 in package_events too, so the table numbers every
-- event a subscriber sees and gaps can be told from events still in flight.
INSERT INTO package_events (package_id, seq, event_id, kind)
SELECT package_id, COALESCE(seq, 1), event_id, 'created'
FROM status_events WHERE previous_status IS NULL
ON CONFLICT DO NOTHING;
