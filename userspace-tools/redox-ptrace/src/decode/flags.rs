//! Flag sets and enumerations printed symbolically: `O_RDONLY|O_CLOEXEC`, `PROT_READ|MAP_PRIVATE`.
//!
//! Values come from redox_syscall 0.9.2 (`syscall::flag`), except `O_CLOEXEC`, which the kernel
//! ignores and relibc (`bits_open-flags/redox.rs`) defines as `0x0100_0000`.

use core::fmt::{self, Write};

use syscall::flag::*;

/// relibc's `O_CLOEXEC` on Redox; the one open flag redox_syscall does not define.
pub const O_CLOEXEC: usize = 0x0100_0000;

/// Prints the names of the bits of `value` in `table` joined by `|`, and what is left in hex.
/// Entries are tried in order, so put multi-bit masks before their parts. `zero` is printed
/// for 0.
pub fn write_bits(
    f: &mut dyn Write,
    value: usize,
    table: &[(usize, &str)],
    zero: &str,
) -> fmt::Result {
    if value == 0 {
        return f.write_str(zero);
    }
    let mut rest = value;
    let mut first = true;
    for &(mask, name) in table {
        if mask != 0 && rest & mask == mask {
            if !first {
                f.write_char('|')?;
            }
            f.write_str(name)?;
            rest &= !mask;
            first = false;
        }
    }
    if rest != 0 {
        if !first {
            f.write_char('|')?;
        }
        write!(f, "{rest:#x}")?;
    }
    Ok(())
}

/// Prints the name of `value` from `table`, or the number.
pub fn write_enum(f: &mut dyn Write, value: usize, table: &[(usize, &str)]) -> fmt::Result {
    match table.iter().find(|(v, _)| *v == value) {
        Some((_, name)) => f.write_str(name),
        None => write!(f, "{value}"),
    }
}

const OPEN_BITS: &[(usize, &str)] = &[
    (O_NONBLOCK, "O_NONBLOCK"),
    (O_APPEND, "O_APPEND"),
    (O_SHLOCK, "O_SHLOCK"),
    (O_EXLOCK, "O_EXLOCK"),
    (O_ASYNC, "O_ASYNC"),
    (O_FSYNC, "O_FSYNC"),
    (O_CLOEXEC, "O_CLOEXEC"),
    (O_CREAT, "O_CREAT"),
    (O_TRUNC, "O_TRUNC"),
    (O_EXCL, "O_EXCL"),
    (O_DIRECTORY, "O_DIRECTORY"),
    (O_STAT, "O_STAT"),
    (O_SYMLINK, "O_SYMLINK"),
    (O_NOFOLLOW, "O_NOFOLLOW"),
];

/// Open flags: the access mode, the flag bits, and the low 16 bits (the creation mode) in octal.
pub fn write_open_flags(f: &mut dyn Write, value: usize) -> fmt::Result {
    let mut parts = 0u32;
    let mut sep = |f: &mut dyn Write| -> fmt::Result {
        parts = parts.saturating_add(1);
        if parts > 1 {
            f.write_char('|')
        } else {
            Ok(())
        }
    };
    match value & O_ACCMODE {
        O_RDONLY => {
            sep(f)?;
            f.write_str("O_RDONLY")?;
        }
        O_WRONLY => {
            sep(f)?;
            f.write_str("O_WRONLY")?;
        }
        O_RDWR => {
            sep(f)?;
            f.write_str("O_RDWR")?;
        }
        _ => {}
    }
    let bits = value & !O_ACCMODE & !0xFFFF;
    if bits != 0 {
        sep(f)?;
        write_bits(f, bits, OPEN_BITS, "0")?;
    }
    let mode = value & 0xFFFF;
    if mode != 0 {
        sep(f)?;
        write!(f, "0{mode:o}")?;
    }
    if parts == 0 {
        f.write_char('0')?;
    }
    Ok(())
}

