-- The every-package feed's resume and checkpoints read what changed since a
-- cursor from a change log instead of scanning packages.changed_xid: a scan
-- cost 90-130 ms at a million packages with nothing changed, per
-- broadcaster with feed watchers, every 10 s. The log is read by its xid
-- index, so a read costs what changed since the cursor, whatever the size of
-- packages.
--
-- One row per statement that changed what subscribers see of packages: the
-- changing transaction and the tracking numbers. Statement-level triggers
-- with transition tables write it, so a location window's one UPDATE of 500
-- packages adds one row, and every path (a worker of an older release, a
-- hand-made fix) is logged alike. A row of the transition table belongs in
-- the log when its changed_xid is this transaction (workers set it, or the
-- packages_changed trigger does, exactly when a visible column changes).
--
-- The log keeps about an hour (the package pool's pruner deletes the rest,
-- workers/src/packages/change_log.rs); package_change_log_pruned says below
-- which xid changes may be gone. A cursor older than that is answered
-- "incomplete": the client reads its list again, as it did when more
-- changed than one resume sends.

CREATE TABLE package_change_log (
    xid bigint NOT NULL,
    logged_at timestamptz NOT NULL DEFAULT now(),
    tracking_numbers text[] NOT NULL
);
CREATE INDEX package_change_log_xid ON package_change_log (xid);
CREATE INDEX package_change_log_logged_at ON package_change_log (logged_at);

CREATE TABLE package_change_log_pruned (
    only_row boolean PRIMARY KEY DEFAULT true CHECK (only_row),
    below bigint NOT NULL
);
-- Cursors handed out before the log existed cannot be answered from it.
INSERT INTO package_change_log_pruned (below)
VALUES (pg_current_xact_id()::text::bigint + 1);

CREATE FUNCTION package_change_logged() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    this_xid bigint := pg_current_xact_id()::text::bigint;
BEGIN
    INSERT INTO package_change_log (xid, tracking_numbers)
    SELECT this_xid, array_agg(tracking_number)
    FROM changed
    WHERE changed_xid = this_xid
    HAVING count(*) > 0;
    RETURN NULL;
END $$;

CREATE TRIGGER package_change_log_insert AFTER INSERT ON packages
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION package_change_logged();
CREATE TRIGGER package_change_log_update AFTER UPDATE ON packages
    REFERENCING NEW TABLE AS changed
    FOR EACH STATEMENT EXECUTE FUNCTION package_change_logged();
