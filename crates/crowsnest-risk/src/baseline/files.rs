//! Checks on file modes and leftovers, from the metadata the tar headers gave every entry:
//! setuid/setgid files, world-writable files in system paths, package manager caches.

use std::collections::BTreeMap;

use crowsnest_model::{FileKind, FileMeta, ImagePath, RiskFinding};

use super::{BaselineInput, PACKAGE_CACHE, SETUID_OUTSIDE_SYSTEM, SETUID_SYSTEM, WORLD_WRITABLE};

/// Where distributions install programs. A setuid program here comes from a package (su,
/// passwd, mount) and is reported once per image; anywhere else it was put there by hand.
const SYSTEM_PROGRAM_DIRS: [&str; 8] = [
    "bin/",
    "sbin/",
    "usr/bin/",
    "usr/sbin/",
    "usr/lib/",
    "usr/libexec/",
    "lib/",
    "usr/lib64/",
];

/// Paths where nothing should be writable by everyone.
const SYSTEM_PATHS: [&str; 11] = [
    "etc", "bin", "sbin", "usr", "lib", "lib32", "lib64", "libx32", "boot", "root", "opt",
];

/// Package manager caches: a directory and the entries in it that do not count (lock files,
/// empty `partial/` directories).
const CACHES: [(&str, &str); 8] = [
    ("var/lib/apt/lists", "apt package lists"),
    ("var/cache/apt/archives", "apt downloaded packages"),
    ("var/cache/apk", "apk cache"),
    ("var/cache/yum", "yum cache"),
    ("var/cache/dnf", "dnf cache"),
    ("root/.cache/pip", "pip cache"),
    ("var/cache/zypp", "zypper cache"),
    ("root/.npm/_cacache", "npm cache"),
];

pub(super) fn run(input: &BaselineInput<'_>, out: &mut Vec<RiskFinding>) {
    let mut system_setuid: Vec<String> = Vec::new();
    let mut caches: BTreeMap<&str, (u64, u64)> = BTreeMap::new();
    for (path, meta) in input.fs.entries() {
        let p = path.as_str();
        if meta.kind == FileKind::Regular && meta.mode & 0o6000 != 0 {
            if SYSTEM_PROGRAM_DIRS.iter().any(|d| p.starts_with(d)) {
                system_setuid.push(path.to_string());
            } else {
                out.push(SETUID_OUTSIDE_SYSTEM.file_finding(
                    input,
                    path,
                    None,
                    setuid_detail(meta),
                ));
            }
        }
        if is_world_writable(meta) && in_system_path(path) {
            out.push(WORLD_WRITABLE.file_finding(
                input,
                path,
                None,
                format!("mode {:04o}", meta.mode & 0o7777),
            ));
        }
        if meta.kind == FileKind::Regular {
            if let Some((dir, _)) = CACHES.iter().find(|(dir, _)| {
                p.len() > dir.len() + 1 && p.starts_with(dir) && p.as_bytes()[dir.len()] == b'/'
            }) {
                if !is_cache_bookkeeping(path) {
                    let entry = caches.entry(dir).or_default();
                    entry.0 += 1;
                    entry.1 += meta.size;
                }
            }
        }
    }
    if !system_setuid.is_empty() {
        let shown: Vec<&str> = system_setuid.iter().take(20).map(String::as_str).collect();
        let more = system_setuid.len().saturating_sub(shown.len());
        let mut detail = format!("{} files: {}", system_setuid.len(), shown.join(", "));
        if more > 0 {
            detail.push_str(&format!(" and {more} more"));
        }
        out.push(SETUID_SYSTEM.finding(detail));
    }
    for (dir, (files, bytes)) in caches {
        let what = CACHES
            .iter()
            .find(|(d, _)| *d == dir)
            .map_or("cache", |(_, w)| *w);
        let path = ImagePath::parse(dir).unwrap_or_else(|_| ImagePath::root());
        out.push(PACKAGE_CACHE.file_finding(
            input,
            &path,
            None,
            format!("{what}: {files} files, {bytes} bytes"),
        ));
    }
}

fn setuid_detail(meta: &FileMeta) -> String {
    let bits = match (meta.mode & 0o4000 != 0, meta.mode & 0o2000 != 0) {
        (true, true) => "setuid and setgid",
        (true, false) => "setuid",
        _ => "setgid",
    };
    let owner = if meta.mode & 0o4000 != 0 && meta.uid == 0 {
        " root"
    } else {
        ""
    };
    format!(
        "{bits}{owner} (mode {:04o}, uid {}, gid {})",
        meta.mode & 0o7777,
        meta.uid,
        meta.gid
    )
}

/// Writable by others: a regular file, or a directory without the sticky bit (`/tmp`-style
/// shared directories with the sticky bit are safe). Symlinks always show 0777 and mean nothing.
fn is_world_writable(meta: &FileMeta) -> bool {
    meta.mode & 0o002 != 0
        && match meta.kind {
            FileKind::Regular => true,
            FileKind::Dir => meta.mode & 0o1000 == 0,
            _ => false,
        }
}

fn in_system_path(path: &ImagePath) -> bool {
    path.components()
        .next()
        .is_some_and(|first| SYSTEM_PATHS.contains(&first))
}

/// apt's `lock` and the empty-by-default `partial/` are there in every clean image.
fn is_cache_bookkeeping(path: &ImagePath) -> bool {
    let name = path.file_name();
    name == "lock" || path.components().any(|c| c == "partial")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(kind: FileKind, mode: u32) -> FileMeta {
        FileMeta {
            kind,
            mode,
            size: 0,
            uid: 0,
            gid: 0,
            mtime: 0,
            link_target: None,
            layer: 0,
        }
    }

    #[test]
    fn world_writable_needs_o_w_and_no_sticky_directory() {
        assert!(is_world_writable(&meta(FileKind::Regular, 0o666)));
        assert!(is_world_writable(&meta(FileKind::Dir, 0o777)));
        assert!(!is_world_writable(&meta(FileKind::Dir, 0o1777)));
        assert!(!is_world_writable(&meta(FileKind::Symlink, 0o777)));
        assert!(!is_world_writable(&meta(FileKind::Regular, 0o664)));
    }

    #[test]
    fn system_paths() {
        let p = |s: &str| ImagePath::parse(s).unwrap();
        assert!(in_system_path(&p("etc/passwd")));
        assert!(in_system_path(&p("usr/local/bin/x")));
        assert!(!in_system_path(&p("tmp/x")));
        assert!(!in_system_path(&p("etcetera/x")));
    }

    #[test]
    fn setuid_details_name_the_bits() {
        assert_eq!(
            setuid_detail(&meta(FileKind::Regular, 0o4755)),
            "setuid root (mode 4755, uid 0, gid 0)"
        );
        assert!(setuid_detail(&meta(FileKind::Regular, 0o2755)).starts_with("setgid (mode"));
    }
}
