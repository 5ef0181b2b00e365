//! Debian control-file syntax (deb822): stanzas of `Field: value` lines, continuation lines
//! starting with a space or tab, stanzas separated by blank lines.
//!
//! dpkg itself refuses a whole status file over one bad line. A scanner should not lose every
//! package because one stanza is damaged, so a stanza holding a line that is neither a field
//! nor a continuation is marked broken and its fields are dropped; the caller decides what a
//! file with only broken stanzas means.

/// One stanza: its fields in order, names as written.
#[derive(Debug, Default)]
pub(crate) struct Stanza<'a> {
    fields: Vec<(&'a str, String)>,
}

impl Stanza<'_> {
    /// The value of a field, matching the name case-insensitively as dpkg does. Continuation
    /// lines are joined with `\n`; the value is trimmed.
    pub(crate) fn get(&self, name: &str) -> Option<&str> {
        self.fields
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// The stanzas of a control file, and how many were dropped as broken.
#[derive(Debug, Default)]
pub(crate) struct ControlFile<'a> {
    /// The well-formed stanzas.
    pub(crate) stanzas: Vec<Stanza<'a>>,
    /// Stanzas that held a line which is neither `Field: value` nor a continuation.
    pub(crate) broken: usize,
}

/// Splits `text` into stanzas.
pub(crate) fn parse(text: &str) -> ControlFile<'_> {
    let mut out = ControlFile::default();
    let mut current = Stanza::default();
    let mut broken = false;
    for line in text.lines() {
        if line.trim().is_empty() {
            flush(&mut current, &mut broken, &mut out);
            continue;
        }
        if broken {
            continue;
        }
        if line.starts_with(' ') || line.starts_with('\t') {
            match current.fields.last_mut() {
                Some((_, value)) => {
                    value.push('\n');
                    value.push_str(line.trim());
                }
                None => broken = true,
            }
            continue;
        }
        if line.starts_with('#') {
            // deb822 allows comment lines; dpkg never writes them but tools that build
            // status.d entries might.
            continue;
        }
        match line.split_once(':') {
            Some((name, value)) if is_field_name(name) => {
                current.fields.push((name, value.trim().to_owned()));
            }
            _ => broken = true,
        }
    }
    flush(&mut current, &mut broken, &mut out);
    out
}

/// Ends the stanza being read: keeps it, counts it as broken, or ignores it when empty.
fn flush<'a>(current: &mut Stanza<'a>, broken: &mut bool, out: &mut ControlFile<'a>) {
    let stanza = std::mem::take(current);
    if *broken {
        out.broken += 1;
    } else if !stanza.fields.is_empty() {
        out.stanzas.push(stanza);
    }
    *broken = false;
}

/// deb822 field names: printable ASCII without spaces or colons, not starting with `#` or `-`.
fn is_field_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('-')
        && name.bytes().all(|b| b.is_ascii_graphic() && b != b':')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn joins_continuations_and_splits_stanzas() {
        let f = parse("Package: a\nDescription: x\n y\n .\n\n\nPackage: b\n");
        assert_eq!(f.stanzas.len(), 2);
        assert_eq!(f.stanzas[0].get("description"), Some("x\ny\n."));
        assert_eq!(f.stanzas[1].get("PACKAGE"), Some("b"));
        assert_eq!(f.broken, 0);
    }

    #[test]
    fn drops_only_the_broken_stanza() {
        let f = parse("Package: a\nno colon here\nVersion: 1\n\nPackage: b\nVersion: 2\n");
        assert_eq!(f.stanzas.len(), 1);
        assert_eq!(f.broken, 1);
        assert_eq!(f.stanzas[0].get("Package"), Some("b"));
    }
}
