//! Threads and futexes. relibc makes a thread through procmgr and the kernel
//! (redox-rt `thread::rlct_clone_impl`): `dup(proc, "new-thread")`, then on the new thread
//! handle `current-addrspace` (write `[addrspace, sp, ip]`), `current-filetable`, and a write
//! to `start`. rine makes it a Linux thread of the child: a `clone(CLONE_VM|CLONE_THREAD...)`
//! injected into the calling thread, adopted under ptrace (`PTRACE_O_TRACECLONE`) and set to
//! start at `ip` on `sp`. A thread ends by writing `[usize::MAX, stack, size]` to its `status`
//! handle: rine frees the stack and has the Linux thread `exit`.

use nix::{libc, unistd::Pid};
use syscall::{Error, Result};

use crate::{
    handles::Handle,
    memory,
    sys::{unsupported, Machine},
};

/// One Redox thread of the program, by rine's thread number (the index).
#[derive(Debug, Default)]
pub struct ThreadSlot {
    /// The Linux thread, once started.
    pub tid: Option<Pid>,
    /// Where it starts: `(ip, sp)` from its `current-addrspace` write.
    pub entry: Option<(u64, u64)>,
    pub gone: bool,
}

/// What a futex wait did to the calling thread.
#[derive(Debug, PartialEq, Eq)]
pub enum Wait {
    /// Answered at once with this result.
    Now(Result<usize>),
    /// The thread sleeps until a wake on this address (the main loop does not resume it).
    Park(usize),
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

impl Machine {
    /// The live Linux threads (started and not ended).
    pub fn live_threads(&self) -> usize {
        self.threads
            .iter()
            .filter(|t| t.tid.is_some() && !t.gone)
            .count()
    }

    /// The thread number of Linux thread `tid`.
    pub fn thread_of(&self, tid: Pid) -> Option<usize> {
        self.threads.iter().position(|t| t.tid == Some(tid))
    }

    /// `dup(thread t, name)`, for the names a thread handle has; `None` for others.
    pub fn dup_thread(&mut self, t: usize, name: &[u8]) -> Option<Handle> {
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

    /// `dup(proc, "new-thread")`: a thread number, nothing on Linux yet.
    pub fn new_thread(&mut self) -> Handle {
        self.threads.push(ThreadSlot::default());
        Handle::Thread(self.threads.len() - 1)
    }

    /// Writes to the thread-control handles; `None` when `handle` is not one of them.
    pub fn thread_write(
        &mut self,
        tid: Pid,
        handle: &Handle,
        bytes: &[u8],
        regs: &libc::user_regs_struct,
    ) -> Option<Result<usize>> {
        let word = |i: usize| {
            bytes
                .get(i * 8..i * 8 + 8)
                .map(|w| u64::from_le_bytes(w.try_into().expect("8 bytes")))
        };
        Some(match handle {
            Handle::AddrSpaceSel(t) => match (word(0), word(1), word(2)) {
                (Some(_space), Some(sp), Some(ip)) => match self.threads.get_mut(*t) {
                    Some(slot) => {
                        slot.entry = Some((ip, sp));
                        Ok(bytes.len())
                    }
                    None => Err(err(syscall::EBADF)),
                },
                _ => Err(err(syscall::EINVAL)),
            },
            // One file table for all threads: nothing to select.
            Handle::FileTableSel => Ok(bytes.len()),
            Handle::Start(t) => self.start_thread(tid, *t, regs).map(|_| bytes.len()),
            Handle::Status(t) => match (word(0), word(1), word(2)) {
                (Some(_), Some(stack), Some(size)) if Some(*t) == self.thread_of(tid) => {
                    if size != 0 {
                        let _ =
                            memory::funmap(&self.child, tid, regs, stack as usize, size as usize);
                    }
                    self.ending = true;
                    Ok(bytes.len())
                }
                (Some(_), Some(_), Some(_)) => Err(err(syscall::EPERM)),
                _ => Err(err(syscall::EINVAL)),
            },
            _ => return None,
        })
    }

    fn start_thread(&mut self, tid: Pid, t: usize, regs: &libc::user_regs_struct) -> Result<()> {
        let (ip, sp) = match self.threads.get(t) {
            Some(ThreadSlot {
                tid: None,
                entry: Some(e),
                ..
            }) => *e,
            Some(_) => return Err(err(syscall::EINVAL)),
            None => return Err(err(syscall::EBADF)),
        };
        let (ret, new) = self
            .child
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
        self.child.adopt_thread(new, regs, ip, sp).map_err(|e| {
            eprintln!("rine: starting a thread: {e}");
            err(syscall::EIO)
        })?;
        if let Some(slot) = self.threads.get_mut(t) {
            slot.tid = Some(new);
        }
        self.started.push(new);
        Ok(())
    }

    /// `futex(addr, op, val, timeout, addr2)` among the program's threads. A wait with a
    /// timeout while other threads run returns at once (a spurious wake-up, which every
    /// futex user must expect); the only thread sleeps its timeout out.
    pub fn futex(&mut self, number: usize, args: [usize; 6]) -> Wait {
        let [addr, op, val, timeout, addr2, _] = args;
        match op {
            syscall::FUTEX_WAKE => Wait::Now(Ok(self.wake(addr, val))),
            syscall::FUTEX_REQUEUE => {
                let woken = self.wake(addr, val);
                for p in self.parked.iter_mut().filter(|p| p.1 == addr) {
                    p.1 = addr2;
                }
                Wait::Now(Ok(woken))
            }
            syscall::FUTEX_WAIT | syscall::FUTEX_WAIT64 => {
                let current = if op == syscall::FUTEX_WAIT {
                    memory::read_u32(&self.child, addr).map(|v| v as usize)
                } else {
                    memory::read_u64(&self.child, addr).map(|v| v as usize)
                };
                match current {
                    Err(e) => Wait::Now(Err(e)),
                    Ok(c) if c != val => Wait::Now(Err(err(syscall::EAGAIN))),
                    Ok(_) if self.live_threads() > 1 => {
                        if timeout != 0 {
                            Wait::Now(Ok(0))
                        } else {
                            Wait::Park(addr)
                        }
                    }
                    Ok(_) if timeout != 0 => {
                        Wait::Now(self.nanosleep(timeout, 0).and(Err(err(syscall::ETIMEDOUT))))
                    }
                    // The only thread, waiting for ever: nothing could wake it.
                    Ok(_) => Wait::Now(Err(unsupported(&self.child, number, args))),
                }
            }
            _ => Wait::Now(Err(unsupported(&self.child, number, args))),
        }
    }

    /// Wakes up to `count` threads parked on `addr`; returns how many.
    fn wake(&mut self, addr: usize, count: usize) -> usize {
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
}
