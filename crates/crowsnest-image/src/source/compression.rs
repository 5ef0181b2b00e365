//! Compression detected from a blob's first bytes. Media types and file names lie (docker-archive
//! layers carry none, registries mislabel), the magic numbers do not.

use std::fs::File;
use std::io::{self, Read, Write};

use crate::{ImageError, Limits};

/// How a blob is compressed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Compression {
    /// Stored as is.
    None,
    /// gzip, possibly several members back to back.
    Gzip,
    /// Zstandard, possibly several frames.
    Zstd,
}

const GZIP_MAGIC: [u8; 2] = [0x1f, 0x8b];
const ZSTD_MAGIC: [u8; 4] = [0x28, 0xb5, 0x2f, 0xfd];

impl Compression {
    /// The compression `head` (a blob's first bytes) starts with.
    pub(crate) fn sniff(head: &[u8]) -> Compression {
        if head.starts_with(&GZIP_MAGIC) {
            Compression::Gzip
        } else if head.starts_with(&ZSTD_MAGIC) {
            Compression::Zstd
        } else {
            Compression::None
        }
    }

    /// A compression format this crate recognises but does not decode, named for the message.
    pub(crate) fn unsupported(head: &[u8]) -> Option<&'static str> {
        if head.starts_with(b"BZh") {
            Some("bzip2")
        } else if head.starts_with(&[0xfd, b'7', b'z', b'X', b'Z', 0]) {
            Some("xz")
        } else {
            None
        }
    }
}

/// Reads up to `buf.len()` bytes, fewer only at end of input.
pub(crate) fn read_head(reader: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match reader.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

/// Decompresses a whole outer archive (`docker save | gzip`) into an anonymous temporary file,
/// which the OS removes when it is closed. The unpacked size counts against
/// [`Limits::max_unpacked_bytes`] so a compression bomb stops early.
pub(crate) fn decompress_to_temp(
    source: File,
    compression: Compression,
    limits: &Limits,
) -> Result<File, ImageError> {
    let input = io::BufReader::with_capacity(super::LAYER_BUFFER_BYTES, source);
    let decoder: Box<dyn Read> = match compression {
        Compression::None => return Err(ImageError::Invalid("archive is not compressed".into())),
        Compression::Gzip => Box::new(flate2::bufread::MultiGzDecoder::new(input)),
        Compression::Zstd => Box::new(
            zstd::stream::read::Decoder::with_buffer(input)
                .map_err(|e| ImageError::io("starting zstd decoder", e))?,
        ),
    };
    let mut temp = tempfile::tempfile()
        .map_err(|e| ImageError::io("creating a temporary file for the archive", e))?;
    copy_limited(decoder, &mut temp, limits.max_unpacked_bytes)?;
    Ok(temp)
}

fn copy_limited(mut from: impl Read, to: &mut File, limit: u64) -> Result<(), ImageError> {
    let mut buf = vec![0u8; super::LAYER_BUFFER_BYTES];
    let mut total: u64 = 0;
    loop {
        let n = match from.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => {
                return Err(ImageError::Invalid(format!(
                    "the archive's outer compression is corrupt: {e}"
                )))
            }
        };
        total = total.saturating_add(n as u64);
        if total > limit {
            return Err(ImageError::Oversized(format!(
                "archive decompresses to more than {limit} bytes (max_unpacked_bytes)"
            )));
        }
        let chunk = buf.get(..n).unwrap_or_default();
        to.write_all(chunk)
            .map_err(|e| ImageError::io("writing the decompressed archive", e))?;
    }
}
