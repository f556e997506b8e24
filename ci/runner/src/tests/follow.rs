//! Following on start: a context a tracee did not create (procmgr made it for a fork or a
//! thread) but starts is its clone, traced from its first instruction.

use alloc::format;

use syscall::{
    flag::{EventFlags, PtraceFlags},
    ContextStatus, Event, GlobalSchemes, ProcSchemeAttrs, EAGAIN, SYS_WRITE,
};
use trace_core::Stop;

use super::trace::{drain, next_stop, resume};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys::{self, Fd},
};

const MESSAGE: &[u8] = b"started";
/// The process id "procmgr" (here the runner) gives the new context.
const PID: u32 = 4242;

/// The new context: writes its message and exits.
fn write_message(_: usize) -> ! {
    let _ = sys::write(child::given(0), MESSAGE);
    child::exit()
}

/// The tracee: starts the context whose `start` handle it was given, as relibc's fork() does
/// with the context procmgr created, then exits.
fn start_given(_: usize) -> ! {
    let _ = sys::write(child::given(0), &[0]);
    child::exit()
}

/// Makes the context for the tracee to start and that tracee (not yet started): returns the
/// reading end of a fresh pipe, its writer, the new context (running [`write_message`] with
/// the writer as its first fd), the new context's `start` handle, and the tracee (running
/// [`start_given`] with that handle as its first fd). In the order made, so that a test
/// holding them all drops them in the reverse.
fn made_and_starter() -> Result<(Fd, Fd, Child, Fd, Child), Failure> {
    let (reader, writer) = sys::pipe_nonblocking()?;
    let mut made = Child::new(write_message, 0)?;
    made.give(&writer)?;
    let start = made.open("start")?;
    let mut starter = Child::new(start_given, 0)?;
    starter.give(&start)?;
    Ok((reader, writer, made, start, starter))
}

/// Verifies that a never-run context a tracee starts, made by someone else (the runner, in
/// procmgr's place, attributes written), is reported as a clone carrying its pid while still
/// unstarted, and is traced from its first instruction.
pub fn started_context_is_traced_from_the_start() -> Result<(), Failure> {
    let armed = PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_EVENT_CLONE;
    let proc_root = sys::scheme_root(GlobalSchemes::Proc)?;
    let (reader, _writer, mut made, _start, mut starter) = made_and_starter()?;
    // Read when the starter writes `start`: what the clone stop reports.
    let attrs = made.open(&format!("auth-{proc_root}-attrs"))?;
    let mut name = [0; 32];
    for (slot, byte) in name.iter_mut().zip(b"made") {
        *slot = *byte;
    }
    let written = sys::write(
        &attrs,
        &ProcSchemeAttrs {
            pid: PID,
            euid: 0,
            egid: 0,
            prio: 20,
            debug_name: name,
        },
    )?;
    check_eq!(written, core::mem::size_of::<ProcSchemeAttrs>());
    let trace = starter.open("trace")?;
    resume(&trace, armed)?;
    starter.start()?;

    let Stop::SyscallEntry { number, args } = next_stop(&trace)? else {
        fail!("expected the starter's write entry");
    };
    check_eq!((number, args[0]), (SYS_WRITE, child::given(0)));
    resume(&trace, armed)?;
    let Stop::Clone { number, pid } = next_stop(&trace)? else {
        fail!("expected a clone stop inside the start write");
    };
    check_eq!(pid, PID as usize, "the clone's pid");
    check_eq!(
        made.status()?,
        ContextStatus::NotYetStarted,
        "at the clone stop"
    );
    let clone = sys::dup(&trace, &format!("clone/{number}"))?;
    resume(&trace, PtraceFlags::empty())?;
    made.started_by_another();
    check_eq!(starter.wait_exit()?, ContextStatus::Dead, "the starter");

    // Its first syscall stops it: nothing ran untraced.
    let Stop::SyscallEntry { number, args } = next_stop(&clone)? else {
        fail!("expected the new context's first syscall");
    };
    check_eq!((number, args[0]), (SYS_WRITE, child::given(0)));
    check_eq!(drain(&reader)?, b"", "written before its stop");
    resume(&clone, PtraceFlags::empty())?;
    check_eq!(made.wait_exit()?, ContextStatus::Dead, "the new context");
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}

