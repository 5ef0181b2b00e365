//! Importing a VM disk image into the catalogue: a custom image is recorded as `Creating` when
//! the import starts, its progress and remaining time are updated while the disk is read, and
//! it ends `Available` with what inspection found (OS, architecture, boot mode, check items,
//! NVMe support), or `CreateFailed` with the reason as a High-risk check item, so ECS
//! DescribeImages shows why. Only the importing tenant's own `Creating` rows are touched.
//!
//! An import that scanned the disk stores its inventory and risks as any scan does
//! ([`Store::save_inventory`], [`Store::save_risks`]) under [`vm_inventory_digest`] of the
//! image id, and [`Store::finish_vm_import`] links the image to that row, whose counts the
//! catalogue then shows and every re-match updates.

use crate::sql::{Tx, Value};
use crate::vm_images::{NewVmImage, VmImageCheck, VmImageDisk, VmImageSource};
use crate::{Store, StoreError, TenantId};

/// The name of the check item that carries an import failure's reason.
pub const IMPORT_CHECK: &str = "ImageImport";

/// An import that is starting.
#[derive(Clone, Debug)]
pub struct NewVmImport {
    /// Image id (m-…), unique across the store.
    pub image_id: String,
    /// Region.
    pub region_id: String,
    /// Name.
    pub image_name: String,
    /// Image family ('' for none).
    pub image_family: String,
    /// Description.
    pub description: String,
    /// Tags (key, value); keys are unique.
    pub tags: Vec<(String, String)>,
    /// Image file format (qcow2, raw), for the system disk mapping.
    pub format: String,
    /// The imported file's name (recorded as the disk's ImportOSSObject).
    pub source_name: String,
    /// Virtual disk size, GiB (rounded up).
    pub size_gib: i64,
    /// Creation, ms.
    pub created_ms: i64,
}

/// What inspection found, recorded when an import succeeds.
#[derive(Clone, Debug, Default)]
pub struct VmImportResult {
    /// linux or windows.
    pub os_type: String,
    /// OS name (PRETTY_NAME).
    pub os_name: String,
    /// OS name in English.
    pub os_name_en: String,
    /// Platform (Debian, Ubuntu, ...).
    pub platform: String,
    /// i386, x86_64, arm64.
    pub architecture: String,
    /// BIOS or UEFI.
    pub boot_mode: String,
    /// cloud-init installed.
    pub is_support_cloudinit: bool,
    /// supported or unsupported.
    pub nvme_support: String,
    /// DetectionOptions items.
    pub checks: Vec<VmImageCheck>,
    /// Packages the catalogers found on the root filesystem.
    pub package_count: i64,
    /// The key of the inventory stored for the image ([`vm_inventory_digest`]); empty when
    /// the import stored none.
    pub inventory_digest: String,
}

/// The key an imported VM image's inventory is stored under: `sha256:` and the SHA-256 of a
/// fixed prefix and the image id. A disk has no content digest that is cheap to know (a qcow2
/// file's bytes are not its content, and hashing the virtual disk would read it all again),
/// while the image id is unique across the store and never reused by another tenant; the
/// prefix keeps these keys apart from any image digest.
pub fn vm_inventory_digest(image_id: &str) -> String {
    use sha2::Digest as _;
    let mut h = sha2::Sha256::new();
    h.update(b"crowsnest vm image inventory\0");
    h.update(image_id.as_bytes());
    format!("sha256:{}", hex::encode(h.finalize()))
}

impl Store {
    /// Records the custom image of `tenant` as `Creating` (0%, detection Processing) with one
    /// system disk. Returns the row id. An image id already used by another tenant is refused.
    pub fn begin_vm_import(
        &self,
        tenant: TenantId,
        import: &NewVmImport,
    ) -> Result<i64, StoreError> {
        let account: String = self
            .read(|tx| {
                tx.query_opt(
                    "SELECT account_id FROM tenants WHERE id = $1",
                    &[tenant.0.into()],
                )
            })?
            .ok_or(StoreError::NotFound("tenant"))?
            .text(0)?;
        let image = NewVmImage {
            image_id: import.image_id.clone(),
            region_id: import.region_id.clone(),
            source: VmImageSource::Custom,
            // Account ids are numeric for Alibaba; anything else has no ImageOwnerId.
            owner_account_id: account.parse().unwrap_or(0),
            image_name: import.image_name.clone(),
            image_family: import.image_family.clone(),
            image_version: String::new(),
            description: import.description.clone(),
            status: "Creating".into(),
            progress: "0%".into(),
            is_public: false,
            is_copied: false,
            is_self_shared: false,
            is_subscribed: false,
            is_support_io_optimized: true,
            is_support_cloudinit: false,
            login_as_non_root: false,
            usage: "none".into(),
            os_type: "linux".into(),
            os_name: String::new(),
            os_name_en: String::new(),
            platform: String::new(),
            architecture: String::new(),
            boot_mode: String::new(),
            size_gib: import.size_gib,
            product_code: String::new(),
            supplier_name: String::new(),
            resource_group_id: String::new(),
            nvme_support: String::new(),
            detection_status: "Processing".into(),
            created_ms: import.created_ms,
            disks: vec![VmImageDisk {
                disk_type: "system".into(),
                device: "/dev/xvda".into(),
                size_gib: import.size_gib,
                snapshot_id: String::new(),
                format: import.format.clone(),
                import_oss_bucket: String::new(),
                import_oss_object: import.source_name.clone(),
                progress: "0%".into(),
                remain_time_s: 0,
            }],
            tags: import.tags.clone(),
            checks: Vec::new(),
        };
        self.upsert_vm_image(Some(tenant), &image)
    }

