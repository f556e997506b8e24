//! One Redox syscall, carried out: the dispatch from `SYS_*` number to what rine does.

use std::{cell::Cell, path::PathBuf, rc::Rc, time::Duration};

use nix::libc::{self, user_regs_struct};
use redox_ptrace::decode::{DecodeOptions, PendingCall};
use syscall::{number::*, Error, Result};

use crate::{
    abi::{self, CallError, Waitpid},
    call::CallResult,
    files,
    fork::PendingFork,
    handles::{Handle, Table},
    linux::Child,
    memory, scheme,
    strace::ChildMemory,
    threads::{ThreadSlot, Wait},
};
use nix::unistd::Pid;

/// Largest byte count moved per `read`/`write`: a bigger call returns short, as POSIX allows.
const IO_CHUNK: usize = 1 << 20;

/// What the program's syscall comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Write this into `rax` (a value, or `-errno`) and go on.
    Return(usize),
    /// The thread waits on the futex at this address; it is resumed by a wake.
    Park(usize),
    /// The thread ended (its `status` handle was written).
    ThreadExit,
    /// The program exited with this Redox status (`code`, or `signal << 8`).
    Exit(u64),
    /// procmgr's `Waitpid`: the main loop answers it from the children's exits, or parks
    /// the thread until one exits.
    Wait(Waitpid),
    /// exec replaced the program's memory: it resumes with these registers.
    Replaced(Box<user_regs_struct>),
    /// A read that would block on the host: the thread waits, stopped, while the others
    /// (and other processes) run, and the main loop retries it.
    BlockedRead,
}

/// The Redox side of the child: its handles, and where its `file` scheme lives.
pub struct Machine {
    pub child: Child,
    pub table: Table,
    pub root: PathBuf,
    /// The process's pid as the program sees it (`ProcMeta`): the Linux pid for the first
    /// process, then numbers rine hands out at each fork (from `pids`).
    pub pid: u32,
    /// The parent's pid: the tracer's own for the first process.
    pub parent: u32,
    /// The next pid a fork gets, shared by all processes.
    pub pids: Rc<Cell<u32>>,
    /// Children between `dup(proc, "fork")` and `start`.
    pub forks: Vec<PendingFork>,
    /// Children `start` released, for the main loop to take.
    pub spawned: Vec<Machine>,
    /// Address spaces `fexec` builds (`dup(addrspace, "empty")`).
    pub spaces: Vec<crate::exec::NewSpace>,
    /// The current thread's read would block (see `Outcome::BlockedRead`).
    pub would_block: bool,
    /// exec's `[space, sp, ip]` written to `current-addrspace`: `(space number, ip, sp)`,
    /// carried out when that handle is closed.
    pub exec_pending: Option<(usize, u64, u64)>,
    /// The program's threads by rine's thread number; 0 is the first.
    pub threads: Vec<ThreadSlot>,
    /// Threads waiting on a futex: `(tid, address)`.
    pub parked: Vec<(Pid, usize)>,
    /// Threads a wake just released, for the main loop to resume with `rax = 0`.
    pub woken: Vec<Pid>,
    /// Threads just started, for the main loop to resume.
    pub started: Vec<Pid>,
    /// The current thread wrote its `status`: it ends instead of returning.
    pub ending: bool,
}

fn err(errno: i32) -> Error {
    Error::new(errno)
}

/// The one line an unsupported call gets, with the call decoded as strace prints it.
pub fn unsupported(child: &Child, number: usize, args: [usize; 6]) -> Error {
    let call = PendingCall::enter(number, args, &ChildMemory(child), &DecodeOptions::default());
    eprintln!("rine: unsupported syscall {})", call.entry_text());
    err(syscall::ENOSYS)
}

