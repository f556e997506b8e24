//! Where a tracer gets context handles from (feature `std`).
//!
//! The kernel lets whoever holds a context handle trace it. A relibc program holds exactly one:
//! its own (procmgr's `thread-0` handle, `redox_cur_thrfd_v0()`), and tracing yourself is
//! `EPERM`. Process handles come from procmgr only through `fork` (a `dup` on the parent's own
//! process handle), and relibc's `fork()` keeps the child's handles to itself. So:
//!
//! - [`ForkHandoff`] (Redox only) spawns a command whose *child* hands its own thread handle to
//!   the tracer before it execs: the tracer passes the child a `filetable` handle of its own
//!   context, the child inserts a clone of its thread handle into the tracer's file table with
//!   `SYS_CALL(FD | FD_CLONE)` at a slot the tracer picked, then waits on a pipe until the
//!   tracer has attached and armed its stops. Nothing of the new program runs untraced.
//! - [`ForkHandoff::by_pid`] attaches to a running process: procmgr (with `patches/base`)
//!   hands the thread handle of process `PID` to root or to a caller of the same uid and gid
//!   at `/scheme/proc/PID/thread-0`; a dup of it is the kernel's context handle.

use alloc::string::String;

use crate::{
    error::{Error, Result, TraceeId},
    fd::ContextFd,
    stop::Restart,
    tracer::Tracer,
};

/// What to trace: a command to start, or a running process.
#[derive(Clone, Copy, Debug)]
pub enum Target<'a> {
    Command(&'a [String]),
    Pid(usize),
}

/// How a tool names the target in its messages: `pid 7`, or the command line.
impl core::fmt::Display for Target<'_> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::Pid(pid) => write!(f, "pid {pid}"),
            Self::Command(argv) => {
                for (i, arg) in argv.iter().enumerate() {
                    let sep = if i == 0 { "" } else { " " };
                    write!(f, "{sep}{arg}")?;
                }
                Ok(())
            }
        }
    }
}

/// Starts tracing `target` from `source` with `restart` armed. A command is spawned held at its
/// gate, attached and armed before the gate opens, so none of its program runs untraced.
/// Returns the tracee and, for a spawned command, its pid.
pub fn start_traced(
    tracer: &mut Tracer,
    source: &mut dyn ContextSource,
    target: Target<'_>,
    restart: Restart,
) -> Result<(TraceeId, Option<usize>)> {
    match target {
        Target::Pid(pid) => {
            let id = tracer.attach(source.by_pid(pid)?, Some(pid))?;
            tracer.restart(id, restart)?;
            Ok((id, None))
        }
        Target::Command(argv) => {
            let spawned = source.spawn(argv)?;
            let pid = spawned.pid;
            let id = tracer.attach(spawned.ctx, Some(pid))?;
            tracer.restart(id, restart)?;
            spawned.gate.release()?;
            Ok((id, Some(pid)))
        }
    }
}

/// Hands out context handles of processes to trace.
pub trait ContextSource {
    /// Starts `argv` (program and arguments, `PATH` searched) stopped before it runs any of the
    /// new program's code. The caller attaches to [`Spawned::ctx`], arms its stops, then calls
    /// [`Gate::release`].
    fn spawn(&mut self, argv: &[String]) -> Result<Spawned>;

    /// The context handle of (the first thread of) running process `pid`.
    fn by_pid(&mut self, pid: usize) -> Result<ContextFd>;
}

/// A spawned process, held at its gate.
#[derive(Debug)]
pub struct Spawned {
    pub ctx: ContextFd,
    /// procmgr's process id, for display and for [`wait_exit`].
    pub pid: usize,
    pub gate: Gate,
}

/// The pipe a spawned child waits on before it execs.
#[derive(Debug)]
pub struct Gate {
    #[cfg_attr(not(target_os = "redox"), allow(dead_code))]
    fd: i32,
}

impl Gate {
    /// Lets the child exec the program.
    pub fn release(self) -> Result<()> {
        #[cfg(target_os = "redox")]
        {
            let byte = [1u8];
            // SAFETY: our own pipe end, closed right after.
            let written = unsafe { libc::write(self.fd, byte.as_ptr().cast(), 1) };
            // SAFETY: as above.
            unsafe { libc::close(self.fd) };
            if written != 1 {
                return Err(Error::Unsupported {
                    what: "the spawned child went away before its gate opened",
                });
            }
        }
        Ok(())
    }
}

/// How a traced process ended (procmgr's wait status).
pub use crate::follow::ExitStatus;

/// What is available where nothing is: every request is [`Error::Unsupported`].
#[derive(Clone, Copy, Debug, Default)]
pub struct Unavailable;

