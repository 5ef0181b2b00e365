//! Scan tasks created through the API (PublicCreateImageScanTask): what was asked, how far it is.

use crate::{Store, StoreError, TenantId};

/// A scan task to create.
#[derive(Clone, Debug)]
pub struct NewScanTask {
    /// External task id.
    pub task_uid: String,
    /// The selection (registry types, regions, digests, ...) as JSON.
    pub selection: serde_json::Value,
    /// How many images the selection covers.
    pub total_count: i64,
    /// When the selection was collected, ms.
    pub collect_ms: i64,
}

/// A stored scan task.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanTask {
    /// External task id.
    pub task_uid: String,
    /// INIT, PROCESSING, SUCCESS, FAIL.
    pub status: String,
    /// Result code ('' while running).
    pub result: String,
    /// Images covered.
    pub total_count: i64,
    /// Images finished.
    pub finish_count: i64,
    /// 0..=100.
    pub progress: i64,
    /// Collected, ms.
    pub collect_ms: i64,
    /// Started, ms.
    pub exec_ms: Option<i64>,
}

impl Store {
    /// Stores a new task in state INIT.
    pub fn create_scan_task(&self, tenant: TenantId, task: &NewScanTask) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO scan_tasks (tenant_id, task_uid, status, total_count, selection, collect_ms, created_ms) \
                 VALUES ($1, $2, 'INIT', $3, $4, $5, $6)",
                &[
                    tenant.0.into(),
                    task.task_uid.as_str().into(),
                    task.total_count.into(),
                    task.selection.to_string().into(),
                    task.collect_ms.into(),
                    crate::now_ms().into(),
                ],
            )?;
            Ok(())
        })
    }

    /// How many of the tenant's tasks are not finished (for the concurrent-task quota).
    pub fn unfinished_scan_tasks(&self, tenant: TenantId) -> Result<i64, StoreError> {
        self.read(|tx| {
            tx.query_one(
                "SELECT COUNT(*) FROM scan_tasks WHERE tenant_id = $1 AND status IN ('INIT', 'PROCESSING')",
                &[tenant.0.into()],
            )?
            .int(0)
        })
    }

    /// A task of `tenant` by its external id.
    pub fn scan_task(
        &self,
        tenant: TenantId,
        task_uid: &str,
    ) -> Result<Option<ScanTask>, StoreError> {
        self.read(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT task_uid, status, result, total_count, finish_count, progress, collect_ms, exec_ms \
                 FROM scan_tasks WHERE tenant_id = $1 AND task_uid = $2",
                &[tenant.0.into(), task_uid.into()],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(ScanTask {
                task_uid: row.text(0)?,
                status: row.text(1)?,
                result: row.text(2)?,
                total_count: row.int(3)?,
                finish_count: row.int(4)?,
                progress: row.int(5)?,
                collect_ms: row.int(6)?,
                exec_ms: row.opt_int(7)?,
            }))
        })
    }
}
