//! VM images (Alibaba ECS DescribeImages): platform images (system, marketplace) seen by every
//! tenant, and custom images owned by one tenant and seen by others when shared with them or
//! published as community images. Each image has its disk mappings, tags and check items.

use crate::sql::{Row, Tx, Value};
use crate::{Store, StoreError, TenantId, VulnCounts};

/// Where a VM image comes from, as stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VmImageSource {
    /// Provided by the platform, outside the marketplace.
    System,
    /// Sold in the marketplace.
    Marketplace,
    /// Made by a tenant.
    Custom,
}

impl VmImageSource {
    fn as_str(self) -> &'static str {
        match self {
            VmImageSource::System => "system",
            VmImageSource::Marketplace => "marketplace",
            VmImageSource::Custom => "custom",
        }
    }
}

/// DescribeImages' ImageOwnerAlias: the source as the caller sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OwnerAlias {
    /// Platform images outside the marketplace.
    System,
    /// The caller's own custom images.
    SelfOwned,
    /// Other tenants' images shared with the caller, and community images.
    Others,
    /// Marketplace images.
    Marketplace,
}

impl OwnerAlias {
    /// The API spelling (system, self, others, marketplace).
    pub fn as_str(self) -> &'static str {
        match self {
            OwnerAlias::System => "system",
            OwnerAlias::SelfOwned => "self",
            OwnerAlias::Others => "others",
            OwnerAlias::Marketplace => "marketplace",
        }
    }

    /// Parses the API spelling; None for anything else.
    pub fn parse(s: &str) -> Option<OwnerAlias> {
        Some(match s {
            "system" => OwnerAlias::System,
            "self" => OwnerAlias::SelfOwned,
            "others" => OwnerAlias::Others,
            "marketplace" => OwnerAlias::Marketplace,
            _ => return None,
        })
    }
}

/// A disk of a VM image (DiskDeviceMapping).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VmImageDisk {
    /// system or data.
    pub disk_type: String,
    /// Device name (/dev/xvda).
    pub device: String,
    /// Size, GiB.
    pub size_gib: i64,
    /// Snapshot id.
    pub snapshot_id: String,
    /// Image file format (qcow2, raw, ...).
    pub format: String,
    /// OSS bucket of an imported image file.
    pub import_oss_bucket: String,
    /// OSS object of an imported image file.
    pub import_oss_object: String,
    /// Copy progress ("32%").
    pub progress: String,
    /// Remaining copy time, seconds.
    pub remain_time_s: i64,
}

/// A check item of a VM image (DetectionOptions.Items.Item).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VmImageCheck {
    /// Check name (Nvme).
    pub name: String,
    /// Result (Supported).
    pub value: String,
    /// High or Medium when at risk, '' otherwise.
    pub risk_level: String,
    /// Risk code.
    pub risk_code: String,
}

