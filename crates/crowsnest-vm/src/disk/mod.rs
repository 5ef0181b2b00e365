//! Block devices: a disk image file read as the guest would see its disk.
//!
//! [`open_disk`] detects the format by content (qcow2 and sparse VMDK by their magic, VHD by
//! its `conectix` footer at the end or its copy at the start, anything else is raw) and
//! returns a [`BlockDevice`]: positional, read-only, and safe to share between threads, so a
//! filesystem reader and many open files can use one device at once. [`Slice`] narrows a
//! device to one partition.

mod qcow2;
mod raw;
mod vhd;
mod vmdk;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::VmError;

pub use qcow2::Qcow2Info;
pub use vhd::{VhdInfo, VhdKind};
pub use vmdk::VmdkInfo;

/// Limits on what a disk image may make this reader do. Every size in an image is hostile.
#[derive(Clone, Debug)]
pub struct DiskLimits {
    /// Largest virtual disk size accepted, bytes (default 2 TiB).
    pub max_virtual_size: u64,
    /// Longest backing chain followed (default 8).
    pub max_backing_depth: usize,
    /// Most qcow2 L2 tables kept in memory at once (default 64).
    pub l2_cache_tables: usize,
    /// Largest directory read, bytes (default 64 MiB).
    pub max_dir_bytes: u64,
    /// Most extents (or block runs) of one file, and extent-tree nodes (default 1 Mi).
    pub max_extents: usize,
    /// Most entries in the indexed root filesystem (default 5 M).
    pub max_entries: usize,
    /// When set, a qcow2 backing file must resolve (symbolic links included) to a file inside
    /// this directory, so an image handed in by someone else cannot make the reader open any
    /// other file on the host (default: unset, any file the header names).
    pub backing_root: Option<PathBuf>,
}

impl Default for DiskLimits {
    fn default() -> Self {
        DiskLimits {
            max_virtual_size: 2 << 40,
            max_backing_depth: 8,
            l2_cache_tables: 64,
            max_dir_bytes: 64 << 20,
            max_extents: 1 << 20,
            max_entries: 5_000_000,
            backing_root: None,
        }
    }
}

/// A read-only disk: the guest-visible bytes of an image.
pub trait BlockDevice: Send + Sync + std::fmt::Debug {
    /// The virtual size in bytes.
    fn size(&self) -> u64;
    /// Fills `buf` from `offset`. Reading past [`Self::size`] is an error: the structures that
    /// ask for it are corrupt.
    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VmError>;
}

/// A shared block device.
pub type Disk = Arc<dyn BlockDevice>;

/// The on-disk format of an image file.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum DiskFormat {
    /// A plain disk image.
    Raw,
    /// QEMU copy-on-write v2 or v3.
    Qcow2(Qcow2Info),
    /// VMware's hosted sparse disk (monolithicSparse or streamOptimized).
    Vmdk(VmdkInfo),
    /// Microsoft VHD, fixed or dynamic.
    Vhd(VhdInfo),
}

impl DiskFormat {
    /// The name DescribeImages uses (`raw`, `qcow2`).
    pub fn name(&self) -> &'static str {
        match self {
            DiskFormat::Raw => "raw",
            DiskFormat::Qcow2(_) => "qcow2",
            DiskFormat::Vmdk(_) => "vmdk",
            DiskFormat::Vhd(_) => "vhd",
        }
    }
}

/// Opens `path` as a disk: qcow2 or sparse VMDK when it starts with their magic, VHD when it
/// ends (or, dynamic, starts) with a VHD footer, raw otherwise. A qcow2
/// backing file is the one its header names, resolved against the image's directory when
/// relative; nothing else on the host is opened.
pub fn open_disk(path: &Path, limits: &DiskLimits) -> Result<(Disk, DiskFormat), VmError> {
    open_at_depth(path, limits, 0)
}

fn open_at_depth(
    path: &Path,
    limits: &DiskLimits,
    depth: usize,
) -> Result<(Disk, DiskFormat), VmError> {
    let file = std::fs::File::open(path)
        .map_err(|e| VmError::io(format!("opening {}", path.display()), e))?;
    let mut magic = [0u8; 4];
    let len = file
        .metadata()
        .map_err(|e| VmError::io(format!("reading {}", path.display()), e))?
        .len();
    if len >= 4 {
        std::os::unix::fs::FileExt::read_exact_at(&file, &mut magic, 0)
            .map_err(|e| VmError::io(format!("reading {}", path.display()), e))?;
    }
    if magic == qcow2::MAGIC {
        let (disk, info) = qcow2::Qcow2::open(file, path, limits, depth, |backing, depth| {
            open_at_depth(backing, limits, depth).map(|(d, _)| d)
        })?;
        Ok((Arc::new(disk), DiskFormat::Qcow2(info)))
    } else if magic == vmdk::MAGIC {
        let (disk, info) = vmdk::Vmdk::open(file, &path.display().to_string(), limits)?;
        Ok((Arc::new(disk), DiskFormat::Vmdk(info)))
    } else if vhd::detect(&file, len)? {
        let (disk, info) = vhd::Vhd::open(file, &path.display().to_string(), limits)?;
        Ok((Arc::new(disk), DiskFormat::Vhd(info)))
    } else {
        if len > limits.max_virtual_size {
            return Err(VmError::Oversized(format!(
                "raw image of {len} bytes is larger than the limit of {}",
                limits.max_virtual_size
            )));
        }
        Ok((Arc::new(raw::Raw::new(file, len)), DiskFormat::Raw))
    }
}

/// A window of a device (a partition): offsets are relative to its start and bounded by its
/// length.
#[derive(Debug, Clone)]
pub struct Slice {
    disk: Disk,
    start: u64,
    len: u64,
}

impl Slice {
    /// The bytes `start..start+len` of `disk`; refused when they do not lie inside it.
    pub fn new(disk: Disk, start: u64, len: u64) -> Result<Self, VmError> {
        match start.checked_add(len) {
            Some(end) if end <= disk.size() => Ok(Slice { disk, start, len }),
            _ => Err(VmError::invalid(format!(
                "partition at byte {start} of length {len} lies outside the disk of {} bytes",
                disk.size()
            ))),
        }
    }
}

impl BlockDevice for Slice {
    fn size(&self) -> u64 {
        self.len
    }

    fn read_at(&self, offset: u64, buf: &mut [u8]) -> Result<(), VmError> {
        check_range(offset, buf.len(), self.len)?;
        self.disk.read_at(self.start + offset, buf)
    }
}

/// Refuses a read of `len` bytes at `offset` from a device of `size` bytes that would not fit.
pub(crate) fn check_range(offset: u64, len: usize, size: u64) -> Result<(), VmError> {
    match offset.checked_add(len as u64) {
        Some(end) if end <= size => Ok(()),
        _ => Err(VmError::invalid(format!(
            "read of {len} bytes at offset {offset} past the end of a {size}-byte device"
        ))),
    }
}
