//! The build information that the Go linker embeds in every executable since Go 1.13 (what
//! `go version -m` prints).
//!
//! A 32-byte header starts with the magic `\xff Go buildinf:`, then one byte of pointer size
//! and one of flags. With flag bit 2 (Go 1.18+) the Go version and the module information
//! follow inline as varint-length-prefixed strings. Without it, two pointers (of that size,
//! big-endian if flag bit 1 is set) lead to Go string headers (data pointer, length) elsewhere
//! in the binary, which is why this reader needs the [`ExecutableLayout`] to turn addresses
//! into file offsets. The module information is wrapped in 16 sentinel bytes at each end.

use crowsnest_model::ReadSeek;

use crate::language::executable::{read_at, ExecutableFormat, ExecutableLayout, Span};

/// The magic at the start of the build information blob.
pub const MAGIC: &[u8; 14] = b"\xff Go buildinf:";

/// The blob is 16-byte aligned.
const ALIGN: usize = 16;

/// Bytes of a data section searched for the magic when there is no dedicated section; the
/// linker places the blob at the start of the data.
const SEARCH_WINDOW: u64 = 1 << 20;

/// Longest version or module-information string accepted.
const MAX_STRING: u64 = 4 << 20;

/// One module line (`mod`, `dep`) with its `=>` replacement, if any.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleLine {
    /// Module path.
    pub path: String,
    /// Module version, `(devel)` for a main module built from a work tree; empty for a
    /// replacement by a local directory.
    pub version: String,
    /// The `=>` line that replaces it.
    pub replace: Option<Box<ModuleLine>>,
}

/// What the build information says.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BuildInfo {
    /// Toolchain, as Go spells it (`go1.19.8`).
    pub go_version: String,
    /// The `path` line: the main package's import path.
    pub path: Option<String>,
    /// The `mod` line.
    pub main: Option<ModuleLine>,
    /// The `dep` lines, in order.
    pub deps: Vec<ModuleLine>,
}

