//! A synthetic inventory for benchmarks and `crowsnest dev seed`: tenants, registries,
//! repositories, images with one placement each, and scans, written in one transaction with
//! prepared statements. Names and digests follow from the image number, so two seeds of the
//! same plan describe the same images (digests are shared, as real ones are).

use sha2::{Digest as _, Sha256};

use std::collections::BTreeMap;

use crate::inventory::{count_placements, scan_copy_of};
use crate::sql::{Tx, Value};
use crate::{now_ms, Store, StoreError, TenantId};

/// What to generate.
#[derive(Clone, Debug)]
pub struct SeedPlan {
    /// Tenants to create; images are dealt to them in turn.
    pub tenants: u32,
    /// Images (and placements) in all.
    pub images: u64,
    /// Registries per tenant.
    pub registries_per_tenant: u32,
    /// Repositories per registry.
    pub repos_per_registry: u32,
    /// Share of images with a scan, in percent; a tenth of those failed.
    pub scanned_percent: u8,
}

impl Default for SeedPlan {
    fn default() -> Self {
        SeedPlan {
            tenants: 1,
            images: 1000,
            registries_per_tenant: 4,
            repos_per_registry: 250,
            scanned_percent: 80,
        }
    }
}

/// What was generated.
#[derive(Clone, Debug)]
pub struct SeedReport {
    /// The tenants created, in order; image `n` belongs to `tenants[n % len]`.
    pub tenants: Vec<TenantId>,
    /// Images written.
    pub images: u64,
}

/// Registry types the seed cycles through (Alibaba's and Huawei's).
const REGISTRY_TYPES: [&str; 4] = ["acr", "harbor", "SwrPrivate", "SwrShared"];
const REGIONS: [&str; 3] = ["cn-hangzhou", "cn-shanghai", "cn-north-4"];
const SEVERITIES: [&str; 4] = ["Security", "Low", "Medium", "High"];

