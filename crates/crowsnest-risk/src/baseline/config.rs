//! Checks on the image config: the user it runs as, HEALTHCHECK, secrets in ENV and in the
//! build history, ADD of remote URLs, and mutable tags. A root directory has no config, so
//! these checks say nothing about one.

use std::sync::LazyLock;

use crowsnest_model::RiskFinding;
use regex::Regex;

use super::{
    BaselineInput, ADD_REMOTE_URL, MUTABLE_TAG, NO_HEALTHCHECK, RUNS_AS_ROOT, SECRET_IN_ENV,
    SECRET_IN_HISTORY,
};
use crate::secret;

/// Variable names that hold credentials. `_FILE` suffixes (`POSTGRES_PASSWORD_FILE`) point at a
/// secret file instead and are left out by [`is_secret_assignment`].
static SECRET_NAME: LazyLock<Regex> = LazyLock::new(|| {
    crate::pattern(
        r"(?i)(?:passw(?:or)?d|\bpwd\b|_pwd\b|secret|token|api_?key|access_?key|private_?key|credential|auth_?key)",
    )
});

/// `NAME=value` assignments in a shell command line or a Dockerfile instruction.
static ASSIGNMENT: LazyLock<Regex> = LazyLock::new(|| {
    crate::pattern(
        r#"(?:^|[\s;&|(])(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=("[^"]*"|'[^']*'|[^\s;&|]*)"#,
    )
});

/// `ADD` of an http(s) or ftp URL, in both the classic builder's (`/bin/sh -c #(nop) ADD ...`)
/// and BuildKit's (`ADD https://... /dst # buildkit`) history forms.
static ADD_URL: LazyLock<Regex> = LazyLock::new(|| {
    crate::pattern(r"(?i)(?:^|#\(nop\)\s*)ADD\s+(?:--\S+\s+)*((?:https?|ftp)://\S+)")
});

pub(super) fn run(input: &BaselineInput<'_>, out: &mut Vec<RiskFinding>) {
    if let Some(config) = input.config {
        let user = config.user.trim();
        let name = user.split(':').next().unwrap_or_default();
        if name.is_empty() || name == "0" || name == "root" {
            let detail = if user.is_empty() {
                "USER is not set, so the container runs as root".to_owned()
            } else {
                format!("USER is {user:?}")
            };
            out.push(RUNS_AS_ROOT.finding(detail));
        }
        if !config.has_healthcheck {
            out.push(NO_HEALTHCHECK.finding("the image config has no HEALTHCHECK".to_owned()));
        }
        for entry in &config.env {
            let (key, value) = entry.split_once('=').unwrap_or((entry, ""));
            if is_secret_assignment(key, value) {
                out.push(SECRET_IN_ENV.finding(format!(
                    "ENV {key} holds a value ({} characters, not shown)",
                    value.chars().count()
                )));
            }
        }
        for (index, created_by) in config.history.iter().enumerate() {
            check_history_entry(index, created_by, out);
        }
    }
    for tag in &input.source.tags {
        if is_mutable_tag(tag) {
            out.push(MUTABLE_TAG.finding(format!("tag {tag:?}")));
        }
    }
}

/// A credential-named variable with a literal value (not empty, not a reference to another
/// variable or to a secret file).
pub(crate) fn is_secret_assignment(key: &str, value: &str) -> bool {
    let value = value.trim_matches(|c| c == '"' || c == '\'');
    // Flags such as TOKENIZERS_PARALLELISM=false name no credential.
    let flag = ["true", "false", "yes", "no", "on", "off", "0", "1"]
        .iter()
        .any(|f| value.eq_ignore_ascii_case(f));
    !value.is_empty()
        && !flag
        && !value.starts_with('$')
        && !key.to_ascii_uppercase().ends_with("_FILE")
        && !key.to_ascii_uppercase().ends_with("_PATH")
        && SECRET_NAME.is_match(key)
}

