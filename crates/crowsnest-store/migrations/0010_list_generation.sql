-- Crowsnest inventory, version 10: what lets list queries stay fast at a million placements
-- under load (scripts/load-test.sh).

-- A counter bumped by every write transaction that changes inventory data (sql.rs decides,
-- from the statements the transaction ran). A read transaction reads it with the data, so
-- totals and page positions computed at one value can be reused while it stays the same, by
-- every process sharing the database (inventory.rs's ListCache).
CREATE TABLE store_generation (
    id BIGINT PRIMARY KEY,
    n BIGINT NOT NULL
);
INSERT INTO store_generation (id, n) VALUES (1, 0);

-- Tag equality (ListRegistryImages image_version) counted and paged without reading every
-- placement of the tenant.
CREATE INDEX image_tags_tenant_tag ON image_tags (tenant_id, tag, id);
