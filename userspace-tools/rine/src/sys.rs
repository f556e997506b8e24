//! One Redox syscall, carried out: the dispatch from `SYS_*` number to what rine does.

use std::time::Duration;

use nix::libc::{self, user_regs_struct};
use redox_ptrace::decode::{DecodeOptions, PendingCall};
use syscall::{number::*, Error, Result};

use crate::{
    abi::{CallError, Status, Waitpid},
    call::{self, CallResult},
    files,
    handles::Handle,
    io::{self, Caller, Io},
    linux::Child,
    memory,
    strace::ChildMemory,
};

/// What the program's syscall comes to.
#[derive(Debug, PartialEq, Eq)]
pub enum Outcome {
    /// Write this into `rax` (a value, or `-errno`) and go on.
    Return(usize),
    /// The thread waits on the futex at this address; it is resumed by a wake.
    Park(usize),
    /// The thread ended (its `status` handle was written).
    ThreadExit,
    /// The process exited with this Redox status.
    Exit(Status),
    /// procmgr's `Waitpid`: the main loop answers it from the children's exits, or parks
    /// the thread until one exits.
    Wait(Waitpid),
    /// exec replaced the program's memory: it resumes with these registers.
    Replaced(Box<user_regs_struct>),
    /// A read that would block on the host: the thread waits, stopped, while the others
    /// (and other processes) run, and the main loop retries it.
    BlockedRead,
}

/// What a futex call did to the calling thread.
enum Wait {
    /// Answered at once with this result.
    Now(Result<usize>),
    /// The thread sleeps until a wake on this address (the main loop does not resume it).
    Park(usize),
}

fn err(errno: i32) -> Error {
    Error::new(errno)
}

/// The one line an unsupported call gets, with the call decoded as strace prints it.
fn unsupported(child: &Child, number: usize, args: [usize; 6]) -> Error {
    let call = PendingCall::enter(number, args, &ChildMemory(child), &DecodeOptions::default());
    eprintln!("rine: unsupported syscall {})", call.entry_text());
    err(syscall::ENOSYS)
}

/// A `read` or `write` as the syscall's outcome.
fn io_outcome(result: Result<Io>) -> Outcome {
    match result {
        Ok(Io::Count(n)) => Outcome::Return(n),
        Ok(Io::WouldBlock) => Outcome::BlockedRead,
        Ok(Io::ThreadEnds) => Outcome::ThreadExit,
        Err(e) => Outcome::Return(Error::mux(Err(e))),
    }
}

/// Carries out the caller's syscall `number` with `args`; `out` are the registers the
/// program resumes with (a `regs/env` write changes fs/gs base there).
pub fn syscall(
    caller: &mut Caller<'_>,
    number: usize,
    args: [usize; 6],
    out: &mut user_regs_struct,
) -> Outcome {
    let [a, b, c, d, e, f] = args;
    let (tid, regs) = (caller.tid, caller.regs);
    let result = match number {
        SYS_WRITE => return io_outcome(io::write(caller, a, b, c, out)),
        SYS_READ => return io_outcome(io::read(caller.process, tid, a, b, c)),
        SYS_READ2 => io::pread(caller.process, a, b, c, d as u64),
        SYS_WRITE2 => io::pwrite(caller.process, a, b, c, d as u64),
        SYS_OPENAT_INTO => io::openat_into(caller.process, a, b, c, d, f),
        SYS_DUP_INTO | SYS_DUP2 => {
            let res = if number == SYS_DUP2 {
                io::dup_into(caller, a, c, d, b, true)
            } else {
                io::dup_into(caller, a, b, c, d, false)
            };
            match res {
                Ok(v) => Ok(v),
                Err(CallError::Errno(e)) => Err(e),
                Err(CallError::Unsupported) => {
                    Err(unsupported(&caller.process.child, number, args))
                }
            }
        }
        SYS_CLOSE => match caller.process.table.remove(a) {
            // Closing exec's `current-addrspace` switches to the new image it chose.
            Ok(Handle::AddrSpaceSel(_)) => match caller.process.exec.take_chosen() {
                Some(chosen) => {
                    return match caller.process.exec_switch(tid, chosen, regs) {
                        Ok(r) => Outcome::Replaced(Box::new(r)),
                        Err(e) => {
                            // The old image may be partly gone: the process cannot go on.
                            eprintln!("rine: exec: {e}");
                            Outcome::Exit((libc::SIGKILL as u64) << 8)
                        }
                    };
                }
                None => Ok(0),
            },
            r => r.map(|_| 0),
        },
        SYS_LSEEK => caller
            .process
            .table
            .get_mut(a)
            .and_then(|h| files::lseek(h, b as isize, c)),
        SYS_FSTAT => io::fstat(caller.process, a, b, c),
        SYS_FPATH => io::fpath(caller.process, a, b, c),
        SYS_FSYNC => match caller.process.table.get(a) {
            Ok(Handle::Host { file, .. }) => file.sync_all().map(|_| 0).map_err(files::from_io),
            Ok(_) => Ok(0),
            Err(e) => Err(e),
        },
        SYS_FCNTL => io::fcntl(caller.process, a, b, c),
        SYS_UNLINKAT => io::unlinkat(caller.process, a, b, c, d),
        SYS_FMAP => io::fmap(caller, a, b, c),
        SYS_FUNMAP => {
            let p = &mut *caller.process;
            // A window on a new address space hands its bytes back first.
            p.exec.flush_window(&p.child, a as u64);
            memory::funmap(&p.child, tid, regs, a, b)
        }
        SYS_MPROTECT => memory::mprotect(&caller.process.child, tid, regs, a, b, c),
        SYS_CLOCK_GETTIME => files::clock_bytes(a)
            .and_then(|ts| memory::write(&caller.process.child, b, &ts))
            .map(|_| 0),
        SYS_YIELD => {
            std::thread::yield_now();
            Ok(0)
        }
        SYS_NANOSLEEP => nanosleep(&caller.process.child, a, b),
        SYS_FUTEX => match futex(caller, number, args) {
            Wait::Now(r) => r,
            Wait::Park(addr) => return Outcome::Park(addr),
        },
        SYS_CALL => match call::call(caller.process, a, b, c, d, e) {
            Ok(CallResult::Exit(status)) => return Outcome::Exit(status),
            Ok(CallResult::Wait(w)) => return Outcome::Wait(w),
            Ok(CallResult::Value(v)) => Ok(v),
            Err(CallError::Errno(e)) => Err(e),
            Err(CallError::Unsupported) => Err(unsupported(&caller.process.child, number, args)),
        },
        _ => Err(unsupported(&caller.process.child, number, args)),
    };
    Outcome::Return(Error::mux(result))
}

