//! The two text formats inside a Java archive that name it: `pom.properties` (written by
//! Maven) and `META-INF/MANIFEST.MF` (JAR manifest, with OSGi bundle headers).

use std::collections::HashMap;

/// Parses a Java `.properties` file: `key=value` or `key: value` lines, `#`/`!` comments.
/// Maven writes only simple lines, so escapes and continuations are not interpreted.
pub fn parse_properties(text: &str) -> HashMap<String, String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#') && !l.starts_with('!'))
        .filter_map(|l| {
            let at = l.find(['=', ':'])?;
            Some((
                l.get(..at)?.trim().to_owned(),
                l.get(at + 1..)?.trim().to_owned(),
            ))
        })
        .collect()
}

/// The attributes of a JAR manifest. Values of the main section win; per-entry sections (log4j
/// 1.2 keeps its `Implementation-*` under `Name: org/apache/log4j`) fill what the main section
/// lacks.
#[derive(Clone, Debug, Default)]
pub struct Manifest {
    attributes: HashMap<String, String>,
}

impl Manifest {
    /// Parses a manifest: `Key: value` lines, continuation lines starting with one space,
    /// sections separated by blank lines.
    pub fn parse(text: &str) -> Self {
        let mut attributes: HashMap<String, String> = HashMap::new();
        let mut section: Vec<(String, String)> = Vec::new();
        let mut flush = |section: &mut Vec<(String, String)>| {
            for (k, v) in section.drain(..) {
                attributes.entry(k).or_insert(v);
            }
        };
        for line in text.lines() {
            let line = line.strip_suffix('\r').unwrap_or(line);
            if line.is_empty() {
                flush(&mut section);
            } else if let Some(more) = line.strip_prefix(' ') {
                if let Some((_, v)) = section.last_mut() {
                    v.push_str(more);
                }
            } else if let Some((k, v)) = line.split_once(':') {
                section.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
            }
        }
        flush(&mut section);
        Manifest { attributes }
    }

    /// One attribute, case-insensitively, if not empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.attributes
            .get(&key.to_ascii_lowercase())
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }
}

/// Splits an archive's file name into artifact and version at the first `-` followed by a
/// digit: `commons-lang3-3.12.0.jar` gives `("commons-lang3", Some("3.12.0"))`.
pub fn split_file_name(file_name: &str) -> (String, Option<String>) {
    let stem = file_name
        .rsplit_once('.')
        .map_or(file_name, |(stem, _)| stem);
    let bytes = stem.as_bytes();
    let split = (1..bytes.len())
        .find(|&i| bytes.get(i) == Some(&b'-') && bytes.get(i + 1).is_some_and(u8::is_ascii_digit));
    match split.and_then(|i| Some((stem.get(..i)?, stem.get(i + 1..)?))) {
        Some((artifact, version)) => (artifact.to_owned(), Some(version.to_owned())),
        None => (stem.to_owned(), None),
    }
}

/// Whether `s` could be a Maven groupId or artifactId (no spaces or punctuation).
pub fn is_maven_id(s: &str) -> bool {
    !s.is_empty()
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_names() {
        assert_eq!(
            split_file_name("log4j-1.2.17.jar"),
            ("log4j".into(), Some("1.2.17".into()))
        );
        assert_eq!(
            split_file_name("commons-lang3-3.12.0.jar"),
            ("commons-lang3".into(), Some("3.12.0".into()))
        );
        assert_eq!(split_file_name("app.war"), ("app".into(), None));
        assert_eq!(split_file_name("-1.jar"), ("-1".into(), None));
    }

    #[test]
    fn manifest_sections_and_continuations() {
        let m = Manifest::parse(
            "Manifest-Version: 1.0\r\nBundle-Name: A\r\n long\r\n\r\nName: x\r\nBundle-Name: B\r\nImplementation-Version: 2\r\n",
        );
        assert_eq!(m.get("bundle-name"), Some("Along"));
        assert_eq!(m.get("Implementation-Version"), Some("2"));
    }
}
