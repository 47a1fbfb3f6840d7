-- A delivery is a courier's run for a day: an ordered list of stops, each a
-- package. The seed's table kept one package per row; its rows become
-- one-stop deliveries, and package_id stays only for them.
ALTER TABLE deliveries ALTER COLUMN package_id DROP NOT NULL;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS day date;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS created_by uuid;
ALTER TABLE deliveries ADD COLUMN IF NOT EXISTS updated_at timestamptz NOT NULL DEFAULT now();
ALTER TABLE deliveries DROP CONSTRAINT IF EXISTS deliveries_status_check;
ALTER TABLE deliveries ADD CONSTRAINT deliveries_status_check
    CHECK (status IN ('assigned', 'attempted', 'delivered', 'failed', 'completed'));
UPDATE deliveries SET day = COALESCE(scheduled_at, created_at)::date WHERE day IS NULL;

CREATE TABLE IF NOT EXISTS delivery_stops (
    delivery_id uuid    NOT NULL REFERENCES deliveries (id) ON DELETE CASCADE,
    position    integer NOT NULL,
    package_id  uuid    NOT NULL REFERENCES packages (id) ON DELETE CASCADE,
    PRIMARY KEY (delivery_id, position)
);
-- "Which active deliveries carry this package": the policy's question.
CREATE INDEX IF NOT EXISTS delivery_stops_package_idx ON delivery_stops (package_id, delivery_id);
CREATE INDEX IF NOT EXISTS deliveries_courier_day_idx ON deliveries (courier_id, day DESC);
INSERT INTO delivery_stops (delivery_id, position, package_id)
SELECT id, 1, package_id FROM deliveries WHERE package_id IS NOT NULL
ON CONFLICT DO NOTHING;
