//! The SSH server: installed at all, and whether its configuration lets root log in.

use crowsnest_model::{ImageFs, ImagePath, RiskFinding};

use super::{read_text, BaselineInput, SSHD_INSTALLED, SSH_ROOT_LOGIN};

const CONFIG: &str = "etc/ssh/sshd_config";
const CONFIG_DIR: &str = "etc/ssh/sshd_config.d/";
const BINARIES: [&str; 3] = ["usr/sbin/sshd", "sbin/sshd", "usr/bin/sshd"];

pub(super) fn wants(path: &ImagePath) -> bool {
    let p = path.as_str();
    p == CONFIG || (p.starts_with(CONFIG_DIR) && p.ends_with(".conf"))
}

pub(super) fn run(input: &BaselineInput<'_>, out: &mut Vec<RiskFinding>) {
    for binary in BINARIES {
        let Ok(path) = ImagePath::parse(binary) else {
            continue;
        };
        if input.fs.metadata(&path).is_some() {
            out.push(SSHD_INSTALLED.file_finding(input, &path, None, format!("{path} is present")));
            break;
        }
    }
    // sshd takes the first value it reads for a keyword, and reads the drop-in directory where
    // sshd_config includes it (Debian's does, at the top); so the drop-ins go first, in name order.
    let mut files: Vec<String> = drop_ins(input.fs);
    files.push(CONFIG.to_owned());
    for file in files {
        let Some((path, text)) = read_text(input.fs, &file) else {
            continue;
        };
        if let Some((line, value)) = permit_root_login(&text) {
            if value.eq_ignore_ascii_case("yes") {
                out.push(SSH_ROOT_LOGIN.file_finding(
                    input,
                    &path,
                    Some(line),
                    "PermitRootLogin yes".to_owned(),
                ));
            }
            return;
        }
    }
}

fn drop_ins(fs: &dyn ImageFs) -> Vec<String> {
    let Ok(dir) = ImagePath::parse(CONFIG_DIR) else {
        return Vec::new();
    };
    fs.read_dir(&dir)
        .into_iter()
        .filter(wants)
        .map(|p| p.as_str().to_owned())
        .collect()
}

/// The first `PermitRootLogin` outside a `Match` block: its 1-based line and value.
fn permit_root_login(text: &str) -> Option<(u32, &str)> {
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        let mut words = line
            .split(|c: char| c.is_whitespace() || c == '=')
            .filter(|w| !w.is_empty());
        let Some(keyword) = words.next() else {
            continue;
        };
        if keyword.starts_with('#') {
            continue;
        }
        if keyword.eq_ignore_ascii_case("Match") {
            return None;
        }
        if keyword.eq_ignore_ascii_case("PermitRootLogin") {
            return words
                .next()
                .map(|v| (u32::try_from(i + 1).unwrap_or(u32::MAX), v));
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_permit_root_login_outside_match_wins() {
        assert_eq!(
            permit_root_login("# PermitRootLogin yes\nPermitRootLogin yes\nPermitRootLogin no\n"),
            Some((2, "yes"))
        );
        assert_eq!(permit_root_login("PermitRootLogin=no"), Some((1, "no")));
        assert_eq!(
            permit_root_login("Port 22\nMatch User x\n  PermitRootLogin yes\n"),
            None
        );
        assert_eq!(
            permit_root_login("#PermitRootLogin prohibit-password\n"),
            None
        );
    }
}
