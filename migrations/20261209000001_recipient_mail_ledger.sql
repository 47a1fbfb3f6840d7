-- Every recipient mail, claimed just before it is sent and marked once it
-- went: a redelivered or replayed mail request finds its row and is not
-- sent twice, and an address's rows of the last day count against its
-- daily cap (RECIPIENT_MAIL_DAILY_CAP). Pruned after a week.
CREATE TABLE recipient_mail_log (
    mail_id uuid PRIMARY KEY,
    email text NOT NULL,
    claimed_at timestamptz NOT NULL,
    sent_at timestamptz
);
CREATE INDEX recipient_mail_log_email ON recipient_mail_log (email, claimed_at);

-- The unsubscribe link of each mailed address: a random token, made the
-- first time the address is mailed and kept, never derived from a signing
-- key (a key rotation must not break the links in mail already read) and
-- never spelling the address (links end up in logs).
CREATE TABLE recipient_unsubscribe_tokens (
    email text PRIMARY KEY,
    token text NOT NULL UNIQUE,
    created_at timestamptz NOT NULL
);
