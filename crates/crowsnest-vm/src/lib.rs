//! VM disk images, read without booting them and without root privileges.
//!
//! Layers, bottom up: [`disk`] turns an image file (raw, qcow2 with backing files and
//! compressed clusters, monolithicSparse and streamOptimized vmdk, fixed and dynamic vhd) into
//! a read-only [`disk::BlockDevice`];
//! [`partition`] reads MBR and GPT tables; [`ext4`] reads an ext2/3/4 filesystem and [`xfs`] an XFS
//! one, both behind [`filesystem::ReadOnlyFs`]; [`VmFs`] presents either as an
//! [`crowsnest_model::ImageFs`], so the same catalogers that read container images read a VM's
//! root filesystem; [`VmImage`] finds the root filesystem and inspects it (OS, architecture,
//! boot mode, cloud-init, NVMe and virtio drivers).
//!
//! Everything read from a disk is hostile: sizes and offsets are checked before use, loops and
//! chains are bounded, allocations are capped by [`DiskLimits`], and failures are
//! [`VmError`]s with stable codes, never panics.

pub mod disk;
mod error;
pub mod ext4;
pub mod filesystem;
mod inspect;
pub mod partition;
mod view;
pub mod xfs;

pub use disk::{open_disk, DiskFormat, DiskLimits};
pub use error::VmError;
pub use inspect::{
    cpio_names, elf_architecture, CheckItem, DriverSupport, FoundFs, Inspection, KernelInfo,
    OsInfo, VmImage,
};
pub use view::VmFs;
