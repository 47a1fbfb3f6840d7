-- Mail to packages' recipients: who asked for it (written with the
-- package, in the package window), and the addresses that unsubscribed.

CREATE TABLE recipient_notifications (
    package_id uuid PRIMARY KEY REFERENCES packages(id) ON DELETE CASCADE,
    tracking_number text NOT NULL UNIQUE,
    email text NOT NULL,
    locale text NOT NULL,
    time_zone text NOT NULL,
    -- The notices asked for: out_for_delivery, delivered, failed_attempt.
    notices text[] NOT NULL,
    created_at timestamptz NOT NULL
);

-- Lower-cased addresses: no recipient mail goes to them any more.
CREATE TABLE mail_suppressions (
    email text PRIMARY KEY,
    since timestamptz NOT NULL
);
