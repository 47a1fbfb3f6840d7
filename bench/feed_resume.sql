-- What a dashboard's feed resume and a broadcaster's checkpoint cost
-- PostgreSQL (broadcaster/src/feed.rs), at 1,000,000 packages: the scan of
-- packages.changed_xid they used before the change log, the change log's
-- read (migrations/20261210000001_package_change_log.sql), and what the log's
-- trigger adds to location windows' UPDATEs.
-- Run in a scratch database:
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
    SELECT 'TRK' || g, 40 + random(), -74 + random() FROM generate_series(1, 1000000) g;
CREATE TABLE package_change_log (
    xid bigint NOT NULL, logged_at timestamptz NOT NULL DEFAULT now(),
    tracking_numbers text[] NOT NULL);
CREATE INDEX package_change_log_xid ON package_change_log (xid);
CREATE INDEX package_change_log_logged_at ON package_change_log (logged_at);
-- An hour of a busy pipeline's windows already logged, older than any cursor.
INSERT INTO package_change_log (xid, tracking_numbers)
    SELECT g - 1000000, ARRAY(SELECT 'TRK' || (g * 500 + k) % 1000000 FROM generate_series(1, 500) k)
    FROM generate_series(1, 36000) g;
VACUUM ANALYZE packages;
VACUUM ANALYZE package_change_log;
\timing on
-- Location windows: 400 UPDATEs of 500 packages each (200,000 rows; each
-- sets changed_xid itself, as the workers do), without the log's trigger,
-- then with it, twice each; VACUUM between runs so that each starts alike.
CREATE PROCEDURE windows() LANGUAGE plpgsql AS $$
BEGIN
    FOR w IN 0..399 LOOP
        UPDATE packages SET latitude = latitude + 0.0001,
            changed_xid = pg_current_xact_id()::text::bigint
        WHERE tracking_number IN (
            SELECT 'TRK' || (w * 500 + k) FROM generate_series(1, 500) k);
        COMMIT;
    END LOOP;
END $$;
\echo windows without the log trigger
CALL windows();
VACUUM packages;
CALL windows();
VACUUM packages;
CREATE FUNCTION package_change_logged() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this_xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    INSERT INTO package_change_log (xid, tracking_numbers)
    SELECT this_xid, array_agg(tracking_number) FROM changed
    WHERE changed_xid = this_xid HAVING count(*) > 0;
    RETURN NULL;
END $$;
CREATE TRIGGER package_change_log_update AFTER UPDATE ON packages
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION package_change_logged();
\echo windows with the log trigger
CALL windows();
VACUUM packages;
CALL windows();
VACUUM packages;
DROP TRIGGER package_change_log_update ON packages;
-- The same windows, each logging its own change in the statement.
CREATE PROCEDURE windows_logging() LANGUAGE plpgsql AS $$
BEGIN
    FOR w IN 0..399 LOOP
        WITH changed AS (
            UPDATE packages SET latitude = latitude + 0.0001,
                changed_xid = pg_current_xact_id()::text::bigint
            WHERE tracking_number IN (
                SELECT 'TRK' || (w * 500 + k) FROM generate_series(1, 500) k)
            RETURNING tracking_number)
        INSERT INTO package_change_log (xid, tracking_numbers)
        SELECT pg_current_xact_id()::text::bigint, array_agg(tracking_number)
        FROM changed HAVING count(*) > 0;
        COMMIT;
    END LOOP;
END $$;
\echo windows logging in the statement
CALL windows_logging();
VACUUM packages;
CALL windows_logging();
VACUUM packages;
-- The log's trigger again, as migrated, for the reads below.
CREATE TRIGGER package_change_log_update AFTER UPDATE ON packages
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION package_change_logged();
-- The cursor: newer than everything so far.
SELECT pg_current_xact_id()::text::bigint AS cursor \gset
PREPARE scan(bigint, bigint) AS
    SELECT tracking_number, event_seq FROM packages WHERE changed_xid >= $1 LIMIT $2;
PREPARE log(bigint, bigint) AS
    SELECT tracking_number, event_seq FROM packages WHERE tracking_number = ANY(ARRAY(
        SELECT DISTINCT unnest(tracking_numbers) FROM package_change_log WHERE xid >= $1))
    LIMIT $2;
\o /dev/null
-- Nothing changed since the cursor (a checkpoint on a quiet system).
\echo scan, nothing changed
EXECUTE scan(:cursor, 200001);
EXECUTE scan(:cursor, 200001);
EXECUTE scan(:cursor, 200001);
\echo log, nothing changed
EXECUTE log(:cursor, 200001);
EXECUTE log(:cursor, 200001);
EXECUTE log(:cursor, 200001);
-- 5,000 packages changed since, by ten windows of 500.
DO $$ BEGIN
    FOR w IN 0..9 LOOP
        UPDATE packages SET latitude = latitude + 0.0001,
            changed_xid = pg_current_xact_id()::text::bigint
        WHERE tracking_number IN (SELECT 'TRK' || (300000 + w * 500 + k) FROM generate_series(1, 500) k);
    END LOOP;
END $$;
\echo scan, 5,000 changed
EXECUTE scan(:cursor, 200001);
EXECUTE scan(:cursor, 200001);
EXECUTE scan(:cursor, 200001);
\echo log, 5,000 changed
EXECUTE log(:cursor, 200001);
EXECUTE log(:cursor, 200001);
EXECUTE log(:cursor, 200001);
\o
