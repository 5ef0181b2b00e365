//! Image references as users write them: `REGISTRY/REPOSITORY[:TAG][@DIGEST]`.
//!
//! Only references that name a registry host are accepted (a first component with a `.` or a
//! `:`, or `localhost`): Crowsnest has no default registry, and a bare `alpine:3.10` is far more
//! likely a file the user mistyped than a Docker Hub image.

use crowsnest_model::Digest;

use crate::RegistryError;

/// A parsed image reference.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ImageReference {
    /// `host[:port]` as written (`docker.io` is kept as written; the client maps it).
    pub registry: String,
    /// Repository path (`acme/shop`).
    pub repository: String,
    /// Tag, when one was named.
    pub tag: Option<String>,
    /// Digest, when one was named (it wins over the tag).
    pub digest: Option<Digest>,
}

impl ImageReference {
    /// Parses `text`; a reference without tag or digest means `:latest`.
    pub fn parse(text: &str) -> Result<Self, RegistryError> {
        let text = text.strip_prefix("docker://").unwrap_or(text);
        let bad =
            |why: &str| RegistryError::InvalidInput(format!("image reference {text:?}: {why}"));
        let (registry, rest) = text
            .split_once('/')
            .ok_or_else(|| bad("no registry host"))?;
        if !looks_like_host(registry) {
            return Err(bad("the first component is not a registry host"));
        }
        let (rest, digest) = match rest.split_once('@') {
            Some((name, digest)) => (
                name,
                Some(
                    digest
                        .parse::<Digest>()
                        .map_err(|_| bad("the part after @ is not a digest"))?,
                ),
            ),
            None => (rest, None),
        };
        let (repository, tag) = match rest.rsplit_once(':') {
            Some((repo, tag)) if !tag.contains('/') => (repo, Some(tag.to_owned())),
            _ => (rest, None),
        };
        if !valid_repository(repository) {
            return Err(bad("the repository name is not lower-case path components"));
        }
        if let Some(tag) = &tag {
            if !valid_tag(tag) {
                return Err(bad("the tag is not 1-128 of [A-Za-z0-9_.-]"));
            }
        }
        Ok(ImageReference {
            registry: registry.to_owned(),
            repository: repository.to_owned(),
            tag,
            digest,
        })
    }

    /// What the manifest endpoint is asked for: the digest if named, else the tag, else `latest`.
    pub fn manifest_reference(&self) -> String {
        match (&self.digest, &self.tag) {
            (Some(d), _) => d.to_string(),
            (None, Some(t)) => t.clone(),
            (None, None) => "latest".into(),
        }
    }
}

impl std::fmt::Display for ImageReference {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.registry, self.repository)?;
        if let Some(t) = &self.tag {
            write!(f, ":{t}")?;
        }
        if let Some(d) = &self.digest {
            write!(f, "@{d}")?;
        }
        Ok(())
    }
}

/// True for a registry host as Docker recognises one.
pub fn looks_like_host(part: &str) -> bool {
    !part.is_empty()
        && !part.starts_with(['.', '-'])
        && (part.contains('.') || part.contains(':') || part == "localhost")
        && part
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']'))
}

/// Repository names per the distribution spec: lower-case components joined by `/`, each
/// alphanumerics separated by `.`, `_`, `__` or `-`.
pub fn valid_repository(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 255
        && name.split('/').all(|part| {
            !part.is_empty()
                && part.chars().all(|c| {
                    c.is_ascii_lowercase() || c.is_ascii_digit() || matches!(c, '.' | '_' | '-')
                })
                && part.starts_with(|c: char| c.is_ascii_alphanumeric())
                && part.ends_with(|c: char| c.is_ascii_alphanumeric())
        })
}

/// Tags per the distribution spec.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_tags_digests_and_ports() {
        let r = ImageReference::parse("127.0.0.1:5000/acme/shop:1.0").unwrap();
        assert_eq!(r.registry, "127.0.0.1:5000");
        assert_eq!(r.repository, "acme/shop");
        assert_eq!(r.tag.as_deref(), Some("1.0"));
        assert_eq!(r.manifest_reference(), "1.0");
        let d = "sha256:0000000000000000000000000000000000000000000000000000000000000000";
        let r = ImageReference::parse(&format!("localhost/a@{d}")).unwrap();
        assert_eq!(r.manifest_reference(), d);
        assert_eq!(
            ImageReference::parse("reg.example.com/app")
                .unwrap()
                .manifest_reference(),
            "latest"
        );
    }

    #[test]
    fn refuses_what_is_not_a_registry_reference() {
        for bad in [
            "alpine:3.10",
            "./image.tar",
            "reg.io/UPPER:1",
            "reg.io/a:b@sha256:zz",
            "reg.io/",
        ] {
            assert!(ImageReference::parse(bad).is_err(), "{bad}");
        }
    }
}
