//! The syscalls on handles: `read`, `write` (which also drive the thread, fork and exec
//! handles), `openat_into`, `dup_into`/`dup2`, and the rest that name a handle.

use nix::{libc::user_regs_struct, unistd::Pid};
use syscall::{Error, Result};

use crate::{
    abi::{self, CallError},
    files, fork,
    handles::{ForkPart, Handle},
    memory,
    process::Process,
    scheme, threads,
};

/// Largest byte count moved per `read`/`write`: a bigger call returns short, as POSIX allows.
const IO_CHUNK: usize = 1 << 20;

/// The thread whose syscall is carried out: its process, its Linux thread and the registers
/// at its stop, and the next pid a fork gets (shared by all processes).
pub struct Caller<'a> {
    pub process: &'a mut Process,
    pub tid: Pid,
    pub regs: &'a user_regs_struct,
    pub next_pid: &'a mut u32,
}

/// What a `read` or `write` came to.
pub enum Io {
    Count(usize),
    /// The read would block on the host.
    WouldBlock,
    /// The write was to the caller's own `status`: the thread ends.
    ThreadEnds,
}

fn err(errno: i32) -> Error {
    Error::new(errno)
}

fn read_str(p: &Process, addr: usize, len: usize) -> Result<String> {
    String::from_utf8(memory::read(&p.child, addr, len)?).map_err(|_| err(syscall::EINVAL))
}

