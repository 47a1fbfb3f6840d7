-- Trust in accounts. An email makes its account a package's recipient only
-- once the account proved it owns the address (a link mailed to it): until
-- then it is only a claim. Accounts from before have never proven theirs,
-- so they start unverified (POST /auth/verify-email/resend mails a link).
ALTER TABLE users ADD COLUMN IF NOT EXISTS email_verified_at timestamptz;
-- A disabled account signs in nowhere, and its sessions and its devices
-- stop working within seconds.
ALTER TABLE users ADD COLUMN IF NOT EXISTS disabled_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS updated_at timestamptz;

-- A session is what one sign-in started: its short access tokens name it
-- (`sid`), and it is renewed by an opaque refresh token, of which only the
-- SHA-256 of the current one is kept. Every refresh replaces the token; a
-- spent one presented again means it was copied, and ends the session.
CREATE TABLE IF NOT EXISTS sessions (
    id             uuid PRIMARY KEY,
    user_id        uuid        NOT NULL REFERENCES users (id),
    refresh_hash   text        NOT NULL,
    created_at     timestamptz NOT NULL,
    refreshed_at   timestamptz NOT NULL,
    -- The refresh token's end; moved forward by each refresh.
    expires_at     timestamptz NOT NULL,
    revoked_at     timestamptz,
    revoked_reason text
);
CREATE INDEX IF NOT EXISTS sessions_user_idx ON sessions (user_id) WHERE revoked_at IS NULL;

-- Refresh tokens already exchanged, by hash: the command that spent each is
-- remembered, so a redelivered refresh gives the same answer instead of
-- looking like a stolen token's reuse.
CREATE TABLE IF NOT EXISTS spent_refresh_tokens (
    hash       text        PRIMARY KEY,
    session_id uuid        NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    event_id   uuid        NOT NULL,
    spent_at   timestamptz NOT NULL
);
CREATE INDEX IF NOT EXISTS spent_refresh_tokens_session_idx ON spent_refresh_tokens (session_id);

-- Emailed links (verify an address, reset a password) are signed and expire
-- by themselves; this makes each usable once. The command that used a link
-- is remembered, so its redelivery is answered the same.
CREATE TABLE IF NOT EXISTS used_links (
    nonce    text        PRIMARY KEY,
    event_id uuid        NOT NULL,
    used_at  timestamptz NOT NULL
);

-- When an account was last mailed each kind of mail a stranger may cause by
-- naming its address (a verification link, "someone tried to sign up with
-- your address", a reset link): at most one of each per account every few
-- minutes, so nobody can flood an address.
ALTER TABLE users ADD COLUMN IF NOT EXISTS verify_mail_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS notice_mail_at timestamptz;
ALTER TABLE users ADD COLUMN IF NOT EXISTS reset_mail_at timestamptz;
