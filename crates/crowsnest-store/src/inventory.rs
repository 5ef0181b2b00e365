//! Registries, repositories, images by digest, their tags (placements) and latest scans, and
//! the placement query both cloud APIs list images with.

use std::sync::Arc;

use crowsnest_model::Digest;

use crate::filter::{Filter, Tables};
use crate::list_cache::PageKey;
use crate::sql::{Row, Tx, Value};
use crate::{now_ms, Store, StoreError, TenantId};

/// A registry (or managed-registry instance) to record.
#[derive(Clone, Debug, Default)]
pub struct NewRegistry {
    /// External id, unique across the store.
    pub uid: String,
    /// Display name.
    pub name: String,
    /// acr, harbor, quay, CI/CD, SwrPrivate, SwrShared, SwrEnterprise, Harbor, Jfrog, Other.
    pub registry_type: String,
    /// Region.
    pub region_id: String,
    /// Managed-registry instance id ('' when none).
    pub instance_id: String,
    /// Managed-registry instance name.
    pub instance_name: String,
    /// Managed-registry instance URL.
    pub instance_url: String,
    /// Endpoint addresses.
    pub endpoints: Vec<String>,
    /// Enterprise project ('0' is the default project).
    pub enterprise_project_id: String,
    /// Resource group ('' when none).
    pub resource_group_id: String,
}

/// A repository to record.
#[derive(Clone, Debug, Default)]
pub struct NewRepository {
    /// External id, unique across the store.
    pub uid: String,
    /// Namespace (organisation).
    pub namespace: String,
    /// Name.
    pub name: String,
    /// private or public.
    pub repo_type: String,
    /// private_image, shared_image, instance_image, harbor, jfrog.
    pub image_type: String,
}

/// An image (manifest or index) to record; stored once per digest.
#[derive(Clone, Debug)]
pub struct NewImage {
    /// Manifest digest.
    pub digest: Digest,
    /// Config digest (the image id); None for an index.
    pub config_digest: Option<Digest>,
    /// Compressed size in bytes.
    pub size_bytes: i64,
    /// Creation time from the image config, ms.
    pub created_ms: i64,
    /// True for a multi-arch index.
    pub is_multiarch: bool,
}

/// A tag to record: `repository:tag` points at `image`.
#[derive(Clone, Debug, Default)]
pub struct NewTag {
    /// Tag.
    pub tag: String,
    /// When the tag last changed, ms.
    pub updated_ms: i64,
    /// When the tag was last synchronised, ms.
    pub synced_ms: i64,
    /// Newest tag of its repository.
    pub latest_version: bool,
    /// Deployed somewhere.
    pub deployed: bool,
    /// Usage label (Alibaba SourceBizTag).
    pub source_biz_tag: String,
    /// Owner of a shared image (Huawei domain_name).
    pub domain_name: String,
    /// expired or effective for shared images, '' otherwise.
    pub shared_status: String,
    /// Whether the image can be scanned.
    pub scannable: bool,
}

/// The state of an image's latest scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ScanState {
    /// Queued.
    Waiting,
    /// In progress.
    Running,
    /// Finished; the counts are valid.
    Succeeded,
    /// Finished with a failure code.
    Failed,
}

impl ScanState {
    /// The stored string.
    pub fn as_str(self) -> &'static str {
        match self {
            ScanState::Waiting => "waiting",
            ScanState::Running => "running",
            ScanState::Succeeded => "succeeded",
            ScanState::Failed => "failed",
        }
    }
}

/// The latest scan of an image digest.
#[derive(Clone, Debug)]
pub struct ScanRecord {
    /// State.
    pub state: ScanState,
    /// Alibaba stage name while running ('' otherwise).
    pub stage: String,
    /// 0..=100.
    pub progress: i64,
    /// Failure code (Huawei vocabulary) when failed.
    pub failure_code: String,
    /// Vulnerabilities.
    pub vul_count: i64,
    /// Failed baseline checks.
    pub baseline_count: i64,
    /// Malicious files.
    pub malicious_count: i64,
    /// Alarms.
    pub alarm_count: i64,
    /// Security, Low, Medium, High ('' until succeeded).
    pub severity: String,
    /// Start, ms.
    pub started_ms: Option<i64>,
    /// End, ms.
    pub finished_ms: Option<i64>,
}

impl ScanRecord {
    /// A scan that succeeded between `started_ms` and `finished_ms`, with no findings yet: the
    /// caller sets the counts and level it found.
    pub fn succeeded(started_ms: i64, finished_ms: i64) -> ScanRecord {
        ScanRecord {
            state: ScanState::Succeeded,
            stage: String::new(),
            progress: 100,
            failure_code: String::new(),
            vul_count: 0,
            baseline_count: 0,
            malicious_count: 0,
            alarm_count: 0,
            severity: String::new(),
            started_ms: Some(started_ms),
            finished_ms: Some(finished_ms),
        }
    }

