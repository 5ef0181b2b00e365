//! Where images run: hosts with the agent, the images in their local stores (Huawei
//! ListLocalImages), containers, Kubernetes pods, and the applications identified inside an
//! image digest. A local image is one row per tenant, name, version and digest however many
//! hosts hold it; its scan is the digest's latest scan, shared with every registry placement.

use crate::sql::{Row, Tx, Value};
use crate::{now_ms, EngineKind, Store, StoreError, TenantId};

/// A host to record (keyed by tenant and `uid`).
#[derive(Clone, Debug, Default)]
pub struct NewHost {
    /// The cloud's host id, unique within the tenant.
    pub uid: String,
    /// Host name.
    pub name: String,
    /// The agent's id on the host.
    pub agent_id: String,
    /// Private IPv4 address ('' when unknown).
    pub private_ip: String,
    /// Public IPv4 address ('' when none).
    pub public_ip: String,
    /// Region.
    pub region_id: String,
    /// Enterprise project ('' means the default project '0').
    pub enterprise_project_id: String,
    /// linux or windows.
    pub os_type: String,
}

/// An image in hosts' local stores.
#[derive(Clone, Debug, Default)]
pub struct NewLocalImage {
    /// The image row (from [`Store::upsert_image`]).
    pub image_row: i64,
    /// Repository name as the runtime shows it (`nginx`, `swr.example.com/team/web`).
    pub image_name: String,
    /// Tag.
    pub image_version: String,
    /// swr_image or other_image ('' means other_image).
    pub local_image_type: String,
    /// Enterprise project ('' means '0').
    pub enterprise_project_id: String,
    /// When this version last changed, ms.
    pub updated_ms: i64,
}

/// A Kubernetes pod to record (keyed by tenant and `uid`).
#[derive(Clone, Debug, Default)]
pub struct NewPod {
    /// Pod UID.
    pub uid: String,
    /// Pod name.
    pub name: String,
    /// Kubernetes namespace.
    pub namespace: String,
    /// Cluster name.
    pub cluster_name: String,
    /// The node's host row, when known.
    pub host_row: Option<i64>,
}

/// A container to record (keyed by tenant and `container_id`).
#[derive(Clone, Debug, Default)]
pub struct NewContainer {
    /// The runtime's container id.
    pub container_id: String,
    /// Container name.
    pub name: String,
    /// The host row it runs on.
    pub host_row: i64,
    /// The local image row it was started from, when known.
    pub local_image_row: Option<i64>,
    /// The pod row it belongs to, if any.
    pub pod_row: Option<i64>,
    /// running, stopped, ...
    pub status: String,
    /// Creation, ms.
    pub created_ms: i64,
}

/// An application identified in an image.
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub struct ImageApp {
    /// Name (nginx, mysql, ...).
    pub name: String,
    /// Version ('' when unknown).
    pub version: String,
}

/// A page request over a tenant's local images, with Huawei ListLocalImages' filters. Text
/// matches are case-sensitive, as the document says; `None` means "not filtered".
#[derive(Clone, Debug, Default)]
pub struct LocalImageQuery {
    /// Enterprise project; None lists all of them.
    pub enterprise_project_id: Option<String>,
    /// Substring of the image name.
    pub image_name_contains: Option<String>,
    /// Exact version.
    pub image_version: Option<String>,
    /// unscan, success, scanning, failed, download_failed, image_oversized, waiting_for_scan.
    pub scan_status: Option<String>,
    /// swr_image or other_image.
    pub local_image_type: Option<String>,
    /// Exact size in bytes.
    pub image_size: Option<i64>,
    /// Inclusive range of the last update time, ms.
    pub updated_between: Option<(i64, i64)>,
    /// Inclusive range of the last scan completion time, ms; only successful scans match.
    pub scanned_between: Option<(i64, i64)>,
    /// With (true) or without (false) vulnerabilities; only successful scans match.
    pub has_vul: Option<bool>,
    /// Substring of the name of a host holding the image.
    pub host_name_contains: Option<String>,
    /// Exact host id of a host holding the image.
    pub host_id: Option<String>,
    /// Private or public IP of a host holding the image.
    pub host_ip: Option<String>,
    /// Exact id of a container started from the image.
    pub container_id: Option<String>,
    /// Substring of the name of a container started from the image.
    pub container_name_contains: Option<String>,
    /// Exact UID of a pod running the image.
    pub pod_id: Option<String>,
    /// Substring of the name of a pod running the image.
    pub pod_name_contains: Option<String>,
    /// Substring of the name of an application in the image.
    pub app_name_contains: Option<String>,
    /// With (true) or without (false) containers.
    pub has_container: Option<bool>,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return at most.
    pub limit: i64,
}

