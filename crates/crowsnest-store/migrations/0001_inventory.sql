-- Crowsnest inventory, version 1. One text for every engine: `ID_PK` is replaced by the
-- engine's auto-increment primary key; booleans are BIGINT 0/1 and times are BIGINT
-- milliseconds since the epoch, so the same queries bind the same Rust types everywhere.

CREATE TABLE tenants (
    id ID_PK,
    name TEXT NOT NULL UNIQUE,
    -- Alibaba account id (aliUid) or Huawei domain id of the customer.
    account_id TEXT NOT NULL UNIQUE,
    created_ms BIGINT NOT NULL
);

-- Huawei project ids (one per region) and which tenant owns them.
CREATE TABLE projects (
    project_id TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    region_id TEXT NOT NULL
);

-- AccessKey pairs. The secret is kept because HMAC signatures can only be checked with it.
CREATE TABLE api_keys (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    access_key_id TEXT NOT NULL UNIQUE,
    secret TEXT NOT NULL,
    -- Policy actions, one per line (`yundun-sas:DescribeImageInstances`, `yundun-sas:*`, `*`).
    actions TEXT NOT NULL,
    enabled BIGINT NOT NULL DEFAULT 1,
    created_ms BIGINT NOT NULL
);

-- Bearer tokens (X-Auth-Token); only their SHA-256 is stored.
CREATE TABLE api_tokens (
    token_sha256 TEXT PRIMARY KEY,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    actions TEXT NOT NULL,
    expires_ms BIGINT NOT NULL
);

-- Signature nonces seen within the replay window.
CREATE TABLE request_nonces (
    access_key_id TEXT NOT NULL,
    nonce TEXT NOT NULL,
    expires_ms BIGINT NOT NULL,
    PRIMARY KEY (access_key_id, nonce)
);
CREATE INDEX request_nonces_expiry ON request_nonces (expires_ms);

-- A registry (or one instance of a managed registry) that a tenant connected.
CREATE TABLE registries (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    uid TEXT NOT NULL UNIQUE,
    name TEXT NOT NULL,
    -- acr, harbor, quay, CI/CD (Alibaba) or SwrPrivate, SwrShared, SwrEnterprise, Harbor, Jfrog, Other (Huawei).
    registry_type TEXT NOT NULL,
    region_id TEXT NOT NULL,
    instance_id TEXT NOT NULL DEFAULT '',
    instance_name TEXT NOT NULL DEFAULT '',
    instance_url TEXT NOT NULL DEFAULT '',
    -- JSON array of endpoint addresses.
    endpoints TEXT NOT NULL DEFAULT '[]',
    enterprise_project_id TEXT NOT NULL DEFAULT '0',
    resource_group_id TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL
);
CREATE INDEX registries_tenant ON registries (tenant_id);

CREATE TABLE repositories (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    registry_id BIGINT NOT NULL REFERENCES registries(id),
    uid TEXT NOT NULL UNIQUE,
    namespace TEXT NOT NULL,
    name TEXT NOT NULL,
    -- private or public (Alibaba RepoType).
    repo_type TEXT NOT NULL DEFAULT 'private',
    -- private_image, shared_image, instance_image, harbor, jfrog (Huawei image_type).
    image_type TEXT NOT NULL DEFAULT 'private_image',
    UNIQUE (registry_id, namespace, name)
);

-- One row per content digest, shared by every tenant and place that uses it.
CREATE TABLE images (
    id ID_PK,
    digest TEXT NOT NULL UNIQUE,
    -- The config digest, which `docker images` shows as the image id.
    config_digest TEXT NOT NULL DEFAULT '',
    size_bytes BIGINT NOT NULL DEFAULT 0,
    created_ms BIGINT NOT NULL DEFAULT 0,
    is_multiarch BIGINT NOT NULL DEFAULT 0,
    first_seen_ms BIGINT NOT NULL
);

-- The per-platform manifests of a multi-arch index.
CREATE TABLE image_children (
    index_image BIGINT NOT NULL REFERENCES images(id),
    child_image BIGINT NOT NULL REFERENCES images(id),
    platform TEXT NOT NULL,
    PRIMARY KEY (index_image, child_image)
);

-- The latest scan of an image digest; absent means never scanned.
CREATE TABLE image_scans (
    image BIGINT PRIMARY KEY REFERENCES images(id),
    -- waiting, running, succeeded, failed
    state TEXT NOT NULL,
    -- Alibaba's stage name while running (DOWNLOAD, CVE_ANALYZER, ...).
    stage TEXT NOT NULL DEFAULT '',
    progress BIGINT NOT NULL DEFAULT 0,
    -- Huawei's failure vocabulary (image_over_sized, download_failed, ...), '' unless failed.
    failure_code TEXT NOT NULL DEFAULT '',
    vul_count BIGINT NOT NULL DEFAULT 0,
    baseline_count BIGINT NOT NULL DEFAULT 0,
    malicious_count BIGINT NOT NULL DEFAULT 0,
    alarm_count BIGINT NOT NULL DEFAULT 0,
    -- Security, Low, Medium, High once succeeded.
    severity TEXT NOT NULL DEFAULT '',
    started_ms BIGINT,
    finished_ms BIGINT
);

-- A tag in a repository pointing at an image: what the cloud APIs call an image instance.
CREATE TABLE image_tags (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    repository_id BIGINT NOT NULL REFERENCES repositories(id),
    image BIGINT NOT NULL REFERENCES images(id),
    tag TEXT NOT NULL,
    uuid TEXT NOT NULL UNIQUE,
    updated_ms BIGINT NOT NULL,
    synced_ms BIGINT NOT NULL,
    latest_version BIGINT NOT NULL DEFAULT 0,
    deployed BIGINT NOT NULL DEFAULT 0,
    source_biz_tag TEXT NOT NULL DEFAULT '',
    status TEXT NOT NULL DEFAULT 'NORMAL',
    domain_name TEXT NOT NULL DEFAULT '',
    shared_status TEXT NOT NULL DEFAULT '',
    scannable BIGINT NOT NULL DEFAULT 1,
    UNIQUE (repository_id, tag)
);
CREATE INDEX image_tags_tenant ON image_tags (tenant_id, id);
CREATE INDEX image_tags_image ON image_tags (image);

-- Scan tasks created through the API (PublicCreateImageScanTask and friends).
CREATE TABLE scan_tasks (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    task_uid TEXT NOT NULL UNIQUE,
    -- INIT, PROCESSING, SUCCESS, FAIL
    status TEXT NOT NULL,
    result TEXT NOT NULL DEFAULT '',
    total_count BIGINT NOT NULL DEFAULT 0,
    finish_count BIGINT NOT NULL DEFAULT 0,
    progress BIGINT NOT NULL DEFAULT 0,
    -- The selection the task was created with, as JSON.
    selection TEXT NOT NULL,
    collect_ms BIGINT NOT NULL,
    exec_ms BIGINT,
    created_ms BIGINT NOT NULL
);
CREATE INDEX scan_tasks_tenant ON scan_tasks (tenant_id, status);
