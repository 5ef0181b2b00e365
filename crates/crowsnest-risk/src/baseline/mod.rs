//! Baseline checks: unsafe settings of an image, after section 4 of the CIS Docker Benchmark
//! ("Container Images and Build File") and the checks Dockle adds.
//!
//! Each check has a stable id `CN-BL-NNN` (never reused, never renumbered), listed with its
//! title, severity, remediation and the benchmark item it follows in [`CHECKS`]. Checks read
//! the image config (user, healthcheck, environment, build history, tags) and a handful of
//! merged-view files: the files whose content they need are named by [`wants`], so the engine
//! keeps just those while the layers stream; modes and owners come from the tar headers.
//!
//! Modules: [`config`] (the image config), [`accounts`] (passwd and shadow), [`sshd`],
//! [`files`] (modes and leftover caches).

pub mod accounts;
pub mod config;
pub mod files;
pub mod sshd;

use crowsnest_model::{
    Digest, ImageConfigSummary, ImageFs, ImagePath, LayerInfo, RiskFinding, RiskKind, Severity,
    SourceInfo,
};

/// One baseline check as documented: the fields every finding of it carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Check {
    /// Stable id, `CN-BL-NNN`.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// Severity of its findings (a check may raise one finding higher; its doc says when).
    pub severity: Severity,
    /// What to do about it.
    pub remediation: &'static str,
    /// The benchmark item or tool check it follows.
    pub reference: &'static str,
}

/// Runs as root: no `USER`, or `USER 0`/`root`.
pub const RUNS_AS_ROOT: Check = Check {
    id: "CN-BL-001",
    title: "Image runs as root",
    severity: Severity::Medium,
    remediation: "Create an unprivileged user and set it with USER in the Dockerfile.",
    reference: "CIS Docker Benchmark 4.1",
};
/// No `HEALTHCHECK`.
pub const NO_HEALTHCHECK: Check = Check {
    id: "CN-BL-002",
    title: "No HEALTHCHECK instruction",
    severity: Severity::Low,
    remediation: "Add a HEALTHCHECK instruction so the runtime can tell a hung container.",
    reference: "CIS Docker Benchmark 4.6",
};
/// A credential in the image's environment.
pub const SECRET_IN_ENV: Check = Check {
    id: "CN-BL-003",
    title: "Secret in ENV",
    severity: Severity::High,
    remediation: "Pass secrets at run time (secret mounts, an orchestrator's secrets), never with ENV: every user of the image can read them.",
    reference: "CIS Docker Benchmark 4.10",
};
/// A credential in a build step's command line.
pub const SECRET_IN_HISTORY: Check = Check {
    id: "CN-BL-004",
    title: "Secret in build history",
    severity: Severity::High,
    remediation: "Use build secrets (RUN --mount=type=secret) instead of ARG or command-line values; the history keeps every command.",
    reference: "CIS Docker Benchmark 4.10",
};
/// `ADD` of a remote URL.
pub const ADD_REMOTE_URL: Check = Check {
    id: "CN-BL-005",
    title: "ADD fetches a remote URL",
    severity: Severity::Medium,
    remediation: "Download with a verified checksum in a RUN step (or ADD --checksum), or COPY a vetted file.",
    reference: "CIS Docker Benchmark 4.9",
};
/// A setuid or setgid file outside the distribution's system directories.
pub const SETUID_OUTSIDE_SYSTEM: Check = Check {
    id: "CN-BL-006",
    title: "setuid/setgid file outside the system directories",
    severity: Severity::High,
    remediation: "Remove the setuid/setgid bits (chmod u-s,g-s) unless the program needs them and is reviewed.",
    reference: "CIS Docker Benchmark 4.8",
};
/// setuid/setgid files the distribution installs, reported once per image.
pub const SETUID_SYSTEM: Check = Check {
    id: "CN-BL-007",
    title: "setuid/setgid files in system directories",
    severity: Severity::Low,
    remediation: "Strip setuid/setgid bits the container does not need (e.g. find / -perm /6000 -exec chmod a-s {} +).",
    reference: "CIS Docker Benchmark 4.8",
};
/// A world-writable file or directory (without the sticky bit) in a system path.
pub const WORLD_WRITABLE: Check = Check {
    id: "CN-BL-008",
    title: "World-writable file in a system path",
    severity: Severity::Medium,
    remediation: "Remove write permission for others (chmod o-w), or set the sticky bit on shared directories.",
    reference: "CIS Docker Benchmark 4.8 (file permissions)",
};
/// An account whose password is empty.
pub const EMPTY_PASSWORD: Check = Check {
    id: "CN-BL-009",
    title: "Account with an empty password",
    severity: Severity::High,
    remediation: "Lock the account (passwd -l) or remove it; an empty password lets anyone log in.",
    reference: "Dockle: accounts with empty passwords",
};
/// A second account with uid 0.
pub const DUPLICATE_UID_ZERO: Check = Check {
    id: "CN-BL-010",
    title: "Account other than root with uid 0",
    severity: Severity::High,
    remediation:
        "Remove the account or give it an unprivileged uid; uid 0 is root whatever the name.",
    reference: "Dockle: duplicate uid 0",
};
/// An SSH server is installed.
pub const SSHD_INSTALLED: Check = Check {
    id: "CN-BL-011",
    title: "SSH server installed",
    severity: Severity::Medium,
    remediation:
        "Remove the SSH server; use the runtime's exec (docker exec, kubectl exec) instead.",
    reference: "CIS Docker Benchmark 4.3 (no unnecessary packages); Dockle: sshd",
};
/// `PermitRootLogin yes` in the sshd configuration.
pub const SSH_ROOT_LOGIN: Check = Check {
    id: "CN-BL-012",
    title: "sshd permits root login",
    severity: Severity::High,
    remediation: "Set PermitRootLogin no (or prohibit-password) in /etc/ssh/sshd_config.",
    reference: "CIS Distribution benchmarks: SSH root login",
};
/// Package manager caches left in the image.
pub const PACKAGE_CACHE: Check = Check {
    id: "CN-BL-013",
    title: "Package manager cache left in the image",
    severity: Severity::Low,
    remediation: "Clean caches in the same RUN step that fills them (rm -rf /var/lib/apt/lists/*, apk --no-cache, dnf clean all, pip --no-cache-dir).",
    reference: "Dockle: clear apt/apk/yum caches",
};
/// A mutable tag such as `latest`.
pub const MUTABLE_TAG: Check = Check {
    id: "CN-BL-014",
    title: "Image uses a mutable tag (latest)",
    severity: Severity::Low,
    remediation: "Tag images with a version and deploy them by tag and digest.",
    reference: "Dockle: avoid latest tag",
};

