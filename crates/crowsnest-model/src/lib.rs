//! Shared domain types of Crowsnest.
//!
//! Every other crate speaks in these nouns: a [`Digest`] names a blob, an [`ImagePath`] names a
//! file inside an image (and can only be built by checking it), a [`Package`] is one installed
//! thing found by a cataloger, and an [`Inventory`] is everything found in one image.
//! This crate knows nothing about how images are read, how packages are found or how
//! vulnerabilities are matched. A [`RiskFinding`] is a problem that is not a vulnerable package
//! (an unsafe setting, a secret, a malicious file).

mod digest;
mod error_code;
mod finding;
mod fs;
mod inventory;
mod package;
mod path;
mod purl;
mod risk;

pub use digest::{Digest, DigestAlgorithm, DigestError};
pub use error_code::ErrorCode;
pub use finding::{CvssScore, DbInfo, Finding, ScanReport, Severity};
pub use fs::{FileKind, FileMeta, ImageFs, ReadSeek};
pub use inventory::{
    Diagnostic, Distro, ImageConfigSummary, Inventory, LayerInfo, SourceInfo, SourceKind,
};
pub use package::{Ecosystem, Package};
pub use path::{ImagePath, ImagePathError};
pub use purl::{pep503, purl_for};
pub use risk::{RiskFinding, RiskKind, RiskSummary, ScannerKind, SeverityLevel};
