-- Crowsnest inventory, version 6: the stored inventory of each scanned image digest, so a
-- vulnerability database update re-matches images without reading them again (Clair's split
-- of indexing from matching). One row per digest however many tenants and places use it; the
-- digest is not a reference to `images` because `crowsnest scan --save` stores local images
-- that no registry lists. scans.rs writes and reads it.
CREATE TABLE stored_inventories (
    digest TEXT PRIMARY KEY,
    -- crowsnest_model::Inventory as JSON, zstd-compressed and base64-encoded (TEXT on both
    -- engines keeps the thin query layer to integers and text).
    inventory TEXT NOT NULL,
    indexed_ms BIGINT NOT NULL,
    -- The scan engine and cataloger versions that produced the inventory.
    engine_version TEXT NOT NULL,
    -- The vulnerability database build the counts below come from; '' until first matched.
    vulndb_build TEXT NOT NULL DEFAULT '',
    matched_ms BIGINT,
    critical_count BIGINT NOT NULL DEFAULT 0,
    high_count BIGINT NOT NULL DEFAULT 0,
    medium_count BIGINT NOT NULL DEFAULT 0,
    low_count BIGINT NOT NULL DEFAULT 0,
    unknown_count BIGINT NOT NULL DEFAULT 0
);
