//! What of a static x86_64 ELF the loader needs: its loadable segments, entry point and where
//! its program headers sit in memory (relibc finds its TLS template through `AT_PHDR`).

use goblin::elf::{header, program_header, Elf};

/// One `PT_LOAD` segment: `file_size` bytes from `file_offset` go to `vaddr`, the rest up to
/// `mem_size` is zero (`.bss`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Segment {
    pub vaddr: u64,
    pub mem_size: u64,
    pub file_offset: u64,
    pub file_size: u64,
    pub readable: bool,
    pub writable: bool,
    pub executable: bool,
}

/// The load plan of one program.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Image {
    pub entry: u64,
    pub phdr_vaddr: u64,
    pub phnum: u64,
    pub phent: u64,
    pub segments: Vec<Segment>,
}

/// Why a file cannot be run.
#[derive(Debug)]
pub enum ElfError {
    Parse(goblin::error::Error),
    NotX86_64,
    /// Shared objects and position-independent executables need a relocating loader (ld.so);
    /// the programs the image builds are static `ET_EXEC` files.
    NotStaticExec,
    Interpreter,
    NoPhdr,
    BadSegment,
}

impl std::fmt::Display for ElfError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Parse(e) => write!(f, "not an ELF file: {e}"),
            Self::NotX86_64 => f.write_str("not an x86_64 64-bit ELF"),
            Self::NotStaticExec => f.write_str("not a static executable (ET_EXEC)"),
            Self::Interpreter => f.write_str("dynamically linked (has PT_INTERP)"),
            Self::NoPhdr => f.write_str("program headers are not inside a loaded segment"),
            Self::BadSegment => f.write_str("a PT_LOAD segment lies outside the file"),
        }
    }
}

/// Reads the load plan of `bytes`.
pub fn parse(bytes: &[u8]) -> Result<Image, ElfError> {
    let elf = Elf::parse(bytes).map_err(ElfError::Parse)?;
    if !elf.is_64 || elf.header.e_machine != header::EM_X86_64 {
        return Err(ElfError::NotX86_64);
    }
    if elf.header.e_type != header::ET_EXEC {
        return Err(ElfError::NotStaticExec);
    }
    if elf.interpreter.is_some() {
        return Err(ElfError::Interpreter);
    }
    let mut segments = Vec::new();
    for ph in elf
        .program_headers
        .iter()
        .filter(|ph| ph.p_type == program_header::PT_LOAD)
    {
        let end = ph.p_offset.checked_add(ph.p_filesz);
        if end.is_none_or(|end| end > bytes.len() as u64) || ph.p_filesz > ph.p_memsz {
            return Err(ElfError::BadSegment);
        }
        segments.push(Segment {
            vaddr: ph.p_vaddr,
            mem_size: ph.p_memsz,
            file_offset: ph.p_offset,
            file_size: ph.p_filesz,
            readable: ph.is_read(),
            writable: ph.is_write(),
            executable: ph.is_executable(),
        });
    }
    // PT_PHDR when there is one; else the headers are wherever the segment holding file
    // offset e_phoff put them.
    let phdr_vaddr = match elf
        .program_headers
        .iter()
        .find(|ph| ph.p_type == program_header::PT_PHDR)
    {
        Some(ph) => ph.p_vaddr,
        None => segments
            .iter()
            .find(|s| {
                s.file_offset <= elf.header.e_phoff
                    && elf.header.e_phoff < s.file_offset + s.file_size
            })
            .map(|s| s.vaddr + (elf.header.e_phoff - s.file_offset))
            .ok_or(ElfError::NoPhdr)?,
    };
    Ok(Image {
        entry: elf.header.e_entry,
        phdr_vaddr,
        phnum: u64::from(elf.header.e_phnum),
        phent: u64::from(elf.header.e_phentsize),
        segments,
    })
}
