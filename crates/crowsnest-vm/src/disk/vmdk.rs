//! VMware VMDK images in the one-file hosted sparse layouts: `monolithicSparse` (what
//! `qemu-img convert -O vmdk` writes by default) and `streamOptimized` (what OVA exports and
//! `-o subformat=streamOptimized` write). A 512-byte `KDMV` header, a grain directory of
//! grain-table sectors, and grain tables of grain sectors; an unallocated grain (entry 0, or 1
//! for a zeroed grain) reads as zeros. A streamOptimized file is written in one pass, so its
//! header says the directory is "at the end" and the real header is the footer in the
//! second-to-last sector; each grain is a marker (the grain's first sector, the compressed
//! length) followed by its zlib-compressed bytes, which are inflated on read and kept in a
//! small cache. Descriptor-only files naming other extents are refused as unsupported.
//!
//! Every sector number from the file is checked against the file's length before it is used,
//! so a truncated image fails with the offending structure named; the grain directory is
//! bounded by the virtual size, which [`DiskLimits::max_virtual_size`] bounds; a compressed
//! grain is bounded before it is read and must inflate to at most one grain.

use std::collections::HashMap;
use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::{Arc, Mutex};

use super::{check_range, BlockDevice, DiskLimits};
use crate::error::{le32, le64};
use crate::VmError;

/// The sparse extent header's magic, `KDMV` as stored.
pub(crate) const MAGIC: [u8; 4] = *b"KDMV";

const SECTOR: u64 = 512;
/// Header flag: grains are compressed (streamOptimized).
const FLAG_COMPRESSED: u32 = 1 << 16;
/// Header flag: grains and metadata are preceded by markers (streamOptimized).
const FLAG_MARKERS: u32 = 1 << 17;
/// The only compression VMDK defines: deflate, in zlib framing.
const COMPRESS_DEFLATE: u16 = 1;
/// A grain marker: the grain's first sector (u64) and the compressed length (u32).
const MARKER_BYTES: usize = 12;
/// The grain directory is at the end of the file (streamOptimized only).
const GD_AT_END: u64 = u64::MAX;

/// What the header says, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VmdkInfo {
    /// Header version (1 to 3).
    pub version: u32,
    /// Bytes per grain.
    pub grain_size: u64,
    /// Virtual disk size, bytes.
    pub virtual_size: u64,
    /// Grains are compressed (streamOptimized).
    pub compressed: bool,
}

/// An open monolithicSparse or streamOptimized VMDK.
#[derive(Debug)]
pub(crate) struct Vmdk {
    file: File,
    name: String,
    file_len: u64,
    size: u64,
    grain_sectors: u64,
    gtes_per_gt: u64,
    /// Sector of each grain table.
    directory: Vec<u32>,
    /// Grain tables read so far, by directory index; cleared when it holds `cache_limit`.
    tables: Mutex<HashMap<usize, Arc<Vec<u32>>>>,
    cache_limit: usize,
    /// Grains are zlib-compressed behind markers.
    compressed: bool,
    /// Inflated grains by grain number; cleared when it holds `cache_limit`.
    grains: Mutex<HashMap<u64, Arc<Vec<u8>>>>,
}