/// A well-mixed 64-bit value for `n` (SplitMix64), so attributes do not follow the id order.
fn mix(n: u64) -> u64 {
    let mut z = n.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The manifest digest of seeded image `n`.
pub fn seed_digest(n: u64) -> String {
    format!(
        "sha256:{}",
        hex::encode(Sha256::digest(format!("crowsnest-seed-{n}")))
    )
}

fn int(v: u64) -> Value {
    Value::Int(i64::try_from(v).unwrap_or(i64::MAX))
}

impl Store {
    /// Writes the synthetic inventory of `plan` in one transaction. Tenant names carry the
    /// current time, so seeding twice adds a second set of tenants (sharing the digests).
    pub fn seed(&self, plan: &SeedPlan) -> Result<SeedReport, StoreError> {
        let run = now_ms();
        self.write(|tx| {
            let mut tenants = Vec::new();
            // repos[t][k]: the repository rows of tenant t, over all its registries.
            let mut repos: Vec<Vec<i64>> = Vec::new();
            for t in 0..plan.tenants.max(1) {
                let tenant = TenantId(
                    tx.query_one(
                        "INSERT INTO tenants (name, account_id, created_ms) VALUES ($1, $2, $3) RETURNING id",
                        &[
                            format!("seed-{run}-{t}").into(),
                            format!("seed-account-{run}-{t}").into(),
                            run.into(),
                        ],
                    )?
                    .int(0)?,
                );
                let mut rows = Vec::new();
                for g in 0..plan.registries_per_tenant.max(1) {
                    let registry = insert_registry(tx, tenant, run, t, g)?;
                    for r in 0..plan.repos_per_registry.max(1) {
                        rows.push(
                            tx.query_one(
                                "INSERT INTO repositories (tenant_id, registry_id, uid, namespace, name, repo_type, image_type) \
                                 VALUES ($1, $2, $3, $4, $5, $6, 'private_image') RETURNING id",
                                &[
                                    tenant.0.into(),
                                    registry.into(),
                                    format!("repo-{run}-{t}-{g}-{r}").into(),
                                    format!("team-{}", r % 20).into(),
                                    format!("app-{g}-{r}").into(),
                                    if r % 5 == 0 { "public" } else { "private" }.into(),
                                ],
                            )?
                            .int(0)?,
                        );
                    }
                }
                tenants.push(tenant);
                repos.push(rows);
            }
            let mut counts = Counts::new();
            for n in 0..plan.images {
                insert_image(tx, plan, &tenants, &repos, run, n, &mut counts)?;
            }
            for ((tenant, repository, state, risky), n) in counts {
                count_placements(tx, tenant, repository, &state, risky, n)?;
            }
            // Fresh statistics, so that the planners pick the selective indexes at once.
            tx.execute_batch("ANALYZE")?;
            Ok(SeedReport {
                tenants,
                images: plan.images,
            })
        })
    }
}

fn insert_registry(
    tx: &mut Tx<'_>,
    tenant: TenantId,
    run: i64,
    t: u32,
    g: u32,
) -> Result<i64, StoreError> {
    let at = g as usize;
    tx.query_one(
        "INSERT INTO registries (tenant_id, uid, name, registry_type, region_id, instance_id, \
         instance_name, endpoints, created_ms) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) RETURNING id",
        &[
            tenant.0.into(),
            format!("reg-{run}-{t}-{g}").into(),
            format!("registry-{g}").into(),
            REGISTRY_TYPES[at % REGISTRY_TYPES.len()].into(),
            REGIONS[at % REGIONS.len()].into(),
            format!("cri-{g}").into(),
            format!("instance-{g}").into(),
            format!("[\"registry-{g}.example.com\"]").into(),
            run.into(),
        ],
    )?
    .int(0)
}

/// Placements written, by tenant, repository, scan state and risk (placement_counts' key).
type Counts = BTreeMap<(TenantId, i64, String, bool), i64>;

fn insert_image(
    tx: &mut Tx<'_>,
    plan: &SeedPlan,
    tenants: &[TenantId],
    repos: &[Vec<i64>],
    run: i64,
    n: u64,
    counts: &mut Counts,
) -> Result<(), StoreError> {
    let h = mix(n);
    let t = (n % tenants.len() as u64) as usize;
    let (Some(tenant), Some(tenant_repos)) = (tenants.get(t), repos.get(t)) else {
        return Err(StoreError::Corrupt("seed plan without tenants".into()));
    };
    let repo = tenant_repos
        .get((h % tenant_repos.len().max(1) as u64) as usize)
        .copied()
        .ok_or_else(|| StoreError::Corrupt("seed plan without repositories".into()))?;
    // A day of spread in the times, in milliseconds before the run.
    let created = run - i64::try_from((h >> 8) % 86_400_000).unwrap_or(0);
    let image = tx
        .query_one(
            "INSERT INTO images (digest, config_digest, size_bytes, created_ms, is_multiarch, first_seen_ms) \
             VALUES ($1, $2, $3, $4, 0, $5) \
             ON CONFLICT (digest) DO UPDATE SET size_bytes = excluded.size_bytes RETURNING id",
            &[
                seed_digest(n).into(),
                seed_digest(n + (1 << 62)).into(),
                int(1_000_000 + (h >> 16) % 2_000_000_000),
                created.into(),
                run.into(),
            ],
        )?
        .int(0)?;
    let roll = (h >> 40) % 100;
    if roll < u64::from(plan.scanned_percent) {
        let failed = roll % 10 == 9;
        let vul = if failed { 0 } else { (h >> 20) % 60 };
        tx.execute(
            "INSERT INTO image_scans (image, state, stage, progress, failure_code, vul_count, \
             baseline_count, malicious_count, alarm_count, severity, started_ms, finished_ms) \
             VALUES ($1, $2, $3, 100, $4, $5, $6, $7, 0, $8, $9, $10) \
             ON CONFLICT (image) DO NOTHING",
            &[
                image.into(),
                if failed { "failed" } else { "succeeded" }.into(),
                if failed { "DOWNLOAD" } else { "SUCCESS" }.into(),
                if failed { "download_failed" } else { "" }.into(),
                int(vul),
                int((h >> 30) % 4),
                int(u64::from(matches!((h >> 34) % 50, 0))),
                if failed || vul == 0 {
                    ""
                } else {
                    SEVERITIES[((h >> 36) % 4) as usize]
                }
                .into(),
                (created + 1000).into(),
                (created + 61_000).into(),
            ],
        )?;
    }
    // The digest may have been scanned by an earlier seed: copy whatever scan it has.
    let copy = scan_copy_of(tx, image)?;
    let written = tx.execute(
        "INSERT INTO image_tags (tenant_id, repository_id, image, tag, uuid, updated_ms, synced_ms, \
         latest_version, deployed, status, scannable, scan_state, scan_risky, scan_finished_ms) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, 'NORMAL', 1, $10, $11, $12) \
         ON CONFLICT (repository_id, tag) DO NOTHING",
        &[
            tenant.0.into(),
            repo.into(),
            image.into(),
            format!("v{n}").into(),
            uuid::Uuid::from_u64_pair(h, n).to_string().into(),
            created.into(),
            run.into(),
            matches!(h % 7, 0).into(),
            matches!(h % 3, 0).into(),
            copy.state.as_str().into(),
            copy.risky.into(),
            copy.finished_ms.into(),
        ],
    )?;
    if written > 0 {
        *counts
            .entry((*tenant, repo, copy.state, copy.risky))
            .or_insert(0) += 1;
    }
    Ok(())
}

impl Store {
    /// Adds `hosts` hosts to `tenant`, each holding `images_per_host` local images (Huawei
    /// ListLocalImages) of digests already in the store, in one transaction; for load tests over
    /// a store that `seed` filled. Host `h` holds the images `h * images_per_host + k` (by row
    /// id, wrapping), named and versioned as the seed's placements are, so neighbouring hosts
    /// share none and the local images number `hosts * images_per_host` at most. Returns how
    /// many local images were written.
    pub fn seed_hosts(
        &self,
        tenant: TenantId,
        hosts: u32,
        images_per_host: u32,
    ) -> Result<u64, StoreError> {
        let run = now_ms();
        self.write(|tx| {
            let images = tx
                .query_one("SELECT COALESCE(MAX(id), 0) FROM images", &[])?
                .int(0)?;
            if images == 0 {
                return Err(StoreError::NotFound("seeded images"));
            }
            let mut written = 0;
            for h in 0..hosts {
                let host = tx
                    .query_one(
                        "INSERT INTO hosts (tenant_id, uid, name, agent_id, private_ip, region_id, \
                         os_type, created_ms) VALUES ($1, $2, $3, $4, $5, 'cn-north-4', 'Linux', $6) \
                         RETURNING id",
                        &[
                            tenant.0.into(),
                            format!("host-{run}-{h}").into(),
                            format!("node-{h}").into(),
                            format!("agent-{run}-{h}").into(),
                            format!("10.{}.{}.{}", h >> 16 & 255, h >> 8 & 255, h & 255).into(),
                            run.into(),
                        ],
                    )?
                    .int(0)?;
                for k in 0..images_per_host {
                    let n = (u64::from(h) * u64::from(images_per_host) + u64::from(k))
                        % images.unsigned_abs();
                    let image = i64::try_from(n).unwrap_or(0) + 1;
                    let h64 = mix(n);
                    let Some(row) = tx.query_opt(
                        "INSERT INTO local_images (tenant_id, uuid, image, image_name, image_version, \
                         local_image_type, updated_ms) \
                         SELECT $1, $2, id, $3, $4, $5, $6 FROM images WHERE id = $7 \
                         ON CONFLICT (tenant_id, image_name, image_version, image) DO NOTHING RETURNING id",
                        &[
                            tenant.0.into(),
                            uuid::Uuid::from_u64_pair(h64, n ^ (1 << 63)).to_string().into(),
                            format!("app-{}-{}", h64 % 4, (h64 >> 8) % 250).into(),
                            format!("v{n}").into(),
                            if h64.is_multiple_of(3) { "swr_image" } else { "other_image" }.into(),
                            (run - i64::try_from((h64 >> 8) % 86_400_000).unwrap_or(0)).into(),
                            image.into(),
                        ],
                    )?
                    else {
                        continue;
                    };
                    tx.execute(
                        "INSERT INTO host_local_images (local_image, host) VALUES ($1, $2)",
                        &[row.int(0)?.into(), host.into()],
                    )?;
                    written += 1;
                }
            }
            tx.execute_batch("ANALYZE")?;
            Ok(written)
        })
    }
}
