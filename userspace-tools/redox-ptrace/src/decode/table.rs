//! What each syscall's arguments are: one entry per `SYS_*` number of redox_syscall 0.9.2.
//!
//! Argument order is the kernel's (`src/syscall/mod.rs`: `b..g` are arguments 1..6, in `rdi,
//! rsi, rdx, r10, r8, r9`). The test `tests/syscall_table.rs` parses the crate's `number.rs`
//! and fails for any number missing here.

use syscall::number::*;

/// How to print one argument. Indices (`len`, `flags`, ...) name other arguments, 0-based.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arg {
    /// A handle number (`3`, `UPPER|5`, `-1`).
    Fd,
    /// A handle number or `!0` for "anonymous" (`fmap`).
    FdOrAnon,
    /// Signed decimal.
    Int,
    /// Unsigned decimal (sizes, ids, offsets).
    Uint,
    /// An address, in hex (`NULL` for 0).
    Addr,
    /// An argument shown through another one (the length of a path); not printed.
    Hidden,
    /// A string the tracee passes in: pointer here, length in argument `len` (paths, names).
    InStr {
        len: u8,
    },
    /// A buffer the tracee passes in (`write`): printed at entry, cut to `-s`.
    InBuf {
        len: u8,
    },
    /// A buffer the kernel fills (`read`): printed at exit, as many bytes as returned.
    OutBuf,
    /// `SYS_CALL`'s target: one handle, or with `MULTIPLE_FDS` (in flags argument `flags`) a
    /// pointer to an array of handles whose byte length is argument `len`.
    CallTarget {
        flags: u8,
        len: u8,
    },
    /// `SYS_CALL`'s payload of length argument `len`: sent (`WRITE`), received (`READ`, shown at
    /// exit), or handles to pass (`FD`), depending on flags argument `flags`.
    CallPayload {
        len: u8,
        flags: u8,
    },
    /// `SYS_CALL`'s metadata words; their count is the low byte of flags argument `flags`.
    CallMetadata {
        flags: u8,
    },
    OpenFlags,
    AtFlags,
    RwFlags,
    MapFlags,
    MremapFlags,
    EventFlags,
    CallFlags,
    FcntlCmd,
    /// `fcntl`'s argument, printed according to the command in argument `cmd`.
    FcntlArg {
        cmd: u8,
    },
    Whence,
    ClockId,
    FutexOp,
    /// `futex`'s fourth argument: a timeout `TimeSpec` pointer for waits, a number otherwise.
    FutexVal2 {
        op: u8,
    },
    /// Pointer to a `Map` the tracee passes in.
    InMap,
    /// Pointer to a `TimeSpec` the tracee passes in.
    InTimeSpec,
    /// Pointer to a `TimeSpec` the kernel fills (may be NULL).
    OutTimeSpec,
    /// Pointer to a `Stat` the kernel fills.
    OutStat,
}

/// How to print the return value (errors are always `-1 ENAME (text)`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Ret {
    /// A handle number.
    Fd,
    /// A count or plain number.
    Uint,
    /// An address.
    Addr,
    /// Ready flags (`fevent`).
    EventFlags,
    /// Depends on the `fcntl` command in argument `cmd`.
    Fcntl { cmd: u8 },
}

/// One syscall's name and shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallSpec {
    pub number: usize,
    pub name: &'static str,
    pub args: &'static [Arg],
    pub ret: Ret,
}

const fn spec(number: usize, name: &'static str, args: &'static [Arg], ret: Ret) -> SyscallSpec {
    SyscallSpec {
        number,
        name,
        args,
        ret,
    }
}

use Arg::*;

