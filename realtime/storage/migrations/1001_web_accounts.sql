-- Web app log-in: an optional argon2 password per account, server-side sessions (the cookie holds a random token,
-- the table its SHA-256), and API keys that can be listed and revoked by id.
ALTER TABLE accounts ADD COLUMN password_hash text;

ALTER TABLE api_keys ADD COLUMN id uuid NOT NULL DEFAULT gen_random_uuid();
ALTER TABLE api_keys ADD COLUMN label text;
CREATE UNIQUE INDEX api_keys_id ON api_keys (id);

CREATE TABLE web_sessions (
    token_hash bytea PRIMARY KEY,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    csrf_token text NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now(),
    expires_at timestamptz NOT NULL
);
CREATE INDEX web_sessions_account ON web_sessions (account_id, created_at);
