//! One traced context: its handles, and where it is (pure state, host-tested).
//!
//! Lifecycle: attach (`Running`), event delivery ([`TraceeState::on_event`]: a stop gives
//! `Stopped`), resume ([`TraceeState::on_restart`]: back to `Running`), tracee exit
//! ([`TraceeState::on_exit`]). Syscall entry and exit are paired here, so callers get the entry
//! arguments with the exit stop.

use syscall::{EnvRegisters, FloatRegisters, IntRegisters};
use trace_core::SyscallFilter;

use crate::{
    error::{Error, Request, Result, TraceeId},
    fd::{ContextFd, TraceFd},
    mem::{MemHandle, NoMemory, TraceeMemory},
    raw,
    stop::{Restart, Stop},
};
#[cfg(target_arch = "x86_64")]
use crate::{regs::XsaveArea, watch};

/// Whether the tracee is between a syscall's entry and exit stops.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallState {
    Outside,
    Inside { number: usize, args: [usize; 6] },
}

/// Where a tracee is, as far as its tracer knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Run {
    /// Not in a trace stop (running, blocked, or not started).
    Running,
    /// In `stop`, asleep until the tracer restarts it.
    Stopped { stop: Stop },
    /// Gone.
    Exited,
}

/// The pure state of one tracee.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TraceeState {
    pub run: Run,
    pub syscall: SyscallState,
}

impl Default for TraceeState {
    fn default() -> Self {
        Self::new()
    }
}

impl TraceeState {
    /// Just attached: running, not known to be inside a syscall.
    pub const fn new() -> Self {
        Self {
            run: Run::Running,
            syscall: SyscallState::Outside,
        }
    }

    /// An event read from the trace handle. Returns the new state and the typed stop, or what
    /// is wrong with the event.
    pub fn on_event(self, event: trace_core::Stop) -> Result<(Self, Stop), &'static str> {
        use trace_core::Stop as Raw;
        let stop = match event {
            Raw::SyscallEntry { number, args } => Stop::SyscallEntry { number, args },
            Raw::SyscallExit { number, ret } => {
                let args = match self.syscall {
                    SyscallState::Inside { number: n, args } if n == number => Some(args),
                    SyscallState::Inside { .. } | SyscallState::Outside => None,
                };
                Stop::SyscallExit { number, ret, args }
            }
            Raw::SingleStep { ip } => Stop::SingleStep { ip },
            Raw::Breakpoint { ip } => Stop::Breakpoint { ip },
            Raw::Watchpoint { ip, slot, address } => Stop::Watchpoint { ip, slot, address },
            Raw::Exception {
                kind,
                code,
                address,
            } => Stop::Exception {
                kind,
                code,
                address,
            },
            Raw::Exit { status, exception } => Stop::Exiting { status, exception },
            Raw::Clone { number, pid } => Stop::Clone {
                number,
                pid: (pid != 0).then_some(pid),
            },
            Raw::AddrSpaceSwitch => Stop::AddrSpaceSwitch,
            Raw::Interrupt { ip, call } => Stop::Interrupt { ip, call },
            Raw::Signal { pending, pid, uid } => Stop::Signal {
                signal: pending.signal,
                to_thread: pending.to_thread,
                pid,
                uid,
            },
        };
        let run = match (self.run, stop.is_stop()) {
            (Run::Running, true) => Run::Stopped { stop },
            (Run::Running, false) => Run::Running,
            (Run::Stopped { stop: held }, false) => Run::Stopped { stop: held },
            // A kill ends a stop without the tracer's restart (kill always wins).
            (Run::Stopped { .. }, true) if matches!(stop, Stop::Exiting { .. }) => {
                Run::Stopped { stop }
            }
            (Run::Stopped { .. }, true) => {
                return Err("a stop while the tracee is already stopped")
            }
            (Run::Exited, _) => return Err("an event after the tracee exited"),
        };
        let syscall = match stop {
            Stop::SyscallEntry { number, args } => SyscallState::Inside { number, args },
            Stop::SyscallExit { .. } => SyscallState::Outside,
            Stop::SingleStep { .. }
            | Stop::Breakpoint { .. }
            | Stop::Watchpoint { .. }
            | Stop::Exception { .. }
            | Stop::Exiting { .. }
            | Stop::Clone { .. }
            | Stop::AddrSpaceSwitch
            | Stop::Interrupt { .. }
            | Stop::Signal { .. }
            | Stop::Exited => self.syscall,
        };
        Ok((Self { run, syscall }, stop))
    }

    /// The tracer wrote `restart`. Returns the new state; a restart that is invalid here
    /// (see [`Restart::flags`]) is refused before anything is written.
    pub fn on_restart(self, restart: Restart) -> Result<Self, &'static str> {
        let run = match self.run {
            Run::Stopped { .. } | Run::Running => Run::Running,
            Run::Exited => return Err("the tracee exited"),
        };
        let syscall = match restart {
            // Leaving the tracer: the next entry/exit it sees is unrelated to this one.
            Restart::Detach => SyscallState::Outside,
            Restart::Continue(_)
            | Restart::Syscall
            | Restart::Step
            | Restart::Sysemu
            | Restart::SkipBreakpoint(_)
            | Restart::Suppress(_)
            | Restart::Signal(..) => self.syscall,
        };
        Ok(Self { run, syscall })
    }

    /// The tracee exited. Returns the new state and the syscall it died in, if any.
    pub fn on_exit(self) -> (Self, Option<(usize, [usize; 6])>) {
        let died_in = match self.syscall {
            SyscallState::Inside { number, args } => Some((number, args)),
            SyscallState::Outside => None,
        };
        let exited = Self {
            run: Run::Exited,
            syscall: SyscallState::Outside,
        };
        (exited, died_in)
    }

    /// The stop the tracee is held in, if any.
    pub fn held(&self) -> Option<&Stop> {
        match &self.run {
            Run::Stopped { stop } => Some(stop),
            Run::Running | Run::Exited => None,
        }
    }
}

