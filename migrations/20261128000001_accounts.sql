-- Accounts and who may see a package: the creating account (owner) and the
-- recipient's account, matched by email so a recipient who signs up later
-- sees packages sent to them before. Emails are stored lower-cased.
ALTER TABLE users ADD COLUMN IF NOT EXISTS name text NOT NULL DEFAULT '';
ALTER TABLE packages ADD COLUMN IF NOT EXISTS owner_id uuid;
ALTER TABLE packages ADD COLUMN IF NOT EXISTS recipient_email text;
CREATE INDEX IF NOT EXISTS packages_owner_idx ON packages (owner_id, created_at DESC, id DESC) WHERE owner_id IS NOT NULL;
CREATE INDEX IF NOT EXISTS packages_recipient_idx ON packages (recipient_email, created_at DESC, id DESC) WHERE recipient_email IS NOT NULL;
-- Who made each change, as the status history shows it: the account's id.
CREATE INDEX IF NOT EXISTS deliveries_courier_package_idx ON deliveries (courier_id, package_id);
