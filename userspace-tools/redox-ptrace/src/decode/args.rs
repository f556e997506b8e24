//! Printing one argument, at syscall entry (inputs) or exit (what the kernel filled in).

use alloc::vec::Vec;
use core::fmt::{self, Write};

use syscall::{
    data::{Map, Stat, TimeSpec},
    flag::{CallFlags, FUTEX_WAIT, FUTEX_WAIT64, F_GETFD, F_GETFL, F_SETFD, F_SETFL},
    UPPER_FDTBL_TAG,
};

use super::{flags, strings, structs, table::Arg, DecodeOptions};
use crate::mem::{self, TraceeMemory};

/// Handle numbers: `3`, `UPPER|5` for the upper table, `-1` for `!0`.
pub fn write_fd(f: &mut dyn Write, fd: usize) -> fmt::Result {
    if fd == usize::MAX {
        f.write_str("-1")
    } else if fd & UPPER_FDTBL_TAG != 0 {
        write!(f, "UPPER|{}", fd & !UPPER_FDTBL_TAG)
    } else {
        write!(f, "{fd}")
    }
}

/// Addresses: `NULL` or hex.
pub fn write_addr(f: &mut dyn Write, addr: usize) -> fmt::Result {
    if addr == 0 {
        f.write_str("NULL")
    } else {
        write!(f, "{addr:#x}")
    }
}

/// Whether `arg` can only be printed once the syscall returned.
pub fn is_output(arg: Arg, args: &[usize; 6]) -> bool {
    match arg {
        Arg::OutBuf | Arg::OutTimeSpec | Arg::OutStat => true,
        Arg::CallPayload { flags, .. } => {
            let flags = CallFlags::from_bits_retain(get(args, flags));
            flags.contains(CallFlags::READ) && !flags.contains(CallFlags::FD)
        }
        _ => false,
    }
}

fn get(args: &[usize; 6], index: u8) -> usize {
    args.get(usize::from(index)).copied().unwrap_or(0)
}

/// Prints argument `index` (of kind `arg`) of a syscall called with `args`.
///
/// `ret` is `None` at entry, and the successful return value at exit; output arguments are
/// printed from memory only then, and as a bare address otherwise (strace does the same for
/// failed calls).
pub fn write_arg(
    f: &mut dyn Write,
    arg: Arg,
    index: usize,
    args: &[usize; 6],
    ret: Option<usize>,
    mem: &dyn TraceeMemory,
    opts: &DecodeOptions,
) -> fmt::Result {
    let value = args.get(index).copied().unwrap_or(0);
    let limit = opts.string_limit;
    match arg {
        Arg::Fd => write_fd(f, value),
        Arg::FdOrAnon => write_fd(f, value),
        Arg::Int => write!(f, "{}", value as isize),
        Arg::Uint => write!(f, "{value}"),
        Arg::Addr => write_addr(f, value),
        Arg::Hidden => Ok(()),
        Arg::InStr { len } | Arg::InBuf { len } => {
            write_buffer(f, mem, value, get(args, len), limit)
        }
        Arg::OutBuf => match ret {
            Some(count) => write_buffer(f, mem, value, count, limit),
            None => write_addr(f, value),
        },
        Arg::CallTarget { flags, len } => {
            if CallFlags::from_bits_retain(get(args, flags)).contains(CallFlags::MULTIPLE_FDS) {
                let count = get(args, len).checked_div(size_of::<usize>()).unwrap_or(0);
                write_words(f, mem, value, count, size_of::<usize>(), WordStyle::Fd)
            } else {
                write_fd(f, value)
            }
        }
        Arg::CallPayload { len, flags } => {
            let call_flags = CallFlags::from_bits_retain(get(args, flags));
            let len = get(args, len);
            if call_flags.contains(CallFlags::FD) {
                let count = len.checked_div(size_of::<usize>()).unwrap_or(0);
                write_words(f, mem, value, count, size_of::<usize>(), WordStyle::Fd)
            } else if call_flags.contains(CallFlags::READ) {
                match ret {
                    Some(_) => write_buffer(f, mem, value, len, limit),
                    None => write_addr(f, value),
                }
            } else {
                write_buffer(f, mem, value, len, limit)
            }
        }
        Arg::CallMetadata { flags } => {
            let count = get(args, flags) & flags::CALL_METADATA_LEN_MASK;
            write_words(f, mem, value, count, size_of::<u64>(), WordStyle::Hex)
        }
        Arg::OpenFlags => flags::write_open_flags(f, value),
        Arg::AtFlags => flags::write_at_flags(f, value),
        Arg::RwFlags => flags::write_rw_flags(f, value),
        Arg::MapFlags => flags::write_map_flags(f, value),
        Arg::MremapFlags => flags::write_mremap_flags(f, value),
        Arg::EventFlags => flags::write_event_flags(f, value),
        Arg::CallFlags => flags::write_call_flags(f, value),
        Arg::FcntlCmd => flags::write_enum(f, value, flags::FCNTL_CMDS),
        Arg::FcntlArg { cmd } => match get(args, cmd) {
            F_SETFL => flags::write_open_flags(f, value),
            F_SETFD if value == 1 => f.write_str("FD_CLOEXEC"),
            _ => write!(f, "{value}"),
        },
        Arg::Whence => flags::write_enum(f, value, flags::WHENCES),
        Arg::ClockId => flags::write_enum(f, value, flags::CLOCKS),
        Arg::FutexOp => flags::write_enum(f, value, flags::FUTEX_OPS),
        Arg::FutexVal2 { op } => match get(args, op) {
            FUTEX_WAIT | FUTEX_WAIT64 => write_struct(f, mem, value, structs::write_timespec),
            _ => write!(f, "{value}"),
        },
        Arg::InMap => write_struct::<Map>(f, mem, value, structs::write_map),
        Arg::InTimeSpec => write_struct::<TimeSpec>(f, mem, value, structs::write_timespec),
        Arg::OutTimeSpec => match ret {
            Some(_) => write_struct::<TimeSpec>(f, mem, value, structs::write_timespec),
            None => write_addr(f, value),
        },
        Arg::OutStat => match ret {
            Some(_) => write_struct::<Stat>(f, mem, value, structs::write_stat),
            None => write_addr(f, value),
        },
    }
}

