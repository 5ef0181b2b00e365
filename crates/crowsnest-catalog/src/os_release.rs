//! Operating-system detection from `os-release` and the older release files.
//!
//! The order is the one systemd documents and scanners follow: `etc/os-release`, then
//! `usr/lib/os-release`; an image without either (old CentOS, very old Debian, busybox) is
//! recognised from `etc/lsb-release`, the Red Hat family's `*-release` files,
//! `etc/system-release-cpe`, `etc/alpine-release`, `etc/debian_version`, and at last the
//! `BusyBox v1.x.y` banner inside `bin/busybox`. The first file that names a distribution wins.
//!
//! `os-release` is a shell fragment of `KEY=value` lines; values may be unquoted, or in single
//! or double quotes with the backslash escapes of the shell's double quotes. The parser takes
//! exactly that subset and never runs anything.

use std::io::Read;

use crowsnest_model::{Distro, ImageFs, ImagePath};

/// Largest release file read; real ones are a few hundred bytes.
const MAX_RELEASE_FILE: u64 = 64 << 10;
/// Largest busybox binary searched for its version banner.
const MAX_BUSYBOX: u64 = 8 << 20;

const OS_RELEASE: [&str; 2] = ["etc/os-release", "usr/lib/os-release"];
const LSB_RELEASE: &str = "etc/lsb-release";
const REDHAT_RELEASES: [&str; 3] = [
    "etc/centos-release",
    "etc/redhat-release",
    "etc/system-release",
];
const SYSTEM_RELEASE_CPE: &str = "etc/system-release-cpe";
const ALPINE_RELEASE: &str = "etc/alpine-release";
const DEBIAN_VERSION: &str = "etc/debian_version";
const BUSYBOX: &str = "bin/busybox";

/// Whether the engine must capture `path` for [`detect`]. Path-only, for every layer entry.
pub fn wants(path: &ImagePath) -> bool {
    let p = path.as_str();
    OS_RELEASE.contains(&p)
        || REDHAT_RELEASES.contains(&p)
        || [
            LSB_RELEASE,
            SYSTEM_RELEASE_CPE,
            ALPINE_RELEASE,
            DEBIAN_VERSION,
            BUSYBOX,
        ]
        .contains(&p)
}

/// The distribution of the merged filesystem `fs`, if any release file names one.
pub fn detect(fs: &dyn ImageFs) -> Option<Distro> {
    let read = |p: &str, limit: u64| read_file(fs, p, limit);
    let text =
        |p: &str| read(p, MAX_RELEASE_FILE).map(|b| String::from_utf8_lossy(&b).into_owned());
    OS_RELEASE
        .iter()
        .find_map(|p| text(p).and_then(|t| from_os_release(&t)))
        .or_else(|| text(LSB_RELEASE).and_then(|t| from_lsb_release(&t)))
        .or_else(|| {
            REDHAT_RELEASES
                .iter()
                .find_map(|p| text(p).and_then(|t| from_redhat_release(&t)))
        })
        .or_else(|| text(SYSTEM_RELEASE_CPE).and_then(|t| from_cpe(&t)))
        .or_else(|| text(ALPINE_RELEASE).and_then(|t| from_single_version("alpine", &t)))
        .or_else(|| text(DEBIAN_VERSION).and_then(|t| from_debian_version(&t)))
        .or_else(|| read(BUSYBOX, MAX_BUSYBOX).and_then(|b| from_busybox(&b)))
}

/// Reads a captured file, or `None` when it is absent, unreadable or larger than `limit`.
fn read_file(fs: &dyn ImageFs, path: &str, limit: u64) -> Option<Vec<u8>> {
    let path = ImagePath::parse(path).ok()?;
    let mut reader = fs.open(&path).ok()?;
    let mut buf = Vec::new();
    reader
        .by_ref()
        .take(limit.saturating_add(1))
        .read_to_end(&mut buf)
        .ok()?;
    (buf.len() as u64 <= limit).then_some(buf)
}