/// Verifies that without `PTRACE_EVENT_CLONE` a started context is not followed: the starter
/// does not stop, and the context runs untraced (a tracer can still attach to it after).
pub fn started_context_without_clone_armed_runs_free() -> Result<(), Failure> {
    let (reader, _writer, mut made, _start, mut starter) = made_and_starter()?;
    let trace = starter.open("trace")?;
    resume(&trace, PtraceFlags::PTRACE_STOP_EXIT)?;
    starter.start()?;
    made.started_by_another();
    let Stop::Exit { .. } = next_stop(&trace)? else {
        fail!("expected only the starter's exit stop");
    };
    // Gone already when its exit was a kill: ESRCH is fine.
    let _ = resume(&trace, PtraceFlags::empty());
    check_eq!(made.wait_exit()?, ContextStatus::Dead, "the new context");
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}

/// Verifies that when an `O_EXCL` tracer goes away while its tracee is stopped at the clone
/// stop of a start, the context being started never runs: it is discarded unstarted, killed,
/// with its owner told as at any exit, and the starter is killed.
pub fn exclusive_close_at_clone_stop_discards_the_context() -> Result<(), Failure> {
    let (reader, _writer, mut made, _start, mut starter) = made_and_starter()?;
    // The runner made it, so the runner's handle is the owner procmgr's would be.
    let queue = sys::openat(
        sys::scheme_root(GlobalSchemes::Event)?,
        "",
        syscall::O_RDWR | syscall::O_NONBLOCK,
    )?;
    let watch = Event {
        id: made.context_fd(),
        flags: EventFlags::EVENT_READ,
        data: made.context_fd(),
    };
    sys::write(&queue, &watch)?;
    let trace = sys::openat(
        starter.context_fd(),
        "trace",
        syscall::O_RDWR | syscall::O_EXCL,
    )?;
    resume(&trace, PtraceFlags::PTRACE_EVENT_CLONE)?;
    starter.start()?;

    let Stop::Clone { .. } = next_stop(&trace)? else {
        fail!("expected the clone stop inside the start write");
    };
    drop(trace);
    check_eq!(
        starter.wait_exit()?,
        ContextStatus::ForceKilled,
        "the starter"
    );
    check_eq!(
        made.wait_exit()?,
        ContextStatus::ForceKilled,
        "the discarded context"
    );
    check_eq!(
        next_owner_event(&queue)?,
        made.context_fd(),
        "the owner's event"
    );
    // Dead without ever running: nothing for Drop to start.
    made.started_by_another();
    check_eq!(drain(&reader)?, b"", "what it wrote");
    Ok(())
}

/// The data of the next event on the non-blocking `queue`, within [`child::WAIT_TIMEOUT`].
fn next_owner_event(queue: &Fd) -> Result<usize, Failure> {
    let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
    loop {
        let mut event = Event::default();
        match sys::read(queue, &mut event) {
            Ok(_) => return Ok(event.data),
            Err(error) if error.errno == EAGAIN && sys::monotonic()? < deadline => sys::yield_now(),
            Err(error) => return Err(error.into()),
        }
    }
}

/// Verifies that a starter killed at the clone stop of a start still starts the context (the
/// fork happened): the tracer takes the clone and sees its first syscall, and the starter is
/// gone.
pub fn killed_starter_still_starts_the_clone() -> Result<(), Failure> {
    let armed = PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_EVENT_CLONE;
    let (reader, _writer, mut made, _start, mut starter) = made_and_starter()?;
    let trace = starter.open("trace")?;
    resume(&trace, armed)?;
    starter.start()?;

    // The clone inherits the entry stops, so it cannot run past its first syscall untaken.
    check_eq!(
        next_stop(&trace)?.flag(),
        PtraceFlags::PTRACE_STOP_PRE_SYSCALL,
        "the start write"
    );
    resume(&trace, armed)?;
    let Stop::Clone { number, .. } = next_stop(&trace)? else {
        fail!("expected the clone stop inside the start write");
    };
    starter.kill()?;
    check_eq!(
        starter.wait_exit()?,
        ContextStatus::ForceKilled,
        "the starter"
    );
    made.started_by_another();
    let clone = sys::dup(&trace, &format!("clone/{number}"))?;
    let Stop::SyscallEntry { number, args } = next_stop(&clone)? else {
        fail!("expected the started context's first syscall");
    };
    check_eq!((number, args[0]), (SYS_WRITE, child::given(0)));
    resume(&clone, PtraceFlags::empty())?;
    check_eq!(
        made.wait_exit()?,
        ContextStatus::Dead,
        "the started context"
    );
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}
