//! Creating credentials: AccessKey pairs (Alibaba AccessKey / Huawei AK/SK, one scheme for both)
//! and bearer tokens for `X-Auth-Token`. Both belong to one tenant and carry policy actions.

use crowsnest_store::{Store, StoreError, TenantId};

/// Every action an operation of this API checks, for validating `crowsnest keys create` input.
pub const ACTIONS: &[&str] = &[
    crate::alibaba::sas::ACTION_DESCRIBE_IMAGE_INSTANCES,
    crate::alibaba::sas::ACTION_DESCRIBE_IMAGE_CRITERIA,
    crate::alibaba::scan_task::ACTION_CREATE,
    crate::alibaba::scan_task::ACTION_PRE_CHECK,
    crate::alibaba::ecs::ACTION_DESCRIBE_IMAGES,
    crate::huawei::ACTION_LIST_REGISTRY_IMAGES,
    crate::huawei::ACTION_LIST_LOCAL_IMAGES,
];

/// Every action the server checks: the cloud operations' [`ACTIONS`] and the native API's.
pub fn all_actions() -> impl Iterator<Item = &'static str> {
    ACTIONS.iter().copied().chain(crate::native::actions())
}

/// Whether `action` is a policy statement this API understands: a known action, `service:*`
/// for a known service, or `*`.
pub fn is_known_action(action: &str) -> bool {
    action == "*"
        || all_actions().any(|a| a.eq_ignore_ascii_case(action))
        || action.strip_suffix(":*").is_some_and(|service| {
            all_actions().any(|a| {
                a.split_once(':')
                    .is_some_and(|(s, _)| s.eq_ignore_ascii_case(service))
            })
        })
}

/// A new AccessKey pair; the secret is shown once and kept in the store for verification.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AccessKey {
    /// The public id (`LTAI` and 20 letters or digits).
    pub id: String,
    /// The secret (30 letters or digits).
    pub secret: String,
}

const ALPHABET: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";

/// `n` random letters and digits from the operating system's generator (through UUID v4).
fn random_text(n: usize) -> String {
    let mut out = String::with_capacity(n);
    while out.len() < n {
        for byte in uuid::Uuid::new_v4().as_bytes() {
            // 62 * 4 = 248: rejecting 248..=255 keeps every character equally likely.
            if *byte < 248 && out.len() < n {
                out.push(char::from(ALPHABET[usize::from(*byte % 62)]));
            }
        }
    }
    out
}

/// A new random AccessKey pair, not yet stored (an agent's key is stored together with its
/// registration).
pub fn generate() -> AccessKey {
    AccessKey {
        id: format!("LTAI{}", random_text(20)),
        secret: random_text(30),
    }
}

/// Random hex of `n` bytes from the operating system's generator (agent ids).
pub fn random_hex(n: usize) -> String {
    let mut out = String::with_capacity(2 * n);
    while out.len() < 2 * n {
        for byte in uuid::Uuid::new_v4().as_bytes() {
            if out.len() < 2 * n {
                out.push_str(&format!("{byte:02x}"));
            }
        }
    }
    out
}

/// Creates an AccessKey pair for `tenant` allowing `actions`.
pub fn create(store: &Store, tenant: TenantId, actions: &[&str]) -> Result<AccessKey, StoreError> {
    let key = generate();
    store.create_api_key(tenant, &key.id, &key.secret, actions)?;
    Ok(key)
}

/// Creates a bearer token for `tenant` allowing `actions`, valid for `ttl_ms` from now. Only its
/// digest is stored.
pub fn create_token(
    store: &Store,
    tenant: TenantId,
    actions: &[&str],
    ttl_ms: i64,
) -> Result<String, StoreError> {
    let token = format!("cn1.{}", random_text(48));
    store.create_token(
        tenant,
        &token,
        actions,
        crowsnest_store::now_ms().saturating_add(ttl_ms),
    )?;
    Ok(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn random_text_is_alphanumeric_and_varies() {
        let a = random_text(30);
        assert_eq!(a.len(), 30);
        assert!(a.bytes().all(|b| b.is_ascii_alphanumeric()));
        assert_ne!(a, random_text(30));
    }

    #[test]
    fn known_actions() {
        assert!(is_known_action("*"));
        assert!(is_known_action("yundun-sas:*"));
        assert!(is_known_action("hss:*"));
        assert!(is_known_action("ecs:DescribeImages"));
        assert!(is_known_action("crowsnest:*"));
        assert!(is_known_action("crowsnest:ListKeys"));
        assert!(!is_known_action("oss:*"));
        assert!(!is_known_action("ecs:RunInstances"));
    }
}
