//! The bodies the agent sends to `/api/v1/agents/…` (the server's `native/agents.rs`
//! documents the same shapes in its OpenAPI document).

use crowsnest_model::Inventory;
use serde::{Deserialize, Serialize};

use crate::apps::App;
use crate::runtime::{Container, LocalImage, Pod};

/// `POST /api/v1/agents`: registration with an enrolment key.
#[derive(Clone, Debug, Serialize)]
pub struct Registration {
    /// The host's id.
    pub host_uid: String,
    /// The host's name.
    pub host_name: String,
}

/// The answer to a registration: the agent's own key, shown once.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq, Eq)]
pub struct Credentials {
    /// The agent id.
    pub agent_id: String,
    /// Its AccessKey id.
    pub access_key_id: String,
    /// Its AccessKey secret.
    pub access_key_secret: String,
}

/// The host a report describes.
#[derive(Clone, Debug, Serialize, PartialEq, Eq)]
pub struct Host {
    /// Host id (`/etc/machine-id` unless configured).
    pub uid: String,
    /// Host name.
    pub name: String,
    /// The private IPv4 address the host reaches the server from.
    pub private_ip: String,
    /// The public IPv4 address, when configured.
    pub public_ip: String,
    /// `linux`.
    pub os_type: String,
}

/// One image's scan result, sent once per digest (until the server has accepted it).
#[derive(Clone, Debug, Serialize)]
pub struct ScanResult {
    /// The digest the inventory belongs to.
    pub digest: String,
    /// Packages found (`component_num`).
    pub component_count: i64,
    /// Applications found.
    pub apps: Vec<App>,
    /// The inventory.
    pub inventory: Inventory,
}

/// An image that could not be scanned.
#[derive(Clone, Debug, Serialize)]
pub struct ScanFailure {
    /// Its digest.
    pub digest: String,
    /// The error code (`image_oversized`, `unsupported_driver`, …).
    pub code: String,
    /// What went wrong.
    pub message: String,
}

/// `POST /api/v1/agents/reports`: a full snapshot of the host.
#[derive(Clone, Debug, Serialize)]
pub struct Report {
    /// Unique per report; a resend carries the same id and is applied once.
    pub report_id: String,
    /// When the report was made, ms.
    pub created_ms: i64,
    /// The host.
    pub host: Host,
    /// Every image in every runtime.
    pub images: Vec<LocalImage>,
    /// Every container.
    pub containers: Vec<Container>,
    /// Every pod.
    pub pods: Vec<Pod>,
    /// Inventories of digests the server has not accepted yet.
    pub scans: Vec<ScanResult>,
    /// Images whose scan failed.
    pub scan_failures: Vec<ScanFailure>,
}

/// The server's answer to a report.
#[derive(Clone, Debug, Deserialize, PartialEq, Eq)]
pub struct ReportAccepted {
    /// The report's id.
    pub report_id: String,
    /// True when the server had already applied this report (a resend).
    pub duplicate: bool,
}

/// `POST /api/v1/agents/heartbeat`.
#[derive(Clone, Debug, Serialize)]
pub struct Heartbeat {
    /// When it was sent, ms (also makes every heartbeat's signature distinct).
    pub sent_ms: i64,
    /// Reports waiting in the queue.
    pub queued: usize,
}