    /// A scan that ended at `at_ms` with the failure `code` (Huawei's vocabulary).
    pub fn failed(code: &str, at_ms: i64) -> ScanRecord {
        ScanRecord {
            state: ScanState::Failed,
            failure_code: code.to_owned(),
            ..ScanRecord::succeeded(at_ms, at_ms)
        }
    }
}

/// How placements are ordered.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum PlacementOrder {
    /// Insertion order (stable paging).
    #[default]
    Id,
    /// Latest scan time ascending, never-scanned first.
    LastScanAsc,
    /// Latest scan time descending.
    LastScanDesc,
}

/// A page request over a tenant's placements.
#[derive(Clone, Debug)]
pub struct PlacementQuery {
    /// The condition.
    pub filter: Filter,
    /// Order.
    pub order: PlacementOrder,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return at most.
    pub limit: i64,
}

/// One page of placements and the total that matched.
#[derive(Clone, Debug)]
pub struct PlacementPage {
    /// How many placements matched the filter.
    pub total: i64,
    /// The rows of this page.
    pub rows: Vec<PlacementRow>,
}

/// An image placement with everything the cloud APIs report about it.
#[derive(Clone, Debug, PartialEq)]
pub struct PlacementRow {
    /// Placement id.
    pub id: i64,
    /// Placement UUID.
    pub uuid: String,
    /// Tag.
    pub tag: String,
    /// Tag changed, ms.
    pub updated_ms: i64,
    /// Tag synchronised, ms.
    pub synced_ms: i64,
    /// Newest tag of its repository.
    pub latest_version: bool,
    /// Deployed.
    pub deployed: bool,
    /// Usage label.
    pub source_biz_tag: String,
    /// Placement status.
    pub status: String,
    /// Shared-image owner.
    pub domain_name: String,
    /// Shared-image status.
    pub shared_status: String,
    /// Scannable.
    pub scannable: bool,
    /// External repository id.
    pub repo_uid: String,
    /// Namespace.
    pub namespace: String,
    /// Repository name.
    pub repo_name: String,
    /// private or public.
    pub repo_type: String,
    /// Huawei image type.
    pub image_type: String,
    /// External registry id.
    pub registry_uid: String,
    /// Registry name.
    pub registry_name: String,
    /// Registry type.
    pub registry_type: String,
    /// Region.
    pub region_id: String,
    /// Instance id.
    pub instance_id: String,
    /// Instance name.
    pub instance_name: String,
    /// Instance URL.
    pub instance_url: String,
    /// Endpoints as a JSON array.
    pub endpoints: String,
    /// Enterprise project.
    pub enterprise_project_id: String,
    /// Image row id.
    pub image_row: i64,
    /// Manifest digest, `sha256:…`.
    pub digest: String,
    /// Config digest, `sha256:…` or ''.
    pub config_digest: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Image creation, ms.
    pub created_ms: i64,
    /// Multi-arch index.
    pub is_multiarch: bool,
    /// The latest scan, if any.
    pub scan: Option<ScanSummary>,
}

/// The latest scan as read back.
#[derive(Clone, Debug, PartialEq)]
pub struct ScanSummary {
    /// waiting, running, succeeded, failed.
    pub state: String,
    /// Alibaba stage.
    pub stage: String,
    /// 0..=100.
    pub progress: i64,
    /// Failure code.
    pub failure_code: String,
    /// Vulnerabilities.
    pub vul_count: i64,
    /// Failed baseline checks.
    pub baseline_count: i64,
    /// Malicious files.
    pub malicious_count: i64,
    /// Alarms.
    pub alarm_count: i64,
    /// Severity.
    pub severity: String,
    /// End, ms.
    pub finished_ms: Option<i64>,
}

/// A child manifest of a multi-arch index, with its own latest scan.
#[derive(Clone, Debug, PartialEq)]
pub struct ImageChild {
    /// The index's image row.
    pub index_row: i64,
    /// The child's image row.
    pub image_row: i64,
    /// Child digest.
    pub digest: String,
    /// Child config digest.
    pub config_digest: String,
    /// os/arch[/variant].
    pub platform: String,
    /// Its latest scan.
    pub scan: Option<ScanSummary>,
}

const SCAN_COLUMNS: &str = "s.state, s.stage, s.progress, s.failure_code, s.vul_count, \
    s.baseline_count, s.malicious_count, s.alarm_count, s.severity, s.finished_ms";

