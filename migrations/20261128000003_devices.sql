-- Devices post locations for the courier they are bound to, authenticated
-- by an API key shown once; only its SHA-256 is kept (the key is 160 random
-- bits, so a slow hash buys nothing and would cost every location post).
CREATE TABLE IF NOT EXISTS devices (
    id          uuid PRIMARY KEY,
    name        text NOT NULL,
    courier_id  uuid NOT NULL REFERENCES users (id),
    key_hash    text NOT NULL UNIQUE,
    created_by  uuid,
    created_at  timestamptz NOT NULL,
    rotated_at  timestamptz,
    revoked_at  timestamptz
);
CREATE INDEX IF NOT EXISTS devices_courier_idx ON devices (courier_id);
