//! Secrets in files: private keys, cloud access keys, service tokens, passwords in
//! configuration files, and high-entropy keys where a rule asks for it ([`rules::RULES`]).
//!
//! A file is skipped when its path is allowlisted (documentation, licences, certificates, the
//! test fixtures of language packages, plus whatever the user adds, for every rule or one),
//! when its name says it is binary (`.so`, `.pyc`, archives, images), or when its first 8 KiB
//! hold a NUL byte. Only the first [`SecretOptions::max_file_bytes`] are read. A finding names
//! the file, the 1-based line and the rule, and carries that line with the secret cut down to
//! its first few characters: the secret itself is never reported.

pub mod rules;

use std::ops::Range;

use aho_corasick::{AhoCorasick, AhoCorasickBuilder};
use crowsnest_model::{FileMeta, ImagePath, RiskFinding, RiskKind};
use globset::{GlobBuilder, GlobSet, GlobSetBuilder};
use regex::bytes::{Regex, RegexBuilder};

use crate::RiskError;
pub use rules::{SecretRule, RULES};

/// Paths no secret rule looks at unless [`SecretOptions::default_allowlist`] is turned off:
/// documentation, licences and certificates (public by design), and the test suites and
/// fixtures that language packages ship (full of sample keys that grant nothing).
pub const DEFAULT_ALLOWED_PATHS: &[&str] = &[
    "usr/share/doc/**",
    "usr/share/man/**",
    "usr/share/info/**",
    "usr/share/locale/**",
    "usr/share/i18n/**",
    "usr/share/zoneinfo/**",
    "usr/share/common-licenses/**",
    "usr/share/ca-certificates/**",
    "etc/ssl/certs/**",
    "**/*.md",
    "**/*.rst",
    "**/*.markdown",
    "**/site-packages/**/tests/**",
    "**/site-packages/**/test/**",
    "**/dist-packages/**/tests/**",
    "**/dist-packages/**/test/**",
    "usr/lib/python3*/test/**",
    "**/node_modules/**/test/**",
    "**/node_modules/**/tests/**",
    "**/node_modules/**/__tests__/**",
    "**/testdata/**",
    "**/*_test.go",
    "usr/lib/go-*/src/**",
    "usr/local/go/src/**",
];

/// File name endings of binary or compressed formats, never read for secrets.
const BINARY_SUFFIXES: &[&str] = &[
    ".so", ".a", ".o", ".pyc", ".pyo", ".png", ".jpg", ".jpeg", ".gif", ".ico", ".gz", ".xz",
    ".bz2", ".zst", ".zip", ".jar", ".war", ".whl", ".mo", ".woff", ".woff2", ".ttf", ".otf",
    ".pdf", ".class", ".deb", ".rpm", ".db", ".sqlite", ".gpg", ".cache",
];

/// An allowlist entry: a path glob (matched against the path without its leading `/`; `*`
/// stays within a component, `**` spans any), for one rule or for all.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct AllowPath {
    /// The rule it applies to; `None` for every rule.
    pub rule: Option<String>,
    /// The glob.
    pub glob: String,
}

impl AllowPath {
    /// Parses the `--secret-allow` syntax: `GLOB`, or `RULE=GLOB` for one rule.
    pub fn parse(spec: &str) -> AllowPath {
        match spec.split_once('=') {
            Some((rule, glob)) if RULES.iter().any(|r| r.id == rule) => AllowPath {
                rule: Some(rule.to_owned()),
                glob: glob.to_owned(),
            },
            _ => AllowPath {
                rule: None,
                glob: spec.to_owned(),
            },
        }
    }
}

/// The secret analyzer's settings.
#[derive(Clone, Debug)]
pub struct SecretOptions {
    /// Extra allowlisted paths. Default: none.
    pub allow_paths: Vec<AllowPath>,
    /// Rule ids not to run. Default: none.
    pub skip_rules: Vec<String>,
    /// Whether [`DEFAULT_ALLOWED_PATHS`] applies. Default: true.
    pub default_allowlist: bool,
    /// Bytes read of each file; the rest is not searched. Default 2 MiB.
    pub max_file_bytes: u64,
}

