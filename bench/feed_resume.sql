-- What a dashboard's feed resume costs PostgreSQL (broadcaster/src/feed.rs):
-- 100,000 packages, 5% changed since the cursor. Run in a scratch database:
--   psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE feedbench'
--   psql -h 127.0.0.1 -U postgres -d feedbench -f bench/feed_resume.sql
--   psql -h 127.0.0.1 -U postgres -c 'DROP DATABASE feedbench'
CREATE TABLE packages (
    id uuid PRIMARY KEY DEFAULT gen_random_uuid(), tracking_number text UNIQUE,
    sender_name text DEFAULT 'a', sender_address text DEFAULT 'b',
    recipient_name text DEFAULT 'c', recipient_address text DEFAULT 'd',
    status text DEFAULT 'in_transit', current_location text, weight float8, description text,
    latitude float8, longitude float8, last_seen_at timestamptz, version bigint DEFAULT 1,
    event_seq bigint DEFAULT 5, created_at timestamptz DEFAULT now(),
    updated_at timestamptz DEFAULT now(), changed_xid bigint NOT NULL DEFAULT 0);
INSERT INTO packages (tracking_number, latitude, longitude)
    SELECT 'TRK' || g, 40 + random(), -74 + random() FROM generate_series(1, 100000) g;
UPDATE packages SET changed_xid = 1000000 WHERE random() < 0.05;
VACUUM ANALYZE packages;
\timing on
-- The resume's read, as feed::changed_since sends it (limit 10,000 + 1),
-- after the horizon in the same snapshot.
PREPARE resume(bigint, bigint) AS
    SELECT tracking_number, event_seq, status, current_location, latitude, longitude, updated_at
    FROM packages WHERE changed_xid >= $1 LIMIT $2;
\o /dev/null
EXECUTE resume(999999, 10001);
EXECUTE resume(999999, 10001);
EXECUTE resume(999999, 10001);
\o