/// Prints the return value of a call whose return kind depends on its arguments (`fcntl`).
pub fn write_fcntl_ret(f: &mut dyn Write, cmd: usize, value: usize) -> fmt::Result {
    match cmd {
        F_GETFL => {
            write!(f, "{value:#x} (flags ")?;
            flags::write_open_flags(f, value)?;
            f.write_char(')')
        }
        F_GETFD if value == 1 => f.write_str("0x1 (flags FD_CLOEXEC)"),
        syscall::flag::F_DUPFD => write_fd(f, value),
        _ => write!(f, "{value}"),
    }
}

/// A byte buffer as a quoted string cut to `limit`; the address when memory can't be read.
fn write_buffer(
    f: &mut dyn Write,
    mem: &dyn TraceeMemory,
    addr: usize,
    len: usize,
    limit: usize,
) -> fmt::Result {
    if addr == 0 && len != 0 {
        return f.write_str("NULL");
    }
    match mem::read_bytes(mem, addr, len, limit) {
        Ok((bytes, truncated)) => strings::write_quoted(f, &bytes, truncated),
        Err(_) => write_addr(f, addr),
    }
}

/// A plain struct at `addr`; `NULL`, or the address when memory can't be read.
fn write_struct<T: mem::Plain>(
    f: &mut dyn Write,
    mem: &dyn TraceeMemory,
    addr: usize,
    show: fn(&mut dyn Write, &T) -> fmt::Result,
) -> fmt::Result {
    if addr == 0 {
        return f.write_str("NULL");
    }
    match mem::read_plain::<T>(mem, addr) {
        Ok(value) => show(f, &value),
        Err(_) => write_addr(f, addr),
    }
}

#[derive(Clone, Copy)]
enum WordStyle {
    Fd,
    Hex,
}

/// An array of `count` words of `width` bytes: `[3, UPPER|4]` or `[0x1, 0x2]`. Long arrays are
/// cut at 16 entries with `...`.
fn write_words(
    f: &mut dyn Write,
    mem: &dyn TraceeMemory,
    addr: usize,
    count: usize,
    width: usize,
    style: WordStyle,
) -> fmt::Result {
    const MAX: usize = 16;
    let shown = count.min(MAX);
    let mut bytes: Vec<u8> = alloc::vec![0; shown.saturating_mul(width)];
    if mem::read_exact(mem, addr, &mut bytes).is_err() {
        return write_addr(f, addr);
    }
    f.write_char('[')?;
    for (i, chunk) in bytes.chunks_exact(width).enumerate() {
        if i > 0 {
            f.write_str(", ")?;
        }
        let mut word = [0u8; 8];
        if let Some(dst) = word.get_mut(..chunk.len()) {
            dst.copy_from_slice(chunk);
        }
        let word = u64::from_ne_bytes(word);
        match style {
            WordStyle::Fd => write_fd(f, usize::try_from(word).unwrap_or(usize::MAX))?,
            WordStyle::Hex => write!(f, "{word:#x}")?,
        }
    }
    if count > MAX {
        f.write_str(", ...")?;
    }
    f.write_char(']')
}

#[cfg(test)]
mod tests {
    use alloc::string::String;

    use super::*;

    /// Verifies handle and address formatting.
    #[test]
    fn fds_and_addresses() {
        let mut s = String::new();
        write_fd(&mut s, 3).expect("String");
        s.push(' ');
        write_fd(&mut s, UPPER_FDTBL_TAG | 9).expect("String");
        s.push(' ');
        write_fd(&mut s, usize::MAX).expect("String");
        s.push(' ');
        write_addr(&mut s, 0).expect("String");
        s.push(' ');
        write_addr(&mut s, 0x1000).expect("String");
        assert_eq!(s, "3 UPPER|9 -1 NULL 0x1000");
    }
}
