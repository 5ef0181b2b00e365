//! Risk analyzers: what is wrong with an image besides its vulnerable packages.
//!
//! Three families, each a folder, each a registry of checks or rules that can be listed:
//! - [`baseline`]: unsafe settings of the image, after the image checks of the CIS Docker
//!   Benchmark (section 4) and Dockle: the image config (user, healthcheck, environment, build
//!   history, tag) and a few files of the merged view (accounts, sshd, setuid and world-writable
//!   files, package manager caches). Ids `CN-BL-NNN`, listed in [`baseline::CHECKS`].
//! - [`secret`]: credentials and private keys in files, rules in the spirit of gitleaks, with
//!   allowlists by path and by rule; the secret itself is never reported, only a redacted line.
//! - [`malware`]: YARA rules (run by `yara-x`: a bundled set for webshells and test signatures,
//!   plus users' rule directories) and a SHA-256 blocklist.
//!
//! Like the catalogers, analyzers say which files they want from path and metadata alone, so
//! the engine reads an image once. Baseline checks look at the merged view (what runs);
//! secrets and malware are looked for in every layer's files while the layers stream, because
//! a file deleted by a later layer still ships in the image.
//!
//! How the findings of all analyzers combine into per-image counts and a severity level is
//! documented on [`crowsnest_model::RiskSummary`].

pub mod baseline;
pub mod malware;
pub mod secret;

use std::collections::BTreeSet;
use std::io::Read;

use crowsnest_model::{ErrorCode, FileKind, FileMeta, ImagePath, RiskFinding, RiskKind};

pub use baseline::BaselineInput;

/// Compiles one of this crate's constant patterns. They are literals that every test run
/// compiles, so a failure is a programming error caught before release, not an input error.
#[allow(clippy::expect_used)]
pub(crate) fn pattern(re: &str) -> regex::Regex {
    regex::Regex::new(re).expect("a constant pattern compiles")
}

/// Why the analyzers could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RiskError {
    /// A YARA rule file did not compile.
    #[error("YARA rules in {origin}: {message}")]
    Rules {
        /// The file (or `bundled`).
        origin: String,
        /// The compiler's message.
        message: String,
    },
    /// A rule directory, blocklist or allowlist could not be read or parsed.
    #[error("{what}: {message}")]
    Config {
        /// What was being read.
        what: String,
        /// Why it failed.
        message: String,
    },
}

impl RiskError {
    /// The stable error code: `invalid_parameter` for every configuration problem, since each
    /// names something the user passed.
    pub fn code(&self) -> ErrorCode {
        ErrorCode::InvalidParameter
    }
}

/// Which analyzers run and how. Every default is the one documented on its field.
#[derive(Clone, Debug, Default)]
pub struct RiskOptions {
    /// The analyzers to run. Default: none (`crowsnest scan` turns them on by `--scanners`).
    pub kinds: BTreeSet<RiskKind>,
    /// The secret analyzer's settings.
    pub secret: secret::SecretOptions,
    /// The malware analyzer's settings.
    pub malware: malware::MalwareOptions,
}

impl RiskOptions {
    /// Options running every analyzer with default settings.
    pub fn all() -> Self {
        RiskOptions {
            kinds: RiskKind::ALL.into_iter().collect(),
            ..RiskOptions::default()
        }
    }
}

/// The configured analyzers, built once (YARA rules are compiled here) and used for many scans.
pub struct RiskAnalyzers {
    baseline: bool,
    secret: Option<secret::SecretScanner>,
    malware: Option<malware::MalwareScanner>,
}

impl std::fmt::Debug for RiskAnalyzers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RiskAnalyzers")
            .field("baseline", &self.baseline)
            .field("secret", &self.secret.is_some())
            .field("malware", &self.malware.is_some())
            .finish()
    }
}

/// One file of one layer, as the content analyzers see it.
#[derive(Clone, Copy, Debug)]
pub struct LayerFile<'a> {
    /// Index of the layer, 0 for the base (0 for a root directory).
    pub layer: usize,
    /// The file's path.
    pub path: &'a ImagePath,
    /// Its metadata.
    pub meta: &'a FileMeta,
}

/// A finding of a content analyzer with the index of the layer it was found in; the engine
/// turns the index into the layer's diff id.
#[derive(Clone, Debug)]
pub struct LayerRisk {
    /// Index of the layer, 0 for the base.
    pub layer: usize,
    /// The finding (its `layer` is filled by the engine).
    pub finding: RiskFinding,
}

impl RiskAnalyzers {
    /// Builds the analyzers `options` selects. Fails when user rules, blocklists or allowlist
    /// patterns are unreadable or invalid.
    pub fn new(options: &RiskOptions) -> Result<Self, RiskError> {
        let secret = if options.kinds.contains(&RiskKind::Secret) {
            Some(secret::SecretScanner::new(&options.secret)?)
        } else {
            None
        };
        let malware = if options.kinds.contains(&RiskKind::Malware) {
            Some(malware::MalwareScanner::new(&options.malware)?)
        } else {
            None
        };
        Ok(RiskAnalyzers {
            baseline: options.kinds.contains(&RiskKind::Baseline),
            secret,
            malware,
        })
    }

    /// Analyzers that do nothing.
    pub fn none() -> Self {
        RiskAnalyzers {
            baseline: false,
            secret: None,
            malware: None,
        }
    }

