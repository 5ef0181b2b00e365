//! Tenants, the Huawei project ids they own, their AccessKeys and tokens, and the nonces that
//! stop a signed request from being replayed.

use sha2::{Digest, Sha256};

use crate::{now_ms, Store, StoreError};

/// The numeric id of a tenant. Every tenant-scoped query takes one.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TenantId(pub i64);

/// What is needed to create a tenant.
#[derive(Clone, Debug)]
pub struct NewTenant {
    /// A unique display name.
    pub name: String,
    /// The cloud account id (Alibaba aliUid, Huawei domain id); unique.
    pub account_id: String,
}

/// An AccessKey as the authenticator needs it.
#[derive(Clone, Debug)]
pub struct ApiKey {
    /// The tenant the key belongs to.
    pub tenant: TenantId,
    /// The public key id.
    pub access_key_id: String,
    /// The shared secret the HMAC signatures are computed with.
    pub secret: String,
    /// The policy actions the key may call (`yundun-sas:DescribeImageInstances`, `yundun-sas:*`, `*`).
    pub actions: Vec<String>,
    /// Disabled keys authenticate nothing.
    pub enabled: bool,
}

/// An AccessKey as its owner sees it in a listing: never the secret.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ApiKeySummary {
    /// The public key id.
    pub access_key_id: String,
    /// The policy actions the key may call.
    pub actions: Vec<String>,
    /// False once the key is revoked.
    pub enabled: bool,
    /// When the key was created, ms since the epoch.
    pub created_ms: i64,
}

impl ApiKey {
    /// Whether the key's policy allows `action` (`service:Operation`). A statement may be the
    /// exact action, `service:*`, or `*`.
    pub fn allows(&self, action: &str) -> bool {
        policy_allows(&self.actions, action)
    }
}

/// Whether a list of policy actions allows `action`; service prefixes compare case-insensitively
/// as RAM does, operation names exactly.
pub fn policy_allows(actions: &[String], action: &str) -> bool {
    let (service, _) = action.split_once(':').unwrap_or((action, ""));
    actions.iter().any(|granted| {
        granted == "*"
            || granted.eq_ignore_ascii_case(action)
            || granted
                .strip_suffix(":*")
                .is_some_and(|s| s.eq_ignore_ascii_case(service))
    })
}

fn join_actions(actions: &[&str]) -> String {
    actions.join("\n")
}

fn split_actions(text: &str) -> Vec<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

impl Store {
    /// The display name of `tenant`, None when there is no such tenant.
    pub fn tenant_name(&self, tenant: TenantId) -> Result<Option<String>, StoreError> {
        self.read(|tx| {
            tx.query_opt("SELECT name FROM tenants WHERE id = $1", &[tenant.0.into()])?
                .map(|r| r.text(0))
                .transpose()
        })
    }

    /// Creates a tenant.
    pub fn create_tenant(&self, tenant: &NewTenant) -> Result<TenantId, StoreError> {
        self.write(|tx| {
            let row = tx.query_one(
                "INSERT INTO tenants (name, account_id, created_ms) VALUES ($1, $2, $3) RETURNING id",
                &[
                    tenant.name.as_str().into(),
                    tenant.account_id.as_str().into(),
                    now_ms().into(),
                ],
            )?;
            Ok(TenantId(row.int(0)?))
        })
    }