const MAP_BITS: &[(usize, &str)] = &[
    (PROT_READ.bits(), "PROT_READ"),
    (PROT_WRITE.bits(), "PROT_WRITE"),
    (PROT_EXEC.bits(), "PROT_EXEC"),
    (MAP_SHARED.bits(), "MAP_SHARED"),
    (MAP_PRIVATE.bits(), "MAP_PRIVATE"),
    (MAP_FIXED_NOREPLACE.bits(), "MAP_FIXED_NOREPLACE"),
    (MAP_FIXED.bits(), "MAP_FIXED"),
    (MAP_LAZY.bits(), "MAP_LAZY"),
];

/// `MapFlags`: protection and mapping bits.
pub fn write_map_flags(f: &mut dyn Write, value: usize) -> fmt::Result {
    write_bits(f, value, MAP_BITS, "PROT_NONE")
}

/// `mremap` flags: `MremapFlags` plus the protection bits of `MapFlags`.
pub fn write_mremap_flags(f: &mut dyn Write, value: usize) -> fmt::Result {
    const TABLE: &[(usize, &str)] = &[
        (MremapFlags::FIXED_REPLACE.bits(), "FIXED_REPLACE"),
        (MremapFlags::FIXED.bits(), "FIXED"),
        (MremapFlags::KEEP_OLD.bits(), "KEEP_OLD"),
        (PROT_READ.bits(), "PROT_READ"),
        (PROT_WRITE.bits(), "PROT_WRITE"),
        (PROT_EXEC.bits(), "PROT_EXEC"),
    ];
    write_bits(f, value, TABLE, "0")
}

/// `EventFlags`.
pub fn write_event_flags(f: &mut dyn Write, value: usize) -> fmt::Result {
    const TABLE: &[(usize, &str)] = &[
        (EVENT_READ.bits(), "EVENT_READ"),
        (EVENT_WRITE.bits(), "EVENT_WRITE"),
    ];
    write_bits(f, value, TABLE, "EVENT_NONE")
}

/// The low byte of a `SYS_CALL` flags word counts metadata words; the rest is `CallFlags`.
pub const CALL_METADATA_LEN_MASK: usize = 0xFF;

/// `CallFlags` (without the metadata count in the low byte).
pub fn write_call_flags(f: &mut dyn Write, value: usize) -> fmt::Result {
    const TABLE: &[(usize, &str)] = &[
        (CallFlags::CONSUME.bits(), "CONSUME"),
        (CallFlags::WRITE.bits(), "WRITE"),
        (CallFlags::READ.bits(), "READ"),
        (CallFlags::FD.bits(), "FD"),
        (CallFlags::FD_EXCLUSIVE.bits(), "FD_EXCLUSIVE"),
        (CallFlags::FD_CLONE.bits(), "FD_CLONE"),
        (CallFlags::FD_UPPER.bits(), "FD_UPPER"),
        (CallFlags::FD_CLOEXEC.bits(), "FD_CLOEXEC"),
        (CallFlags::STD_FS.bits(), "STD_FS"),
        (CallFlags::MULTIPLE_FDS.bits(), "MULTIPLE_FDS"),
    ];
    write_bits(f, value & !CALL_METADATA_LEN_MASK, TABLE, "0")
}

/// `RwFlags` of `read2`/`write2`; `usize::MAX` means "the handle's own flags".
pub fn write_rw_flags(f: &mut dyn Write, value: usize) -> fmt::Result {
    if value == usize::MAX {
        return f.write_str("-1");
    }
    const TABLE: &[(usize, &str)] = &[(1, "RWF_NONBLOCK"), (2, "RWF_APPEND")];
    write_bits(f, value, TABLE, "0")
}

/// `unlinkat` flags.
pub fn write_at_flags(f: &mut dyn Write, value: usize) -> fmt::Result {
    write_bits(f, value, &[(AT_REMOVEDIR, "AT_REMOVEDIR")], "0")
}

pub const FCNTL_CMDS: &[(usize, &str)] = &[
    (F_DUPFD, "F_DUPFD"),
    (F_GETFD, "F_GETFD"),
    (F_SETFD, "F_SETFD"),
    (F_GETFL, "F_GETFL"),
    (F_SETFL, "F_SETFL"),
];

pub const WHENCES: &[(usize, &str)] = &[
    (SEEK_SET, "SEEK_SET"),
    (SEEK_CUR, "SEEK_CUR"),
    (SEEK_END, "SEEK_END"),
];

