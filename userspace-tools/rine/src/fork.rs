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
//! `start`, which gives it the registers relibc asked for and hands it to the main loop as a
//! `Machine` of its own with the copied table.

use nix::{libc, unistd::Pid};
use syscall::{Error, Result};

use crate::{
    abi::CallError,
    handles::{ForkPart, Handle, Table},
    linux::Child,
    sys::Machine,
    threads::ThreadSlot,
};

/// A child between `dup(proc, "fork")` and `start`.
#[derive(Debug, Default)]
pub struct PendingFork {
    /// The pid rine gives it (`ProcMeta`, `waitpid`).
    pub pid: u32,
    pub table: Option<Table>,
    /// The Linux process, once `exclusive` made it.
    pub linux: Option<Pid>,
    /// `[sp, ip, arg1]` from its `current-addrspace` write.
    pub entry: Option<[u64; 3]>,
    /// fs and gs base from its `regs/env` write.
    pub env: (u64, u64),
    pub started: bool,
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

impl Machine {
    /// `dup(proc, "fork")`: a new child, no Linux process yet.
    pub fn fork_begin(&mut self) -> Handle {
        let pid = self.pids.get();
        self.pids.set(pid + 1);
        self.forks.push(PendingFork {
            pid,
            ..PendingFork::default()
        });
        Handle::Fork(self.forks.len() - 1, ForkPart::Proc)
    }

    /// The fork a `copy` or `exclusive` belongs to: the newest one not started (relibc
    /// forks one child at a time per thread).
    fn current_fork(&self) -> std::result::Result<usize, CallError> {
        self.forks
            .iter()
            .rposition(|f| !f.started)
            .ok_or(CallError::Unsupported)
    }

    /// `dup(filetable, "copy")`: the child's table, a copy of the caller's now. Handles to
    /// the child itself become its own process and thread handle; the caller's process and
    /// thread handles become stale ones, which the child closes.
    pub(crate) fn fork_copy_table(&mut self) -> std::result::Result<Handle, CallError> {
        let id = self.current_fork()?;
        let mut table = Table::default();
        for (&fd, handle) in self.table.iter() {
            let copy = match handle {
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
                h => h.duplicate().map_err(crate::files::from_io)?,
            };
            table.replace(fd, copy);
        }
        self.forks[id].table = Some(table);
        Ok(Handle::Fork(id, ForkPart::FileTable))
    }

    /// `dup(addrspace, "exclusive")`: the Linux `fork`, injected into the calling thread.
    pub(crate) fn fork_linux(
        &mut self,
        tid: Pid,
        regs: &libc::user_regs_struct,
    ) -> std::result::Result<Handle, CallError> {
        let id = self.current_fork()?;
        let ret = self
            .child
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
        self.forks[id].linux = Some(pid);
        Ok(Handle::Fork(id, ForkPart::AddrSpace))
    }

    /// `dup` on a part of a child being forked.
    pub fn fork_dup(&mut self, id: usize, part: ForkPart, name: &[u8]) -> Option<Handle> {
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

    /// `read` of the child's process handle: its `ProcMeta`.
    pub fn fork_meta(&self, id: usize) -> Result<Vec<u8>> {
        let f = self.forks.get(id).ok_or(err(syscall::EBADF))?;
        Ok(crate::abi::proc_meta(f.pid, self.pid))
    }

    /// `write` to a part of a child being forked.
    pub fn fork_write(
        &mut self,
        id: usize,
        part: ForkPart,
        bytes: &[u8],
        regs: &libc::user_regs_struct,
    ) -> Result<usize> {
        let w = words(bytes);
        let fork = self.forks.get_mut(id).ok_or(err(syscall::EBADF))?;
        match (part, w.as_slice()) {
            // [space, sp, ip, arg1]: relibc's create_set_addr_space_buf_for_fork.
            (ForkPart::AddrSpaceSel, [_space, sp, ip, arg1]) => {
                fork.entry = Some([*sp, *ip, *arg1])
            }
            (ForkPart::RegsEnv, [fs, gs]) => fork.env = (*fs, *gs),
            (ForkPart::Start, _) => self.fork_start(id, regs)?,
            _ => return Err(err(syscall::EINVAL)),
        }
        Ok(bytes.len())
    }

    /// The file table sent into itself (`call(new_ft, [fd], FD|FD_CLONE, [slot])`): the
    /// child's table gets a handle to itself at `slot`.
    pub fn fork_send_table(&mut self, id: usize, slot: usize) -> Result<usize> {
        let fork = self.forks.get_mut(id).ok_or(err(syscall::EBADF))?;
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

    /// `start`: give the stopped Linux child its registers and hand it to the main loop.
    fn fork_start(&mut self, id: usize, like: &libc::user_regs_struct) -> Result<()> {
        let fork = self.forks.get_mut(id).ok_or(err(syscall::EBADF))?;
        let (Some(pid), Some([sp, ip, arg1]), Some(table)) =
            (fork.linux, fork.entry, fork.table.take())
        else {
            return Err(err(syscall::EINVAL));
        };
        fork.started = true;
        let (fs, gs) = fork.env;
        let child_pid = fork.pid;
        let child = Child::adopt_process(pid, self.child.host.clone()).map_err(|e| {
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
        let mut machine = Machine::new(child, table, self.root.clone(), self.pids.clone());
        machine.pid = child_pid;
        machine.parent = self.pid;
        machine.threads.push(ThreadSlot {
            tid: Some(pid),
            entry: None,
            gone: false,
        });
        self.spawned.push(machine);
        Ok(())
    }
}
