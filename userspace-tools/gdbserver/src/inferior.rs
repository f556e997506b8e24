//! What the gdb glue needs from a tracee, and its implementation over redox-ptrace's Tracer.
//!
//! The trait keeps the glue (target.rs) testable on the host against a fake tracee; the
//! Redox implementation is the only code here that talks to the kernel.

use gdbstub::target::ext::breakpoints::WatchKind;
use redox_ptrace::{
    fd::MemFd,
    raw,
    regs::XsaveArea,
    spawn::{self, ExitStatus},
    watch::WatchSlots,
    Restart, Signal, Stop, StopSet, TraceeId, Tracer,
};
use syscall::{FloatRegisters, IntRegisters};

/// Why a resumed tracee came back to gdb.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Halt {
    /// One instruction done.
    Step,
    /// At an `int3`; `rip` is the address of the int3 byte.
    Breakpoint,
    /// Watchpoint `slot` (of [`Inferior::set_watchpoints`]) fired at `address`: before the
    /// instruction for an execute slot, after the access for a data slot.
    Watchpoint { slot: usize, address: usize },
    /// A hardware breakpoint (gdb's `hbreak`), resolved from [`Halt::Watchpoint`] by the glue.
    HwBreak,
    /// A data watchpoint gdb set (`watch`, `rwatch`, `awatch`), at `address`; resolved from
    /// [`Halt::Watchpoint`] by the glue.
    Watch { kind: WatchKind, address: usize },
    /// A signal about to be delivered, or a CPU exception as the signal it stands for (Redox
    /// numbers; `signals::to_gdb` gives gdb's).
    Signal(u8),
    /// Exited with this code.
    Exited(u8),
    /// Killed by this signal (a Redox number).
    Killed(u8),
}

/// How to resume.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resume {
    Continue,
    Step,
}

pub type Error = String;

/// A stopped tracee as the gdb glue sees it.
pub trait Inferior {
    fn int_regs(&mut self) -> Result<IntRegisters, Error>;
    fn set_int_regs(&mut self, regs: &IntRegisters) -> Result<(), Error>;
    fn float_regs(&mut self) -> Result<FloatRegisters, Error>;
    fn set_float_regs(&mut self, regs: &FloatRegisters) -> Result<(), Error>;
    /// The XSAVE area (SSE and AVX registers); `None` when the CPU has no XSAVE.
    fn xsave(&mut self) -> Result<Option<XsaveArea>, Error>;
    /// Replaces the XSAVE area with an edited [`Inferior::xsave`].
    fn set_xsave(&mut self, area: &XsaveArea) -> Result<(), Error>;
    /// Reads up to `buf.len()` bytes; fewer when a mapping ends, an error when nothing is
    /// mapped at `addr`.
    fn read_mem(&mut self, addr: usize, buf: &mut [u8]) -> Result<usize, Error>;
    /// Writes all of `data` (into code too: the kernel copies the page first).
    fn write_mem(&mut self, addr: usize, data: &[u8]) -> Result<(), Error>;
    /// Resumes the tracee with the signal gdb passes (a Redox number), or none: at a signal
    /// stop, its own signal is delivered, another replaces it, none suppresses it; at an
    /// exception stop, any signal lets the exception take its course, none drops it; at any
    /// other stop, a signal is injected.
    fn resume(&mut self, how: Resume, signal: Option<u8>) -> Result<(), Error>;
    /// Never blocks: why the tracee stopped, or `None` while it runs on.
    fn poll(&mut self) -> Result<Option<Halt>, Error>;
    /// gdb's Ctrl-C: make the running tracee stop soon (in a busy loop too), reported as
    /// SIGINT; a stop it reaches first is reported as itself.
    fn interrupt(&mut self) -> Result<(), Error>;
    /// Loads the four hardware watchpoint slots (all of them, every time).
    fn set_watchpoints(&mut self, slots: &WatchSlots) -> Result<(), Error>;
    fn kill(&mut self) -> Result<(), Error>;
    /// Lets the tracee run on untraced.
    fn detach(&mut self) -> Result<(), Error>;
}

