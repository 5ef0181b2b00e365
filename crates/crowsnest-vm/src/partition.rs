//! Partition tables: MBR (with extended partitions) and GPT (header and entry CRCs checked).
//!
//! Sectors are 512 bytes, as for every virtual disk qemu and the clouds hand out. A disk with
//! neither table is one whole-disk "partition", so a bare filesystem image works too.

use crate::disk::Disk;
use crate::error::{le16, le32, le64};
use crate::VmError;

/// Bytes per sector.
pub const SECTOR: u64 = 512;
/// Most partitions listed (GPT allows 128 by default; more is hostile).
const MAX_PARTITIONS: usize = 256;
/// Most extended boot records followed in an MBR chain.
const MAX_EBRS: usize = 128;

/// Which table the disk has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TableKind {
    /// A classic MBR.
    Mbr,
    /// A GUID partition table.
    Gpt,
    /// No table: the whole disk holds one filesystem (or nothing known).
    None,
}

/// What a partition is for, as far as the table says.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum PartitionRole {
    /// The EFI system partition (GPT type C12A7328-…, or MBR type 0xEF).
    EfiSystem,
    /// GRUB's BIOS boot partition on GPT.
    BiosBoot,
    /// Linux swap.
    Swap,
    /// Anything else (data, root, LVM, ...).
    Data,
}

/// One partition.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct Partition {
    /// 1-based number as Linux names it (sda1; logical MBR partitions from 5).
    pub number: u32,
    /// First byte on the disk.
    pub start: u64,
    /// Length in bytes.
    pub len: u64,
    /// The type: MBR type byte as `0x83`, or the GPT type GUID.
    pub type_id: String,
    /// What the type says it is for.
    pub role: PartitionRole,
    /// GPT partition name ('' for MBR).
    pub name: String,
    /// MBR active (boot) flag.
    pub bootable: bool,
}

/// The partition table of a disk.
#[derive(Clone, Debug, PartialEq, Eq, serde::Serialize)]
pub struct PartitionTable {
    /// MBR, GPT or none.
    pub kind: TableKind,
    /// The partitions, in table order.
    pub partitions: Vec<Partition>,
    /// True when the MBR's first 440 bytes (the boot code area) are not all zero: a BIOS
    /// boot loader is installed.
    pub mbr_boot_code: bool,
}

const ESP_GUID: &str = "C12A7328-F81F-11D2-BA4B-00A0C93EC93B";
const BIOS_BOOT_GUID: &str = "21686148-6449-6E6F-744E-656564454649";
const LINUX_SWAP_GUID: &str = "0657FD6D-A4AB-43C4-84E5-0933C84B4F4F";

/// Reads the partition table of `disk`.
pub fn read_partitions(disk: &Disk) -> Result<PartitionTable, VmError> {
    let size = disk.size();
    if size < SECTOR {
        return Err(VmError::invalid(format!(
            "disk of {size} bytes has no sector"
        )));
    }
    let mut mbr = [0u8; 512];
    disk.read_at(0, &mut mbr)?;
    let boot_code = mbr[..440].iter().any(|&b| b != 0);
    if le16(&mbr, 510) != 0xAA55 {
        return Ok(PartitionTable {
            kind: TableKind::None,
            partitions: Vec::new(),
            mbr_boot_code: false,
        });
    }
    let entries: Vec<MbrEntry> = (0..4)
        .map(|i| MbrEntry::parse(&mbr, 446 + i * 16))
        .collect();
    if entries.iter().any(|e| e.kind == 0xEE) {
        let mut table = read_gpt(disk)?;
        table.mbr_boot_code = boot_code;
        return Ok(table);
    }
    // A boot sector with 0x55AA but no sane entries (a FAT or NTFS volume without a table)
    // is treated as no table.
    let mut partitions = Vec::new();
    for (i, e) in entries.iter().enumerate() {
        if e.kind == 0 || e.sectors == 0 {
            continue;
        }
        let start = u64::from(e.lba) * SECTOR;
        let len = u64::from(e.sectors) * SECTOR;
        if start == 0 || start.saturating_add(len) > size {
            return Err(VmError::invalid(format!(
                "MBR partition {} ({start}+{len}) lies outside the {size}-byte disk",
                i + 1
            )));
        }
        if matches!(e.kind, 0x05 | 0x0F | 0x85) {
            read_extended(disk, u64::from(e.lba), len / SECTOR, &mut partitions)?;
            continue;
        }
        partitions.push(mbr_partition(i as u32 + 1, e, start, len));
    }
    partitions.sort_by_key(|p| p.number);
    Ok(PartitionTable {
        kind: TableKind::Mbr,
        partitions,
        mbr_boot_code: boot_code,
    })
}