impl Default for SecretOptions {
    fn default() -> Self {
        SecretOptions {
            allow_paths: Vec::new(),
            skip_rules: Vec::new(),
            default_allowlist: true,
            max_file_bytes: 2 << 20,
        }
    }
}

struct CompiledRule {
    rule: &'static SecretRule,
    regex: Regex,
    /// Paths allowlisted for this rule only.
    allowed: Option<GlobSet>,
}

/// The compiled secret rules and allowlists.
pub struct SecretScanner {
    rules: Vec<CompiledRule>,
    /// Keyword automaton; pattern `i` belongs to rule `keyword_rule[i]`.
    keywords: AhoCorasick,
    keyword_rule: Vec<usize>,
    allowed: GlobSet,
    max_file_bytes: u64,
}

/// A secret found in a text: the rule and the byte range of the secret.
#[derive(Clone, Debug)]
pub struct TextMatch {
    /// The rule that matched.
    pub rule: &'static SecretRule,
    /// Where the secret is.
    pub secret: Range<usize>,
}

fn glob_set<'a>(globs: impl IntoIterator<Item = &'a str>) -> Result<GlobSet, RiskError> {
    let mut builder = GlobSetBuilder::new();
    for g in globs {
        let glob = GlobBuilder::new(g.trim_start_matches('/'))
            .literal_separator(true)
            .build()
            .map_err(|e| RiskError::Config {
                what: format!("secret allowlist pattern {g:?}"),
                message: e.kind().to_string(),
            })?;
        builder.add(glob);
    }
    builder.build().map_err(|e| RiskError::Config {
        what: "secret allowlist".to_owned(),
        message: e.to_string(),
    })
}

impl SecretScanner {
    /// Compiles the rules (less the skipped ones) and allowlists.
    pub fn new(options: &SecretOptions) -> Result<Self, RiskError> {
        for id in &options.skip_rules {
            if !RULES.iter().any(|r| r.id == id) {
                return Err(RiskError::Config {
                    what: format!("secret rule {id:?}"),
                    message: "no such rule".to_owned(),
                });
            }
        }
        let mut rules = Vec::new();
        let mut keyword_list = Vec::new();
        let mut keyword_rule = Vec::new();
        for rule in RULES
            .iter()
            .filter(|r| !options.skip_rules.iter().any(|s| s == r.id))
        {
            // ASCII classes and word boundaries, as gitleaks' Go regexps have: secrets are
            // ASCII, and a Unicode `\b` makes the regex engine fall back from its lazy DFA
            // to the far slower PikeVM on any file with a non-ASCII byte.
            let regex = RegexBuilder::new(rule.regex)
                .unicode(false)
                .build()
                .map_err(|e| RiskError::Config {
                    what: format!("secret rule {}", rule.id),
                    message: e.to_string(),
                })?;
            let own: Vec<&str> = options
                .allow_paths
                .iter()
                .filter(|a| a.rule.as_deref() == Some(rule.id))
                .map(|a| a.glob.as_str())
                .collect();
            let allowed = if own.is_empty() {
                None
            } else {
                Some(glob_set(own)?)
            };
            for k in rule.keywords {
                keyword_list.push(*k);
                keyword_rule.push(rules.len());
            }
            rules.push(CompiledRule {
                rule,
                regex,
                allowed,
            });
        }
        let keywords = AhoCorasickBuilder::new()
            .ascii_case_insensitive(true)
            .build(&keyword_list)
            .map_err(|e| RiskError::Config {
                what: "secret rule keywords".to_owned(),
                message: e.to_string(),
            })?;
        let defaults: &[&str] = if options.default_allowlist {
            DEFAULT_ALLOWED_PATHS
        } else {
            &[]
        };
        let allowed = glob_set(
            defaults.iter().copied().chain(
                options
                    .allow_paths
                    .iter()
                    .filter(|a| a.rule.is_none())
                    .map(|a| a.glob.as_str()),
            ),
        )?;
        Ok(SecretScanner {
            rules,
            keywords,
            keyword_rule,
            allowed,
            max_file_bytes: options.max_file_bytes,
        })
    }

