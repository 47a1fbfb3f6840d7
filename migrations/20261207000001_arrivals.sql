-- Arrival estimates and promises (docs/ARCHITECTURE.md, "Arrivals").
-- A package may say where it goes and by when it was promised; the
-- location workers keep the estimate its watchers were last told.
ALTER TABLE packages ADD COLUMN IF NOT EXISTS destination jsonb;
ALTER TABLE packages ADD COLUMN IF NOT EXISTS promised_by timestamptz;
-- When the destination or promise last changed: an older change
-- (re-driven from the dead letters) does not undo a newer one.
ALTER TABLE packages ADD COLUMN IF NOT EXISTS plan_changed_at timestamptz;
-- The estimate last announced ({at, earliest, latest}).
ALTER TABLE packages ADD COLUMN IF NOT EXISTS eta jsonb;
-- Whether delivery_at_risk was raised in the current episode.
ALTER TABLE packages ADD COLUMN IF NOT EXISTS at_risk boolean NOT NULL DEFAULT false;
-- The promise the late sweep settled (announced late, or kept): a new
-- promise is swept again.
ALTER TABLE packages ADD COLUMN IF NOT EXISTS late_for timestamptz;
-- The late sweep reads only promises not settled yet.
CREATE INDEX IF NOT EXISTS packages_promise_due_idx ON packages (promised_by)
    WHERE promised_by IS NOT NULL AND late_for IS NULL;

-- Each courier's leg in progress (shared::arrivals::Leg, as JSON): where
-- it began, what was driven since, the stop being served, recent pace.
CREATE TABLE IF NOT EXISTS courier_legs (
    courier_id uuid PRIMARY KEY,
    leg        jsonb NOT NULL,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- What completed legs and stops taught, per cell of about a city's size.
CREATE TABLE IF NOT EXISTS arrival_cells (
    cell          text PRIMARY KEY,
    road_sum      float8 NOT NULL DEFAULT 0,
    road_legs     float8 NOT NULL DEFAULT 0,
    service_sum   float8 NOT NULL DEFAULT 0,
    service_stops float8 NOT NULL DEFAULT 0
);
