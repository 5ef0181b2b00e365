-- Crowsnest inventory, version 2: where images run (hosts, their local images, containers,
-- pods), the applications found inside an image, and VM images (ECS DescribeImages). Same
-- conventions as version 1: ID_PK, BIGINT 0/1 booleans, BIGINT millisecond times.

-- A server with the agent installed.
CREATE TABLE hosts (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    -- The cloud's host id (Huawei host_id), unique within the tenant.
    uid TEXT NOT NULL,
    name TEXT NOT NULL,
    agent_id TEXT NOT NULL DEFAULT '',
    private_ip TEXT NOT NULL DEFAULT '',
    public_ip TEXT NOT NULL DEFAULT '',
    region_id TEXT NOT NULL DEFAULT '',
    enterprise_project_id TEXT NOT NULL DEFAULT '0',
    os_type TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, uid)
);
CREATE INDEX hosts_tenant_name ON hosts (tenant_id, name);

-- An image present in hosts' local stores (Huawei ListLocalImages): one row per tenant,
-- name, version and digest, however many hosts hold it.
CREATE TABLE local_images (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    uuid TEXT NOT NULL UNIQUE,
    image BIGINT NOT NULL REFERENCES images(id),
    image_name TEXT NOT NULL,
    image_version TEXT NOT NULL,
    -- swr_image or other_image.
    local_image_type TEXT NOT NULL DEFAULT 'other_image',
    enterprise_project_id TEXT NOT NULL DEFAULT '0',
    updated_ms BIGINT NOT NULL,
    UNIQUE (tenant_id, image_name, image_version, image)
);
CREATE INDEX local_images_tenant ON local_images (tenant_id, id);
CREATE INDEX local_images_image ON local_images (image);

CREATE TABLE host_local_images (
    local_image BIGINT NOT NULL REFERENCES local_images(id),
    host BIGINT NOT NULL REFERENCES hosts(id),
    PRIMARY KEY (local_image, host)
);
CREATE INDEX host_local_images_host ON host_local_images (host);

-- A Kubernetes pod.
CREATE TABLE pods (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    uid TEXT NOT NULL,
    name TEXT NOT NULL,
    namespace TEXT NOT NULL DEFAULT '',
    cluster_name TEXT NOT NULL DEFAULT '',
    -- The node it runs on, when known.
    host BIGINT REFERENCES hosts(id),
    UNIQUE (tenant_id, uid)
);

-- A container on a host, started from a local image, possibly in a pod.
CREATE TABLE containers (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    -- The runtime's container id.
    container_id TEXT NOT NULL,
    name TEXT NOT NULL,
    host BIGINT NOT NULL REFERENCES hosts(id),
    local_image BIGINT REFERENCES local_images(id),
    pod BIGINT REFERENCES pods(id),
    -- running, stopped, ...
    status TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL DEFAULT 0,
    UNIQUE (tenant_id, container_id)
);
CREATE INDEX containers_local_image ON containers (local_image);
CREATE INDEX containers_pod ON containers (pod);

-- Applications (nginx, mysql, ...) identified in an image digest; like the image itself,
-- shared by every tenant that has the digest.
CREATE TABLE image_apps (
    image BIGINT NOT NULL REFERENCES images(id),
    name TEXT NOT NULL,
    version TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (image, name, version)
);

-- The number of components (packages) the latest scan of a digest found.
ALTER TABLE image_scans ADD COLUMN component_count BIGINT NOT NULL DEFAULT 0;

