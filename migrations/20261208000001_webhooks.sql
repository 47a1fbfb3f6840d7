-- Webhooks: endpoints integrators register, the deliveries owed to them,
-- and every attempt at one (the delivery log). Secrets are not stored:
-- they are derived from WEBHOOK_SECRET_KEY, the id and secret_version.

CREATE TABLE webhooks (
    id uuid PRIMARY KEY,
    owner_id uuid NOT NULL REFERENCES users(id) ON DELETE CASCADE,
    url text NOT NULL,
    kinds text[] NOT NULL,
    -- NULL: every package the owner may see.
    tracking_numbers text[],
    description text,
    secret_version integer NOT NULL DEFAULT 1,
    -- The version before secret_version keeps signing until then.
    previous_secret_until timestamptz,
    -- The last rotation's time: a redelivered rotation older than it changes nothing.
    rotated_at timestamptz,
    paused boolean NOT NULL DEFAULT false,
    -- Set after WEBHOOK_DISABLE_AFTER_S of consecutive failures; a PATCH
    -- with "paused": false clears it.
    disabled_at timestamptz,
    failing_since timestamptz,
    created_at timestamptz NOT NULL,
    updated_at timestamptz NOT NULL
);
CREATE INDEX webhooks_by_owner ON webhooks (owner_id, created_at);

-- Bumped by every change of an endpoint: the webhook pool reloads its
-- endpoints when it moves.
CREATE TABLE webhook_revision (
    singleton boolean PRIMARY KEY DEFAULT true CHECK (singleton),
    revision bigint NOT NULL
);
INSERT INTO webhook_revision (revision) VALUES (0);

CREATE TABLE webhook_deliveries (
    id uuid PRIMARY KEY,
    webhook_id uuid NOT NULL REFERENCES webhooks(id) ON DELETE CASCADE,
    event_id uuid NOT NULL,
    kind text NOT NULL,
    tracking_number text NOT NULL,
    seq bigint NOT NULL,
    -- The exact bytes POSTed at every attempt.
    body bytea NOT NULL,
    created_at timestamptz NOT NULL,
    -- pending | delivered | failed (gave up) | cancelled (endpoint paused,
    -- disabled or gone)
    state text NOT NULL DEFAULT 'pending',
    attempts integer NOT NULL DEFAULT 0,
    -- An attempt under way holds the delivery until then, so two copies
    -- of a send request never call at once.
    leased_until timestamptz,
    delivered_at timestamptz,
    UNIQUE (webhook_id, event_id)
);
CREATE INDEX webhook_deliveries_log ON webhook_deliveries (webhook_id, created_at DESC, id);
CREATE INDEX webhook_deliveries_settled ON webhook_deliveries (created_at) WHERE state <> 'pending';

CREATE TABLE webhook_attempts (
    delivery_id uuid NOT NULL REFERENCES webhook_deliveries(id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    redelivery boolean NOT NULL DEFAULT false,
    started_at timestamptz NOT NULL,
    duration_ms integer,
    status_code integer,
    -- The first bytes of the answer (at most 512).
    response_head text,
    error text,
    PRIMARY KEY (delivery_id, attempt)
);