fn scan_from(row: &Row, at: usize) -> Result<Option<ScanSummary>, StoreError> {
    if matches!(row.0.get(at), None | Some(Value::Null)) {
        return Ok(None);
    }
    Ok(Some(ScanSummary {
        state: row.text(at)?,
        stage: row.text(at + 1)?,
        progress: row.int(at + 2)?,
        failure_code: row.text(at + 3)?,
        vul_count: row.int(at + 4)?,
        baseline_count: row.int(at + 5)?,
        malicious_count: row.int(at + 6)?,
        alarm_count: row.int(at + 7)?,
        severity: row.text(at + 8)?,
        finished_ms: row.opt_int(at + 9)?,
    }))
}

const PLACEMENT_FROM: &str = "FROM image_tags t \
    JOIN repositories r ON r.id = t.repository_id \
    JOIN registries g ON g.id = r.registry_id \
    JOIN images i ON i.id = t.image \
    LEFT JOIN image_scans s ON s.image = i.id";

/// The joins from `image_tags t` that `tables` need, in the placement query's aliases.
fn joins(tables: Tables) -> String {
    let mut sql = String::new();
    if tables.repository || tables.registry {
        sql.push_str(" JOIN repositories r ON r.id = t.repository_id");
    }
    if tables.registry {
        sql.push_str(" JOIN registries g ON g.id = r.registry_id");
    }
    if tables.image {
        sql.push_str(" JOIN images i ON i.id = t.image");
    }
    if tables.scan {
        sql.push_str(" LEFT JOIN image_scans s ON s.image = t.image");
    }
    sql
}

fn placement_from(row: &Row) -> Result<PlacementRow, StoreError> {
    Ok(PlacementRow {
        id: row.int(0)?,
        uuid: row.text(1)?,
        tag: row.text(2)?,
        updated_ms: row.int(3)?,
        synced_ms: row.int(4)?,
        latest_version: row.bool(5)?,
        deployed: row.bool(6)?,
        source_biz_tag: row.text(7)?,
        status: row.text(8)?,
        domain_name: row.text(9)?,
        shared_status: row.text(10)?,
        scannable: row.bool(11)?,
        repo_uid: row.text(12)?,
        namespace: row.text(13)?,
        repo_name: row.text(14)?,
        repo_type: row.text(15)?,
        image_type: row.text(16)?,
        registry_uid: row.text(17)?,
        registry_name: row.text(18)?,
        registry_type: row.text(19)?,
        region_id: row.text(20)?,
        instance_id: row.text(21)?,
        instance_name: row.text(22)?,
        instance_url: row.text(23)?,
        endpoints: row.text(24)?,
        enterprise_project_id: row.text(25)?,
        image_row: row.int(26)?,
        digest: row.text(27)?,
        config_digest: row.text(28)?,
        size_bytes: row.int(29)?,
        created_ms: row.int(30)?,
        is_multiarch: row.bool(31)?,
        scan: scan_from(row, 32)?,
    })
}

/// The latest scan of an image as the placements copy it (see migration 4).
pub(crate) struct ScanCopy {
    /// COALESCE(state, 'unscanned').
    pub(crate) state: String,
    /// Any count positive.
    pub(crate) risky: bool,
    /// COALESCE(finished_ms, 0).
    pub(crate) finished_ms: i64,
}

pub(crate) fn scan_copy_of(tx: &mut Tx<'_>, image_row: i64) -> Result<ScanCopy, StoreError> {
    let row = tx.query_opt(
        "SELECT state, CASE WHEN vul_count > 0 OR baseline_count > 0 OR malicious_count > 0 \
         OR alarm_count > 0 THEN 1 ELSE 0 END, COALESCE(finished_ms, 0) \
         FROM image_scans WHERE image = $1",
        &[image_row.into()],
    )?;
    match row {
        Some(row) => Ok(ScanCopy {
            state: row.text(0)?,
            risky: row.int(1)? > 0,
            finished_ms: row.int(2)?,
        }),
        None => Ok(ScanCopy {
            state: "unscanned".into(),
            risky: false,
            finished_ms: 0,
        }),
    }
}

/// Adds `delta` to the number of `repository`'s placements with this scan state and risk.
pub(crate) fn count_placements(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    repository: i64,
    state: &str,
    risky: impl Into<Value>,
    delta: i64,
) -> Result<(), StoreError> {
    tx.execute(
        "INSERT INTO placement_counts (tenant_id, repository_id, scan_state, scan_risky, n) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (tenant_id, repository_id, scan_state, scan_risky) \
         DO UPDATE SET n = placement_counts.n + excluded.n",
        &[
            tenant.0.into(),
            repository.into(),
            state.into(),
            risky.into(),
            delta.into(),
        ],
    )?;
    Ok(())
}