    /// Updates a `Creating` import's progress (0..=100) and its estimated remaining seconds.
    pub fn vm_import_progress(
        &self,
        tenant: TenantId,
        image_id: &str,
        percent: u8,
        remain_s: i64,
    ) -> Result<(), StoreError> {
        let progress = format!("{}%", percent.min(100));
        self.write(|tx| {
            let row = creating_row(tx, tenant, image_id)?;
            tx.execute(
                "UPDATE vm_images SET progress = $1 WHERE id = $2",
                &[progress.as_str().into(), row.into()],
            )?;
            tx.execute(
                "UPDATE vm_image_disks SET progress = $1, remain_time_s = $2 WHERE vm_image = $3",
                &[progress.as_str().into(), remain_s.max(0).into(), row.into()],
            )?;
            Ok(())
        })
    }

    /// Ends a `Creating` import as `Available` with what inspection found.
    pub fn finish_vm_import(
        &self,
        tenant: TenantId,
        image_id: &str,
        result: &VmImportResult,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let row = creating_row(tx, tenant, image_id)?;
            tx.execute(
                "UPDATE vm_images SET status = 'Available', progress = '100%', os_type = $1, \
                 os_name = $2, os_name_en = $3, platform = $4, architecture = $5, boot_mode = $6, \
                 is_support_cloudinit = $7, nvme_support = $8, detection_status = 'Finished', \
                 package_count = $10, inventory_digest = $11 WHERE id = $9",
                &[
                    result.os_type.as_str().into(),
                    result.os_name.as_str().into(),
                    result.os_name_en.as_str().into(),
                    result.platform.as_str().into(),
                    result.architecture.as_str().into(),
                    result.boot_mode.as_str().into(),
                    result.is_support_cloudinit.into(),
                    result.nvme_support.as_str().into(),
                    row.into(),
                    result.package_count.into(),
                    result.inventory_digest.as_str().into(),
                ],
            )?;
            finish_disks(tx, row, "100%")?;
            replace_checks(tx, row, &result.checks)
        })
    }

    /// Ends a `Creating` import as `CreateFailed`. The reason is kept as the check item
    /// [`IMPORT_CHECK`] (value: the reason, risk High, risk code: the error's stable code).
    pub fn fail_vm_import(
        &self,
        tenant: TenantId,
        image_id: &str,
        code: &str,
        reason: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let row = creating_row(tx, tenant, image_id)?;
            tx.execute(
                "UPDATE vm_images SET status = 'CreateFailed', detection_status = 'Finished' \
                 WHERE id = $1",
                &[row.into()],
            )?;
            tx.execute(
                "UPDATE vm_image_disks SET remain_time_s = 0 WHERE vm_image = $1",
                &[row.into()],
            )?;
            replace_checks(
                tx,
                row,
                &[VmImageCheck {
                    name: IMPORT_CHECK.into(),
                    value: reason.into(),
                    risk_level: "High".into(),
                    risk_code: code.into(),
                }],
            )
        })
    }
}

/// The row id of `tenant`'s image `image_id` while it is `Creating`.
fn creating_row(tx: &mut Tx<'_>, tenant: TenantId, image_id: &str) -> Result<i64, StoreError> {
    tx.query_opt(
        "SELECT id FROM vm_images WHERE image_id = $1 AND tenant_id = $2 AND status = 'Creating'",
        &[image_id.into(), tenant.0.into()],
    )?
    .ok_or(StoreError::NotFound(
        "vm image being imported by this tenant",
    ))?
    .int(0)
}

fn finish_disks(tx: &mut Tx<'_>, row: i64, progress: &str) -> Result<(), StoreError> {
    tx.execute(
        "UPDATE vm_image_disks SET progress = $1, remain_time_s = 0 WHERE vm_image = $2",
        &[progress.into(), row.into()],
    )?;
    Ok(())
}

