//! Where the sections of an executable lie in its file, for catalogers that read metadata that
//! toolchains embed in binaries (Go build info, cargo-auditable dependency lists).
//!
//! Only headers are parsed: ELF through object's low-level header API, which reads the section
//! header table and its name table and nothing else (the high-level parser would also pull
//! symbol tables, megabytes in an unstripped binary, into memory). Mach-O and PE go through
//! object's generic parser, which is fine for the rare such files in a Linux image. Content is
//! then read with seeks, never the whole file.

use std::io::{self, Read, SeekFrom};

use object::elf::{FileHeader32, FileHeader64, PF_W, PT_LOAD, SHF_WRITE, SHT_NOBITS};
use object::read::elf::{FileHeader, ProgramHeader, SectionHeader};
use object::read::ReadCache;
use object::{Endianness, Object, ObjectSection};

use crowsnest_model::ReadSeek;

/// The container format of an executable.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExecutableFormat {
    /// Linux and most Unix systems.
    Elf,
    /// macOS.
    MachO,
    /// Windows.
    Pe,
}

/// A byte range of the file that the loader maps at `address`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Span {
    /// Section name (`.go.buildinfo`); empty for an ELF program segment.
    pub name: String,
    /// Virtual address.
    pub address: u64,
    /// Offset in the file.
    pub offset: u64,
    /// Bytes present in the file (0 for sections such as `.bss` that have none).
    pub size: u64,
    /// Whether the program may write it (Go keeps its build info in writable data).
    pub writable: bool,
}

/// The parts of an executable's headers that catalogers need.
#[derive(Clone, Debug)]
pub struct ExecutableLayout {
    /// Its format.
    pub format: ExecutableFormat,
    /// Byte order of multi-byte values.
    pub big_endian: bool,
    /// Size of a pointer in bytes (4 or 8).
    pub pointer_size: u8,
    /// The sections, in header order.
    pub sections: Vec<Span>,
    /// The ELF program segments that are loaded (empty for other formats).
    pub segments: Vec<Span>,
}

impl ExecutableLayout {
    /// The first section called `name`.
    pub fn section(&self, name: &str) -> Option<&Span> {
        self.sections.iter().find(|s| s.name == name)
    }

    /// The file offset of `len` bytes at virtual address `address`, if a section or segment
    /// holds them all in the file.
    pub fn offset_of(&self, address: u64, len: u64) -> Option<u64> {
        self.sections
            .iter()
            .chain(self.segments.iter())
            .find(|s| {
                s.size > 0
                    && address >= s.address
                    && address
                        .checked_add(len)
                        .is_some_and(|end| end <= s.address.saturating_add(s.size))
            })
            .and_then(|s| s.offset.checked_add(address - s.address))
    }
}

/// Recognises an executable by its first bytes, and rewinds. Anything else (scripts, data
/// files, truncated files) is `None`, cheaply.
pub fn sniff(reader: &mut dyn ReadSeek) -> io::Result<Option<ExecutableFormat>> {
    let mut magic = [0u8; 4];
    reader.seek(SeekFrom::Start(0))?;
    let mut filled = 0;
    while filled < magic.len() {
        match reader.read(&mut magic[filled..])? {
            0 => break,
            n => filled += n,
        }
    }
    reader.seek(SeekFrom::Start(0))?;
    if filled < magic.len() {
        return Ok(None);
    }
    Ok(match magic {
        [0x7f, b'E', b'L', b'F'] => Some(ExecutableFormat::Elf),
        [0xfe, 0xed, 0xfa, 0xce | 0xcf] | [0xce | 0xcf, 0xfa, 0xed, 0xfe] => {
            Some(ExecutableFormat::MachO)
        }
        [b'M', b'Z', _, _] => Some(ExecutableFormat::Pe),
        _ => None,
    })
}

/// Parses the headers of an executable of format `format` (from [`sniff`]).
pub fn read_layout(
    reader: &mut dyn ReadSeek,
    format: ExecutableFormat,
) -> Result<ExecutableLayout, object::Error> {
    let cache = ReadCache::new(reader);
    let layout = match format {
        ExecutableFormat::Elf => {
            // A file too short for the class byte fails in the 32-bit parser with object's own
            // error, like any other truncated header.
            let class = object::ReadRef::read_bytes_at(&cache, 4, 1)
                .ok()
                .and_then(|b| b.first().copied());
            if class == Some(object::elf::ELFCLASS64) {
                elf_layout::<FileHeader64<Endianness>>(&cache)?
            } else {
                elf_layout::<FileHeader32<Endianness>>(&cache)?
            }
        }
        ExecutableFormat::MachO | ExecutableFormat::Pe => {
            let file = object::File::parse(&cache)?;
            let sections = file
                .sections()
                .filter_map(|s| {
                    let (offset, size) = s.file_range()?;
                    Some(Span {
                        name: s.name().unwrap_or_default().to_owned(),
                        address: s.address(),
                        offset,
                        size,
                        writable: matches!(
                            s.kind(),
                            object::SectionKind::Data | object::SectionKind::UninitializedData
                        ),
                    })
                })
                .collect();
            ExecutableLayout {
                format,
                big_endian: !file.is_little_endian(),
                pointer_size: if file.is_64() { 8 } else { 4 },
                sections,
                segments: Vec::new(),
            }
        }
    };
    Ok(layout)
}

fn elf_layout<Elf: FileHeader<Endian = Endianness>>(
    data: &ReadCache<&mut dyn ReadSeek>,
) -> Result<ExecutableLayout, object::Error> {
    let header = Elf::parse(data)?;
    let endian = header.endian()?;
    let table = header.sections(endian, data)?;
    let sections = table
        .iter()
        .map(|s| {
            let size = if s.sh_type(endian) == SHT_NOBITS {
                0
            } else {
                s.sh_size(endian).into()
            };
            Span {
                name: String::from_utf8_lossy(table.section_name(endian, s).unwrap_or_default())
                    .into_owned(),
                address: s.sh_addr(endian).into(),
                offset: s.sh_offset(endian).into(),
                size,
                writable: s.sh_flags(endian).into() & u64::from(SHF_WRITE) != 0,
            }
        })
        .collect();
    // Segments matter only when section headers were stripped, so a broken program header
    // table is not an error on its own.
    let segments = header
        .program_headers(endian, data)
        .unwrap_or_default()
        .iter()
        .filter(|p| p.p_type(endian) == PT_LOAD)
        .map(|p| Span {
            name: String::new(),
            address: p.p_vaddr(endian).into(),
            offset: p.p_offset(endian).into(),
            size: p.p_filesz(endian).into(),
            writable: p.p_flags(endian) & PF_W != 0,
        })
        .collect();
    Ok(ExecutableLayout {
        format: ExecutableFormat::Elf,
        big_endian: header.is_big_endian(),
        pointer_size: if header.is_type_64() { 8 } else { 4 },
        sections,
        segments,
    })
}

/// Reads `len` bytes at `offset`, refusing more than `limit`; a short file is an error.
pub fn read_at(
    reader: &mut dyn ReadSeek,
    offset: u64,
    len: u64,
    limit: u64,
) -> io::Result<Vec<u8>> {
    if len > limit {
        return Err(io::Error::new(
            io::ErrorKind::InvalidData,
            format!("{len} bytes is more than the limit of {limit}"),
        ));
    }
    reader.seek(SeekFrom::Start(offset))?;
    let mut buf = Vec::new();
    (&mut *reader).take(len).read_to_end(&mut buf)?;
    if (buf.len() as u64) < len {
        return Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "range beyond the end of the file",
        ));
    }
    Ok(buf)
}