/// A VM image to record, keyed by `image_id`; every field is what DescribeImages returns.
#[derive(Clone, Debug)]
pub struct NewVmImage {
    /// Image id (m-…), unique across the store.
    pub image_id: String,
    /// Region.
    pub region_id: String,
    /// Where it comes from; custom images need an owning tenant.
    pub source: VmImageSource,
    /// Owning account id (ImageOwnerId), 0 when none.
    pub owner_account_id: i64,
    /// Name.
    pub image_name: String,
    /// Image family.
    pub image_family: String,
    /// Version.
    pub image_version: String,
    /// Description.
    pub description: String,
    /// Creating, Waiting, Available, UnAvailable, CreateFailed, Deprecated.
    pub status: String,
    /// Creation progress ("100%").
    pub progress: String,
    /// Published as a community image (custom) or public (platform).
    pub is_public: bool,
    /// A copy of another image.
    pub is_copied: bool,
    /// Shared with other accounts by its owner.
    pub is_self_shared: bool,
    /// Terms of the product accepted.
    pub is_subscribed: bool,
    /// Usable on I/O optimised instances.
    pub is_support_io_optimized: bool,
    /// Supports cloud-init.
    pub is_support_cloudinit: bool,
    /// Supports non-root logons.
    pub login_as_non_root: bool,
    /// instance or none.
    pub usage: String,
    /// linux or windows.
    pub os_type: String,
    /// OS name (Chinese display name).
    pub os_name: String,
    /// OS name in English.
    pub os_name_en: String,
    /// Platform (Ubuntu, Windows Server 2016, ...).
    pub platform: String,
    /// i386, x86_64, arm64.
    pub architecture: String,
    /// BIOS or UEFI.
    pub boot_mode: String,
    /// Size, GiB.
    pub size_gib: i64,
    /// Marketplace product code.
    pub product_code: String,
    /// Supplier of a community image.
    pub supplier_name: String,
    /// Resource group.
    pub resource_group_id: String,
    /// supported or unsupported ('' when unknown).
    pub nvme_support: String,
    /// Processing or Finished ('' when never checked).
    pub detection_status: String,
    /// Creation, ms.
    pub created_ms: i64,
    /// Disks, in order.
    pub disks: Vec<VmImageDisk>,
    /// Tags (key, value); keys are unique.
    pub tags: Vec<(String, String)>,
    /// Check items.
    pub checks: Vec<VmImageCheck>,
}

/// A page request over the VM images a tenant can see, with DescribeImages' filters. The API
/// validates and applies defaults (Status=Available, paging); `None`/empty means "not
/// filtered".
#[derive(Clone, Debug, Default)]
pub struct VmImageQuery {
    /// Region (required by the API); empty means every region.
    pub region_id: String,
    /// Any of these statuses.
    pub statuses: Vec<String>,
    /// Any of these image ids.
    pub image_ids: Vec<String>,
    /// A disk made from this snapshot.
    pub snapshot_id: Option<String>,
    /// Exact name.
    pub image_name: Option<String>,
    /// Exact family.
    pub image_family: Option<String>,
    /// The source as the caller sees it.
    pub owner_alias: Option<OwnerAlias>,
    /// Community images only (true) or no community images (false).
    pub is_public: Option<bool>,
    /// Owning account.
    pub owner_account_id: Option<i64>,
    /// linux or windows.
    pub os_type: Option<String>,
    /// i386, x86_64, arm64.
    pub architecture: Option<String>,
    /// instance or none.
    pub usage: Option<String>,
    /// I/O optimised support.
    pub is_support_io_optimized: Option<bool>,
    /// cloud-init support.
    pub is_support_cloudinit: Option<bool>,
    /// Resource group. Images in the default resource group (stored as `''`, which platform
    /// images also have) match whatever group is asked for, as DescribeImages documents.
    pub resource_group_id: Option<String>,
    /// Usable on an instance type: the image's architecture is one of these (empty: any).
    pub instance_architectures: Vec<String>,
    /// Usable on an I/O optimised instance type: the image must support I/O optimisation.
    pub instance_io_optimized: bool,
    /// Every (key, value) must be a tag of the image; a None value matches any value.
    pub tags: Vec<(String, Option<String>)>,
    /// Created at or after, ms.
    pub created_from_ms: Option<i64>,
    /// Created at or before, ms.
    pub created_to_ms: Option<i64>,
    /// Rows to skip.
    pub offset: i64,
    /// Rows to return at most.
    pub limit: i64,
}

