//! Tenant-wide aggregates over placements for the web console's overview: placements per
//! severity level and per scan state, the most vulnerable placements, and vulnerabilities per
//! day of the scans that found them.
//!
//! Every figure reads the scan copy on `image_tags` (migration 4) and the digest's latest scan
//! (`image_scans`), filtered on the tenant in SQL. The store keeps only each digest's latest
//! scan (see the crate's "Not yet here"), so the trend is the findings of the latest scans by
//! the day they finished, not a history of earlier scans.

use crate::{Store, StoreError, TenantId};

/// One day of findings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TrendDay {
    /// Days since the Unix epoch (UTC).
    pub day: i64,
    /// Vulnerabilities of the placements whose latest scan finished that day.
    pub vulnerabilities: i64,
    /// Placements whose latest scan finished that day.
    pub scans: i64,
}

/// A placement with many vulnerabilities.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VulnerablePlacement {
    /// The placement's UUID (the console's image page key).
    pub uuid: String,
    /// `namespace/name`.
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// Vulnerabilities of the latest scan.
    pub vul_count: i64,
    /// Severity level of the latest scan (Security, Low, Medium, High).
    pub severity: String,
}

/// The tenant's overview.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Overview {
    /// Placements per scan state (`unscanned`, `waiting`, `running`, `succeeded`, `failed`).
    pub by_state: Vec<(String, i64)>,
    /// Placements with a succeeded scan per severity level (`''` when the scan found nothing
    /// rated).
    pub by_severity: Vec<(String, i64)>,
    /// The placements with the most vulnerabilities, most first.
    pub top_vulnerable: Vec<VulnerablePlacement>,
    /// Days with finished scans since the requested day, oldest first.
    pub trend: Vec<TrendDay>,
}

const DAY_MS: i64 = 86_400_000;

impl Store {
    /// The overview of `tenant`: counts, the `top` most vulnerable placements and the trend
    /// of scans finished at or after `since_ms`.
    pub fn overview(
        &self,
        tenant: TenantId,
        top: i64,
        since_ms: i64,
    ) -> Result<Overview, StoreError> {
        self.read(|tx| {
            let by_state = tx
                .query(
                    "SELECT t.scan_state, COUNT(*) FROM image_tags t WHERE t.tenant_id = $1 \
                     GROUP BY t.scan_state ORDER BY t.scan_state",
                    &[tenant.0.into()],
                )?
                .iter()
                .map(|r| Ok((r.text(0)?, r.int(1)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let by_severity = tx
                .query(
                    "SELECT s.severity, COUNT(*) FROM image_tags t JOIN image_scans s ON s.image = t.image \
                     WHERE t.tenant_id = $1 AND t.scan_state = 'succeeded' \
                     GROUP BY s.severity ORDER BY s.severity",
                    &[tenant.0.into()],
                )?
                .iter()
                .map(|r| Ok((r.text(0)?, r.int(1)?)))
                .collect::<Result<Vec<_>, StoreError>>()?;
            let top_vulnerable = tx
                .query(
                    "SELECT t.uuid, r.namespace, r.name, t.tag, s.vul_count, s.severity \
                     FROM image_tags t JOIN image_scans s ON s.image = t.image \
                     JOIN repositories r ON r.id = t.repository_id \
                     WHERE t.tenant_id = $1 AND t.scan_state = 'succeeded' AND s.vul_count > 0 \
                     ORDER BY s.vul_count DESC, t.id LIMIT $2",
                    &[tenant.0.into(), top.max(0).into()],
                )?
                .iter()
                .map(|r| {
                    let namespace = r.text(1)?;
                    let name = r.text(2)?;
                    Ok(VulnerablePlacement {
                        uuid: r.text(0)?,
                        repository: if namespace.is_empty() {
                            name
                        } else {
                            format!("{namespace}/{name}")
                        },
                        tag: r.text(3)?,
                        vul_count: r.int(4)?,
                        severity: r.text(5)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            // Integer division groups by UTC day in both engines.
            let trend = tx
                .query(
                    "SELECT t.scan_finished_ms / $3 AS day, CAST(COALESCE(SUM(s.vul_count), 0) AS BIGINT), COUNT(*) \
                     FROM image_tags t JOIN image_scans s ON s.image = t.image \
                     WHERE t.tenant_id = $1 AND t.scan_state = 'succeeded' AND t.scan_finished_ms >= $2 \
                     GROUP BY day ORDER BY day",
                    &[tenant.0.into(), since_ms.into(), DAY_MS.into()],
                )?
                .iter()
                .map(|r| {
                    Ok(TrendDay {
                        day: r.int(0)?,
                        vulnerabilities: r.int(1)?,
                        scans: r.int(2)?,
                    })
                })
                .collect::<Result<Vec<_>, StoreError>>()?;
            Ok(Overview {
                by_state,
                by_severity,
                top_vulnerable,
                trend,
            })
        })
    }
}
