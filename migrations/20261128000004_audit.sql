-- Who changed what, when, from where: one row per applied command, and one
-- per poster and package for each message of location points. (event_id,
-- part) is unique, so a redelivered message adds nothing.
CREATE TABLE IF NOT EXISTS audit_log (
    id          bigserial PRIMARY KEY,
    event_id    uuid        NOT NULL,
    part        text        NOT NULL DEFAULT '',
    occurred_at timestamptz NOT NULL,
    recorded_at timestamptz NOT NULL DEFAULT now(),
    actor       text,
    actor_role  text,
    device_id   text,
    address     text,
    action      text        NOT NULL,
    target      text,
    change      jsonb       NOT NULL DEFAULT '{}',
    UNIQUE (event_id, part)
);
CREATE INDEX IF NOT EXISTS audit_log_time_idx ON audit_log (occurred_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS audit_log_actor_idx ON audit_log (actor, occurred_at DESC, id DESC);
