//! qcow2 (versions 2 and 3), read-only: the L1/L2 cluster map, zero clusters, compressed
//! clusters (deflate, or zstd when the header says so) and backing files. Refcounts,
//! snapshots and bitmaps are never read: a reader does not need them.
//!
//! Every field is checked before it is used: cluster sizes are bounded, tables must lie inside
//! the file, the L1 table must cover the virtual size, compressed clusters must inflate to
//! exactly one cluster, and a backing chain is at most [`DiskLimits::max_backing_depth`] long
//! (which also ends a chain that loops back on itself).

use std::collections::{HashMap, VecDeque};
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use super::{check_range, BlockDevice, Disk, DiskLimits};
use crate::error::{be32, be64};
use crate::VmError;

/// The first four bytes of every qcow2 file.
pub(crate) const MAGIC: [u8; 4] = *b"QFI\xfb";

/// Host offsets in L1 and standard L2 entries (bits 9..=55).
const OFFSET_MASK: u64 = 0x00ff_ffff_ffff_fe00;
/// L2 entry flag: the cluster is compressed.
const COMPRESSED: u64 = 1 << 62;
/// L2 entry flag (v3): the cluster reads as zeros.
const ZERO: u64 = 1;
/// qemu refuses L1 tables larger than 32 MiB; so do we.
const MAX_L1_BYTES: u64 = 32 << 20;
/// Incompatible feature bits: dirty, corrupt, external data file, compression type, extended L2.
const INCOMPAT_DIRTY: u64 = 1;
const INCOMPAT_CORRUPT: u64 = 1 << 1;
const INCOMPAT_EXTERNAL_DATA: u64 = 1 << 2;
const INCOMPAT_COMPRESSION_TYPE: u64 = 1 << 3;
const INCOMPAT_EXTENDED_L2: u64 = 1 << 4;

/// What a qcow2 header says, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Qcow2Info {
    /// 2 or 3.
    pub version: u32,
    /// Bytes per cluster.
    pub cluster_size: u64,
    /// Guest-visible size, bytes.
    pub virtual_size: u64,
    /// The backing file as resolved on this host, if any.
    pub backing_file: Option<PathBuf>,
}

#[derive(Clone, Copy, Debug)]
enum Compression {
    Deflate,
    Zstd,
}

/// An open qcow2 image.
#[derive(Debug)]
pub(crate) struct Qcow2 {
    file: File,
    file_len: u64,
    name: String,
    version: u32,
    cluster_bits: u32,
    size: u64,
    l1: Vec<u64>,
    backing: Option<Disk>,
    compression: Compression,
    cache_tables: usize,
    l2_cache: Mutex<L2Cache>,
    /// The last compressed cluster inflated (host offset, bytes): files are read in order, so
    /// the next block read usually falls into it.
    last_inflated: Mutex<Option<(u64, Arc<Vec<u8>>)>>,
}

#[derive(Debug, Default)]
struct L2Cache {
    tables: HashMap<u64, Arc<Vec<u64>>>,
    order: VecDeque<u64>,
}

