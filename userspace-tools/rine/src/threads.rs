//! A process's threads and their futex queue. relibc makes a thread through procmgr and the
//! kernel (redox-rt `thread::rlct_clone_impl`): `dup(proc, "new-thread")`, then on the new
//! thread handle `current-addrspace` (write `[addrspace, sp, ip]`), `current-filetable`, and
//! a write to `start`. rine makes it a Linux thread of the child: a
//! `clone(CLONE_VM|CLONE_THREAD...)` injected into the calling thread, adopted under ptrace
//! (`PTRACE_O_TRACECLONE`) and set to start at `ip` on `sp`. A thread ends by writing
//! `[usize::MAX, stack, size]` to its `status` handle (see the syscall layer's `write`).

use nix::{libc, unistd::Pid};
use syscall::{Error, Result};

use crate::{handles::Handle, linux::Child};

/// One Redox thread of the program, by rine's thread number (the index).
#[derive(Debug, Default)]
struct ThreadSlot {
    /// The Linux thread, once started.
    tid: Option<Pid>,
    /// Where it starts: `(ip, sp)` from its `current-addrspace` write.
    entry: Option<(u64, u64)>,
    gone: bool,
}

/// Linux `clone` flags for a thread sharing everything, as a Redox thread shares its
/// process's address space and file table.
const THREAD_FLAGS: u64 = (libc::CLONE_VM
    | libc::CLONE_FS
    | libc::CLONE_FILES
    | libc::CLONE_SIGHAND
    | libc::CLONE_THREAD
    | libc::CLONE_SYSVSEM) as u64;

fn err(errno: i32) -> Error {
    Error::new(errno)
}

/// The threads of one process, and the ones a stop released for the main loop to resume.
#[derive(Debug)]
pub struct Threads {
    slots: Vec<ThreadSlot>,
    /// Threads waiting on a futex: `(tid, address)`.
    parked: Vec<(Pid, usize)>,
    /// Threads a wake just released, for the main loop to resume with `rax = 0`.
    woken: Vec<Pid>,
    /// Threads just started, for the main loop to resume.
    started: Vec<Pid>,
}

impl Threads {
    /// A process's threads when only `first` runs (thread number 0).
    pub fn only(first: Pid) -> Self {
        Self {
            slots: vec![ThreadSlot {
                tid: Some(first),
                entry: None,
                gone: false,
            }],
            parked: Vec::new(),
            woken: Vec::new(),
            started: Vec::new(),
        }
    }

    /// The live Linux threads (started and not ended).
    pub fn live(&self) -> usize {
        self.slots
            .iter()
            .filter(|t| t.tid.is_some() && !t.gone)
            .count()
    }

    /// The thread number of Linux thread `tid`.
    pub fn number_of(&self, tid: Pid) -> Option<usize> {
        self.slots.iter().position(|t| t.tid == Some(tid))
    }

    /// exec: `tid` is the one thread that goes on (relibc does not exec with others running).
    pub fn keep_only(&mut self, tid: Pid) {
        self.slots = Self::only(tid).slots;
    }

    /// Linux thread `tid` has ended.
    pub fn gone(&mut self, tid: Pid) {
        if let Some(t) = self.slots.iter_mut().find(|t| t.tid == Some(tid)) {
            t.gone = true;
        }
    }

    /// `dup(proc, "new-thread")`: a thread number, nothing on Linux yet.
    pub fn new_thread(&mut self) -> Handle {
        self.slots.push(ThreadSlot::default());
        Handle::Thread(self.slots.len() - 1)
    }

    /// Thread `t`'s `current-addrspace` write: it will start at `ip` on `sp`.
    pub fn set_entry(&mut self, t: usize, ip: u64, sp: u64) -> Result<()> {
        let slot = self.slots.get_mut(t).ok_or(err(syscall::EBADF))?;
        slot.entry = Some((ip, sp));
        Ok(())
    }

    /// `start` of thread `t`: a Linux thread cloned from the caller, thread `tid` of `child`
    /// at a stop with registers `regs`.
    pub fn start(
        &mut self,
        child: &Child,
        tid: Pid,
        t: usize,
        regs: &libc::user_regs_struct,
    ) -> Result<()> {
        let (ip, sp) = match self.slots.get(t) {
            Some(ThreadSlot {
                tid: None,
                entry: Some(e),
                ..
            }) => *e,
            Some(_) => return Err(err(syscall::EINVAL)),
            None => return Err(err(syscall::EBADF)),
        };
        let (ret, new) = child
            .linux_clone(tid, regs, [THREAD_FLAGS, sp, 0, 0, 0, 0])
            .map_err(|e| {
                eprintln!("rine: starting a thread: {e}");
                err(syscall::EIO)
            })?;
        if ret < 0 {
            return Err(err(-ret as i32));
        }
        let Some(new) = new else {
            eprintln!("rine: starting a thread: clone made no thread");
            return Err(err(syscall::EIO));
        };
        child.adopt_thread(new, regs, ip, sp).map_err(|e| {
            eprintln!("rine: starting a thread: {e}");
            err(syscall::EIO)
        })?;
        if let Some(slot) = self.slots.get_mut(t) {
            slot.tid = Some(new);
        }
        self.started.push(new);
        Ok(())
    }

    /// Thread `tid` waits on the futex at `addr` until a wake.
    pub fn park(&mut self, tid: Pid, addr: usize) {
        self.parked.push((tid, addr));
    }

    /// Wakes up to `count` threads parked on `addr`; returns how many.
    pub fn wake(&mut self, addr: usize, count: usize) -> usize {
        let mut woken = 0;
        while woken < count {
            let Some(i) = self.parked.iter().position(|p| p.1 == addr) else {
                break;
            };
            let (tid, _) = self.parked.remove(i);
            self.woken.push(tid);
            woken += 1;
        }
        woken
    }

    /// Moves the threads parked on `from` to wait on `to`.
    pub fn requeue(&mut self, from: usize, to: usize) {
        for p in self.parked.iter_mut().filter(|p| p.1 == from) {
            p.1 = to;
        }
    }

    /// The threads woken since the last call.
    pub fn take_woken(&mut self) -> Vec<Pid> {
        std::mem::take(&mut self.woken)
    }

    /// The threads started since the last call.
    pub fn take_started(&mut self) -> Vec<Pid> {
        std::mem::take(&mut self.started)
    }
}

/// `dup(thread t, name)`, for the names a thread handle has; `None` for others.
pub fn dup_thread(t: usize, name: &[u8]) -> Option<Handle> {
    Some(match name {
        b"regs/env" => Handle::RegsEnv(t),
        b"sighandler" => Handle::SigHandler,
        b"filetable" | b"filetable-binary" => Handle::FileTable {
            snapshot: Vec::new(),
            pos: 0,
        },
        b"addrspace" => Handle::AddrSpace,
        b"current-addrspace" => Handle::AddrSpaceSel(t),
        b"current-filetable" => Handle::FileTableSel,
        b"start" => Handle::Start(t),
        b"status" => Handle::Status(t),
        _ => return None,
    })
}
