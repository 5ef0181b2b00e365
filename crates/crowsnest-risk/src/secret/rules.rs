//! The secret rules, most specific first: when two rules match the same secret on one line,
//! the earlier one is reported. Each rule has keywords (matched case-insensitively before its
//! regex runs, so most files cost one Aho-Corasick pass), a regex whose `secret` group is the
//! credential, and optionally a minimum Shannon entropy for that group and a file filter.

use crowsnest_model::Severity;

/// One secret rule.
#[derive(Clone, Copy, Debug)]
pub struct SecretRule {
    /// Stable id, e.g. `aws-access-key-id`.
    pub id: &'static str,
    /// One-line title.
    pub title: &'static str,
    /// Severity of its findings.
    pub severity: Severity,
    /// Lower-case words one of which must occur in a file before the regex runs.
    pub keywords: &'static [&'static str],
    /// The pattern; the named group `secret` is what gets redacted.
    pub regex: &'static str,
    /// Minimum Shannon entropy (bits per character) of the secret, for generic rules that
    /// would otherwise flag placeholders and words.
    pub min_entropy: Option<f64>,
    /// Only files whose name matches these suffixes or names (config files), when set.
    pub files: Option<&'static [&'static str]>,
}

/// Names and suffixes of configuration files, for the password rule.
const CONFIG_FILES: &[&str] = &[
    ".env",
    ".conf",
    ".cfg",
    ".cnf",
    ".ini",
    ".properties",
    ".yaml",
    ".yml",
    ".toml",
    ".json",
    ".xml",
    ".netrc",
    ".pgpass",
    ".npmrc",
    ".pypirc",
    "settings.py",
    "config.php",
    ".env.local",
    ".env.production",
];

/// How to fix a leaked secret; the same for every rule.
pub const REMEDIATION: &str = "Remove the secret from the image (from every layer: deleting it in a later layer leaves it in the earlier one), rotate it, and pass secrets at run time.";