/// The signal (a Redox number) x86 exception `vector` stands for: Linux's for the common
/// exceptions, not for all (Linux gives SIGBUS for 11 and 12, segment not present and
/// stack-segment fault; here they fall under SIGSEGV).
pub fn signal_of(vector: usize) -> u8 {
    const SIGILL: u8 = 4;
    const SIGTRAP: u8 = 5;
    const SIGBUS: u8 = 7;
    const SIGFPE: u8 = 8;
    const SIGSEGV: u8 = 11;
    match vector {
        0 | 16 | 19 => SIGFPE, // divide error, x87 and SIMD floating point
        1 | 3 => SIGTRAP,      // debug, breakpoint
        6 => SIGILL,           // invalid opcode
        17 => SIGBUS,          // alignment check
        _ => SIGSEGV,          // general protection, page fault, the rest
    }
}

/// Stops gdb cares about while the tracee runs or steps.
const RUNNING: StopSet = StopSet::BREAKPOINT
    .union(StopSet::EXCEPTION)
    .union(StopSet::EXIT);

/// gdb's number for SIGINT, what an interrupted tracee reports.
const SIGINT: u8 = 2;

/// A tracee spawned through redox-ptrace, single-threaded: gdbserver does not arm clone stops,
/// so the threads and forks the tracee starts run untraced.
pub struct Traced {
    tracer: Tracer,
    /// What the last resume armed.
    armed: StopSet,
    id: TraceeId,
    /// Our child's pid when we spawned it: its exit code comes from `waitpid`.
    child: Option<usize>,
    /// The tracee's `mem` handle, opened on first use (it follows the tracee across exec).
    mem: Option<MemFd>,
}

impl Traced {
    /// Spawns `argv` traced and runs it to the first instruction of the new program: the
    /// exit of the syscall that replaced its address space (exec). Before that, our handoff
    /// and relibc's loader run in the child.
    pub fn spawn(argv: &[String]) -> Result<Self, Error> {
        let mut source = spawn::default_source();
        // Non-blocking trace handles (an event queue), so that gdbserver can poll the tracee
        // and the serial line in turn while the program runs.
        let queue = spawn::open_event_queue().map_err(|e| e.to_string())?;
        let mut tracer = Tracer::with_event_queue(queue);
        tracer.set_always(StopSet::ADDRSPACE_SWITCH);
        let target = spawn::Target::Command(argv);
        let (id, child) =
            spawn::start_traced(&mut tracer, source.as_mut(), target, Restart::Syscall)
                .map_err(|e| format!("{target}: {e}"))?;
        let mut after_exec = false;
        loop {
            match tracer.wait().map_err(|e| e.to_string())? {
                Some((_, Stop::AddrSpaceSwitch)) => after_exec = true,
                Some((_, Stop::SyscallExit { .. })) if after_exec => break,
                Some((_, Stop::Exited)) | None => {
                    return Err(format!("{target} exited before its program started"));
                }
                Some((_, stop)) if stop.is_stop() => {
                    tracer
                        .restart(id, Restart::Syscall)
                        .map_err(|e| e.to_string())?;
                }
                Some(_) => {}
            }
        }
        // From here only what gdb asks for.
        tracer.set_always(StopSet::NONE);
        Ok(Self {
            tracer,
            armed: RUNNING,
            id,
            child,
            mem: None,
        })
    }

    /// The tracee's pid (procmgr's), for gdb's process id.
    pub fn pid(&self) -> Option<usize> {
        self.id.pid
    }

    fn err(e: redox_ptrace::Error) -> Error {
        e.to_string()
    }