fn check_history_entry(index: usize, created_by: &str, out: &mut Vec<RiskFinding>) {
    let instruction = created_by
        .trim_start()
        .trim_start_matches("/bin/sh -c ")
        .trim_start_matches("#(nop) ")
        .trim_start();
    // ENV lines are what the config's Env holds, and CN-BL-003 reports those.
    let is_env = instruction
        .get(..4)
        .is_some_and(|w| w.eq_ignore_ascii_case("ENV "));
    if !is_env {
        for caps in ASSIGNMENT.captures_iter(created_by) {
            let (Some(key), Some(value)) = (caps.get(1), caps.get(2)) else {
                continue;
            };
            if is_secret_assignment(key.as_str(), value.as_str()) {
                out.push(SECRET_IN_HISTORY.finding(format!(
                    "history entry {index}: {} is assigned a literal value (not shown)",
                    key.as_str()
                )));
            }
        }
        for m in secret::find_in_text(created_by) {
            out.push(RiskFinding {
                excerpt: Some(secret::redact_line(created_by, m.secret.clone())),
                ..SECRET_IN_HISTORY.finding(format!("history entry {index}: {}", m.rule.title))
            });
        }
    }
    if let Some(url) = ADD_URL.captures(created_by).and_then(|c| c.get(1)) {
        out.push(ADD_REMOTE_URL.finding(format!("history entry {index}: ADD {}", url.as_str())));
    }
}

/// `latest`, spelled as an OCI ref name (`latest`) or a full reference (`repo:latest`). A name
/// without a tag part is an OCI ref name, which is the tag itself.
pub(crate) fn is_mutable_tag(reference: &str) -> bool {
    let after_slash = reference.rsplit('/').next().unwrap_or(reference);
    let tag = match after_slash.split_once('@') {
        Some(_) => return false, // pinned by digest
        None => after_slash
            .rsplit_once(':')
            .map_or(after_slash, |(_, tag)| tag),
    };
    tag == "latest"
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_names_and_literal_values() {
        assert!(is_secret_assignment("DB_PASSWORD", "hunter22"));
        assert!(is_secret_assignment("GITHUB_TOKEN", "x"));
        assert!(is_secret_assignment("AWS_SECRET_ACCESS_KEY", "abc"));
        assert!(!is_secret_assignment("DB_PASSWORD", ""));
        assert!(!is_secret_assignment("DB_PASSWORD_FILE", "/run/secrets/db"));
        assert!(!is_secret_assignment("DB_PASSWORD", "$DB_PASSWORD"));
        assert!(!is_secret_assignment("PATH", "/usr/bin"));
        assert!(!is_secret_assignment("PASSENGER_HOME", "/opt"));
        assert!(!is_secret_assignment("TOKENIZERS_PARALLELISM", "false"));
    }

    #[test]
    fn history_finds_arg_secrets_and_remote_add_but_not_env() {
        let mut out = Vec::new();
        check_history_entry(0, "/bin/sh -c #(nop)  ENV DB_PASSWORD=x1234567", &mut out);
        assert!(out.is_empty(), "{out:?}");
        check_history_entry(
            1,
            "RUN |1 NPM_TOKEN=abcdef123456 /bin/sh -c npm ci # buildkit",
            &mut out,
        );
        assert_eq!(out.len(), 1);
        assert_eq!(out[0].id, "CN-BL-004");
        assert!(!out[0].detail.as_deref().unwrap_or("").contains("abcdef"));
        out.clear();
        check_history_entry(
            2,
            "ADD https://example.com/tool.tar.gz /opt/ # buildkit",
            &mut out,
        );
        check_history_entry(3, "/bin/sh -c #(nop) ADD file:abc in / ", &mut out);
        check_history_entry(4, "COPY https-proxy.conf /etc/", &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        assert_eq!(out[0].id, "CN-BL-005");
    }

    #[test]
    fn history_runs_the_secret_rules_too() {
        let key = format!("{}{}", "AKIA", "Z3MPLQ7RXW4TB2NV");
        let mut out = Vec::new();
        check_history_entry(0, &format!("RUN aws configure set key {key}"), &mut out);
        assert_eq!(out.len(), 1, "{out:?}");
        let excerpt = out[0].excerpt.as_deref().unwrap_or("");
        assert!(!excerpt.contains(&key), "{excerpt}");
    }

    #[test]
    fn mutable_tags() {
        assert!(is_mutable_tag("latest"));
        assert!(is_mutable_tag("alpine:latest"));
        assert!(is_mutable_tag("localhost:5000/app:latest"));
        assert!(!is_mutable_tag("alpine:3.10"));
        assert!(!is_mutable_tag("acme-shop"));
        assert!(!is_mutable_tag("localhost:5000/app"));
        assert!(!is_mutable_tag("app@sha256:abcd"));
    }
}
