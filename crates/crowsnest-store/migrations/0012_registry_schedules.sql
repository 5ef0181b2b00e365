-- Crowsnest inventory, version 12: scheduled syncs. A connected registry may carry a cron
-- expression; `crowsnest serve` syncs it when `next_run_ms` has passed and queues a scan task
-- for the digests that sync found unscanned. Several servers on one PostgreSQL claim each run
-- once: the claim is a conditional UPDATE of `next_run_ms` from the value the server read to
-- the run after it, and only the server whose UPDATE changed the row runs the sync.
-- registries.rs writes and reads it.
-- The cron expression ('' = no schedule), as `crowsnest_registry::schedule` parses it.
ALTER TABLE registry_connections ADD COLUMN schedule TEXT NOT NULL DEFAULT '';
-- When the next scheduled run is due, ms (0 = none).
ALTER TABLE registry_connections ADD COLUMN next_run_ms BIGINT NOT NULL DEFAULT 0;
-- When the latest scheduled run was claimed, ms (0 = never).
ALTER TABLE registry_connections ADD COLUMN last_run_ms BIGINT NOT NULL DEFAULT 0;
CREATE INDEX registry_connections_due ON registry_connections (next_run_ms);