/// What a placements query runs, and the keys its answers are remembered under.
struct PlacementPlan {
    params: Vec<Value>,
    count_sql: String,
    count_key: String,
    ids_base: String,
    ids_key: String,
    page_key: String,
    /// The ORDER BY list of the page.
    order: &'static str,
    offset: i64,
    limit: i64,
}

fn placement_plan(tenant: TenantId, query: &PlacementQuery) -> PlacementPlan {
    let mut tables = Tables::default();
    query.filter.tables(&mut tables);
    // A placement's tenant is its repository's (put_tag copies it), so when the filter
    // reads the repository anyway the tenant condition goes there: the query then starts
    // from the tenant's few matching repositories and counts through an index on
    // image_tags(repository_id) without reading placement rows.
    let mut params: Vec<Value> = vec![tenant.0.into()];
    let mut filter_sql = String::new();
    query.filter.to_sql(&mut filter_sql, &mut params);
    // The same tenant stays on image_tags too: with it the planner can also walk the
    // tenant-leading image_tags indexes in the page's order and stop after LIMIT rows,
    // which it cannot from the repository side (a sort by scan time over a million
    // placements took seconds, with it well under a millisecond), and it still starts from
    // the repositories when the filter names a few.
    let where_sql = if tables.repository || tables.registry {
        format!("t.tenant_id = $1 AND r.tenant_id = $1 AND ({filter_sql})")
    } else {
        format!("t.tenant_id = $1 AND ({filter_sql})")
    };
    // The scan copies on image_tags order the page through the scan-time indexes.
    let order = match query.order {
        PlacementOrder::Id => "t.id",
        PlacementOrder::LastScanAsc => "t.scan_finished_ms, t.id",
        PlacementOrder::LastScanDesc => "t.scan_finished_ms DESC, t.id",
    };
    // A filter on repository, registry, scan state and risk only is counted by summing
    // the per-repository counts (aliased t: it has the same scan_state and scan_risky
    // columns) instead of visiting every matching placement.
    let count_sql = if query.filter.countable_from_summary() {
        format!(
            "SELECT CAST(COALESCE(SUM(t.n), 0) AS BIGINT) FROM placement_counts t{} \
             WHERE t.tenant_id = $1 AND ({filter_sql})",
            joins(tables)
        )
    } else {
        format!(
            "SELECT COUNT(*) FROM image_tags t{} WHERE {where_sql}",
            joins(tables)
        )
    };
    // The cache keys: the statement and its values (the tenant is $1).
    let count_key = format!("{count_sql}\n{params:?}");
    let ids_base = format!(
        "SELECT t.id, t.scan_finished_ms FROM image_tags t{} WHERE {where_sql}",
        joins(tables)
    );
    let ids_key = format!("{ids_base}\n{order}\n{params:?}");
    let offset = query.offset.max(0);
    let limit = query.limit.max(0);
    // The whole page is remembered too: the same request at the same generation is
    // answered without SQL (list_cache.rs).
    let page_key = format!("{ids_key}\n{offset}\n{limit}");
    PlacementPlan {
        params,
        count_sql,
        count_key,
        ids_base,
        ids_key,
        page_key,
        order,
        offset,
        limit,
    }
}

/// The inventory's generation as this transaction sees it (migration 8, list_cache.rs).
pub(crate) fn generation(tx: &mut Tx<'_>) -> Result<i64, StoreError> {
    tx.query_one("SELECT n FROM store_generation WHERE id = 1", &[])?
        .int(0)
}

fn registry_owner(tx: &mut Tx<'_>, registry: i64) -> Result<TenantId, StoreError> {
    tx.query_opt(
        "SELECT tenant_id FROM registries WHERE id = $1",
        &[registry.into()],
    )?
    .ok_or(StoreError::NotFound("registry"))?
    .int(0)
    .map(TenantId)
}