/// A VM image as a tenant sees it.
#[derive(Clone, Debug, PartialEq)]
pub struct VmImageRow {
    /// Row id.
    pub id: i64,
    /// Image id (m-…).
    pub image_id: String,
    /// Region.
    pub region_id: String,
    /// system, self, others or marketplace, from the caller's point of view.
    pub owner_alias: String,
    /// Owning account id.
    pub owner_account_id: i64,
    /// Name.
    pub image_name: String,
    /// Family.
    pub image_family: String,
    /// Version.
    pub image_version: String,
    /// Description.
    pub description: String,
    /// Status.
    pub status: String,
    /// Progress.
    pub progress: String,
    /// Public.
    pub is_public: bool,
    /// Copied.
    pub is_copied: bool,
    /// Shared by its owner.
    pub is_self_shared: bool,
    /// Subscribed.
    pub is_subscribed: bool,
    /// I/O optimised support.
    pub is_support_io_optimized: bool,
    /// cloud-init support.
    pub is_support_cloudinit: bool,
    /// Non-root logons.
    pub login_as_non_root: bool,
    /// instance or none.
    pub usage: String,
    /// OS type.
    pub os_type: String,
    /// OS name.
    pub os_name: String,
    /// OS name in English.
    pub os_name_en: String,
    /// Platform.
    pub platform: String,
    /// Architecture.
    pub architecture: String,
    /// Boot mode.
    pub boot_mode: String,
    /// Size, GiB.
    pub size_gib: i64,
    /// Product code.
    pub product_code: String,
    /// Supplier.
    pub supplier_name: String,
    /// Resource group.
    pub resource_group_id: String,
    /// NVMe support.
    pub nvme_support: String,
    /// Check status.
    pub detection_status: String,
    /// Creation, ms.
    pub created_ms: i64,
    /// Packages the catalogers found (imported images; 0 otherwise).
    pub package_count: i64,
    /// What the scan of an imported image found, as last matched; None when the image has no
    /// stored inventory (platform images, imports that failed or are still running).
    pub scan: Option<VmImageScan>,
    /// Disks in order.
    pub disks: Vec<VmImageDisk>,
    /// Tags by key.
    pub tags: Vec<(String, String)>,
    /// Check items by name.
    pub checks: Vec<VmImageCheck>,
}

/// The stored inventory of an imported VM image and what was found in it: the counts of its
/// last vulnerability match (a database update re-matches it like any stored inventory) and
/// of its risk analyzers' findings.
#[derive(Clone, Debug, PartialEq)]
pub struct VmImageScan {
    /// The stored inventory's key (see [`crate::vm_import::vm_inventory_digest`]).
    pub inventory_digest: String,
    /// The vulnerability database build of `vulns`; empty until first matched.
    pub vulndb_build: String,
    /// Vulnerabilities by severity, as last matched.
    pub vulns: VulnCounts,
    /// Baseline (unsafe setting) findings.
    pub baseline_count: i64,
    /// Malicious files.
    pub malicious_count: i64,
    /// Secrets and other alarms.
    pub alarm_count: i64,
    /// The worse of the vulnerabilities' and the risks' levels (Security, Low, Medium, High).
    pub severity_level: String,
}

/// One page of VM images and the total that matched.
#[derive(Clone, Debug)]
pub struct VmImagePage {
    /// How many matched.
    pub total: i64,
    /// This page, newest first.
    pub rows: Vec<VmImageRow>,
}

/// DescribeImages' Usage as `$1` sees it: `instance` when the catalogue says so (platform
/// images), when one of the caller's instances runs the image, or, for the caller's own
/// images, when anyone's instance runs it (an owner must know its image is in use).
macro_rules! usage_sql {
    () => {
        "(CASE WHEN v.usage = 'instance' OR EXISTS (SELECT 1 FROM vm_image_instances u \
         WHERE u.vm_image = v.id AND (u.tenant_id = $1 OR v.tenant_id = $1)) \
         THEN 'instance' ELSE 'none' END)"
    };
}

/// IsSelfShared: recorded so (platform data), or shared with at least one account.
macro_rules! self_shared_sql {
    () => {
        "(CASE WHEN v.is_self_shared = 1 OR EXISTS (SELECT 1 FROM vm_image_shares s \
         WHERE s.vm_image = v.id) THEN 1 ELSE 0 END)"
    };
}

