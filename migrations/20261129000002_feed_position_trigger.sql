-- packages.changed_xid is kept by a trigger rather than by each UPDATE that
-- changes what subscribers see: every path (a worker of an older release
-- during a rolling deploy included) then keeps the feed's resume exact. The
-- WHEN clause is evaluated without calling the function, so rows whose
-- visible state did not change (the position projection's bookkeeping) cost
-- nothing.
CREATE OR REPLACE FUNCTION packages_mark_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS packages_changed ON packages;
CREATE TRIGGER packages_changed BEFORE UPDATE ON packages FOR EACH ROW
    WHEN (OLD.event_seq IS DISTINCT FROM NEW.event_seq
          OR OLD.status IS DISTINCT FROM NEW.status
          OR OLD.current_location IS DISTINCT FROM NEW.current_location
          OR OLD.latitude IS DISTINCT FROM NEW.latitude
          OR OLD.longitude IS DISTINCT FROM NEW.longitude)
    EXECUTE FUNCTION packages_mark_changed();
