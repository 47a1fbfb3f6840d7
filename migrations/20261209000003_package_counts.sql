-- Package counts kept as packages change, so GET /api/v1/stats costs the
-- same at ten million packages as at ten thousand (it counted the table
-- twice: 357 ms at a million).
--
-- Triggers on packages append signed changes (insert-only: no row every
-- writer updates, so no lock contention and no deadlocks between package
-- windows); the package pool folds them into package_counts every few
-- seconds (workers/src/packages/counts.rs); a read sums package_counts and
-- the few changes not yet folded. Exact at every moment: a change is
-- written in the transaction of the write it counts, whoever writes.
--
-- Keys: 'status:<status>' (packages in that status) and 'day:<YYYY-MM-DD>'
-- (packages created that UTC day).

CREATE TABLE package_counts (
    key text PRIMARY KEY,
    n bigint NOT NULL
);

CREATE TABLE package_count_changes (
    id bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    key text NOT NULL,
    delta bigint NOT NULL
);

CREATE FUNCTION package_counts_inserted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO package_count_changes (key, delta)
    SELECT 'status:' || status, count(*) FROM inserted GROUP BY status
    UNION ALL
    SELECT 'day:' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*)
    FROM inserted GROUP BY 1;
    RETURN NULL;
END $$;

CREATE FUNCTION package_counts_deleted() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO package_count_changes (key, delta)
    SELECT 'status:' || status, -count(*) FROM deleted GROUP BY status
    UNION ALL
    SELECT 'day:' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), -count(*)
    FROM deleted GROUP BY 1;
    RETURN NULL;
END $$;

-- Per row, only when the status changes: the many other updates of a
-- package (positions, estimates, numbering) cost nothing here.
CREATE FUNCTION package_counts_status_changed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO package_count_changes (key, delta)
    VALUES ('status:' || OLD.status, -1), ('status:' || NEW.status, 1);
    RETURN NULL;
END $$;

-- TRUNCATE fires no row or statement trigger of its own kind: start over.
CREATE FUNCTION package_counts_truncated() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    DELETE FROM package_count_changes;
    DELETE FROM package_counts;
    RETURN NULL;
END $$;

-- Nobody writes packages while the triggers start and the counts are
-- taken, so the first counts and the changes after them add up exactly.
LOCK TABLE packages IN SHARE ROW EXCLUSIVE MODE;

CREATE TRIGGER package_counts_insert AFTER INSERT ON packages
    REFERENCING NEW TABLE AS inserted
    FOR EACH STATEMENT EXECUTE FUNCTION package_counts_inserted();
CREATE TRIGGER package_counts_delete AFTER DELETE ON packages
    REFERENCING OLD TABLE AS deleted
    FOR EACH STATEMENT EXECUTE FUNCTION package_counts_deleted();
CREATE TRIGGER package_counts_status AFTER UPDATE OF status ON packages
    FOR EACH ROW WHEN (OLD.status IS DISTINCT FROM NEW.status)
    EXECUTE FUNCTION package_counts_status_changed();
CREATE TRIGGER package_counts_truncate AFTER TRUNCATE ON packages
    FOR EACH STATEMENT EXECUTE FUNCTION package_counts_truncated();

INSERT INTO package_counts (key, n)
SELECT 'status:' || status, count(*) FROM packages GROUP BY status
UNION ALL
SELECT 'day:' || to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD'), count(*)
FROM packages
WHERE created_at >= date_trunc('day', now() AT TIME ZONE 'UTC') AT TIME ZONE 'UTC' - interval '1 day'
GROUP BY 1;
