//! New critical findings: after a scan or re-match of a digest, the CRITICAL findings the
//! image did not have at its previous match, announced to the webhook (the same HMAC-SHA256
//! signature as a finished task, event `image.critical_findings`).
//!
//! The store remembers each digest's critical findings ([`Store::record_critical_findings`]);
//! a finding is new once, whichever worker or `crowsnest db` process matched the digest, so
//! a second re-match against the same database announces nothing. The first match of a
//! digest announces every critical finding it has: the image had none known before.

use crowsnest_model::{Finding, Severity};
use crowsnest_store::{Store, StoreError};

/// The event of new critical findings.
pub const NEW_CRITICALS_EVENT: &str = "image.critical_findings";

/// Critical findings a digest did not have before.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewCriticals {
    /// The scanned or re-matched digest.
    pub digest: String,
    /// Where it is placed (`HOST/REPOSITORY:TAG`), possibly none (a local `scan --save`).
    pub images: Vec<String>,
    /// The new findings' ids, sorted.
    pub finding_ids: Vec<String>,
}

impl NewCriticals {
    /// The webhook body (JSON).
    pub fn body(&self) -> String {
        serde_json::json!({
            "Event": NEW_CRITICALS_EVENT,
            "Digest": self.digest,
            "Images": self.images,
            "NewCriticalFindings": self.finding_ids,
            "Time": crowsnest_store::now_ms(),
        })
        .to_string()
    }
}

/// Records the critical findings of `digest`'s latest match (`findings`, all of them) and
/// returns what is new, with the image's names, or `None` when nothing is.
pub fn record_criticals(
    store: &Store,
    digest: &str,
    findings: &[Finding],
) -> Result<Option<NewCriticals>, StoreError> {
    let ids: Vec<String> = findings
        .iter()
        .filter(|f| f.severity == Severity::Critical)
        .map(|f| f.id.clone())
        .collect();
    let new = store.record_critical_findings(digest, &ids)?;
    if new.is_empty() {
        return Ok(None);
    }
    tracing::info!(digest, new = new.len(), "new critical findings");
    Ok(Some(NewCriticals {
        digest: digest.to_owned(),
        images: store.image_names(digest)?,
        finding_ids: new,
    }))
}