const VM_COLUMNS: &str = concat!(
    "v.id, v.image_id, v.region_id, \
    CASE WHEN v.source <> 'custom' THEN v.source WHEN v.tenant_id = $1 THEN 'self' ELSE 'others' END, \
    v.owner_account_id, v.image_name, v.image_family, v.image_version, v.description, v.status, \
    v.progress, v.is_public, v.is_copied, ",
    self_shared_sql!(),
    ", v.is_subscribed, v.is_support_io_optimized, v.is_support_cloudinit, v.login_as_non_root, ",
    usage_sql!(),
    ", v.os_type, v.os_name, v.os_name_en, v.platform, v.architecture, v.boot_mode, v.size_gib, \
    v.product_code, v.supplier_name, v.resource_group_id, v.nvme_support, v.detection_status, \
    v.created_ms, v.package_count, COALESCE(si.digest, ''), COALESCE(si.vulndb_build, ''), \
    COALESCE(si.critical_count, 0), COALESCE(si.high_count, 0), COALESCE(si.medium_count, 0), \
    COALESCE(si.low_count, 0), COALESCE(si.unknown_count, 0), COALESCE(si.baseline_count, 0), \
    COALESCE(si.malicious_count, 0), COALESCE(si.alarm_count, 0), \
    COALESCE(si.risk_level, 'Security')"
);

/// The images and their stored inventories' counts (an image without one joins nothing: no
/// stored inventory has the empty digest).
const VM_FROM: &str =
    "vm_images v LEFT JOIN stored_inventories si ON si.digest = v.inventory_digest";

fn vm_scan_from(row: &Row) -> Result<Option<VmImageScan>, StoreError> {
    let inventory_digest = row.text(33)?;
    if inventory_digest.is_empty() {
        return Ok(None);
    }
    let vulns = VulnCounts {
        critical: row.int(35)?,
        high: row.int(36)?,
        medium: row.int(37)?,
        low: row.int(38)?,
        unknown: row.int(39)?,
    };
    let risk_level = row.text(43)?;
    Ok(Some(VmImageScan {
        inventory_digest,
        vulndb_build: row.text(34)?,
        severity_level: crate::scans::worse_level(vulns.level(), &risk_level).to_owned(),
        vulns,
        baseline_count: row.int(40)?,
        malicious_count: row.int(41)?,
        alarm_count: row.int(42)?,
    }))
}

fn vm_image_from(row: &Row) -> Result<VmImageRow, StoreError> {
    Ok(VmImageRow {
        id: row.int(0)?,
        image_id: row.text(1)?,
        region_id: row.text(2)?,
        owner_alias: row.text(3)?,
        owner_account_id: row.int(4)?,
        image_name: row.text(5)?,
        image_family: row.text(6)?,
        image_version: row.text(7)?,
        description: row.text(8)?,
        status: row.text(9)?,
        progress: row.text(10)?,
        is_public: row.bool(11)?,
        is_copied: row.bool(12)?,
        is_self_shared: row.bool(13)?,
        is_subscribed: row.bool(14)?,
        is_support_io_optimized: row.bool(15)?,
        is_support_cloudinit: row.bool(16)?,
        login_as_non_root: row.bool(17)?,
        usage: row.text(18)?,
        os_type: row.text(19)?,
        os_name: row.text(20)?,
        os_name_en: row.text(21)?,
        platform: row.text(22)?,
        architecture: row.text(23)?,
        boot_mode: row.text(24)?,
        size_gib: row.int(25)?,
        product_code: row.text(26)?,
        supplier_name: row.text(27)?,
        resource_group_id: row.text(28)?,
        nvme_support: row.text(29)?,
        detection_status: row.text(30)?,
        created_ms: row.int(31)?,
        package_count: row.int(32)?,
        scan: vm_scan_from(row)?,
        disks: Vec::new(),
        tags: Vec::new(),
        checks: Vec::new(),
    })
}