/// Every baseline check, in id order. Documentation tables are generated from this list.
pub const CHECKS: &[Check] = &[
    RUNS_AS_ROOT,
    NO_HEALTHCHECK,
    SECRET_IN_ENV,
    SECRET_IN_HISTORY,
    ADD_REMOTE_URL,
    SETUID_OUTSIDE_SYSTEM,
    SETUID_SYSTEM,
    WORLD_WRITABLE,
    EMPTY_PASSWORD,
    DUPLICATE_UID_ZERO,
    SSHD_INSTALLED,
    SSH_ROOT_LOGIN,
    PACKAGE_CACHE,
    MUTABLE_TAG,
];

/// What the baseline checks look at.
pub struct BaselineInput<'a> {
    /// The merged view (for a root directory, the directory).
    pub fs: &'a dyn ImageFs,
    /// The image config, absent for a root directory.
    pub config: Option<&'a ImageConfigSummary>,
    /// Where the image came from (its tags).
    pub source: &'a SourceInfo,
    /// The layers, base first, to name the layer a file comes from.
    pub layers: &'a [LayerInfo],
}

impl BaselineInput<'_> {
    /// The diff id of layer `index`.
    pub(crate) fn layer(&self, index: usize) -> Option<Digest> {
        self.layers.get(index).map(|l| l.diff_id.clone())
    }
}

/// Whether a baseline check reads this file's content.
pub fn wants(path: &ImagePath) -> bool {
    accounts::wants(path) || sshd::wants(path)
}

/// Runs every check.
pub fn run(input: &BaselineInput<'_>) -> Vec<RiskFinding> {
    let mut out = Vec::new();
    config::run(input, &mut out);
    accounts::run(input, &mut out);
    sshd::run(input, &mut out);
    files::run(input, &mut out);
    out
}

impl Check {
    /// A finding of this check with its documented fields.
    pub(crate) fn finding(&self, detail: String) -> RiskFinding {
        RiskFinding {
            kind: RiskKind::Baseline,
            id: self.id.to_owned(),
            title: self.title.to_owned(),
            severity: self.severity,
            remediation: self.remediation.to_owned(),
            detail: Some(detail),
            path: None,
            line: None,
            layer: None,
            excerpt: None,
        }
    }

    /// A finding about one file of the merged view.
    pub(crate) fn file_finding(
        &self,
        input: &BaselineInput<'_>,
        path: &ImagePath,
        line: Option<u32>,
        detail: String,
    ) -> RiskFinding {
        let layer = input.fs.metadata(path).and_then(|m| input.layer(m.layer));
        RiskFinding {
            path: Some(path.to_string()),
            line,
            layer,
            ..self.finding(detail)
        }
    }
}

/// Reads a small text file of the merged view, `None` when absent or unreadable (a missing
/// `/etc/shadow` is not a finding). Capped: these files are small, a huge one is not parsed.
pub(crate) fn read_text(fs: &dyn ImageFs, path: &str) -> Option<(ImagePath, String)> {
    use std::io::Read;
    const MAX: u64 = 4 << 20;
    let path = ImagePath::parse(path).ok()?;
    let mut reader = fs.open(&path).ok()?;
    let mut bytes = Vec::new();
    reader.by_ref().take(MAX).read_to_end(&mut bytes).ok()?;
    Some((path, String::from_utf8_lossy(&bytes).into_owned()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn check_ids_are_unique_and_in_order() {
        let ids: Vec<&str> = CHECKS.iter().map(|c| c.id).collect();
        let mut sorted = ids.clone();
        sorted.sort();
        sorted.dedup();
        assert_eq!(ids, sorted);
        assert!(ids
            .iter()
            .all(|id| id.starts_with("CN-BL-") && id.len() == 9));
    }
}
