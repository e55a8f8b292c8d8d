-- Listen-only tokens for OBS browser sources: each opens one relay channel of its account, nothing else.
CREATE TABLE listen_tokens (
    id uuid PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    token_hash bytea NOT NULL UNIQUE,
    channel text NOT NULL,
    label text,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX listen_tokens_account ON listen_tokens (account_id, created_at);