/// Every syscall redox_syscall 0.9.2 numbers, in `number.rs` order.
pub const ALL_SYSCALLS: &[SyscallSpec] = &[
    // openat_into(dirfd, path, path_len, flags, fcntl_flags, out)
    spec(
        SYS_OPENAT_INTO,
        "openat_into",
        &[Fd, InStr { len: 2 }, Hidden, OpenFlags, OpenFlags, Fd],
        Ret::Fd,
    ),
    // unlinkat(dirfd, path, path_len, flags)
    spec(
        SYS_UNLINKAT,
        "unlinkat",
        &[Fd, InStr { len: 2 }, Hidden, AtFlags],
        Ret::Uint,
    ),
    spec(SYS_CLOSE, "close", &[Fd], Ret::Uint),
    // dup_into(fd, name, name_len, out)
    spec(
        SYS_DUP_INTO,
        "dup_into",
        &[Fd, InStr { len: 2 }, Hidden, Fd],
        Ret::Fd,
    ),
    // dup2(fd, newfd, name, name_len)
    spec(
        SYS_DUP2,
        "dup2",
        &[Fd, Fd, InStr { len: 3 }, Hidden],
        Ret::Fd,
    ),
    spec(SYS_READ, "read", &[Fd, OutBuf, Uint], Ret::Uint),
    // read2(fd, buf, len, offset, flags)
    spec(
        SYS_READ2,
        "read2",
        &[Fd, OutBuf, Uint, Uint, RwFlags],
        Ret::Uint,
    ),
    spec(SYS_WRITE, "write", &[Fd, InBuf { len: 2 }, Uint], Ret::Uint),
    spec(
        SYS_WRITE2,
        "write2",
        &[Fd, InBuf { len: 2 }, Uint, Uint, RwFlags],
        Ret::Uint,
    ),
    spec(SYS_LSEEK, "lseek", &[Fd, Int, Whence], Ret::Uint),
    spec(SYS_FCHOWN, "fchown", &[Fd, Uint, Uint], Ret::Uint),
    spec(
        SYS_FCNTL,
        "fcntl",
        &[Fd, FcntlCmd, FcntlArg { cmd: 1 }],
        Ret::Fcntl { cmd: 1 },
    ),
    spec(SYS_FEVENT, "fevent", &[Fd, EventFlags], Ret::EventFlags),
    // call(fd | fds, payload, payload_len, flags | metadata_len, metadata[, fds_len])
    spec(
        SYS_CALL,
        "call",
        &[
            CallTarget { flags: 3, len: 5 },
            CallPayload { len: 2, flags: 3 },
            Uint,
            CallFlags,
            CallMetadata { flags: 3 },
            Hidden,
        ],
        Ret::Uint,
    ),
    // fmap(fd, &Map, size_of::<Map>())
    spec(SYS_FMAP, "fmap", &[FdOrAnon, InMap, Uint], Ret::Addr),
    spec(SYS_FUNMAP, "funmap", &[Addr, Uint], Ret::Uint),
    // mremap(old_address, old_size, new_address, new_size, flags)
    spec(
        SYS_MREMAP,
        "mremap",
        &[Addr, Uint, Addr, Uint, MremapFlags],
        Ret::Addr,
    ),
    spec(
        SYS_FLINK,
        "flink",
        &[Fd, InStr { len: 2 }, Hidden],
        Ret::Uint,
    ),
    spec(SYS_FPATH, "fpath", &[Fd, OutBuf, Uint], Ret::Uint),
    spec(
        SYS_FRENAME,
        "frename",
        &[Fd, InStr { len: 2 }, Hidden],
        Ret::Uint,
    ),
    spec(SYS_FSTAT, "fstat", &[Fd, OutStat, Uint], Ret::Uint),
    spec(SYS_FSYNC, "fsync", &[Fd], Ret::Uint),
    spec(
        SYS_CLOCK_GETTIME,
        "clock_gettime",
        &[ClockId, OutTimeSpec],
        Ret::Uint,
    ),
    // futex(addr, op, val, val2 | timeout, addr2)
    spec(
        SYS_FUTEX,
        "futex",
        &[Addr, FutexOp, Int, FutexVal2 { op: 1 }, Addr],
        Ret::Uint,
    ),
    spec(SYS_MPROTECT, "mprotect", &[Addr, Uint, MapFlags], Ret::Uint),
    spec(
        SYS_NANOSLEEP,
        "nanosleep",
        &[InTimeSpec, OutTimeSpec],
        Ret::Uint,
    ),
    spec(SYS_YIELD, "yield", &[], Ret::Uint),
];

/// The spec of syscall `number`, if redox_syscall 0.9.2 knows it.
pub fn lookup(number: usize) -> Option<&'static SyscallSpec> {
    ALL_SYSCALLS.iter().find(|s| s.number == number)
}

/// The spec of the syscall called `name` (`-e trace=read,write`).
pub fn lookup_name(name: &str) -> Option<&'static SyscallSpec> {
    ALL_SYSCALLS.iter().find(|s| s.name == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that numbers and names are unique, and argument indices point at arguments.
    #[test]
    fn table_is_consistent() {
        for (i, a) in ALL_SYSCALLS.iter().enumerate() {
            for b in ALL_SYSCALLS.iter().skip(i + 1) {
                assert_ne!(a.number, b.number, "{} and {}", a.name, b.name);
                assert_ne!(a.name, b.name);
            }
            assert!(a.args.len() <= 6, "{}", a.name);
            for arg in a.args {
                let refs: &[u8] = match *arg {
                    InStr { len } | InBuf { len } => &[len],
                    CallTarget { flags, len } | CallPayload { len, flags } => &[flags, len],
                    CallMetadata { flags } => &[flags],
                    FcntlArg { cmd } => &[cmd],
                    FutexVal2 { op } => &[op],
                    _ => &[],
                };
                for r in refs {
                    assert!(usize::from(*r) < 6, "{}: {arg:?}", a.name);
                }
            }
        }
    }

    /// Verifies lookups by number and by name.
    #[test]
    fn lookup_by_number_and_name() {
        assert_eq!(lookup(SYS_WRITE).map(|s| s.name), Some("write"));
        assert_eq!(
            lookup_name("dup_into").map(|s| s.number),
            Some(SYS_DUP_INTO)
        );
        assert_eq!(lookup(0xdead), None);
    }
}
