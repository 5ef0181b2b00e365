-- Crowsnest inventory, version 13: the CRITICAL findings of each image digest's latest match,
-- so that a scan or re-match can tell which critical findings are new and announce only
-- those (the new-critical-findings webhook). A row is inserted the first time a match finds
-- the finding and deleted when a later match no longer does; the primary key makes "new"
-- exact under concurrent matches of one digest: only the insert that created the row
-- reports it. scans.rs writes and reads it.
CREATE TABLE critical_findings (
    digest TEXT NOT NULL,
    finding_id TEXT NOT NULL,
    first_seen_ms BIGINT NOT NULL,
    PRIMARY KEY (digest, finding_id)
);