impl Vmdk {
    /// Opens a file recognised by [`MAGIC`].
    pub(crate) fn open(
        file: File,
        name: &str,
        limits: &DiskLimits,
    ) -> Result<(Vmdk, VmdkInfo), VmError> {
        let bad = |what: String| VmError::invalid(format!("vmdk {name}: {what}"));
        let file_len = file
            .metadata()
            .map_err(|e| VmError::io(format!("reading {name}"), e))?
            .len();
        let mut header = [0u8; 512];
        if file_len < header.len() as u64 {
            return Err(bad(format!(
                "{file_len} bytes, shorter than its header (truncated?)"
            )));
        }
        file.read_exact_at(&mut header, 0)
            .map_err(|e| VmError::io(format!("reading {name}"), e))?;
        if le64(&header, 56) == GD_AT_END {
            // Written in one pass: the footer (a header with the directory's place) is the
            // second-to-last sector, before the end-of-stream marker.
            let at = file_len.checked_sub(2 * SECTOR).filter(|at| *at >= SECTOR);
            let Some(at) = at else {
                return Err(bad(format!(
                    "streamOptimized file of {file_len} bytes has no room for its footer \
                     (truncated?)"
                )));
            };
            file.read_exact_at(&mut header, at)
                .map_err(|e| VmError::io(format!("reading {name}"), e))?;
            if header[..4] != MAGIC || le64(&header, 56) == GD_AT_END {
                return Err(bad(format!(
                    "no footer header at byte {at}, where a streamOptimized file keeps it \
                     (truncated?)"
                )));
            }
        }
        let version = le32(&header, 4);
        let flags = le32(&header, 8);
        let capacity = le64(&header, 12);
        let grain_sectors = le64(&header, 20);
        let gtes_per_gt = u64::from(le32(&header, 44));
        let gd_offset = le64(&header, 56);
        if !(1..=3).contains(&version) {
            return Err(VmError::Unsupported(format!(
                "vmdk {name}: sparse header version {version}"
            )));
        }
        let compressed = flags & FLAG_COMPRESSED != 0;
        if compressed {
            let algorithm = u16::from_le_bytes([header[77], header[78]]);
            if algorithm != COMPRESS_DEFLATE || flags & FLAG_MARKERS == 0 {
                return Err(VmError::Unsupported(format!(
                    "vmdk {name}: compressed grains with algorithm {algorithm} and flags \
                     {flags:#x} (only deflate behind grain markers is defined)"
                )));
            }
        }
        // Grains are powers of two of at least one sector; VMware's tools use 64 KiB, and
        // nothing writes grains above 16 MiB.
        if !grain_sectors.is_power_of_two() || grain_sectors > 32 * 1024 {
            return Err(bad(format!("grain of {grain_sectors} sectors")));
        }
        if gtes_per_gt == 0 || gtes_per_gt > 4096 {
            return Err(bad(format!("{gtes_per_gt} entries per grain table")));
        }
        let size = capacity
            .checked_mul(SECTOR)
            .ok_or_else(|| bad(format!("capacity of {capacity} sectors")))?;
        if size > limits.max_virtual_size {
            return Err(VmError::Oversized(format!(
                "vmdk {name}: virtual size {size} is larger than the limit of {}",
                limits.max_virtual_size
            )));
        }
        let grains = capacity.div_ceil(grain_sectors);
        let tables = grains.div_ceil(gtes_per_gt);
        let gd_bytes = tables * 4;
        let gd_start = gd_offset
            .checked_mul(SECTOR)
            .filter(|start| {
                start
                    .checked_add(gd_bytes)
                    .is_some_and(|end| end <= file_len)
            })
            .ok_or_else(|| {
                bad(format!(
                    "grain directory at sector {gd_offset} ({tables} entries) lies past the \
                     end of the {file_len}-byte file (truncated?)"
                ))
            })?;
        let mut raw = vec![0u8; gd_bytes as usize];
        file.read_exact_at(&mut raw, gd_start)
            .map_err(|e| VmError::io(format!("reading {name}'s grain directory"), e))?;
        let directory = raw
            .chunks_exact(4)
            .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        let info = VmdkInfo {
            version,
            grain_size: grain_sectors * SECTOR,
            virtual_size: size,
            compressed,
        };
        Ok((
            Vmdk {
                file,
                name: name.to_owned(),
                file_len,
                size,
                grain_sectors,
                gtes_per_gt,
                directory,
                tables: Mutex::new(HashMap::new()),
                cache_limit: limits.l2_cache_tables.max(1),
                compressed,
                grains: Mutex::new(HashMap::new()),
            },
            info,
        ))
    }

    fn bad(&self, what: String) -> VmError {
        VmError::invalid(format!("vmdk {}: {what}", self.name))
    }

    /// The grain table at directory index `index`; None when the directory has none there.
    fn table(&self, index: usize) -> Result<Option<Arc<Vec<u32>>>, VmError> {
        let sector = u64::from(*self.directory.get(index).unwrap_or(&0));
        if sector == 0 {
            return Ok(None);
        }
        if let Some(t) = self
            .tables
            .lock()
            .map_err(|_| self.bad("grain table cache poisoned".into()))?
            .get(&index)
        {
            return Ok(Some(t.clone()));
        }
        let bytes = self.gtes_per_gt * 4;
        let start = sector * SECTOR;
        if start
            .checked_add(bytes)
            .is_none_or(|end| end > self.file_len)
        {
            return Err(self.bad(format!(
                "grain table at sector {sector} lies past the end of the {}-byte file (truncated?)",
                self.file_len
            )));
        }
        let mut raw = vec![0u8; bytes as usize];
        self.file
            .read_exact_at(&mut raw, start)
            .map_err(|e| VmError::io(format!("reading {}'s grain table", self.name), e))?;
        let table: Arc<Vec<u32>> = Arc::new(
            raw.chunks_exact(4)
                .map(|c| u32::from_le_bytes([c[0], c[1], c[2], c[3]]))
                .collect(),
        );
        let mut cache = self
            .tables
            .lock()
            .map_err(|_| self.bad("grain table cache poisoned".into()))?;
        if cache.len() >= self.cache_limit {
            cache.clear();
        }
        cache.insert(index, table.clone());
        Ok(Some(table))
    }
}