    fn mem(&mut self) -> Result<&MemFd, Error> {
        if self.mem.is_none() {
            let ctx = self.tracee()?.context();
            self.mem = Some(raw::open_mem(ctx).map_err(Self::err)?);
        }
        self.mem.as_ref().ok_or_else(|| "no mem handle".to_string())
    }

    fn tracee(&mut self) -> Result<&mut redox_ptrace::Tracee, Error> {
        self.tracer
            .tracee_mut(self.id)
            .ok_or_else(|| "the tracee is gone".to_string())
    }

    /// Turns a stop into what gdb sees; `None` for stops gdb does not care about (they are
    /// answered here).
    fn halt_of(&mut self, stop: Stop) -> Result<Option<Halt>, Error> {
        Ok(Some(match stop {
            Stop::Interrupt { .. } => Halt::Signal(SIGINT),
            Stop::SingleStep { .. } => Halt::Step,
            Stop::Breakpoint { .. } => Halt::Breakpoint,
            Stop::Watchpoint { slot, address, .. } => Halt::Watchpoint { slot, address },
            Stop::Exception { kind, .. } => Halt::Signal(signal_of(kind)),
            Stop::Signal { signal, .. } => Halt::Signal(signal.number() as u8),
            Stop::Exited => return self.exit_status().map(Some),
            Stop::Exiting { .. } => {
                // Let it go; its exit code comes from waitpid once it is gone. A tracee that
                // procmgr ended (every exit) does not wait here: it may be gone already.
                match self
                    .tracer
                    .restart(self.id, Restart::Continue(StopSet::NONE))
                {
                    Err(e) if !e.is_tracee_died() => return Err(Self::err(e)),
                    Ok(()) | Err(_) => return Ok(None),
                }
            }
            Stop::AddrSpaceSwitch => return Ok(None),
            other => {
                if other.is_stop() {
                    self.tracer
                        .restart(self.id, Restart::Continue(self.armed))
                        .map_err(Self::err)?;
                }
                return Ok(None);
            }
        }))
    }

    fn exit_status(&mut self) -> Result<Halt, Error> {
        let Some(pid) = self.child else {
            // `start_traced` gives every spawned command's pid, so this is not expected; with
            // no pid there is no exit code to be had.
            return Ok(Halt::Exited(0));
        };
        Ok(match spawn::wait_exit(pid) {
            ExitStatus::Code(code) => Halt::Exited(code as u8),
            ExitStatus::Signal(sig) => Halt::Killed(sig as u8),
            ExitStatus::Unknown => Halt::Exited(0),
        })
    }
}

impl Inferior for Traced {
    fn int_regs(&mut self) -> Result<IntRegisters, Error> {
        self.tracee()?.int_regs().map_err(Self::err)
    }

    fn set_int_regs(&mut self, regs: &IntRegisters) -> Result<(), Error> {
        self.tracee()?.set_int_regs(regs).map_err(Self::err)
    }

    fn float_regs(&mut self) -> Result<FloatRegisters, Error> {
        self.tracee()?.float_regs().map_err(Self::err)
    }

    fn set_float_regs(&mut self, regs: &FloatRegisters) -> Result<(), Error> {
        let tracee = self.tracee()?;
        raw::set_float_regs(tracee.context(), regs).map_err(Self::err)
    }

    fn xsave(&mut self) -> Result<Option<XsaveArea>, Error> {
        match self.tracee()?.xsave() {
            Ok(area) => Ok(Some(area)),
            // No XSAVE on this CPU: gdb gets the SSE registers only.
            Err(e) if e.errno() == Some(syscall::EOPNOTSUPP) => Ok(None),
            Err(e) => Err(Self::err(e)),
        }
    }

    fn set_xsave(&mut self, area: &XsaveArea) -> Result<(), Error> {
        self.tracee()?.set_xsave(area).map_err(Self::err)
    }

    fn read_mem(&mut self, addr: usize, buf: &mut [u8]) -> Result<usize, Error> {
        let mem = self.mem()?;
        raw::read_mem(mem, addr, buf).map_err(Self::err)
    }