impl Qcow2 {
    /// Opens a qcow2 file already recognised by its magic. `open_backing` opens a backing file
    /// at the given chain depth.
    pub(crate) fn open(
        file: File,
        path: &Path,
        limits: &DiskLimits,
        depth: usize,
        open_backing: impl FnOnce(&Path, usize) -> Result<Disk, VmError>,
    ) -> Result<(Qcow2, Qcow2Info), VmError> {
        let name = path.display().to_string();
        let file_len = file
            .metadata()
            .map_err(|e| VmError::io(format!("reading {name}"), e))?
            .len();
        let bad = |what: String| VmError::invalid(format!("qcow2 {name}: {what}"));
        let mut header = vec![0u8; 112.min(file_len as usize)];
        file.read_exact_at(&mut header, 0)
            .map_err(|e| VmError::io(format!("reading {name}"), e))?;
        if header.len() < 72 {
            return Err(bad(format!("header truncated ({} bytes)", header.len())));
        }
        let version = be32(&header, 4);
        if version != 2 && version != 3 {
            return Err(VmError::Unsupported(format!(
                "qcow2 {name}: version {version} (2 and 3 are read)"
            )));
        }
        let backing_offset = be64(&header, 8);
        let backing_len = be32(&header, 16);
        let cluster_bits = be32(&header, 20);
        let size = be64(&header, 24);
        let crypt = be32(&header, 32);
        let l1_size = u64::from(be32(&header, 36));
        let l1_offset = be64(&header, 40);
        if !(9..=21).contains(&cluster_bits) {
            return Err(bad(format!("cluster_bits {cluster_bits} outside 9..=21")));
        }
        if crypt != 0 {
            return Err(VmError::Unsupported(format!(
                "qcow2 {name} is encrypted (method {crypt})"
            )));
        }
        if size > limits.max_virtual_size {
            return Err(VmError::Oversized(format!(
                "qcow2 {name}: virtual size {size} is larger than the limit of {}",
                limits.max_virtual_size
            )));
        }
        let mut compression = Compression::Deflate;
        if version == 3 {
            if header.len() < 104 {
                return Err(bad("v3 header truncated".into()));
            }
            let incompatible = be64(&header, 72);
            let header_len = be32(&header, 100);
            if incompatible & INCOMPAT_CORRUPT != 0 {
                return Err(bad("marked corrupt by qemu".into()));
            }
            if incompatible & INCOMPAT_EXTERNAL_DATA != 0 {
                return Err(VmError::Unsupported(format!(
                    "qcow2 {name} keeps its data in an external file"
                )));
            }
            if incompatible & INCOMPAT_EXTENDED_L2 != 0 {
                return Err(VmError::Unsupported(format!(
                    "qcow2 {name} uses extended L2 entries (subclusters)"
                )));
            }
            let known = INCOMPAT_DIRTY | INCOMPAT_CORRUPT | INCOMPAT_COMPRESSION_TYPE;
            if incompatible & !known != 0 {
                return Err(VmError::Unsupported(format!(
                    "qcow2 {name}: unknown incompatible features {incompatible:#x}"
                )));
            }
            if header_len > 104 && header.len() > 104 {
                compression = match header[104] {
                    0 => Compression::Deflate,
                    1 => Compression::Zstd,
                    other => {
                        return Err(VmError::Unsupported(format!(
                            "qcow2 {name}: compression type {other}"
                        )))
                    }
                };
            } else if incompatible & INCOMPAT_COMPRESSION_TYPE != 0 {
                return Err(bad("compression type bit set without the field".into()));
            }
        }
        let cluster_size = 1u64 << cluster_bits;
        let l2_entries = cluster_size / 8;
        let needed = size.div_ceil(cluster_size * l2_entries);
        if l1_size < needed {
            return Err(bad(format!(
                "L1 table of {l1_size} entries cannot map {size} bytes (needs {needed})"
            )));
        }
        if l1_size * 8 > MAX_L1_BYTES {
            return Err(VmError::Oversized(format!(
                "qcow2 {name}: L1 table of {l1_size} entries"
            )));
        }
        let l1_end = l1_offset.checked_add(l1_size * 8);
        if needed > 0
            && (!l1_offset.is_multiple_of(cluster_size) || l1_end.is_none_or(|e| e > file_len))
        {
            return Err(bad(format!(
                "L1 table at {l1_offset} ({l1_size} entries) lies outside the {file_len}-byte file \
                 (truncated image?)"
            )));
        }
        // Only the entries that map the virtual size are read; the rest cannot be addressed.
        let mut raw = vec![0u8; (needed * 8) as usize];
        file.read_exact_at(&mut raw, l1_offset)
            .map_err(|e| VmError::io(format!("reading the L1 table of {name}"), e))?;
        let l1 = raw.chunks_exact(8).map(|c| be64(c, 0)).collect();

        let mut backing_file = None;
        let mut backing = None;
        if backing_offset != 0 {
            if backing_len == 0 || backing_len > 1023 {
                return Err(bad(format!("backing file name of {backing_len} bytes")));
            }
            let end = backing_offset.checked_add(u64::from(backing_len));
            if end.is_none_or(|e| e > file_len) {
                return Err(bad("backing file name outside the file".into()));
            }
            let mut raw_name = vec![0u8; backing_len as usize];
            file.read_exact_at(&mut raw_name, backing_offset)
                .map_err(|e| VmError::io(format!("reading {name}"), e))?;
            let backing_name = String::from_utf8(raw_name)
                .map_err(|_| bad("backing file name is not UTF-8".into()))?;
            if backing_name.contains("://") || backing_name.starts_with("json:") {
                return Err(VmError::Unsupported(format!(
                    "qcow2 {name}: backing file {backing_name:?} is not a local file"
                )));
            }
            if depth + 1 > limits.max_backing_depth {
                return Err(VmError::Oversized(format!(
                    "qcow2 {name}: backing chain deeper than {} (a loop?)",
                    limits.max_backing_depth
                )));
            }
            // The recorded name, relative to the image's own directory as qemu resolves it.
            let resolved = match path.parent() {
                Some(dir) if Path::new(&backing_name).is_relative() => dir.join(&backing_name),
                _ => PathBuf::from(&backing_name),
            };
            if let Some(root) = &limits.backing_root {
                let inside = match (resolved.canonicalize(), root.canonicalize()) {
                    (Ok(file), Ok(root)) => file.starts_with(root),
                    _ => false,
                };
                if !inside {
                    return Err(bad(format!(
                        "backing file {backing_name:?} is not inside the import directory"
                    )));
                }
            }
            tracing::debug!(image = %name, backing = %resolved.display(), "opening backing file");
            backing = Some(open_backing(&resolved, depth + 1)?);
            backing_file = Some(resolved);
        }
        let info = Qcow2Info {
            version,
            cluster_size,
            virtual_size: size,
            backing_file,
        };
        Ok((
            Qcow2 {
                file,
                file_len,
                name,
                version,
                cluster_bits,
                size,
                l1,
                backing,
                compression,
                cache_tables: limits.l2_cache_tables.max(1),
                l2_cache: Mutex::new(L2Cache::default()),
                last_inflated: Mutex::new(None),
            },
            info,
        ))
    }

