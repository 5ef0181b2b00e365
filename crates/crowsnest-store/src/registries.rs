//! Registries Crowsnest synchronises itself: how to reach them (URL, user, sealed secret,
//! namespace filters, TLS options), the latest sync, and the edits a sync makes beyond the
//! upserts of [`crate::inventory`]: tags that disappeared, repositories that disappeared,
//! `latest_version`, and which digests still need a scan.
//!
//! The secret is stored as the caller sealed it; this crate never sees a password.

use crate::inventory::{count_placements, NewRegistry};
use crate::sql::{Row, Tx};
use crate::{Store, StoreError, TenantId};

/// A registry to connect: the registry record and how to reach it.
#[derive(Clone, Debug, Default)]
pub struct NewRegistryConnection {
    /// The registry record (uid, name, type, region, instance).
    pub registry: NewRegistry,
    /// `https://host[:port]` or `http://host[:port]`.
    pub url: String,
    /// User name ('' for anonymous access).
    pub username: String,
    /// The password or token, already sealed by the caller ('' for none).
    pub secret_sealed: String,
    /// Namespaces to keep; empty keeps every namespace.
    pub namespace_filters: Vec<String>,
    /// Repositories to walk when the registry offers no `_catalog`.
    pub repositories: Vec<String>,
    /// Accept any TLS certificate.
    pub insecure_tls: bool,
    /// Extra CA certificate (PEM), '' for none.
    pub ca_cert_pem: String,
    /// Cron expression of scheduled syncs ('' for none); the caller has checked it.
    pub schedule: String,
    /// When the first scheduled run is due, ms (0 for none): the caller computes it from
    /// `schedule`, which this crate does not parse.
    pub next_run_ms: i64,
}

/// A connected registry as stored.
#[derive(Clone, Debug, PartialEq)]
pub struct RegistryConnection {
    /// Registry row id.
    pub id: i64,
    /// External id.
    pub uid: String,
    /// Display name.
    pub name: String,
    /// harbor, quay, jfrog, acr, swr, docker-hub, generic.
    pub registry_type: String,
    /// Region.
    pub region_id: String,
    /// Managed-registry instance id.
    pub instance_id: String,
    /// Instance name.
    pub instance_name: String,
    /// Instance URL.
    pub instance_url: String,
    /// Where the registry API is.
    pub url: String,
    /// User name.
    pub username: String,
    /// Sealed secret ('' for none).
    pub secret_sealed: String,
    /// Namespaces kept.
    pub namespace_filters: Vec<String>,
    /// Configured repositories.
    pub repositories: Vec<String>,
    /// Accept any TLS certificate.
    pub insecure_tls: bool,
    /// Extra CA certificate (PEM).
    pub ca_cert_pem: String,
    /// When the latest sync finished, ms (0 = never).
    pub latest_sync_ms: i64,
    /// '' after a good sync, else `code: message`.
    pub latest_sync_error: String,
    /// When the registry was added, ms.
    pub created_ms: i64,
    /// Cron expression of scheduled syncs ('' for none).
    pub schedule: String,
    /// When the next scheduled run is due, ms (0 for none).
    pub next_run_ms: i64,
    /// When the latest scheduled run was claimed, ms (0 for never).
    pub last_run_ms: i64,
    /// The owning tenant.
    pub tenant: TenantId,
}

impl RegistryConnection {
    /// What writes this connection back as it is now: `add_registry_connection` of it updates
    /// the stored record (the uid names it) after a caller changed some fields.
    pub fn to_new(&self) -> NewRegistryConnection {
        NewRegistryConnection {
            registry: NewRegistry {
                uid: self.uid.clone(),
                name: self.name.clone(),
                registry_type: self.registry_type.clone(),
                region_id: self.region_id.clone(),
                instance_id: self.instance_id.clone(),
                instance_name: self.instance_name.clone(),
                instance_url: self.instance_url.clone(),
                endpoints: vec![self.url.clone()],
                ..NewRegistry::default()
            },
            url: self.url.clone(),
            username: self.username.clone(),
            secret_sealed: self.secret_sealed.clone(),
            namespace_filters: self.namespace_filters.clone(),
            repositories: self.repositories.clone(),
            insecure_tls: self.insecure_tls,
            ca_cert_pem: self.ca_cert_pem.clone(),
            schedule: self.schedule.clone(),
            next_run_ms: self.next_run_ms,
        }
    }
}