struct MbrEntry {
    status: u8,
    kind: u8,
    lba: u32,
    sectors: u32,
}

impl MbrEntry {
    fn parse(sector: &[u8], at: usize) -> MbrEntry {
        MbrEntry {
            status: sector.get(at).copied().unwrap_or(0),
            kind: sector.get(at + 4).copied().unwrap_or(0),
            lba: le32(sector, at + 8),
            sectors: le32(sector, at + 12),
        }
    }
}

fn mbr_partition(number: u32, e: &MbrEntry, start: u64, len: u64) -> Partition {
    Partition {
        number,
        start,
        len,
        type_id: format!("{:#04x}", e.kind),
        role: match e.kind {
            0xEF => PartitionRole::EfiSystem,
            0x82 => PartitionRole::Swap,
            _ => PartitionRole::Data,
        },
        name: String::new(),
        bootable: e.status == 0x80,
    }
}

/// Follows the chain of extended boot records inside the extended partition at `base` (LBA).
/// Logical partitions are relative to their EBR; the next EBR is relative to `base`.
fn read_extended(
    disk: &Disk,
    base: u64,
    sectors: u64,
    out: &mut Vec<Partition>,
) -> Result<(), VmError> {
    let mut ebr_lba = base;
    let mut seen = std::collections::BTreeSet::new();
    let mut number = 5;
    for _ in 0..MAX_EBRS {
        if !seen.insert(ebr_lba) {
            return Err(VmError::invalid("extended partition chain loops"));
        }
        let mut ebr = [0u8; 512];
        disk.read_at(ebr_lba * SECTOR, &mut ebr)?;
        if le16(&ebr, 510) != 0xAA55 {
            return Err(VmError::invalid(format!(
                "extended boot record at sector {ebr_lba} lacks its signature"
            )));
        }
        let logical = MbrEntry::parse(&ebr, 446);
        let next = MbrEntry::parse(&ebr, 462);
        if logical.kind != 0 && logical.sectors != 0 {
            let start = (ebr_lba + u64::from(logical.lba)) * SECTOR;
            let len = u64::from(logical.sectors) * SECTOR;
            if start.saturating_add(len) > (base + sectors) * SECTOR {
                return Err(VmError::invalid(format!(
                    "logical partition {number} lies outside its extended partition"
                )));
            }
            out.push(mbr_partition(number, &logical, start, len));
            number += 1;
        }
        if next.kind == 0 || next.lba == 0 {
            return Ok(());
        }
        ebr_lba = base + u64::from(next.lba);
        if ebr_lba >= base + sectors {
            return Err(VmError::invalid(
                "extended boot record outside its partition",
            ));
        }
    }
    Err(VmError::Oversized(format!(
        "more than {MAX_EBRS} logical partitions"
    )))
}