/// How a tracee's memory is read.
#[derive(Debug)]
enum Memory {
    NotOpened,
    Mem(MemHandle),
    Unavailable,
}

/// One traced context: its context handle, its trace handle, and its state.
#[derive(Debug)]
pub struct Tracee {
    pub(crate) id: TraceeId,
    pub(crate) trace: TraceFd,
    pub(crate) state: TraceeState,
    // Declared after `trace`, so the trace handle closes first on drop.
    ctx: ContextFd,
    memory: Memory,
}

impl Tracee {
    pub(crate) fn new(id: TraceeId, ctx: ContextFd, trace: TraceFd) -> Self {
        Self {
            id,
            trace,
            state: TraceeState::new(),
            ctx,
            memory: Memory::NotOpened,
        }
    }

    pub fn id(&self) -> TraceeId {
        self.id
    }

    pub fn state(&self) -> &TraceeState {
        &self.state
    }

    pub fn context(&self) -> &ContextFd {
        &self.ctx
    }

    pub fn trace_handle(&self) -> &TraceFd {
        &self.trace
    }

    /// Integer registers ([`raw::get_int_regs`]).
    pub fn int_regs(&self) -> Result<IntRegisters> {
        raw::get_int_regs(&self.ctx).map_err(|e| e.on(self.id))
    }

    /// Sets integer registers ([`raw::set_int_regs`]).
    pub fn set_int_regs(&self, regs: &IntRegisters) -> Result<()> {
        raw::set_int_regs(&self.ctx, regs).map_err(|e| e.on(self.id))
    }

    /// FXSAVE area ([`raw::get_float_regs`]).
    pub fn float_regs(&self) -> Result<FloatRegisters> {
        raw::get_float_regs(&self.ctx).map_err(|e| e.on(self.id))
    }

    /// fsbase and gsbase ([`raw::get_env_regs`]).
    pub fn env_regs(&self) -> Result<EnvRegisters> {
        raw::get_env_regs(&self.ctx).map_err(|e| e.on(self.id))
    }

    /// Chooses which syscalls stop at entry and exit ([`raw::set_syscall_filter`]); contexts
    /// it creates inherit the filter.
    pub fn set_syscall_filter(&self, filter: &SyscallFilter) -> Result<()> {
        raw::set_syscall_filter(&self.trace, filter).map_err(|e| e.on(self.id))
    }