    /// Records that a Huawei project id (in `region_id`) belongs to `tenant`.
    pub fn add_project(
        &self,
        tenant: TenantId,
        project_id: &str,
        region_id: &str,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO projects (project_id, tenant_id, region_id) VALUES ($1, $2, $3)",
                &[project_id.into(), tenant.0.into(), region_id.into()],
            )?;
            Ok(())
        })
    }

    /// The tenant owning a Huawei project id.
    pub fn project_tenant(&self, project_id: &str) -> Result<Option<TenantId>, StoreError> {
        self.read(|tx| {
            tx.query_opt(
                "SELECT tenant_id FROM projects WHERE project_id = $1",
                &[project_id.into()],
            )?
            .map(|r| r.int(0).map(TenantId))
            .transpose()
        })
    }

    /// Creates an AccessKey for `tenant` with the given policy actions.
    pub fn create_api_key(
        &self,
        tenant: TenantId,
        access_key_id: &str,
        secret: &str,
        actions: &[&str],
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_keys (tenant_id, access_key_id, secret, actions, enabled, created_ms) \
                 VALUES ($1, $2, $3, $4, 1, $5)",
                &[
                    tenant.0.into(),
                    access_key_id.into(),
                    secret.into(),
                    join_actions(actions).into(),
                    now_ms().into(),
                ],
            )?;
            Ok(())
        })
    }

    /// Enables or disables an AccessKey.
    pub fn set_api_key_enabled(
        &self,
        access_key_id: &str,
        enabled: bool,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE api_keys SET enabled = $1 WHERE access_key_id = $2",
                &[enabled.into(), access_key_id.into()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("api key"));
            }
            Ok(())
        })
    }

    /// The AccessKeys of `tenant`, oldest first.
    pub fn list_api_keys(&self, tenant: TenantId) -> Result<Vec<ApiKeySummary>, StoreError> {
        self.read(|tx| {
            tx.query(
                "SELECT access_key_id, actions, enabled, created_ms FROM api_keys \
                 WHERE tenant_id = $1 ORDER BY created_ms, id",
                &[tenant.0.into()],
            )?
            .iter()
            .map(|row| {
                Ok(ApiKeySummary {
                    access_key_id: row.text(0)?,
                    actions: split_actions(&row.text(1)?),
                    enabled: row.bool(2)?,
                    created_ms: row.int(3)?,
                })
            })
            .collect()
        })
    }

    /// Revokes (disables for good) an AccessKey of `tenant`. A key of another tenant is
    /// [`StoreError::NotFound`], exactly as a key that does not exist, so that a caller cannot
    /// learn which key ids other tenants hold.
    pub fn revoke_api_key(&self, tenant: TenantId, access_key_id: &str) -> Result<(), StoreError> {
        self.write(|tx| {
            let n = tx.execute(
                "UPDATE api_keys SET enabled = 0 WHERE tenant_id = $1 AND access_key_id = $2",
                &[tenant.0.into(), access_key_id.into()],
            )?;
            if n == 0 {
                return Err(StoreError::NotFound("api key"));
            }
            Ok(())
        })
    }

    /// Looks an AccessKey up by its id.
    pub fn api_key(&self, access_key_id: &str) -> Result<Option<ApiKey>, StoreError> {
        self.read(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT tenant_id, access_key_id, secret, actions, enabled FROM api_keys \
                 WHERE access_key_id = $1",
                &[access_key_id.into()],
            )?
            else {
                return Ok(None);
            };
            Ok(Some(ApiKey {
                tenant: TenantId(row.int(0)?),
                access_key_id: row.text(1)?,
                secret: row.text(2)?,
                actions: split_actions(&row.text(3)?),
                enabled: row.bool(4)?,
            }))
        })
    }

    /// Stores a bearer token (only its digest) for `tenant`, valid until `expires_ms`.
    pub fn create_token(
        &self,
        tenant: TenantId,
        token: &str,
        actions: &[&str],
        expires_ms: i64,
    ) -> Result<(), StoreError> {
        self.write(|tx| {
            tx.execute(
                "INSERT INTO api_tokens (token_sha256, tenant_id, actions, expires_ms) VALUES ($1, $2, $3, $4)",
                &[
                    token_digest(token).into(),
                    tenant.0.into(),
                    join_actions(actions).into(),
                    expires_ms.into(),
                ],
            )?;
            Ok(())
        })
    }

    /// The tenant and actions of an unexpired token.
    pub fn token(
        &self,
        token: &str,
        now_ms: i64,
    ) -> Result<Option<(TenantId, Vec<String>)>, StoreError> {
        self.read(|tx| {
            let Some(row) = tx.query_opt(
                "SELECT tenant_id, actions FROM api_tokens WHERE token_sha256 = $1 AND expires_ms > $2",
                &[token_digest(token).into(), now_ms.into()],
            )?
            else {
                return Ok(None);
            };
            Ok(Some((TenantId(row.int(0)?), split_actions(&row.text(1)?))))
        })
    }
}

/// Only a token's SHA-256 is stored: tokens are bearer credentials, and unlike AccessKey
/// secrets they never need to be recomputed into a signature.
fn token_digest(token: &str) -> String {
    hex::encode(Sha256::digest(token.as_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policy_statements() {
        let acts = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert!(policy_allows(
            &acts(&["*"]),
            "yundun-sas:DescribeImageInstances"
        ));
        assert!(policy_allows(
            &acts(&["yundun-sas:*"]),
            "yundun-sas:DescribeImageInstances"
        ));
        assert!(policy_allows(
            &acts(&["YUNDUN-SAS:*"]),
            "yundun-sas:DescribeImageInstances"
        ));
        assert!(policy_allows(
            &acts(&["yundun-sas:DescribeImageInstances"]),
            "yundun-sas:DescribeImageInstances"
        ));
        assert!(!policy_allows(
            &acts(&["ecs:*"]),
            "yundun-sas:DescribeImageInstances"
        ));
        assert!(!policy_allows(
            &acts(&["yundun-sas:Describe"]),
            "yundun-sas:DescribeImageInstances"
        ));
        assert!(!policy_allows(
            &acts(&[]),
            "yundun-sas:DescribeImageInstances"
        ));
    }
}