/// One page of local images and the total that matched.
#[derive(Clone, Debug)]
pub struct LocalImagePage {
    /// How many matched.
    pub total: i64,
    /// This page, by local image id.
    pub rows: Vec<LocalImageRow>,
}

/// A local image with what ListLocalImages reports about it.
#[derive(Clone, Debug, PartialEq)]
pub struct LocalImageRow {
    /// Local image id.
    pub id: i64,
    /// Its UUID (Huawei image_id).
    pub uuid: String,
    /// Image name.
    pub image_name: String,
    /// Version.
    pub image_version: String,
    /// Manifest digest.
    pub digest: String,
    /// swr_image or other_image.
    pub local_image_type: String,
    /// Huawei scan status (see [`LocalImageQuery::scan_status`]).
    pub scan_status: String,
    /// Size in bytes.
    pub size_bytes: i64,
    /// Last update, ms.
    pub updated_ms: i64,
    /// Completion of the latest successful scan, ms.
    pub latest_scan_ms: Option<i64>,
    /// Hosts holding the image.
    pub host_num: i64,
    /// Containers started from the image.
    pub container_num: i64,
    /// Components found by the latest scan.
    pub component_num: i64,
    /// Vulnerabilities found by the latest scan.
    pub vul_num: i64,
    /// Security, Low, Medium, High ('' until scanned).
    pub severity_level: String,
    /// The first host holding it (by host id): name, uid and agent id.
    pub host: Option<(String, String, String)>,
    /// Image row id.
    pub image_row: i64,
    /// Enterprise project.
    pub enterprise_project_id: String,
}

/// Huawei's scan status of an image digest, from the latest scan (aliases `s`).
const HUAWEI_SCAN_STATUS: &str = "CASE \
    WHEN s.state IS NULL THEN 'unscan' \
    WHEN s.state = 'waiting' THEN 'waiting_for_scan' \
    WHEN s.state = 'running' THEN 'scanning' \
    WHEN s.state = 'succeeded' THEN 'success' \
    WHEN s.failure_code = 'download_failed' THEN 'download_failed' \
    WHEN s.failure_code IN ('image_oversized', 'image_over_sized') THEN 'image_oversized' \
    ELSE 'failed' END";

fn owned_by(tx: &mut Tx<'_>, table: &str, row: i64, tenant: TenantId) -> Result<(), StoreError> {
    // `table` is one of this module's constants, never input.
    let owner = tx
        .query_opt(
            &format!("SELECT tenant_id FROM {table} WHERE id = $1"),
            &[row.into()],
        )?
        .map(|r| r.int(0))
        .transpose()?;
    match owner {
        Some(t) if t == tenant.0 => Ok(()),
        _ => Err(StoreError::NotFound(match table {
            "hosts" => "host of this tenant",
            "local_images" => "local image of this tenant",
            _ => "pod of this tenant",
        })),
    }
}

fn non_empty_or<'a>(value: &'a str, default: &'a str) -> &'a str {
    if value.is_empty() {
        default
    } else {
        value
    }
}

impl Store {
    /// Records a host of `tenant`, or updates the one with the same uid. Returns its row id.
    pub fn upsert_host(&self, tenant: TenantId, host: &NewHost) -> Result<i64, StoreError> {
        self.write(|tx| upsert_host_in(tx, tenant, host))
    }

    /// Records a local image of `tenant` (one row per name, version and digest) and returns its
    /// row id; a repeated call updates its type, project and update time.
    pub fn upsert_local_image(
        &self,
        tenant: TenantId,
        image: &NewLocalImage,
    ) -> Result<i64, StoreError> {
        self.write(|tx| upsert_local_image_in(tx, tenant, image))
    }

