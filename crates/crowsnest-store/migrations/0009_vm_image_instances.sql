-- Which instances run a VM image, recorded through the native API by the tenant that owns
-- each instance. DescribeImages answers Usage=instance for an image one of the caller's
-- instances runs, and for the caller's own images whoever runs them (an owner must know its
-- image is in use before deleting or unpublishing it).
CREATE TABLE vm_image_instances (
    vm_image BIGINT NOT NULL REFERENCES vm_images(id),
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    instance_id TEXT NOT NULL,
    created_ms BIGINT NOT NULL,
    PRIMARY KEY (vm_image, tenant_id, instance_id)
);
CREATE INDEX vm_image_instances_tenant ON vm_image_instances (tenant_id, vm_image);

-- How many packages the catalogers found on an imported image's root filesystem.
ALTER TABLE vm_images ADD COLUMN package_count BIGINT NOT NULL DEFAULT 0;
