-- Replaces the trigger of 20261129000002, which ran for every visible change
-- (4-7 µs per row on the location drain). packages.changed_xid must move
-- whenever what subscribers see of a package changes. The workers set it in
-- their UPDATEs (cheapest: an expression per row). This trigger covers every
-- other path, such as a worker of an older release during a rolling deploy,
-- or a hand-made fix: it fires only for an UPDATE that changed visible
-- columns but left changed_xid as it was. The
-- WHEN clause is evaluated without calling the function, so the workers'
-- own UPDATEs pay a few comparisons per row, not a PL/pgSQL call
-- (docs/PERFORMANCE.md).
CREATE OR REPLACE FUNCTION packages_mark_changed() RETURNS trigger
LANGUAGE plpgsql AS $$
BEGIN
    NEW.changed_xid := pg_current_xact_id()::text::bigint;
    RETURN NEW;
END
$$;

DROP TRIGGER IF EXISTS packages_changed ON packages;
CREATE TRIGGER packages_changed BEFORE UPDATE ON packages FOR EACH ROW
    WHEN (OLD.changed_xid = NEW.changed_xid
          AND (OLD.event_seq IS DISTINCT FROM NEW.event_seq
               OR OLD.status IS DISTINCT FROM NEW.status
               OR OLD.current_location IS DISTINCT FROM NEW.current_location
               OR OLD.latitude IS DISTINCT FROM NEW.latitude
               OR OLD.longitude IS DISTINCT FROM NEW.longitude))
    EXECUTE FUNCTION packages_mark_changed();
