-- Webhook deliveries of couriers' events (courier_presence, courier_moved,
-- the courier_geofence_* kinds): they name a courier, not a package, and
-- have no package seq.
ALTER TABLE webhook_deliveries
    ALTER COLUMN tracking_number DROP NOT NULL,
    ALTER COLUMN seq DROP NOT NULL,
    ADD COLUMN courier_id uuid,
    ADD CONSTRAINT webhook_deliveries_one_subject
        CHECK ((tracking_number IS NULL) <> (courier_id IS NULL));
