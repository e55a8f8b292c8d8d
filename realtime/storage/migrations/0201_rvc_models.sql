-- One RVC model (and optional faiss index) per voice profile; the files live under Settings.data_dir.
CREATE TABLE voice_rvc_models (
    voice_id uuid PRIMARY KEY REFERENCES voices(id) ON DELETE CASCADE,
    account_id uuid NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    model_path text NOT NULL,
    index_path text,
    sample_rate_hz integer NOT NULL,
    use_f0 boolean NOT NULL,
    model_bytes bigint NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX voice_rvc_models_account ON voice_rvc_models (account_id);
