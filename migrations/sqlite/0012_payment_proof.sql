-- Proof of a payment for the browser result pages (/payment/success|cancel|fail), which anyone
-- can open:
-- - redirect_nonce: a random per-payment secret put into the redirect URLs handed to the provider;
--   a result page changes nothing unless it carries it (or the owner's session).
-- - approval: the first approval's answer (JSON), replayed to a repeated confirmation;
-- - approval_token: the pg_token that approved the payment, to recognise that repetition.
ALTER TABLE p_payment ADD COLUMN redirect_nonce TEXT NULL;
ALTER TABLE p_payment ADD COLUMN approval TEXT NULL;
ALTER TABLE p_payment ADD COLUMN approval_token TEXT NULL;