fn replace_checks(tx: &mut Tx<'_>, row: i64, checks: &[VmImageCheck]) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM vm_image_checks WHERE vm_image = $1",
        &[row.into()],
    )?;
    for c in checks {
        let params: [Value; 5] = [
            row.into(),
            c.name.as_str().into(),
            c.value.as_str().into(),
            c.risk_level.as_str().into(),
            c.risk_code.as_str().into(),
        ];
        tx.execute(
            "INSERT INTO vm_image_checks (vm_image, name, value, risk_level, risk_code) \
             VALUES ($1, $2, $3, $4, $5)",
            &params,
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vm_images::VmImageQuery;
    use crate::NewTenant;

    fn store() -> (tempfile::TempDir, Store, TenantId) {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open_sqlite(&dir.path().join("s.db")).unwrap();
        let tenant = store
            .create_tenant(&NewTenant {
                name: "acme".into(),
                account_id: "1234567890".into(),
            })
            .unwrap();
        (dir, store, tenant)
    }

    fn import(id: &str) -> NewVmImport {
        NewVmImport {
            image_id: id.into(),
            region_id: "cn-hangzhou".into(),
            image_name: "debian-vm".into(),
            image_family: String::new(),
            description: String::new(),
            tags: Vec::new(),
            format: "qcow2".into(),
            source_name: "debian.qcow2".into(),
            size_gib: 2,
            created_ms: 1_700_000_000_000,
        }
    }

    fn query(statuses: &[&str]) -> VmImageQuery {
        VmImageQuery {
            region_id: "cn-hangzhou".into(),
            statuses: statuses.iter().map(|s| s.to_string()).collect(),
            limit: 10,
            ..VmImageQuery::default()
        }
    }

    #[test]
    fn import_moves_from_creating_with_progress_to_available_with_checks() {
        let (_dir, store, tenant) = store();
        store.begin_vm_import(tenant, &import("m-vm1")).unwrap();
        store.vm_import_progress(tenant, "m-vm1", 40, 12).unwrap();
        let page = store.vm_images(tenant, &query(&["Creating"])).unwrap();
        assert_eq!(page.total, 1);
        let row = &page.rows[0];
        assert_eq!(
            (row.progress.as_str(), row.owner_account_id),
            ("40%", 1234567890)
        );
        assert_eq!(row.disks[0].remain_time_s, 12);
        assert_eq!(row.disks[0].format, "qcow2");

        let result = VmImportResult {
            os_type: "linux".into(),
            os_name: "Debian GNU/Linux 12 (bookworm)".into(),
            architecture: "x86_64".into(),
            boot_mode: "UEFI".into(),
            nvme_support: "unsupported".into(),
            checks: vec![VmImageCheck {
                name: "Nvme".into(),
                value: "NotInstalled".into(),
                risk_level: "High".into(),
                risk_code: "NVMe.NotInstallded".into(),
            }],
            ..VmImportResult::default()
        };
        store.finish_vm_import(tenant, "m-vm1", &result).unwrap();
        assert_eq!(
            store
                .vm_images(tenant, &query(&["Creating"]))
                .unwrap()
                .total,
            0
        );
        let row = &store
            .vm_images(tenant, &query(&["Available"]))
            .unwrap()
            .rows[0];
        assert_eq!(row.status, "Available");
        assert_eq!(row.progress, "100%");
        assert_eq!(row.boot_mode, "UEFI");
        assert_eq!(row.nvme_support, "unsupported");
        assert_eq!(row.detection_status, "Finished");
        assert_eq!(row.checks, result.checks);
        // A finished import cannot be moved again.
        assert!(store.fail_vm_import(tenant, "m-vm1", "x", "y").is_err());
    }

    #[test]
    fn failed_import_keeps_its_reason_as_a_high_risk_check() {
        let (_dir, store, tenant) = store();
        store.begin_vm_import(tenant, &import("m-bad")).unwrap();
        store
            .fail_vm_import(tenant, "m-bad", "invalid_image", "qcow2 truncated")
            .unwrap();
        let row = &store
            .vm_images(tenant, &query(&["CreateFailed"]))
            .unwrap()
            .rows[0];
        assert_eq!(row.checks.len(), 1);
        assert_eq!(row.checks[0].name, IMPORT_CHECK);
        assert_eq!(row.checks[0].value, "qcow2 truncated");
        assert_eq!(row.checks[0].risk_code, "invalid_image");
        // Another tenant cannot touch it.
        let other = store
            .create_tenant(&NewTenant {
                name: "other".into(),
                account_id: "42".into(),
            })
            .unwrap();
        assert!(store.vm_import_progress(other, "m-bad", 1, 1).is_err());
    }
}