    /// The syscalls that stop ([`raw::syscall_filter`]).
    pub fn syscall_filter(&self) -> Result<SyscallFilter> {
        raw::syscall_filter(&self.trace).map_err(|e| e.on(self.id))
    }

    /// Sets all four hardware watchpoint slots ([`raw::set_watchpoints`]), checked first by the
    /// kernel's rules (`EINVAL` as from the kernel). Hits are [`Stop::Watchpoint`] stops,
    /// armed with [`crate::StopSet::BREAKPOINT`].
    #[cfg(target_arch = "x86_64")]
    pub fn set_watchpoints(&self, slots: &watch::WatchSlots) -> Result<()> {
        let watches = watch::to_kernel(slots)
            .map_err(|e| Error::os(Request::SetWatchpoints, Some(self.id), e))?;
        raw::set_watchpoints(&self.trace, &watches).map_err(|e| e.on(self.id))
    }

    /// The hardware watchpoint slots ([`raw::watchpoints`]).
    #[cfg(target_arch = "x86_64")]
    pub fn watchpoints(&self) -> Result<watch::WatchSlots> {
        raw::watchpoints(&self.trace)
            .map(|watches| watch::from_kernel(&watches))
            .map_err(|e| e.on(self.id))
    }

    /// Empties every watchpoint slot.
    #[cfg(target_arch = "x86_64")]
    pub fn clear_watchpoints(&self) -> Result<()> {
        self.set_watchpoints(&[None; watch::SLOTS])
    }

    /// The XSAVE area: SSE and AVX registers ([`raw::get_xsave`]).
    #[cfg(target_arch = "x86_64")]
    pub fn xsave(&self) -> Result<XsaveArea> {
        raw::get_xsave(&self.trace)
            .map(XsaveArea::from_bytes)
            .map_err(|e| e.on(self.id))
    }

    /// Replaces the XSAVE area with `area`, an edited [`Tracee::xsave`] ([`raw::set_xsave`]).
    #[cfg(target_arch = "x86_64")]
    pub fn set_xsave(&self, area: &XsaveArea) -> Result<()> {
        raw::set_xsave(&self.trace, area.as_bytes()).map_err(|e| e.on(self.id))
    }

    /// The tracee's memory through its `mem` handle, which follows it across exec; without
    /// one, nothing (decoders then print addresses). Opened on first use.
    pub fn memory(&mut self) -> &dyn TraceeMemory {
        if let Memory::NotOpened = self.memory {
            self.memory = match raw::open_mem(&self.ctx) {
                Ok(mem) => Memory::Mem(MemHandle(mem)),
                Err(_) => Memory::Unavailable,
            };
        }
        match &self.memory {
            Memory::Mem(mem) => mem,
            Memory::NotOpened | Memory::Unavailable => &NoMemory,
        }
    }

    /// Turns off memory access (decoders print addresses).
    pub fn disable_memory(&mut self) {
        self.memory = Memory::Unavailable;
    }

    pub(crate) fn into_handles(self) -> (ContextFd, TraceFd) {
        (self.ctx, self.trace)
    }

    pub(crate) fn protocol(&self, what: &'static str) -> Error {
        Error::Protocol {
            tracee: Some(self.id),
            what,
        }
    }
}

#[cfg(test)]
mod tests {
    use trace_core::Stop as Raw;

    use super::*;
    use crate::stop::StopSet;

    const ARGS: [usize; 6] = [1, 2, 3, 4, 5, 6];

    fn entered() -> TraceeState {
        let (state, _) = TraceeState::new()
            .on_event(Raw::SyscallEntry {
                number: 3,
                args: ARGS,
            })
            .expect("entry");
        state
    }

    /// Verifies that an entry stop holds the tracee and remembers the call.
    #[test]
    fn entry_stops_and_remembers_call() {
        let state = entered();
        assert_eq!(
            state.syscall,
            SyscallState::Inside {
                number: 3,
                args: ARGS
            }
        );
        assert_eq!(
            state.held(),
            Some(&Stop::SyscallEntry {
                number: 3,
                args: ARGS
            })
        );
    }