/// Why build information could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum BuildInfoError {
    /// The blob is cut short or points outside the file.
    #[error("build information is truncated or points outside the file: {0}")]
    Truncated(&'static str),
    /// Reading the file failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

/// Finds and decodes the build information of an executable; `Ok(None)` for a binary that
/// Go did not build.
pub fn read_build_info(
    reader: &mut dyn ReadSeek,
    layout: &ExecutableLayout,
) -> Result<Option<BuildInfo>, BuildInfoError> {
    let Some(blob) = find_blob(reader, layout)? else {
        return Ok(None);
    };
    decode(reader, layout, &blob).map(Some)
}

/// The header and what follows it, from the dedicated section or a search of the data.
fn find_blob(
    reader: &mut dyn ReadSeek,
    layout: &ExecutableLayout,
) -> Result<Option<Vec<u8>>, BuildInfoError> {
    let dedicated = layout
        .section(".go.buildinfo")
        .or_else(|| layout.section("__go_buildinfo"));
    let candidates: Vec<&Span> = match dedicated {
        Some(s) => vec![s],
        // An ELF with section headers but no `.go.buildinfo` is not from Go 1.13+: most of
        // /usr/bin lands here, and is left after reading only its headers.
        None if layout.format == ExecutableFormat::Elf && !layout.sections.is_empty() => {
            return Ok(None)
        }
        None => layout
            .sections
            .iter()
            .filter(|s| s.name == ".data" || s.name == "__data")
            .chain(layout.segments.iter().filter(|s| s.writable))
            .collect(),
    };
    for span in candidates {
        let len = span.size.min(SEARCH_WINDOW);
        let Ok(data) = read_at(reader, span.offset, len, SEARCH_WINDOW) else {
            continue;
        };
        let found = (0..data.len())
            .step_by(ALIGN)
            .find(|&i| data.get(i..).is_some_and(|d| d.starts_with(MAGIC)));
        if let Some(at) = found {
            return Ok(data.get(at..).map(<[u8]>::to_vec));
        }
    }
    Ok(None)
}

fn decode(
    reader: &mut dyn ReadSeek,
    layout: &ExecutableLayout,
    blob: &[u8],
) -> Result<BuildInfo, BuildInfoError> {
    let header = blob.get(..32).ok_or(BuildInfoError::Truncated("header"))?;
    let ptr_size = usize::from(header[14]);
    let flags = header[15];
    let (version, modinfo) = if flags & 2 != 0 {
        let mut rest = blob.get(32..).ok_or(BuildInfoError::Truncated("header"))?;
        let version = inline_string(&mut rest).ok_or(BuildInfoError::Truncated("version"))?;
        let modinfo = inline_string(&mut rest).ok_or(BuildInfoError::Truncated("modinfo"))?;
        (version, modinfo)
    } else {
        if ptr_size != 4 && ptr_size != 8 {
            return Err(BuildInfoError::Truncated("pointer size"));
        }
        let big_endian = flags & 1 != 0;
        let word = |bytes: Option<&[u8]>| -> Result<u64, BuildInfoError> {
            bytes
                .map(|b| read_word(b, big_endian))
                .ok_or(BuildInfoError::Truncated("header"))
        };
        let version_addr = word(blob.get(16..16 + ptr_size))?;
        let modinfo_addr = word(blob.get(16 + ptr_size..16 + 2 * ptr_size))?;
        let version = pointed_string(reader, layout, version_addr, ptr_size, big_endian)?;
        let modinfo = pointed_string(reader, layout, modinfo_addr, ptr_size, big_endian)?;
        (version, modinfo)
    };
    let mut info = parse_modinfo(&strip_sentinels(&modinfo));
    info.go_version = String::from_utf8_lossy(&version).into_owned();
    Ok(info)
}

fn read_word(bytes: &[u8], big_endian: bool) -> u64 {
    let fold = |acc: u64, b: &u8| (acc << 8) | u64::from(*b);
    if big_endian {
        bytes.iter().fold(0, fold)
    } else {
        bytes.iter().rev().fold(0, fold)
    }
}

/// Reads a Go string header (pointer, length) at `addr` and the bytes it points to.
fn pointed_string(
    reader: &mut dyn ReadSeek,
    layout: &ExecutableLayout,
    addr: u64,
    ptr_size: usize,
    big_endian: bool,
) -> Result<Vec<u8>, BuildInfoError> {
    let word_len = ptr_size as u64;
    let header_at = layout
        .offset_of(addr, 2 * word_len)
        .ok_or(BuildInfoError::Truncated("string header address"))?;
    let header = read_at(reader, header_at, 2 * word_len, 16)?;
    let (data_ptr, len) = header.split_at(ptr_size);
    let (data_addr, len) = (read_word(data_ptr, big_endian), read_word(len, big_endian));
    if len == 0 {
        return Ok(Vec::new());
    }
    let at = layout
        .offset_of(data_addr, len)
        .ok_or(BuildInfoError::Truncated("string data address"))?;
    Ok(read_at(reader, at, len, MAX_STRING)?)
}

/// Reads an unsigned LEB128 length and that many bytes, advancing `rest`.
fn inline_string(rest: &mut &[u8]) -> Option<Vec<u8>> {
    let mut len: u64 = 0;
    let mut used = 0;
    for (i, b) in rest.iter().enumerate().take(10) {
        len |= u64::from(b & 0x7f) << (7 * i);
        if b & 0x80 == 0 {
            used = i + 1;
            break;
        }
    }
    if used == 0 {
        return None;
    }
    let len = usize::try_from(len).ok()?;
    let end = used.checked_add(len)?;
    let s = rest.get(used..end)?.to_vec();
    *rest = rest.get(end..)?;
    Some(s)
}

/// The linker wraps the module information in 16 bytes on each side so that it can be found
/// in memory; they are not part of the text.
fn strip_sentinels(modinfo: &[u8]) -> String {
    let n = modinfo.len();
    let body = if n >= 33 && modinfo.get(n - 17) == Some(&b'\n') {
        modinfo.get(16..n - 16).unwrap_or(modinfo)
    } else {
        modinfo
    };
    String::from_utf8_lossy(body).into_owned()
}

/// Parses the tab-separated module information (`path`, `mod`, `dep`, `=>`, `build` lines).
pub fn parse_modinfo(text: &str) -> BuildInfo {
    let mut info = BuildInfo::default();
    // Which line a `=>` replaces: the `mod` line, or the last `dep`.
    let mut last_is_main = false;
    for line in text.lines() {
        let mut fields = line.split('\t');
        let kind = fields.next().unwrap_or("");
        let module = |fields: &mut std::str::Split<'_, char>| {
            let path = fields.next().unwrap_or("").to_owned();
            let version = fields.next().unwrap_or("").to_owned();
            (!path.is_empty()).then_some(ModuleLine {
                path,
                version,
                replace: None,
            })
        };
        match kind {
            "path" => info.path = fields.next().map(str::to_owned),
            "mod" => {
                info.main = module(&mut fields);
                last_is_main = true;
            }
            "dep" => {
                if let Some(m) = module(&mut fields) {
                    info.deps.push(m);
                    last_is_main = false;
                }
            }
            "=>" => {
                let replaced = if last_is_main {
                    info.main.as_mut()
                } else {
                    info.deps.last_mut()
                };
                if let (Some(target), Some(r)) = (replaced, module(&mut fields)) {
                    target.replace = Some(Box::new(r));
                }
            }
            _ => {}
        }
    }
    info
}