    /// Records that `host_row` holds `local_image_row`; both must belong to `tenant`.
    pub fn add_local_image_host(
        &self,
        tenant: TenantId,
        local_image_row: i64,
        host_row: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| add_local_image_host_in(tx, tenant, local_image_row, host_row))
    }

    /// Records a pod of `tenant`, or updates the one with the same uid.
    pub fn upsert_pod(&self, tenant: TenantId, pod: &NewPod) -> Result<i64, StoreError> {
        self.write(|tx| upsert_pod_in(tx, tenant, pod))
    }

    /// Records a container of `tenant`, or updates the one with the same id; the host, local
    /// image and pod it names must belong to `tenant` too.
    pub fn upsert_container(
        &self,
        tenant: TenantId,
        container: &NewContainer,
    ) -> Result<i64, StoreError> {
        self.write(|tx| upsert_container_in(tx, tenant, container))
    }

    /// Replaces the applications identified in an image digest (the latest scan's finding).
    pub fn set_image_apps(&self, image_row: i64, apps: &[ImageApp]) -> Result<(), StoreError> {
        self.write(|tx| set_image_apps_in(tx, image_row, apps))
    }

    /// Sets how many components the latest scan of an image digest found (Huawei
    /// component_num); kept apart from [`Store::record_scan`] so its record stays unchanged.
    pub fn set_component_count(&self, image_row: i64, count: i64) -> Result<(), StoreError> {
        self.write(|tx| set_component_count_in(tx, image_row, count))
    }

    /// The applications of a local image of `tenant`, by name and version.
    pub fn local_image_apps(
        &self,
        tenant: TenantId,
        local_image_row: i64,
    ) -> Result<Vec<ImageApp>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT a.name, a.version FROM local_images l JOIN image_apps a ON a.image = l.image \
                 WHERE l.tenant_id = $1 AND l.id = $2 ORDER BY a.name, a.version",
                &[tenant.0.into(), local_image_row.into()],
            )?
            .iter()
            .map(|r| {
                Ok(ImageApp {
                    name: r.text(0)?,
                    version: r.text(1)?,
                })
            })
            .collect()
        })
    }

    /// One page of `tenant`'s local images matching the query, and how many matched in all.
    pub fn local_images(
        &self,
        tenant: TenantId,
        query: &LocalImageQuery,
    ) -> Result<std::sync::Arc<LocalImagePage>, StoreError> {
        let (where_sql, params) = local_image_where(self.engine(), tenant, query);
        let from = "FROM local_images l JOIN images i ON i.id = l.image \
                    LEFT JOIN image_scans s ON s.image = i.id";
        let count_sql = format!("SELECT COUNT(*) {from} WHERE {where_sql}");
        // Totals and page positions are reused while the inventory is unchanged (list_cache.rs).
        let count_key = format!("{count_sql}\n{params:?}");
        let page_key = format!("local images\n{where_sql}\n{params:?}");
        let offset = query.offset.max(0);
        let limit = query.limit.max(0);
        // The whole page is remembered too (list_cache.rs).
        let page_cache_key = format!("{page_key}\n{offset}\n{limit}");
        self.cached_list(
            &page_cache_key,
            None,
            |p: &LocalImagePage| p.rows.len(),
            |tx, generation| {
                let total = self.cached_total(tx, generation, &count_sql, &count_key, &params)?;
                if limit == 0 || offset >= total {
                    return Ok(LocalImagePage {
                        total,
                        rows: Vec::new(),
                    });
                }
                let mut page_params = params.clone();
                let mut after = String::new();
                let mut skip = offset;
                if let Some((position, key)) = self.lists.position(generation, &page_key, offset) {
                    skip = offset - position;
                    after = format!(" AND l.id > {}", bind(&mut page_params, key.id.into()));
                }
                // One row more, before the page, whose id is remembered as the position of
                // `offset` itself (as placements() does).
                let before_page = i64::from(skip > 0);
                page_params.push((limit + before_page).into());
                page_params.push((skip - before_page).into());
                let page_sql = format!(
                    "SELECT l.id, l.uuid, l.image_name, l.image_version, i.digest, l.local_image_type, \
                     {HUAWEI_SCAN_STATUS}, i.size_bytes, l.updated_ms, \
                     CASE WHEN s.state = 'succeeded' THEN s.finished_ms END, \
                     (SELECT COUNT(*) FROM host_local_images hl WHERE hl.local_image = l.id), \
                     (SELECT COUNT(*) FROM containers c WHERE c.local_image = l.id), \
                     COALESCE(s.component_count, 0), COALESCE(s.vul_count, 0), COALESCE(s.severity, ''), \
                     h.name, h.uid, h.agent_id, i.id, l.enterprise_project_id \
                     {from} \
                     LEFT JOIN hosts h ON h.id = (SELECT MIN(hl.host) FROM host_local_images hl WHERE hl.local_image = l.id) \
                     WHERE {where_sql}{after} ORDER BY l.id LIMIT ${} OFFSET ${}",
                    page_params.len() - 1,
                    page_params.len()
                );
                let mut rows = tx
                    .query(&page_sql, &page_params)?
                    .iter()
                    .map(local_image_from)
                    .collect::<Result<Vec<_>, _>>()?;
                if before_page == 1 && !rows.is_empty() {
                    let first = rows.remove(0);
                    self.lists.put_position(
                        generation,
                        &page_key,
                        offset,
                        crate::list_cache::PageKey {
                            id: first.id,
                            scan_ms: 0,
                        },
                    );
                }
                if let Some(last) = rows.last() {
                    self.lists.put_position(
                        generation,
                        &page_key,
                        offset + rows.len() as i64,
                        crate::list_cache::PageKey {
                            id: last.id,
                            scan_ms: 0,
                        },
                    );
                }
                Ok(LocalImagePage { total, rows })
            },
        )
    }
}

