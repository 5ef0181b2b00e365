//! Host agents (migration 11): registration with a per-agent AccessKey, revocation, heartbeats
//! and the report ids that make reports idempotent.
//!
//! An agent is one row per registration. Registering again for the same host (a reinstalled
//! agent, or one whose registration answer was lost) revokes the host's earlier agents, so a
//! host has at most one agent whose key works. Revoking disables the agent's AccessKey in the
//! same transaction: from then on its signatures do not verify.
//!
//! A report is applied by the API through the `hosts` and `scans` methods (each one an upsert,
//! so applying a report twice changes nothing), and only then claimed here with
//! [`Store::claim_agent_report`]: if the server fails half-way the report id is not yet taken
//! and the agent's resend applies it completely; if the answer to the agent is lost the resend
//! finds the id taken and is not counted again.

use crate::sql::{Row, Tx};
use crate::{now_ms, Store, StoreError, TenantId};

/// A registration to record.
#[derive(Clone, Debug)]
pub struct NewAgent<'a> {
    /// The agent id (unique across tenants).
    pub uid: &'a str,
    /// The host it runs on (`hosts.uid`).
    pub host_uid: &'a str,
    /// The host's name when it registered.
    pub host_name: &'a str,
    /// Its new AccessKey id.
    pub access_key_id: &'a str,
    /// Its new AccessKey secret.
    pub secret: &'a str,
    /// The policy actions of its key.
    pub actions: &'a [&'a str],
}

/// A registered agent.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AgentRecord {
    /// Row id.
    pub row: i64,
    /// Its tenant.
    pub tenant: TenantId,
    /// The agent id.
    pub uid: String,
    /// The host it runs on.
    pub host_uid: String,
    /// The host's name.
    pub host_name: String,
    /// Its AccessKey id.
    pub access_key_id: String,
    /// Registration time, ms.
    pub registered_ms: i64,
    /// The last heartbeat or report, ms (0: never).
    pub last_seen_ms: i64,
    /// When it was revoked, ms.
    pub revoked_ms: Option<i64>,
    /// Distinct reports accepted.
    pub reports_received: i64,
    /// Heartbeats accepted.
    pub heartbeats_received: i64,
}

const COLUMNS: &str = "id, tenant_id, uid, host_uid, host_name, access_key_id, registered_ms, \
    last_seen_ms, revoked_ms, reports_received, heartbeats_received";

fn agent_from(row: &Row) -> Result<AgentRecord, StoreError> {
    Ok(AgentRecord {
        row: row.int(0)?,
        tenant: TenantId(row.int(1)?),
        uid: row.text(2)?,
        host_uid: row.text(3)?,
        host_name: row.text(4)?,
        access_key_id: row.text(5)?,
        registered_ms: row.int(6)?,
        last_seen_ms: row.int(7)?,
        revoked_ms: row.opt_int(8)?,
        reports_received: row.int(9)?,
        heartbeats_received: row.int(10)?,
    })
}

/// Revokes `agents` rows (ids) and disables their keys.
fn revoke_rows(tx: &mut Tx<'_>, rows: &[Row], now: i64) -> Result<(), StoreError> {
    for row in rows {
        let (id, key) = (row.int(0)?, row.text(1)?);
        tx.execute(
            "UPDATE agents SET revoked_ms = $2 WHERE id = $1 AND revoked_ms IS NULL",
            &[id.into(), now.into()],
        )?;
        tx.execute(
            "UPDATE api_keys SET enabled = 0 WHERE access_key_id = $1",
            &[key.into()],
        )?;
    }
    Ok(())
}

impl Store {
    /// Registers an agent of `tenant` with a new AccessKey, revoking the host's earlier agents.
    pub fn register_agent(
        &self,
        tenant: TenantId,
        agent: &NewAgent<'_>,
    ) -> Result<AgentRecord, StoreError> {
        let now = now_ms();
        self.write(|tx| {
            let earlier = tx.query(
                "SELECT id, access_key_id FROM agents \
                 WHERE tenant_id = $1 AND host_uid = $2 AND revoked_ms IS NULL",
                &[tenant.0.into(), agent.host_uid.into()],
            )?;
            revoke_rows(tx, &earlier, now)?;
            tx.execute(
                "INSERT INTO api_keys (tenant_id, access_key_id, secret, actions, enabled, created_ms) \
                 VALUES ($1, $2, $3, $4, 1, $5)",
                &[
                    tenant.0.into(),
                    agent.access_key_id.into(),
                    agent.secret.into(),
                    // One action a line, as tenants.rs stores every key's policy.
                    agent.actions.join("\n").into(),
                    now.into(),
                ],
            )?;
            let row = tx.query_one(
                &format!(
                    "INSERT INTO agents (tenant_id, uid, host_uid, host_name, access_key_id, \
                     registered_ms) VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
                ),
                &[
                    tenant.0.into(),
                    agent.uid.into(),
                    agent.host_uid.into(),
                    agent.host_name.into(),
                    agent.access_key_id.into(),
                    now.into(),
                ],
            )?;
            agent_from(&row)
        })
    }