    /// Bytes read of each file.
    pub fn max_file_bytes(&self) -> u64 {
        self.max_file_bytes
    }

    /// Whether this file is searched at all (from its path; size and kind are checked by the
    /// caller).
    pub fn wants(&self, path: &ImagePath, _meta: &FileMeta) -> bool {
        let name = path.file_name();
        !BINARY_SUFFIXES.iter().any(|s| name.ends_with(s))
            && !name.contains(".so.")
            && !self.allowed.is_match(path.as_str())
    }

    /// Searches `data` (the start of the file at `path`) and appends findings.
    pub fn scan(&self, path: &ImagePath, data: &[u8], out: &mut Vec<RiskFinding>) {
        // The caller may have read more for the malware analyzer; only the first
        // `max_file_bytes` are searched for secrets.
        let data = &data[..data
            .len()
            .min(usize::try_from(self.max_file_bytes).unwrap_or(usize::MAX))];
        let head = &data[..data.len().min(8192)];
        if memchr::memchr(0, head).is_some() {
            return;
        }
        let name = path.file_name();
        for m in self.find(data, |rule| {
            rule.allowed
                .as_ref()
                .is_none_or(|a| !a.is_match(path.as_str()))
                && rule
                    .rule
                    .files
                    .is_none_or(|files| files.iter().any(|f| name.ends_with(f)))
        }) {
            let line = 1 + memchr::memchr_iter(b'\n', &data[..m.secret.start]).count();
            let text = String::from_utf8_lossy(data);
            // Lossy decoding keeps byte offsets only for valid UTF-8; rebuild the range on the
            // decoded text when the file had invalid bytes before the match.
            let excerpt = if text.len() == data.len() {
                redact_line(&text, m.secret.clone())
            } else {
                format!("{}****", &m.rule.id)
            };
            out.push(RiskFinding {
                kind: RiskKind::Secret,
                id: m.rule.id.to_owned(),
                title: m.rule.title.to_owned(),
                severity: m.rule.severity,
                remediation: rules::REMEDIATION.to_owned(),
                detail: None,
                path: Some(path.to_string()),
                line: Some(u32::try_from(line).unwrap_or(u32::MAX)),
                layer: None,
                excerpt: Some(excerpt),
            });
        }
    }

    /// Every secret in `data` of the rules `applies` accepts, one per secret: where two rules
    /// match overlapping text, the earlier (more specific) rule wins.
    fn find(&self, data: &[u8], applies: impl Fn(&CompiledRule) -> bool) -> Vec<TextMatch> {
        let mut candidates = vec![false; self.rules.len()];
        for m in self.keywords.find_overlapping_iter(data) {
            if let Some(&rule) = self.keyword_rule.get(m.pattern().as_usize()) {
                candidates[rule] = true;
            }
        }
        let mut found: Vec<TextMatch> = Vec::new();
        for (rule, &candidate) in self.rules.iter().zip(&candidates) {
            if !candidate || !applies(rule) {
                continue;
            }
            for caps in rule.regex.captures_iter(data) {
                let Some(secret) = caps.name("secret") else {
                    continue;
                };
                let range = secret.range();
                if !plausible(rule.rule, secret.as_bytes()) {
                    continue;
                }
                if found
                    .iter()
                    .any(|f| f.secret.start < range.end && range.start < f.secret.end)
                {
                    continue;
                }
                found.push(TextMatch {
                    rule: rule.rule,
                    secret: range,
                });
            }
        }
        found.sort_by_key(|m| m.secret.start);
        found
    }
}

/// Secrets in a piece of text that is not a file (a build history line): every rule that has
/// no file filter, with no allowlist.
pub fn find_in_text(text: &str) -> Vec<TextMatch> {
    static SCANNER: std::sync::LazyLock<Option<SecretScanner>> = std::sync::LazyLock::new(|| {
        SecretScanner::new(&SecretOptions {
            default_allowlist: false,
            ..SecretOptions::default()
        })
        .ok()
    });
    match SCANNER.as_ref() {
        Some(s) => s.find(text.as_bytes(), |r| r.rule.files.is_none()),
        None => Vec::new(),
    }
}