pub const CLOCKS: &[(usize, &str)] = &[
    (CLOCK_REALTIME, "CLOCK_REALTIME"),
    (CLOCK_MONOTONIC, "CLOCK_MONOTONIC"),
];

pub const FUTEX_OPS: &[(usize, &str)] = &[
    (FUTEX_WAIT, "FUTEX_WAIT"),
    (FUTEX_WAKE, "FUTEX_WAKE"),
    (FUTEX_REQUEUE, "FUTEX_REQUEUE"),
    (FUTEX_WAIT64, "FUTEX_WAIT64"),
];

/// File type bits of `st_mode`.
pub const MODE_TYPES: &[(u16, &str)] = &[
    (MODE_DIR, "MODE_DIR"),
    (MODE_FILE, "MODE_FILE"),
    (MODE_SYMLINK, "MODE_SYMLINK"),
    (MODE_FIFO, "MODE_FIFO"),
    (MODE_CHR, "MODE_CHR"),
    (MODE_SOCK, "MODE_SOCK"),
];

/// `st_mode`: the file type name and the permission bits in octal (`MODE_FILE|0644`).
pub fn write_mode(f: &mut dyn Write, mode: u16) -> fmt::Result {
    match MODE_TYPES.iter().find(|(t, _)| *t == mode & MODE_TYPE) {
        Some((_, name)) => write!(f, "{name}|0{:o}", mode & MODE_PERM),
        None => write!(f, "0{mode:o}"),
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use super::*;

    fn show(write: impl Fn(&mut dyn Write, usize) -> fmt::Result, value: usize) -> String {
        let mut s = String::new();
        write(&mut s, value).expect("writing to a String");
        s
    }

    /// Verifies that open flags print the access mode, the bits, and the mode in octal.
    #[test]
    fn open_flags_are_symbolic() {
        assert_eq!(
            show(write_open_flags, O_RDONLY | O_CLOEXEC),
            "O_RDONLY|O_CLOEXEC"
        );
        assert_eq!(
            show(write_open_flags, O_WRONLY | O_CREAT | O_TRUNC | 0o644),
            "O_WRONLY|O_CREAT|O_TRUNC|0644"
        );
        assert_eq!(show(write_open_flags, 0), "0");
        assert_eq!(
            show(write_open_flags, O_RDWR | (1 << 60)),
            "O_RDWR|0x1000000000000000"
        );
    }

    /// Verifies that multi-bit map flags win over their parts, and zero is PROT_NONE.
    #[test]
    fn map_flags_prefer_multi_bit_names() {
        let flags = (PROT_READ | PROT_WRITE | MAP_PRIVATE | MAP_FIXED_NOREPLACE).bits();
        assert_eq!(
            show(write_map_flags, flags),
            "PROT_READ|PROT_WRITE|MAP_PRIVATE|MAP_FIXED_NOREPLACE"
        );
        assert_eq!(show(write_map_flags, 0), "PROT_NONE");
    }

    /// Verifies that call flags hide the metadata count and event flags name EVENT_NONE.
    #[test]
    fn call_and_event_flags() {
        let call = (CallFlags::WRITE | CallFlags::FD | CallFlags::FD_CLONE).bits() | 1;
        assert_eq!(show(write_call_flags, call), "WRITE|FD|FD_CLONE");
        assert_eq!(show(write_event_flags, 0), "EVENT_NONE");
        assert_eq!(show(write_event_flags, 3), "EVENT_READ|EVENT_WRITE");
        assert_eq!(show(|f, v| write_enum(f, v, FCNTL_CMDS), 4), "F_SETFL");
        assert_eq!(show(|f, v| write_enum(f, v, FCNTL_CMDS), 99), "99");
    }

    /// Verifies that st_mode prints the file type and permissions.
    #[test]
    fn mode_prints_type_and_permissions() {
        assert_eq!(
            show(
                |f, v| write_mode(f, v as u16),
                usize::from(MODE_FILE | 0o644)
            ),
            "MODE_FILE|0644"
        );
    }
}
