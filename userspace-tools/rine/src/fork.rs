//! fork, in relibc's order (redox-rt `proc::fork_inner`): `dup(proc, "fork")` (the child's
//! process handle; its `thread-0`, whose `read` gives the child's pid), `dup(filetable,
//! "copy")` (the child's handle table), `dup(addrspace, "exclusive")` (a copy-on-write copy
//! of the caller's memory), the new thread's `current-addrspace` (`[space, sp, ip, arg1]`),
//! `sighandler`, `regs/env`, `current-filetable`, the file table sent into itself, and a
//! write to `start`.
//!
//! rine makes the child a Linux process at `exclusive`: it injects a Linux fork into the
//! calling thread, so the child's memory is the parent's at that moment, as the Redox copy
//! is. The new process is traced from birth (`PTRACE_O_TRACEFORK`) and stays stopped until
//! `start`, which gives it the registers relibc asked for; the parent's `Process` then
//! makes it a process of its own with the copied table.

use nix::{libc, unistd::Pid};
use syscall::{Error, Result};

use crate::{
    abi::{self, CallError},
    files,
    handles::{ForkPart, Handle, Table},
    linux::Child,
};

/// A child between `dup(proc, "fork")` and `start`.
#[derive(Debug, Default)]
struct PendingFork {
    /// The pid rine gives it (`ProcMeta`, `waitpid`).
    pid: u32,
    table: Option<Table>,
    /// The Linux process, once `exclusive` made it.
    linux: Option<Pid>,
    /// `[sp, ip, arg1]` from its `current-addrspace` write.
    entry: Option<[u64; 3]>,
    /// fs and gs base from its `regs/env` write.
    env: (u64, u64),
    started: bool,
}

/// A child `start` released: its Linux process, running at the registers relibc asked for.
pub struct Started {
    pub child: Child,
    pub table: Table,
    pub pid: u32,
}

fn err(errno: i32) -> Error {
    Error::new(errno)
}

fn words(bytes: &[u8]) -> Vec<u64> {
    bytes
        .chunks_exact(8)
        .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
        .collect()
}

/// The children a process is forking, by rine's fork number.
#[derive(Debug, Default)]
pub struct Forks {
    list: Vec<PendingFork>,
}

impl Forks {
    /// `dup(proc, "fork")`: a new child with pid `pid`, no Linux process yet.
    pub fn begin(&mut self, pid: u32) -> Handle {
        self.list.push(PendingFork {
            pid,
            ..PendingFork::default()
        });
        Handle::Fork(self.list.len() - 1, ForkPart::Proc)
    }

    /// The fork a `copy` or `exclusive` belongs to: the newest one not started (relibc
    /// forks one child at a time per thread).
    fn current(&self) -> std::result::Result<usize, CallError> {
        self.list
            .iter()
            .rposition(|f| !f.started)
            .ok_or(CallError::Unsupported)
    }

    /// `dup(filetable, "copy")`: the child's table, a copy of the caller's `table` now.
    /// Handles to the child itself become its own process and thread handle; the caller's
    /// process and thread handles become stale ones, which the child closes.
    pub fn copy_table(&mut self, table: &Table) -> std::result::Result<Handle, CallError> {
        let id = self.current()?;
        let mut copy = Table::default();
        for (&fd, handle) in table.iter() {
            let h = match handle {
                Handle::Fork(f, ForkPart::Proc) if *f == id => Handle::Proc,
                Handle::Fork(f, ForkPart::Thread) if *f == id => Handle::Thread(0),
                Handle::Fork(..)
                | Handle::Proc
                | Handle::Thread(_)
                | Handle::RegsEnv(_)
                | Handle::AddrSpace
                | Handle::AddrSpaceSel(_)
                | Handle::FileTableSel
                | Handle::Start(_)
                | Handle::Status(_)
                | Handle::NewSpace(_)
                | Handle::Stale => Handle::Stale,
                h => h.duplicate().map_err(files::from_io)?,
            };
            copy.replace(fd, h);
        }
        self.list[id].table = Some(copy);
        Ok(Handle::Fork(id, ForkPart::FileTable))
    }