impl Store {
    /// The names and versions under which `tenant`'s hosts hold image `digest`, in name order
    /// (at most `limit`); empty when none of them does.
    pub fn local_image_names(
        &self,
        tenant: TenantId,
        digest: &str,
        limit: i64,
    ) -> Result<Vec<(String, String)>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT DISTINCT l.image_name, l.image_version FROM local_images l \
                 JOIN images i ON i.id = l.image WHERE l.tenant_id = $1 AND i.digest = $2 \
                 ORDER BY l.image_name, l.image_version LIMIT $3",
                &[tenant.0.into(), digest.into(), limit.max(0).into()],
            )?
            .iter()
            .map(|r| Ok((r.text(0)?, r.text(1)?)))
            .collect()
        })
    }
}

fn local_image_from(row: &Row) -> Result<LocalImageRow, StoreError> {
    let host = match row.0.get(15) {
        Some(Value::Text(_)) => Some((row.text(15)?, row.text(16)?, row.text(17)?)),
        _ => None,
    };
    Ok(LocalImageRow {
        id: row.int(0)?,
        uuid: row.text(1)?,
        image_name: row.text(2)?,
        image_version: row.text(3)?,
        digest: row.text(4)?,
        local_image_type: row.text(5)?,
        scan_status: row.text(6)?,
        size_bytes: row.int(7)?,
        updated_ms: row.int(8)?,
        latest_scan_ms: row.opt_int(9)?,
        host_num: row.int(10)?,
        container_num: row.int(11)?,
        component_num: row.int(12)?,
        vul_num: row.int(13)?,
        severity_level: row.text(14)?,
        host,
        image_row: row.int(18)?,
        enterprise_project_id: row.text(19)?,
    })
}

/// Pushes a value and returns its placeholder.
fn bind(params: &mut Vec<Value>, v: Value) -> String {
    params.push(v);
    format!("${}", params.len())
}

