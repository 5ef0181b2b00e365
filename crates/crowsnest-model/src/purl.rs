//! Package URLs (<https://github.com/package-url/purl-spec>) for every [`Ecosystem`].

use percent_encoding::{utf8_percent_encode, AsciiSet, CONTROLS};

use crate::{Distro, Ecosystem, Package};

/// Characters escaped in purl name, namespace and version segments. The spec keeps
/// `A-Z a-z 0-9 . - _ ~` plain; `:` is allowed unescaped in versions, but escaping it is still
/// valid, and consumers such as Dependency-Track accept both.
const SEGMENT: &AsciiSet = &CONTROLS
    .add(b' ')
    .add(b'"')
    .add(b'#')
    .add(b'%')
    .add(b'<')
    .add(b'>')
    .add(b'?')
    .add(b'@')
    .add(b'[')
    .add(b']')
    .add(b'`')
    .add(b'{')
    .add(b'}')
    .add(b'/')
    .add(b':')
    .add(b'+')
    .add(b'&')
    .add(b'=')
    .add(b'!')
    .add(b'\'')
    .add(b'(')
    .add(b')')
    .add(b'*')
    .add(b',')
    .add(b';')
    .add(b'$')
    .add(b'^')
    .add(b'|')
    .add(b'\\');

fn enc(s: &str) -> String {
    utf8_percent_encode(s, SEGMENT).to_string()
}

/// Builds the package URL of `pkg`. `distro` supplies the namespace and `distro=` qualifier of
/// OS packages (`pkg:deb/debian/bash@5.2.15-2%2Bb2?arch=amd64&distro=debian-12`).
pub fn purl_for(pkg: &Package, distro: Option<&Distro>) -> String {
    let ty = pkg.ecosystem.purl_type();
    let (namespace, name) = match pkg.ecosystem {
        Ecosystem::Deb | Ecosystem::Apk | Ecosystem::Rpm => {
            (distro.map(|d| d.id.to_ascii_lowercase()), pkg.name.clone())
        }
        Ecosystem::Maven => match pkg.name.split_once(':') {
            Some((group, artifact)) => (Some(group.to_owned()), artifact.to_owned()),
            None => (None, pkg.name.clone()),
        },
        Ecosystem::Npm => match pkg.name.strip_prefix('@').and_then(|n| n.split_once('/')) {
            Some((scope, name)) => (Some(format!("@{scope}")), name.to_owned()),
            None => (None, pkg.name.clone()),
        },
        Ecosystem::Golang | Ecosystem::Composer => match pkg.name.rsplit_once('/') {
            Some((ns, name)) => (Some(ns.to_owned()), name.to_owned()),
            None => (None, pkg.name.clone()),
        },
        // PEP 503 normalisation is what the purl spec asks for PyPI names.
        Ecosystem::Pypi => (None, pep503(&pkg.name)),
        Ecosystem::Cargo | Ecosystem::Gem => (None, pkg.name.clone()),
    };
    let mut out = format!("pkg:{ty}/");
    if let Some(ns) = namespace {
        // Namespace segments are encoded one by one so that their `/` separators survive.
        let segs: Vec<String> = ns.split('/').map(enc).collect();
        out.push_str(&segs.join("/"));
        out.push('/');
    }
    out.push_str(&enc(&name));
    if !pkg.version.is_empty() {
        out.push('@');
        out.push_str(&enc(&pkg.version));
    }
    let mut qualifiers: Vec<(&str, String)> = Vec::new();
    if pkg.ecosystem.is_os() {
        if let Some(arch) = &pkg.arch {
            qualifiers.push(("arch", arch.clone()));
        }
        if let Some(d) = distro {
            if let Some(v) = &d.version_id {
                qualifiers.push(("distro", format!("{}-{}", d.id, v)));
            }
        }
        if let Some(src) = &pkg.source_name {
            if src != &pkg.name {
                qualifiers.push(("upstream", src.clone()));
            }
        }
    }
    qualifiers.sort_by(|a, b| a.0.cmp(b.0));
    for (i, (k, v)) in qualifiers.iter().enumerate() {
        out.push(if i == 0 { '?' } else { '&' });
        out.push_str(k);
        out.push('=');
        out.push_str(&enc(v));
    }
    out
}

/// PEP 503 name normalisation: lower-case, runs of `-`, `_`, `.` become one `-`.
pub fn pep503(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut in_sep = false;
    for c in name.chars() {
        if matches!(c, '-' | '_' | '.') {
            if !in_sep {
                out.push('-');
            }
            in_sep = true;
        } else {
            out.push(c.to_ascii_lowercase());
            in_sep = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn distro() -> Distro {
        Distro {
            id: "debian".into(),
            version_id: Some("12".into()),
            version_codename: Some("bookworm".into()),
            name: Some("Debian GNU/Linux".into()),
            pretty_name: None,
            id_like: vec![],
        }
    }

    #[test]
    fn deb_purl_has_distro_and_arch() {
        let mut p = Package::new(
            Ecosystem::Deb,
            "libc6",
            "2.36-9+deb12u4",
            "/var/lib/dpkg/status",
            "os/dpkg",
        );
        p.arch = Some("amd64".into());
        p.source_name = Some("glibc".into());
        assert_eq!(
            purl_for(&p, Some(&distro())),
            "pkg:deb/debian/libc6@2.36-9%2Bdeb12u4?arch=amd64&distro=debian-12&upstream=glibc"
        );
    }

    #[test]
    fn language_purls() {
        let p = Package::new(Ecosystem::Pypi, "PyYAML", "5.3.1", "x", "t");
        assert_eq!(purl_for(&p, None), "pkg:pypi/pyyaml@5.3.1");
        let p = Package::new(Ecosystem::Maven, "org.yaml:snakeyaml", "1.33", "x", "t");
        assert_eq!(purl_for(&p, None), "pkg:maven/org.yaml/snakeyaml@1.33");
        let p = Package::new(Ecosystem::Npm, "@babel/core", "7.0.0", "x", "t");
        assert_eq!(purl_for(&p, None), "pkg:npm/%40babel/core@7.0.0");
        let p = Package::new(Ecosystem::Golang, "golang.org/x/net", "v0.7.0", "x", "t");
        assert_eq!(purl_for(&p, None), "pkg:golang/golang.org/x/net@v0.7.0");
    }
}