impl Machine {
    /// A process with one handle table and no threads recorded yet.
    pub fn new(child: Child, table: Table, root: PathBuf, pids: Rc<Cell<u32>>) -> Self {
        let pid = child.pid.as_raw() as u32;
        Self {
            child,
            table,
            root,
            pid,
            parent: std::process::id(),
            pids,
            forks: Vec::new(),
            spawned: Vec::new(),
            spaces: Vec::new(),
            would_block: false,
            exec_pending: None,
            threads: Vec::new(),
            parked: Vec::new(),
            woken: Vec::new(),
            started: Vec::new(),
            ending: false,
        }
    }

    pub(crate) fn read_mem(&self, addr: usize, len: usize) -> Result<Vec<u8>> {
        memory::read(&self.child, addr, len)
    }

    pub(crate) fn write_mem(&self, addr: usize, bytes: &[u8]) -> Result<()> {
        memory::write(&self.child, addr, bytes)
    }

    fn read_str(&self, addr: usize, len: usize) -> Result<String> {
        String::from_utf8(self.read_mem(addr, len)?).map_err(|_| err(syscall::EINVAL))
    }

    /// Carries out thread `tid`'s syscall `number` with `args`; `regs` are the registers at
    /// the stop, and `out` the ones the program resumes with (a `regs/env` write changes
    /// fs/gs base there).
    pub fn syscall(
        &mut self,
        tid: Pid,
        number: usize,
        args: [usize; 6],
        regs: &user_regs_struct,
        out: &mut user_regs_struct,
    ) -> Outcome {
        let [a, b, c, d, e, _f] = args;
        let result = match number {
            SYS_WRITE => self.write(tid, a, b, c, regs, out),
            SYS_READ => self.read(tid, a, b, c),
            SYS_READ2 => self.pread(a, b, c, d as u64),
            SYS_WRITE2 => self.pwrite(a, b, c, d as u64),
            SYS_OPENAT_INTO => self.openat_into(a, b, c, d, args[5]),
            SYS_DUP_INTO | SYS_DUP2 => {
                let res = if number == SYS_DUP2 {
                    self.dup_into(tid, a, c, d, b, true, regs)
                } else {
                    self.dup_into(tid, a, b, c, d, false, regs)
                };
                match res {
                    Ok(v) => Ok(v),
                    Err(CallError::Errno(e)) => Err(e),
                    Err(CallError::Unsupported) => Err(unsupported(&self.child, number, args)),
                }
            }
            SYS_CLOSE => match self.table.remove(a) {
                // Closing exec's `current-addrspace` switches to the new image.
                Ok(Handle::AddrSpaceSel(_)) if self.exec_pending.is_some() => {
                    let (id, ip, sp) = self.exec_pending.take().expect("checked");
                    return match self.exec_switch(tid, id, ip, sp, regs) {
                        Ok(r) => Outcome::Replaced(Box::new(r)),
                        Err(e) => {
                            // The old image may be partly gone: the process cannot go on.
                            eprintln!("rine: exec: {e}");
                            Outcome::Exit((libc::SIGKILL as u64) << 8)
                        }
                    };
                }
                r => r.map(|_| 0),
            },
            SYS_LSEEK => self
                .table
                .get_mut(a)
                .and_then(|h| files::lseek(h, b as isize, c)),
            SYS_FSTAT => self.fstat(a, b, c),
            SYS_FPATH => self.fpath(a, b, c),
            SYS_FSYNC => match self.table.get(a) {
                Ok(Handle::Host { file, .. }) => file.sync_all().map(|_| 0).map_err(files::from_io),
                Ok(_) => Ok(0),
                Err(e) => Err(e),
            },
            SYS_FCNTL => self.fcntl(a, b, c),
            SYS_UNLINKAT => self.unlinkat(a, b, c, d),
            SYS_FMAP => self.fmap(tid, a, b, c, regs),
            SYS_FUNMAP => {
                // A window on a new address space hands its bytes back first.
                self.exec_flush_window(a as u64);
                memory::funmap(&self.child, tid, regs, a, b)
            }
            SYS_MPROTECT => memory::mprotect(&self.child, tid, regs, a, b, c),
            SYS_CLOCK_GETTIME => files::clock_bytes(a)
                .and_then(|ts| self.write_mem(b, &ts))
                .map(|_| 0),
            SYS_YIELD => {
                std::thread::yield_now();
                Ok(0)
            }
            SYS_NANOSLEEP => self.nanosleep(a, b),
            SYS_FUTEX => match self.futex(number, args) {
                Wait::Now(r) => r,
                Wait::Park(addr) => return Outcome::Park(addr),
            },
            SYS_CALL => match self.call(a, b, c, d, e) {
                Ok(CallResult::Exit(status)) => return Outcome::Exit(status),
                Ok(CallResult::Wait(w)) => return Outcome::Wait(w),
                Ok(CallResult::Value(v)) => Ok(v),
                Err(CallError::Errno(e)) => Err(e),
                Err(CallError::Unsupported) => Err(unsupported(&self.child, number, args)),
            },
            _ => Err(unsupported(&self.child, number, args)),
        };
        if std::mem::take(&mut self.ending) {
            return Outcome::ThreadExit;
        }
        if std::mem::take(&mut self.would_block) {
            return Outcome::BlockedRead;
        }
        Outcome::Return(Error::mux(result))
    }

