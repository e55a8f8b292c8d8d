CREATE TABLE accounts (
    id uuid PRIMARY KEY,
    email text NOT NULL,
    plan text NOT NULL DEFAULT 'free',
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE UNIQUE INDEX accounts_email_lower ON accounts (lower(email));

CREATE TABLE api_keys (
    key_hash bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    prefix text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
CREATE INDEX api_keys_account ON api_keys (account_id);

-- Append-only: the balance is the sum. Amounts in millicredits (1 credit = 1000).
CREATE TABLE ledger_entries (
    id bigserial PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    kind text NOT NULL CHECK (kind IN ('signup_grant', 'purchase', 'usage', 'refund', 'adjustment')),
    amount_millicredits bigint NOT NULL,
    idempotency_key text NOT NULL UNIQUE,
    details jsonb NOT NULL DEFAULT '{}'::jsonb,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX ledger_account ON ledger_entries (account_id, created_at);

CREATE TABLE voices (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name text NOT NULL,
    language text NOT NULL,
    reference_text text,
    duration_ms integer NOT NULL,
    sample_rate_hz integer NOT NULL,
    pcm_s16le bytea NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voices_account ON voices (account_id, created_at);
