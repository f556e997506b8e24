//! The userspace tracing library (`userspace-tools/redox-ptrace`) on the real kernel: its
//! `Tracer` drives a tracee and its decoder prints strace lines from the tracee's memory.

use alloc::{string::String, vec::Vec};

use redox_ptrace::{
    decode::{DecodeOptions, PendingCall},
    fd,
    stats::SyscallStats,
    ContextFd, Restart, Stop, Tracer,
};
use syscall::{GlobalSchemes, IntRegisters, O_NONBLOCK, O_RDONLY};

use crate::{
    child::{self, Child},
    harness::Failure,
    sys,
};

/// Where [`known_calls`] opens `sys:uname` (a fixed number, so the lines are exact).
const UNAME_FD: usize = 40;
const NO_SUCH_FD: usize = 999;

/// A known sequence, with raw calls and fixed fd numbers: open a path with flags, write a
/// string, close it, fail a close, exit. The `sys:` root is in its table at the runner's slot.
fn known_calls(_: usize) -> ! {
    let sys_root = sys::scheme_root(GlobalSchemes::Sys).unwrap_or(usize::MAX);
    let _ = syscall::openat_into(sys_root, UNAME_FD, "uname", O_RDONLY | O_NONBLOCK, 0);
    let _ = syscall::write(child::given(0), b"hello, tracer\n");
    let _ = sys::close(UNAME_FD);
    let _ = sys::close(NO_SUCH_FD);
    child::exit()
}

/// What tracing [`known_calls`] gave.
pub(crate) struct Traced {
    /// One strace line per syscall.
    pub lines: Vec<String>,
    /// The registers at the first syscall entry stop.
    pub first_entry_regs: Option<IntRegisters>,
    /// Calls, errors and time between entry and exit stops, per syscall (`strace -c`).
    pub stats: SyscallStats,
}

/// Runs [`known_calls`] under the library's `Tracer`.
pub(crate) fn trace_known_calls() -> Result<Traced, Failure> {
    let (_reader, writer) = sys::pipe_nonblocking()?;
    let sys_root = sys::scheme_root(GlobalSchemes::Sys)?;
    let mut child = Child::new(known_calls, 0)?;
    child.give(&writer)?;
    child.give_as(sys_root, sys_root)?;
    // A plain clone of the context handle, in a slot of the library's, for it to own.
    let context = redox_ptrace::raw::dup_into(child.context_fd(), b"", fd::default_allocator())?;
    // SAFETY: the fd is the library's alone from here on; it closes it.
    let context = unsafe { ContextFd::from_raw(context.into_raw()) };

    let mut tracer = Tracer::new();
    let id = tracer.attach(context, None)?;
    tracer.restart(id, Restart::Syscall)?;
    child.start()?;

    let options = DecodeOptions::default();
    let mut traced = Traced {
        lines: Vec::new(),
        first_entry_regs: None,
        stats: SyscallStats::new(),
    };
    let mut pending = None;
    let mut entered = sys::monotonic()?;
    while let Some((id, stop)) = tracer.wait()? {
        match stop {
            Stop::SyscallEntry { number, args } => {
                let Some(tracee) = tracer.tracee_mut(id) else {
                    fail!("no tracee {:?}", id);
                };
                if traced.first_entry_regs.is_none() {
                    traced.first_entry_regs = Some(tracee.int_regs()?);
                }
                pending = Some(PendingCall::enter(number, args, tracee.memory(), &options));
                entered = sys::monotonic()?;
                tracer.restart(id, Restart::Syscall)?;
            }
            Stop::SyscallExit { ret, .. } => {
                let (Some(call), Some(tracee)) = (pending.take(), tracer.tracee_mut(id)) else {
                    fail!("an exit stop without its entry");
                };
                // The kernel's CLOCK_MONOTONIC was seen stepping back under TCG: the time
                // only feeds the summary's columns, so a step back counts as zero.
                let nanos = sys::monotonic()?.saturating_sub(entered).as_nanos();
                let finished = call.finish(ret, tracee.memory(), &options);
                let number = finished.number;
                let failed = finished.errno().is_some();
                traced
                    .stats
                    .record(number, u64::try_from(nanos).unwrap_or(u64::MAX), failed);
                traced.lines.push(alloc::format!("{}", finished));
                tracer.restart(id, Restart::Syscall)?;
            }
            Stop::Exited => {
                if let Some(call) = pending.take() {
                    traced.lines.push(alloc::format!("{}", call.unfinished()));
                }
            }
            other => fail!("unexpected stop {:?}", other),
        }
    }
    check_eq!(child.wait_exit()?, syscall::ContextStatus::Dead);
    Ok(traced)
}

