//! What a tracer sees ([`Stop`]) and how it answers ([`Restart`]), instead of raw flags.

use syscall::flag::PtraceFlags;

/// A set of stops and notices to arm: the stop and event bits of `PtraceFlags` this kernel
/// implements, never `PTRACE_FLAG_IGNORE` (that is part of a [`Restart`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct StopSet(PtraceFlags);

impl StopSet {
    pub const NONE: Self = Self(PtraceFlags::empty());
    pub const SYSCALL_ENTRY: Self = Self(PtraceFlags::PTRACE_STOP_PRE_SYSCALL);
    pub const SYSCALL_EXIT: Self = Self(PtraceFlags::PTRACE_STOP_POST_SYSCALL);
    pub const SYSCALLS: Self = Self::SYSCALL_ENTRY.union(Self::SYSCALL_EXIT);
    pub const STEP: Self = Self(PtraceFlags::PTRACE_STOP_SINGLESTEP);
    pub const BREAKPOINT: Self = Self(PtraceFlags::PTRACE_STOP_BREAKPOINT);
    /// CPU exceptions (faults, traps), before they are handled, and signals about to be
    /// delivered ([`Stop::Signal`]): one flag arms both.
    pub const EXCEPTION: Self = Self(PtraceFlags::PTRACE_STOP_SIGNAL);
    /// The same flag as [`StopSet::EXCEPTION`], named for signal-delivery stops.
    pub const SIGNAL: Self = Self::EXCEPTION;
    /// The tracee's exit, before its memory goes.
    pub const EXIT: Self = Self(PtraceFlags::PTRACE_STOP_EXIT);
    /// Contexts the tracee creates, traced from their first instruction.
    pub const CLONE: Self = Self(PtraceFlags::PTRACE_EVENT_CLONE);
    /// A notice (the tracee does not stop) when its address space is replaced (exec).
    pub const ADDRSPACE_SWITCH: Self = Self(PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH);

    pub const fn union(self, other: Self) -> Self {
        Self(self.0.union(other.0))
    }

    pub const fn contains(self, other: Self) -> bool {
        self.0.contains(other.0)
    }

    /// The flags to write.
    pub const fn flags(self) -> PtraceFlags {
        self.0
    }
}

impl core::ops::BitOr for StopSet {
    type Output = Self;
    fn bitor(self, rhs: Self) -> Self {
        self.union(rhs)
    }
}

/// A stop or notice of one tracee, with syscall entry and exit told apart and paired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Stop {
    /// Before a syscall runs. Registers can be changed to change the call; see
    /// [`Restart::Sysemu`] to skip it.
    SyscallEntry { number: usize, args: [usize; 6] },
    /// After a syscall ran (or was skipped). `args` are those of the matching entry stop, when
    /// this tracer saw it; `ret` is `-errno` as `usize` for errors.
    SyscallExit {
        number: usize,
        ret: usize,
        args: Option<[usize; 6]>,
    },
    /// After one instruction; `ip` is the next one.
    SingleStep { ip: usize },
    /// At an `int3`; `ip` is the address of the `int3` byte.
    Breakpoint { ip: usize },
    /// A hardware watchpoint in `slot` watching `address` fired: before the instruction at `ip`
    /// for an execute watch, after the access (`ip` is the next instruction) for a data watch.
    /// Armed with [`StopSet::BREAKPOINT`].
    Watchpoint {
        ip: usize,
        slot: usize,
        address: usize,
    },
    /// A CPU exception (vector `kind`, error `code`, faulting `address`), not yet handled; see
    /// [`Restart::Suppress`].
    Exception {
        kind: usize,
        code: usize,
        address: usize,
    },
    /// The tracee is exiting; its registers and memory are still readable. `status` is the
    /// `ContextStatus` it will show, `exception` the vector that killed it (0 otherwise).
    Exiting { status: usize, exception: usize },
    /// The tracee created or started a new context (a fork or thread: see [`crate::follow`]);
    /// [`crate::Tracer::adopt_clone`] takes it over. `pid` is the procmgr process id of the
    /// new context (a thread's is its creator's), `None` when it has none.
    Clone { number: usize, pid: Option<usize> },
    /// Notice: the address space was replaced (exec). The tracee did not stop.
    AddrSpaceSwitch,
    /// Stopped at the tracer's request ([`crate::Tracer::interrupt`]); `ip` is where it was
    /// running in user code. `call`: the syscall it was blocked in, ended by the request; `ip`
    /// is then its `syscall` instruction, and the call runs again when the tracee resumes.
    Interrupt { ip: usize, call: Option<usize> },
    /// A signal is about to be delivered (where the kernel hands it to redox-rt, docs/abi.md):
    /// sent to the thread or to its process, by `pid` and `uid`. A plain restart delivers it,
    /// [`Restart::Suppress`] drops it, [`Restart::Signal`] replaces it.
    Signal {
        signal: trace_core::Signal,
        to_thread: bool,
        pid: usize,
        uid: usize,
    },
    /// The tracee is gone; the tracer has dropped its handles.
    Exited,
}