    /// Verifies that the exit stop carries the entry's arguments and leaves the syscall.
    #[test]
    fn exit_pairs_with_entry() {
        let running = entered().on_restart(Restart::Syscall).expect("restart");
        let (state, stop) = running
            .on_event(Raw::SyscallExit { number: 3, ret: 7 })
            .expect("exit");
        assert_eq!(
            stop,
            Stop::SyscallExit {
                number: 3,
                ret: 7,
                args: Some(ARGS)
            }
        );
        assert_eq!(state.syscall, SyscallState::Outside);
    }

    /// Verifies that an exit without a seen entry (attached mid-call) has no arguments.
    #[test]
    fn exit_without_entry_has_no_args() {
        let (_, stop) = TraceeState::new()
            .on_event(Raw::SyscallExit { number: 3, ret: 0 })
            .expect("exit");
        assert_eq!(
            stop,
            Stop::SyscallExit {
                number: 3,
                ret: 0,
                args: None
            }
        );
    }

    /// Verifies that a notice does not stop a running tracee nor release a stopped one.
    #[test]
    fn notices_do_not_stop() {
        let (state, stop) = TraceeState::new()
            .on_event(Raw::AddrSpaceSwitch)
            .expect("notice");
        assert_eq!((state.run, stop), (Run::Running, Stop::AddrSpaceSwitch));
        let (state, _) = entered().on_event(Raw::AddrSpaceSwitch).expect("notice");
        assert!(matches!(state.run, Run::Stopped { .. }));
    }

    /// Verifies that a second stop while stopped is a protocol error.
    #[test]
    fn stop_while_stopped_is_refused() {
        assert!(entered().on_event(Raw::SingleStep { ip: 1 }).is_err());
    }

    /// Verifies that a tracee killed in a stop reports its exit stop without a restart.
    #[test]
    fn exit_stop_while_stopped_is_a_kill() {
        let (state, stop) = entered()
            .on_event(Raw::Exit {
                status: 4,
                exception: 0,
            })
            .expect("a kill ends the stop");
        let exiting = Stop::Exiting {
            status: 4,
            exception: 0,
        };
        assert_eq!((state.run, stop), (Run::Stopped { stop: exiting }, exiting));
    }

    /// Verifies that breakpoints and single steps stop and keep the syscall state.
    #[test]
    fn step_and_breakpoint_stop() {
        let (state, stop) = TraceeState::new()
            .on_event(Raw::Breakpoint { ip: 0x10 })
            .expect("int3");
        assert_eq!(stop, Stop::Breakpoint { ip: 0x10 });
        let running = state.on_restart(Restart::Step).expect("step");
        let (state, stop) = running
            .on_event(Raw::SingleStep { ip: 0x11 })
            .expect("step");
        assert_eq!(stop, Stop::SingleStep { ip: 0x11 });
        assert_eq!(state.syscall, SyscallState::Outside);
    }

    /// Verifies that re-arming a running tracee is allowed and keeps it running.
    #[test]
    fn restart_while_running_rearms() {
        let state = TraceeState::new()
            .on_restart(Restart::Continue(StopSet::SYSCALLS))
            .expect("re-arm");
        assert_eq!(state.run, Run::Running);
    }

    /// Verifies that exit reports the syscall the tracee died in, and nothing follows it.
    #[test]
    fn exit_reports_unfinished_call() {
        let (state, died_in) = entered()
            .on_restart(Restart::Syscall)
            .expect("restart")
            .on_exit();
        assert_eq!(died_in, Some((3, ARGS)));
        assert_eq!(state.run, Run::Exited);
        assert!(state.on_restart(Restart::Syscall).is_err());
        assert!(state.on_event(Raw::AddrSpaceSwitch).is_err());
    }

    /// Verifies that detaching forgets the syscall in progress.
    #[test]
    fn detach_forgets_syscall() {
        let state = entered().on_restart(Restart::Detach).expect("detach");
        assert_eq!(state.syscall, SyscallState::Outside);
    }
}
