-- Crowsnest inventory, version 3: indexes the list queries need beyond the tenant indexes
-- (measured by benches/placements.rs over a million placements).

-- Repository name equality drives the placement query from the few matching repositories
-- instead of every placement of the tenant.
CREATE INDEX repositories_tenant_name ON repositories (tenant_id, name);
-- Placements of one repository, in id order (the default page order).
CREATE INDEX image_tags_repository ON image_tags (repository_id, id);