/// The little-endian `u64` at word `i` of `bytes`.
fn word(bytes: &[u8], i: usize) -> Option<u64> {
    bytes
        .get(i * 8..i * 8 + 8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
}

/// `write(fd, addr, len)`; `out` are the registers the caller resumes with (a `regs/env`
/// write changes fs/gs base there).
pub fn write(
    c: &mut Caller<'_>,
    fd: usize,
    addr: usize,
    len: usize,
    out: &mut user_regs_struct,
) -> Result<Io> {
    let (tid, regs) = (c.tid, c.regs);
    let p = &mut *c.process;
    let bytes = memory::read(&p.child, addr, len.min(IO_CHUNK))?;
    let control = p.table.get(fd)?.duplicate().map_err(files::from_io)?;
    // exec's `[space, sp, ip]` on its own thread: switched to when the handle closes.
    if let (Handle::AddrSpaceSel(_), Some(space)) = (&control, word(&bytes, 0))
        && let (Ok(Handle::NewSpace(id)), Some(sp), Some(ip)) = (
            p.table.get(space as usize),
            word(&bytes, 1),
            word(&bytes, 2),
        )
    {
        p.exec.choose(*id, ip, sp);
        return Ok(Io::Count(bytes.len()));
    }
    let count = match control {
        Handle::AddrSpaceSel(t) => match (word(&bytes, 0), word(&bytes, 1), word(&bytes, 2)) {
            (Some(_space), Some(sp), Some(ip)) => p.threads.set_entry(t, ip, sp),
            _ => Err(err(syscall::EINVAL)),
        },
        // One file table for all threads: nothing to select.
        Handle::FileTableSel => Ok(()),
        Handle::Start(t) => p.threads.start(&p.child, tid, t, regs),
        Handle::Status(t) => {
            return match (word(&bytes, 0), word(&bytes, 1), word(&bytes, 2)) {
                (Some(_), Some(stack), Some(size)) if Some(t) == p.threads.number_of(tid) => {
                    if size != 0 {
                        let _ = memory::funmap(&p.child, tid, regs, stack as usize, size as usize);
                    }
                    Ok(Io::ThreadEnds)
                }
                (Some(_), Some(_), Some(_)) => Err(err(syscall::EPERM)),
                _ => Err(err(syscall::EINVAL)),
            };
        }
        Handle::Fork(id, ForkPart::Start) => p.fork_start(id, regs),
        Handle::Fork(id, part) => return p.forks.write(id, part, &bytes).map(Io::Count),
        Handle::NewSpace(id) => return p.exec.space_write(id, &bytes).map(Io::Count),
        _ => return write_handle(p, tid, fd, &bytes, out).map(Io::Count),
    };
    count.map(|_| Io::Count(bytes.len()))
}

/// `write` to what a handle stands for in the program: its thread's fs/gs base, or a file.
fn write_handle(
    p: &mut Process,
    tid: Pid,
    fd: usize,
    bytes: &[u8],
    out: &mut user_regs_struct,
) -> Result<usize> {
    let current = p.threads.number_of(tid);
    let handle = p.table.get_mut(fd)?;
    if let Handle::RegsEnv(t) = handle {
        // Only a thread's own fs/gs base: the others are running.
        if Some(*t) != current {
            return Err(err(syscall::EBUSY));
        }
        // EnvRegisters { fsbase: u64, gsbase: u64 }: relibc's TLS setup.
        let (Some(fs), Some(gs)) = (word(bytes, 0), word(bytes, 1)) else {
            return Err(err(syscall::EINVAL));
        };
        out.fs_base = fs;
        out.gs_base = gs;
        return Ok(16);
    }
    files::write(handle, bytes)
}

/// `read(fd, addr, len)` by thread `tid`.
pub fn read(p: &mut Process, tid: Pid, fd: usize, addr: usize, len: usize) -> Result<Io> {
    let mut buf = vec![0; len.min(IO_CHUNK)];
    let meta = abi::proc_meta(p.pid, p.parent);
    let n = match p.table.get_mut(fd)? {
        Handle::Fork(id, ForkPart::Proc) => {
            let meta = p.forks.meta(*id, p.pid)?;
            files::copy_prefix(&mut buf, &meta)
        }
        // The grant list: rine's programs have no scheme-shared grants to carry over.
        Handle::AddrSpace => 0,
        h if files::would_block(h) => return Ok(Io::WouldBlock),
        Handle::RegsEnv(_) => {
            let regs = p.child.regs(tid).map_err(|_| err(syscall::ESRCH))?;
            let mut env = regs.fs_base.to_le_bytes().to_vec();
            env.extend(regs.gs_base.to_le_bytes());
            files::copy_prefix(&mut buf, &env)
        }
        h => files::read(h, &mut buf, &meta)?,
    };
    memory::write(&p.child, addr, &buf[..n])?;
    Ok(Io::Count(n))
}

pub fn pread(p: &Process, fd: usize, addr: usize, len: usize, offset: u64) -> Result<usize> {
    let mut buf = vec![0; len.min(IO_CHUNK)];
    let n = files::pread(p.table.get(fd)?, &mut buf, offset)?;
    memory::write(&p.child, addr, &buf[..n])?;
    Ok(n)
}

pub fn pwrite(p: &Process, fd: usize, addr: usize, len: usize, offset: u64) -> Result<usize> {
    let bytes = memory::read(&p.child, addr, len.min(IO_CHUNK))?;
    files::pwrite(p.table.get(fd)?, &bytes, offset)
}

pub fn openat_into(
    p: &mut Process,
    fd: usize,
    path: usize,
    len: usize,
    flags: usize,
    slot: usize,
) -> Result<usize> {
    let path = read_str(p, path, len)?;
    let handle = match p.table.get(fd)? {
        // The namespace resolves the scheme; relibc opens the rest on the root it returns.
        Handle::Namespace => {
            let name = scheme::scheme_of(&path).ok_or(err(syscall::EINVAL))?;
            if name == "file" {
                files::open_host(&p.root, "", "", syscall::O_RDONLY | syscall::O_DIRECTORY)?
            } else {
                Handle::SchemeRoot(name.to_string())
            }
        }
        Handle::SchemeRoot(name) => files::open_in_scheme(&p.root, name, &path, flags)?,
        Handle::Host {
            dir: true,
            reference,
            ..
        } => {
            let dir = reference.clone().unwrap_or_default();
            files::open_host(&p.root, &dir, &path, flags)?
        }
        Handle::Host { .. } => return Err(err(syscall::ENOTDIR)),
        _ => return Err(err(syscall::EBADF)),
    };
    p.table.insert_new(slot, handle)
}

/// `dup_into(fd, name, slot)`, or with `replace` `dup2(fd, slot, name)`.
pub fn dup_into(
    c: &mut Caller<'_>,
    fd: usize,
    name: usize,
    len: usize,
    slot: usize,
    replace: bool,
) -> std::result::Result<usize, CallError> {
    let p = &mut *c.process;
    let name = memory::read(&p.child, name, len)?;
    let listing = p.table.listing();
    let handle = p.table.get_mut(fd)?;
    let new = match (&mut *handle, name.as_slice()) {
        // relibc's FdTbl::from_binary_fd: dup2(ft, ft, "refresh") then reads the listing.
        (Handle::FileTable { snapshot, pos }, b"refresh") if replace && fd == slot => {
            *snapshot = listing;
            *pos = 0;
            return Ok(slot);
        }
        (Handle::Proc, b"new-thread") => p.threads.new_thread(),
        (Handle::Proc, b"fork") => {
            let pid = *c.next_pid;
            *c.next_pid += 1;
            p.forks.begin(pid)
        }
        (Handle::FileTable { .. }, b"copy") => p.forks.copy_table(&p.table)?,
        (Handle::AddrSpace, b"exclusive") => p.forks.linux_fork(&p.child, c.tid, c.regs)?,
        (Handle::AddrSpace, b"empty") => p.exec.new_space(),
        (Handle::Fork(id, part), name) => {
            fork::dup(*id, *part, name).ok_or(CallError::Unsupported)?
        }
        // relibc's pipe(): open /scheme/pipe for the read end, dup "write" for the other.
        (Handle::PipeRead { write_end, .. }, b"write") => match write_end.take() {
            Some(file) => Handle::Host {
                file,
                reference: None,
                dir: false,
                flags: syscall::O_WRONLY,
            },
            None => return Err(CallError::Errno(err(syscall::EBADF))),
        },
        (Handle::Thread(t), name) => threads::dup_thread(*t, name).ok_or(CallError::Unsupported)?,
        (h, b"") => h.duplicate().map_err(files::from_io)?,
        _ => return Err(CallError::Unsupported),
    };
    if replace {
        Ok(p.table.replace(slot, new))
    } else {
        Ok(p.table.insert_new(slot, new)?)
    }
}

pub fn fstat(p: &Process, fd: usize, addr: usize, len: usize) -> Result<usize> {
    let st = files::stat(p.table.get(fd)?)?;
    let bytes: &[u8] = &st;
    memory::write(&p.child, addr, &bytes[..len.min(bytes.len())])?;
    Ok(0)
}

pub fn fpath(p: &Process, fd: usize, addr: usize, len: usize) -> Result<usize> {
    let path = p.table.get(fd)?.path().ok_or(err(syscall::EBADF))?;
    let n = len.min(path.len());
    memory::write(&p.child, addr, &path.as_bytes()[..n])?;
    Ok(n)
}

pub fn fcntl(p: &mut Process, fd: usize, cmd: usize, arg: usize) -> Result<usize> {
    match cmd {
        syscall::F_DUPFD => {
            let new = p.table.get(fd)?.duplicate().map_err(files::from_io)?;
            let slot = p.table.lowest_free(arg);
            p.table.insert_new(slot, new)
        }
        // Close-on-exec and status flags matter to exec and non-blocking I/O, which rine
        // does not do: remember nothing, refuse nothing.
        syscall::F_GETFD | syscall::F_SETFD | syscall::F_SETFL => p.table.get(fd).map(|_| 0),
        syscall::F_GETFL => match p.table.get(fd)? {
            Handle::Host { flags, .. } => Ok(flags & (syscall::O_ACCMODE | syscall::O_FCNTL_MASK)),
            _ => Ok(syscall::O_RDWR),
        },
        _ => Err(err(syscall::EINVAL)),
    }
}

pub fn unlinkat(p: &Process, fd: usize, path: usize, len: usize, flags: usize) -> Result<usize> {
    let path = read_str(p, path, len)?;
    let dir = match p.table.get(fd)? {
        Handle::Host {
            dir: true,
            reference,
            ..
        } => reference.clone().unwrap_or_default(),
        _ => return Err(err(syscall::EBADF)),
    };
    let host = scheme::host_path(&p.root, &dir, &path);
    let res = if flags & syscall::AT_REMOVEDIR != 0 {
        std::fs::remove_dir(host)
    } else {
        std::fs::remove_file(host)
    };
    res.map(|_| 0).map_err(files::from_io)
}

/// `fmap(fd, map, len)`: of a new space, a window on it (exec); else anonymous memory or a
/// private copy of a host file.
pub fn fmap(c: &mut Caller<'_>, fd: usize, map: usize, len: usize) -> Result<usize> {
    let p = &mut *c.process;
    let bytes = memory::read(&p.child, map, len.min(size_of::<syscall::Map>()))?;
    if bytes.len() != size_of::<syscall::Map>() {
        return Err(err(syscall::EINVAL));
    }
    let field = |i: usize| word(&bytes, i).expect("a whole Map") as usize;
    let map = syscall::Map {
        offset: field(0),
        size: field(1),
        flags: syscall::MapFlags::from_bits_truncate(field(2)),
        address: field(3),
    };
    if let Ok(Handle::NewSpace(id)) = p.table.get(fd) {
        return p.exec.window(&p.child, c.tid, *id, &map, c.regs);
    }
    let handle = if fd == usize::MAX {
        None
    } else {
        Some(p.table.get(fd)?)
    };
    if map.size == 0 {
        return Err(err(syscall::EINVAL));
    }
    // Shared file mappings would need the tracee to hold the host file, which it does not.
    let file = match handle {
        None => None,
        Some(Handle::Host {
            file, dir: false, ..
        }) => {
            if map.flags.contains(syscall::MapFlags::MAP_SHARED) {
                return Err(err(syscall::EOPNOTSUPP));
            }
            Some(file)
        }
        Some(_) => return Err(err(syscall::ENODEV)),
    };
    memory::fmap(&p.child, c.tid, c.regs, file, &map)
}