    /// The agent that owns AccessKey `access_key_id`, if it is an agent's key.
    pub fn agent_by_key(&self, access_key_id: &str) -> Result<Option<AgentRecord>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                &format!("SELECT {COLUMNS} FROM agents WHERE access_key_id = $1"),
                &[access_key_id.into()],
            )?
            .as_ref()
            .map(agent_from)
            .transpose()
        })
    }

    /// `tenant`'s agents, oldest first.
    pub fn agents(&self, tenant: TenantId) -> Result<Vec<AgentRecord>, StoreError> {
        self.read(|tx| {
            tx.query(
                &format!("SELECT {COLUMNS} FROM agents WHERE tenant_id = $1 ORDER BY id"),
                &[tenant.0.into()],
            )?
            .iter()
            .map(agent_from)
            .collect()
        })
    }

    /// Revokes agent `uid` of `tenant` and disables its key. An agent of another tenant is
    /// [`StoreError::NotFound`], exactly as one that does not exist.
    pub fn revoke_agent(&self, tenant: TenantId, uid: &str) -> Result<(), StoreError> {
        let now = now_ms();
        self.write(|tx| {
            let rows = tx.query(
                "SELECT id, access_key_id FROM agents WHERE tenant_id = $1 AND uid = $2",
                &[tenant.0.into(), uid.into()],
            )?;
            if rows.is_empty() {
                return Err(StoreError::NotFound("agent of this tenant"));
            }
            revoke_rows(tx, &rows, now)
        })
    }

    /// Records a heartbeat of agent `row` at `now_ms`.
    pub fn agent_heartbeat(&self, row: i64, now_ms: i64) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "UPDATE agents SET last_seen_ms = $2, heartbeats_received = heartbeats_received + 1 \
                 WHERE id = $1",
                &[row.into(), now_ms.into()],
            )?;
            Ok(())
        })
    }

    /// Whether agent `row` already had report `report_id` accepted.
    pub fn agent_report_seen(&self, row: i64, report_id: &str) -> Result<bool, StoreError> {
        self.read(|tx| {
            Ok(tx
                .query_opt(
                    "SELECT 1 FROM agent_reports WHERE agent = $1 AND report_id = $2",
                    &[row.into(), report_id.into()],
                )?
                .is_some())
        })
    }

    /// Marks report `report_id` of agent `row` accepted (after it was applied). Returns false
    /// when it already was, in which case nothing is counted.
    pub fn claim_agent_report(
        &self,
        row: i64,
        report_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| claim_agent_report_in(tx, row, report_id, now_ms))
    }

    /// Makes host `host_row`'s local images and containers exactly those of its latest
    /// report: links to local images not in `keep_local_images` and containers not in
    /// `keep_containers` (runtime ids) are removed, since the host no longer has them.
    pub fn prune_host(
        &self,
        tenant: TenantId,
        host_row: i64,
        keep_local_images: &[i64],
        keep_containers: &[String],
    ) -> Result<(), StoreError> {
        self.write(|tx| prune_host_in(tx, tenant, host_row, keep_local_images, keep_containers))
    }
}

/// The body of [`Store::prune_host`], for a transaction a caller already holds.
pub(crate) fn prune_host_in(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    host_row: i64,
    keep_local_images: &[i64],
    keep_containers: &[String],
) -> Result<(), StoreError> {
    let owner = tx
        .query_opt(
            "SELECT tenant_id FROM hosts WHERE id = $1",
            &[host_row.into()],
        )?
        .map(|r| r.int(0))
        .transpose()?;
    if owner != Some(tenant.0) {
        return Err(StoreError::NotFound("host of this tenant"));
    }
    for row in tx.query(
        "SELECT local_image FROM host_local_images WHERE host = $1",
        &[host_row.into()],
    )? {
        let local_image = row.int(0)?;
        if !keep_local_images.contains(&local_image) {
            tx.execute(
                "DELETE FROM host_local_images WHERE host = $1 AND local_image = $2",
                &[host_row.into(), local_image.into()],
            )?;
        }
    }
    for row in tx.query(
        "SELECT id, container_id FROM containers WHERE tenant_id = $1 AND host = $2",
        &[tenant.0.into(), host_row.into()],
    )? {
        if !keep_containers.contains(&row.text(1)?) {
            tx.execute(
                "DELETE FROM containers WHERE id = $1",
                &[row.int(0)?.into()],
            )?;
        }
    }
    Ok(())
}

/// The body of [`Store::claim_agent_report`], for a transaction a caller already holds.
pub(crate) fn claim_agent_report_in(
    tx: &mut Tx<'_>,
    row: i64,
    report_id: &str,
    now_ms: i64,
) -> Result<bool, StoreError> {
    let inserted = tx.execute(
        "INSERT INTO agent_reports (agent, report_id, received_ms) VALUES ($1, $2, $3) \
             ON CONFLICT (agent, report_id) DO NOTHING",
        &[row.into(), report_id.into(), now_ms.into()],
    )?;
    let fresh = inserted == 1;
    let counted = i64::from(fresh);
    tx.execute(
        "UPDATE agents SET last_seen_ms = $2, reports_received = reports_received + $3 \
             WHERE id = $1",
        &[row.into(), now_ms.into(), counted.into()],
    )?;
    Ok(fresh)
}
