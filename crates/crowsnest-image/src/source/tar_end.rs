//! Finds the end-of-archive block of a tar stream as it passes by.
//!
//! A tar reader stops at the first all-zero header block and never reads the padding after it,
//! so a layer stream that only verified digests at end of input would never verify them. The
//! layer stream feeds every uncompressed byte through [`TarEnd`], which follows the tar framing
//! (header, then the entry's data rounded up to 512 bytes) just far enough to tell when the end
//! block has gone by; the stream then drains and verifies the rest of the blob itself.
//!
//! When the framing cannot be followed (a size field that does not parse, an oversized pax
//! header) the tracker gives up rather than guess: a wrong guess would end the stream early.
//!
//! The merge follows the same framing for another reason: the tar reader buffers a pax header,
//! a GNU long name or a GNU long link whole in memory, so [`TarEnd::oversized_extension`] says
//! when one larger than [`MAX_EXTENSION_BYTES`] goes by, before its data is read.

/// Tar framing block size.
const BLOCK: usize = 512;

/// Largest pax extended header, GNU long name or GNU long link a layer may hold (real ones are a
/// few hundred bytes; a path is at most 4 KiB); also the most this tracker buffers to find a pax
/// `size` record.
pub(crate) const MAX_EXTENSION_BYTES: u64 = 1 << 20;

/// Where in the tar framing the stream is.
#[derive(Debug)]
pub(crate) struct TarEnd {
    header: [u8; BLOCK],
    filled: usize,
    /// Data bytes (with padding) of the current entry still to pass.
    skip: u64,
    /// Padding after a pax header's data that is being captured.
    pax_padding: u64,
    /// The pax header being captured, and how much of it remains.
    pax: Option<(Vec<u8>, u64)>,
    /// A `size` record from the last pax header, which overrides the next header's size field.
    pax_size: Option<u64>,
    /// An old-GNU sparse header announced extension blocks; their data size waits until the last.
    sparse_pending: Option<u64>,
    /// The type flag and size of an extension header larger than [`MAX_EXTENSION_BYTES`].
    oversized: Option<(u8, u64)>,
    state: State,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum State {
    Following,
    Ended,
    Lost,
}

impl Default for TarEnd {
    fn default() -> Self {
        TarEnd {
            header: [0; BLOCK],
            filled: 0,
            skip: 0,
            pax_padding: 0,
            pax: None,
            pax_size: None,
            sparse_pending: None,
            oversized: None,
            state: State::Following,
        }
    }
}

impl TarEnd {
    /// Feeds the next bytes of the stream; true once the end-of-archive block has passed.
    pub(crate) fn feed(&mut self, mut bytes: &[u8]) -> bool {
        loop {
            match self.state {
                State::Ended => return true,
                State::Lost => return false,
                State::Following => {}
            }
            if bytes.is_empty() {
                return false;
            }
            if let Some((data, remaining)) = &mut self.pax {
                let n = clamp(*remaining, bytes.len());
                let (now, rest) = bytes.split_at(n);
                data.extend_from_slice(now);
                *remaining -= n as u64;
                bytes = rest;
                if *remaining == 0 {
                    self.pax_size = pax_size_record(data);
                    self.pax = None;
                    self.skip = self.pax_padding;
                }
                continue;
            }
            if self.skip > 0 {
                let n = clamp(self.skip, bytes.len());
                self.skip -= n as u64;
                bytes = bytes.get(n..).unwrap_or_default();
                continue;
            }
            let n = (BLOCK - self.filled).min(bytes.len());
            let (now, rest) = bytes.split_at(n);
            if let Some(slot) = self.header.get_mut(self.filled..self.filled + n) {
                slot.copy_from_slice(now);
            }
            self.filled += n;
            bytes = rest;
            if self.filled == BLOCK {
                self.filled = 0;
                self.on_block();
            }
        }
    }

