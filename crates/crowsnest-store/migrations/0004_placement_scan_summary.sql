-- Crowsnest inventory, version 4: the latest scan's state, risk and finish time copied onto
-- each placement, and per-repository placement counts, so that list queries over a million
-- placements filter, sort and count without reading every matching row (benches/placements.rs).
-- The write path in inventory.rs keeps both current (put_tag, record_scan).

-- unscanned, waiting, running, succeeded, failed: COALESCE(image_scans.state, 'unscanned').
ALTER TABLE image_tags ADD COLUMN scan_state TEXT NOT NULL DEFAULT 'unscanned';
-- 1 when any count of the latest scan (vulnerabilities, baseline, malicious, alarms) is positive.
ALTER TABLE image_tags ADD COLUMN scan_risky BIGINT NOT NULL DEFAULT 0;
-- COALESCE(image_scans.finished_ms, 0).
ALTER TABLE image_tags ADD COLUMN scan_finished_ms BIGINT NOT NULL DEFAULT 0;

UPDATE image_tags SET
    scan_state = COALESCE((SELECT s.state FROM image_scans s WHERE s.image = image_tags.image), 'unscanned'),
    scan_risky = COALESCE((SELECT CASE WHEN s.vul_count > 0 OR s.baseline_count > 0
        OR s.malicious_count > 0 OR s.alarm_count > 0 THEN 1 ELSE 0 END
        FROM image_scans s WHERE s.image = image_tags.image), 0),
    scan_finished_ms = COALESCE((SELECT s.finished_ms FROM image_scans s WHERE s.image = image_tags.image), 0);

-- Filters on scan state and risk, in page (id) order.
CREATE INDEX image_tags_scan_state ON image_tags (tenant_id, scan_state, scan_risky, id);
-- Oldest and newest scans first.
CREATE INDEX image_tags_scan_asc ON image_tags (tenant_id, scan_finished_ms, id);
CREATE INDEX image_tags_scan_desc ON image_tags (tenant_id, scan_finished_ms DESC, id);

-- How many placements of each repository have each scan state and risk; counts whose filter
-- reads only repository, registry, scan state and risk are sums over these few rows.
CREATE TABLE placement_counts (
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    repository_id BIGINT NOT NULL REFERENCES repositories(id),
    scan_state TEXT NOT NULL,
    scan_risky BIGINT NOT NULL,
    n BIGINT NOT NULL,
    PRIMARY KEY (tenant_id, repository_id, scan_state, scan_risky)
);

INSERT INTO placement_counts (tenant_id, repository_id, scan_state, scan_risky, n)
SELECT tenant_id, repository_id, scan_state, scan_risky, COUNT(*) FROM image_tags
GROUP BY tenant_id, repository_id, scan_state, scan_risky;