    fn write(
        &mut self,
        tid: Pid,
        fd: usize,
        addr: usize,
        len: usize,
        regs: &user_regs_struct,
        out: &mut user_regs_struct,
    ) -> Result<usize> {
        let bytes = self.read_mem(addr, len.min(IO_CHUNK))?;
        let control = self.table.get(fd)?.duplicate().map_err(files::from_io)?;
        // exec's `[space, sp, ip]` on its own thread: switched to when the handle closes.
        if let (Handle::AddrSpaceSel(_), Some(space)) = (&control, bytes.get(..8)) {
            let space = u64::from_le_bytes(space.try_into().expect("8 bytes")) as usize;
            if let (Ok(Handle::NewSpace(id)), Some(sp), Some(ip)) =
                (self.table.get(space), bytes.get(8..16), bytes.get(16..24))
            {
                let sp = u64::from_le_bytes(sp.try_into().expect("8 bytes"));
                let ip = u64::from_le_bytes(ip.try_into().expect("8 bytes"));
                self.exec_pending = Some((*id, ip, sp));
                return Ok(bytes.len());
            }
        }
        if let Some(result) = self.thread_write(tid, &control, &bytes, regs) {
            return result;
        }
        match control {
            Handle::Fork(id, part) => return self.fork_write(id, part, &bytes, regs),
            Handle::NewSpace(id) => return self.exec_space_write(id, &bytes, regs),
            _ => {}
        }
        let current = self.thread_of(tid);
        let handle = self.table.get_mut(fd)?;
        if let Handle::RegsEnv(t) = handle {
            // Only a thread's own fs/gs base: the others are running.
            if Some(*t) != current {
                return Err(err(syscall::EBUSY));
            }
            // EnvRegisters { fsbase: u64, gsbase: u64 }: relibc's TLS setup.
            let word = |i: usize| {
                bytes
                    .get(i * 8..i * 8 + 8)
                    .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
            };
            let (Some(fs), Some(gs)) = (word(0), word(1)) else {
                return Err(err(syscall::EINVAL));
            };
            out.fs_base = fs;
            out.gs_base = gs;
            return Ok(16);
        }
        files::write(handle, &bytes)
    }

    fn read(&mut self, tid: Pid, fd: usize, addr: usize, len: usize) -> Result<usize> {
        let mut buf = vec![0; len.min(IO_CHUNK)];
        let meta = abi::proc_meta(self.pid, self.parent);
        let n = match self.table.get_mut(fd)? {
            Handle::Fork(id, crate::handles::ForkPart::Proc) => {
                let id = *id;
                let meta = self.fork_meta(id)?;
                files::copy_prefix(&mut buf, &meta)
            }
            // The grant list: rine's programs have no scheme-shared grants to carry over.
            Handle::AddrSpace => 0,
            h if files::would_block(h) => {
                self.would_block = true;
                return Ok(0);
            }
            Handle::RegsEnv(_) => {
                let regs = self.child.regs(tid).map_err(|_| err(syscall::ESRCH))?;
                let mut env = regs.fs_base.to_le_bytes().to_vec();
                env.extend(regs.gs_base.to_le_bytes());
                files::copy_prefix(&mut buf, &env)
            }
            h => files::read(h, &mut buf, &meta)?,
        };
        self.write_mem(addr, &buf[..n])?;
        Ok(n)
    }