/// Rejects matches that are placeholders or examples rather than credentials.
fn plausible(rule: &SecretRule, secret: &[u8]) -> bool {
    let text = String::from_utf8_lossy(secret);
    let lower = text.to_ascii_lowercase();
    const PLACEHOLDERS: &[&str] = &[
        "example",
        "changeme",
        "change_me",
        "password",
        "placeholder",
        "xxxxxx",
        "******",
        "your_",
        "dummy",
        "sample",
        "redacted",
        "secret",
    ];
    if rule.min_entropy.is_some() && PLACEHOLDERS.iter().any(|p| lower.contains(p)) {
        return false;
    }
    match rule.min_entropy {
        Some(min) => shannon_entropy(secret) >= min,
        None => true,
    }
}

/// Shannon entropy in bits per byte.
pub fn shannon_entropy(data: &[u8]) -> f64 {
    if data.is_empty() {
        return 0.0;
    }
    let mut counts = [0u32; 256];
    for &b in data {
        counts[usize::from(b)] += 1;
    }
    let len = data.len() as f64;
    counts
        .iter()
        .filter(|&&c| c > 0)
        .map(|&c| {
            let p = f64::from(c) / len;
            -p * p.log2()
        })
        .sum()
}

/// The line of `text` holding the start of `secret`, with the secret (up to the end of that
/// line) replaced by at most its first four characters and `*****`, and cut to 160 characters.
/// Short secrets show no character at all.
pub fn redact_line(text: &str, secret: Range<usize>) -> String {
    let start = secret.start.min(text.len());
    let line_start = text[..start].rfind('\n').map_or(0, |i| i + 1);
    let line_end = text[start..].find('\n').map_or(text.len(), |i| start + i);
    let end = secret.end.clamp(start, line_end);
    let secret_text = text.get(start..end).unwrap_or_default();
    let shown_chars = match secret.end.saturating_sub(secret.start) {
        n if n >= 32 => 4,
        n if n >= 12 => 2,
        _ => 0,
    };
    let shown: String = secret_text.chars().take(shown_chars).collect();
    let before = text.get(line_start..start).unwrap_or_default();
    let after = text.get(end..line_end).unwrap_or_default();
    let mut line = format!("{before}{shown}*****{after}");
    let line_trimmed = line.trim();
    if line_trimmed.chars().count() > 160 {
        line = line_trimmed.chars().take(157).collect::<String>() + "...";
    } else {
        line = line_trimmed.to_owned();
    }
    line.chars()
        .map(|c| if c.is_control() { ' ' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_keeps_context_and_hides_the_secret() {
        let secret = "q0Nq8pZx1Lw2Vb3Nm4Kj5Hg6Fd7Sa8Qw9Er0Ty1U";
        let text = format!("A=1\nAWS_SECRET_ACCESS_KEY={secret} # prod\nB=2\n");
        let start = text.find(secret).unwrap();
        let red = redact_line(&text, start..start + secret.len());
        assert_eq!(red, "AWS_SECRET_ACCESS_KEY=q0Nq***** # prod");
        assert_eq!(redact_line("pw=abc123", 3..9), "pw=*****");
    }

    #[test]
    fn entropy_tells_keys_from_words() {
        assert!(shannon_entropy(b"aaaaaaaaaaaaaaaa") < 0.1);
        assert!(shannon_entropy(b"q0Nq8pZx1Lw2Vb3Nm4Kj5Hg6Fd7Sa8Qw9Er0Ty1U") > 4.0);
    }

    #[test]
    fn allow_specs_name_a_rule_only_when_it_exists() {
        assert_eq!(
            AllowPath::parse("jwt=srv/**"),
            AllowPath {
                rule: Some("jwt".into()),
                glob: "srv/**".into()
            }
        );
        assert_eq!(AllowPath::parse("a=b/**").rule, None);
    }

    #[test]
    fn unknown_skipped_rule_is_an_error() {
        let err = SecretScanner::new(&SecretOptions {
            skip_rules: vec!["nope".into()],
            ..SecretOptions::default()
        });
        assert!(err.is_err());
    }
}
