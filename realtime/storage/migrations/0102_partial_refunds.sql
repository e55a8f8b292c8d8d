-- Partial refunds: how much of a payment Mercado Pago has refunded so far, and how many millicredits were taken
-- back for it (a full refund or chargeback then takes back only the rest).
ALTER TABLE payments
    ADD COLUMN refunded_centavos integer NOT NULL DEFAULT 0,
    ADD COLUMN reversed_mc bigint NOT NULL DEFAULT 0;