/// The WHERE clause of a local image query (aliases l, i, s) and its bound values.
fn local_image_where(
    engine: EngineKind,
    tenant: TenantId,
    q: &LocalImageQuery,
) -> (String, Vec<Value>) {
    let mut params: Vec<Value> = vec![tenant.0.into()];
    let mut parts = vec!["l.tenant_id = $1".to_owned()];
    let contains = |params: &mut Vec<Value>, expr: &str, needle: &str| {
        let p = bind(params, needle.into());
        engine.contains_sql(expr, &p)
    };
    if let Some(ep) = &q.enterprise_project_id {
        let p = bind(&mut params, ep.as_str().into());
        parts.push(format!("l.enterprise_project_id = {p}"));
    }
    if let Some(name) = &q.image_name_contains {
        parts.push(contains(&mut params, "l.image_name", name));
    }
    if let Some(v) = &q.image_version {
        let p = bind(&mut params, v.as_str().into());
        parts.push(format!("l.image_version = {p}"));
    }
    if let Some(status) = &q.scan_status {
        let p = bind(&mut params, status.as_str().into());
        parts.push(format!("{HUAWEI_SCAN_STATUS} = {p}"));
    }
    if let Some(t) = &q.local_image_type {
        let p = bind(&mut params, t.as_str().into());
        parts.push(format!("l.local_image_type = {p}"));
    }
    if let Some(size) = q.image_size {
        let p = bind(&mut params, size.into());
        parts.push(format!("i.size_bytes = {p}"));
    }
    if let Some((lo, hi)) = q.updated_between {
        let (a, b) = (bind(&mut params, lo.into()), bind(&mut params, hi.into()));
        parts.push(format!("l.updated_ms BETWEEN {a} AND {b}"));
    }
    if let Some((lo, hi)) = q.scanned_between {
        let (a, b) = (bind(&mut params, lo.into()), bind(&mut params, hi.into()));
        parts.push(format!(
            "s.state = 'succeeded' AND s.finished_ms BETWEEN {a} AND {b}"
        ));
    }
    if let Some(has) = q.has_vul {
        let cmp = if has { ">" } else { "=" };
        parts.push(format!("s.state = 'succeeded' AND s.vul_count {cmp} 0"));
    }
    // Host conditions: some host holding the image satisfies all of them.
    let mut host_parts = Vec::new();
    if let Some(name) = &q.host_name_contains {
        host_parts.push(contains(&mut params, "h.name", name));
    }
    if let Some(id) = &q.host_id {
        let p = bind(&mut params, id.as_str().into());
        host_parts.push(format!("h.uid = {p}"));
    }
    if let Some(ip) = &q.host_ip {
        let p = bind(&mut params, ip.as_str().into());
        host_parts.push(format!("(h.private_ip = {p} OR h.public_ip = {p})"));
    }
    if !host_parts.is_empty() {
        parts.push(format!(
            "EXISTS (SELECT 1 FROM host_local_images hl JOIN hosts h ON h.id = hl.host \
             WHERE hl.local_image = l.id AND {})",
            host_parts.join(" AND ")
        ));
    }
    // Container and pod conditions: some container started from the image satisfies them.
    let mut container_parts = Vec::new();
    if let Some(id) = &q.container_id {
        let p = bind(&mut params, id.as_str().into());
        container_parts.push(format!("c.container_id = {p}"));
    }
    if let Some(name) = &q.container_name_contains {
        container_parts.push(contains(&mut params, "c.name", name));
    }
    let mut pod_parts = Vec::new();
    if let Some(id) = &q.pod_id {
        let p = bind(&mut params, id.as_str().into());
        pod_parts.push(format!("p.uid = {p}"));
    }
    if let Some(name) = &q.pod_name_contains {
        pod_parts.push(contains(&mut params, "p.name", name));
    }
    if !pod_parts.is_empty() {
        container_parts.push(format!(
            "EXISTS (SELECT 1 FROM pods p WHERE p.id = c.pod AND {})",
            pod_parts.join(" AND ")
        ));
    }
    if !container_parts.is_empty() {
        parts.push(format!(
            "EXISTS (SELECT 1 FROM containers c WHERE c.local_image = l.id AND {})",
            container_parts.join(" AND ")
        ));
    }
    if let Some(has) = q.has_container {
        let not = if has { "" } else { "NOT " };
        parts.push(format!(
            "{not}EXISTS (SELECT 1 FROM containers c WHERE c.local_image = l.id)"
        ));
    }
    if let Some(name) = &q.app_name_contains {
        let cond = contains(&mut params, "a.name", name);
        parts.push(format!(
            "EXISTS (SELECT 1 FROM image_apps a WHERE a.image = l.image AND {cond})"
        ));
    }
    (parts.join(" AND "), params)
}

/// The body of [`Store::upsert_host`], for a transaction a caller already holds.
pub(crate) fn upsert_host_in(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    host: &NewHost,
) -> Result<i64, StoreError> {
    tx.query_one(
        "INSERT INTO hosts (tenant_id, uid, name, agent_id, private_ip, public_ip, region_id, \
             enterprise_project_id, os_type, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (tenant_id, uid) DO UPDATE SET name = excluded.name, \
             agent_id = excluded.agent_id, private_ip = excluded.private_ip, \
             public_ip = excluded.public_ip, region_id = excluded.region_id, \
             enterprise_project_id = excluded.enterprise_project_id, os_type = excluded.os_type \
             RETURNING id",
        &[
            tenant.0.into(),
            host.uid.as_str().into(),
            host.name.as_str().into(),
            host.agent_id.as_str().into(),
            host.private_ip.as_str().into(),
            host.public_ip.as_str().into(),
            host.region_id.as_str().into(),
            non_empty_or(&host.enterprise_project_id, "0").into(),
            host.os_type.as_str().into(),
            now_ms().into(),
        ],
    )?
    .int(0)
}

