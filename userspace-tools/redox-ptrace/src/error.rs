//! Errors with context: which request failed, on which tracee, with which errno.
//!
//! `ESRCH` from any request on a tracee becomes [`Error::TraceeDied`], so callers can tell "the
//! tracee exited under us" (normal at the end of a trace) from real failures.

use core::fmt;

use syscall::error::{Error as Errno, ESRCH};

/// The tracer's name for one tracee: the number [`crate::Tracer`] gave it, plus the process
/// id when the tracee came with one (procmgr pids are for display only; the kernel has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct TraceeId {
    pub index: usize,
    pub pid: Option<usize>,
}

impl fmt::Display for TraceeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.pid {
            Some(pid) => write!(f, "pid {pid}"),
            None => write!(f, "tracee #{}", self.index),
        }
    }
}

/// The request that failed: one per raw call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    Attach,
    Resume,
    NextEvents,
    GetIntRegs,
    SetIntRegs,
    GetFloatRegs,
    SetFloatRegs,
    GetEnvRegs,
    SetEnvRegs,
    OpenMem,
    ReadMem,
    WriteMem,
    Kill,
    SetNonblocking,
    EventQueue,
    Spawn,
    ByPid,
    SetSyscallFilter,
    GetSyscallFilter,
    SetWatchpoints,
    GetWatchpoints,
    GetXsave,
    SetXsave,
    Interrupt,
}

impl Request {
    /// The handle or call the request goes through, as the ABI names it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Attach => "attach (dup \"trace\")",
            Self::Resume => "resume (write trace)",
            Self::NextEvents => "next_events (read trace)",
            Self::GetIntRegs => "get_int_regs (read regs/int)",
            Self::SetIntRegs => "set_int_regs (write regs/int)",
            Self::GetFloatRegs => "get_float_regs (read regs/float)",
            Self::SetFloatRegs => "set_float_regs (write regs/float)",
            Self::GetEnvRegs => "get_env_regs (read regs/env)",
            Self::SetEnvRegs => "set_env_regs (write regs/env)",
            Self::OpenMem => "open_mem (dup \"mem\")",
            Self::ReadMem => "read_mem (read2 mem)",
            Self::WriteMem => "write_mem (write2 mem)",
            Self::Kill => "kill (write status)",
            Self::SetNonblocking => "set_nonblocking (fcntl F_SETFL)",
            Self::EventQueue => "event queue",
            Self::Spawn => "spawn",
            Self::ByPid => "by_pid (open /scheme/proc/PID/thread-0)",
            Self::SetSyscallFilter => "set_syscall_filter (write filter)",
            Self::GetSyscallFilter => "syscall_filter (read filter)",
            Self::SetWatchpoints => "set_watchpoints (write watch)",
            Self::GetWatchpoints => "watchpoints (read watch)",
            Self::GetXsave => "get_xsave (read xsave)",
            Self::SetXsave => "set_xsave (write xsave)",
            Self::Interrupt => "interrupt (write interrupt)",
        }
    }
}

/// What went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// The tracee exited (the kernel said `ESRCH`).
    TraceeDied {
        tracee: Option<TraceeId>,
        request: Request,
    },
    /// The kernel refused `request` with `errno`.
    Os {
        tracee: Option<TraceeId>,
        request: Request,
        errno: Errno,
    },
    /// A restart that makes no sense at this stop (`PTRACE_FLAG_IGNORE` outside a pre-syscall
    /// or breakpoint stop, restarting a tracee that is not stopped...).
    InvalidRestart { tracee: TraceeId, why: &'static str },
    /// The kernel sent something this library does not understand.
    Protocol {
        tracee: Option<TraceeId>,
        what: &'static str,
    },
    /// No tracee with this id.
    UnknownTracee { tracee: TraceeId },
    /// The platform cannot do this (see the README's "What is missing").
    Unsupported { what: &'static str },
}

impl Error {
    /// Wraps an errno from `request`; `ESRCH` becomes [`Error::TraceeDied`].
    pub fn os(request: Request, tracee: Option<TraceeId>, errno: Errno) -> Self {
        if errno.errno == ESRCH {
            Self::TraceeDied { tracee, request }
        } else {
            Self::Os {
                tracee,
                request,
                errno,
            }
        }
    }

    /// The same error, now naming `tracee`.
    pub fn on(self, id: TraceeId) -> Self {
        match self {
            Self::TraceeDied { request, .. } => Self::TraceeDied {
                tracee: Some(id),
                request,
            },
            Self::Os { request, errno, .. } => Self::Os {
                tracee: Some(id),
                request,
                errno,
            },
            Self::Protocol { what, .. } => Self::Protocol {
                tracee: Some(id),
                what,
            },
            other => other,
        }
    }

    /// The errno behind this error, if the kernel gave one.
    pub fn errno(&self) -> Option<i32> {
        match self {
            Self::TraceeDied { .. } => Some(ESRCH),
            Self::Os { errno, .. } => Some(errno.errno),
            _ => None,
        }
    }

    pub fn is_tracee_died(&self) -> bool {
        matches!(self, Self::TraceeDied { .. })
    }
}

/// Prints `"tracee #1: "` or nothing.
struct Who(Option<TraceeId>);

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(id) => write!(f, "{id}: "),
            None => Ok(()),
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TraceeDied { tracee, request } => {
                write!(f, "{}{}: tracee died", Who(*tracee), request.name())
            }
            Self::Os {
                tracee,
                request,
                errno,
            } => {
                let name = crate::decode::errno::name(errno.errno).unwrap_or("E?");
                write!(f, "{}{}: {name} ({errno})", Who(*tracee), request.name())
            }
            Self::InvalidRestart { tracee, why } => write!(f, "{tracee}: invalid restart: {why}"),
            Self::Protocol { tracee, what } => {
                write!(f, "{}unexpected data from the kernel: {what}", Who(*tracee))
            }
            Self::UnknownTracee { tracee } => write!(f, "{tracee}: no such tracee"),
            Self::Unsupported { what } => write!(f, "not supported: {what}"),
        }
    }
}

#[cfg(feature = "std")]
impl std::error::Error for Error {}

pub type Result<T, E = Error> = core::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use syscall::error::{EBUSY, ESRCH};

    use super::*;

    /// Verifies that ESRCH becomes TraceeDied and other errnos stay OS errors.
    #[test]
    fn esrch_is_tracee_died() {
        let died = Error::os(Request::Resume, None, Errno::new(ESRCH));
        assert!(died.is_tracee_died());
        let busy = Error::os(Request::Attach, None, Errno::new(EBUSY));
        assert_eq!(busy.errno(), Some(EBUSY));
        assert!(!busy.is_tracee_died());
    }

    /// Verifies that messages name the tracee, the request and the errno.
    #[test]
    fn display_names_tracee_request_and_errno() {
        let id = TraceeId {
            index: 0,
            pid: Some(42),
        };
        let err = Error::os(Request::Attach, None, Errno::new(EBUSY)).on(id);
        assert_eq!(
            err.to_string(),
            "pid 42: attach (dup \"trace\"): EBUSY (Device or resource busy)"
        );
    }
}