/// `nanosleep(req, rem)`: rine sleeps (nothing can interrupt it).
fn nanosleep(child: &Child, req: usize, rem: usize) -> Result<usize> {
    let ts = memory::read(child, req, 16)?;
    let secs = i64::from_le_bytes(ts[..8].try_into().expect("8 bytes"));
    let nanos = i32::from_le_bytes(ts[8..12].try_into().expect("4 bytes"));
    if secs < 0 || !(0..1_000_000_000).contains(&nanos) {
        return Err(err(syscall::EINVAL));
    }
    std::thread::sleep(Duration::new(secs as u64, nanos as u32));
    if rem != 0 {
        memory::write(child, rem, &[0; 16])?;
    }
    Ok(0)
}

/// `futex(addr, op, val, timeout, addr2)` among the process's threads. A wait with a
/// timeout while other threads run returns at once (a spurious wake-up, which every futex
/// user must expect); the only thread sleeps its timeout out.
fn futex(c: &mut Caller<'_>, number: usize, args: [usize; 6]) -> Wait {
    let p = &mut *c.process;
    let [addr, op, val, timeout, addr2, _] = args;
    match op {
        syscall::FUTEX_WAKE => Wait::Now(Ok(p.threads.wake(addr, val))),
        syscall::FUTEX_REQUEUE => {
            let woken = p.threads.wake(addr, val);
            p.threads.requeue(addr, addr2);
            Wait::Now(Ok(woken))
        }
        syscall::FUTEX_WAIT | syscall::FUTEX_WAIT64 => {
            let current = if op == syscall::FUTEX_WAIT {
                memory::read_u32(&p.child, addr).map(|v| v as usize)
            } else {
                memory::read_u64(&p.child, addr).map(|v| v as usize)
            };
            match current {
                Err(e) => Wait::Now(Err(e)),
                Ok(c) if c != val => Wait::Now(Err(err(syscall::EAGAIN))),
                Ok(_) if p.threads.live() > 1 => {
                    if timeout != 0 {
                        Wait::Now(Ok(0))
                    } else {
                        Wait::Park(addr)
                    }
                }
                Ok(_) if timeout != 0 => {
                    Wait::Now(nanosleep(&p.child, timeout, 0).and(Err(err(syscall::ETIMEDOUT))))
                }
                // The only thread, waiting for ever: nothing could wake it.
                Ok(_) => Wait::Now(Err(unsupported(&p.child, number, args))),
            }
        }
        _ => Wait::Now(Err(unsupported(&p.child, number, args))),
    }
}