/// Pushes a value and returns its placeholder.
fn bind(params: &mut Vec<Value>, v: Value) -> String {
    params.push(v);
    format!("${}", params.len())
}

/// The WHERE clause (alias v; `$1` is the caller's tenant) and its values.
fn vm_where(tenant: TenantId, q: &VmImageQuery) -> (String, Vec<Value>) {
    let mut params: Vec<Value> = vec![tenant.0.into()];
    // What the tenant may see at all.
    let mut parts = vec![
        "(v.source <> 'custom' OR v.tenant_id = $1 OR v.is_public = 1 OR EXISTS \
         (SELECT 1 FROM vm_image_shares sh WHERE sh.vm_image = v.id AND sh.tenant_id = $1))"
            .to_owned(),
    ];
    if !q.region_id.is_empty() {
        let region = bind(&mut params, q.region_id.as_str().into());
        parts.push(format!("v.region_id = {region}"));
    }
    let mut any_of = |params: &mut Vec<Value>, column: &str, values: &[String]| {
        if !values.is_empty() {
            let ps: Vec<String> = values
                .iter()
                .map(|v| bind(params, v.as_str().into()))
                .collect();
            parts.push(format!("{column} IN ({})", ps.join(", ")));
        }
    };
    any_of(&mut params, "v.status", &q.statuses);
    any_of(&mut params, "v.image_id", &q.image_ids);
    any_of(&mut params, "v.architecture", &q.instance_architectures);
    if q.instance_io_optimized {
        parts.push("v.is_support_io_optimized = 1".into());
    }
    if let Some(group) = &q.resource_group_id {
        let p = bind(&mut params, group.as_str().into());
        parts.push(format!(
            "(v.resource_group_id = {p} OR v.resource_group_id = '')"
        ));
    }
    let text_eq = [
        ("v.image_name", &q.image_name),
        ("v.image_family", &q.image_family),
        ("v.os_type", &q.os_type),
        ("v.architecture", &q.architecture),
        (usage_sql!(), &q.usage),
    ];
    for (column, value) in text_eq {
        if let Some(v) = value {
            let p = bind(&mut params, v.as_str().into());
            parts.push(format!("{column} = {p}"));
        }
    }
    let flags = [
        ("v.is_support_io_optimized", q.is_support_io_optimized),
        ("v.is_support_cloudinit", q.is_support_cloudinit),
    ];
    for (column, value) in flags {
        if let Some(v) = value {
            let p = bind(&mut params, v.into());
            parts.push(format!("{column} = {p}"));
        }
    }
    if let Some(snapshot) = &q.snapshot_id {
        let p = bind(&mut params, snapshot.as_str().into());
        parts.push(format!(
            "EXISTS (SELECT 1 FROM vm_image_disks d WHERE d.vm_image = v.id AND d.snapshot_id = {p})"
        ));
    }
    match q.owner_alias {
        Some(OwnerAlias::System) => parts.push("v.source = 'system'".into()),
        Some(OwnerAlias::Marketplace) => parts.push("v.source = 'marketplace'".into()),
        Some(OwnerAlias::SelfOwned) => {
            parts.push("v.source = 'custom' AND v.tenant_id = $1".into());
        }
        Some(OwnerAlias::Others) => {
            parts.push("v.source = 'custom' AND (v.tenant_id IS NULL OR v.tenant_id <> $1)".into())
        }
        None => {}
    }
    match q.is_public {
        // Community images: other tenants' published custom images.
        Some(true) => parts.push("v.is_public = 1".into()),
        // Everything but community images of others: the visibility rule above still lets
        // shared images through.
        Some(false) => parts.push(
            "NOT (v.source = 'custom' AND v.is_public = 1 AND \
             (v.tenant_id IS NULL OR v.tenant_id <> $1))"
                .into(),
        ),
        None => {}
    }
    if let Some(owner) = q.owner_account_id {
        let p = bind(&mut params, owner.into());
        parts.push(format!("v.owner_account_id = {p}"));
    }
    for (key, value) in &q.tags {
        let k = bind(&mut params, key.as_str().into());
        let value_sql = match value {
            Some(v) => format!(
                " AND x.tag_value = {}",
                bind(&mut params, v.as_str().into())
            ),
            None => String::new(),
        };
        parts.push(format!(
            "EXISTS (SELECT 1 FROM vm_image_tags x WHERE x.vm_image = v.id AND x.tag_key = {k}{value_sql})"
        ));
    }
    if let Some(from) = q.created_from_ms {
        let p = bind(&mut params, from.into());
        parts.push(format!("v.created_ms >= {p}"));
    }
    if let Some(to) = q.created_to_ms {
        let p = bind(&mut params, to.into());
        parts.push(format!("v.created_ms <= {p}"));
    }
    (parts.join(" AND "), params)
}

