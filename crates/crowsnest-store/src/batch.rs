//! Several writes in one transaction: [`Store::batch`] hands a [`Batch`] whose methods are
//! the store's own write methods, run on the batch's transaction, which commits when the
//! closure returns `Ok` and rolls back otherwise.
//!
//! A host agent's report is the reason: applying one took about twenty write transactions
//! (host, images, scans, local images, pods, containers, pruning), each a turn on SQLite's
//! single writer, and a failure half-way left half a report. In one batch a report is one
//! turn, and it is applied whole or not at all.

use crowsnest_model::Inventory;

use crate::hosts::{
    add_local_image_host_in, set_component_count_in, set_image_apps_in, upsert_container_in,
    upsert_host_in, upsert_local_image_in, upsert_pod_in,
};
use crate::inventory::{record_scan_in, upsert_image_in};
use crate::scans::{record_match_in, save_inventory_in, EncodedInventory};
use crate::sql::Tx;
use crate::{
    ImageApp, MatchRecorded, NewContainer, NewHost, NewImage, NewLocalImage, NewPod, ScanRecord,
    Store, StoreError, TenantId, VulnCounts,
};

/// An inventory compressed ahead of a batch (compressing inside it would hold the writer).
pub struct PreparedInventory(EncodedInventory);

impl PreparedInventory {
    /// Compresses `inventory` for [`Batch::save_inventory`].
    pub fn of(inventory: &Inventory) -> Result<PreparedInventory, StoreError> {
        EncodedInventory::of(inventory).map(PreparedInventory)
    }
}

/// The write methods of [`Store`], inside one transaction. Each does what the `Store` method
/// of the same name does.
pub struct Batch<'a, 'tx> {
    tx: &'a mut Tx<'tx>,
}

impl Store {
    /// Runs `f` with a [`Batch`] on one write transaction; commits when `f` returns `Ok`.
    pub fn batch<T>(
        &self,
        f: impl FnOnce(&mut Batch<'_, '_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        self.write(|tx| f(&mut Batch { tx }))
    }
}

impl Batch<'_, '_> {
    /// [`Store::upsert_host`].
    pub fn upsert_host(&mut self, tenant: TenantId, host: &NewHost) -> Result<i64, StoreError> {
        upsert_host_in(self.tx, tenant, host)
    }

    /// [`Store::upsert_image`].
    pub fn upsert_image(&mut self, image: &NewImage) -> Result<i64, StoreError> {
        upsert_image_in(self.tx, image)
    }

    /// [`Store::record_scan`].
    pub fn record_scan(&mut self, image_row: i64, scan: &ScanRecord) -> Result<(), StoreError> {
        record_scan_in(self.tx, image_row, scan)
    }

    /// [`Store::set_component_count`].
    pub fn set_component_count(&mut self, image_row: i64, count: i64) -> Result<(), StoreError> {
        set_component_count_in(self.tx, image_row, count)
    }

    /// [`Store::set_image_apps`].
    pub fn set_image_apps(&mut self, image_row: i64, apps: &[ImageApp]) -> Result<(), StoreError> {
        set_image_apps_in(self.tx, image_row, apps)
    }

    /// [`Store::save_inventory`], with the inventory compressed beforehand.
    pub fn save_inventory(
        &mut self,
        digest: &str,
        inventory: &PreparedInventory,
        engine_version: &str,
    ) -> Result<(), StoreError> {
        save_inventory_in(self.tx, digest, &inventory.0, engine_version)
    }

    /// [`Store::record_match`].
    pub fn record_match(
        &mut self,
        digest: &str,
        build: &str,
        counts: &VulnCounts,
    ) -> Result<MatchRecorded, StoreError> {
        record_match_in(self.tx, digest, build, counts)
    }

    /// [`Store::upsert_local_image`].
    pub fn upsert_local_image(
        &mut self,
        tenant: TenantId,
        image: &NewLocalImage,
    ) -> Result<i64, StoreError> {
        upsert_local_image_in(self.tx, tenant, image)
    }

    /// [`Store::add_local_image_host`].
    pub fn add_local_image_host(
        &mut self,
        tenant: TenantId,
        local_image_row: i64,
        host_row: i64,
    ) -> Result<(), StoreError> {
        add_local_image_host_in(self.tx, tenant, local_image_row, host_row)
    }

    /// [`Store::upsert_pod`].
    pub fn upsert_pod(&mut self, tenant: TenantId, pod: &NewPod) -> Result<i64, StoreError> {
        upsert_pod_in(self.tx, tenant, pod)
    }

    /// [`Store::upsert_container`].
    pub fn upsert_container(
        &mut self,
        tenant: TenantId,
        container: &NewContainer,
    ) -> Result<i64, StoreError> {
        upsert_container_in(self.tx, tenant, container)
    }

    /// [`Store::claim_agent_report`].
    pub fn claim_agent_report(
        &mut self,
        row: i64,
        report_id: &str,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        crate::agents::claim_agent_report_in(self.tx, row, report_id, now_ms)
    }

    /// [`Store::prune_host`].
    pub fn prune_host(
        &mut self,
        tenant: TenantId,
        host_row: i64,
        keep_local_images: &[i64],
        keep_containers: &[String],
    ) -> Result<(), StoreError> {
        crate::agents::prune_host_in(
            self.tx,
            tenant,
            host_row,
            keep_local_images,
            keep_containers,
        )
    }
}
