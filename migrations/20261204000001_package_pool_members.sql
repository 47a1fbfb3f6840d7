-- The package pool's members: each package-worker replica writes its row
-- every second (heartbeat_at) with the shards it consumes (held_shards).
-- Every replica computes the same shard assignment from the rows younger
-- than the expiry, so no replica is configured with its share; a replica
-- that stops deletes its row, one killed ages out. ingest reads the rows
-- for /api/v1/stats.
CREATE TABLE IF NOT EXISTS package_pool_members (
    member_id    text PRIMARY KEY,
    started_at   timestamptz NOT NULL DEFAULT now(),
    heartbeat_at timestamptz NOT NULL DEFAULT now(),
    held_shards  smallint[] NOT NULL DEFAULT '{}'
);