    /// True when the tracker gave up following the framing.
    pub(crate) fn is_lost(&self) -> bool {
        self.state == State::Lost
    }

    /// The type flag (`x`, `L` or `K`) and declared size of an extension header larger than
    /// [`MAX_EXTENSION_BYTES`] whose header block has passed, if one has.
    pub(crate) fn oversized_extension(&self) -> Option<(u8, u64)> {
        self.oversized
    }

    fn on_block(&mut self) {
        if let Some(data) = self.sparse_pending {
            // An old-GNU sparse extension block: byte 504 says whether another one follows.
            if self.header.get(504).copied().unwrap_or(0) == 0 {
                self.sparse_pending = None;
                self.skip = data;
            }
            return;
        }
        if self.header.iter().all(|b| *b == 0) {
            self.state = State::Ended;
            return;
        }
        let Some(field_size) = parse_size(self.header.get(124..136).unwrap_or_default()) else {
            self.state = State::Lost;
            return;
        };
        let typeflag = self.header.get(156).copied().unwrap_or(0);
        // A pax size applies to the next real entry only; extension headers keep their own.
        let size = match typeflag {
            b'x' | b'g' | b'L' | b'K' => field_size,
            _ => self.pax_size.take().unwrap_or(field_size),
        };
        let Some(padded) = round_up(size) else {
            self.state = State::Lost;
            return;
        };
        if matches!(typeflag, b'x' | b'L' | b'K') && size > MAX_EXTENSION_BYTES {
            self.oversized = Some((typeflag, size));
            self.state = State::Lost;
            return;
        }
        match typeflag {
            b'x' => {
                self.pax_padding = padded - size;
                if size == 0 {
                    self.skip = 0;
                } else {
                    self.pax = Some((Vec::with_capacity(clamp(size, BLOCK)), size));
                }
            }
            b'S' if self.header.get(482).copied().unwrap_or(0) != 0 => {
                self.sparse_pending = Some(padded);
            }
            _ => self.skip = padded,
        }
    }
}

fn clamp(wanted: u64, available: usize) -> usize {
    usize::try_from(wanted).map_or(available, |w| w.min(available))
}

fn round_up(size: u64) -> Option<u64> {
    size.checked_add(BLOCK as u64 - 1)
        .map(|s| s / BLOCK as u64 * BLOCK as u64)
}

/// A header's size field: octal digits (space/NUL padded) or, with the high bit of the first
/// byte set, a big-endian base-256 number (GNU, for sizes past 8 GiB).
fn parse_size(field: &[u8]) -> Option<u64> {
    let first = *field.first()?;
    if first & 0x80 != 0 {
        let mut value: u64 = u64::from(first & 0x7f);
        for b in field.get(1..)? {
            value = value.checked_mul(256)?.checked_add(u64::from(*b))?;
        }
        return Some(value);
    }
    let text = field
        .iter()
        .skip_while(|b| **b == b' ' || **b == 0)
        .take_while(|b| **b != b' ' && **b != 0);
    let mut value: u64 = 0;
    let mut digits = 0;
    for b in text {
        if !(b'0'..=b'7').contains(b) {
            return None;
        }
        value = value.checked_mul(8)?.checked_add(u64::from(b - b'0'))?;
        digits += 1;
    }
    if digits == 0 && !field.iter().all(|b| *b == 0 || *b == b' ') {
        return None;
    }
    Some(value)
}

/// The `size` record of a pax extended header (`<len> size=<decimal>\n` records).
fn pax_size_record(data: &[u8]) -> Option<u64> {
    let mut rest = data;
    let mut found = None;
    while !rest.is_empty() {
        let space = rest.iter().position(|b| *b == b' ')?;
        let len: usize = std::str::from_utf8(rest.get(..space)?).ok()?.parse().ok()?;
        let record = rest.get(space + 1..len)?;
        let record = record.strip_suffix(b"\n").unwrap_or(record);
        if let Some(value) = record.strip_prefix(b"size=") {
            found = std::str::from_utf8(value).ok()?.parse().ok();
        }
        rest = rest.get(len..)?;
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    fn archive(entries: &[(&str, usize)]) -> Vec<u8> {
        let mut builder = tar::Builder::new(Vec::new());
        for (name, size) in entries {
            let mut header = tar::Header::new_gnu();
            header.set_size(*size as u64);
            header.set_mode(0o644);
            header.set_cksum();
            // Zero-filled data: blocks of zeros inside file data must not look like the end.
            builder
                .append_data(&mut header, name, vec![0u8; *size].as_slice())
                .unwrap();
        }
        builder.into_inner().unwrap()
    }

    fn end_offset(bytes: &[u8], chunk: usize) -> Option<usize> {
        let mut t = TarEnd::default();
        let mut fed = 0;
        for c in bytes.chunks(chunk) {
            fed += c.len();
            if t.feed(c) {
                return Some(fed);
            }
        }
        None
    }

    #[test]
    fn zero_filled_files_do_not_end_the_archive() {
        let bytes = archive(&[("a", 2048), ("b", 1), ("c", 0), ("d", 5000)]);
        // Header + data of each entry, then the end block.
        let data_end = 4 * 512 + 2048 + 512 + 5120;
        for chunk in [1, 7, 512, 4096, 1 << 20] {
            let end = end_offset(&bytes, chunk).unwrap();
            assert!(end > data_end, "chunk {chunk}: ended at {end}");
            assert!(end <= bytes.len());
        }
    }

    #[test]
    fn long_names_and_pax_headers_are_followed() {
        let long = "x/".repeat(200) + "file";
        let mut builder = tar::Builder::new(Vec::new());
        let mut header = tar::Header::new_ustar();
        header.set_size(1024);
        header.set_mode(0o644);
        builder
            .append_pax_extensions([("path", long.as_bytes()), ("size", b"1024".as_slice())])
            .unwrap();
        builder
            .append_data(&mut header, "short", vec![0u8; 1024].as_slice())
            .unwrap();
        let mut gnu = tar::Header::new_gnu();
        gnu.set_size(600);
        gnu.set_mode(0o644);
        builder
            .append_data(&mut gnu, &long, vec![0u8; 600].as_slice())
            .unwrap();
        let bytes = builder.into_inner().unwrap();
        let end = end_offset(&bytes, 100).unwrap();
        assert!(
            end > bytes.len() - 1024,
            "ended at {end} of {}",
            bytes.len()
        );
    }

    #[test]
    fn oversized_extension_headers_are_flagged_at_their_header() {
        for flag in [b'x', b'L', b'K'] {
            let mut header = tar::Header::new_gnu();
            header.set_entry_type(tar::EntryType::new(flag));
            header.set_size(MAX_EXTENSION_BYTES + 1);
            header.set_cksum();
            let mut t = TarEnd::default();
            assert!(!t.feed(header.as_bytes()));
            assert_eq!(
                t.oversized_extension(),
                Some((flag, MAX_EXTENSION_BYTES + 1))
            );
            header.set_size(MAX_EXTENSION_BYTES);
            header.set_cksum();
            let mut t = TarEnd::default();
            t.feed(header.as_bytes());
            assert_eq!(t.oversized_extension(), None);
        }
    }

    #[test]
    fn octal_and_base256_sizes() {
        assert_eq!(parse_size(b"00000001750\0"), Some(1000));
        assert_eq!(parse_size(b"     1750 \0\0"), Some(1000));
        let mut big = [0u8; 12];
        big[0] = 0x80;
        big[11] = 1;
        big[10] = 2;
        assert_eq!(parse_size(&big), Some(513));
        assert_eq!(parse_size(b"12x45\0\0\0\0\0\0\0"), None);
        assert_eq!(pax_size_record(b"12 size=345\n"), Some(345));
    }
}
