//! The exit stop, and what a tracer gets once its tracee is gone.

use core::sync::atomic::{AtomicUsize, Ordering};

use syscall::{flag::PtraceFlags, ContextStatus, ESRCH};
use trace_core::Stop;

use super::trace::{next_stop, regs, resume};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys,
};

const EXIT: PtraceFlags = PtraceFlags::PTRACE_STOP_EXIT;
const MARK: usize = 0x5eed;

/// Set by [`mark_then_exit`] in its own (forked) copy.
static EXIT_MARK: AtomicUsize = AtomicUsize::new(0);

fn mark_then_exit(_: usize) -> ! {
    EXIT_MARK.store(MARK, Ordering::SeqCst);
    child::exit()
}

/// Verifies that an exiting tracee stops with its status before its memory and registers go,
/// and that after it is gone every trace request is ESRCH.
pub fn stop_comes_before_teardown() -> Result<(), Failure> {
    let mut child = Child::forked(mark_then_exit, 0)?;
    let mem = child.open("mem")?;
    let trace = child.open("trace")?;
    resume(&trace, EXIT)?;
    child.start()?;

    check_eq!(
        next_stop(&trace)?,
        Stop::Exit {
            status: ContextStatus::Dead as usize,
            exception: 0
        }
    );
    let mut word = [0; size_of::<usize>()];
    sys::read_at(&mem, (&raw const EXIT_MARK) as u64, &mut word)?;
    check_eq!(
        usize::from_ne_bytes(word),
        MARK,
        "the tracee's memory at its exit"
    );
    check_eq!(EXIT_MARK.load(Ordering::SeqCst), 0, "the runner's own copy");
    regs(&child)?;
    resume(&trace, PtraceFlags::empty())?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    check_errno!(resume(&trace, EXIT), ESRCH);
    Ok(())
}

/// Verifies that a running tracee killed by someone else reports its exit stop, as
/// force-killed, without waiting in it: no tracer action is needed for it to die.
pub fn killed_tracee_reports_exit() -> Result<(), Failure> {
    let mut child = Child::new(child::yield_forever, 0)?;
    let trace = child.open("trace")?;
    resume(&trace, EXIT)?;
    child.start()?;
    child.kill()?;

    check_eq!(
        next_stop(&trace)?,
        Stop::Exit {
            status: ContextStatus::ForceKilled as usize,
            exception: 0
        }
    );
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    Ok(())
}

/// Waits for a byte on its first fd, forever.
fn wait_for_byte(_: usize) -> ! {
    let _ = sys::read(child::given(0), &mut [0; 1]);
    child::exit()
}

/// Verifies that a tracee killed while in a trace stop dies at once, without any tracer
/// action, and that its tracer then reads ESRCH.
pub fn kill_ends_a_stopped_tracee() -> Result<(), Failure> {
    let (reader, _writer) = sys::pipe()?;
    let mut child = Child::new(wait_for_byte, 0)?;
    child.give(&reader)?;
    let trace = child.open("trace")?;
    resume(&trace, PtraceFlags::PTRACE_STOP_PRE_SYSCALL)?;
    child.start()?;
    let Stop::SyscallEntry { .. } = next_stop(&trace)? else {
        fail!("expected the read's entry stop");
    };
    child.kill()?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    Ok(())
}

/// Verifies that a tracee killed while stopped, with its exit stop armed, reports the exit
/// (as force-killed) but does not wait in it: it is gone without any tracer action.
pub fn killed_tracee_does_not_wait_at_exit() -> Result<(), Failure> {
    let (reader, _writer) = sys::pipe()?;
    let mut child = Child::new(wait_for_byte, 0)?;
    child.give(&reader)?;
    let trace = child.open("trace")?;
    resume(&trace, PtraceFlags::PTRACE_STOP_PRE_SYSCALL | EXIT)?;
    child.start()?;
    let Stop::SyscallEntry { .. } = next_stop(&trace)? else {
        fail!("expected the read's entry stop");
    };
    child.kill()?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    check_eq!(
        next_stop(&trace)?,
        Stop::Exit {
            status: ContextStatus::ForceKilled as usize,
            exception: 0
        }
    );
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    Ok(())
}