impl Store {
    /// Records a registry for `tenant`, or updates the one with the same uid. Returns its row id.
    pub fn upsert_registry(&self, tenant: TenantId, reg: &NewRegistry) -> Result<i64, StoreError> {
        let endpoints = serde_json::to_string(&reg.endpoints)
            .map_err(|e| StoreError::Corrupt(e.to_string()))?;
        self.write(|tx| {
            tx.query_opt(
                "INSERT INTO registries (tenant_id, uid, name, registry_type, region_id, instance_id, \
                 instance_name, instance_url, endpoints, enterprise_project_id, resource_group_id, created_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
                 ON CONFLICT (uid) DO UPDATE SET name = excluded.name, registry_type = excluded.registry_type, \
                 region_id = excluded.region_id, instance_id = excluded.instance_id, \
                 instance_name = excluded.instance_name, instance_url = excluded.instance_url, \
                 endpoints = excluded.endpoints, enterprise_project_id = excluded.enterprise_project_id, \
                 resource_group_id = excluded.resource_group_id \
                 WHERE registries.tenant_id = excluded.tenant_id \
                 RETURNING id",
                &[
                    tenant.0.into(),
                    reg.uid.as_str().into(),
                    reg.name.as_str().into(),
                    reg.registry_type.as_str().into(),
                    reg.region_id.as_str().into(),
                    reg.instance_id.as_str().into(),
                    reg.instance_name.as_str().into(),
                    reg.instance_url.as_str().into(),
                    endpoints.into(),
                    non_empty_or(&reg.enterprise_project_id, "0").into(),
                    reg.resource_group_id.as_str().into(),
                    now_ms().into(),
                ],
            )?
            // The conditional update returns no row when the uid belongs to another tenant.
            .ok_or(StoreError::NotFound("registry of this tenant"))?
            .int(0)
        })
    }