    fn pread(&mut self, fd: usize, addr: usize, len: usize, offset: u64) -> Result<usize> {
        let mut buf = vec![0; len.min(IO_CHUNK)];
        let n = files::pread(self.table.get(fd)?, &mut buf, offset)?;
        self.write_mem(addr, &buf[..n])?;
        Ok(n)
    }

    fn pwrite(&mut self, fd: usize, addr: usize, len: usize, offset: u64) -> Result<usize> {
        let bytes = self.read_mem(addr, len.min(IO_CHUNK))?;
        files::pwrite(self.table.get(fd)?, &bytes, offset)
    }

    fn openat_into(
        &mut self,
        fd: usize,
        path: usize,
        len: usize,
        flags: usize,
        slot: usize,
    ) -> Result<usize> {
        let path = self.read_str(path, len)?;
        let handle = match self.table.get(fd)? {
            // The namespace resolves the scheme; relibc opens the rest on the root it returns.
            Handle::Namespace => {
                let name = scheme::scheme_of(&path).ok_or(err(syscall::EINVAL))?;
                if name == "file" {
                    files::open_host(&self.root, "", "", syscall::O_RDONLY | syscall::O_DIRECTORY)?
                } else {
                    Handle::SchemeRoot(name.to_string())
                }
            }
            Handle::SchemeRoot(name) => files::open_in_scheme(&self.root, name, &path, flags)?,
            Handle::Host {
                dir: true,
                reference,
                ..
            } => {
                let dir = reference.clone().unwrap_or_default();
                files::open_host(&self.root, &dir, &path, flags)?
            }
            Handle::Host { .. } => return Err(err(syscall::ENOTDIR)),
            _ => return Err(err(syscall::EBADF)),
        };
        self.table.insert_new(slot, handle)
    }