impl Stop {
    /// Whether the tracee waits for a [`Restart`]. Notices and exits do not.
    pub fn is_stop(&self) -> bool {
        match self {
            Self::SyscallEntry { .. }
            | Self::SyscallExit { .. }
            | Self::SingleStep { .. }
            | Self::Breakpoint { .. }
            | Self::Watchpoint { .. }
            | Self::Exception { .. }
            | Self::Exiting { .. }
            | Self::Clone { .. }
            | Self::Interrupt { .. }
            | Self::Signal { .. } => true,
            Self::AddrSpaceSwitch | Self::Exited => false,
        }
    }
}

/// How to resume a stopped tracee (or re-arm a running one).
///
/// Every restart except [`Restart::Detach`] also arms the tracer's standing set (for example
/// [`StopSet::ADDRSPACE_SWITCH`]); see `Tracer::set_always`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Restart {
    /// Resume, stopping next at anything in the set (`NONE`: run free).
    Continue(StopSet),
    /// Resume until the next syscall entry or exit (Linux `PTRACE_SYSCALL`).
    Syscall,
    /// Execute one instruction (Linux `PTRACE_SINGLESTEP`).
    Step,
    /// Only at a syscall-entry stop: skip the syscall (the tracer provides the result in `rax`
    /// through the registers) and stop at the next syscall entry or exit (Linux
    /// `PTRACE_SYSEMU`). The skipped call still reports its exit stop.
    Sysemu,
    /// Only at a breakpoint stop: resume without raising the exception, arming the set.
    SkipBreakpoint(StopSet),
    /// Only at an exception or signal stop: resume without handling the exception (the tracee
    /// resumes at the `rip` the tracer left: a fault not fixed happens again) or without
    /// delivering the signal, arming the set.
    Suppress(StopSet),
    /// Resume arming the set, with a signal: at a signal stop it replaces the stop's signal,
    /// at any other stop it is made pending for the thread (Linux `PTRACE_CONT` with a signal).
    /// Never `SIGKILL` or `SIGSTOP`.
    Signal(StopSet, trace_core::Signal),
    /// Disarm everything, resume, and close the trace handle. With an `O_EXCL` session this
    /// kills the tracee (docs/abi.md).
    Detach,
}

