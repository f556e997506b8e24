//! The syscall filter: `dup(trace, "filter")` chooses which syscalls stop.

use alloc::{format, vec::Vec};

use syscall::{
    flag::PtraceFlags, ContextStatus, GlobalSchemes, EINVAL, ESRCH, SYS_CLOSE, SYS_WRITE,
};
use trace_core::{filter::FILTER_ALL, filter::FILTER_MAX, Stop};

use super::{
    clone::{follow_one_clone, spawn_grandchild, Grandchild},
    trace::{drain, dup_trace, next_stop, resume, spawn_traced},
};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys::{self, Fd},
};

const PRE: PtraceFlags = PtraceFlags::PTRACE_STOP_PRE_SYSCALL;
const POST: PtraceFlags = PtraceFlags::PTRACE_STOP_POST_SYSCALL;
const MESSAGE: &[u8] = b"filtered";
const BAD_FD: usize = 999;

/// Writes [`MESSAGE`], closes a descriptor it does not have, exits (a write to its own
/// status handle).
fn write_close_exit(_: usize) -> ! {
    let _ = sys::write(child::given(0), MESSAGE);
    let _ = sys::close(BAD_FD);
    child::exit()
}

fn set_filter(trace: &Fd, numbers: &[u64]) -> sys::Result<usize> {
    let filter = sys::dup(trace, "filter")?;
    let bytes: Vec<u8> = numbers
        .iter()
        .flat_map(|number| number.to_ne_bytes())
        .collect();
    sys::write(&filter, &bytes)
}

fn close_entry() -> Stop {
    Stop::SyscallEntry {
        number: SYS_CLOSE,
        args: [BAD_FD, 0, 0, 0, 0, 0],
    }
}

fn close_exit() -> Stop {
    Stop::SyscallExit {
        number: SYS_CLOSE,
        ret: syscall::EBADF.wrapping_neg() as usize,
    }
}

/// Clears the argument words an entry stop has beyond the first (whatever the caller left in
/// those registers).
fn first_arg_only(stop: Stop) -> Stop {
    match stop {
        Stop::SyscallEntry { number, args } => Stop::SyscallEntry {
            number,
            args: [args[0], 0, 0, 0, 0, 0],
        },
        other => other,
    }
}

/// Verifies that with a filter only the chosen syscall stops, at entry and exit, and the
/// others (the write before it, the exit after it) run without a stop.
pub fn only_selected_syscalls_stop() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(write_close_exit, dup_trace)?;
    check_eq!(set_filter(&trace, &[SYS_CLOSE as u64])?, 8);
    resume(&trace, PRE | POST)?;
    child.start()?;

    check_eq!(first_arg_only(next_stop(&trace)?), close_entry());
    resume(&trace, PRE | POST)?;
    check_eq!(next_stop(&trace)?, close_exit());
    resume(&trace, PRE | POST)?;
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}

/// Verifies that a filter written at a stop applies from the next syscall: chosen at the
/// write's exit stop, `{close}` lets the close stop and nothing after it.
pub fn filter_changed_at_a_stop_applies_next() -> Result<(), Failure> {
    let (mut child, trace, _reader) = spawn_traced(write_close_exit, dup_trace)?;
    set_filter(&trace, &[SYS_WRITE as u64])?;
    resume(&trace, PRE | POST)?;
    child.start()?;

    check_eq!(next_stop(&trace)?.flag(), PRE, "the write's entry");
    resume(&trace, PRE | POST)?;
    check_eq!(
        next_stop(&trace)?,
        Stop::SyscallExit {
            number: SYS_WRITE,
            ret: MESSAGE.len()
        }
    );
    set_filter(&trace, &[SYS_CLOSE as u64])?;
    resume(&trace, PRE | POST)?;
    check_eq!(first_arg_only(next_stop(&trace)?), close_entry());
    resume(&trace, PRE | POST)?;
    check_eq!(next_stop(&trace)?, close_exit());
    resume(&trace, PRE | POST)?;
    // The exit is a write, no longer chosen.
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that an empty filter stops no syscall while other stops still come: the tracee
/// runs to its exit stop.
pub fn empty_filter_stops_no_syscall() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(write_close_exit, dup_trace)?;
    check_eq!(set_filter(&trace, &[])?, 0);
    let exit = PtraceFlags::PTRACE_STOP_EXIT;
    resume(&trace, PRE | POST | exit)?;
    child.start()?;

    check_eq!(next_stop(&trace)?.flag(), exit, "the first stop");
    resume(&trace, PRE | POST | exit)?;
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}

/// Verifies that a filter handle reads back the set, sorted, and that malformed sets, parts of
/// parts and unknown names are refused.
pub fn filter_reads_back_and_refuses_bad_sets() -> Result<(), Failure> {
    // Never started: dropping it runs it straight to its exit.
    let (_child, trace, _reader) = spawn_traced(write_close_exit, dup_trace)?;
    let filter = sys::dup(&trace, "filter")?;
    let mut buf = [0_u8; 24];
    check_eq!(sys::read(&filter, &mut buf)?, 8, "the default set");
    check_eq!(buf.get(..8), Some(&FILTER_ALL.to_ne_bytes()[..]));

    set_filter(&trace, &[9, 3, 9])?;
    check_eq!(sys::read(&filter, &mut buf)?, 16);
    check_eq!(
        buf.get(..16),
        Some(&[3_u64.to_ne_bytes(), 9_u64.to_ne_bytes()].concat()[..])
    );
    check_errno!(sys::read(&filter, &mut [0; 8]).map(drop), EINVAL);

    check_errno!(sys::write(&filter, &[0; 7]).map(drop), EINVAL);
    check_errno!(set_filter(&trace, &[1, FILTER_ALL]).map(drop), EINVAL);
    let too_many: Vec<u64> = (0..=FILTER_MAX as u64).collect();
    check_errno!(set_filter(&trace, &too_many).map(drop), EINVAL);
    check_errno!(sys::dup(&filter, "filter").map(drop), EINVAL);
    check_errno!(sys::dup(&trace, "filters").map(drop), EINVAL);
    // The refused writes left the set as it was.
    check_eq!(sys::read(&filter, &mut buf)?, 16);
    Ok(())
}

/// What the grandchild of [`clones_inherit_the_filter`] does: writes [`MESSAGE`], closes
/// [`BAD_FD`], exits.
static WRITE_CLOSE: Grandchild = Grandchild {
    message: MESSAGE,
    close: BAD_FD,
};

/// Verifies that a context the tracee creates inherits its filter: the grandchild stops only
/// at its close.
pub fn clones_inherit_the_filter() -> Result<(), Failure> {
    let armed = PRE | PtraceFlags::PTRACE_EVENT_CLONE;
    let (reader, writer) = sys::pipe_nonblocking()?;
    let proc_root = sys::scheme_root(GlobalSchemes::Proc)?;
    let mut child = Child::new(spawn_grandchild, WRITE_CLOSE.arg())?;
    child.give(&writer)?;
    child.give_as(proc_root, proc_root)?;
    let parent = sys::openat(
        child.context_fd(),
        "trace",
        syscall::O_RDWR | syscall::O_NONBLOCK,
    )?;
    set_filter(&parent, &[SYS_CLOSE as u64])?;
    resume(&parent, armed)?;
    child.start()?;

    let (grandchild, seen) = follow_one_clone(&parent, armed, |parent, number| {
        Ok(sys::dup(parent, &format!("clone/{}", number))?)
    })?;
    check_eq!(grandchild.is_some(), true, "the clone was reported");
    check_eq!(seen, [(SYS_CLOSE, BAD_FD)], "the grandchild's stops");
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}