fn replace_children(tx: &mut Tx<'_>, row: i64, image: &NewVmImage) -> Result<(), StoreError> {
    for table in ["vm_image_disks", "vm_image_tags", "vm_image_checks"] {
        tx.execute(
            &format!("DELETE FROM {table} WHERE vm_image = $1"),
            &[row.into()],
        )?;
    }
    for (position, d) in image.disks.iter().enumerate() {
        tx.execute(
            "INSERT INTO vm_image_disks (vm_image, position, disk_type, device, size_gib, snapshot_id, \
             format, import_oss_bucket, import_oss_object, progress, remain_time_s) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            &[
                row.into(),
                i64::try_from(position).unwrap_or(i64::MAX).into(),
                d.disk_type.as_str().into(),
                d.device.as_str().into(),
                d.size_gib.into(),
                d.snapshot_id.as_str().into(),
                d.format.as_str().into(),
                d.import_oss_bucket.as_str().into(),
                d.import_oss_object.as_str().into(),
                d.progress.as_str().into(),
                d.remain_time_s.into(),
            ],
        )?;
    }
    for (key, value) in &image.tags {
        tx.execute(
            "INSERT INTO vm_image_tags (vm_image, tag_key, tag_value) VALUES ($1, $2, $3) \
             ON CONFLICT (vm_image, tag_key) DO UPDATE SET tag_value = excluded.tag_value",
            &[row.into(), key.as_str().into(), value.as_str().into()],
        )?;
    }
    for c in &image.checks {
        tx.execute(
            "INSERT INTO vm_image_checks (vm_image, name, value, risk_level, risk_code) \
             VALUES ($1, $2, $3, $4, $5) \
             ON CONFLICT (vm_image, name) DO UPDATE SET value = excluded.value, \
             risk_level = excluded.risk_level, risk_code = excluded.risk_code",
            &[
                row.into(),
                c.name.as_str().into(),
                c.value.as_str().into(),
                c.risk_level.as_str().into(),
                c.risk_code.as_str().into(),
            ],
        )?;
    }
    Ok(())
}