/// Converts a Go toolchain version (`go1.19.8`, `go1.21rc2`, `go1.20`) to the semantic version
/// form that Go's vulnerability database uses for `stdlib` (`v1.19.8`, `v1.21.0-rc.2`,
/// `v1.20.0`), with the `v` that Go module versions carry. Build suffixes
/// (`go1.22.0 X:boringcrypto`, `go1.21.0-bigcorp`) are dropped. `None` for `devel` builds,
/// which have no release to compare.
pub fn go_version_to_semver(go_version: &str) -> Option<String> {
    let tag = go_version.split_whitespace().next()?.strip_prefix("go")?;
    let tag = tag.split(['-', '+']).next()?;
    let (release, pre) = match tag.find(|c: char| c.is_ascii_alphabetic()) {
        Some(i) => (tag.get(..i)?, Some(tag.get(i..)?)),
        None => (tag, None),
    };
    let mut parts: Vec<&str> = release.split('.').collect();
    if parts
        .iter()
        .any(|p| p.is_empty() || !p.bytes().all(|b| b.is_ascii_digit()))
    {
        return None;
    }
    if parts.len() > 3 {
        return None;
    }
    while parts.len() < 3 {
        parts.push("0");
    }
    let mut out = format!("v{}", parts.join("."));
    if let Some(pre) = pre {
        let split = pre.find(|c: char| c.is_ascii_digit()).unwrap_or(pre.len());
        let (word, num) = (pre.get(..split)?, pre.get(split..)?);
        out.push('-');
        out.push_str(word);
        if !num.is_empty() {
            out.push('.');
            out.push_str(num);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toolchain_versions() {
        assert_eq!(go_version_to_semver("go1.19.8").as_deref(), Some("v1.19.8"));
        assert_eq!(go_version_to_semver("go1.20").as_deref(), Some("v1.20.0"));
        assert_eq!(
            go_version_to_semver("go1.21rc2").as_deref(),
            Some("v1.21.0-rc.2")
        );
        assert_eq!(
            go_version_to_semver("go1.22.0 X:boringcrypto").as_deref(),
            Some("v1.22.0")
        );
        assert_eq!(go_version_to_semver("devel go1.23-abc"), None);
        assert_eq!(go_version_to_semver("go"), None);
    }

    #[test]
    fn replacement_attaches_to_previous_line() {
        let info = parse_modinfo(
            "path\tx/cmd\nmod\tx\t(devel)\t\ndep\ta\tv1.0.0\th1:\n=>\tb\tv2.0.0\th1:\ndep\tc\tv0.1.0\t\n",
        );
        assert_eq!(info.deps.len(), 2);
        assert_eq!(info.deps[0].replace.as_ref().unwrap().path, "b");
        assert!(info.deps[1].replace.is_none());
    }
}
