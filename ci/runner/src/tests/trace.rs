//! Trace sessions on `kernel.proc`: syscall stops, sysemu, register edits, session lifetime,
//! multiplexing. Every test spawns its own tracee, attached before it starts.

use core::mem::size_of;

use syscall::{
    data::Event, flag::PtraceFlags, ContextStatus, EventFlags, IntRegisters, EAGAIN, EBADF, EBUSY,
    EEXIST, EINVAL, EPERM, ESRCH, O_EXCL, O_NONBLOCK, O_RDWR, SYS_CLOSE, SYS_WRITE,
};
use trace_core::{Stop, TraceEvent};

use super::exec::{replace_address_space, SpaceHandles};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys::{self, Fd},
};

const PRE: PtraceFlags = PtraceFlags::PTRACE_STOP_PRE_SYSCALL;
const POST: PtraceFlags = PtraceFlags::PTRACE_STOP_POST_SYSCALL;
const IGNORE: PtraceFlags = PtraceFlags::PTRACE_FLAG_IGNORE;

const MESSAGE: &[u8] = b"hello";
/// A descriptor no child has, for a syscall that fails.
const BAD_FD: usize = 999;

/// Arms `flags` on `trace`, resuming the tracee if it is stopped.
pub(crate) fn resume(trace: &Fd, flags: PtraceFlags) -> sys::Result<()> {
    sys::write(trace, &flags.bits().to_ne_bytes()).map(drop)
}

/// Reads one event from `trace` (blocking unless it was opened non-blocking); a read that is
/// not exactly one event fails with EINVAL.
pub(crate) fn next_stop(trace: &Fd) -> sys::Result<Stop> {
    let mut buf = [0; TraceEvent::SIZE];
    let len = sys::read(trace, &mut buf)?;
    TraceEvent::from_bytes(buf.get(..len).unwrap_or(&[]))?.decode()
}

/// Everything a non-blocking pipe holds now, up to end-of-file or EAGAIN.
pub(super) fn drain(reader: &Fd) -> sys::Result<alloc::vec::Vec<u8>> {
    let mut bytes = alloc::vec::Vec::new();
    let mut buf = [0; 64];
    loop {
        match sys::read(reader, &mut buf) {
            Ok(0) => return Ok(bytes),
            Ok(len) => bytes.extend_from_slice(buf.get(..len).unwrap_or(&[])),
            Err(error) if error.errno == EAGAIN => return Ok(bytes),
            Err(error) => return Err(error),
        }
    }
}

pub(super) fn regs(child: &Child) -> Result<(Fd, IntRegisters), Failure> {
    let handle = child.open("regs/int")?;
    let mut regs = IntRegisters::default();
    check_eq!(sys::read(&handle, &mut regs)?, size_of::<IntRegisters>());
    Ok((handle, regs))
}

/// The entry stop of the write [`write_message`] and its kin do first.
fn write_message_entry() -> Stop {
    Stop::SyscallEntry {
        number: SYS_WRITE,
        args: [
            child::given(0),
            MESSAGE.as_ptr() as usize,
            MESSAGE.len(),
            0,
            0,
            0,
        ],
    }
}

/// Writes [`MESSAGE`] to its first given fd, then exits.
fn write_message(_: usize) -> ! {
    let _ = sys::write(child::given(0), MESSAGE);
    child::exit()
}

/// The known sequence: a write that succeeds, a close that fails, then the exit.
fn known_sequence(_: usize) -> ! {
    let _ = sys::write(child::given(0), MESSAGE);
    let _ = sys::close(BAD_FD);
    child::exit()
}

/// What `write_and_record` saw its write return.
static RECORDED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// Writes [`MESSAGE`] and records the raw value the syscall returned.
fn write_and_record(_: usize) -> ! {
    let raw = match sys::write(child::given(0), MESSAGE) {
        Ok(len) => len,
        Err(error) => error.errno as usize,
    };
    RECORDED.store(raw, core::sync::atomic::Ordering::SeqCst);
    child::exit()
}

/// Sleeps a little, so that the tracer is asleep in `read` when this exits.
fn sleep_then_exit(_: usize) -> ! {
    let _ = sys::sleep(core::time::Duration::from_millis(50));
    child::exit()
}

/// Spawns `entry` with a fresh pipe's writer as its first fd, attached with `open_trace`.
pub(super) fn spawn_traced(
    entry: fn(usize) -> !,
    open_trace: impl FnOnce(&Child) -> sys::Result<Fd>,
) -> Result<(Child, Fd, Fd), Failure> {
    let (reader, writer) = sys::pipe_nonblocking()?;
    let mut child = Child::new(entry, 0)?;
    child.give(&writer)?;
    let trace = open_trace(&child)?;
    Ok((child, trace, reader))
}