    fn cluster_size(&self) -> u64 {
        1 << self.cluster_bits
    }

    fn bad(&self, what: String) -> VmError {
        VmError::invalid(format!("qcow2 {}: {what}", self.name))
    }

    fn read_file(&self, buf: &mut [u8], at: u64, what: &str) -> Result<(), VmError> {
        match at.checked_add(buf.len() as u64) {
            Some(end) if end <= self.file_len => {}
            _ => {
                return Err(self.bad(format!(
                    "{what} at {at} lies past the end of the {}-byte file (truncated image?)",
                    self.file_len
                )))
            }
        }
        self.file
            .read_exact_at(buf, at)
            .map_err(|e| VmError::io(format!("reading {} at {at}", self.name), e))
    }

    fn l2_table(&self, offset: u64) -> Result<Arc<Vec<u64>>, VmError> {
        let mut cache = self.l2_cache.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(t) = cache.tables.get(&offset) {
            return Ok(t.clone());
        }
        if !offset.is_multiple_of(self.cluster_size()) {
            return Err(self.bad(format!("L2 table at unaligned offset {offset}")));
        }
        let mut raw = vec![0u8; self.cluster_size() as usize];
        self.read_file(&mut raw, offset, "L2 table")?;
        let table = Arc::new(raw.chunks_exact(8).map(|c| be64(c, 0)).collect::<Vec<_>>());
        if cache.order.len() >= self.cache_tables {
            if let Some(old) = cache.order.pop_front() {
                cache.tables.remove(&old);
            }
        }
        cache.order.push_back(offset);
        cache.tables.insert(offset, table.clone());
        Ok(table)
    }