impl Vmdk {
    /// Grain `grain`, stored compressed behind the marker at sector `sector`, inflated.
    fn inflated(&self, grain: u64, sector: u32) -> Result<Arc<Vec<u8>>, VmError> {
        let cache = || {
            self.grains
                .lock()
                .map_err(|_| self.bad("grain cache poisoned".into()))
        };
        if let Some(g) = cache()?.get(&grain) {
            return Ok(g.clone());
        }
        let grain_bytes = self.grain_sectors * SECTOR;
        let start = u64::from(sector) * SECTOR;
        let past_end = |len: u64| start.checked_add(len).is_none_or(|e| e > self.file_len);
        if past_end(MARKER_BYTES as u64) {
            return Err(self.bad(format!(
                "grain {grain}'s marker at sector {sector} lies past the end of the {}-byte \
                 file (truncated?)",
                self.file_len
            )));
        }
        let mut marker = [0u8; MARKER_BYTES];
        self.file
            .read_exact_at(&mut marker, start)
            .map_err(|e| VmError::io(format!("reading {}", self.name), e))?;
        let lba = le64(&marker, 0);
        let len = u64::from(le32(&marker, 8));
        if lba != grain * self.grain_sectors {
            return Err(self.bad(format!(
                "grain {grain}'s marker at sector {sector} names sector {lba} (corrupt grain \
                 table)"
            )));
        }
        // Deflate never needs much more than its input; anything far beyond a grain is not
        // one.
        if len == 0 || len > 2 * grain_bytes + 4096 {
            return Err(self.bad(format!(
                "grain {grain} compressed to {len} bytes, for a grain of {grain_bytes}"
            )));
        }
        if past_end(MARKER_BYTES as u64 + len) {
            return Err(self.bad(format!(
                "grain {grain} ({len} bytes at sector {sector}) runs past the end of the \
                 {}-byte file (truncated?)",
                self.file_len
            )));
        }
        let mut packed = vec![0u8; len as usize];
        self.file
            .read_exact_at(&mut packed, start + MARKER_BYTES as u64)
            .map_err(|e| VmError::io(format!("reading {}", self.name), e))?;
        let mut out = Vec::with_capacity(grain_bytes as usize);
        std::io::Read::read_to_end(
            &mut std::io::Read::take(
                flate2::read::ZlibDecoder::new(packed.as_slice()),
                grain_bytes + 1,
            ),
            &mut out,
        )
        .map_err(|e| self.bad(format!("grain {grain} does not inflate: {e}")))?;
        if out.len() as u64 > grain_bytes {
            return Err(self.bad(format!(
                "grain {grain} inflates to more than {grain_bytes} bytes"
            )));
        }
        // A short last grain reads as zeros past what was stored.
        out.resize(grain_bytes as usize, 0);
        let out = Arc::new(out);
        let mut cache = cache()?;
        if cache.len() >= self.cache_limit {
            cache.clear();
        }
        cache.insert(grain, out.clone());
        Ok(out)
    }
}

impl BlockDevice for Vmdk {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VmError> {
        check_range(offset, buf.len(), self.size)?;
        let grain_bytes = self.grain_sectors * SECTOR;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let grain = at / grain_bytes;
            let within = at % grain_bytes;
            let n = ((grain_bytes - within) as usize).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            let index = (grain / self.gtes_per_gt) as usize;
            let entry = match self.table(index)? {
                Some(t) => *t.get((grain % self.gtes_per_gt) as usize).unwrap_or(&0),
                None => 0,
            };
            // 0: never written; 1: written as zeros (the zeroed-grain entry).
            if entry <= 1 {
                out.fill(0);
            } else if self.compressed {
                let g = self.inflated(grain, entry)?;
                let within = within as usize;
                out.copy_from_slice(&g[within..within + n]);
            } else {
                let start = u64::from(entry) * SECTOR + within;
                if start
                    .checked_add(n as u64)
                    .is_none_or(|end| end > self.file_len)
                {
                    return Err(self.bad(format!(
                        "grain at sector {entry} lies past the end of the {}-byte file (truncated?)",
                        self.file_len
                    )));
                }
                self.file
                    .read_exact_at(out, start)
                    .map_err(|e| VmError::io(format!("reading {}", self.name), e))?;
            }
            done += n;
        }
        Ok(())
    }
}
