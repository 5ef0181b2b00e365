-- Crowsnest inventory, version 14: an imported VM image's inventory and findings.
-- The catalogers and risk analyzers run over the image's root filesystem as over a container
-- image's; what they found is a stored inventory (stored_inventories, migration 6) like any
-- other, so a vulnerability database update re-matches it. This column names that row: the
-- digest vm_import.rs derives from the image id ('' until an import with a scan finished).
ALTER TABLE vm_images ADD COLUMN inventory_digest TEXT NOT NULL DEFAULT '';
