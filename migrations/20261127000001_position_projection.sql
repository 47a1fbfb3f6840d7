-- MongoDB's latest_positions (the 2dsphere collection behind near/within) is
-- a projection of the packages' positions, written behind the location
-- pool's commits so that a window's events do not wait for it. A package
-- whose position moved and is not projected yet is marked pending; the mark
-- is cleared only once the projection holds that very position, so a crash
-- in between loses nothing.
ALTER TABLE packages ADD COLUMN IF NOT EXISTS position_point_id uuid;
ALTER TABLE packages ADD COLUMN IF NOT EXISTS position_pending boolean NOT NULL DEFAULT false;
CREATE INDEX IF NOT EXISTS packages_position_pending ON packages (updated_at) WHERE position_pending;