    /// `dup_into(fd, name, slot)`, or with `replace` `dup2(fd, slot, name)`.
    #[allow(clippy::too_many_arguments)]
    fn dup_into(
        &mut self,
        tid: Pid,
        fd: usize,
        name: usize,
        len: usize,
        slot: usize,
        replace: bool,
        regs: &user_regs_struct,
    ) -> std::result::Result<usize, CallError> {
        let name = self.read_mem(name, len)?;
        let listing = self.table.listing();
        let handle = self.table.get_mut(fd)?;
        let new = match (&mut *handle, name.as_slice()) {
            // relibc's FdTbl::from_binary_fd: dup2(ft, ft, "refresh") then reads the listing.
            (Handle::FileTable { snapshot, pos }, b"refresh") if replace && fd == slot => {
                *snapshot = listing;
                *pos = 0;
                return Ok(slot);
            }
            (Handle::Proc, b"new-thread") => self.new_thread(),
            (Handle::Proc, b"fork") => self.fork_begin(),
            (Handle::FileTable { .. }, b"copy") => self.fork_copy_table()?,
            (Handle::AddrSpace, b"exclusive") => self.fork_linux(tid, regs)?,
            (Handle::AddrSpace, b"empty") => self.exec_new_space(),
            (Handle::Fork(id, part), name) => {
                let (id, part) = (*id, *part);
                self.fork_dup(id, part, name)
                    .ok_or(CallError::Unsupported)?
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
            (Handle::Thread(t), name) => {
                let t = *t;
                self.dup_thread(t, name).ok_or(CallError::Unsupported)?
            }
            (h, b"") => h.duplicate().map_err(files::from_io)?,
            _ => return Err(CallError::Unsupported),
        };
        if replace {
            Ok(self.table.replace(slot, new))
        } else {
            Ok(self.table.insert_new(slot, new)?)
        }
    }

    fn fstat(&mut self, fd: usize, addr: usize, len: usize) -> Result<usize> {
        let st = files::stat(self.table.get(fd)?)?;
        let bytes: &[u8] = &st;
        self.write_mem(addr, &bytes[..len.min(bytes.len())])?;
        Ok(0)
    }

    fn fpath(&mut self, fd: usize, addr: usize, len: usize) -> Result<usize> {
        let path = self.table.get(fd)?.path().ok_or(err(syscall::EBADF))?;
        let n = len.min(path.len());
        self.write_mem(addr, &path.as_bytes()[..n])?;
        Ok(n)
    }

    fn fcntl(&mut self, fd: usize, cmd: usize, arg: usize) -> Result<usize> {
        match cmd {
            syscall::F_DUPFD => {
                let new = self.table.get(fd)?.duplicate().map_err(files::from_io)?;
                let slot = self.table.lowest_free(arg);
                self.table.insert_new(slot, new)
            }
            // Close-on-exec and status flags matter to exec and non-blocking I/O, which rine
            // does not do: remember nothing, refuse nothing.
            syscall::F_GETFD | syscall::F_SETFD | syscall::F_SETFL => self.table.get(fd).map(|_| 0),
            syscall::F_GETFL => match self.table.get(fd)? {
                Handle::Host { flags, .. } => {
                    Ok(flags & (syscall::O_ACCMODE | syscall::O_FCNTL_MASK))
                }
                _ => Ok(syscall::O_RDWR),
            },
            _ => Err(err(syscall::EINVAL)),
        }
    }

    fn unlinkat(&mut self, fd: usize, path: usize, len: usize, flags: usize) -> Result<usize> {
        let path = self.read_str(path, len)?;
        let dir = match self.table.get(fd)? {
            Handle::Host {
                dir: true,
                reference,
                ..
            } => reference.clone().unwrap_or_default(),
            _ => return Err(err(syscall::EBADF)),
        };
        let host = scheme::host_path(&self.root, &dir, &path);
        let res = if flags & syscall::AT_REMOVEDIR != 0 {
            std::fs::remove_dir(host)
        } else {
            std::fs::remove_file(host)
        };
        res.map(|_| 0).map_err(files::from_io)
    }

    fn fmap(
        &mut self,
        tid: Pid,
        fd: usize,
        map: usize,
        len: usize,
        regs: &user_regs_struct,
    ) -> Result<usize> {
        let bytes = self.read_mem(map, len.min(size_of::<syscall::Map>()))?;
        if bytes.len() != size_of::<syscall::Map>() {
            return Err(err(syscall::EINVAL));
        }
        let word =
            |i: usize| usize::from_le_bytes(bytes[i * 8..i * 8 + 8].try_into().expect("8 bytes"));
        let map = syscall::Map {
            offset: word(0),
            size: word(1),
            flags: syscall::MapFlags::from_bits_truncate(word(2)),
            address: word(3),
        };
        if let Ok(Handle::NewSpace(id)) = self.table.get(fd) {
            let id = *id;
            return self.exec_window(tid, id, &map, regs);
        }
        let handle = if fd == usize::MAX {
            None
        } else {
            Some(self.table.get(fd)?)
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
        memory::fmap(&self.child, tid, regs, file, &map)
    }

    pub fn nanosleep(&mut self, req: usize, rem: usize) -> Result<usize> {
        let ts = self.read_mem(req, 16)?;
        let secs = i64::from_le_bytes(ts[..8].try_into().expect("8 bytes"));
        let nanos = i32::from_le_bytes(ts[8..12].try_into().expect("4 bytes"));
        if secs < 0 || !(0..1_000_000_000).contains(&nanos) {
            return Err(err(syscall::EINVAL));
        }
        std::thread::sleep(Duration::new(secs as u64, nanos as u32));
        if rem != 0 {
            self.write_mem(rem, &[0; 16])?;
        }
        Ok(0)
    }
}
