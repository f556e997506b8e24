//! Interrupt stops: a tracer stops a running tracee through the session's `interrupt` part,
//! with nothing armed, wherever it runs in user code.

use core::sync::atomic::{AtomicBool, Ordering};

use syscall::{flag::PtraceFlags, ContextStatus, EAGAIN, EINVAL, ESRCH, O_NONBLOCK, O_RDWR};
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

/// Reads its first fd (a blocking pipe) once, then spins.
fn read_then_spin(_: usize) -> ! {
    let mut byte = [0];
    let _ = sys::read(child::given(0), &mut byte);
    rp_spin()
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

/// Waits for the next event of the non-blocking `trace`, for at most [`child::WAIT_TIMEOUT`].
fn await_stop(trace: &Fd) -> Result<Stop, Failure> {
    let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
    loop {
        match next_stop(trace) {
            Err(error) if error.errno == EAGAIN && sys::monotonic()? < deadline => sys::yield_now(),
            other => return Ok(other?),
        }
    }
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
        Stop::Interrupt { ip } => ip,
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

/// Verifies that a tracee blocked in a syscall is not stopped there: the interrupt stop comes
/// once the call has returned (here: a pipe read the tracer then satisfies).
pub fn blocked_tracee_stops_after_its_call() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe()?;
    let mut child = Child::new(read_then_spin, 0)?;
    child.give(&reader)?;
    let trace = sys::openat(child.context_fd(), "trace", O_RDWR | O_NONBLOCK)?;
    child.start()?;
    child.wait_status(ContextStatus::Blocked)?;
    interrupt(&trace)?;
    for _ in 0..20 {
        sys::yield_now();
    }
    check_errno!(next_stop(&trace).map(drop), EAGAIN);
    check_eq!(sys::write(&writer, b"x")?, 1);
    let Stop::Interrupt { .. } = await_stop(&trace)? else {
        fail!("expected the interrupt stop after the read");
    };
    child.kill()?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
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