/// Parses `os-release` syntax into its assignments, in order. Lines that are not assignments
/// (comments, blanks, garbage) are skipped, as systemd does.
pub fn parse_os_release(text: &str) -> Vec<(String, String)> {
    text.lines()
        .filter_map(|line| {
            let line = line.trim();
            if line.starts_with('#') {
                return None;
            }
            let (key, raw) = line.split_once('=')?;
            let key = key.trim();
            let valid_key =
                !key.is_empty() && key.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
            valid_key.then(|| (key.to_owned(), shell_value(raw)))
        })
        .collect()
}

/// The value of a shell word made of unquoted, single-quoted and double-quoted parts.
fn shell_value(raw: &str) -> String {
    let mut out = String::new();
    let mut chars = raw.trim().chars();
    while let Some(c) = chars.next() {
        match c {
            '\'' => {
                for c in chars.by_ref() {
                    if c == '\'' {
                        break;
                    }
                    out.push(c);
                }
            }
            '"' => {
                while let Some(c) = chars.next() {
                    match c {
                        '"' => break,
                        // Inside double quotes the shell drops the backslash only before these.
                        '\\' => match chars.next() {
                            Some(e @ ('"' | '\\' | '$' | '`')) => out.push(e),
                            Some(other) => {
                                out.push('\\');
                                out.push(other);
                            }
                            None => out.push('\\'),
                        },
                        c => out.push(c),
                    }
                }
            }
            '\\' => {
                if let Some(e) = chars.next() {
                    out.push(e);
                }
            }
            // An unquoted blank ends the word; what follows would be another command.
            c if c.is_whitespace() => break,
            c => out.push(c),
        }
    }
    out
}

fn non_empty(v: Option<&String>) -> Option<String> {
    v.filter(|s| !s.is_empty()).cloned()
}

/// A [`Distro`] from `os-release` text, or `None` when it names no `ID`.
pub fn from_os_release(text: &str) -> Option<Distro> {
    let fields = parse_os_release(text);
    let get = |key: &str| fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
    let id = non_empty(get("ID"))?.to_ascii_lowercase();
    Some(Distro {
        id,
        version_id: non_empty(get("VERSION_ID")),
        version_codename: non_empty(get("VERSION_CODENAME")),
        name: non_empty(get("NAME")),
        pretty_name: non_empty(get("PRETTY_NAME")),
        id_like: get("ID_LIKE")
            .map(|v| v.split_whitespace().map(str::to_ascii_lowercase).collect())
            .unwrap_or_default(),
    })
}

fn bare(id: &str) -> Distro {
    Distro {
        id: id.to_owned(),
        version_id: None,
        version_codename: None,
        name: None,
        pretty_name: None,
        id_like: Vec::new(),
    }
}

/// Ubuntu's `lsb-release` (`DISTRIB_ID`, `DISTRIB_RELEASE`, ...), same syntax as os-release.
fn from_lsb_release(text: &str) -> Option<Distro> {
    let fields = parse_os_release(text);
    let get = |key: &str| fields.iter().rev().find(|(k, _)| k == key).map(|(_, v)| v);
    let name = non_empty(get("DISTRIB_ID"))?;
    let mut d = bare(&name.to_ascii_lowercase());
    d.version_id = non_empty(get("DISTRIB_RELEASE"));
    d.version_codename = non_empty(get("DISTRIB_CODENAME"));
    d.pretty_name = non_empty(get("DISTRIB_DESCRIPTION"));
    d.name = Some(name);
    Some(d)
}

/// `CentOS release 5.7 (Final)`, `Red Hat Enterprise Linux Server release 7.9 (Maipo)`,
/// `Scientific Linux release 6.10 (Carbon)`, `Fedora release 20 (Heisenbug)`.
fn from_redhat_release(text: &str) -> Option<Distro> {
    let line = text.lines().next()?.trim();
    let (name, rest) = line.split_once(" release ")?;
    let version = rest.split_whitespace().next()?;
    let lower = name.to_ascii_lowercase();
    let id = if lower.starts_with("centos") {
        "centos"
    } else if lower.starts_with("red hat") {
        "rhel"
    } else if lower.starts_with("scientific") {
        "scientific"
    } else if lower.starts_with("fedora") {
        "fedora"
    } else if lower.starts_with("amazon") {
        "amzn"
    } else if lower.starts_with("oracle") {
        "ol"
    } else if lower.starts_with("rocky") {
        "rocky"
    } else if lower.starts_with("almalinux") {
        "almalinux"
    } else {
        return None;
    };
    let mut d = bare(id);
    d.version_id = Some(version.to_owned());
    d.name = Some(name.to_owned());
    d.pretty_name = Some(line.to_owned());
    Some(d)
}

