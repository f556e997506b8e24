//! The raw layer: one typed function per request, each taking the handle it goes through.
//!
//! This is `nix::sys::ptrace` for the Redox trace ABI (`docs/abi.md`). Where nix takes a `Pid`,
//! these take a [`ContextFd`] (Redox has no kernel pids: holding a context handle is the
//! permission to trace it) or the [`TraceFd`] made from one. Errors name the request; the typed
//! layer adds the tracee. Every function that makes a handle has an `_into` form that takes the
//! [`FdAllocator`] choosing its number (see [`crate::fd`]); the plain form uses
//! [`fd::default_allocator`].
//!
//! The unsafe code is in the few private funnels at the bottom.

use core::mem::size_of;
use core::ops::DerefMut;

use syscall::{
    data::Event,
    error::{Error as Errno, EEXIST},
    flag::{EventFlags, PtraceFlags, F_GETFL, F_SETFL, O_EXCL, O_NONBLOCK, O_RDWR},
    number::{SYS_READ2, SYS_WRITE2},
    EnvRegisters, FloatRegisters, IntRegisters,
};
#[cfg(target_arch = "x86_64")]
use trace_core::{abi::WATCH_OF_TRACE, abi::XSAVE_OF_TRACE, watch::Watchpoints};
use trace_core::{
    abi::{FILTER_OF_TRACE, INTERRUPT_OF_TRACE},
    SyscallFilter, TraceEvent, TRACE_HANDLE,
};

use crate::{
    error::{Error, Request, Result},
    fd::{self, ContextFd, EventQueueFd, Fd, FdAllocator, MemFd, TraceFd},
};

/// Open flags for [`attach_with`].
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct AttachFlags {
    /// `O_EXCL`: closing the trace handle kills the tracee (unless it never started).
    pub exclusive: bool,
    /// `O_NONBLOCK`: reads give `EAGAIN` instead of sleeping.
    pub nonblocking: bool,
}

impl AttachFlags {
    fn open_flags(self) -> usize {
        let mut flags = O_RDWR;
        if self.exclusive {
            flags |= O_EXCL;
        }
        if self.nonblocking {
            flags |= O_NONBLOCK;
        }
        flags
    }
}

// ---- attach ----------------------------------------------------------------------------------

/// Opens a trace session on `ctx`: `dup(ctx, "trace")`. Arms nothing; the tracee keeps running.
///
/// Errors: `EBUSY` (already traced), `ESRCH` (exited), `EPERM` (our own context).
pub fn attach(ctx: &ContextFd) -> Result<TraceFd> {
    attach_into(ctx, fd::default_allocator())
}

/// [`attach`] into a slot chosen by `alloc`: `dup_into(ctx, slot, "trace")`.
pub fn attach_into(ctx: &ContextFd, alloc: &dyn FdAllocator) -> Result<TraceFd> {
    dup_into(ctx.raw(), TRACE_HANDLE.as_bytes(), alloc)
        .map(TraceFd)
        .map_err(|e| Error::os(Request::Attach, None, e))
}

/// Opens a trace session with open flags: `openat(ctx, "trace", O_RDWR [|O_EXCL] [|O_NONBLOCK])`.
///
/// Only kernel context handles accept `openat`; procmgr's `thread-N` handles forward `dup`
/// alone, so use [`attach`] plus [`set_nonblocking`] on those.
pub fn attach_with(ctx: &ContextFd, flags: AttachFlags) -> Result<TraceFd> {
    attach_with_into(ctx, flags, fd::default_allocator())
}

/// [`attach_with`] into a slot chosen by `alloc`: `openat_into(ctx, slot, "trace", ...)`.
pub fn attach_with_into(
    ctx: &ContextFd,
    flags: AttachFlags,
    alloc: &dyn FdAllocator,
) -> Result<TraceFd> {
    let open = |slot| syscall::openat_into(ctx.raw(), slot, TRACE_HANDLE, flags.open_flags(), 0);
    with_slot(alloc, open)
        .map(TraceFd)
        .map_err(|e| Error::os(Request::Attach, None, e))
}

