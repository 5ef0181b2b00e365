//! Microsoft VHD images (Virtual PC / Hyper-V, what `qemu-img convert -O vpc` writes): a
//! 512-byte `conectix` footer at the end of the file (and, for dynamic disks, a copy at the
//! start), big-endian throughout.
//!
//! - A *fixed* disk is the disk's bytes followed by the footer.
//! - A *dynamic* disk has a `cxsparse` header naming a block allocation table (BAT): one
//!   sector number per block (2 MiB by default), `0xFFFFFFFF` for a block never written
//!   (zeros). Each block is a sector bitmap followed by the block's data; reads take the data
//!   as stored, as QEMU does (the bitmap matters only to differencing disks).
//! - Differencing disks (a parent named by path) are refused as unsupported.
//!
//! The virtual size follows QEMU's rule, so this reader and `qemu-img` agree on what a disk
//! holds: images written by Virtual PC and by QEMU's default (`vpc `, `qemu`) are as large as
//! their CHS geometry, others (Hyper-V, `qem2`, disk2vhd, Xen) as the footer's current size,
//! and any image whose geometry is the CHS maximum as its current size.
//!
//! Every field is checked before use: the footer's checksum, the header's offsets against the
//! file, the BAT's length against the virtual size, each block's sectors against the file's
//! length (a truncated image fails naming the block), and the virtual size against
//! [`DiskLimits::max_virtual_size`].

use std::fs::File;
use std::os::unix::fs::FileExt;

use super::{check_range, BlockDevice, DiskLimits};
use crate::error::{be32, be64};
use crate::VmError;

/// The footer's cookie.
pub(crate) const COOKIE: [u8; 8] = *b"conectix";
/// The dynamic disk header's cookie.
const SPARSE_COOKIE: [u8; 8] = *b"cxsparse";
const SECTOR: u64 = 512;
const FOOTER: u64 = 512;
/// A BAT entry for a block never written.
const UNALLOCATED: u32 = u32::MAX;
/// The largest BAT read (4 Mi entries: 8 TiB of 2 MiB blocks), bounding the allocation a
/// header can ask for before the virtual size limit applies.
const MAX_BAT_ENTRIES: u64 = 4 << 20;
/// The CHS geometry's maximum (65535 cylinders, 16 heads, 255 sectors per track).
const MAX_CHS_SECTORS: u64 = 65535 * 16 * 255;

/// The disk type in the footer.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum VhdKind {
    /// The disk's bytes in order, then the footer.
    Fixed,
    /// Blocks allocated on first write, through a block allocation table.
    Dynamic,
}

/// What the footer says, for reports.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct VhdInfo {
    /// Fixed or dynamic.
    pub kind: VhdKind,
    /// The creator application's four characters (`qemu`, `win `, `vpc `, ...).
    pub creator: String,
    /// Virtual disk size, bytes.
    pub virtual_size: u64,
    /// Bytes per block (dynamic disks; 0 for fixed ones).
    pub block_size: u64,
}