impl ContextSource for Unavailable {
    fn spawn(&mut self, _argv: &[String]) -> Result<Spawned> {
        Err(Error::Unsupported {
            what: "spawning a tracee needs Redox (relibc fork + kernel.proc handles)",
        })
    }

    fn by_pid(&mut self, _pid: usize) -> Result<ContextFd> {
        Err(Error::Unsupported {
            what: "attaching by pid needs Redox (procmgr's /scheme/proc/PID/thread-N)",
        })
    }
}

/// The best source this platform has.
pub fn default_source() -> alloc::boxed::Box<dyn ContextSource> {
    #[cfg(target_os = "redox")]
    {
        alloc::boxed::Box::new(ForkHandoff)
    }
    #[cfg(not(target_os = "redox"))]
    {
        alloc::boxed::Box::new(Unavailable)
    }
}

/// A new `event:` queue for [`crate::Tracer::with_event_queue`]: opened through std at
/// `/scheme/event`, then cloned into a slot of our own ([`crate::raw::event_queue_adopt`]).
pub fn open_event_queue() -> Result<crate::fd::EventQueueFd> {
    #[cfg(target_os = "redox")]
    {
        use std::os::fd::AsRawFd;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open("/scheme/event")
            .map_err(|_| Error::Unsupported {
                what: "cannot open /scheme/event",
            })?;
        let raw = usize::try_from(file.as_raw_fd()).map_err(|_| Error::Unsupported {
            what: "bad event queue handle",
        })?;
        crate::raw::event_queue_adopt(raw)
    }
    #[cfg(not(target_os = "redox"))]
    {
        Err(Error::Unsupported {
            what: "event queues need Redox",
        })
    }
}

/// Waits for process `pid` (a child of ours) and returns how it ended.
pub fn wait_exit(pid: usize) -> ExitStatus {
    #[cfg(target_os = "redox")]
    {
        let mut status = 0;
        let Ok(pid) = libc::pid_t::try_from(pid) else {
            return ExitStatus::Unknown;
        };
        // SAFETY: plain waitpid on our own child.
        if unsafe { libc::waitpid(pid, &mut status, 0) } != pid {
            return ExitStatus::Unknown;
        }
        if libc::WIFEXITED(status) {
            ExitStatus::Code(libc::WEXITSTATUS(status))
        } else if libc::WIFSIGNALED(status) {
            ExitStatus::Signal(libc::WTERMSIG(status))
        } else {
            ExitStatus::Unknown
        }
    }
    #[cfg(not(target_os = "redox"))]
    {
        let _ = pid;
        ExitStatus::Unknown
    }
}

/// Spawns through relibc's `fork()`; the child hands its thread handle over (module docs).
#[cfg(target_os = "redox")]
#[derive(Clone, Copy, Debug, Default)]
pub struct ForkHandoff;

#[cfg(target_os = "redox")]
mod redox {
    use alloc::{ffi::CString, string::String, vec::Vec};
    use core::ffi::c_char;

    use syscall::flag::CallFlags;

    use super::{ContextSource, ForkHandoff, Gate, Spawned};
    use crate::{
        error::{Error, Request, Result},
        fd::{self, ContextFd, FdAllocator},
        raw,
    };

    unsafe extern "C" {
        /// relibc (libredox ABI, "ABI-UNSTABLE"): this thread's procmgr thread handle.
        fn redox_cur_thrfd_v0() -> usize;
    }

    fn spawn_error(errno: i32) -> Error {
        Error::os(Request::Spawn, None, syscall::error::Error::new(errno))
    }