fn read_gpt(disk: &Disk) -> Result<PartitionTable, VmError> {
    let mut header = [0u8; 512];
    disk.read_at(SECTOR, &mut header)?;
    if &header[..8] != b"EFI PART" {
        return Err(VmError::invalid(
            "protective MBR but no GPT header at LBA 1",
        ));
    }
    let header_size = le32(&header, 12) as usize;
    if !(92..=512).contains(&header_size) {
        return Err(VmError::invalid(format!("GPT header size {header_size}")));
    }
    let stored_crc = le32(&header, 16);
    let mut copy = header[..header_size].to_vec();
    copy[16..20].fill(0);
    let crc = crc32(&copy);
    if crc != stored_crc {
        return Err(VmError::invalid(format!(
            "GPT header CRC {crc:#010x} does not match the stored {stored_crc:#010x}"
        )));
    }
    let entries_lba = le64(&header, 72);
    let count = le32(&header, 80) as usize;
    let entry_size = le32(&header, 84) as usize;
    let entries_crc = le32(&header, 88);
    if !(128..=4096).contains(&entry_size) || !entry_size.is_multiple_of(8) {
        return Err(VmError::invalid(format!("GPT entry size {entry_size}")));
    }
    if count > 1024 {
        return Err(VmError::Oversized(format!("GPT with {count} entries")));
    }
    let mut raw = vec![0u8; count * entry_size];
    let offset = entries_lba
        .checked_mul(SECTOR)
        .ok_or_else(|| VmError::invalid("GPT entries LBA overflows"))?;
    disk.read_at(offset, &mut raw)?;
    if crc32(&raw) != entries_crc {
        return Err(VmError::invalid("GPT partition entries CRC does not match"));
    }
    let size = disk.size();
    let mut partitions = Vec::new();
    for (i, e) in raw.chunks_exact(entry_size).enumerate() {
        if e[..16].iter().all(|&b| b == 0) {
            continue;
        }
        let first = le64(e, 32);
        let last = le64(e, 40);
        if last < first {
            return Err(VmError::invalid(format!(
                "GPT partition {} ends before it starts",
                i + 1
            )));
        }
        let start = first.checked_mul(SECTOR);
        let len = (last - first + 1).checked_mul(SECTOR);
        let (Some(start), Some(len)) = (start, len) else {
            return Err(VmError::invalid("GPT partition bounds overflow"));
        };
        if start.saturating_add(len) > size {
            return Err(VmError::invalid(format!(
                "GPT partition {} lies outside the {size}-byte disk",
                i + 1
            )));
        }
        let type_id = guid(&e[..16]);
        let name_units: Vec<u16> = e[56..128.min(e.len())]
            .chunks_exact(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        partitions.push(Partition {
            number: i as u32 + 1,
            start,
            len,
            role: match type_id.as_str() {
                ESP_GUID => PartitionRole::EfiSystem,
                BIOS_BOOT_GUID => PartitionRole::BiosBoot,
                LINUX_SWAP_GUID => PartitionRole::Swap,
                _ => PartitionRole::Data,
            },
            type_id,
            name: String::from_utf16_lossy(&name_units),
            bootable: false,
        });
        if partitions.len() > MAX_PARTITIONS {
            return Err(VmError::Oversized("too many GPT partitions".into()));
        }
    }
    Ok(PartitionTable {
        kind: TableKind::Gpt,
        partitions,
        mbr_boot_code: false,
    })
}

/// A GUID in its text form; the first three fields are little-endian on disk.
fn guid(b: &[u8]) -> String {
    format!(
        "{:08X}-{:04X}-{:04X}-{:02X}{:02X}-{:02X}{:02X}{:02X}{:02X}{:02X}{:02X}",
        le32(b, 0),
        le16(b, 4),
        le16(b, 6),
        b[8],
        b[9],
        b[10],
        b[11],
        b[12],
        b[13],
        b[14],
        b[15]
    )
}

/// CRC-32 (IEEE 802.3, reflected), as GPT uses. Bitwise: the tables are a few KiB and read once.
pub(crate) fn crc32(data: &[u8]) -> u32 {
    let mut crc = !0u32;
    for &byte in data {
        crc ^= u32::from(byte);
        for _ in 0..8 {
            crc = if crc & 1 != 0 {
                (crc >> 1) ^ 0xEDB8_8320
            } else {
                crc >> 1
            };
        }
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn crc32_matches_the_standard_check_value() {
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
    }

    #[test]
    fn guid_text_form_swaps_the_first_three_fields() {
        let esp = [
            0x28, 0x73, 0x2A, 0xC1, 0x1F, 0xF8, 0xD2, 0x11, 0xBA, 0x4B, 0x00, 0xA0, 0xC9, 0x3E,
            0xC9, 0x3B,
        ];
        assert_eq!(guid(&esp), ESP_GUID);
    }
}
