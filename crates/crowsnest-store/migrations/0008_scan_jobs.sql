-- Crowsnest inventory, version 8: the per-image jobs of a scan task and the task's ending.
-- A task (PublicCreateImageScanTask) is expanded at creation into one job per distinct image
-- digest of its selection; workers (in `crowsnest serve` or `crowsnest worker` processes) claim
-- jobs under a lease, and the job's end updates its task's counters in the same transaction.
-- scan_jobs.rs writes and reads it; ARCHITECTURE.md has the state machine.
CREATE TABLE scan_jobs (
    id ID_PK,
    task_id BIGINT NOT NULL REFERENCES scan_tasks(id),
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    -- The image row and its digest (images are never deleted).
    image BIGINT NOT NULL REFERENCES images(id),
    digest TEXT NOT NULL,
    -- Where to pull it from: the registry's uid (not its row: a registry may be removed while
    -- the task runs, which fails the job instead of the delete), repository path and tag.
    registry_uid TEXT NOT NULL,
    repository TEXT NOT NULL,
    tag TEXT NOT NULL,
    -- pull (no stored inventory at creation) or rematch (the stored inventory is matched again).
    mode TEXT NOT NULL,
    -- queued, running, succeeded, failed, cancelled
    state TEXT NOT NULL,
    -- Claims so far; also the fencing token of the current lease.
    attempts BIGINT NOT NULL DEFAULT 0,
    lease_owner TEXT NOT NULL DEFAULT '',
    lease_expires_ms BIGINT NOT NULL DEFAULT 0,
    heartbeat_ms BIGINT,
    -- A retried job waits until then (backoff).
    not_before_ms BIGINT NOT NULL DEFAULT 0,
    -- The seed's scan_failed_code of the last failure, '' if none.
    failure_code TEXT NOT NULL DEFAULT '',
    created_ms BIGINT NOT NULL,
    started_ms BIGINT,
    finished_ms BIGINT,
    UNIQUE (task_id, digest)
);
CREATE INDEX scan_jobs_queue ON scan_jobs (state, not_before_ms, id);
CREATE INDEX scan_jobs_lease ON scan_jobs (state, lease_expires_ms);

-- Failed images so far, and when the task ended (SUCCESS, FAIL, TIMEOUT or CANCELLED).
ALTER TABLE scan_tasks ADD COLUMN failed_count BIGINT NOT NULL DEFAULT 0;
ALTER TABLE scan_tasks ADD COLUMN finished_ms BIGINT;
