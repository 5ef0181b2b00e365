//! Scan tasks created through the API (PublicCreateImageScanTask): what was asked, how far it is.

use crate::sql::{Row, Tx};
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
    /// INIT, PROCESSING, then SUCCESS, FAIL, TIMEOUT or CANCELLED.
    pub status: String,
    /// Result code ('' while running; SUCCESS, or the first failed image's code).
    pub result: String,
    /// Images covered.
    pub total_count: i64,
    /// Images finished.
    pub finish_count: i64,
    /// 0..=100.
    pub progress: i64,
    /// Collected, ms.
    pub collect_ms: i64,
    /// Started (first job claimed), ms.
    pub exec_ms: Option<i64>,
    /// Images that failed (counted in `finish_count` too).
    pub failed_count: i64,
    /// Ended, ms.
    pub finished_ms: Option<i64>,
}

impl Store {
    /// Stores a new task in state INIT, without a quota (see
    /// [`Store::create_scan_task_within_quota`] for the API's path).
    pub fn create_scan_task(&self, tenant: TenantId, task: &NewScanTask) -> Result<(), StoreError> {
        self.write(|tx| insert_task(tx, tenant, task))
    }

    /// Stores a new task in state INIT only if the tenant has fewer than `max_unfinished`
    /// unfinished (INIT or PROCESSING) tasks, counting and inserting in one transaction.
    /// Returns the number of unfinished tasks before the insert, or `None` (nothing stored)
    /// when the quota is already used up.
    ///
    /// The transaction first updates the tenant's own row to itself. That takes the row's write
    /// lock on PostgreSQL, so concurrent creates of one tenant queue there, and each count
    /// (a new snapshot per statement under READ COMMITTED) sees the tasks the previous holder
    /// committed; SQLite's write transactions are already serialised. Other tenants are not
    /// blocked. A count inside the transaction alone would not do on PostgreSQL: two
    /// transactions could both count 9 and both insert.
    pub fn create_scan_task_within_quota(
        &self,
        tenant: TenantId,
        task: &NewScanTask,
        max_unfinished: i64,
    ) -> Result<Option<i64>, StoreError> {
        self.write(|tx| {
            let locked = tx.execute(
                "UPDATE tenants SET name = name WHERE id = $1",
                &[tenant.0.into()],
            )?;
            if locked == 0 {
                return Err(StoreError::NotFound("tenant"));
            }
            let unfinished = tx
                .query_one(
                    "SELECT COUNT(*) FROM scan_tasks WHERE tenant_id = $1 AND status IN ('INIT', 'PROCESSING')",
                    &[tenant.0.into()],
                )?
                .int(0)?;
            if unfinished >= max_unfinished {
                return Ok(None);
            }
            insert_task(tx, tenant, task)?;
            Ok(Some(unfinished))
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

    /// One page of `tenant`'s tasks, newest first, and how many there are in all.
    pub fn scan_tasks_page(
        &self,
        tenant: TenantId,
        offset: i64,
        limit: i64,
    ) -> Result<(i64, Vec<ScanTask>), StoreError> {
        self.read(|tx| {
            let total = tx
                .query_one(
                    "SELECT COUNT(*) FROM scan_tasks WHERE tenant_id = $1",
                    &[tenant.0.into()],
                )?
                .int(0)?;
            let rows = tx
                .query(
                    &format!(
                        "SELECT {TASK_COLUMNS} FROM scan_tasks WHERE tenant_id = $1 \
                         ORDER BY id DESC LIMIT $2 OFFSET $3"
                    ),
                    &[tenant.0.into(), limit.max(0).into(), offset.max(0).into()],
                )?
                .iter()
                .map(task_from)
                .collect::<Result<Vec<_>, _>>()?;
            Ok((total, rows))
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
                &format!(
                    "SELECT {TASK_COLUMNS} FROM scan_tasks WHERE tenant_id = $1 AND task_uid = $2"
                ),
                &[tenant.0.into(), task_uid.into()],
            )?
            else {
                return Ok(None);
            };
            task_from(&row).map(Some)
        })
    }
}

const TASK_COLUMNS: &str = "task_uid, status, result, total_count, finish_count, progress, \
     collect_ms, exec_ms, failed_count, finished_ms";

fn task_from(row: &Row) -> Result<ScanTask, StoreError> {
    Ok(ScanTask {
        task_uid: row.text(0)?,
        status: row.text(1)?,
        result: row.text(2)?,
        total_count: row.int(3)?,
        finish_count: row.int(4)?,
        progress: row.int(5)?,
        collect_ms: row.int(6)?,
        exec_ms: row.opt_int(7)?,
        failed_count: row.int(8)?,
        finished_ms: row.opt_int(9)?,
    })
}

fn insert_task(tx: &mut Tx<'_>, tenant: TenantId, task: &NewScanTask) -> Result<(), StoreError> {
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
}
