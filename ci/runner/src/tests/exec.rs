//! Address-space switches (exec): the notice, and the `mem` handle following the new space.

use core::sync::atomic::{AtomicUsize, Ordering};

use syscall::{flag::PtraceFlags, ContextStatus, SYS_WRITE};
use trace_core::Stop;

use super::trace::{drain, next_stop, resume};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys,
};

const STACK: usize = 16 * 1024;
const MESSAGE: &[u8] = b"after exec";

/// The runner changes this once the tracee has its own copy of the address space.
static SPACE_MARK: AtomicUsize = AtomicUsize::new(1);

/// What [`replace_address_space`] does with its handles to the old space and its copy.
#[derive(Clone, Copy)]
pub(super) enum SpaceHandles {
    /// Leaves them open in the caller's table.
    Keep,
    /// Closes them before the switch.
    Close,
}

/// Replaces the calling child's address space with a copy of the current one, as an exec does,
/// going on at `ip` with `rsp` at `sp`; `context` is the child's own context handle. Returns
/// only if that fails: the switch happens as the `current-addrspace` handle is closed, and
/// that close returns at `ip`.
pub(super) fn replace_address_space(
    context: usize,
    sp: usize,
    ip: extern "C" fn() -> !,
    handles: SpaceHandles,
) -> sys::Result<()> {
    let space = sys::dup(context, "addrspace")?;
    let copy = sys::dup(&space, "exclusive")?;
    let switch = sys::dup(context, "current-addrspace")?;
    sys::write_usizes(&switch, &[copy.raw(), sp, ip as usize])?;
    match handles {
        SpaceHandles::Keep => core::mem::forget((space, copy)),
        SpaceHandles::Close => drop((space, copy)),
    }
    switch.close()
}

/// Replaces its own address space with a copy of the current one, as an exec does, and goes
/// on at [`after_exec`] on the stack whose top is `stack_top`. Its second fd is its own context
/// handle.
fn exec_self(stack_top: usize) -> ! {
    let _ = replace_address_space(child::given(1), stack_top, after_exec, SpaceHandles::Keep);
    child::exit()
}

extern "C" fn after_exec() -> ! {
    let _ = sys::write(child::given(0), MESSAGE);
    child::exit()
}

/// Verifies that replacing the tracee's address space is reported to a tracer that armed the
/// notice, without stopping the tracee, and that a `mem` handle opened before then reads the
/// new address space.
pub fn switch_is_reported_and_mem_follows() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe_nonblocking()?;
    let stack = sys::map_anonymous(STACK)?;
    // As if entered by a call: rsp + 8 is 16-byte aligned.
    let mut child = Child::new(exec_self, stack + STACK - 8)?;
    child.give(&writer)?;
    child.give(child.context_fd())?;
    let mem = child.open("mem")?;
    let trace = child.open("trace")?;
    let armed = PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH;
    resume(&trace, armed)?;
    child.start()?;

    let mut switched = false;
    loop {
        match next_stop(&trace)? {
            Stop::AddrSpaceSwitch => switched = true,
            Stop::SyscallEntry { number, args } if switched => {
                check_eq!(
                    (number, args[0]),
                    (SYS_WRITE, child::given(0)),
                    "first call after"
                );
                break;
            }
            Stop::SyscallEntry { .. } => resume(&trace, armed)?,
            other => fail!("unexpected {:?}", other),
        }
    }
    // The tracee now runs in its copy: the runner's change is not in it.
    SPACE_MARK.store(2, Ordering::SeqCst);
    let mut word = [0; size_of::<usize>()];
    sys::read_at(&mem, (&raw const SPACE_MARK) as u64, &mut word)?;
    check_eq!(
        usize::from_ne_bytes(word),
        1,
        "the mark in the tracee's new space"
    );
    resume(&trace, PtraceFlags::empty())?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, MESSAGE);
    SPACE_MARK.store(1, Ordering::SeqCst);
    Ok(())
}

/// How many more address-space switches [`switch_repeatedly`] does, in its current copy.
static SWITCHES_LEFT: AtomicUsize = AtomicUsize::new(0);
/// The stack top [`switch_repeatedly`] restarts on after each switch.
static SWITCH_STACK_TOP: AtomicUsize = AtomicUsize::new(0);

/// Replaces its address space with a copy [`SWITCHES_LEFT`] times (each copy inherits the
/// count), then waits for a byte on its second fd and writes [`MESSAGE`] to its first.
extern "C" fn switch_repeatedly() -> ! {
    let context = child::given(2);
    if SWITCHES_LEFT.load(Ordering::SeqCst) > 0 {
        // Decremented before the copy is made, so that the copy sees one fewer.
        SWITCHES_LEFT.fetch_sub(1, Ordering::SeqCst);
        let sp = SWITCH_STACK_TOP.load(Ordering::SeqCst);
        let _ = replace_address_space(context, sp, switch_repeatedly, SpaceHandles::Close);
        child::exit()
    }
    let _ = sys::read(child::given(1), &mut [0; 1]);
    let _ = sys::write(child::given(0), MESSAGE);
    child::exit()
}

fn start_switching(_: usize) -> ! {
    switch_repeatedly()
}

/// Verifies that unread address-space notices never crowd out a stop: after more switches
/// than the queue has room for, the tracee's next armed syscall stop is still reported.
pub fn many_notices_never_drop_a_stop() -> Result<(), Failure> {
    const SWITCHES: usize = 5;
    let (reader, writer) = sys::pipe_nonblocking()?;
    let (go_reader, go_writer) = sys::pipe()?;
    let stack = sys::map_anonymous(STACK)?;
    SWITCH_STACK_TOP.store(stack + STACK - 8, Ordering::SeqCst);
    SWITCHES_LEFT.store(SWITCHES, Ordering::SeqCst);
    let mut child = Child::new(start_switching, 0)?;
    child.give(&writer)?;
    child.give(&go_reader)?;
    child.give(child.context_fd())?;
    let trace = child.open("trace")?;
    let notice = PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH;
    resume(&trace, notice)?;
    child.start()?;
    // All switches done, nothing read: the tracee now waits for the go byte.
    child.wait_status(ContextStatus::Blocked)?;
    resume(&trace, notice | PtraceFlags::PTRACE_STOP_PRE_SYSCALL)?;
    sys::write(&go_writer, b"!")?;
    // Nothing read until the tracee is at its stop (or, with the stop lost, gone).
    child.wait_until(|status| status != ContextStatus::Runnable)?;

    let mut notices = 0;
    loop {
        match next_stop(&trace)? {
            Stop::AddrSpaceSwitch => notices += 1,
            Stop::SyscallEntry { number, args } => {
                check_eq!((number, args[0]), (SYS_WRITE, child::given(0)), "the stop");
                break;
            }
            other => fail!("unexpected {:?}", other),
        }
    }
    check_eq!(notices > 0, true, "a notice was reported ({})", notices);
    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}