/// Switches a handle to (non-)blocking reads: `fcntl(fd, F_SETFL, flags ^ O_NONBLOCK)`.
pub fn set_nonblocking(fd: &TraceFd, nonblocking: bool) -> Result<()> {
    let err = |e| Error::os(Request::SetNonblocking, None, e);
    let flags = syscall::fcntl(fd.raw(), F_GETFL, 0).map_err(err)?;
    let flags = if nonblocking {
        flags | O_NONBLOCK
    } else {
        flags & !O_NONBLOCK
    };
    syscall::fcntl(fd.raw(), F_SETFL, flags)
        .map(drop)
        .map_err(err)
}

// ---- stop, event delivery, resume --------------------------------------------------------------

/// Arms `flags` and, if the tracee is in a stop, resumes it: `write(trace, &flags.bits())`.
///
/// The written set replaces the armed set. `PTRACE_FLAG_IGNORE` only leaving a pre-syscall,
/// breakpoint, exception or signal stop; `EINVAL` for unimplemented bits; `ESRCH` once the
/// tracee exited.
pub fn resume(trace: &TraceFd, flags: PtraceFlags) -> Result<()> {
    write_resume(trace, &flags.bits().to_ne_bytes())
}

/// [`resume`] with a signal word after the flags: `signal` replaces the signal of a
/// signal-delivery stop, or is injected at any other stop. `EINVAL` outside a stop, and for
/// `SIGKILL` and `SIGSTOP`.
pub fn resume_with_signal(
    trace: &TraceFd,
    flags: PtraceFlags,
    signal: trace_core::Signal,
) -> Result<()> {
    let mut bytes = [0_u8; 16];
    bytes[..8].copy_from_slice(&flags.bits().to_ne_bytes());
    bytes[8..].copy_from_slice(&(signal.number() as u64).to_ne_bytes());
    write_resume(trace, &bytes)
}

fn write_resume(trace: &TraceFd, bytes: &[u8]) -> Result<()> {
    match syscall::write(trace.raw(), bytes) {
        Ok(written) if written == bytes.len() => Ok(()),
        Ok(_) => Err(Error::Protocol {
            tracee: None,
            what: "short write of trace flags",
        }),
        Err(e) => Err(Error::os(Request::Resume, None, e)),
    }
}

/// Reads as many queued events as fit into `events`: `read(trace, events)`. Returns how many.
///
/// Sleeps until an event is queued, unless the handle is non-blocking (`EAGAIN`, reported as
/// `Ok(0)`). `ESRCH` (as [`Error::TraceeDied`]) once the tracee exited and its queue is empty.
/// `events` must hold at least one event.
pub fn next_events(trace: &TraceFd, events: &mut [TraceEvent]) -> Result<usize> {
    let len = events.len().checked_mul(TraceEvent::SIZE).unwrap_or(0);
    // SAFETY: TraceEvent is repr(C), integers only, without padding: any bytes are a valid
    // value and the byte view covers exactly the slice.
    let bytes = unsafe { core::slice::from_raw_parts_mut(events.as_mut_ptr().cast::<u8>(), len) };
    match syscall::read(trace.raw(), bytes) {
        Ok(n) if n.checked_rem(TraceEvent::SIZE) == Some(0) => {
            Ok(n.checked_div(TraceEvent::SIZE).unwrap_or(0))
        }
        Ok(_) => Err(Error::Protocol {
            tracee: None,
            what: "partial trace event",
        }),
        Err(e) if e.errno == syscall::error::EAGAIN => Ok(0),
        Err(e) => Err(Error::os(Request::NextEvents, None, e)),
    }
}

// ---- registers ---------------------------------------------------------------------------------

/// The integer registers the tracee resumes with: read `dup(ctx, "regs/int")`.
pub fn get_int_regs(ctx: &ContextFd) -> Result<IntRegisters> {
    read_struct(ctx, "regs/int", Request::GetIntRegs)
}