    /// The analyzers that will run.
    pub fn kinds(&self) -> BTreeSet<RiskKind> {
        let mut kinds = BTreeSet::new();
        if self.baseline {
            kinds.insert(RiskKind::Baseline);
        }
        if self.secret.is_some() {
            kinds.insert(RiskKind::Secret);
        }
        if self.malware.is_some() {
            kinds.insert(RiskKind::Malware);
        }
        kinds
    }

    /// Whether a baseline check needs this file's content in the merged view.
    pub fn wants_merged(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        self.baseline && meta.kind == FileKind::Regular && baseline::wants(path)
    }

    /// Whether a content analyzer (secret, malware) wants to read this file of a layer.
    pub fn wants_content(&self, path: &ImagePath, meta: &FileMeta) -> bool {
        meta.kind == FileKind::Regular
            && meta.size > 0
            && (self.secret.as_ref().is_some_and(|s| s.wants(path, meta))
                || self.malware.as_ref().is_some_and(|m| m.wants(meta)))
    }

    /// The largest number of bytes any content analyzer reads of one file.
    fn content_limit(&self) -> u64 {
        let s = self.secret.as_ref().map_or(0, |s| s.max_file_bytes());
        let m = self.malware.as_ref().map_or(0, |m| m.max_file_bytes());
        s.max(m)
    }

    /// Starts a pass over an image's layer files; feed it with [`ContentPass::visit`].
    pub fn content_pass(&self) -> ContentPass<'_> {
        ContentPass {
            analyzers: self,
            yara: self.malware.as_ref().map(|m| m.session()),
            found: Vec::new(),
            buffer: Vec::new(),
        }
    }

    /// Runs the baseline checks (when selected) over the merged view and image config.
    pub fn baseline(&self, input: &BaselineInput<'_>) -> Vec<RiskFinding> {
        if !self.baseline {
            return Vec::new();
        }
        let span = tracing::debug_span!("analyzer", name = "baseline");
        let _enter = span.enter();
        baseline::run(input)
    }
}

/// One pass of the content analyzers over the files of an image's layers. Holds the YARA
/// scanner and a reusable read buffer, so files are read once and shared by both analyzers.
pub struct ContentPass<'a> {
    analyzers: &'a RiskAnalyzers,
    yara: Option<malware::Session<'a>>,
    found: Vec<LayerRisk>,
    buffer: Vec<u8>,
}

impl ContentPass<'_> {
    /// Looks at one file. Files nobody wants are not read; a read error ends the look at this
    /// file only (the merge reports layer errors itself).
    pub fn visit(&mut self, file: LayerFile<'_>, content: &mut dyn Read) {
        if !self.analyzers.wants_content(file.path, file.meta) {
            return;
        }
        let limit = self.analyzers.content_limit().min(file.meta.size);
        self.buffer.clear();
        if let Err(e) = content.take(limit).read_to_end(&mut self.buffer) {
            tracing::debug!(path = %file.path, error = %e, "content analyzers could not read a file");
            return;
        }
        let data = &self.buffer[..];
        let mut found = Vec::new();
        if let Some(secret) = &self.analyzers.secret {
            if secret.wants(file.path, file.meta) {
                secret.scan(file.path, data, &mut found);
            }
        }
        if let (Some(malware), Some(session)) = (&self.analyzers.malware, &mut self.yara) {
            if malware.wants(file.meta) {
                malware.scan(session, file.path, data, &mut found);
            }
        }
        self.found
            .extend(found.into_iter().map(|finding| LayerRisk {
                layer: file.layer,
                finding,
            }));
    }

    /// The findings so far.
    pub fn finish(self) -> Vec<LayerRisk> {
        self.found
    }
}

/// The README's table of every baseline check, secret rule and bundled malware rule, generated
/// from the code so the documentation cannot drift (a test compares the checked-in copy).
pub fn checks_markdown() -> String {
    let mut md = String::from("| analyzer | id | severity | what |\n| --- | --- | --- | --- |\n");
    for c in baseline::CHECKS {
        md.push_str(&format!(
            "| baseline | `{}` | {} | {} ({}) |\n",
            c.id,
            c.severity.as_str(),
            c.title,
            c.reference
        ));
    }
    for r in secret::RULES {
        let entropy = r
            .min_entropy
            .map(|e| format!(", entropy >= {e}"))
            .unwrap_or_default();
        let files = if r.files.is_some() {
            ", configuration files only"
        } else {
            ""
        };
        md.push_str(&format!(
            "| secret | `{}` | {} | {}{entropy}{files} |\n",
            r.id,
            r.severity.as_str(),
            r.title
        ));
    }
    for (namespace, source) in malware::BUNDLED_RULES {
        for line in source.lines() {
            if let Some(name) = line.trim().strip_prefix("rule ") {
                let name = name.trim_end_matches('{').trim();
                md.push_str(&format!(
                    "| malware | `{name}` | see rule | YARA, bundled `{namespace}.yar` |\n"
                ));
            }
        }
    }
    md.push_str(&format!(
        "| malware | `{}` | HIGH | SHA-256 blocklist (bundled: EICAR; add with `--malware-blocklist`) |\n",
        malware::BLOCKLIST_ID
    ));
    md
}