-- A VM image (ECS DescribeImages). Platform images (system, marketplace) have no tenant and
-- are visible to all; custom images belong to a tenant and are seen by others when shared
-- with them or published as community images (is_public).
CREATE TABLE vm_images (
    id ID_PK,
    tenant_id BIGINT REFERENCES tenants(id),
    image_id TEXT NOT NULL UNIQUE,
    region_id TEXT NOT NULL,
    -- system, marketplace or custom.
    source TEXT NOT NULL,
    -- The owning account (ImageOwnerId), 0 when none.
    owner_account_id BIGINT NOT NULL DEFAULT 0,
    image_name TEXT NOT NULL,
    image_family TEXT NOT NULL DEFAULT '',
    image_version TEXT NOT NULL DEFAULT '',
    description TEXT NOT NULL DEFAULT '',
    -- Creating, Waiting, Available, UnAvailable, CreateFailed, Deprecated.
    status TEXT NOT NULL DEFAULT 'Available',
    progress TEXT NOT NULL DEFAULT '100%',
    is_public BIGINT NOT NULL DEFAULT 0,
    is_copied BIGINT NOT NULL DEFAULT 0,
    is_self_shared BIGINT NOT NULL DEFAULT 0,
    is_subscribed BIGINT NOT NULL DEFAULT 0,
    is_support_io_optimized BIGINT NOT NULL DEFAULT 1,
    is_support_cloudinit BIGINT NOT NULL DEFAULT 1,
    login_as_non_root BIGINT NOT NULL DEFAULT 0,
    -- instance or none.
    usage TEXT NOT NULL DEFAULT 'none',
    os_type TEXT NOT NULL DEFAULT 'linux',
    os_name TEXT NOT NULL DEFAULT '',
    os_name_en TEXT NOT NULL DEFAULT '',
    platform TEXT NOT NULL DEFAULT '',
    architecture TEXT NOT NULL DEFAULT 'x86_64',
    boot_mode TEXT NOT NULL DEFAULT 'BIOS',
    size_gib BIGINT NOT NULL DEFAULT 0,
    product_code TEXT NOT NULL DEFAULT '',
    supplier_name TEXT NOT NULL DEFAULT '',
    resource_group_id TEXT NOT NULL DEFAULT '',
    nvme_support TEXT NOT NULL DEFAULT '',
    detection_status TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL
);
CREATE INDEX vm_images_tenant ON vm_images (tenant_id, region_id, id);
CREATE INDEX vm_images_region ON vm_images (region_id, source, id);

CREATE TABLE vm_image_shares (
    vm_image BIGINT NOT NULL REFERENCES vm_images(id),
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    PRIMARY KEY (vm_image, tenant_id)
);
CREATE INDEX vm_image_shares_tenant ON vm_image_shares (tenant_id);

CREATE TABLE vm_image_tags (
    vm_image BIGINT NOT NULL REFERENCES vm_images(id),
    tag_key TEXT NOT NULL,
    tag_value TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (vm_image, tag_key)
);
CREATE INDEX vm_image_tags_key ON vm_image_tags (tag_key, tag_value);

-- DiskDeviceMappings, in order.
CREATE TABLE vm_image_disks (
    vm_image BIGINT NOT NULL REFERENCES vm_images(id),
    position BIGINT NOT NULL,
    disk_type TEXT NOT NULL,
    device TEXT NOT NULL DEFAULT '',
    size_gib BIGINT NOT NULL DEFAULT 0,
    snapshot_id TEXT NOT NULL DEFAULT '',
    format TEXT NOT NULL DEFAULT '',
    import_oss_bucket TEXT NOT NULL DEFAULT '',
    import_oss_object TEXT NOT NULL DEFAULT '',
    progress TEXT NOT NULL DEFAULT '',
    remain_time_s BIGINT NOT NULL DEFAULT 0,
    PRIMARY KEY (vm_image, position)
);
CREATE INDEX vm_image_disks_snapshot ON vm_image_disks (snapshot_id);

-- DetectionOptions.Items.
CREATE TABLE vm_image_checks (
    vm_image BIGINT NOT NULL REFERENCES vm_images(id),
    name TEXT NOT NULL,
    value TEXT NOT NULL DEFAULT '',
    risk_level TEXT NOT NULL DEFAULT '',
    risk_code TEXT NOT NULL DEFAULT '',
    PRIMARY KEY (vm_image, name)
);