/// Sets the integer registers the tracee resumes with: write `dup(ctx, "regs/int")`.
///
/// `EPERM` for changes to `cs`, `ss` or kernel-owned RFLAGS bits; writing back what
/// [`get_int_regs`] returned always works.
pub fn set_int_regs(ctx: &ContextFd, regs: &IntRegisters) -> Result<()> {
    let mut copy = *regs;
    write_struct(ctx, "regs/int", &mut copy, Request::SetIntRegs)
}

/// The FXSAVE area: read `dup(ctx, "regs/float")`.
pub fn get_float_regs(ctx: &ContextFd) -> Result<FloatRegisters> {
    read_struct(ctx, "regs/float", Request::GetFloatRegs)
}

/// Sets the FXSAVE area: write `dup(ctx, "regs/float")`.
pub fn set_float_regs(ctx: &ContextFd, regs: &FloatRegisters) -> Result<()> {
    let mut copy = *regs;
    write_struct(ctx, "regs/float", &mut copy, Request::SetFloatRegs)
}

/// `fsbase` and `gsbase`: read `dup(ctx, "regs/env")`.
pub fn get_env_regs(ctx: &ContextFd) -> Result<EnvRegisters> {
    read_struct(ctx, "regs/env", Request::GetEnvRegs)
}

/// Sets `fsbase` and `gsbase`: write `dup(ctx, "regs/env")`.
pub fn set_env_regs(ctx: &ContextFd, regs: &EnvRegisters) -> Result<()> {
    let mut copy = *regs;
    write_struct(ctx, "regs/env", &mut copy, Request::SetEnvRegs)
}

// ---- following ---------------------------------------------------------------------------------

/// Takes the session of the context the tracee created as its `number`th clone:
/// `dup(trace, "clone/<number>")` (after a `PTRACE_EVENT_CLONE` stop).
///
/// Errors: `EINVAL` (no such clone waiting, or already taken).
pub fn take_clone(trace: &TraceFd, number: usize) -> Result<TraceFd> {
    let name = alloc::format!("clone/{}", number);
    dup_into(trace.raw(), name.as_bytes(), fd::default_allocator())
        .map(TraceFd)
        .map_err(|e| Error::os(Request::Attach, None, e))
}

/// The handle of one part of a trace session, `dup(trace, part)`; errors through `err`.
fn trace_part(trace: &TraceFd, part: &[u8], err: impl FnOnce(Errno) -> Error) -> Result<Fd> {
    dup_into(trace.raw(), part, fd::default_allocator()).map_err(err)
}

/// The context handle behind a trace handle: `dup(trace, "context")`.
pub fn context_of(trace: &TraceFd) -> Result<ContextFd> {
    dup_into(
        trace.raw(),
        trace_core::abi::CONTEXT_OF_TRACE,
        fd::default_allocator(),
    )
    .map(ContextFd)
    .map_err(|e| Error::os(Request::Attach, None, e))
}

// ---- session parts: interrupt, syscall filter, watchpoints, XSAVE area -------------------------

/// Asks for an interrupt stop: write `dup(trace, "interrupt")`. A tracee running user code
/// stops within one scheduler tick, one blocked in a syscall once the call returns, one in a
/// stop not at all (its stop is the answer). `ESRCH` once the tracee exited.
pub fn interrupt(trace: &TraceFd) -> Result<()> {
    let err = |e| Error::os(Request::Interrupt, None, e);
    let part = trace_part(trace, INTERRUPT_OF_TRACE, err)?;
    syscall::write(part.raw(), &[]).map(drop).map_err(err)
}

/// Chooses which syscalls stop at entry and exit: write `dup(trace, "filter")` (the set, as
/// native `u64`s; a new session selects every syscall). Applies from the tracee's next syscall;
/// contexts it creates inherit it.
pub fn set_syscall_filter(trace: &TraceFd, filter: &SyscallFilter) -> Result<()> {
    let err = |e| Error::os(Request::SetSyscallFilter, None, e);
    let mut bytes = [0_u8; FILTER_BYTES];
    let len = filter.encode(&mut bytes).map_err(err)?;
    let part = trace_part(trace, FILTER_OF_TRACE, err)?;
    let raw = bytes.get(..len).unwrap_or_default();
    syscall::write(part.raw(), raw).map(drop).map_err(err)
}

