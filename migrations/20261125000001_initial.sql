-- The package store. Timestamps are timestamptz (UTC on the wire).

CREATE TABLE IF NOT EXISTS users (
    id            uuid PRIMARY KEY,
    email         text NOT NULL UNIQUE,
    password_hash text,
    role          text NOT NULL DEFAULT 'customer'
                  CHECK (role IN ('admin', 'dispatcher', 'courier', 'customer', 'device')),
    created_at    timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE IF NOT EXISTS packages (
    id                uuid PRIMARY KEY,
    tracking_number   text NOT NULL UNIQUE,
    sender_name       text NOT NULL,
    sender_address    text NOT NULL,
    recipient_name    text NOT NULL,
    recipient_address text NOT NULL,
    status            text NOT NULL DEFAULT 'pending'
                      CHECK (status IN ('pending', 'in_transit', 'out_for_delivery', 'delivered', 'failed', 'cancelled')),
    current_location  text,
    weight            double precision,
    description       text,
    -- Latest known position; moves only forward in time.
    latitude          double precision,
    longitude         double precision,
    last_seen_at      timestamptz,
    -- +1 per applied change: a per-package sequence for caches and subscribers.
    version           bigint NOT NULL DEFAULT 1,
    created_at        timestamptz NOT NULL,
    updated_at        timestamptz NOT NULL
);

-- GET /packages: newest first, keyset-paginated, optionally by status.
CREATE INDEX IF NOT EXISTS packages_newest_idx ON packages (created_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS packages_status_newest_idx ON packages (status, created_at DESC, id DESC);

-- Courier assignments and delivery attempts (filled in by later features).
CREATE TABLE IF NOT EXISTS deliveries (
    id           uuid PRIMARY KEY,
    package_id   uuid NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    courier_id   uuid REFERENCES users (id),
    attempt      integer NOT NULL DEFAULT 1,
    status       text NOT NULL DEFAULT 'assigned'
                 CHECK (status IN ('assigned', 'attempted', 'delivered', 'failed')),
    scheduled_at timestamptz,
    completed_at timestamptz,
    created_at   timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS deliveries_package_idx ON deliveries (package_id);
CREATE INDEX IF NOT EXISTS deliveries_courier_idx ON deliveries (courier_id) WHERE courier_id IS NOT NULL;

-- The status history. One row per applied command: the command's event id is
-- unique, which is what makes a redelivered command a no-op.
CREATE TABLE IF NOT EXISTS status_events (
    id          bigserial PRIMARY KEY,
    event_id    uuid NOT NULL UNIQUE,
    package_id  uuid NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    status      text NOT NULL,
    -- NULL for the creation row.
    previous_status text,
    location    text,
    latitude    double precision,
    longitude   double precision,
    version     bigint NOT NULL,
    principal   text,
    occurred_at timestamptz NOT NULL,
    applied_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX IF NOT EXISTS status_events_package_idx ON status_events (package_id, version);