/// Verifies that the library's `Tracer` multiplexes two tracees through `event:`: each one's
/// syscalls arrive, entry and exit paired, until both are gone.
pub fn library_multiplexes_tracees() -> Result<(), Failure> {
    let queue = redox_ptrace::raw::event_queue_at(sys::scheme_root(GlobalSchemes::Event)?)?;
    let mut tracer = Tracer::with_event_queue(queue);
    let sys_root = sys::scheme_root(GlobalSchemes::Sys)?;
    let (_reader, writer) = sys::pipe_nonblocking()?;
    let mut children = Vec::new();
    for _ in 0..2 {
        let mut child = Child::new(known_calls, 0)?;
        child.give(&writer)?;
        child.give_as(sys_root, sys_root)?;
        let context =
            redox_ptrace::raw::dup_into(child.context_fd(), b"", fd::default_allocator())?;
        // SAFETY: the fd is the library's alone from here on; it closes it.
        let id = tracer.attach(unsafe { ContextFd::from_raw(context.into_raw()) }, None)?;
        tracer.restart(id, Restart::Syscall)?;
        children.push((id, child));
    }
    for (_, child) in &mut children {
        child.start()?;
    }

    // Per tracee: completed calls, and whether it was reported gone.
    let mut seen = [(0, false); 2];
    while let Some((id, stop)) = tracer.wait()? {
        let Some(index) = children.iter().position(|(known, _)| *known == id) else {
            fail!("a stop for an unknown tracee {:?}", id);
        };
        match stop {
            Stop::SyscallEntry { .. } => tracer.restart(id, Restart::Syscall)?,
            Stop::SyscallExit { args, .. } => {
                check_eq!(args.is_some(), true, "exit paired with its entry");
                seen[index].0 += 1;
                tracer.restart(id, Restart::Syscall)?;
            }
            Stop::Exited => seen[index].1 = true,
            other => fail!("unexpected stop {:?}", other),
        }
    }
    // Four calls return (open, write, two closes); the exit's write never does.
    check_eq!(seen, [(4, true), (4, true)]);
    for (_, child) in &mut children {
        check_eq!(child.wait_exit()?, syscall::ContextStatus::Dead);
    }
    Ok(())
}

/// Verifies that the library's tracer and decoder print exactly the strace lines of a known
/// syscall sequence: a path and a flag set read from the tracee, a written string, results and
/// an errno, and the exit that never returns.
pub fn library_prints_exact_lines() -> Result<(), Failure> {
    let lines = trace_known_calls()?.lines;
    let exit_bytes = r#""\377\377\377\377\377\377\377\377""#;
    let expected = [
        r#"openat_into(UPPER|8, "uname", O_RDONLY|O_NONBLOCK, 0, 40) = 40"#.into(),
        alloc::format!(r#"write({}, "hello, tracer\n", 14) = 14"#, child::given(0)),
        "close(40) = 0".into(),
        "close(999) = -1 EBADF (Bad file number)".into(),
        alloc::format!("write({}, {}, 8) = ?", child::SELF_FD, exit_bytes),
    ];
    check_eq!(lines, expected);
    Ok(())
}