/// The syscalls that stop: read `dup(trace, "filter")`.
pub fn syscall_filter(trace: &TraceFd) -> Result<SyscallFilter> {
    let err = |e| Error::os(Request::GetSyscallFilter, None, e);
    let part = trace_part(trace, FILTER_OF_TRACE, err)?;
    let mut bytes = [0_u8; FILTER_BYTES];
    let len = syscall::read(part.raw(), &mut bytes).map_err(err)?;
    SyscallFilter::parse(bytes.get(..len).unwrap_or_default()).map_err(|_| Error::Protocol {
        tracee: None,
        what: "malformed syscall filter",
    })
}

/// A filter read or write: at most `FILTER_MAX` words.
const FILTER_BYTES: usize = trace_core::filter::FILTER_MAX * size_of::<u64>();

/// Sets the tracee's hardware watchpoints, all four slots: write `dup(trace, "watch")`. Hits
/// are [`trace_core::Stop::Watchpoint`] stops, armed with `PTRACE_STOP_BREAKPOINT`. Not
/// inherited by clones; cleared when the session ends.
#[cfg(target_arch = "x86_64")]
pub fn set_watchpoints(trace: &TraceFd, watches: &Watchpoints) -> Result<()> {
    let err = |e| Error::os(Request::SetWatchpoints, None, e);
    let part = trace_part(trace, WATCH_OF_TRACE, err)?;
    syscall::write(part.raw(), &watches.encode())
        .map(drop)
        .map_err(err)
}

/// The tracee's hardware watchpoints: read `dup(trace, "watch")`.
#[cfg(target_arch = "x86_64")]
pub fn watchpoints(trace: &TraceFd) -> Result<Watchpoints> {
    use trace_core::watch::WATCH_SIZE;
    let err = |e| Error::os(Request::GetWatchpoints, None, e);
    let part = trace_part(trace, WATCH_OF_TRACE, err)?;
    let mut bytes = [0_u8; WATCH_SIZE];
    let len = syscall::read(part.raw(), &mut bytes).map_err(err)?;
    Watchpoints::parse(bytes.get(..len).unwrap_or_default()).map_err(|_| Error::Protocol {
        tracee: None,
        what: "malformed watchpoints",
    })
}

/// The tracee's XSAVE area (standard format, every component the kernel enabled): read
/// `dup(trace, "xsave")`. `EOPNOTSUPP` on a CPU without XSAVE.
#[cfg(target_arch = "x86_64")]
pub fn get_xsave(trace: &TraceFd) -> Result<alloc::vec::Vec<u8>> {
    let err = |e| Error::os(Request::GetXsave, None, e);
    let part = trace_part(trace, XSAVE_OF_TRACE, err)?;
    let mut area = alloc::vec![0_u8; XSAVE_MAX];
    let len = syscall::read(part.raw(), &mut area).map_err(err)?;
    area.truncate(len);
    Ok(area)
}

/// Replaces the tracee's XSAVE area: write `dup(trace, "xsave")`. `EINVAL` unless `area` has
/// the size [`get_xsave`] gave, XSTATE_BV within XCR0, XCOMP_BV and the reserved header bytes
/// zero, and a valid MXCSR.
#[cfg(target_arch = "x86_64")]
pub fn set_xsave(trace: &TraceFd, area: &[u8]) -> Result<()> {
    let err = |e| Error::os(Request::SetXsave, None, e);
    let part = trace_part(trace, XSAVE_OF_TRACE, err)?;
    syscall::write(part.raw(), area).map(drop).map_err(err)
}

/// Room for any XSAVE area (CPUID 0xD; AMX tile data makes it about 11 KiB).
#[cfg(target_arch = "x86_64")]
const XSAVE_MAX: usize = 16 * 1024;

// ---- memory ------------------------------------------------------------------------------------