pub(super) fn dup_trace(child: &Child) -> sys::Result<Fd> {
    child.open("trace")
}

/// Verifies that the tracer sees exactly the tracee's syscalls, with their numbers, arguments
/// and results, in order, and then `ESRCH` once the tracee is gone.
pub fn sees_syscall_sequence() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(known_sequence, dup_trace)?;
    resume(&trace, PRE | POST)?;
    child.start()?;

    let fd = child::given(0);
    let expected = [
        Stop::SyscallEntry {
            number: SYS_WRITE,
            args: [fd, MESSAGE.as_ptr() as usize, MESSAGE.len(), 0, 0, 0],
        },
        Stop::SyscallExit {
            number: SYS_WRITE,
            ret: MESSAGE.len(),
        },
        Stop::SyscallEntry {
            number: SYS_CLOSE,
            args: [BAD_FD, 0, 0, 0, 0, 0],
        },
        Stop::SyscallExit {
            number: SYS_CLOSE,
            ret: EBADF.wrapping_neg() as usize,
        },
    ];
    for (index, want) in expected.into_iter().enumerate() {
        let mut got = next_stop(&trace)?;
        // The argument registers the wrappers do not use hold whatever was there.
        if let (
            Stop::SyscallEntry { args, .. },
            Stop::SyscallEntry {
                args: want_args, ..
            },
        ) = (&mut got, &want)
        {
            let used = match want_args {
                [_, 0, 0, ..] => 1,
                _ => 3,
            };
            args[used..].fill(0);
        }
        check_eq!(got, want, "stop {}", index);
        resume(&trace, PRE | POST)?;
    }
    // The exit is a write to the child's own status handle; it never returns.
    match next_stop(&trace)? {
        Stop::SyscallEntry { number, args } => {
            check_eq!((number, args[0]), (SYS_WRITE, child::SELF_FD));
        }
        other => fail!("expected the exit's entry stop, got {:?}", other),
    }
    resume(&trace, PRE | POST)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_errno!(next_stop(&trace).map(drop), ESRCH);

    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}

/// Verifies that resuming a syscall entry with PTRACE_FLAG_IGNORE skips the syscall and that
/// the tracee sees the result the tracer put in `rax` (sysemu).
pub fn sysemu_replaces_result() -> Result<(), Failure> {
    const FAKE: usize = 4242;
    let (mut child, trace, reader) = spawn_traced(write_and_record, dup_trace)?;
    resume(&trace, PRE)?;
    child.start()?;

    check_eq!(next_stop(&trace)?, write_message_entry());
    let (handle, mut regs) = regs(&child)?;
    regs.rax = FAKE;
    sys::write(&handle, &regs)?;
    resume(&trace, IGNORE)?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(RECORDED.load(core::sync::atomic::Ordering::SeqCst), FAKE);
    check_eq!(drain(&reader)?, b"", "what the skipped write wrote");
    Ok(())
}

/// Verifies that editing an argument register at a syscall entry changes what the syscall
/// does: a write of five bytes shortened to two.
pub fn entry_argument_edit_changes_effect() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(write_message, dup_trace)?;
    resume(&trace, PRE | POST)?;
    child.start()?;

    let Stop::SyscallEntry { number, .. } = next_stop(&trace)? else {
        fail!("expected a syscall entry");
    };
    check_eq!(number, SYS_WRITE);
    let (handle, mut regs) = regs(&child)?;
    regs.rdx = 2;
    sys::write(&handle, &regs)?;
    resume(&trace, PRE | POST)?;

    check_eq!(
        next_stop(&trace)?,
        Stop::SyscallExit {
            number: SYS_WRITE,
            ret: 2
        }
    );
    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);

    check_eq!(drain(&reader)?, b"he");
    Ok(())
}

/// Verifies that a context has at most one tracer: a second attach is EBUSY, and attaching
/// again works once the first tracer has closed its handle.
pub fn second_tracer_is_ebusy() -> Result<(), Failure> {
    let (_child, trace, _reader) = spawn_traced(write_message, dup_trace)?;
    let child = &_child;
    check_errno!(child.open("trace").map(drop), EBUSY);
    trace.close()?;
    child.open("trace")?;
    Ok(())
}

