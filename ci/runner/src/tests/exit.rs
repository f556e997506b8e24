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

fn yield_forever(_: usize) -> ! {
    loop {
        sys::yield_now();
    }
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

/// Verifies that a tracee killed by someone else still stops at its exit, reported as
/// force-killed.
pub fn killed_tracee_stops_at_exit() -> Result<(), Failure> {
    let mut child = Child::new(yield_forever, 0)?;
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
    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    Ok(())
}