/// `cpe:/o:centos:linux:6:GA` (CPE 2.2 URI) or `cpe:2.3:o:amazon:amazon_linux:2` (CPE 2.3).
fn from_cpe(text: &str) -> Option<Distro> {
    let cpe = text.lines().next()?.trim();
    let parts: Vec<&str> = if let Some(rest) = cpe.strip_prefix("cpe:2.3:") {
        rest.split(':').collect()
    } else {
        cpe.strip_prefix("cpe:/")?.split(':').collect()
    };
    let (vendor, product, version) = match parts.as_slice() {
        [_part, vendor, product, version, ..] => (*vendor, *product, *version),
        _ => return None,
    };
    let id = match (vendor, product) {
        ("centos", _) => "centos",
        ("redhat", "enterprise_linux") => "rhel",
        ("amazon", _) => "amzn",
        ("oracle", _) => "ol",
        ("fedoraproject", _) => "fedora",
        ("scientificlinux", _) => "scientific",
        _ => return None,
    };
    let mut d = bare(id);
    d.version_id = Some(version.to_owned()).filter(|v| !v.is_empty() && v != "*" && v != "-");
    Some(d)
}

/// A file holding only a version (`etc/alpine-release`: `3.10.4`).
fn from_single_version(id: &str, text: &str) -> Option<Distro> {
    let version = text.lines().next()?.trim();
    let mut d = bare(id);
    d.version_id = Some(version.to_owned()).filter(|v| !v.is_empty());
    Some(d)
}

/// `etc/debian_version`: `12.5` on a release, `bookworm/sid` on testing. Only the major number
/// is the os-release `VERSION_ID`; a codename is kept as the codename.
fn from_debian_version(text: &str) -> Option<Distro> {
    let v = text.lines().next()?.trim();
    if v.is_empty() {
        return None;
    }
    let mut d = bare("debian");
    if v.starts_with(|c: char| c.is_ascii_digit()) {
        d.version_id = v.split('.').next().map(str::to_owned);
    } else {
        d.version_codename = v.split('/').next().map(str::to_owned);
    }
    Some(d)
}

/// The `BusyBox v1.36.1` banner inside the busybox binary.
fn from_busybox(binary: &[u8]) -> Option<Distro> {
    const BANNER: &[u8] = b"BusyBox v";
    let at = memchr::memmem::find(binary, BANNER)? + BANNER.len();
    let rest = binary.get(at..)?;
    let len = rest
        .iter()
        .take_while(|b| b.is_ascii_digit() || **b == b'.')
        .count();
    let version = std::str::from_utf8(rest.get(..len)?).ok()?;
    let version = version.trim_end_matches('.');
    if version.is_empty() {
        return None;
    }
    let mut d = bare("busybox");
    d.version_id = Some(version.to_owned());
    Some(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quoting() {
        assert_eq!(shell_value(r#""a \"b\" \$c \x""#), r#"a "b" $c \x"#);
        assert_eq!(shell_value("'it''s'"), "its");
        assert_eq!(shell_value("plain # comment"), "plain");
        assert_eq!(shell_value(r#"ab"c d"'e'"#), "abc de");
    }

    #[test]
    fn legacy_files() {
        let d = from_redhat_release("CentOS release 5.7 (Final)").unwrap();
        assert_eq!(
            (d.id.as_str(), d.version_id.as_deref()),
            ("centos", Some("5.7"))
        );
        let d = from_cpe("cpe:/o:centos:linux:6:GA").unwrap();
        assert_eq!(
            (d.id.as_str(), d.version_id.as_deref()),
            ("centos", Some("6"))
        );
        let d = from_debian_version("bookworm/sid\n").unwrap();
        assert_eq!(d.version_codename.as_deref(), Some("bookworm"));
        let d = from_busybox(b"\0junkBusyBox v1.31.1 (2020)").unwrap();
        assert_eq!(d.version_id.as_deref(), Some("1.31.1"));
    }
}