/// The body of [`Store::upsert_local_image`], for a transaction a caller already holds.
pub(crate) fn upsert_local_image_in(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    image: &NewLocalImage,
) -> Result<i64, StoreError> {
    tx.query_one(
        "INSERT INTO local_images (tenant_id, uuid, image, image_name, image_version, \
             local_image_type, enterprise_project_id, updated_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, image_name, image_version, image) DO UPDATE SET \
             local_image_type = excluded.local_image_type, \
             enterprise_project_id = excluded.enterprise_project_id, \
             updated_ms = excluded.updated_ms \
             RETURNING id",
        &[
            tenant.0.into(),
            uuid::Uuid::new_v4().to_string().into(),
            image.image_row.into(),
            image.image_name.as_str().into(),
            image.image_version.as_str().into(),
            non_empty_or(&image.local_image_type, "other_image").into(),
            non_empty_or(&image.enterprise_project_id, "0").into(),
            image.updated_ms.into(),
        ],
    )?
    .int(0)
}

/// The body of [`Store::add_local_image_host`], for a transaction a caller already holds.
pub(crate) fn add_local_image_host_in(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    local_image_row: i64,
    host_row: i64,
) -> Result<(), StoreError> {
    owned_by(tx, "local_images", local_image_row, tenant)?;
    owned_by(tx, "hosts", host_row, tenant)?;
    tx.execute(
        "INSERT INTO host_local_images (local_image, host) VALUES ($1, $2) \
             ON CONFLICT (local_image, host) DO NOTHING",
        &[local_image_row.into(), host_row.into()],
    )?;
    Ok(())
}

/// The body of [`Store::upsert_pod`], for a transaction a caller already holds.
pub(crate) fn upsert_pod_in(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    pod: &NewPod,
) -> Result<i64, StoreError> {
    if let Some(host) = pod.host_row {
        owned_by(tx, "hosts", host, tenant)?;
    }
    tx.query_one(
        "INSERT INTO pods (tenant_id, uid, name, namespace, cluster_name, host) \
             VALUES ($1, $2, $3, $4, $5, $6) \
             ON CONFLICT (tenant_id, uid) DO UPDATE SET name = excluded.name, \
             namespace = excluded.namespace, cluster_name = excluded.cluster_name, \
             host = excluded.host \
             RETURNING id",
        &[
            tenant.0.into(),
            pod.uid.as_str().into(),
            pod.name.as_str().into(),
            pod.namespace.as_str().into(),
            pod.cluster_name.as_str().into(),
            pod.host_row.into(),
        ],
    )?
    .int(0)
}

/// The body of [`Store::upsert_container`], for a transaction a caller already holds.
pub(crate) fn upsert_container_in(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    container: &NewContainer,
) -> Result<i64, StoreError> {
    owned_by(tx, "hosts", container.host_row, tenant)?;
    if let Some(row) = container.local_image_row {
        owned_by(tx, "local_images", row, tenant)?;
    }
    if let Some(row) = container.pod_row {
        owned_by(tx, "pods", row, tenant)?;
    }
    tx.query_one(
            "INSERT INTO containers (tenant_id, container_id, name, host, local_image, pod, status, created_ms) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8) \
             ON CONFLICT (tenant_id, container_id) DO UPDATE SET name = excluded.name, \
             host = excluded.host, local_image = excluded.local_image, pod = excluded.pod, \
             status = excluded.status, created_ms = excluded.created_ms \
             RETURNING id",
            &[
                tenant.0.into(),
                container.container_id.as_str().into(),
                container.name.as_str().into(),
                container.host_row.into(),
                container.local_image_row.into(),
                container.pod_row.into(),
                container.status.as_str().into(),
                container.created_ms.into(),
            ],
        )?
        .int(0)
}

/// The body of [`Store::set_image_apps`], for a transaction a caller already holds.
pub(crate) fn set_image_apps_in(
    tx: &mut Tx<'_>,
    image_row: i64,
    apps: &[ImageApp],
) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM image_apps WHERE image = $1",
        &[image_row.into()],
    )?;
    for app in apps {
        tx.execute(
            "INSERT INTO image_apps (image, name, version) VALUES ($1, $2, $3) \
                 ON CONFLICT (image, name, version) DO NOTHING",
            &[
                image_row.into(),
                app.name.as_str().into(),
                app.version.as_str().into(),
            ],
        )?;
    }
    Ok(())
}

/// The body of [`Store::set_component_count`], for a transaction a caller already holds.
pub(crate) fn set_component_count_in(
    tx: &mut Tx<'_>,
    image_row: i64,
    count: i64,
) -> Result<(), StoreError> {
    let n = tx.execute(
        "UPDATE image_scans SET component_count = $1 WHERE image = $2",
        &[count.max(0).into(), image_row.into()],
    )?;
    if n == 0 {
        return Err(StoreError::NotFound("scan of this image"));
    }
    Ok(())
}