/// A tag a previous sync recorded.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SyncedTag {
    /// Repository row id.
    pub repository_id: i64,
    /// Namespace.
    pub namespace: String,
    /// Repository name (without namespace).
    pub repository: String,
    /// Tag.
    pub tag: String,
    /// The manifest digest it pointed at.
    pub digest: String,
    /// The image row.
    pub image_row: i64,
    /// The image's creation time, ms.
    pub created_ms: i64,
    /// When the tag last changed, ms.
    pub updated_ms: i64,
}

/// What the end of a sync changes (see [`Store::finish_registry_sync`]).
#[derive(Clone, Debug, Default)]
pub struct SyncEnd {
    /// (repository row, tag) of tags that disappeared.
    pub gone_tags: Vec<(i64, String)>,
    /// Repository rows that disappeared.
    pub gone_repositories: Vec<i64>,
    /// (repository row, tag) of each repository's latest version.
    pub latest: Vec<(i64, String)>,
    /// When the sync finished, ms.
    pub synced_ms: i64,
    /// '' after a good sync, else `code: message`.
    pub error: String,
}

/// An image of a registry without a scan yet.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnscannedImage {
    /// Image row.
    pub image_row: i64,
    /// Manifest (or index) digest.
    pub digest: String,
    /// Namespace of one repository holding it.
    pub namespace: String,
    /// That repository's name.
    pub repository: String,
    /// A multi-arch index (its children are what gets scanned).
    pub is_multiarch: bool,
}

const CONNECTION_COLUMNS: &str = "g.id, g.uid, g.name, g.registry_type, g.region_id, \
    g.instance_id, g.instance_name, g.instance_url, c.url, c.username, c.secret_sealed, \
    c.namespace_filters, c.repositories, c.insecure_tls, c.ca_cert_pem, c.latest_sync_ms, \
    c.latest_sync_error, g.created_ms, c.schedule, c.next_run_ms, c.last_run_ms, g.tenant_id";

fn connection_from(row: &Row) -> Result<RegistryConnection, StoreError> {
    let list = |i: usize| -> Result<Vec<String>, StoreError> {
        serde_json::from_str(&row.text(i)?)
            .map_err(|e| StoreError::Corrupt(format!("column {i}: {e}")))
    };
    Ok(RegistryConnection {
        id: row.int(0)?,
        uid: row.text(1)?,
        name: row.text(2)?,
        registry_type: row.text(3)?,
        region_id: row.text(4)?,
        instance_id: row.text(5)?,
        instance_name: row.text(6)?,
        instance_url: row.text(7)?,
        url: row.text(8)?,
        username: row.text(9)?,
        secret_sealed: row.text(10)?,
        namespace_filters: list(11)?,
        repositories: list(12)?,
        insecure_tls: row.bool(13)?,
        ca_cert_pem: row.text(14)?,
        latest_sync_ms: row.int(15)?,
        latest_sync_error: row.text(16)?,
        created_ms: row.int(17)?,
        schedule: row.text(18)?,
        next_run_ms: row.int(19)?,
        last_run_ms: row.int(20)?,
        tenant: TenantId(row.int(21)?),
    })
}

fn json_list(items: &[String]) -> Result<String, StoreError> {
    serde_json::to_string(items).map_err(|e| StoreError::Corrupt(e.to_string()))
}

/// Fails unless `registry` belongs to `tenant`.
fn check_owner(tx: &mut Tx<'_>, tenant: TenantId, registry: i64) -> Result<(), StoreError> {
    tx.query_opt(
        "SELECT id FROM registries WHERE id = $1 AND tenant_id = $2",
        &[registry.into(), tenant.0.into()],
    )?
    .ok_or(StoreError::NotFound("registry of this tenant"))?;
    Ok(())
}