    fn pipe() -> Result<[i32; 2]> {
        let mut fds = [0i32; 2];
        // SAFETY: fds has room for two descriptors.
        if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
            return Err(spawn_error(syscall::error::EMFILE));
        }
        Ok(fds)
    }

    impl ContextSource for ForkHandoff {
        fn spawn(&mut self, argv: &[String]) -> Result<Spawned> {
            let args: Vec<CString> = argv
                .iter()
                .map(|a| {
                    CString::new(a.as_bytes()).map_err(|_| spawn_error(syscall::error::EINVAL))
                })
                .collect::<Result<_>>()?;
            let mut ptrs: Vec<*const c_char> = args.iter().map(|a| a.as_ptr()).collect();
            ptrs.push(core::ptr::null());
            let program = args.first().ok_or(spawn_error(syscall::error::EINVAL))?;

            // SAFETY: relibc keeps this handle open for the life of the thread.
            let own_thread = unsafe { redox_cur_thrfd_v0() };
            let alloc = fd::default_allocator();
            let filetable = raw::dup_into(own_thread, b"filetable", alloc)
                .map_err(|e| Error::os(Request::Spawn, None, e))?;
            let slot = alloc.allocate();
            let [ready_r, ready_w] = pipe()?;
            let [go_r, go_w] = pipe()?;

            // SAFETY: the child only makes syscalls and execs (no allocation, no locks).
            let pid = unsafe { libc::fork() };
            if pid == 0 {
                // SAFETY: in the child, see child().
                unsafe {
                    child(
                        filetable.raw(),
                        slot,
                        ready_w,
                        go_r,
                        program.as_ptr(),
                        ptrs.as_ptr(),
                    )
                }
            }
            // SAFETY: closing our copies of the child's pipe ends.
            unsafe {
                libc::close(ready_w);
                libc::close(go_r);
            }
            if pid < 0 {
                // SAFETY: our own pipe ends.
                unsafe {
                    libc::close(ready_r);
                    libc::close(go_w);
                }
                return Err(spawn_error(syscall::error::EAGAIN));
            }
            let mut status = [0u8; 4];
            // SAFETY: reading into a 4-byte buffer from our own pipe end.
            let n = unsafe { libc::read(ready_r, status.as_mut_ptr().cast(), 4) };
            // SAFETY: our own pipe end.
            unsafe { libc::close(ready_r) };
            let errno = i32::from_ne_bytes(status);
            if n != 4 || errno != 0 {
                // SAFETY: our own pipe end; the child exits once it sees EOF or an error.
                unsafe { libc::close(go_w) };
                let _ = super::wait_exit(usize::try_from(pid).unwrap_or(0));
                return Err(spawn_error(if errno != 0 {
                    errno
                } else {
                    syscall::error::ECHILD
                }));
            }
            drop(filetable);
            Ok(Spawned {
                // SAFETY: the child put a clone of its thread handle at `slot` in our table.
                ctx: unsafe { ContextFd::from_raw(slot) },
                pid: usize::try_from(pid).unwrap_or(0),
                gate: Gate { fd: go_w },
            })
        }

        fn by_pid(&mut self, pid: usize) -> Result<ContextFd> {
            use std::os::fd::AsRawFd;

            // Not Error::os: ESRCH here means "no such process", not "the tracee died".
            let refused = |e: std::io::Error| Error::Os {
                tracee: None,
                request: Request::ByPid,
                errno: syscall::error::Error::new(e.raw_os_error().unwrap_or(syscall::error::EIO)),
            };
            let thread = std::fs::File::open(alloc::format!("/scheme/proc/{pid}/thread-0"))
                .map_err(refused)?;
            let raw = usize::try_from(thread.as_raw_fd())
                .map_err(|_| spawn_error(syscall::error::EBADF))?;
            // procmgr forwards a thread handle's dups to the kernel: this one is the context
            // handle itself, in a slot of ours that relibc does not manage.
            let ctx =
                raw::dup_into(raw, b"", fd::default_allocator()).map_err(|errno| Error::Os {
                    tracee: None,
                    request: Request::ByPid,
                    errno,
                })?;
            Ok(ContextFd(ctx))
        }
    }

    /// The forked child: hand the thread handle over, report, wait for the gate, exec.
    ///
    /// # Safety
    /// Only in the child right after `fork`; the pointers stay valid (copied address space).
    unsafe fn child(
        filetable: usize,
        slot: usize,
        ready_w: i32,
        go_r: i32,
        program: *const c_char,
        argv: *const *const c_char,
    ) -> ! {
        // SAFETY: relibc set up this thread's handle during fork.
        let thread = unsafe { redox_cur_thrfd_v0() };
        let handoff = syscall::call_wo(
            filetable,
            &thread.to_ne_bytes(),
            CallFlags::FD | CallFlags::FD_CLONE,
            &[slot as u64],
        );
        let errno: i32 = handoff.err().map_or(0, |e| e.errno);
        let mut go = [0u8; 1];
        // SAFETY: plain syscalls on our own pipe ends and handles.
        unsafe {
            libc::write(ready_w, errno.to_ne_bytes().as_ptr().cast(), 4);
            if errno != 0 {
                libc::_exit(126);
            }
            if libc::read(go_r, go.as_mut_ptr().cast(), 1) != 1 {
                libc::_exit(126);
            }
            // Our tracer's handles (the filetable handle above all) must not reach the new
            // program: relibc does not know them, so exec would not close them.
            fd::DEFAULT_ALLOCATOR.close_all();
            libc::execvp(program, argv);
            libc::_exit(127)
        }
    }
}
