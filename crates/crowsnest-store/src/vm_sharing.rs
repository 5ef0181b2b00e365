//! Who else sees a custom VM image and who runs it: sharing with other accounts (they see it
//! as ImageOwnerAlias `others`), publishing as a community image (IsPublic, seen by every
//! account), and the instances that use an image (DescribeImages' Usage). Only the owner may
//! share or publish; any tenant that can see an image may record its own instances of it.

use crate::sql::Tx;
use crate::vm_images::{VmImageQuery, VmImageRow};
use crate::{Store, StoreError, TenantId};

/// A tenant's view of who an image is shared with and which of its instances run it.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VmImageAudience {
    /// Account ids the image is shared with (the owner sees them all; others see none).
    pub shared_with: Vec<String>,
    /// The caller's instances that run the image.
    pub instances: Vec<String>,
}

/// The row id of `owner`'s custom image `image_id`.
fn owned_row(tx: &mut Tx<'_>, owner: TenantId, image_id: &str) -> Result<i64, StoreError> {
    tx.query_opt(
        "SELECT id FROM vm_images WHERE image_id = $1 AND tenant_id = $2 AND source = 'custom'",
        &[image_id.into(), owner.0.into()],
    )?
    .ok_or(StoreError::NotFound("vm image of this tenant"))?
    .int(0)
}

impl Store {
    /// The image `image_id` as `tenant` sees it, in any region and status; None when it does
    /// not exist or the tenant may not see it (the two are not told apart).
    pub fn vm_image(
        &self,
        tenant: TenantId,
        image_id: &str,
    ) -> Result<Option<VmImageRow>, StoreError> {
        let page = self.vm_images(
            tenant,
            &VmImageQuery {
                image_ids: vec![image_id.to_owned()],
                limit: 1,
                ..VmImageQuery::default()
            },
        )?;
        Ok(page.rows.into_iter().next())
    }

    /// The tenant whose cloud account id is `account_id`.
    pub fn tenant_by_account(&self, account_id: &str) -> Result<Option<TenantId>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                "SELECT id FROM tenants WHERE account_id = $1",
                &[account_id.into()],
            )?
            .map(|r| r.int(0).map(TenantId))
            .transpose()
        })
    }

    /// Shares `owner`'s custom image `image_id` with tenant `with`. Returns false when it
    /// already was.
    pub fn share_vm_image_with(
        &self,
        owner: TenantId,
        image_id: &str,
        with: TenantId,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let row = owned_row(tx, owner, image_id)?;
            let added = tx.execute(
                "INSERT INTO vm_image_shares (vm_image, tenant_id) VALUES ($1, $2) \
                 ON CONFLICT (vm_image, tenant_id) DO NOTHING",
                &[row.into(), with.0.into()],
            )?;
            Ok(added > 0)
        })
    }

    /// Stops sharing `owner`'s image `image_id` with `with`. Returns false when it was not
    /// shared with them. Instances `with` recorded stay recorded: they still run the image.
    pub fn unshare_vm_image(
        &self,
        owner: TenantId,
        image_id: &str,
        with: TenantId,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let row = owned_row(tx, owner, image_id)?;
            let removed = tx.execute(
                "DELETE FROM vm_image_shares WHERE vm_image = $1 AND tenant_id = $2",
                &[row.into(), with.0.into()],
            )?;
            Ok(removed > 0)
        })
    }

    /// Publishes `owner`'s image as a community image (or withdraws it), naming `supplier`
    /// as its SupplierName when published.
    pub fn set_vm_image_public(
        &self,
        owner: TenantId,
        image_id: &str,
        public: bool,
        supplier: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let row = owned_row(tx, owner, image_id)?;
            let supplier = if public { supplier } else { "" };
            tx.execute(
                "UPDATE vm_images SET is_public = $1, supplier_name = $2 WHERE id = $3",
                &[public.into(), supplier.into(), row.into()],
            )?;
            Ok(())
        })
    }

    /// Records that `tenant`'s instance `instance_id` runs image `image_id`, which the
    /// tenant must be able to see. Returns false when it was already recorded.
    pub fn add_vm_image_instance(
        &self,
        tenant: TenantId,
        image_id: &str,
        instance_id: &str,
    ) -> Result<bool, StoreError> {
        let row = self
            .vm_image(tenant, image_id)?
            .ok_or(StoreError::NotFound("vm image visible to this tenant"))?
            .id;
        self.write(|tx| {
            let added = tx.execute(
                "INSERT INTO vm_image_instances (vm_image, tenant_id, instance_id, created_ms) \
                 VALUES ($1, $2, $3, $4) \
                 ON CONFLICT (vm_image, tenant_id, instance_id) DO NOTHING",
                &[
                    row.into(),
                    tenant.0.into(),
                    instance_id.into(),
                    crate::now_ms().into(),
                ],
            )?;
            Ok(added > 0)
        })
    }

    /// Forgets that `tenant`'s instance `instance_id` runs image `image_id`. Returns false
    /// when it was not recorded (or the image is not one the tenant can see).
    pub fn remove_vm_image_instance(
        &self,
        tenant: TenantId,
        image_id: &str,
        instance_id: &str,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let removed = tx.execute(
                "DELETE FROM vm_image_instances WHERE tenant_id = $1 AND instance_id = $2 \
                 AND vm_image IN (SELECT id FROM vm_images WHERE image_id = $3)",
                &[tenant.0.into(), instance_id.into(), image_id.into()],
            )?;
            Ok(removed > 0)
        })
    }

    /// Who `tenant` may know of around image `vm_image_row`: the accounts it is shared with
    /// (only when `tenant` owns it) and the tenant's own instances running it.
    pub fn vm_image_audience(
        &self,
        tenant: TenantId,
        vm_image_row: i64,
    ) -> Result<VmImageAudience, StoreError> {
        self.read(|tx| {
            let shared_with = tx
                .query(
                    "SELECT t.account_id FROM vm_image_shares s \
                     JOIN tenants t ON t.id = s.tenant_id \
                     JOIN vm_images v ON v.id = s.vm_image \
                     WHERE s.vm_image = $1 AND v.tenant_id = $2 ORDER BY t.account_id",
                    &[vm_image_row.into(), tenant.0.into()],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect::<Result<Vec<_>, _>>()?;
            let instances = tx
                .query(
                    "SELECT instance_id FROM vm_image_instances \
                     WHERE vm_image = $1 AND tenant_id = $2 ORDER BY instance_id",
                    &[vm_image_row.into(), tenant.0.into()],
                )?
                .iter()
                .map(|r| r.text(0))
                .collect::<Result<Vec<_>, _>>()?;
            Ok(VmImageAudience {
                shared_with,
                instances,
            })
        })
    }
}