/// Deletes one placement and takes it out of the placement counts.
fn delete_tag_row(tx: &mut Tx<'_>, tag_id: i64) -> Result<(), StoreError> {
    let Some(row) = tx.query_opt(
        "SELECT tenant_id, repository_id, scan_state, scan_risky FROM image_tags WHERE id = $1",
        &[tag_id.into()],
    )?
    else {
        return Ok(());
    };
    tx.execute("DELETE FROM image_tags WHERE id = $1", &[tag_id.into()])?;
    count_placements(
        tx,
        TenantId(row.int(0)?),
        row.int(1)?,
        &row.text(2)?,
        row.int(3)?,
        -1,
    )
}

/// Deletes a repository with its placements and counts.
fn delete_repository_rows(tx: &mut Tx<'_>, repository: i64) -> Result<(), StoreError> {
    tx.execute(
        "DELETE FROM image_tags WHERE repository_id = $1",
        &[repository.into()],
    )?;
    tx.execute(
        "DELETE FROM placement_counts WHERE repository_id = $1",
        &[repository.into()],
    )?;
    tx.execute(
        "DELETE FROM repositories WHERE id = $1",
        &[repository.into()],
    )?;
    Ok(())
}

impl Store {
    /// Records a registry and how to reach it for `tenant` (updating both when the uid exists).
    /// Returns the registry row id.
    pub fn add_registry_connection(
        &self,
        tenant: TenantId,
        new: &NewRegistryConnection,
    ) -> Result<i64, StoreError> {
        let id = self.upsert_registry(tenant, &new.registry)?;
        let filters = json_list(&new.namespace_filters)?;
        let repositories = json_list(&new.repositories)?;
        self.write(|tx| {
            tx.execute(
                "INSERT INTO registry_connections (registry_id, url, username, secret_sealed, \
                 namespace_filters, repositories, insecure_tls, ca_cert_pem, schedule, \
                 next_run_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
                 ON CONFLICT (registry_id) DO UPDATE SET url = excluded.url, \
                 username = excluded.username, secret_sealed = excluded.secret_sealed, \
                 namespace_filters = excluded.namespace_filters, \
                 repositories = excluded.repositories, insecure_tls = excluded.insecure_tls, \
                 ca_cert_pem = excluded.ca_cert_pem, schedule = excluded.schedule, \
                 next_run_ms = excluded.next_run_ms",
                &[
                    id.into(),
                    new.url.as_str().into(),
                    new.username.as_str().into(),
                    new.secret_sealed.as_str().into(),
                    filters.into(),
                    repositories.into(),
                    new.insecure_tls.into(),
                    new.ca_cert_pem.as_str().into(),
                    new.schedule.as_str().into(),
                    new.next_run_ms.into(),
                ],
            )?;
            Ok(id)
        })
    }