    /// `dup(addrspace, "exclusive")`: the Linux `fork`, injected into thread `tid` of
    /// `child`, at a stop with registers `regs`.
    pub fn linux_fork(
        &mut self,
        child: &Child,
        tid: Pid,
        regs: &libc::user_regs_struct,
    ) -> std::result::Result<Handle, CallError> {
        let id = self.current()?;
        let ret = child
            // CLONE_PARENT makes the process rine's child, not the caller's: the caller gets
            // no Linux SIGCHLD (Redox's comes from procmgr, and rine sends none), and rine
            // reaps it.
            .linux_syscall(
                tid,
                regs,
                libc::SYS_clone,
                [(libc::CLONE_PARENT | libc::SIGCHLD) as u64, 0, 0, 0, 0, 0],
            )
            .map_err(|e| {
                eprintln!("rine: forking: {e}");
                err(syscall::EIO)
            })?;
        if ret < 0 {
            return Err(CallError::Errno(err(-ret as i32)));
        }
        let pid = Pid::from_raw(ret as i32);
        // The child starts traced, with a SIGSTOP of its own to take before it is touched.
        Child::wait_new_process(pid).map_err(|e| {
            eprintln!("rine: forking: {e}");
            err(syscall::EIO)
        })?;
        self.list[id].linux = Some(pid);
        Ok(Handle::Fork(id, ForkPart::AddrSpace))
    }

    /// `read` of child `id`'s process handle: its `ProcMeta`, with `parent` its parent's pid.
    pub fn meta(&self, id: usize, parent: u32) -> Result<Vec<u8>> {
        let f = self.list.get(id).ok_or(err(syscall::EBADF))?;
        Ok(abi::proc_meta(f.pid, parent))
    }

    /// `write` to a part of child `id` but its `start`.
    pub fn write(&mut self, id: usize, part: ForkPart, bytes: &[u8]) -> Result<usize> {
        let w = words(bytes);
        let fork = self.list.get_mut(id).ok_or(err(syscall::EBADF))?;
        match (part, w.as_slice()) {
            // [space, sp, ip, arg1]: relibc's create_set_addr_space_buf_for_fork.
            (ForkPart::AddrSpaceSel, [_space, sp, ip, arg1]) => {
                fork.entry = Some([*sp, *ip, *arg1])
            }
            (ForkPart::RegsEnv, [fs, gs]) => fork.env = (*fs, *gs),
            _ => return Err(err(syscall::EINVAL)),
        }
        Ok(bytes.len())
    }

    /// The file table sent into itself (`call(new_ft, [fd], FD|FD_CLONE, [slot])`): the
    /// child's table gets a handle to itself at `slot`.
    pub fn send_table(&mut self, id: usize, slot: usize) -> Result<usize> {
        let fork = self.list.get_mut(id).ok_or(err(syscall::EBADF))?;
        let table = fork.table.as_mut().ok_or(err(syscall::EBADF))?;
        table.replace(
            slot,
            Handle::FileTable {
                snapshot: Vec::new(),
                pos: 0,
            },
        );
        Ok(0)
    }

    /// `start`: gives the stopped Linux child its registers (`like` gives the segment
    /// registers and flags); `host` is the mappings it inherited from rine.
    pub fn start(
        &mut self,
        id: usize,
        host: &[(u64, u64)],
        like: &libc::user_regs_struct,
    ) -> Result<Started> {
        let fork = self.list.get_mut(id).ok_or(err(syscall::EBADF))?;
        let (Some(pid), Some([sp, ip, arg1]), Some(table)) =
            (fork.linux, fork.entry, fork.table.take())
        else {
            return Err(err(syscall::EINVAL));
        };
        fork.started = true;
        let (fs, gs) = fork.env;
        let child = Child::adopt_process(pid, host.to_vec()).map_err(|e| {
            eprintln!("rine: starting the forked child: {e}");
            err(syscall::EIO)
        })?;
        // The new context starts at relibc's fork_ret with the scratchpad in rsi; every other
        // register is clean, as the kernel's new context is.
        child
            .start_at(like, ip, sp, |r| {
                r.rsi = arg1;
                r.fs_base = fs;
                r.gs_base = gs;
            })
            .map_err(|e| {
                eprintln!("rine: starting the forked child: {e}");
                err(syscall::EIO)
            })?;
        Ok(Started {
            child,
            table,
            pid: fork.pid,
        })
    }

    /// exec: the pending forks are gone with the old image.
    pub fn clear(&mut self) {
        self.list.clear();
    }
}

/// `dup` on a part of child `id` being forked.
pub fn dup(id: usize, part: ForkPart, name: &[u8]) -> Option<Handle> {
    Some(match (part, name) {
        (ForkPart::Proc, b"thread-0") => Handle::Fork(id, ForkPart::Thread),
        (ForkPart::Thread, b"current-addrspace") => Handle::Fork(id, ForkPart::AddrSpaceSel),
        (ForkPart::Thread, b"regs/env") => Handle::Fork(id, ForkPart::RegsEnv),
        (ForkPart::Thread, b"start") => Handle::Fork(id, ForkPart::Start),
        (ForkPart::Thread, b"sighandler") => Handle::SigHandler,
        (ForkPart::Thread, b"current-filetable") => Handle::FileTableSel,
        (p, b"") => Handle::Fork(id, p),
        _ => return None,
    })
}