impl Restart {
    /// The `PtraceFlags` to write when leaving `at` (`None`: the tracee is not in a stop),
    /// with the standing set `always` added. Errors say why the restart is not allowed here.
    pub fn flags(self, at: Option<&Stop>, always: StopSet) -> Result<PtraceFlags, &'static str> {
        let ignore = PtraceFlags::PTRACE_FLAG_IGNORE;
        Ok(match self {
            Self::Continue(set) => set.union(always).flags(),
            Self::Syscall => StopSet::SYSCALLS.union(always).flags(),
            Self::Step => StopSet::STEP.union(always).flags(),
            Self::Sysemu => match at {
                Some(Stop::SyscallEntry { .. }) => StopSet::SYSCALLS.union(always).flags() | ignore,
                _ => return Err("Sysemu is only valid at a syscall-entry stop"),
            },
            Self::SkipBreakpoint(set) => match at {
                Some(Stop::Breakpoint { .. }) => set.union(always).flags() | ignore,
                _ => return Err("SkipBreakpoint is only valid at a breakpoint stop"),
            },
            Self::Suppress(set) => match at {
                Some(Stop::Exception { .. } | Stop::Signal { .. }) => {
                    set.union(always).flags() | ignore
                }
                _ => return Err("Suppress is only valid at an exception or signal stop"),
            },
            Self::Signal(set, signal) => {
                if trace_core::Signal::deliverable(signal.number()).is_err() {
                    return Err("SIGKILL and SIGSTOP cannot be delivered by a tracer");
                }
                match at {
                    None => return Err("a signal can only be given when leaving a stop"),
                    Some(_) => set.union(always).flags(),
                }
            }
            Self::Detach => PtraceFlags::empty(),
        })
    }

    /// The signal word written after the flags, if any.
    pub fn signal(self) -> Option<trace_core::Signal> {
        match self {
            Self::Signal(_, signal) => Some(signal),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const ENTRY: Stop = Stop::SyscallEntry {
        number: 3,
        args: [0; 6],
    };
    const BREAK: Stop = Stop::Breakpoint { ip: 0x1000 };

    /// Verifies that Syscall arms entry and exit plus the standing set.
    #[test]
    fn syscall_arms_both_syscall_stops() {
        let flags = Restart::Syscall.flags(None, StopSet::ADDRSPACE_SWITCH);
        let want = PtraceFlags::PTRACE_STOP_PRE_SYSCALL
            | PtraceFlags::PTRACE_STOP_POST_SYSCALL
            | PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH;
        assert_eq!(flags, Ok(want));
    }

    /// Verifies that Suppress adds IGNORE at an exception stop and is refused anywhere else.
    #[test]
    fn suppress_only_at_exception() {
        let fault = Stop::Exception {
            kind: 14,
            code: 4,
            address: 0x10,
        };
        let flags = Restart::Suppress(StopSet::EXIT).flags(Some(&fault), StopSet::NONE);
        let want = PtraceFlags::PTRACE_STOP_EXIT | PtraceFlags::PTRACE_FLAG_IGNORE;
        assert_eq!(flags, Ok(want));
        assert!(Restart::Suppress(StopSet::NONE)
            .flags(Some(&BREAK), StopSet::NONE)
            .is_err());
        assert!(Restart::Suppress(StopSet::NONE)
            .flags(None, StopSet::NONE)
            .is_err());
    }

    /// Verifies that Sysemu adds IGNORE at a syscall entry and is refused anywhere else.
    #[test]
    fn sysemu_only_at_syscall_entry() {
        let flags = Restart::Sysemu
            .flags(Some(&ENTRY), StopSet::NONE)
            .expect("at entry");
        assert!(flags.contains(PtraceFlags::PTRACE_FLAG_IGNORE));
        assert!(Restart::Sysemu.flags(Some(&BREAK), StopSet::NONE).is_err());
        assert!(Restart::Sysemu.flags(None, StopSet::NONE).is_err());
    }

    /// Verifies that SkipBreakpoint adds IGNORE at a breakpoint and is refused elsewhere.
    #[test]
    fn skip_breakpoint_only_at_breakpoint() {
        let flags = Restart::SkipBreakpoint(StopSet::BREAKPOINT).flags(Some(&BREAK), StopSet::NONE);
        assert_eq!(
            flags,
            Ok(PtraceFlags::PTRACE_STOP_BREAKPOINT | PtraceFlags::PTRACE_FLAG_IGNORE)
        );
        assert!(Restart::SkipBreakpoint(StopSet::NONE)
            .flags(Some(&ENTRY), StopSet::NONE)
            .is_err());
    }

    /// Verifies that Detach disarms everything, standing set included, and Step is one bit.
    #[test]
    fn detach_disarms_and_step_steps() {
        assert_eq!(
            Restart::Detach.flags(Some(&ENTRY), StopSet::SYSCALLS),
            Ok(PtraceFlags::empty())
        );
        assert_eq!(
            Restart::Step.flags(None, StopSet::NONE),
            Ok(PtraceFlags::PTRACE_STOP_SINGLESTEP)
        );
        assert_eq!(
            Restart::Continue(StopSet::NONE).flags(None, StopSet::NONE),
            Ok(PtraceFlags::empty())
        );
    }

    /// Verifies that every flag a restart can produce is one the kernel accepts.
    #[test]
    fn restarts_write_only_writable_flags() {
        let all =
            StopSet::SYSCALLS | StopSet::STEP | StopSet::BREAKPOINT | StopSet::ADDRSPACE_SWITCH;
        for (restart, at) in [
            (Restart::Continue(all), None),
            (Restart::Sysemu, Some(&ENTRY)),
            (Restart::SkipBreakpoint(all), Some(&BREAK)),
        ] {
            let flags = restart.flags(at, all).expect("valid here");
            assert!(
                trace_core::abi::WRITABLE_FLAGS.contains(flags),
                "{restart:?}"
            );
        }
    }

    /// Verifies that a signal restart writes its signal word, only when leaving a stop, and
    /// never for SIGKILL or SIGSTOP; and that Suppress is allowed at a signal stop.
    #[test]
    fn signal_restart_only_from_a_stop() {
        let usr1 = trace_core::Signal::new(10).expect("SIGUSR1");
        let at = Stop::Signal {
            signal: usr1,
            to_thread: true,
            pid: 1,
            uid: 0,
        };
        let restart = Restart::Signal(StopSet::SIGNAL, usr1);
        assert_eq!(
            restart.flags(Some(&ENTRY), StopSet::NONE),
            Ok(PtraceFlags::PTRACE_STOP_SIGNAL)
        );
        assert_eq!(restart.signal(), Some(usr1));
        assert!(restart.flags(None, StopSet::NONE).is_err());
        let kill = Restart::Signal(StopSet::NONE, trace_core::Signal::new(9).expect("SIGKILL"));
        assert!(kill.flags(Some(&at), StopSet::NONE).is_err());
        assert_eq!(
            Restart::Suppress(StopSet::NONE).flags(Some(&at), StopSet::NONE),
            Ok(PtraceFlags::PTRACE_FLAG_IGNORE)
        );
        assert_eq!(Restart::Syscall.signal(), None);
    }
}
