-- Metered streaming sessions: how much of each session's usage the ledger already holds (settlement is
-- incremental; the next ledger row for a session starts where charged_millicredits/audio_ms stop).
CREATE TABLE usage_sessions (
    id text PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    operation text NOT NULL,
    tag text,
    audio_ms bigint NOT NULL DEFAULT 0 CHECK (audio_ms >= 0),
    charged_millicredits bigint NOT NULL DEFAULT 0 CHECK (charged_millicredits >= 0),
    started_at timestamptz NOT NULL DEFAULT now(),
    updated_at timestamptz NOT NULL DEFAULT now(),
    closed_at timestamptz
);
CREATE INDEX usage_sessions_account ON usage_sessions (account_id, started_at);

-- A checkout: one Mercado Pago preference for one plan; its id is the preference's external_reference.
CREATE TABLE payment_orders (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    plan text NOT NULL,
    price_centavos integer NOT NULL CHECK (price_centavos > 0),
    credits integer NOT NULL CHECK (credits > 0),
    client_key text,
    preference_id text,
    init_point text,
    created_at timestamptz NOT NULL DEFAULT now(),
    UNIQUE (account_id, client_key)
);

-- One row per Mercado Pago payment id; granted/reversed flip at most once each (rows locked while applying).
CREATE TABLE payments (
    payment_id text PRIMARY KEY,
    order_id uuid NOT NULL REFERENCES payment_orders(id) ON DELETE CASCADE,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    status text NOT NULL,
    amount_centavos integer NOT NULL,
    granted boolean NOT NULL DEFAULT false,
    reversed boolean NOT NULL DEFAULT false,
    updated_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX payments_account ON payments (account_id);