/// Every rule, in precedence order.
pub const RULES: &[SecretRule] = &[
    SecretRule {
        id: "private-key",
        title: "Private key",
        severity: Severity::High,
        keywords: &["private key"],
        // A whole block, so code and documentation that merely name the header do not match.
        regex: r"-----BEGIN[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----\s*?(?P<secret>[A-Za-z0-9+/=\s:,\x2d\\n]{64,}?)-----END[ A-Z0-9_-]{0,100}PRIVATE KEY(?: BLOCK)?-----",
        min_entropy: None,
        files: None,
    },
    SecretRule {
        id: "aws-access-key-id",
        title: "AWS access key id",
        severity: Severity::High,
        keywords: &["akia", "asia", "abia", "acca", "a3t"],
        regex: r"\b(?P<secret>(?:A3T[A-Z0-9]|AKIA|ASIA|ABIA|ACCA)[A-Z2-7]{16})\b",
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "aws-secret-access-key",
        title: "AWS secret access key",
        severity: Severity::Critical,
        keywords: &["aws"],
        regex: r#"(?i)aws_?(?:secret_?access_?key|secret_?key|secret)["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9/+]{40})\b"#,
        min_entropy: Some(3.5),
        files: None,
    },
    SecretRule {
        id: "alibaba-access-key-id",
        title: "Alibaba Cloud AccessKey id",
        severity: Severity::High,
        keywords: &["ltai"],
        regex: r"\b(?P<secret>LTAI[A-Za-z0-9]{12,20})\b",
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "alibaba-access-key-secret",
        title: "Alibaba Cloud AccessKey secret",
        severity: Severity::Critical,
        keywords: &[
            "alibaba",
            "aliyun",
            "alicloud",
            "access_key_secret",
            "accesskeysecret",
        ],
        regex: r#"(?i)(?:(?:alibaba|aliyun|alicloud)[\w.-]{0,20}secret|access_?key_?secret)[\w.-]{0,10}["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9]{30})\b"#,
        min_entropy: Some(3.5),
        files: None,
    },
    SecretRule {
        id: "huawei-access-key",
        title: "Huawei Cloud access key (AK)",
        severity: Severity::High,
        keywords: &["huawei", "hwcloud", "hw_access", "obs_access", "hcso"],
        regex: r#"(?i)(?:huawei|hwcloud|hw|obs)[\w.-]{0,20}(?:access_?key(?:_?id)?|\bak)["']?\s*[:=]\s*["']?(?P<secret>[A-Z0-9]{20})\b"#,
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "huawei-secret-key",
        title: "Huawei Cloud secret key (SK)",
        severity: Severity::Critical,
        keywords: &["huawei", "hwcloud", "hw_secret", "obs_secret"],
        regex: r#"(?i)(?:huawei|hwcloud|hw|obs)[\w.-]{0,20}(?:secret_?(?:access_?)?key|\bsk)["']?\s*[:=]\s*["']?(?P<secret>[A-Za-z0-9]{40})\b"#,
        min_entropy: Some(3.5),
        files: None,
    },
    SecretRule {
        id: "gcp-service-account",
        title: "Google Cloud service account key",
        severity: Severity::Critical,
        keywords: &["service_account"],
        regex: r#""type"\s*:\s*"service_account"[\s\S]{0,2000}?"private_key_id"\s*:\s*"(?P<secret>[a-f0-9]{40})""#,
        min_entropy: None,
        files: None,
    },
    SecretRule {
        id: "gcp-api-key",
        title: "Google API key",
        severity: Severity::High,
        keywords: &["aiza"],
        regex: r"\b(?P<secret>AIza[0-9A-Za-z_\x2d]{35})\b",
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "github-token",
        title: "GitHub token",
        severity: Severity::Critical,
        keywords: &["ghp_", "gho_", "ghu_", "ghs_", "ghr_", "github_pat_"],
        regex: r"\b(?P<secret>(?:gh[pousr]_[0-9A-Za-z]{36}|github_pat_[0-9A-Za-z_]{82}))\b",
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "gitlab-token",
        title: "GitLab personal access token",
        severity: Severity::Critical,
        keywords: &["glpat-"],
        regex: r"\b(?P<secret>glpat-[0-9A-Za-z_\x2d]{20})\b",
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "slack-token",
        title: "Slack token",
        severity: Severity::High,
        keywords: &["xoxb-", "xoxp-", "xoxa-", "xoxr-", "xoxs-"],
        regex: r"\b(?P<secret>xox[baprs]-[0-9]{8,13}-[0-9A-Za-z\x2d]{10,})\b",
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "slack-webhook",
        title: "Slack incoming webhook",
        severity: Severity::Medium,
        keywords: &["hooks.slack.com"],
        regex: r"https://hooks\.slack\.com/services/(?P<secret>T[A-Z0-9]{8,}/B[A-Z0-9]{8,}/[A-Za-z0-9]{20,})",
        min_entropy: None,
        files: None,
    },
    SecretRule {
        id: "stripe-key",
        title: "Stripe API key",
        severity: Severity::Critical,
        keywords: &["sk_live_", "sk_test_", "rk_live_", "rk_test_"],
        regex: r"\b(?P<secret>[rs]k_(?:live|test)_[0-9A-Za-z]{24,99})\b",
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "jwt",
        title: "JSON Web Token",
        severity: Severity::Medium,
        keywords: &["eyj"],
        regex: r"\b(?P<secret>eyJ[A-Za-z0-9_\x2d]{10,}\.eyJ[A-Za-z0-9_\x2d]{10,}\.[A-Za-z0-9_\x2d]{16,})",
        min_entropy: Some(3.0),
        files: None,
    },
    SecretRule {
        id: "password-in-config",
        title: "Password in a configuration file",
        severity: Severity::High,
        keywords: &["pass", "pwd"],
        regex: r#"(?im)^[ \t]*(?:export[ \t]+)?["']?[\w.\x2d]*(?:password|passwd|pwd|_pass)["']?[ \t]*[:=][ \t]*["']?(?P<secret>[^\s"'#;,<>{}$%]{6,128})["']?[ \t]*,?[ \t]*$"#,
        min_entropy: Some(2.5),
        files: Some(CONFIG_FILES),
    },
    SecretRule {
        id: "generic-api-key",
        title: "High-entropy API key or token",
        severity: Severity::Medium,
        keywords: &["key", "token", "secret"],
        regex: r#"(?i)\b[\w.\x2d]*(?:api_?key|apikey|secret_?key|access_?token|auth_?token|client_?secret)["']?[ \t]*[:=][ \t]*["']?(?P<secret>[A-Za-z0-9_\x2d+/=.]{20,128})\b"#,
        min_entropy: Some(4.0),
        files: None,
    },
];