/// Opens the tracee's memory: `dup(ctx, "mem")`.
///
/// File offset = tracee address; the handle follows the tracee across exec (docs/abi.md).
pub fn open_mem(ctx: &ContextFd) -> Result<MemFd> {
    dup_into(ctx.raw(), b"mem", fd::default_allocator())
        .map(MemFd)
        .map_err(|e| Error::os(Request::OpenMem, None, e))
}

/// Reads tracee memory at `addr`: `read2(mem, buf, offset = addr)`. Returns the bytes read;
/// fewer than asked at the end of a mapping.
pub fn read_mem(mem: &MemFd, addr: usize, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: buf is writable for buf.len() bytes.
    unsafe {
        rw2(
            SYS_READ2,
            mem.raw(),
            buf.as_mut_ptr() as usize,
            buf.len(),
            addr,
        )
    }
    .map_err(|e| Error::os(Request::ReadMem, None, e))
}

/// Writes tracee memory at `addr`: `write2(mem, buf, offset = addr)`. Returns the bytes written.
pub fn write_mem(mem: &MemFd, addr: usize, buf: &[u8]) -> Result<usize> {
    // SAFETY: buf is readable for buf.len() bytes; the kernel only reads it.
    unsafe {
        rw2(
            SYS_WRITE2,
            mem.raw(),
            buf.as_ptr() as usize,
            buf.len(),
            addr,
        )
    }
    .map_err(|e| Error::os(Request::WriteMem, None, e))
}

// ---- exit --------------------------------------------------------------------------------------

/// Kills the tracee: write `ContextVerb::ForceKill` (`usize::MAX`) to `dup(ctx, "status")`.
/// It dies at its next syscall return or timer tick.
pub fn kill(ctx: &ContextFd) -> Result<()> {
    let err = |e| Error::os(Request::Kill, None, e);
    let status = dup_into(ctx.raw(), b"status", fd::default_allocator()).map_err(err)?;
    syscall::write(status.raw(), &usize::MAX.to_ne_bytes())
        .map(drop)
        .map_err(err)
}

// ---- event: queues -----------------------------------------------------------------------------

/// Opens a new event queue: `openat(root, "", O_RDWR)`, where `root` is the `event:` root handle
/// (`UPPER_FDTBL_TAG | 2` in the first userspace program). A std program can also open
/// `/scheme/event` through std and pass that handle to [`event_queue_adopt`].
pub fn event_queue_at(root: usize) -> Result<EventQueueFd> {
    let open = |slot| syscall::openat_into(root, slot, "", O_RDWR, 0);
    with_slot(fd::default_allocator(), open)
        .map(EventQueueFd)
        .map_err(|e| Error::os(Request::EventQueue, None, e))
}

/// Clones a queue handle opened elsewhere into our own slot: `dup(fd, "")` (a plain clone that
/// does not reach the scheme). The original stays with its owner.
pub fn event_queue_adopt(fd: usize) -> Result<EventQueueFd> {
    dup_into(fd, b"", fd::default_allocator())
        .map(EventQueueFd)
        .map_err(|e| Error::os(Request::EventQueue, None, e))
}

/// Asks `queue` to report `flags` on handle `fd`, tagged with `data`:
/// `write(queue, Event { id: fd, flags, data })`.
pub fn event_register(
    queue: &EventQueueFd,
    fd: usize,
    flags: EventFlags,
    data: usize,
) -> Result<()> {
    let event = Event {
        id: fd,
        flags,
        data,
    };
    syscall::write(queue.raw(), &event)
        .map(drop)
        .map_err(|e| Error::os(Request::EventQueue, None, e))
}

/// Reads ready events: `read(queue, events)`. Sleeps until one is ready. Returns how many.
pub fn event_next(queue: &EventQueueFd, events: &mut [Event]) -> Result<usize> {
    let len = events.len().checked_mul(size_of::<Event>()).unwrap_or(0);
    // SAFETY: Event is repr(C) with integer fields (EventFlags is a transparent usize) and no
    // padding, so the kernel may write any bytes into it.
    let bytes = unsafe { core::slice::from_raw_parts_mut(events.as_mut_ptr().cast::<u8>(), len) };
    syscall::read(queue.raw(), bytes)
        .map(|n| n.checked_div(size_of::<Event>()).unwrap_or(0))
        .map_err(|e| Error::os(Request::EventQueue, None, e))
}