    fn write_mem(&mut self, addr: usize, data: &[u8]) -> Result<(), Error> {
        let mem = self.mem()?;
        let mut done = 0;
        while let Some(rest) = data.get(done..).filter(|rest| !rest.is_empty()) {
            let at = addr.wrapping_add(done);
            match raw::write_mem(mem, at, rest).map_err(Self::err)? {
                0 => return Err(format!("nothing mapped at {at:#x}")),
                n => done += n,
            }
        }
        Ok(())
    }

    fn resume(&mut self, how: Resume, signal: Option<u8>) -> Result<(), Error> {
        let set = match how {
            Resume::Continue => RUNNING,
            Resume::Step => RUNNING | StopSet::STEP,
        };
        let held = self.tracee()?.state().held().copied();
        let given = signal
            .map(|signo| {
                Signal::new(usize::from(signo)).ok_or_else(|| format!("no signal {signo}"))
            })
            .transpose()?;
        let restart = match (held, given) {
            // The kernel reports rip at the int3; gdb has put the original byte back (or
            // moved rip), so resume there without raising the breakpoint exception.
            (Some(Stop::Breakpoint { .. }), _) => Restart::SkipBreakpoint(set),
            (Some(Stop::Exception { .. } | Stop::Signal { .. }), None) => Restart::Suppress(set),
            (Some(Stop::Exception { .. }), Some(_)) => Restart::Continue(set),
            (Some(Stop::Signal { signal: own, .. }), Some(given)) if own == given => {
                Restart::Continue(set)
            }
            (Some(_), Some(given)) => Restart::Signal(set, given),
            (_, None) | (None, Some(_)) => Restart::Continue(set),
        };
        self.armed = set;
        self.tracer.restart(self.id, restart).map_err(Self::err)
    }

    fn poll(&mut self) -> Result<Option<Halt>, Error> {
        while let Some((_, stop)) = self.tracer.poll().map_err(Self::err)? {
            if let Some(halt) = self.halt_of(stop)? {
                return Ok(Some(halt));
            }
        }
        Ok(None)
    }

    fn interrupt(&mut self) -> Result<(), Error> {
        self.tracer.interrupt(self.id).map_err(Self::err)
    }

    fn set_watchpoints(&mut self, slots: &WatchSlots) -> Result<(), Error> {
        self.tracee()?.set_watchpoints(slots).map_err(Self::err)
    }

    fn kill(&mut self) -> Result<(), Error> {
        // A kill ends any stop it is in (docs/abi.md, "Kill always wins").
        self.tracer.kill(self.id).map_err(Self::err)?;
        // Drain to its exit (a stop queued before the kill, the exit stop, the exit), so
        // that waitpid reaps it.
        while self.tracer.wait().map_err(Self::err)?.is_some() {}
        self.exit_status().map(drop)
    }

    fn detach(&mut self) -> Result<(), Error> {
        // Leaving a breakpoint stop without PTRACE_FLAG_IGNORE raises the breakpoint
        // exception, which would kill the program. gdb has put the original byte back, so
        // step over it first (ignoring the int3 stop) and detach from the step stop.
        if let Some(Stop::Breakpoint { .. }) = self.tracee()?.state().held() {
            self.tracer
                .restart(self.id, Restart::SkipBreakpoint(StopSet::STEP))
                .map_err(Self::err)?;
            loop {
                match self.tracer.wait().map_err(Self::err)? {
                    Some((_, Stop::SingleStep { .. })) => break,
                    Some((_, Stop::Exited)) | None => return Ok(()),
                    Some((_, stop)) if stop.is_stop() => {
                        return Err(format!("detaching: unexpected {stop:?}"));
                    }
                    Some(_) => {}
                }
            }
        }
        self.tracer
            .restart(self.id, Restart::Detach)
            .map_err(Self::err)
    }
}
