-- Where the dashboards' "every package" feed resumes from. Each package
-- remembers the transaction that last changed what a subscriber sees of it
-- (its status, position or event seq). A reconnecting feed client holds a
-- cursor: the oldest transaction still running when its view was last known
-- complete (pg_snapshot_xmin). Every package changed by that transaction or a
-- later one is sent again, as it is now; every earlier transaction had
-- committed, and its changes were already seen.
--
-- Not indexed on purpose: every location window updates these rows, and a
-- resume (a reconnect) is rare; a scan of packages costs it a few ms per
-- 10,000 packages (docs/PERFORMANCE.md).
ALTER TABLE packages ADD COLUMN IF NOT EXISTS changed_xid bigint NOT NULL DEFAULT 0;
-- For rows inserted from now on (existing rows keep 0: changed long ago).
ALTER TABLE packages ALTER COLUMN changed_xid SET DEFAULT (pg_current_xact_id()::text::bigint);