    fn inflate(&self, entry: u64) -> Result<Arc<Vec<u8>>, VmError> {
        let x = 62 - (self.cluster_bits - 8);
        let host = entry & ((1u64 << x) - 1);
        let sectors = (entry & !COMPRESSED & !(1u64 << 63)) >> x;
        {
            let last = self.last_inflated.lock().unwrap_or_else(|p| p.into_inner());
            if let Some((at, data)) = last.as_ref() {
                if *at == host {
                    return Ok(data.clone());
                }
            }
        }
        if host >= self.file_len {
            return Err(self.bad(format!(
                "compressed cluster at {host} lies past the end of the {}-byte file (truncated image?)",
                self.file_len
            )));
        }
        // The stored length is rounded up to sectors and may run past the file's end.
        let stored = (sectors + 1) * 512 - (host & 511);
        let len = stored.min(self.file_len - host);
        let mut input = vec![0u8; len as usize];
        self.read_file(&mut input, host, "compressed cluster")?;
        let mut out = vec![0u8; self.cluster_size() as usize];
        let result = match self.compression {
            Compression::Deflate => {
                flate2::read::DeflateDecoder::new(&input[..]).read_exact(&mut out)
            }
            Compression::Zstd => zstd::stream::read::Decoder::with_buffer(&input[..])
                .and_then(|mut d| d.read_exact(&mut out)),
        };
        result.map_err(|e| {
            self.bad(format!(
                "compressed cluster at {host} does not inflate to {} bytes: {e}",
                self.cluster_size()
            ))
        })?;
        let data = Arc::new(out);
        *self.last_inflated.lock().unwrap_or_else(|p| p.into_inner()) = Some((host, data.clone()));
        Ok(data)
    }

    /// Reads guest bytes that no cluster of this image holds: from the backing file where it
    /// reaches, zeros beyond.
    fn read_unallocated(&self, offset: u64, buf: &mut [u8]) -> Result<(), VmError> {
        buf.fill(0);
        if let Some(backing) = &self.backing {
            let size = backing.size();
            if offset < size {
                let n = ((size - offset) as usize).min(buf.len());
                backing.read_at(offset, &mut buf[..n])?;
            }
        }
        Ok(())
    }
}

impl BlockDevice for Qcow2 {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VmError> {
        check_range(offset, buf.len(), self.size)?;
        let cs = self.cluster_size();
        let l2_entries = cs / 8;
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let within = at & (cs - 1);
            let n = ((cs - within) as usize).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            let cluster = at >> self.cluster_bits;
            let l1_entry = self
                .l1
                .get((cluster / l2_entries) as usize)
                .copied()
                .ok_or_else(|| self.bad(format!("offset {at} beyond the L1 table")))?;
            let l2_offset = l1_entry & OFFSET_MASK;
            if l2_offset == 0 {
                self.read_unallocated(at, out)?;
            } else {
                let table = self.l2_table(l2_offset)?;
                let entry = table
                    .get((cluster % l2_entries) as usize)
                    .copied()
                    .unwrap_or(0);
                if entry & COMPRESSED != 0 {
                    let data = self.inflate(entry)?;
                    out.copy_from_slice(&data[within as usize..within as usize + n]);
                } else if self.version >= 3 && entry & ZERO != 0 {
                    out.fill(0);
                } else if entry & OFFSET_MASK == 0 {
                    self.read_unallocated(at, out)?;
                } else {
                    let host = entry & OFFSET_MASK;
                    if !host.is_multiple_of(cs) {
                        return Err(self.bad(format!("data cluster at unaligned offset {host}")));
                    }
                    self.read_file(out, host + within, "data cluster")?;
                }
            }
            done += n;
        }
        Ok(())
    }
}