// ---- generic handles ---------------------------------------------------------------------------

/// `dup_into(fd, slot, name)` with a slot from `alloc`, retrying on `EEXIST`.
pub fn dup_into(fd: usize, name: &[u8], alloc: &dyn FdAllocator) -> Result<Fd, Errno> {
    with_slot(alloc, |slot| syscall::dup_into(fd, slot, name))
}

/// Runs `make(slot)` with slots from `alloc` until one is free.
fn with_slot(
    alloc: &dyn FdAllocator,
    mut make: impl FnMut(usize) -> Result<usize, Errno>,
) -> Result<Fd, Errno> {
    let mut last = Errno::new(EEXIST);
    for _ in 0..alloc.attempts().max(1) {
        match make(alloc.allocate()) {
            // SAFETY: the kernel just put a new handle at `raw`; we are its only owner.
            Ok(raw) => return Ok(unsafe { Fd::from_raw(raw) }),
            Err(e) if e.errno == EEXIST => last = e,
            Err(e) => return Err(e),
        }
    }
    Err(last)
}

/// Reads a whole register struct from `dup(ctx, name)`.
fn read_struct<T>(ctx: &ContextFd, name: &str, request: Request) -> Result<T>
where
    T: Default + DerefMut<Target = [u8]>,
{
    let err = |e| Error::os(request, None, e);
    let handle = dup_into(ctx.raw(), name.as_bytes(), fd::default_allocator()).map_err(err)?;
    let mut value = T::default();
    let n = syscall::read(handle.raw(), &mut value).map_err(err)?;
    if n != value.len() {
        return Err(Error::Protocol {
            tracee: None,
            what: "short register read",
        });
    }
    Ok(value)
}

/// Writes a whole register struct to `dup(ctx, name)`.
fn write_struct<T>(ctx: &ContextFd, name: &str, value: &mut T, request: Request) -> Result<()>
where
    T: DerefMut<Target = [u8]>,
{
    let err = |e| Error::os(request, None, e);
    let handle = dup_into(ctx.raw(), name.as_bytes(), fd::default_allocator()).map_err(err)?;
    syscall::write(handle.raw(), value).map(drop).map_err(err)
}

/// `read2`/`write2` at an explicit offset, keeping the handle's own flags (`usize::MAX`).
///
/// # Safety
/// `ptr..ptr+len` must be valid for the direction of `number`.
unsafe fn rw2(
    number: usize,
    fd: usize,
    ptr: usize,
    len: usize,
    offset: usize,
) -> Result<usize, Errno> {
    // SAFETY: forwarded to the caller; the kernel checks the user slice itself.
    unsafe { syscall::syscall5(number, fd, ptr, len, offset, usize::MAX) }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that attach flags map to O_RDWR plus the chosen open flags.
    #[test]
    fn attach_flags_map_to_open_flags() {
        assert_eq!(AttachFlags::default().open_flags(), O_RDWR);
        let both = AttachFlags {
            exclusive: true,
            nonblocking: true,
        };
        assert_eq!(both.open_flags(), O_RDWR | O_EXCL | O_NONBLOCK);
    }

    /// Verifies that a taken slot makes the raw layer try the next one, and gives up in time.
    #[test]
    fn with_slot_retries_on_eexist() {
        let range = fd::HighRange::new(0x10, 100);
        let mut tries = 0;
        let got = with_slot(&range, |slot| {
            tries += 1;
            if tries < 3 {
                Err(Errno::new(EEXIST))
            } else {
                Ok(slot)
            }
        })
        .map(Fd::into_raw);
        assert_eq!(got, Ok(syscall::UPPER_FDTBL_TAG | 0x12));

        let always_taken = with_slot(&range, |_| Err(Errno::new(EEXIST))).map(Fd::into_raw);
        assert_eq!(always_taken, Err(Errno::new(EEXIST)));
    }
}