    /// `tenant`'s connected registries, oldest first.
    pub fn registry_connections(
        &self,
        tenant: TenantId,
    ) -> Result<Vec<RegistryConnection>, StoreError> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT {CONNECTION_COLUMNS} FROM registries g \
                     JOIN registry_connections c ON c.registry_id = g.id \
                     WHERE g.tenant_id = $1 ORDER BY g.id"
                ),
                &[tenant.0.into()],
            )?
            .iter()
            .map(connection_from)
            .collect()
        })
    }

    /// One of `tenant`'s connected registries by uid.
    pub fn registry_connection(
        &self,
        tenant: TenantId,
        uid: &str,
    ) -> Result<Option<RegistryConnection>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                &format!(
                    "SELECT {CONNECTION_COLUMNS} FROM registries g \
                     JOIN registry_connections c ON c.registry_id = g.id \
                     WHERE g.tenant_id = $1 AND g.uid = $2"
                ),
                &[tenant.0.into(), uid.into()],
            )?
            .as_ref()
            .map(connection_from)
            .transpose()
        })
    }

    /// Removes `tenant`'s registry `uid` with its connection, repositories and placements. The
    /// images themselves stay: other places may use the same digests. False when absent.
    pub fn remove_registry(&self, tenant: TenantId, uid: &str) -> Result<bool, StoreError> {
        self.write(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT id FROM registries WHERE tenant_id = $1 AND uid = $2",
                &[tenant.0.into(), uid.into()],
            )?
            else {
                return Ok(false);
            };
            let registry = row.int(0)?;
            let repositories = tx.query(
                "SELECT id FROM repositories WHERE registry_id = $1",
                &[registry.into()],
            )?;
            for repo in &repositories {
                delete_repository_rows(tx, repo.int(0)?)?;
            }
            tx.execute(
                "DELETE FROM registry_connections WHERE registry_id = $1",
                &[registry.into()],
            )?;
            tx.execute("DELETE FROM registries WHERE id = $1", &[registry.into()])?;
            Ok(true)
        })
    }

    /// Every tag recorded under `tenant`'s registry `registry`, with its digest.
    pub fn synced_tags(
        &self,
        tenant: TenantId,
        registry: i64,
    ) -> Result<Vec<SyncedTag>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT r.id, r.namespace, r.name, t.tag, i.digest, i.id, i.created_ms, t.updated_ms \
                 FROM repositories r JOIN image_tags t ON t.repository_id = r.id \
                 JOIN images i ON i.id = t.image \
                 WHERE r.tenant_id = $1 AND r.registry_id = $2 ORDER BY r.id, t.tag",
                &[tenant.0.into(), registry.into()],
            )?
            .iter()
            .map(|row| {
                Ok(SyncedTag {
                    repository_id: row.int(0)?,
                    namespace: row.text(1)?,
                    repository: row.text(2)?,
                    tag: row.text(3)?,
                    digest: row.text(4)?,
                    image_row: row.int(5)?,
                    created_ms: row.int(6)?,
                    updated_ms: row.int(7)?,
                })
            })
            .collect()
        })
    }

    /// The repositories recorded under `tenant`'s registry: (row id, namespace, name).
    pub fn registry_repositories(
        &self,
        tenant: TenantId,
        registry: i64,
    ) -> Result<Vec<(i64, String, String)>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT id, namespace, name FROM repositories \
                 WHERE tenant_id = $1 AND registry_id = $2 ORDER BY id",
                &[tenant.0.into(), registry.into()],
            )?
            .iter()
            .map(|row| Ok((row.int(0)?, row.text(1)?, row.text(2)?)))
            .collect()
        })
    }

    /// Applies the end of a sync in one transaction: deletes the vanished tags and
    /// repositories, stamps every remaining tag of the registry with the sync time, marks each
    /// repository's latest version, and records the sync's time and error.
    pub fn finish_registry_sync(
        &self,
        tenant: TenantId,
        registry: i64,
        end: &SyncEnd,
    ) -> Result<(), StoreError> {
        let SyncEnd {
            gone_tags,
            gone_repositories,
            latest,
            synced_ms,
            error,
        } = end;
        let (synced_ms, error) = (*synced_ms, error.as_str());
        self.write(|tx| {
            check_owner(tx, tenant, registry)?;
            for (repository, tag) in gone_tags {
                let Some(row) = tx.query_opt(
                    "SELECT t.id FROM image_tags t JOIN repositories r ON r.id = t.repository_id \
                     WHERE t.repository_id = $1 AND t.tag = $2 AND r.registry_id = $3",
                    &[(*repository).into(), tag.as_str().into(), registry.into()],
                )?
                else {
                    continue;
                };
                delete_tag_row(tx, row.int(0)?)?;
            }
            for repository in gone_repositories {
                let owned = tx.query_opt(
                    "SELECT id FROM repositories WHERE id = $1 AND registry_id = $2",
                    &[(*repository).into(), registry.into()],
                )?;
                if owned.is_some() {
                    delete_repository_rows(tx, *repository)?;
                }
            }
            tx.execute(
                "UPDATE image_tags SET synced_ms = $2, latest_version = 0 WHERE repository_id IN \
                 (SELECT id FROM repositories WHERE registry_id = $1)",
                &[registry.into(), synced_ms.into()],
            )?;
            for (repository, tag) in latest {
                tx.execute(
                    "UPDATE image_tags SET latest_version = 1 WHERE repository_id = $1 AND tag = $2 \
                     AND repository_id IN (SELECT id FROM repositories WHERE registry_id = $3)",
                    &[(*repository).into(), tag.as_str().into(), registry.into()],
                )?;
            }
            tx.execute(
                "UPDATE registry_connections SET latest_sync_ms = $2, latest_sync_error = $3 \
                 WHERE registry_id = $1",
                &[registry.into(), synced_ms.into(), error.into()],
            )?;
            Ok(())
        })
    }

    /// Images placed in `tenant`'s registry that have no scan yet, one per image.
    pub fn registry_images_unscanned(
        &self,
        tenant: TenantId,
        registry: i64,
    ) -> Result<Vec<UnscannedImage>, StoreError> {
        self.read(|tx| {
            let rows = tx.query(
                "SELECT i.id, i.digest, r.namespace, r.name, i.is_multiarch \
                 FROM image_tags t JOIN repositories r ON r.id = t.repository_id \
                 JOIN images i ON i.id = t.image \
                 LEFT JOIN image_scans s ON s.image = i.id \
                 WHERE r.tenant_id = $1 AND r.registry_id = $2 AND s.image IS NULL \
                 ORDER BY i.id, r.id",
                &[tenant.0.into(), registry.into()],
            )?;
            let mut out: Vec<UnscannedImage> = Vec::new();
            for row in &rows {
                let image_row = row.int(0)?;
                if out.last().is_some_and(|last| last.image_row == image_row) {
                    continue;
                }
                out.push(UnscannedImage {
                    image_row,
                    digest: row.text(1)?,
                    namespace: row.text(2)?,
                    repository: row.text(3)?,
                    is_multiarch: row.bool(4)?,
                });
            }
            Ok(out)
        })
    }
}

