//! Every secret rule against a positive and a negative sample. Secrets are assembled at run
//! time from a seeded generator, so no credential-shaped string is committed.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use crowsnest_model::{ImagePath, RiskFinding, RiskKind};
use crowsnest_risk::secret::{AllowPath, SecretOptions, SecretScanner, RULES};

/// A deterministic pseudo-random string over `alphabet` (xorshift), different per seed.
fn token(alphabet: &str, len: usize, seed: u64) -> String {
    let chars: Vec<char> = alphabet.chars().collect();
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            chars[(x % chars.len() as u64) as usize]
        })
        .collect()
}

const ALNUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
const UPPER_NUM: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789";
const B64: &str = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn scan_with(scanner: &SecretScanner, path: &str, text: &str) -> Vec<RiskFinding> {
    let path = ImagePath::parse(path).unwrap();
    let mut out = Vec::new();
    scanner.scan(&path, text.as_bytes(), &mut out);
    out
}

fn scan(path: &str, text: &str) -> Vec<RiskFinding> {
    scan_with(
        &SecretScanner::new(&SecretOptions::default()).unwrap(),
        path,
        text,
    )
}

/// (rule id, file path, positive sample, the secret inside it, negative sample).
fn samples() -> Vec<(&'static str, &'static str, String, String, String)> {
    let pem_body: String = (0..6).map(|i| token(B64, 64, 100 + i) + "\n").collect();
    let aws_id = format!(
        "{}{}",
        "AKIA",
        token("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 1)
    );
    let aws_secret = token(B64, 40, 2);
    let ali_id = format!("{}{}", "LTAI", token(ALNUM, 20, 3));
    let ali_secret = token(ALNUM, 30, 4);
    let hw_ak = token(UPPER_NUM, 20, 5);
    let hw_sk = token(ALNUM, 40, 6);
    let gcp_key_id = token("0123456789abcdef", 40, 7);
    let gcp_api = format!("{}{}", "AIza", token(ALNUM, 35, 8));
    let gh = format!("{}{}", "ghp_", token(ALNUM, 36, 9));
    let gl = format!("{}{}", "glpat-", token(ALNUM, 20, 10));
    let slack = format!("{}-{}-{}", "xoxb", "123456789012", token(ALNUM, 24, 11));
    let hook = format!(
        "T{}/B{}/{}",
        token(UPPER_NUM, 10, 12),
        token(UPPER_NUM, 10, 13),
        token(ALNUM, 24, 14)
    );
    let stripe = format!("{}{}", "sk_live_", token(ALNUM, 24, 15));
    let jwt = format!(
        "eyJ{}.eyJ{}.{}",
        token(ALNUM, 20, 16),
        token(ALNUM, 30, 17),
        token(ALNUM, 43, 18)
    );
    let password = format!("{}!{}", token(ALNUM, 6, 19), token(ALNUM, 4, 20));
    let api_key = token(ALNUM, 32, 21);
    vec![
        (
            "private-key",
            "root/.ssh/id_rsa",
            format!("-----BEGIN RSA PRIVATE KEY-----\n{pem_body}-----END RSA PRIVATE KEY-----\n"),
            pem_body.trim_end().to_owned(),
            "PEM_HEADER = \"-----BEGIN RSA PRIVATE KEY-----\"\nFOOTER = \"-----END RSA PRIVATE KEY-----\"\n".to_owned(),
        ),
        (
            "aws-access-key-id",
            "srv/app/.env",
            format!("AWS_ACCESS_KEY_ID={aws_id}\n"),
            aws_id,
            format!("AWS_ACCESS_KEY_ID={}{}\n", "AKIAIOSFODNN7", "EXAMPLE"),
        ),
        (
            "aws-secret-access-key",
            "srv/app/.env",
            format!("aws_secret_access_key = {aws_secret}\n"),
            aws_secret,
            "aws_secret_access_key = ${AWS_SECRET_ACCESS_KEY}\n".to_owned(),
        ),
        (
            "alibaba-access-key-id",
            "etc/app/config.yml",
            format!("access_key_id: {ali_id}\n"),
            ali_id,
            format!("access_key_id: LTAI{}\n", "a".repeat(20)),
        ),
        (
            "alibaba-access-key-secret",
            "etc/app/config.yml",
            format!("aliyun_access_key_secret: {ali_secret}\n"),
            ali_secret,
            format!("aliyun_access_key_secret: {}\n", "a".repeat(30)),
        ),
        (
            "huawei-access-key",
            "etc/app/obs.ini",
            format!("HUAWEI_ACCESS_KEY_ID={hw_ak}\n"),
            hw_ak,
            format!("HUAWEI_ACCESS_KEY_ID={}\n", "A".repeat(20)),
        ),
        (
            "huawei-secret-key",
            "etc/app/obs.ini",
            format!("HUAWEI_SECRET_ACCESS_KEY={hw_sk}\n"),
            hw_sk,
            format!("HUAWEI_SECRET_ACCESS_KEY={}\n", "b".repeat(40)),
        ),
        (
            "gcp-service-account",
            "opt/app/sa.json",
            format!("{{\n  \"type\": \"service_account\",\n  \"project_id\": \"demo\",\n  \"private_key_id\": \"{gcp_key_id}\"\n}}\n"),
            gcp_key_id.clone(),
            format!("{{\n  \"type\": \"authorized_user\",\n  \"private_key_id\": \"{gcp_key_id}\"\n}}\n"),
        ),
        (
            "gcp-api-key",
            "srv/web/app.js",
            format!("const key = \"{gcp_api}\";\n"),
            gcp_api,
            "const key = \"AIzaShort\";\n".to_owned(),
        ),
        (
            "github-token",
            "root/.git-credentials",
            format!("https://user:{gh}@github.com\n"),
            gh,
            format!("https://user:ghp_{}@github.com\n", token(ALNUM, 10, 30)),
        ),
        (
            "gitlab-token",
            "root/.netrc",
            format!("machine gitlab.com login x password {gl}\n"),
            gl,
            "machine gitlab.com login x password glpat-short\n".to_owned(),
        ),
        (
            "slack-token",
            "opt/bot/bot.py",
            format!("TOKEN = '{slack}'\n"),
            slack,
            "TOKEN = 'xoxb-not-a-token'\n".to_owned(),
        ),
        (
            "slack-webhook",
            "opt/bot/bot.py",
            format!("URL = 'https://hooks.slack.com/services/{hook}'\n"),
            hook,
            "URL = 'https://hooks.slack.com/services/'\n".to_owned(),
        ),
        (
            "stripe-key",
            "srv/shop/pay.rb",
            format!("Stripe.api_key = \"{stripe}\"\n"),
            stripe,
            "Stripe.api_key = \"sk_live_short\"\n".to_owned(),
        ),
        (
            "jwt",
            "srv/web/session.txt",
            format!("Authorization: Bearer {jwt}\n"),
            jwt,
            "header: eyJhbGciOiJIUzI1NiJ9 only\n".to_owned(),
        ),
        (
            "password-in-config",
            "etc/app/app.conf",
            format!("[db]\ndb_password = {password}\n"),
            password.clone(),
            // A placeholder, a variable reference, and a real-looking value in a source file.
            "[db]\npassword = changeme\npassword = ${DB_PASSWORD}\n".to_owned(),
        ),
        (
            "generic-api-key",
            "srv/web/settings.js",
            format!("export const api_key = \"{api_key}\";\n"),
            api_key,
            format!("export const api_key = \"{}\";\n", "ab".repeat(16)),
        ),
    ]
}

#[test]
fn every_rule_has_a_sample_here() {
    let tested: Vec<&str> = samples().iter().map(|s| s.0).collect();
    for rule in RULES {
        assert!(tested.contains(&rule.id), "no samples for rule {}", rule.id);
    }
}

#[test]
fn positives_are_found_on_their_line_and_redacted() {
    for (id, path, positive, secret, _) in samples() {
        let found = scan(path, &positive);
        let hit = found
            .iter()
            .find(|f| f.id == id)
            .unwrap_or_else(|| panic!("{id}: not found in {path}; found {found:?}"));
        assert_eq!(hit.kind, RiskKind::Secret);
        assert_eq!(hit.path.as_deref(), Some(format!("/{path}").as_str()));
        let line_of_secret = 1 + positive[..positive.find(secret.lines().next().unwrap()).unwrap()]
            .matches('\n')
            .count();
        // The line is where the secret starts; for a private key, its header line.
        let expected = if id == "private-key" {
            1
        } else {
            line_of_secret
        };
        assert_eq!(hit.line, Some(expected as u32), "{id}");
        let excerpt = hit.excerpt.as_deref().unwrap();
        for chunk in secret.lines() {
            assert!(
                !excerpt.contains(chunk),
                "{id}: the excerpt {excerpt:?} shows the secret"
            );
        }
        assert!(excerpt.contains("*****"), "{id}: {excerpt}");
        let serialised = serde_json::to_string(&found).unwrap();
        for chunk in secret.lines() {
            assert!(
                !serialised.contains(chunk),
                "{id}: the finding holds the secret"
            );
        }
    }
}

#[test]
fn negatives_are_not_found() {
    for (id, path, _, _, negative) in samples() {
        let found = scan(path, &negative);
        assert!(
            found.iter().all(|f| f.id != id),
            "{id}: false positive in {negative:?}: {found:?}"
        );
    }
}

#[test]
fn password_rule_only_reads_config_files() {
    let line = format!(
        "password = {}!{}\n",
        token(ALNUM, 6, 40),
        token(ALNUM, 4, 41)
    );
    assert!(scan("etc/app/app.conf", &line)
        .iter()
        .any(|f| f.id == "password-in-config"));
    assert!(scan("srv/app/.env", &line)
        .iter()
        .any(|f| f.id == "password-in-config"));
    assert!(scan("usr/lib/python3/dist-packages/x/cli.py", &line).is_empty());
}

#[test]
fn binaries_docs_and_package_tests_are_skipped() {
    let key = format!(
        "{}{}",
        "AKIA",
        token("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 50)
    );
    let text = format!("id={key}\n");
    let scanner = SecretScanner::new(&SecretOptions::default()).unwrap();
    let meta = |size| crowsnest_model::FileMeta {
        kind: crowsnest_model::FileKind::Regular,
        mode: 0o644,
        size,
        uid: 0,
        gid: 0,
        mtime: 0,
        link_target: None,
        layer: 0,
    };
    let wants = |p: &str| scanner.wants(&ImagePath::parse(p).unwrap(), &meta(10));
    assert!(wants("srv/app/.env"));
    assert!(!wants("usr/share/doc/awscli/README.txt"));
    assert!(!wants(
        "usr/local/lib/python3.11/site-packages/botocore/tests/creds.json"
    ));
    assert!(!wants("srv/web/node_modules/aws-sdk/test/keys.js"));
    assert!(!wants("usr/lib/x86_64-linux-gnu/libfoo.so.1"));
    assert!(!wants("srv/app/README.md"));
    // Content with a NUL byte near the start is binary even under a text-like name.
    let mut binary = b"\x7fELF\0\0\0".to_vec();
    binary.extend_from_slice(text.as_bytes());
    let mut out = Vec::new();
    scanner.scan(
        &ImagePath::parse("srv/app/tool").unwrap(),
        &binary,
        &mut out,
    );
    assert!(out.is_empty(), "{out:?}");
    assert_eq!(scan("srv/app/tool", &text).len(), 1);
}

#[test]
fn user_allowlists_by_path_and_by_rule() {
    let key = format!(
        "{}{}",
        "AKIA",
        token("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 60)
    );
    let jwt = format!(
        "eyJ{}.eyJ{}.{}",
        token(ALNUM, 20, 61),
        token(ALNUM, 30, 62),
        token(ALNUM, 43, 63)
    );
    let text = format!("a={key}\nb={jwt}\n");
    let ids = |s: &SecretScanner, p: &str| -> Vec<String> {
        scan_with(s, p, &text).into_iter().map(|f| f.id).collect()
    };
    let all = SecretScanner::new(&SecretOptions::default()).unwrap();
    assert_eq!(
        ids(&all, "srv/fixtures/a.txt"),
        ["aws-access-key-id", "jwt"]
    );

    let by_path = SecretScanner::new(&SecretOptions {
        allow_paths: vec![AllowPath::parse("srv/fixtures/**")],
        ..SecretOptions::default()
    })
    .unwrap();
    assert!(!by_path.wants(
        &ImagePath::parse("srv/fixtures/a.txt").unwrap(),
        &crowsnest_model::FileMeta {
            kind: crowsnest_model::FileKind::Regular,
            mode: 0o644,
            size: 1,
            uid: 0,
            gid: 0,
            mtime: 0,
            link_target: None,
            layer: 0
        }
    ));

    let by_rule = SecretScanner::new(&SecretOptions {
        allow_paths: vec![AllowPath::parse("jwt=srv/fixtures/**")],
        ..SecretOptions::default()
    })
    .unwrap();
    assert_eq!(ids(&by_rule, "srv/fixtures/a.txt"), ["aws-access-key-id"]);
    assert_eq!(
        ids(&by_rule, "srv/other/a.txt"),
        ["aws-access-key-id", "jwt"]
    );

    let skipped = SecretScanner::new(&SecretOptions {
        skip_rules: vec!["aws-access-key-id".into()],
        ..SecretOptions::default()
    })
    .unwrap();
    assert_eq!(ids(&skipped, "srv/fixtures/a.txt"), ["jwt"]);
}

/// The content pass reads up to the malware analyzer's limit (32 MiB) and hands the secret
/// scanner all of it; the secret scanner searched it all, though `max_file_bytes` (2 MiB by
/// default, `--secret-max-file-bytes`) says only the start is searched. That made the risk
/// pass over a VM disk's few large text files most of its 5 s.
#[test]
fn only_the_first_max_file_bytes_are_searched_whatever_the_caller_read() {
    let key = format!(
        "{}{}",
        "AKIA",
        token("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 91)
    );
    let scanner = SecretScanner::new(&SecretOptions {
        max_file_bytes: 4096,
        ..SecretOptions::default()
    })
    .unwrap();
    let early = format!("id = {key}\n{}", "filler line\n".repeat(1000));
    assert_eq!(scan_with(&scanner, "srv/early.conf", &early).len(), 1);
    let late = format!("{}id = {key}\n", "filler line\n".repeat(1000));
    assert!(scan_with(&scanner, "srv/late.conf", &late).is_empty());
    assert_eq!(scan("srv/late.conf", &late).len(), 1);
}

/// The rules use ASCII word boundaries and classes, like gitleaks' Go regexps: a key next to
/// non-ASCII text is found (and a Unicode `\b` no longer sends the regex engine to its slow
/// path on every file with a non-ASCII byte).
#[test]
fn keys_beside_non_ascii_text_are_found() {
    let key = format!(
        "{}{}",
        "AKIA",
        token("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567", 16, 92)
    );
    for text in [
        format!("clé d'accès : {key} ← production\n"),
        format!("schlüssel=é{key}\n"),
    ] {
        let found = scan("srv/notes.conf", &text);
        assert_eq!(found.len(), 1, "{text}");
        assert_eq!(found[0].id, "aws-access-key-id");
    }
}
