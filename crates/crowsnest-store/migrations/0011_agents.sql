-- Crowsnest inventory, version 11: host agents. An agent registers with an enrolment key and
-- receives an AccessKey of its own (api_keys.access_key_id), limited to the agent actions;
-- revoking the agent disables that key. Heartbeats update last_seen_ms (offline detection
-- compares it with the server's clock); every accepted report leaves its report id in
-- agent_reports, so a report resent after a lost response is applied once. agents.rs.
CREATE TABLE agents (
    id ID_PK,
    tenant_id BIGINT NOT NULL REFERENCES tenants(id),
    -- The agent id Huawei's ListLocalImages shows (64 hex characters).
    uid TEXT NOT NULL UNIQUE,
    -- The host it runs on (hosts.uid), unique within the tenant while enabled.
    host_uid TEXT NOT NULL,
    host_name TEXT NOT NULL DEFAULT '',
    access_key_id TEXT NOT NULL UNIQUE,
    registered_ms BIGINT NOT NULL,
    -- 0 until the first heartbeat or report.
    last_seen_ms BIGINT NOT NULL DEFAULT 0,
    revoked_ms BIGINT,
    reports_received BIGINT NOT NULL DEFAULT 0,
    heartbeats_received BIGINT NOT NULL DEFAULT 0
);
CREATE INDEX agents_tenant ON agents (tenant_id, id);
CREATE INDEX agents_host ON agents (tenant_id, host_uid);

CREATE TABLE agent_reports (
    agent BIGINT NOT NULL REFERENCES agents(id),
    report_id TEXT NOT NULL,
    received_ms BIGINT NOT NULL,
    PRIMARY KEY (agent, report_id)
);