/// Scheduled runs: which registries are due, and claiming a run exactly once.
impl Store {
    /// Every tenant's registries with a schedule whose next run is due at `now_ms`, the
    /// longest overdue first.
    pub fn due_registry_runs(&self, now_ms: i64) -> Result<Vec<RegistryConnection>, StoreError> {
        self.read(|tx| {
            tx.query(
                &format!(
                    "SELECT {CONNECTION_COLUMNS} FROM registries g \
                     JOIN registry_connections c ON c.registry_id = g.id \
                     WHERE c.schedule <> '' AND c.next_run_ms > 0 AND c.next_run_ms <= $1 \
                     ORDER BY c.next_run_ms, g.id"
                ),
                &[now_ms.into()],
            )?
            .iter()
            .map(connection_from)
            .collect()
        })
    }

    /// Claims the run of `registry` that was due at `due_ms`, moving its next run to
    /// `next_ms` (0 for none). True only for the one caller whose update found `due_ms` still
    /// stored: servers sharing the store that read the same due run race on this conditional
    /// update, and every loser sees a changed `next_run_ms` and skips the run.
    pub fn claim_registry_run(
        &self,
        registry: i64,
        due_ms: i64,
        next_ms: i64,
        now_ms: i64,
    ) -> Result<bool, StoreError> {
        self.write(|tx| {
            let changed = tx.execute(
                "UPDATE registry_connections SET next_run_ms = $3, last_run_ms = $4 \
                 WHERE registry_id = $1 AND next_run_ms = $2 AND schedule <> ''",
                &[
                    registry.into(),
                    due_ms.into(),
                    next_ms.into(),
                    now_ms.into(),
                ],
            )?;
            Ok(changed == 1)
        })
    }

    /// Images placed in `tenant`'s registry that have no scan yet and no job waiting or
    /// running for their digest: what a scheduled run queues a scan task for (a digest an
    /// earlier run already queued is not queued again while that job is pending).
    pub fn registry_images_to_schedule(
        &self,
        tenant: TenantId,
        registry: i64,
    ) -> Result<Vec<String>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT DISTINCT i.digest \
                 FROM image_tags t JOIN repositories r ON r.id = t.repository_id \
                 JOIN images i ON i.id = t.image \
                 LEFT JOIN image_scans s ON s.image = i.id \
                 WHERE r.tenant_id = $1 AND r.registry_id = $2 AND s.image IS NULL \
                 AND t.scannable = 1 \
                 AND NOT EXISTS (SELECT 1 FROM scan_jobs j WHERE j.tenant_id = $1 \
                 AND j.digest = i.digest AND j.state IN ('queued', 'running')) \
                 ORDER BY i.digest",
                &[tenant.0.into(), registry.into()],
            )?
            .iter()
            .map(|row| row.text(0))
            .collect()
        })
    }
}
