-- Couriers report their own position (a phone or tracker, any number of
-- packages aboard): one row per courier with the newest fix and what the
-- device last said (battery, when it was last heard from), and the
-- presence the location workers last announced.
CREATE TABLE IF NOT EXISTS courier_positions (
    courier_id          uuid PRIMARY KEY REFERENCES users (id),
    device_id           uuid,
    point_id            uuid,
    latitude            float8,
    longitude           float8,
    -- When the newest fix was taken (NULL until a report had one).
    recorded_at         timestamptz,
    accuracy_m          float8,
    speed_mps           float8,
    heading_deg         float8,
    battery_pct         float8,
    charging            boolean,
    -- When a report (fix or not) last arrived: presence counts from here.
    heard_at            timestamptz NOT NULL,
    presence            text NOT NULL DEFAULT 'online'
                        CHECK (presence IN ('online', 'stale', 'offline')),
    presence_changed_at timestamptz NOT NULL,
    version             bigint NOT NULL DEFAULT 1
);
-- The presence sweep: who has not been heard from since a threshold.
CREATE INDEX IF NOT EXISTS courier_positions_presence_idx
    ON courier_positions (presence, heard_at);

-- A package follows a courier while it is in transit or out for delivery
-- on one of the courier's active runs: one row per such stretch. A
-- courier's point is stored once; a package's trail is its courier's
-- points during its stretches, so a point costs the same for 1 package
-- aboard or 200.
CREATE TABLE IF NOT EXISTS package_carriage (
    package_id  uuid NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    courier_id  uuid NOT NULL,
    since_at    timestamptz NOT NULL,
    until_at    timestamptz
);
CREATE INDEX IF NOT EXISTS package_carriage_package_idx ON package_carriage (package_id, since_at);
CREATE INDEX IF NOT EXISTS package_carriage_open_idx ON package_carriage (courier_id) WHERE until_at IS NULL;
-- The courier a package follows now (the open stretch's), on the row the
-- package reads already load.
ALTER TABLE packages ADD COLUMN IF NOT EXISTS carrier_id uuid;

-- Trackers that speak the OsmAnd protocol identify themselves by an id they
-- send with every report: it is their credential, stored hashed like keys.
ALTER TABLE devices ADD COLUMN IF NOT EXISTS unique_id_hash text;
-- A revoked device's identifier is cleared (the tracker may be registered
-- again), so only live identifiers are unique.
CREATE UNIQUE INDEX IF NOT EXISTS devices_unique_id_idx ON devices (unique_id_hash)
    WHERE unique_id_hash IS NOT NULL;
