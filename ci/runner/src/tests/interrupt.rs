//! Interrupt stops: a tracer stops its tracee through the session's `interrupt` part, with
//! nothing armed, wherever it runs in user code or whatever call it is blocked in.

use core::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use syscall::{flag::PtraceFlags, ContextStatus, EINVAL, ESRCH, SYS_READ};
use trace_core::Stop;

use super::{
    code::{at, rp_spin},
    trace::{dup_trace, next_stop, regs, resume, spawn_traced},
};
use crate::{
    child::{self, Child},
    harness::{Failure, Hex},
    sys::{self, Fd},
};

/// Set by [`spin`] just before it enters its loop.
pub(crate) static SPINNING: AtomicBool = AtomicBool::new(false);

/// Spins in [`rp_spin`], making no syscall, until killed.
pub(crate) fn spin(_: usize) -> ! {
    SPINNING.store(true, Ordering::SeqCst);
    rp_spin()
}

/// What [`read_then_exit`]'s read returned: the count, or `ERRNO` with the errno; `NONE` until
/// it returned.
static READ_RESULT: AtomicUsize = AtomicUsize::new(NONE);
const NONE: usize = usize::MAX;
const ERRNO: usize = 1 << 32;

/// Reads one byte from its first fd (a blocking pipe), notes the result, exits.
pub(crate) fn read_then_exit(_: usize) -> ! {
    let mut byte = [0];
    let result = match sys::read(child::given(0), &mut byte) {
        Ok(count) => count,
        Err(error) => ERRNO | error.errno as usize,
    };
    READ_RESULT.store(result, Ordering::SeqCst);
    child::exit()
}

/// Waits until [`spin`] has entered its loop, for at most [`child::WAIT_TIMEOUT`].
pub(crate) fn await_spinning() -> Result<(), Failure> {
    let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
    while !SPINNING.load(Ordering::SeqCst) {
        if sys::monotonic()? > deadline {
            fail!("the tracee never reached its loop");
        }
        sys::yield_now();
    }
    Ok(())
}

pub(crate) fn interrupt(trace: &Fd) -> sys::Result<usize> {
    sys::write(&sys::dup(trace, "interrupt")?, &[])
}

/// Verifies that an interrupt stops a tracee spinning without syscalls, with nothing armed,
/// at an instruction of its loop (the `rip` its registers show), that the stop cannot be
/// skipped, and that the tracee runs on after the resume (one request, one stop).
pub fn spinning_tracee_stops() -> Result<(), Failure> {
    SPINNING.store(false, Ordering::SeqCst);
    let (mut child, trace, _output) = spawn_traced(spin, dup_trace)?;
    child.start()?;
    await_spinning()?;
    check_eq!(interrupt(&trace)?, 0);
    let ip = match next_stop(&trace)? {
        Stop::Interrupt { ip, call: None } => ip,
        other => fail!("expected the interrupt stop, got {:?}", other),
    };
    if !(at::spin()..at::spin_end()).contains(&ip) {
        fail!(
            "stopped at {:?}, outside the loop {:?}..{:?}",
            Hex(ip),
            Hex(at::spin()),
            Hex(at::spin_end())
        );
    }
    let (_handle, int) = regs(&child)?;
    check_eq!(Hex(int.rip), Hex(ip), "rip at the stop");
    check_errno!(resume(&trace, PtraceFlags::PTRACE_FLAG_IGNORE), EINVAL);
    resume(&trace, PtraceFlags::empty())?;
    for _ in 0..20 {
        sys::yield_now();
    }
    check_eq!(child.status()?, ContextStatus::Runnable, "after the resume");
    child.kill()?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    Ok(())
}

/// Verifies that an interrupt asked of a tracee in a stop changes nothing: the tracer reads
/// the stop it is in, and the resume lets it run to its exit with no interrupt stop.
pub fn stopped_tracee_ignores_interrupt() -> Result<(), Failure> {
    let (mut child, trace, _output) = spawn_traced(child::exit_at_once, dup_trace)?;
    resume(&trace, PtraceFlags::PTRACE_STOP_PRE_SYSCALL)?;
    child.start()?;
    let Stop::SyscallEntry { .. } = next_stop(&trace)? else {
        fail!("expected the exit call's entry stop");
    };
    check_eq!(interrupt(&trace)?, 0);
    resume(&trace, PtraceFlags::empty())?;
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that an interrupt stops a tracee blocked in a syscall there, naming the call, with
/// its registers set back to the `syscall` instruction and the call's number; that the resume
/// runs the call again (blocked again, not ended), and that the tracee never sees `EINTR`: the
/// read returns the byte the tracer then writes.
pub fn blocked_tracee_stops_in_its_call() -> Result<(), Failure> {
    READ_RESULT.store(NONE, Ordering::SeqCst);
    let (reader, writer) = sys::pipe()?;
    let mut child = Child::new(read_then_exit, 0)?;
    child.give(&reader)?;
    let trace = child.open("trace")?;
    child.start()?;
    child.wait_status(ContextStatus::Blocked)?;
    check_eq!(interrupt(&trace)?, 0);
    let ip = match next_stop(&trace)? {
        Stop::Interrupt {
            ip,
            call: Some(SYS_READ),
        } => ip,
        other => fail!("expected the interrupt stop in read, got {:?}", other),
    };
    let (_handle, int) = regs(&child)?;
    check_eq!(Hex(int.rip), Hex(ip), "rip at the stop");
    check_eq!(Hex(int.rax), Hex(SYS_READ), "rax at the stop");
    // SAFETY: `ip` is the tracee's code, which is the runner's own, mapped and readable.
    let instruction = unsafe { core::ptr::read_volatile(ip as *const [u8; 2]) };
    check_eq!(instruction, [0x0f, 0x05], "the instruction at the stop");
    resume(&trace, PtraceFlags::empty())?;
    child.wait_status(ContextStatus::Blocked)?;
    check_eq!(
        READ_RESULT.load(Ordering::SeqCst),
        NONE,
        "read ended before the write"
    );
    check_eq!(sys::write(&writer, b"x")?, 1);
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(READ_RESULT.load(Ordering::SeqCst), 1, "the read's result");
    Ok(())
}

/// Verifies the interrupt part's errors: nothing to read (`EINVAL`), and `ESRCH` once the
/// tracee has exited.
pub fn interrupt_part_errors() -> Result<(), Failure> {
    let (mut child, trace, _output) = spawn_traced(child::exit_at_once, dup_trace)?;
    let part = sys::dup(&trace, "interrupt")?;
    check_errno!(sys::read(&part, &mut [0; 8]).map(drop), EINVAL);
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_errno!(sys::write(&part, &[]).map(drop), ESRCH);
    Ok(())
}