impl Store {
    /// Records a VM image (or updates the one with the same image id) with its disks, tags and
    /// check items. Custom images need `owner`; platform images take None. An image id owned
    /// by another tenant is not taken over. Returns the row id.
    pub fn upsert_vm_image(
        &self,
        owner: Option<TenantId>,
        image: &NewVmImage,
    ) -> Result<i64, StoreError> {
        if (image.source == VmImageSource::Custom) != owner.is_some() {
            return Err(StoreError::NotFound(
                "owning tenant (custom images need one, platform images none)",
            ));
        }
        let owner_value: Value = owner.map(|t| t.0).into();
        self.write(|tx| {
            let row = tx
                .query_opt(
                    "INSERT INTO vm_images (tenant_id, image_id, region_id, source, owner_account_id, \
                     image_name, image_family, image_version, description, status, progress, is_public, \
                     is_copied, is_self_shared, is_subscribed, is_support_io_optimized, \
                     is_support_cloudinit, login_as_non_root, usage, os_type, os_name, os_name_en, \
                     platform, architecture, boot_mode, size_gib, product_code, supplier_name, \
                     resource_group_id, nvme_support, detection_status, created_ms) \
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, \
                     $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32) \
                     ON CONFLICT (image_id) DO UPDATE SET region_id = excluded.region_id, \
                     source = excluded.source, owner_account_id = excluded.owner_account_id, \
                     image_name = excluded.image_name, image_family = excluded.image_family, \
                     image_version = excluded.image_version, description = excluded.description, \
                     status = excluded.status, progress = excluded.progress, is_public = excluded.is_public, \
                     is_copied = excluded.is_copied, is_self_shared = excluded.is_self_shared, \
                     is_subscribed = excluded.is_subscribed, \
                     is_support_io_optimized = excluded.is_support_io_optimized, \
                     is_support_cloudinit = excluded.is_support_cloudinit, \
                     login_as_non_root = excluded.login_as_non_root, usage = excluded.usage, \
                     os_type = excluded.os_type, os_name = excluded.os_name, os_name_en = excluded.os_name_en, \
                     platform = excluded.platform, architecture = excluded.architecture, \
                     boot_mode = excluded.boot_mode, size_gib = excluded.size_gib, \
                     product_code = excluded.product_code, supplier_name = excluded.supplier_name, \
                     resource_group_id = excluded.resource_group_id, nvme_support = excluded.nvme_support, \
                     detection_status = excluded.detection_status, created_ms = excluded.created_ms \
                     WHERE vm_images.tenant_id IS NOT DISTINCT FROM excluded.tenant_id \
                     RETURNING id",
                    &[
                        owner_value,
                        image.image_id.as_str().into(),
                        image.region_id.as_str().into(),
                        image.source.as_str().into(),
                        image.owner_account_id.into(),
                        image.image_name.as_str().into(),
                        image.image_family.as_str().into(),
                        image.image_version.as_str().into(),
                        image.description.as_str().into(),
                        image.status.as_str().into(),
                        image.progress.as_str().into(),
                        image.is_public.into(),
                        image.is_copied.into(),
                        image.is_self_shared.into(),
                        image.is_subscribed.into(),
                        image.is_support_io_optimized.into(),
                        image.is_support_cloudinit.into(),
                        image.login_as_non_root.into(),
                        image.usage.as_str().into(),
                        image.os_type.as_str().into(),
                        image.os_name.as_str().into(),
                        image.os_name_en.as_str().into(),
                        image.platform.as_str().into(),
                        image.architecture.as_str().into(),
                        image.boot_mode.as_str().into(),
                        image.size_gib.into(),
                        image.product_code.as_str().into(),
                        image.supplier_name.as_str().into(),
                        image.resource_group_id.as_str().into(),
                        image.nvme_support.as_str().into(),
                        image.detection_status.as_str().into(),
                        image.created_ms.into(),
                    ],
                )?
                .ok_or(StoreError::NotFound("vm image of this owner"))?
                .int(0)?;
            replace_children(tx, row, image)?;
            Ok(row)
        })
    }

