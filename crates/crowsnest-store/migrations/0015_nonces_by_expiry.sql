-- Crowsnest inventory, version 15: signature nonces kept in the order they expire.
--
-- A replayed request is the same signed request, so it carries the same signed timestamp and
-- is remembered until the same instant (its timestamp plus the accepted clock skew). Keyed by
-- (expires_ms, access_key_id, nonce), new claims land at the right-hand end of the key and the
-- purge of expired ones cuts from the left, where random nonces keyed first by key and nonce
-- were inserted all over an index of millions of rows (15 minutes of 15,000 signed requests a
-- second), plus an index on expiry. Nonces already stored are kept.
CREATE TABLE request_nonces_by_expiry (
    expires_ms BIGINT NOT NULL,
    access_key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    PRIMARY KEY (expires_ms, access_key_id, nonce)
);
INSERT INTO request_nonces_by_expiry (expires_ms, access_key_id, nonce)
    SELECT expires_ms, access_key_id, nonce FROM request_nonces;
DROP TABLE request_nonces;
ALTER TABLE request_nonces_by_expiry RENAME TO request_nonces;