    /// Records a repository in `registry`, or updates the one with the same uid.
    pub fn upsert_repository(
        &self,
        registry: i64,
        repo: &NewRepository,
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            let tenant = registry_owner(tx, registry)?;
            tx.query_opt(
                "INSERT INTO repositories (tenant_id, registry_id, uid, namespace, name, repo_type, image_type) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (uid) DO UPDATE SET namespace = excluded.namespace, name = excluded.name, \
                 repo_type = excluded.repo_type, image_type = excluded.image_type \
                 WHERE repositories.registry_id = excluded.registry_id \
                 RETURNING id",
                &[
                    tenant.0.into(),
                    registry.into(),
                    repo.uid.as_str().into(),
                    repo.namespace.as_str().into(),
                    repo.name.as_str().into(),
                    non_empty_or(&repo.repo_type, "private").into(),
                    non_empty_or(&repo.image_type, "private_image").into(),
                ],
            )?
            .ok_or(StoreError::NotFound("repository of this registry"))?
            .int(0)
        })
    }

    /// Records an image by digest (once, whoever asks) and returns its row id. Facts already
    /// known are updated, since a later pull may know the size or config better.
    pub fn upsert_image(&self, image: &NewImage) -> Result<i64, StoreError> {
        self.write(|tx| upsert_image_in(tx, image))
    }

    /// Records that the index image `index_row` contains `child_row` for `platform`.
    pub fn add_image_child(
        &self,
        index_row: i64,
        child_row: i64,
        platform: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO image_children (index_image, child_image, platform) VALUES ($1, $2, $3) \
                 ON CONFLICT (index_image, child_image) DO UPDATE SET platform = excluded.platform",
                &[index_row.into(), child_row.into(), platform.into()],
            )?;
            Ok(())
        })
    }

    /// Points `repository:tag` at `image_row`, creating the placement (with a fresh UUID) or
    /// moving it. Returns the placement id.
    pub fn put_tag(
        &self,
        repository: i64,
        image_row: i64,
        tag: &NewTag,
    ) -> Result<i64, StoreError> {
        self.write(|tx| {
            let tenant = tx
                .query_opt("SELECT tenant_id FROM repositories WHERE id = $1", &[repository.into()])?
                .ok_or(StoreError::NotFound("repository"))?
                .int(0)?;
            let before = tx
                .query_opt(
                    "SELECT scan_state, scan_risky FROM image_tags WHERE repository_id = $1 AND tag = $2",
                    &[repository.into(), tag.tag.as_str().into()],
                )?
                .map(|row| Ok::<_, StoreError>((row.text(0)?, row.int(1)?)))
                .transpose()?;
            let copy = scan_copy_of(tx, image_row)?;
            let id = tx.query_one(
                "INSERT INTO image_tags (tenant_id, repository_id, image, tag, uuid, updated_ms, synced_ms, \
                 latest_version, deployed, source_biz_tag, domain_name, shared_status, scannable, \
                 scan_state, scan_risky, scan_finished_ms) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16) \
                 ON CONFLICT (repository_id, tag) DO UPDATE SET image = excluded.image, \
                 updated_ms = excluded.updated_ms, synced_ms = excluded.synced_ms, \
                 latest_version = excluded.latest_version, deployed = excluded.deployed, \
                 source_biz_tag = excluded.source_biz_tag, domain_name = excluded.domain_name, \
                 shared_status = excluded.shared_status, scannable = excluded.scannable, \
                 scan_state = excluded.scan_state, scan_risky = excluded.scan_risky, \
                 scan_finished_ms = excluded.scan_finished_ms \
                 RETURNING id",
                &[
                    tenant.into(),
                    repository.into(),
                    image_row.into(),
                    tag.tag.as_str().into(),
                    uuid::Uuid::new_v4().to_string().into(),
                    tag.updated_ms.into(),
                    tag.synced_ms.into(),
                    tag.latest_version.into(),
                    tag.deployed.into(),
                    tag.source_biz_tag.as_str().into(),
                    tag.domain_name.as_str().into(),
                    tag.shared_status.as_str().into(),
                    tag.scannable.into(),
                    copy.state.as_str().into(),
                    copy.risky.into(),
                    copy.finished_ms.into(),
                ],
            )?
            .int(0)?;
            let tenant = TenantId(tenant);
            if let Some((state, risky)) = before {
                count_placements(tx, tenant, repository, &state, risky, -1)?;
            }
            count_placements(tx, tenant, repository, &copy.state, copy.risky, 1)?;
            Ok(id)
        })
    }

    /// Replaces the latest scan of an image digest; every placement of the digest sees it.
    pub fn record_scan(&self, image_row: i64, scan: &ScanRecord) -> Result<(), StoreError> {
        self.write(|tx| record_scan_in(tx, image_row, scan))
    }

    /// One page of `tenant`'s placements matching the query, and how many matched in all.
    ///
    /// The count and the page's ids are computed over `image_tags` joined only to the tables
    /// the filter and the order read (the tenant index then answers an unfiltered count and a
    /// deep page without touching other tables); the page's full rows are then read by id.
    pub fn placements(
        &self,
        tenant: TenantId,
        query: &PlacementQuery,
    ) -> Result<Arc<PlacementPage>, StoreError> {
        self.placements_seen(tenant, query, None)
    }

    /// [`Store::placements`] for a request that already knows a store generation no older
    /// than itself (the one its nonce claim saw, see `nonce_claims`): a page remembered at
    /// that generation is answered without a transaction.
    pub fn placements_seen(
        &self,
        tenant: TenantId,
        query: &PlacementQuery,
        seen_generation: Option<i64>,
    ) -> Result<Arc<PlacementPage>, StoreError> {
        let PlacementPlan {
            params,
            count_sql,
            count_key,
            ids_base,
            ids_key,
            page_key,
            order,
            offset,
            limit,
        } = placement_plan(tenant, query);
        self.cached_list(
            &page_key,
            seen_generation,
            |p: &PlacementPage| p.rows.len(),
            |tx, generation| {
                let total = self.cached_total(tx, generation, &count_sql, &count_key, &params)?;
                if limit == 0 || offset >= total {
                    return Ok(PlacementPage {
                        total,
                        rows: Vec::new(),
                    });
                }
                // Continue from the nearest remembered position instead of skipping every row
                // before `offset`.
                let mut page_params = params.clone();
                let mut ids_sql = ids_base.clone();
                let mut skip = offset;
                if let Some((position, key)) = self.lists.position(generation, &ids_key, offset) {
                    skip = offset - position;
                    page_params.push(key.id.into());
                    let id = page_params.len();
                    if query.order != PlacementOrder::Id {
                        page_params.push(key.scan_ms.into());
                    }
                    let ms = page_params.len();
                    ids_sql.push_str(&match query.order {
                        PlacementOrder::Id => format!(" AND t.id > ${id}"),
                        // Row values seek the (tenant, scan time, id) index to the key.
                        PlacementOrder::LastScanAsc => {
                            format!(" AND (t.scan_finished_ms, t.id) > (${ms}, ${id})")
                        }
                        // Mixed directions have no row-value form: the first condition seeks the
                        // descending index, the second drops the earlier rows of the key's time.
                        PlacementOrder::LastScanDesc => format!(
                            " AND t.scan_finished_ms <= ${ms} AND (t.scan_finished_ms < ${ms} OR t.id > ${id})"
                        ),
                    });
                }
                // One row more, before the page, whose key is remembered as the position of
                // `offset` itself: the next request for this page (or the one after it) then skips
                // nothing.
                let before_page = i64::from(skip > 0);
                page_params.push((limit + before_page).into());
                page_params.push((skip - before_page).into());
                ids_sql.push_str(&format!(
                    " ORDER BY {order} LIMIT ${} OFFSET ${}",
                    page_params.len() - 1,
                    page_params.len()
                ));
                let keys: Vec<PageKey> = tx
                    .query(&ids_sql, &page_params)?
                    .iter()
                    .map(|r| {
                        Ok(PageKey {
                            id: r.int(0)?,
                            scan_ms: r.int(1)?,
                        })
                    })
                    .collect::<Result<_, StoreError>>()?;
                let mut keys = keys.as_slice();
                if before_page == 1 {
                    let Some((first, page)) = keys.split_first() else {
                        return Ok(PlacementPage {
                            total,
                            rows: Vec::new(),
                        });
                    };
                    self.lists.put_position(generation, &ids_key, offset, *first);
                    keys = page;
                }
                let Some(last) = keys.last() else {
                    return Ok(PlacementPage {
                        total,
                        rows: Vec::new(),
                    });
                };
                let end = offset + keys.len() as i64;
                self.lists.put_position(generation, &ids_key, end, *last);
                let ids: Vec<Value> = keys.iter().map(|k| Value::Int(k.id)).collect();
                let list = (1..=ids.len())
                    .map(|n| format!("${n}"))
                    .collect::<Vec<_>>()
                    .join(", ");
                let rows_sql = format!(
                    "SELECT t.id, t.uuid, t.tag, t.updated_ms, t.synced_ms, t.latest_version, t.deployed, \
                     t.source_biz_tag, t.status, t.domain_name, t.shared_status, t.scannable, \
                     r.uid, r.namespace, r.name, r.repo_type, r.image_type, \
                     g.uid, g.name, g.registry_type, g.region_id, g.instance_id, g.instance_name, \
                     g.instance_url, g.endpoints, g.enterprise_project_id, \
                     i.id, i.digest, i.config_digest, i.size_bytes, i.created_ms, i.is_multiarch, {SCAN_COLUMNS} \
                     {PLACEMENT_FROM} WHERE t.id IN ({list}) ORDER BY {order}"
                );
                let rows = tx
                    .query(&rows_sql, &ids)?
                    .iter()
                    .map(placement_from)
                    .collect::<Result<Vec<_>, _>>()?;
                Ok(PlacementPage { total, rows })
            },
        )
    }

    /// The page [`Store::placements`] answers, if it is remembered at `generation`; never
    /// touches the database, so async callers may ask on their own thread.
    pub fn cached_placements(
        &self,
        tenant: TenantId,
        query: &PlacementQuery,
        generation: i64,
    ) -> Option<Arc<PlacementPage>> {
        self.lists
            .page(generation, &placement_plan(tenant, query).page_key)
    }

    /// Runs `compute` (given the transaction and its store generation) in one read
    /// transaction, unless the page under `page_key` is remembered at that generation; a
    /// computed page is remembered, weighed by `rows` (list_cache.rs). When another request
    /// is computing the same page, this one waits for it (outside any transaction, so it holds
    /// no pooled connection) and reads the page it remembered. With `seen_generation` (see
    /// [`Store::placements_seen`]) a page remembered at it is answered first.
    pub(crate) fn cached_list<P: Send + Sync + 'static>(
        &self,
        page_key: &str,
        seen_generation: Option<i64>,
        rows: fn(&P) -> usize,
        compute: impl FnOnce(&mut Tx<'_>, i64) -> Result<P, StoreError>,
    ) -> Result<Arc<P>, StoreError> {
        if let Some(page) = seen_generation.and_then(|g| self.lists.page::<P>(g, page_key)) {
            return Ok(page);
        }
        let mut compute = Some(compute);
        loop {
            let answer = self.read(|tx| {
                let generation = generation(tx)?;
                if let Some(page) = self.lists.page::<P>(generation, page_key) {
                    return Ok(Ok(page));
                }
                let Some(_flight) = self.lists.lead(generation, page_key) else {
                    return Ok(Err(generation));
                };
                // Only a leader computes, and a leader returns, so this runs at most once.
                let Some(compute) = compute.take() else {
                    return Err(StoreError::Corrupt("a list page was computed twice".into()));
                };
                let page = Arc::new(compute(tx, generation)?);
                self.lists
                    .put_page(generation, page_key, Arc::clone(&page), rows(&page));
                Ok(Ok(page))
            })?;
            match answer {
                Ok(page) => return Ok(page),
                Err(generation) => self.lists.wait_for(generation, page_key),
            }
        }
    }

    /// The count `count_sql` returns, remembered under `count_key` at `generation`.
    pub(crate) fn cached_total(
        &self,
        tx: &mut Tx<'_>,
        generation: i64,
        count_sql: &str,
        count_key: &str,
        params: &[Value],
    ) -> Result<i64, StoreError> {
        if let Some(total) = self.lists.total(generation, count_key) {
            return Ok(total);
        }
        let total = tx.query_one(count_sql, params)?.int(0)?;
        self.lists.put_total(generation, count_key, total);
        Ok(total)
    }

    /// The children of the given multi-arch index images, each with its latest scan.
    /// Remembered per store generation like list pages (`cached_list`).
    pub fn image_children(&self, index_rows: &[i64]) -> Result<Arc<Vec<ImageChild>>, StoreError> {
        if index_rows.is_empty() {
            return Ok(Arc::default());
        }
        let placeholders: Vec<String> = (1..=index_rows.len()).map(|n| format!("${n}")).collect();
        let sql = format!(
            "SELECT c.index_image, i.id, i.digest, i.config_digest, c.platform, {SCAN_COLUMNS} \
             FROM image_children c JOIN images i ON i.id = c.child_image \
             LEFT JOIN image_scans s ON s.image = i.id \
             WHERE c.index_image IN ({}) ORDER BY c.index_image, c.platform, i.id",
            placeholders.join(", ")
        );
        let params: Vec<Value> = index_rows.iter().map(|r| Value::Int(*r)).collect();
        // Remembered like the page they belong to: the same page asks for the same children
        // until the inventory changes.
        let page_key = format!("children:{index_rows:?}");
        self.cached_list(&page_key, None, Vec::len, |tx, _generation| {
            tx.query(&sql, &params)?
                .iter()
                .map(|row| {
                    Ok(ImageChild {
                        index_row: row.int(0)?,
                        image_row: row.int(1)?,
                        digest: row.text(2)?,
                        config_digest: row.text(3)?,
                        platform: row.text(4)?,
                        scan: scan_from(row, 5)?,
                    })
                })
                .collect()
        })
    }
}