/// Verifies that a context cannot trace itself.
pub fn attach_to_self_is_eperm() -> Result<(), Failure> {
    let proc_root = sys::scheme_root(syscall::GlobalSchemes::Proc)?;
    let me = sys::dup(proc_root, "cur-context")?;
    check_errno!(sys::dup(&me, "trace").map(drop), EPERM);
    Ok(())
}

/// Verifies that closing the trace handle resumes a stopped tracee, which then runs to its end
/// untraced.
pub fn close_lets_tracee_finish() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(write_message, dup_trace)?;
    resume(&trace, PRE)?;
    child.start()?;
    check_eq!(next_stop(&trace)?, write_message_entry());
    trace.close()?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}

/// Verifies that closing a trace handle opened with O_EXCL kills the stopped tracee before
/// the syscall it stopped at runs.
pub fn exclusive_close_kills_tracee() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(write_message, |child| {
        sys::openat(child.context_fd(), "trace", O_RDWR | O_EXCL)
    })?;
    resume(&trace, PRE)?;
    child.start()?;
    let Stop::SyscallEntry { number, .. } = next_stop(&trace)? else {
        fail!("expected a syscall entry");
    };
    check_eq!(number, SYS_WRITE);
    trace.close()?;

    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    check_eq!(drain(&reader)?, b"", "what the killed tracee wrote");
    Ok(())
}

