-- When an admin last changed an account's role or disabled flag. A change
-- older than this (a genuine message replayed from the broker or re-driven
-- from the dead letters) is refused, so it cannot undo a newer one. Only
-- those admin changes write it: nothing the account itself does (verifying
-- its email, say) can make an admin's change look stale.
ALTER TABLE users ADD COLUMN IF NOT EXISTS access_changed_at timestamptz;