/// Whether `file` (of `len` bytes) ends with a VHD footer (fixed disks have nothing at the
/// start that says so) or starts with one (dynamic disks keep a copy there).
pub(crate) fn detect(file: &File, len: u64) -> Result<bool, VmError> {
    let mut cookie = [0u8; 8];
    for at in [0, len.saturating_sub(FOOTER)] {
        if len >= FOOTER {
            file.read_exact_at(&mut cookie, at)
                .map_err(|e| VmError::io("reading a VHD footer", e))?;
            if cookie == COOKIE {
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// An open VHD.
#[derive(Debug)]
pub(crate) struct Vhd {
    file: File,
    name: String,
    file_len: u64,
    size: u64,
    layout: Layout,
}

#[derive(Debug)]
enum Layout {
    /// Data from byte 0.
    Fixed,
    /// Data through the BAT.
    Dynamic {
        block_size: u64,
        /// Bytes of each block's sector bitmap (whole sectors).
        bitmap_bytes: u64,
        bat: Vec<u32>,
    },
}

impl Vhd {
    /// Opens a file that [`detect`] recognised.
    pub(crate) fn open(
        file: File,
        name: &str,
        limits: &DiskLimits,
    ) -> Result<(Vhd, VhdInfo), VmError> {
        let bad = |what: String| VmError::invalid(format!("vhd {name}: {what}"));
        let io = |e| VmError::io(format!("reading {name}"), e);
        let file_len = file.metadata().map_err(io)?.len();
        if file_len < FOOTER {
            return Err(bad(format!(
                "{file_len} bytes, shorter than its footer (truncated?)"
            )));
        }
        // The footer at the end is authoritative; a dynamic disk cut short still has its copy
        // at the start, which says how large the file should have been.
        let mut footer = [0u8; FOOTER as usize];
        file.read_exact_at(&mut footer, file_len - FOOTER)
            .map_err(io)?;
        let at_end = footer[..8] == COOKIE;
        if !at_end {
            file.read_exact_at(&mut footer, 0).map_err(io)?;
        }
        if footer[..8] != COOKIE {
            return Err(bad("no conectix footer".into()));
        }
        let stored = be32(&footer, 64);
        let mut summed = footer;
        summed[64..68].fill(0);
        let sum = !summed
            .iter()
            .fold(0u32, |acc, b| acc.wrapping_add(u32::from(*b)));
        if sum != stored {
            return Err(bad(format!(
                "footer checksum {stored:#010x}, computed {sum:#010x} (corrupt footer)"
            )));
        }
        let creator = String::from_utf8_lossy(&footer[28..32]).into_owned();
        let current_size = be64(&footer, 48);
        let cylinders = u64::from(u16::from_be_bytes([footer[56], footer[57]]));
        let heads = u64::from(footer[58]);
        let sectors_per_track = u64::from(footer[59]);
        let chs_sectors = cylinders * heads * sectors_per_track;
        let disk_type = be32(&footer, 60);
        // QEMU's rule (see the module comment).
        let by_geometry = matches!(creator.as_str(), "vpc " | "qemu")
            && chs_sectors < MAX_CHS_SECTORS
            && chs_sectors > 0;
        let size = if by_geometry {
            chs_sectors * SECTOR
        } else {
            // Whole sectors, as QEMU counts them.
            current_size / SECTOR * SECTOR
        };
        if size > limits.max_virtual_size {
            return Err(VmError::Oversized(format!(
                "vhd {name}: virtual size {size} is larger than the limit of {}",
                limits.max_virtual_size
            )));
        }
        match disk_type {
            2 => {
                if !at_end {
                    return Err(bad(
                        "fixed disk without its footer at the end (truncated?)".into()
                    ));
                }
                let data = file_len - FOOTER;
                if size > data {
                    return Err(bad(format!(
                        "fixed disk of {size} bytes in a file holding {data} (truncated?)"
                    )));
                }
                let info = VhdInfo {
                    kind: VhdKind::Fixed,
                    creator,
                    virtual_size: size,
                    block_size: 0,
                };
                Ok((
                    Vhd {
                        file,
                        name: name.to_owned(),
                        file_len,
                        size,
                        layout: Layout::Fixed,
                    },
                    info,
                ))
            }
            3 => {
                let (layout, block_size) = Self::dynamic(&file, name, file_len, &footer, size)?;
                let info = VhdInfo {
                    kind: VhdKind::Dynamic,
                    creator,
                    virtual_size: size,
                    block_size,
                };
                Ok((
                    Vhd {
                        file,
                        name: name.to_owned(),
                        file_len,
                        size,
                        layout,
                    },
                    info,
                ))
            }
            4 => Err(VmError::Unsupported(format!(
                "vhd {name}: differencing disks (with a parent image) are not read"
            ))),
            other => Err(bad(format!("disk type {other}"))),
        }
    }

    /// Reads a dynamic disk's header and BAT.
    fn dynamic(
        file: &File,
        name: &str,
        file_len: u64,
        footer: &[u8],
        size: u64,
    ) -> Result<(Layout, u64), VmError> {
        let bad = |what: String| VmError::invalid(format!("vhd {name}: {what}"));
        let io = |e| VmError::io(format!("reading {name}"), e);
        let header_at = be64(footer, 16);
        if header_at.checked_add(1024).is_none_or(|end| end > file_len) {
            return Err(bad(format!(
                "dynamic disk header at byte {header_at} lies past the end of the \
                 {file_len}-byte file (truncated?)"
            )));
        }
        let mut header = [0u8; 1024];
        file.read_exact_at(&mut header, header_at).map_err(io)?;
        if header[..8] != SPARSE_COOKIE {
            return Err(bad(format!("no cxsparse header at byte {header_at}")));
        }
        let stored = be32(&header, 36);
        let mut summed = header;
        summed[36..40].fill(0);
        let sum = !summed
            .iter()
            .fold(0u32, |acc, b| acc.wrapping_add(u32::from(*b)));
        if sum != stored {
            return Err(bad(format!(
                "dynamic header checksum {stored:#010x}, computed {sum:#010x} (corrupt header)"
            )));
        }
        let bat_at = be64(&header, 16);
        let entries = u64::from(be32(&header, 28));
        let block_size = u64::from(be32(&header, 32));
        // A block is whole sectors, and every writer uses a power of two (2 MiB by default);
        // anything above 256 MiB is not a VHD any tool wrote.
        if !block_size.is_power_of_two() || !(SECTOR..=(256 << 20)).contains(&block_size) {
            return Err(bad(format!("block size of {block_size} bytes")));
        }
        let needed = size.div_ceil(block_size);
        if entries < needed {
            return Err(bad(format!(
                "{entries} BAT entries for a disk of {needed} blocks"
            )));
        }
        if entries > MAX_BAT_ENTRIES {
            return Err(VmError::Oversized(format!(
                "vhd {name}: {entries} BAT entries, more than the limit of {MAX_BAT_ENTRIES}"
            )));
        }
        // Only the entries the virtual size uses are read.
        let bat_bytes = needed * 4;
        if bat_at
            .checked_add(bat_bytes)
            .is_none_or(|end| end > file_len)
        {
            return Err(bad(format!(
                "block allocation table at byte {bat_at} ({needed} entries) lies past the \
                 end of the {file_len}-byte file (truncated?)"
            )));
        }
        let mut raw = vec![0u8; bat_bytes as usize];
        file.read_exact_at(&mut raw, bat_at).map_err(io)?;
        let bat = raw
            .chunks_exact(4)
            .map(|c| u32::from_be_bytes([c[0], c[1], c[2], c[3]]))
            .collect();
        // One bit per sector of the block, padded to whole sectors.
        let bitmap_bytes = (block_size / SECTOR).div_ceil(8).div_ceil(SECTOR) * SECTOR;
        Ok((
            Layout::Dynamic {
                block_size,
                bitmap_bytes,
                bat,
            },
            block_size,
        ))
    }

    fn bad(&self, what: String) -> VmError {
        VmError::invalid(format!("vhd {}: {what}", self.name))
    }

    /// Reads `out` from host file offset `start`, refusing bytes past the file's end (a fixed
    /// disk's data never runs into its footer: the size was checked at open).
    fn read_file(&self, start: u64, out: &mut [u8], what: &str) -> Result<(), VmError> {
        if start
            .checked_add(out.len() as u64)
            .is_none_or(|end| end > self.file_len)
        {
            return Err(self.bad(format!(
                "{what} at byte {start} lies past the end of the {}-byte file (truncated?)",
                self.file_len
            )));
        }
        self.file
            .read_exact_at(out, start)
            .map_err(|e| VmError::io(format!("reading {}", self.name), e))
    }
}

impl BlockDevice for Vhd {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VmError> {
        check_range(offset, buf.len(), self.size)?;
        let Layout::Dynamic {
            block_size,
            bitmap_bytes,
            bat,
        } = &self.layout
        else {
            return self.read_file(offset, buf, "data");
        };
        let mut done = 0usize;
        while done < buf.len() {
            let at = offset + done as u64;
            let block = at / block_size;
            let within = at % block_size;
            let n = ((block_size - within) as usize).min(buf.len() - done);
            let out = &mut buf[done..done + n];
            let entry = bat.get(block as usize).copied().unwrap_or(UNALLOCATED);
            if entry == UNALLOCATED {
                out.fill(0);
            } else {
                // The sector number is 32 bits, so this cannot overflow.
                let start = u64::from(entry) * SECTOR + bitmap_bytes + within;
                self.read_file(start, out, &format!("block {block} (sector {entry})"))?;
            }
            done += n;
        }
        Ok(())
    }
}