/// Verifies that a tracer asleep in `read` wakes with ESRCH when its tracee exits.
pub fn exit_wakes_blocked_reader() -> Result<(), Failure> {
    let (mut child, trace, _reader) = spawn_traced(sleep_then_exit, dup_trace)?;
    child.start()?;
    check_errno!(next_stop(&trace).map(drop), ESRCH);
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that two tracees are multiplexed through `event:` with non-blocking trace
/// handles: EAGAIN while nothing is queued, one readiness event per stop.
pub fn event_multiplexes_two_tracees() -> Result<(), Failure> {
    let nonblocking = |child: &Child| sys::openat(child.context_fd(), "trace", O_RDWR | O_NONBLOCK);
    let (mut first, first_trace, _r1) = spawn_traced(write_message, nonblocking)?;
    let (mut second, second_trace, _r2) = spawn_traced(write_message, nonblocking)?;
    let traces = [&first_trace, &second_trace];

    let queue = sys::openat(sys::scheme_root(syscall::GlobalSchemes::Event)?, "", O_RDWR)?;
    for (index, trace) in traces.iter().enumerate() {
        check_errno!(next_stop(trace).map(drop), EAGAIN);
        let event = Event {
            id: trace.raw(),
            flags: EventFlags::EVENT_READ,
            data: index,
        };
        sys::write(&queue, &event)?;
        resume(trace, PRE)?;
    }
    first.start()?;
    second.start()?;

    let mut stopped = [false; 2];
    while stopped != [true; 2] {
        let mut event = Event::default();
        check_eq!(sys::read(&queue, &mut event)?, size_of::<Event>());
        let index = event.data;
        let Some(trace) = traces.get(index) else {
            fail!("event for unknown data {}", index);
        };
        match next_stop(trace) {
            Ok(Stop::SyscallEntry { number, .. }) => {
                check_eq!((index, number), (index, SYS_WRITE));
                check_eq!(stopped[index], false, "tracee {} stopped twice", index);
                stopped[index] = true;
                check_errno!(next_stop(trace).map(drop), EAGAIN);
                resume(trace, PtraceFlags::empty())?;
            }
            Ok(other) => fail!("unexpected stop {:?}", other),
            // An edge-triggered event may arrive once more for a stop already read.
            Err(failure) => {
                let _ = failure;
            }
        }
    }
    check_eq!(first.wait_exit()?, ContextStatus::Dead);
    check_eq!(second.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that `regs/int` writes changing CS, SS or a kernel RFLAGS bit are refused with
/// EPERM, while writing back what was read succeeds.
pub fn privileged_register_writes_are_eperm() -> Result<(), Failure> {
    let (mut child, trace, _reader) = spawn_traced(write_message, dup_trace)?;
    resume(&trace, PRE)?;
    child.start()?;
    next_stop(&trace)?;

    let (handle, regs) = regs(&child)?;
    let cs = IntRegisters { cs: 0x08, ..regs };
    let ss = IntRegisters { ss: 0x10, ..regs };
    let iopl = IntRegisters {
        rflags: regs.rflags | 0x3000,
        ..regs
    };
    check_errno!(sys::write(&handle, &cs), EPERM);
    check_errno!(sys::write(&handle, &ss), EPERM);
    check_errno!(sys::write(&handle, &iopl), EPERM);
    check_eq!(sys::write(&handle, &regs)?, size_of::<IntRegisters>());

    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that malformed writes and reads on a trace handle are EINVAL: wrong sizes,
/// unknown flag bits (also inside PTRACE_STOP_MASK), PTRACE_FLAG_IGNORE outside a stop.
pub fn bad_requests_are_einval() -> Result<(), Failure> {
    let (_child, trace, _reader) = spawn_traced(write_message, dup_trace)?;
    check_errno!(sys::write(&trace, &[0; 4]), EINVAL);
    check_errno!(sys::write(&trace, &(1_u64 << 40).to_ne_bytes()), EINVAL);
    check_errno!(sys::write(&trace, &0x40_u64.to_ne_bytes()), EINVAL);
    check_errno!(resume(&trace, IGNORE), EINVAL);
    check_errno!(sys::read(&trace, &mut [0; 8]), EINVAL);
    Ok(())
}

/// Verifies that an attach whose new fd cannot be placed (`openat_into`/`dup_into` into a
/// taken slot: EEXIST) leaves no session behind: the next tracer can attach.
pub fn failed_attach_leaves_no_session() -> Result<(), Failure> {
    let (child, _trace, taken) = spawn_traced(write_message, |_| sys::pipe().map(|(r, _)| r))?;
    check_errno!(
        sys::openat_at(child.context_fd(), "trace", O_RDWR, taken.raw()),
        EEXIST
    );
    check_errno!(
        syscall::dup_into(child.context_fd(), taken.raw(), b"trace"),
        EEXIST
    );
    child.open("trace")?;
    Ok(())
}

/// Replaces its own address space with a copy (as an exec does: a notice for the tracer), then
/// writes from [`after_switch`] on the stack whose top is `stack_top`.
fn switch_then_write(stack_top: usize) -> ! {
    let context = child::given(1);
    let _ = replace_address_space(context, stack_top, after_switch, SpaceHandles::Keep);
    child::exit()
}

extern "C" fn after_switch() -> ! {
    let _ = sys::write(child::given(0), MESSAGE);
    child::exit()
}

/// Verifies that a read whose buffer faults after the first event returns that one event
/// (a short count) and loses nothing: the event that did not fit is read next.
pub fn read_faulting_part_way_loses_nothing() -> Result<(), Failure> {
    const PAGE: usize = 4096;
    const STACK: usize = 16 * 1024;
    let stack = sys::map_anonymous(STACK)?;
    let (_reader, writer) = sys::pipe_nonblocking()?;
    // As if entered by a call: rsp + 8 is 16-byte aligned.
    let mut child = Child::new(switch_then_write, stack + STACK - 8)?;
    child.give(&writer)?;
    child.give(child.context_fd())?;
    let trace = dup_trace(&child)?;
    let armed = PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH | PRE;
    resume(&trace, armed)?;
    child.start()?;
    // Up to the entry of the close that switches; the notice and the write's entry follow.
    loop {
        match next_stop(&trace)? {
            Stop::SyscallEntry { number, .. } if number == SYS_CLOSE => break,
            Stop::SyscallEntry { .. } => resume(&trace, armed)?,
            other => fail!("unexpected {:?}", other),
        }
    }
    resume(&trace, armed)?;
    child.wait_status(ContextStatus::Blocked)?;

    // Two events' room whose second half is an unmapped page.
    let area = sys::map_anonymous(2 * PAGE)?;
    // SAFETY: nothing uses the second page.
    unsafe { sys::unmap(area + PAGE, PAGE)? };
    let start = area + PAGE - TraceEvent::SIZE;
    // SAFETY: the kernel writes at most 2 events from `start`; the first half is ours, the
    // second unmapped (the kernel must fault on it, not write).
    let buf = unsafe { core::slice::from_raw_parts_mut(start as *mut u8, 2 * TraceEvent::SIZE) };
    let got = sys::read(&trace, buf);
    let first = TraceEvent::from_bytes(buf.get(..TraceEvent::SIZE).unwrap_or(&[]))?.decode()?;
    check_eq!(
        got,
        Ok(TraceEvent::SIZE),
        "the read into a half-mapped buffer"
    );
    check_eq!(first, Stop::AddrSpaceSwitch);
    match next_stop(&trace)? {
        Stop::SyscallEntry { number, .. } => check_eq!(number, SYS_WRITE),
        other => fail!("expected the write's entry, got {:?}", other),
    }
    // SAFETY: the first page is no longer used.
    unsafe { sys::unmap(area, PAGE)? };
    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}