    /// Shares the custom VM image `vm_image_row` of `owner` with `with`.
    pub fn share_vm_image(
        &self,
        owner: TenantId,
        vm_image_row: i64,
        with: TenantId,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.query_opt(
                "SELECT 1 FROM vm_images WHERE id = $1 AND tenant_id = $2",
                &[vm_image_row.into(), owner.0.into()],
            )?
            .ok_or(StoreError::NotFound("vm image of this tenant"))?;
            tx.execute(
                "INSERT INTO vm_image_shares (vm_image, tenant_id) VALUES ($1, $2) \
                 ON CONFLICT (vm_image, tenant_id) DO NOTHING",
                &[vm_image_row.into(), with.0.into()],
            )?;
            Ok(())
        })
    }

    /// One page of the VM images `tenant` can see, newest first, with their disks, tags and
    /// check items, and how many matched in all.
    pub fn vm_images(
        &self,
        tenant: TenantId,
        query: &VmImageQuery,
    ) -> Result<VmImagePage, StoreError> {
        let (where_sql, params) = vm_where(tenant, query);
        let count_sql = format!("SELECT COUNT(*) FROM vm_images v WHERE {where_sql}");
        let mut page_params = params.clone();
        page_params.push(query.limit.max(0).into());
        page_params.push(query.offset.max(0).into());
        let page_sql = format!(
            "SELECT {VM_COLUMNS} FROM {VM_FROM} WHERE {where_sql} \
             ORDER BY v.created_ms DESC, v.id DESC LIMIT ${} OFFSET ${}",
            page_params.len() - 1,
            page_params.len()
        );
        self.read(|tx| {
            let total = tx.query_one(&count_sql, &params)?.int(0)?;
            let mut rows = tx
                .query(&page_sql, &page_params)?
                .iter()
                .map(vm_image_from)
                .collect::<Result<Vec<_>, _>>()?;
            load_children(tx, &mut rows)?;
            Ok(VmImagePage { total, rows })
        })
    }
}

/// Fills the disks, tags and check items of a page of images, one query per kind.
fn load_children(tx: &mut Tx<'_>, rows: &mut [VmImageRow]) -> Result<(), StoreError> {
    if rows.is_empty() {
        return Ok(());
    }
    let ids: Vec<Value> = rows.iter().map(|r| Value::Int(r.id)).collect();
    let list = (1..=ids.len())
        .map(|n| format!("${n}"))
        .collect::<Vec<_>>()
        .join(", ");
    let mut index = std::collections::HashMap::new();
    for (i, r) in rows.iter().enumerate() {
        index.insert(r.id, i);
    }
    let owner_of = |r: &Row| -> Result<usize, StoreError> {
        index
            .get(&r.int(0)?)
            .copied()
            .ok_or_else(|| StoreError::Corrupt("child row of another image".into()))
    };
    for r in tx.query(
        &format!(
            "SELECT vm_image, disk_type, device, size_gib, snapshot_id, format, import_oss_bucket, \
             import_oss_object, progress, remain_time_s FROM vm_image_disks \
             WHERE vm_image IN ({list}) ORDER BY vm_image, position"
        ),
        &ids,
    )? {
        let at = owner_of(&r)?;
        rows[at].disks.push(VmImageDisk {
            disk_type: r.text(1)?,
            device: r.text(2)?,
            size_gib: r.int(3)?,
            snapshot_id: r.text(4)?,
            format: r.text(5)?,
            import_oss_bucket: r.text(6)?,
            import_oss_object: r.text(7)?,
            progress: r.text(8)?,
            remain_time_s: r.int(9)?,
        });
    }
    for r in tx.query(
        &format!(
            "SELECT vm_image, tag_key, tag_value FROM vm_image_tags \
             WHERE vm_image IN ({list}) ORDER BY vm_image, tag_key"
        ),
        &ids,
    )? {
        let at = owner_of(&r)?;
        rows[at].tags.push((r.text(1)?, r.text(2)?));
    }
    for r in tx.query(
        &format!(
            "SELECT vm_image, name, value, risk_level, risk_code FROM vm_image_checks \
             WHERE vm_image IN ({list}) ORDER BY vm_image, name"
        ),
        &ids,
    )? {
        let at = owner_of(&r)?;
        rows[at].checks.push(VmImageCheck {
            name: r.text(1)?,
            value: r.text(2)?,
            risk_level: r.text(3)?,
            risk_code: r.text(4)?,
        });
    }
    Ok(())
}