fn non_empty_or<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() {
        default
    } else {
        value
    }
}

/// The body of [`Store::upsert_image`], for a transaction a caller already holds.
pub(crate) fn upsert_image_in(tx: &mut Tx<'_>, image: &NewImage) -> Result<i64, StoreError> {
    tx.query_one(
            "INSERT INTO images (digest, config_digest, size_bytes, created_ms, is_multiarch, first_seen_ms) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (digest) DO UPDATE SET config_digest = excluded.config_digest, \
             size_bytes = excluded.size_bytes, created_ms = excluded.created_ms, \
             is_multiarch = excluded.is_multiarch \
             RETURNING id",
            &[
                image.digest.to_string().into(),
                image
                    .config_digest
                    .as_ref()
                    .map(ToString::to_string)
                    .unwrap_or_default()
                    .into(),
                image.size_bytes.into(),
                image.created_ms.into(),
                image.is_multiarch.into(),
                now_ms().into(),
            ],
        )?
        .int(0)
}

/// The body of [`Store::record_scan`], for a transaction a caller already holds.
pub(crate) fn record_scan_in(
    tx: &mut Tx<'_>,
    image_row: i64,
    scan: &ScanRecord,
) -> Result<(), StoreError> {
    // The placements' copies before the change, grouped as placement_counts counts them.
    let groups = tx.query(
        "SELECT tenant_id, repository_id, scan_state, scan_risky, COUNT(*) FROM image_tags \
             WHERE image = $1 GROUP BY tenant_id, repository_id, scan_state, scan_risky",
        &[image_row.into()],
    )?;
    tx.execute(
        "INSERT INTO image_scans (image, state, stage, progress, failure_code, vul_count, \
             baseline_count, malicious_count, alarm_count, severity, started_ms, finished_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) \
             ON CONFLICT (image) DO UPDATE SET state = excluded.state, stage = excluded.stage, \
             progress = excluded.progress, failure_code = excluded.failure_code, \
             vul_count = excluded.vul_count, baseline_count = excluded.baseline_count, \
             malicious_count = excluded.malicious_count, alarm_count = excluded.alarm_count, \
             severity = excluded.severity, started_ms = excluded.started_ms, \
             finished_ms = excluded.finished_ms",
        &[
            image_row.into(),
            scan.state.as_str().into(),
            scan.stage.as_str().into(),
            scan.progress.clamp(0, 100).into(),
            scan.failure_code.as_str().into(),
            scan.vul_count.into(),
            scan.baseline_count.into(),
            scan.malicious_count.into(),
            scan.alarm_count.into(),
            scan.severity.as_str().into(),
            scan.started_ms.into(),
            scan.finished_ms.into(),
        ],
    )?;
    if groups.is_empty() {
        return Ok(());
    }
    let copy = scan_copy_of(tx, image_row)?;
    tx.execute(
        "UPDATE image_tags SET scan_state = $2, scan_risky = $3, scan_finished_ms = $4 \
             WHERE image = $1",
        &[
            image_row.into(),
            copy.state.as_str().into(),
            copy.risky.into(),
            copy.finished_ms.into(),
        ],
    )?;
    for group in &groups {
        let tenant = TenantId(group.int(0)?);
        let repository = group.int(1)?;
        let n = group.int(4)?;
        count_placements(tx, tenant, repository, &group.text(2)?, group.int(3)?, -n)?;
        count_placements(tx, tenant, repository, &copy.state, copy.risky, n)?;
    }
    Ok(())
}
