-- Geofences: the zones themselves live in MongoDB (collection `geofences`,
-- 2dsphere-indexed); PostgreSQL keeps where each package and courier stands
-- with them, so the standing moves in the same transactions as the events
-- it numbers.

-- One row per package or courier the location pool has evaluated: the
-- newest fix it applied. A fix not newer than `last_at` (a late point, a
-- redelivered window) moves no zone. The row is locked while a window
-- evaluates its subject, so two windows never step one subject at once;
-- NULLs until a first fix was applied.
CREATE TABLE IF NOT EXISTS geofence_subjects (
    subject_id  uuid PRIMARY KEY,
    last_at     timestamptz,
    latitude    float8,
    longitude   float8,
    accuracy_m  float8
);

-- A subject's standing with one zone, kept only when it is not the default
-- (outside, nothing pending): inside, or about to flip.
CREATE TABLE IF NOT EXISTS geofence_presence (
    subject_id    uuid NOT NULL,
    zone_id       uuid NOT NULL,
    zone_name     text NOT NULL,
    inside        boolean NOT NULL,
    pending_since timestamptz,
    entered_at    timestamptz,
    dwelled       boolean NOT NULL DEFAULT false,
    PRIMARY KEY (subject_id, zone_id)
);
CREATE INDEX IF NOT EXISTS geofence_presence_zone_idx ON geofence_presence (zone_id);

-- Bumped after every zone write to MongoDB: the location workers reload the
-- zones that changed when they see it move.
CREATE TABLE IF NOT EXISTS geofence_revision (
    only_row  boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    revision  bigint NOT NULL
);
INSERT INTO geofence_revision (only_row, revision) VALUES (true, 0) ON CONFLICT DO NOTHING;

-- What the workers tell a package's watchers without a command asking
-- (zones, arrival): numbered in `package_events` like every event, with
-- its content here. `point_id` is the fix that decided it, so a
-- redelivered window announces the same notices again instead of new ones.
CREATE TABLE IF NOT EXISTS package_notices (
    package_id  uuid NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    seq         bigint NOT NULL,
    event_id    uuid NOT NULL UNIQUE,
    kind        text NOT NULL,
    data        jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    point_id    uuid,
    PRIMARY KEY (package_id, seq)
);
CREATE INDEX IF NOT EXISTS package_notices_point_idx ON package_notices (point_id)
    WHERE point_id IS NOT NULL;

-- Courier zone events are kept too (the courier read has no event log,
-- but a redelivered window must announce them again, not anew).
CREATE TABLE IF NOT EXISTS courier_notices (
    event_id    uuid PRIMARY KEY,
    courier_id  uuid NOT NULL,
    kind        text NOT NULL,
    data        jsonb NOT NULL,
    occurred_at timestamptz NOT NULL,
    point_id    uuid NOT NULL
);
CREATE INDEX IF NOT EXISTS courier_notices_point_idx ON courier_notices (point_id);
