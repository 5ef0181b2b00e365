//! The Crowsnest host agent: a small long-running process on each host that finds the
//! images in the host's container stores, the containers started from them and the
//! Kubernetes pods they belong to, scans each image in place, and reports inventories (never
//! images) to a Crowsnest server.
//!
//! # Code map
//! - [`runtime`]: one [`runtime::Runtime`] per container store (containerd, Podman/CRI-O
//!   `containers/storage`, the Docker Engine API), each listing images, containers and pods
//!   and scanning an image where it lies.
//! - [`apps`]: application detection (`nginx`, `mysql`, `java`, …) from an inventory.
//! - [`report`]: the report, heartbeat and registration bodies (the wire format of the native
//!   API's `/api/v1/agents` resource).
//! - [`client`]: HTTP to the server, every request signed with `SDK-HMAC-SHA256` and the
//!   agent's own AccessKey.
//! - [`queue`]: the bounded on-disk queue reports wait in until the server accepts them.
//! - [`agent`]: the loop (register once, then discover, scan, enqueue, flush, heartbeat).
//!
//! # Invariants
//! Nothing is written into a container store; nothing from a store becomes a path without
//! being checked (digests and ids are validated first). A report is in the queue before it is
//! sent and leaves it only once the server answered 2xx, so a crash or an unreachable server
//! loses nothing; the server de-duplicates by report id, so a resend is counted once.

pub mod agent;
pub mod apps;
pub mod client;
pub mod queue;
pub mod report;
pub mod runtime;

use std::path::Path;

pub use agent::{Agent, AgentOptions, HostIdentity, RunStats};

/// Why the agent could not do something. Each variant has a stable [`AgentError::code`].
#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    /// A file or socket could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// What was being accessed.
        path: String,
        /// The underlying error.
        source: std::io::Error,
    },
    /// A runtime's metadata is not what its format says.
    #[error("corrupt runtime metadata: {0}")]
    CorruptMetadata(String),
    /// A runtime answered something unexpected.
    #[error("{0}")]
    Runtime(String),
    /// The storage driver keeps layers in a form the agent cannot scan in place.
    #[error("images of the {0} storage driver cannot be scanned in place yet (vfs can)")]
    UnsupportedDriver(String),
    /// Scanning an image failed; the first field is the scan engine's error code.
    #[error("scan failed ({0}): {1}")]
    Scan(String, String),
    /// The server could not be reached or did not answer.
    #[error("server unreachable: {0}")]
    Unreachable(String),
    /// The server refused the agent's credentials (a revoked or unknown key).
    #[error("the server refused the agent's credentials: {0}")]
    Refused(String),
    /// The server rejected a request as malformed.
    #[error("the server rejected the request: {0}")]
    Rejected(String),
    /// The agent was started with unusable options.
    #[error("{0}")]
    Config(String),
}

impl AgentError {
    /// The stable code (`io`, `corrupt_metadata`, `runtime`, `unsupported_driver`, the scan
    /// engine's code, `server_unreachable`, `agent_refused`, `report_rejected`,
    /// `invalid_config`).
    pub fn code(&self) -> &str {
        match self {
            AgentError::Io { .. } => "io",
            AgentError::CorruptMetadata(_) => "corrupt_metadata",
            AgentError::Runtime(_) => "runtime",
            AgentError::UnsupportedDriver(_) => "unsupported_driver",
            AgentError::Scan(code, _) => code,
            AgentError::Unreachable(_) => "server_unreachable",
            AgentError::Refused(_) => "agent_refused",
            AgentError::Rejected(_) => "report_rejected",
            AgentError::Config(_) => "invalid_config",
        }
    }

    pub(crate) fn io(path: &Path, source: std::io::Error) -> AgentError {
        AgentError::Io {
            path: path.display().to_string(),
            source,
        }
    }
}
