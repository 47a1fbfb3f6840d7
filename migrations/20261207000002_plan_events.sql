-- A plan change (PATCH /packages/{tn}) writes no status event, but must be
-- recognised when it comes again (a redelivery, a retry with the same
-- Idempotency-Key): its outcome is kept here, as status events keep theirs.
CREATE TABLE IF NOT EXISTS plan_events (
    event_id            uuid PRIMARY KEY,
    package_id          uuid NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    request_fingerprint text,
    destination         jsonb,
    promised_by         timestamptz,
    version             bigint NOT NULL,
    occurred_at         timestamptz NOT NULL
);
