//! Trace sessions: a tracer's `trace` handle on a context, and the stops it arms.
//!
//! This replaces the 2019 `proc:PID/trace` backend. A [`Session`] links one `trace` handle of
//! the `kernel.proc` scheme to one tracee context (its `ptrace` field). The rules (what stops,
//! what a write means, when a read fails) are pure data in `trace_core::SessionState`; this
//! module adds the session lock, sleeping and waking.
//!
//! Fast path: `PercpuBlock::ptrace_flags` caches the armed stops of the context running on this
//! CPU, and [`PerCpu`] its syscall filter's quick-reject mask and debug register state. They
//! are refreshed at every context switch ([`switched_to`]) and by the tracee itself when it
//! leaves a stop, so an untraced syscall costs one per-CPU load and test, and a traced one the
//! filter rejects a few more.
//!
//! A trace handle is the session's event stream, or one of its parts (`filter`, `watch`,
//! `xsave`) opened from it with `dup`: see [`Handle`].
//!
//! Lock order: the session lock is never held together with a context lock; a context lock may
//! be held while the session's atomics are read or written.

#[cfg(target_arch = "x86_64")]
mod debug;
pub mod follow;
pub mod mem;
#[cfg(target_arch = "x86_64")]
mod xsave;

use alloc::{
    sync::{Arc, Weak},
    vec::Vec,
};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use syscall::data::GlobalSchemes;
use trace_core::{
    filter::{FilterCells, FILTER_MAX},
    Delivery, FilterMask, Resumed, SessionState, Stop, SyscallFilter, TraceDup, TraceEvent,
};

use crate::{
    arch::interrupt::InterruptStack,
    context::{self, context::HardBlockedReason, Context, ContextLock, Status},
    event,
    percpu::PercpuBlock,
    scheme::SchemeExt,
    sync::{CleanLockToken, Mutex, WaitCondition, L1},
    syscall::{
        error::{Error, Result, EBUSY, EINTR, EINVAL, EPERM, ESRCH},
        flag::{ContextStatus, EventFlags, PtraceFlags, EVENT_READ, O_EXCL, O_NONBLOCK},
        usercopy::{UserSliceRo, UserSliceWo},
    },
};

pub struct Session {
    state: Mutex<L1, SessionState>,
    /// `state.armed()`, readable without the lock by context switches.
    armed: AtomicU64,
    /// The tracee sleeps here while stopped.
    tracee_wait: WaitCondition,
    /// The tracer sleeps here until an event arrives or the tracee exits.
    tracer_wait: WaitCondition,
    tracee: Weak<ContextLock>,
    /// The `kernel.proc` handle id, for `event:` notifications.
    handle_id: AtomicUsize,
    /// `fevent` was asked of the event stream: an `event:` queue may watch it. Until then,
    /// notifying `event:` would be a registry lookup that finds nothing, on every stop.
    watched: AtomicBool,
    /// Opened with `O_EXCL`: closing the handle kills the tracee.
    kill_on_close: bool,
    /// Sessions of contexts this tracee created, until the tracer takes them (`clone/<n>`).
    clones: Mutex<L1, Vec<(usize, Arc<Session>)>>,
    next_clone: AtomicUsize,
    /// `state.filter().mask()`, written and read under the tracee's context lock.
    filter_mask: [AtomicU64; 8],
    /// The watchpoints the tracer set, and what the context switch loads for them.
    #[cfg(target_arch = "x86_64")]
    watches: Mutex<L1, trace_core::watch::Watchpoints>,
    #[cfg(target_arch = "x86_64")]
    debug_regs: debug::DebugRegs,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("armed", &self.armed())
            .field("kill_on_close", &self.kill_on_close)
            .finish_non_exhaustive()
    }
}

/// A `kernel.proc` trace handle: the session's event stream (the handle `attach` opens), or
/// one of the parts `dup` opens from it.
#[derive(Clone, Debug)]
pub struct Handle {
    session: Arc<Session>,
    part: Part,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Part {
    Events,
    Filter,
    #[cfg(target_arch = "x86_64")]
    Watch,
    #[cfg(target_arch = "x86_64")]
    Xsave,
}

impl Handle {
    fn events(session: Arc<Session>) -> Self {
        Self {
            session,
            part: Part::Events,
        }
    }
}

impl Session {
    fn new(tracee: &Arc<ContextLock>, kill_on_close: bool, state: SessionState) -> Arc<Self> {
        let mask = state.filter().mask().to_words().map(AtomicU64::new);
        Arc::new(Self {
            armed: AtomicU64::new(state.armed().bits()),
            state: Mutex::new(state),
            tracee_wait: WaitCondition::new(),
            tracer_wait: WaitCondition::new(),
            tracee: Arc::downgrade(tracee),
            handle_id: AtomicUsize::new(0),
            watched: AtomicBool::new(false),
            kill_on_close,
            clones: Mutex::new(Vec::new()),
            next_clone: AtomicUsize::new(1),
            filter_mask: mask,
            #[cfg(target_arch = "x86_64")]
            watches: Mutex::new(Default::default()),
            #[cfg(target_arch = "x86_64")]
            debug_regs: Default::default(),
        })
    }

    fn filter_mask(&self) -> FilterMask {
        FilterMask::from_words(
            self.filter_mask
                .each_ref()
                .map(|word| word.load(Ordering::Relaxed)),
        )
    }

    /// The tracee's context, while it exists.
    pub fn tracee(&self) -> Result<Arc<ContextLock>> {
        self.tracee.upgrade().ok_or(Error::new(ESRCH))
    }

    fn armed(&self) -> PtraceFlags {
        PtraceFlags::from_bits_retain(self.armed.load(Ordering::Acquire))
    }

    /// CONTEXT: the caller holds the session lock, which orders this against [`fevent`].
    fn notify_tracer(&self, token: &mut crate::sync::LockToken<'_, L1>) {
        if self.watched.load(Ordering::Relaxed) {
            event::trigger_locked(
                GlobalSchemes::Proc.scheme_id(),
                self.handle_id.load(Ordering::Relaxed),
                EVENT_READ,
                token.token(),
            );
        }
        self.tracer_wait.notify_locked(token.token());
    }
}

// trace-core checks user addresses (regs, watchpoints) against its own copy of the kernel's
// end of user space.
#[cfg(target_arch = "x86_64")]
const _: () = assert!(trace_core::regs::USER_END == crate::USER_END_OFFSET);

/// What a CPU keeps of the session of the context it runs, beside `PercpuBlock::ptrace_flags`.
#[derive(Debug)]
pub struct PerCpu {
    filter: FilterCells,
    #[cfg(target_arch = "x86_64")]
    debug: debug::PerCpu,
}

impl PerCpu {
    pub const fn new() -> Self {
        Self {
            filter: FilterCells::new(),
            #[cfg(target_arch = "x86_64")]
            debug: debug::PerCpu::new(),
        }
    }
}

/// Context switch: this CPU now runs `next`; caches its armed stops and filter, and loads its
/// watchpoints (or unloads the previous context's).
///
/// CONTEXT: the caller holds `next`'s lock.
#[inline(always)]
pub fn switched_to(percpu: &PercpuBlock, next: &Context) {
    let session = next.ptrace.as_deref();
    percpu
        .ptrace_flags
        .set(session.map_or(PtraceFlags::empty(), Session::armed));
    if let Some(session) = session {
        percpu.ptrace.filter.set(session.filter_mask());
    }
    #[cfg(target_arch = "x86_64")]
    debug::switched_to(
        &percpu.ptrace.debug,
        session.map(|session| &session.debug_regs),
    );
}

//    _  _   _           _
//   /_\| |_| |_ __ _ __| |_
//  / _ \  _|  _/ _` / _| ' \
// /_/ \_\__|\__\__,_\__|_||_|

/// Attaches a new session to `tracee`, opened with open `flags`.
///
/// Attaching arms nothing, so the tracee keeps running (a "seize"); it first stops at an event
/// the tracer arms with a write. A context created with `new-context` and attached before
/// `start` is traced from its first instruction. `O_EXCL` makes closing the handle kill the
/// tracee. Holding the context handle is the permission to trace it.
///
/// CONTEXT: takes `tracee`'s lock.
/// RETURNS: `EPERM` for the caller's own context, `ESRCH` for a dead one, `EBUSY` when it
/// already has a tracer.
pub fn attach(
    tracee: &Arc<ContextLock>,
    flags: usize,
    token: &mut CleanLockToken,
) -> Result<Handle> {
    if context::is_current(tracee) {
        // The first stop would put the only reader of the events to sleep.
        return Err(Error::new(EPERM));
    }
    let kill_on_close = flags & O_EXCL == O_EXCL;
    let session = Session::new(tracee, kill_on_close, SessionState::new());
    attach_session(tracee, session, token).map(Handle::events)
}

fn attach_session(
    tracee: &Arc<ContextLock>,
    session: Arc<Session>,
    token: &mut CleanLockToken,
) -> Result<Arc<Session>> {
    let mut context = tracee.write(token.token());
    if context.status.is_dead() {
        return Err(Error::new(ESRCH));
    }
    if context.ptrace.is_some() {
        return Err(Error::new(EBUSY));
    }
    context.ptrace = Some(Arc::clone(&session));
    Ok(session)
}

/// Records the handle id the scheme gave an event stream; no event can be queued before the
/// tracer's first write, so nothing is notified under a stale id.
pub fn bind_handle(handle: &Handle, handle_id: usize) {
    if handle.part == Part::Events {
        handle.session.handle_id.store(handle_id, Ordering::Relaxed);
    }
}

//  ___ _
// / __| |_ ___ _ __
// \__ \  _/ _ \ '_ \
// |___/\__\___/ .__/
//             |_|

/// Whether the current context's tracer armed any of `flags`: the fast path of every hook.
#[inline(always)]
fn armed_here(flags: PtraceFlags) -> bool {
    PercpuBlock::current().ptrace_flags.get().intersects(flags)
}

/// Reports `stop` to the current context's tracer if armed, and sleeps until the tracer resumes
/// this context. Returns `true` when the tracer resumed with `PTRACE_FLAG_IGNORE`.
///
/// CONTEXT: sleeps; the caller holds no locks. A tracee killed while stopped exits from here.
#[cold]
fn stop_current(stop: Stop, token: &mut CleanLockToken) -> bool {
    let (ignore, killed) = stop_here(stop, token);
    if killed {
        crate::syscall::exit_this_context(None, token);
    }
    ignore
}

/// Whether the current context is being force-killed. Read from the context, not the per-CPU
/// copy, which is only refreshed at a context switch.
fn being_killed(token: &mut CleanLockToken) -> bool {
    context::current().read(token.token()).being_sigkilled
}

/// [`stop_current`] for a context that is already exiting: being killed while stopped changes
/// nothing. Returns whether the tracer resumed with `PTRACE_FLAG_IGNORE`, and whether the
/// context is being killed.
///
/// A stop takes the context lock twice, on the way in and on the way out (and once more only
/// if a wait ends without the tracer): it is on the path of every traced syscall.
#[cold]
fn stop_here(stop: Stop, token: &mut CleanLockToken) -> (bool, bool) {
    let current = context::current();
    let (session, killed) = {
        let context = current.read(token.token());
        (context.ptrace.clone(), context.being_sigkilled)
    };
    let Some(session) = session else {
        return (false, killed);
    };
    let ignore = deliver(&session, stop, killed, token);
    let armed = session.armed();
    let mut context = current.write(token.token());
    let percpu = PercpuBlock::current();
    percpu.ptrace_flags.set(armed);
    // Under the context lock, which filter writes take: never half a mask.
    percpu.ptrace.filter.set(session.filter_mask());
    drop(session);
    if let Some(regs) = context.regs_mut() {
        // The debug exception after the next user instruction is the single-step stop. Cleared
        // otherwise: a stop reached while stepping (a syscall stop, the step over a `syscall`)
        // still has TF in the saved flags, and an unarmed debug exception kills the tracee.
        regs.set_singlestep(armed.contains(PtraceFlags::PTRACE_STOP_SINGLESTEP));
    }
    let killed = context.being_sigkilled;
    (ignore, killed)
}

/// Queues `stop` and, if it is a stop, sleeps until the tracer resumes. `killed`: the current
/// context was being killed when it reached the stop. Kill always wins: a context being killed
/// reports the stop but does not wait in it, and a kill during the wait ends it (the patched
/// `WaitCondition::wait` does not sleep once `being_sigkilled` is set, and returns `false` when
/// anything but a notify ends it: only then is the kill flag read again).
fn deliver(session: &Session, stop: Stop, killed: bool, token: &mut CleanLockToken) -> bool {
    {
        let state = session.state.lock(token.token());
        let (mut state, mut token) = state.into_split();
        let delivery = state.stop(stop);
        if delivery != Delivery::Dropped {
            session.notify_tracer(&mut token);
        }
        if delivery != Delivery::Stopped {
            return false;
        }
        if killed {
            state.abandon_stop();
            return false;
        }
    }
    loop {
        let notified = {
            let state = session.state.lock(token.token());
            let (mut state, mut token) = state.into_split();
            if !state.is_stopped() {
                return state.take_action();
            }
            session.tracee_wait.wait(state, "ptrace::stop", &mut token)
        };
        // A signal may cut the wait short; a trace stop only ends when the tracer (or a kill)
        // says so.
        if !notified && being_killed(token) {
            session.state.lock(token.token()).abandon_stop();
            return false;
        }
    }
}

/// Syscall entry hook, given the syscall number and its six argument registers. Returns
/// `false` when the tracer skips the syscall (sysemu); the tracer then provides the result
/// through `regs/int`. The tracer may rewrite the saved registers while this context sleeps, so
/// the caller reads them again afterwards.
///
/// CONTEXT: may sleep; the caller holds no locks.
#[inline(always)]
pub fn syscall_entry(number: usize, args: [usize; 6], token: &mut CleanLockToken) -> bool {
    !syscall_armed_here(PtraceFlags::PTRACE_STOP_PRE_SYSCALL, number)
        || !stop_current(Stop::SyscallEntry { number, args }, token)
}

/// Whether a syscall stop may be due: armed, and not rejected by the filter's mask (the exact
/// filter decides under the session lock).
#[inline(always)]
fn syscall_armed_here(flag: PtraceFlags, number: usize) -> bool {
    let percpu = PercpuBlock::current();
    percpu.ptrace_flags.get().contains(flag) && percpu.ptrace.filter.may_select(number)
}

/// Syscall exit hook: `number` is the syscall that ran (or was skipped), `ret` its result.
///
/// CONTEXT: may sleep; the caller holds no locks.
#[inline(always)]
pub fn syscall_exit(number: usize, ret: usize, token: &mut CleanLockToken) {
    if syscall_armed_here(PtraceFlags::PTRACE_STOP_POST_SYSCALL, number) {
        stop_current(Stop::SyscallExit { number, ret }, token);
    }
    if armed_here(PtraceFlags::PTRACE_STOP_SINGLESTEP) {
        step_over_syscall(token);
    }
}

/// A `syscall` instruction run with the trap flag set traps only after the instruction that
/// follows it (the kernel returns with `iretq`), so a debugger would miss one step: report the
/// step over the `syscall` instruction here instead.
///
/// CONTEXT: may sleep; the caller holds no locks.
#[cold]
fn step_over_syscall(token: &mut CleanLockToken) {
    #[cfg(target_arch = "x86_64")]
    {
        let ip = match context::current().read(token.token()).regs() {
            Some(regs) if regs.iret.rflags & crate::arch::flags::FLAG_SINGLESTEP != 0 => {
                regs.instr_pointer()
            }
            _ => return,
        };
        stop_current(Stop::SingleStep { ip }, token);
    }
}

/// Debug-exception hook: a watchpoint hit or a single step. Returns `true` when the exception
/// was the tracer's (or a watchpoint's the kernel itself tripped), so no exception is raised.
///
/// CONTEXT: may sleep; the caller holds no locks.
pub fn debug_trap(stack: &mut InterruptStack, token: &mut CleanLockToken) -> bool {
    #[cfg(target_arch = "x86_64")]
    match watchpoint_trap(stack, token) {
        debug::Trap::Other => {}
        debug::Trap::Ignored => return true,
        debug::Trap::Hit(hit) => {
            if hit.execute {
                // The fault comes before the instruction: RF lets it run once on resume.
                const RESUME_FLAG: usize = 1 << 16;
                stack.iret.rflags |= RESUME_FLAG;
            }
            let ip = stack.instr_pointer();
            stop_current(
                Stop::Watchpoint {
                    ip,
                    slot: hit.slot,
                    address: hit.address,
                },
                token,
            );
            return true;
        }
    }
    if !armed_here(PtraceFlags::PTRACE_STOP_SINGLESTEP) {
        return false;
    }
    stop_current(
        Stop::SingleStep {
            ip: stack.instr_pointer(),
        },
        token,
    );
    true
}

#[cfg(target_arch = "x86_64")]
fn watchpoint_trap(stack: &InterruptStack, token: &mut CleanLockToken) -> debug::Trap {
    const USER_RPL: usize = 3;
    let percpu = &PercpuBlock::current().ptrace.debug;
    let Some(dr6) = debug::take_dr6(percpu) else {
        return debug::Trap::Other;
    };
    if stack.iret.cs & USER_RPL != USER_RPL {
        // The kernel touched a watched user address (a usercopy): not the tracee's access, and
        // no lock may be taken here.
        return debug::Trap::Ignored;
    }
    let Some(session) = context::current().read(token.token()).ptrace.clone() else {
        debug::unload(percpu);
        return debug::Trap::Ignored;
    };
    let watches = *session.watches.lock(token.token());
    debug::classify(&watches, dr6)
}

/// `int3` hook; `ip` points at the `int3` byte. Returns `true` when the tracer handled the
/// breakpoint (resumed with `PTRACE_FLAG_IGNORE`), so no exception is raised.
///
/// CONTEXT: may sleep; the caller holds no locks.
pub fn breakpoint(ip: usize, token: &mut CleanLockToken) -> bool {
    armed_here(PtraceFlags::PTRACE_STOP_BREAKPOINT) && stop_current(Stop::Breakpoint { ip }, token)
}

/// Exception hook, before the exception is handled (by a signal handler, or by death). Returns
/// `true` when the tracer suppressed it with `PTRACE_FLAG_IGNORE`: the tracee then resumes at
/// whatever `rip` the tracer left (a fault retries the instruction).
///
/// CONTEXT: may sleep; the caller holds no locks.
pub fn exception(excp: &syscall::Exception, token: &mut CleanLockToken) -> bool {
    armed_here(PtraceFlags::PTRACE_STOP_SIGNAL)
        && stop_current(
            Stop::Exception {
                kind: excp.kind,
                code: excp.code,
                address: excp.address,
            },
            token,
        )
}

/// Exit hook: the current context is about to close its files and drop its address space, so
/// the tracer can still read its registers and memory. `excp` is the exception killing it.
///
/// CONTEXT: may sleep; the caller holds no locks.
pub fn exiting(excp: Option<&syscall::Exception>, token: &mut CleanLockToken) {
    if !armed_here(PtraceFlags::PTRACE_STOP_EXIT) {
        return;
    }
    let killed = context::current().read(token.token()).being_sigkilled;
    let (status, exception) = match excp {
        Some(excp) => (ContextStatus::UnhandledExcp, excp.kind),
        None if killed => (ContextStatus::ForceKilled, 0),
        None => (ContextStatus::Dead, 0),
    };
    stop_here(
        Stop::Exit {
            status: status as usize,
            exception,
        },
        token,
    );
}

/// Reports that `context`'s address space was replaced. Not a stop: the context doing the exec
/// need not be the tracee.
///
/// CONTEXT: takes `context`'s lock, then the session lock.
pub fn addrspace_switched(context: &Arc<ContextLock>, token: &mut CleanLockToken) {
    let Some(session) = context.read(token.token()).ptrace.clone() else {
        return;
    };
    // A notice never waits, so the kill flag does not matter.
    let _ = deliver(&session, Stop::AddrSpaceSwitch, false, token);
}

/// `new-context` hook: the current context created `child`. If its tracer armed
/// `PTRACE_EVENT_CLONE`, `child` gets a session with the same stops armed before it can ever
/// run, so it is traced from its first instruction; the creator stops with a clone event until
/// resumed, and the tracer takes the new session with `dup(trace, "clone/<n>")`. Until then the
/// child waits at its first stop. The new session inherits `O_EXCL` from the creator's.
///
/// CONTEXT: may sleep; the caller holds no locks.
pub fn context_created(child: &Arc<ContextLock>, token: &mut CleanLockToken) -> Result<()> {
    if !armed_here(PtraceFlags::PTRACE_EVENT_CLONE) {
        return Ok(());
    }
    let Some(parent) = context::current().read(token.token()).ptrace.clone() else {
        return Ok(());
    };
    let (number, _, killed) = follow_clone(&parent, child, token)?;
    if killed {
        // Killed inside `new-context`: nobody will ever get the new context's handle. Unless the
        // tracer took it (then it holds its session), it would sit unstarted forever, so the
        // creation is undone; the error unwinds the syscall (exiting from here would leak what
        // its frames hold), and the creator dies on the way out.
        if let Some(clone) = take_clone_number(&parent, number, token) {
            end_session(clone, token);
        }
        discard_unstarted(child, token);
        return Err(Error::new(EINTR));
    }
    Ok(())
}

/// Gives `child` a session inheriting `parent`'s armed stops, filter and `O_EXCL` setting (not
/// its watchpoints: they name addresses of the creator's code and data), queues it for the
/// tracer as clone `number`, and stops the current context (the creator) with the clone event.
/// Returns the number, the new session, and whether the creator was killed at that stop.
///
/// CONTEXT: may sleep; the caller holds no locks.
/// RETURNS: `attach_session`'s errors (`EBUSY` when `child` already has a tracer).
fn follow_clone(
    parent: &Session,
    child: &Arc<ContextLock>,
    token: &mut CleanLockToken,
) -> Result<(usize, Arc<Session>, bool)> {
    let inherited = SessionState::inherit(&parent.state.lock(token.token()));
    let session = Session::new(child, parent.kill_on_close, inherited);
    let session = attach_session(child, session, token)?;
    let number = parent.next_clone.fetch_add(1, Ordering::Relaxed);
    parent
        .clones
        .lock(token.token())
        .push((number, Arc::clone(&session)));
    let pid = child.read(token.token()).pid;
    let (_, killed) = stop_here(Stop::Clone { number, pid }, token);
    Ok((number, session, killed))
}

/// Whether `context` never ran: not yet started, and never switched to. `try_stop_context`
/// parks a context that is running on another CPU as "not yet started" while it waits for it
/// to leave the CPU; that one did run.
fn never_ran(context: &Context) -> bool {
    context.switch_time == 0
        && matches!(
            context.status,
            Status::HardBlocked {
                reason: HardBlockedReason::NotYetStarted
            }
        )
}

/// Removes `number` from the clones waiting to be taken, if it still is.
fn take_clone_number(
    session: &Session,
    number: usize,
    token: &mut CleanLockToken,
) -> Option<Arc<Session>> {
    let mut clones = session.clones.lock(token.token());
    let index = clones
        .iter()
        .position(|(candidate, _)| *candidate == number)?;
    Some(clones.swap_remove(index).1)
}

/// Takes a context that never started, and that no tracer holds, out of the context list, as
/// if it had never been created; it is freed with its last reference.
///
/// CONTEXT: takes `child`'s lock, then the context list lock.
fn discard_unstarted(child: &Arc<ContextLock>, token: &mut CleanLockToken) {
    {
        let mut context = child.write(token.token());
        if !never_ran(&context) || context.ptrace.is_some() {
            return;
        }
        context.status = Status::Dead { excp: None };
    }
    context::contexts_mut(token.downgrade()).remove(&context::ContextRef(Arc::clone(child)));
}

/// `dup` on a trace handle (see `trace_core::TraceDup`). Returns the context the new handle is
/// on, and the trace handle it is, or `None` for the plain context handle `context` asks for.
///
/// RETURNS: `EINVAL` for an unknown name, a clone number not (or no longer) waiting, or a `dup`
/// of a part (only the event stream has parts); `ESRCH` when the clone's context is gone;
/// `EOPNOTSUPP` for `xsave` on a CPU without XSAVE, or a part this architecture lacks.
pub fn dup(
    handle: &Handle,
    tracee: Arc<ContextLock>,
    name: &[u8],
    token: &mut CleanLockToken,
) -> Result<(Arc<ContextLock>, Option<Handle>)> {
    if handle.part != Part::Events {
        return Err(Error::new(EINVAL));
    }
    let part = match TraceDup::parse(name)? {
        TraceDup::Context => return Ok((tracee, None)),
        TraceDup::Clone(number) => {
            let clone =
                take_clone_number(&handle.session, number, token).ok_or(Error::new(EINVAL))?;
            return Ok((clone.tracee()?, Some(Handle::events(clone))));
        }
        TraceDup::Filter => Part::Filter,
        #[cfg(target_arch = "x86_64")]
        TraceDup::Watch => Part::Watch,
        #[cfg(target_arch = "x86_64")]
        TraceDup::Xsave => {
            xsave::area_len()?;
            Part::Xsave
        }
        #[cfg(not(target_arch = "x86_64"))]
        TraceDup::Watch | TraceDup::Xsave => return Err(Error::new(syscall::error::EOPNOTSUPP)),
    };
    let part = Handle {
        session: Arc::clone(&handle.session),
        part,
    };
    Ok((tracee, Some(part)))
}

//  ___                          _                  _
// | _ \___ ____  _ _ __  ___   /_\  _ _  _ __  ___(_)_ _  __ _
// |   / -_|_-< || | '  \/ -_) / _ \| '_|| '  \/ -_) | ' \/ _` |
// |_|_\___/__/\_,_|_|_|_\___|/_/ \_\_|  |_|_|_\___|_|_||_\__, |
//                                                        |___/

/// `write` on a trace handle or one of its parts.
///
/// CONTEXT: may sleep (a tracee running on another CPU is switched out once, so that CPU picks
/// up what changed).
pub fn write(handle: &Handle, buf: UserSliceRo, token: &mut CleanLockToken) -> Result<usize> {
    match handle.part {
        Part::Events => write_flags(&handle.session, buf, token),
        Part::Filter => write_filter(&handle.session, buf, token),
        #[cfg(target_arch = "x86_64")]
        Part::Watch => write_watches(&handle.session, buf, token),
        #[cfg(target_arch = "x86_64")]
        Part::Xsave => xsave::write(handle.session.tracee()?, buf, token),
    }
}

/// `read` on a trace handle or one of its parts.
///
/// CONTEXT: reads of the event stream sleep until an event arrives, unless `O_NONBLOCK` is in
/// `fcntl_flags`.
pub fn read(
    handle: &Handle,
    buf: UserSliceWo,
    fcntl_flags: u32,
    token: &mut CleanLockToken,
) -> Result<usize> {
    match handle.part {
        Part::Events => read_events(&handle.session, buf, fcntl_flags, token),
        Part::Filter => read_filter(&handle.session, buf, token),
        #[cfg(target_arch = "x86_64")]
        Part::Watch => read_watches(&handle.session, buf, token),
        #[cfg(target_arch = "x86_64")]
        Part::Xsave => xsave::read(handle.session.tracee()?, buf, token),
    }
}

/// The event stream's `write`: one `u64` of `PtraceFlags`. Arms those stops and resumes a
/// stopped tracee; `PTRACE_FLAG_IGNORE` skips what the stop was about.
///
/// RETURNS: `EINVAL` for a bad size or flags, `ESRCH` when the tracee has exited.
fn write_flags(session: &Session, buf: UserSliceRo, token: &mut CleanLockToken) -> Result<usize> {
    let mut raw = [0_u8; 8];
    if buf.len() != raw.len() {
        return Err(Error::new(EINVAL));
    }
    buf.copy_to_slice(&mut raw)?;
    let flags = trace_core::abi::parse_flags(&raw)?;

    let (resumed, unstep) = {
        let mut state = session.state.lock(token.token());
        let stepping = state.armed().contains(PtraceFlags::PTRACE_STOP_SINGLESTEP);
        let resumed = state.resume(flags)?;
        session.armed.store(state.armed().bits(), Ordering::Release);
        let unstep = stepping && !flags.contains(PtraceFlags::PTRACE_STOP_SINGLESTEP);
        (resumed, unstep)
    };
    match resumed {
        Resumed::WasStopped => {
            session.tracee_wait.notify(token);
        }
        Resumed::WasRunning => {
            if let Some(tracee) = session.tracee.upgrade() {
                let running = tracee.read(token.token()).running;
                if running || unstep {
                    switch_out(tracee, unstep, token)?;
                }
            }
        }
    }
    Ok(raw.len())
}

/// Makes a tracee outside any stop see a new armed set: one running on another CPU is switched
/// out once, so that its CPU refreshes its per-CPU copy. With `unstep`, its trap flag is cleared
/// too: a tracee that left a step stop (or entered a syscall) stepping still has TF in its
/// saved flags, and a debug exception with no step armed would kill it.
///
/// CONTEXT: may sleep (waits for the tracee to leave its CPU).
fn switch_out(tracee: Arc<ContextLock>, unstep: bool, token: &mut CleanLockToken) -> Result<()> {
    crate::scheme::proc::try_stop_context(tracee, token, |context, _| {
        if unstep && let Some(regs) = context.regs_mut() {
            regs.set_singlestep(false);
        }
        Ok(())
    })
}

/// The event stream's `read`: as many whole [`TraceEvent`]s as fit and are queued.
///
/// RETURNS: `EINVAL` for a buffer smaller than one event, `EAGAIN` (non-blocking, none queued),
/// `EINTR`, `EFAULT` when the first event cannot be copied (nothing is consumed; a fault after
/// that gives the short count), or `ESRCH` once the tracee has exited and every event was read.
fn read_events(
    session: &Session,
    buf: UserSliceWo,
    fcntl_flags: u32,
    token: &mut CleanLockToken,
) -> Result<usize> {
    if buf.len() < TraceEvent::SIZE {
        return Err(Error::new(EINVAL));
    }
    loop {
        let state = session.state.lock(token.token());
        let (mut state, mut token) = state.into_split();

        let mut copied = 0_usize;
        for chunk in buf.in_exact_chunks(TraceEvent::SIZE) {
            let event = match state.next_event() {
                Ok(Some(event)) => event,
                Ok(None) => break,
                Err(error) if copied == 0 => return Err(error),
                Err(_) => break,
            };
            // An event is consumed only once it is in the tracer's buffer; a fault part-way
            // returns what was delivered.
            match chunk.copy_from_slice(event.as_bytes()) {
                Ok(()) => state.consume_event(),
                Err(error) if copied == 0 => return Err(error),
                Err(_) => break,
            }
            copied = copied.saturating_add(TraceEvent::SIZE);
        }
        if copied > 0 {
            return Ok(copied);
        }
        if fcntl_flags & O_NONBLOCK as u32 != 0 {
            return Err(Error::new(syscall::error::EAGAIN));
        }
        if !session.tracer_wait.wait(state, "ptrace::read", &mut token) {
            return Err(Error::new(syscall::error::EINTR));
        }
    }
}

//  ___          _         __ _ _ _
// | _ \__ _ _ _| |_ ___  / _(_) | |_ ___ _ _   __ __ ____ _ ___ __ _  __ __ _____ ___
// |  _/ _` | '_|  _(_-< |  _| | |  _/ -_) '_|_ \ V  V / _` |  _/ _| ' \ \ \ (_-< _` \ V / -_)
// |_| \__,_|_|  \__/__/ |_| |_|_|\__\___|_|(_) \_/\_/\__,_|\__\__|_||_| /_\_\/__\__,_|\_/\___|

/// Runs `update` under the tracee's context lock, where context switches read the session's
/// filter mask and debug registers, then switches a tracee running on another CPU out once so
/// that CPU reloads them. A stopped tracee picks them up when it leaves its stop. (The part's
/// handle holds the tracee's context, so `ESRCH` cannot happen while it is open.)
fn publish(session: &Session, token: &mut CleanLockToken, update: impl FnOnce()) -> Result<()> {
    let tracee = session.tracee()?;
    let running = {
        let context = tracee.write(token.token());
        update();
        context.running
    };
    if running {
        switch_out(tracee, false, token)?;
    }
    Ok(())
}

/// The filter's `write`: replaces the set of syscalls that stop (`SyscallFilter::parse`).
/// Takes effect at the tracee's next syscall, also when written at a stop.
///
/// RETURNS: `EINVAL` for a malformed set.
fn write_filter(session: &Session, buf: UserSliceRo, token: &mut CleanLockToken) -> Result<usize> {
    let mut raw = [0_u8; FILTER_MAX * 8];
    let raw = raw.get_mut(..buf.len()).ok_or(Error::new(EINVAL))?;
    buf.copy_to_slice(raw)?;
    let filter = SyscallFilter::parse(raw)?;
    session.state.lock(token.token()).set_filter(filter);
    let mask = filter.mask().to_words();
    publish(session, token, || {
        for (word, value) in session.filter_mask.iter().zip(mask) {
            word.store(value, Ordering::Relaxed);
        }
    })?;
    Ok(raw.len())
}

/// The filter's `read`: the set as a write gives it (the lone `FILTER_ALL` word when every
/// syscall stops).
///
/// RETURNS: `EINVAL` when `buf` is too small for the whole set.
fn read_filter(session: &Session, buf: UserSliceWo, token: &mut CleanLockToken) -> Result<usize> {
    let filter = *session.state.lock(token.token()).filter();
    let mut raw = [0_u8; FILTER_MAX * 8];
    let len = filter.encode(&mut raw)?;
    let raw = raw.get(..len).ok_or(Error::new(EINVAL))?;
    if buf.len() < len {
        return Err(Error::new(EINVAL));
    }
    buf.copy_common_bytes_from_slice(raw)
}

/// The watch part's `write`: four slots (`trace_core::watch`), replacing the tracee's
/// watchpoints; all slots off removes them.
///
/// RETURNS: `EINVAL` for a bad size or slot.
#[cfg(target_arch = "x86_64")]
fn write_watches(session: &Session, buf: UserSliceRo, token: &mut CleanLockToken) -> Result<usize> {
    use trace_core::watch::{Watchpoints, WATCH_SIZE};
    let mut raw = [0_u8; WATCH_SIZE];
    if buf.len() != WATCH_SIZE {
        return Err(Error::new(EINVAL));
    }
    buf.copy_to_slice(&mut raw)?;
    let watches = Watchpoints::parse(&raw)?;
    *session.watches.lock(token.token()) = watches;
    publish(session, token, || session.debug_regs.store(&watches))?;
    Ok(WATCH_SIZE)
}

/// The watch part's `read`: the four slots as last written.
///
/// RETURNS: `EINVAL` when `buf` is smaller than four slots.
#[cfg(target_arch = "x86_64")]
fn read_watches(session: &Session, buf: UserSliceWo, token: &mut CleanLockToken) -> Result<usize> {
    use trace_core::watch::WATCH_SIZE;
    if buf.len() < WATCH_SIZE {
        return Err(Error::new(EINVAL));
    }
    let raw = session.watches.lock(token.token()).encode();
    buf.copy_common_bytes_from_slice(&raw)
}

/// `fevent` on a trace handle: the event stream is readable when an event is queued or the
/// tracee has exited; parts never signal. `event:` asks this when it registers the handle, so
/// from then on stops trigger `event:` (for good: after an unregistration that costs only a
/// lookup). Marked under the session lock, so an event queued before is reported readable
/// here and one queued after is triggered.
pub fn fevent(handle: &Handle, token: &mut CleanLockToken) -> EventFlags {
    if handle.part != Part::Events {
        return EventFlags::empty();
    }
    let session = &handle.session;
    let state = session.state.lock(token.token());
    session.watched.store(true, Ordering::Relaxed);
    if state.is_readable() {
        EVENT_READ
    } else {
        EventFlags::empty()
    }
}

//  ___      _           _
// |   \ ___| |_ __ _ __| |_
// | |) / -_)  _/ _` / _| ' \
// |___/\___|\__\__,_\__|_||_|

/// Closing a trace handle's event stream ends the session: a stopped tracee resumes as if
/// nothing was armed, with no watchpoints, or, for an `O_EXCL` session, is killed so a traced
/// sandbox cannot run on untraced. Closing a part changes nothing.
///
/// CONTEXT: takes the clones lock, then the session lock, then the tracee's lock.
pub fn close(handle: Handle, token: &mut CleanLockToken) {
    if handle.part == Part::Events {
        end_session(handle.session, token);
    }
}

fn end_session(session: Arc<Session>, token: &mut CleanLockToken) {
    // Clones nobody took go as this session goes: resumed untraced, or killed with it.
    let clones = core::mem::take(&mut *session.clones.lock(token.token()));
    for (_, clone) in clones {
        end_session(clone, token);
    }
    let (wake, unstep) = {
        let mut state = session.state.lock(token.token());
        session.armed.store(0, Ordering::Release);
        let stepping = state.armed().contains(PtraceFlags::PTRACE_STOP_SINGLESTEP);
        let wake = state.detach();
        // A stopped tracee clears TF itself when it leaves its stop.
        (wake, stepping && !wake)
    };
    let mut switched_out = false;
    if let Some(tracee) = session.tracee.upgrade() {
        let mut context = loop {
            let context = tracee.write(token.token());
            // try_stop_context (a regs write, or `write` re-arming it) parks a context that is
            // running on another CPU as "not yet started" while it waits for it to leave the
            // CPU, then restores the old status. Read through that, the kill would be skipped
            // (or its wakeup lost to the restore): wait until the parking is over.
            let parked = !never_ran(&context)
                && matches!(
                    context.status,
                    Status::HardBlocked {
                        reason: HardBlockedReason::NotYetStarted
                    }
                );
            if !parked {
                break context;
            }
            drop(context);
            context::switch(token);
        };
        if context
            .ptrace
            .as_ref()
            .is_some_and(|current| Arc::ptr_eq(current, &session))
        {
            context.ptrace = None;
        }
        // A context that never started has nothing to kill: it never runs.
        let started = !never_ran(&context) && !context.status.is_dead();
        if session.kill_on_close && started {
            // Marked before it is woken, so it exits from its stop instead of resuming.
            context.being_sigkilled = true;
            context.status = Status::Runnable;
            let cpu_id = context.cpu_id;
            let running = context.running;
            drop(context);
            context::wakeup_context(&tracee, cpu_id, &mut token.downgrade());
            if running {
                // Running on another CPU, whose per-CPU copies of the armed stops and of the
                // kill flag are refreshed only at a context switch: force one, so that it does
                // not run on untraced until its next tick.
                let _ = switch_out(tracee, unstep, token);
                switched_out = true;
            }
        }
    }
    if wake {
        session.tracee_wait.notify(token);
    }
    if unstep
        && !switched_out
        && let Some(tracee) = session.tracee.upgrade()
    {
        let _ = switch_out(tracee, true, token);
    }
}

//  _____                       ___     _ _
// |_   _| _ __ _ __ ___ ___  | __|_ _(_) |_
//   | || '_/ _` / _/ -_) -_) | _|\ \ / |  _|
//   |_||_| \__,_\__\___\___| |___/_\_\_|\__|

/// The tracee is exiting: its tracer's reads drain the queue and then fail with `ESRCH`, and a
/// tracer blocked in `read` or waiting through `event:` wakes up.
///
/// CONTEXT: called by the exiting context itself; takes its lock, then the session lock.
pub fn tracee_exited(context: &Arc<ContextLock>, token: &mut CleanLockToken) {
    let Some(session) = context.write(token.token()).ptrace.take() else {
        return;
    };
    let state = session.state.lock(token.token());
    let (mut state, mut token) = state.into_split();
    state.tracee_exited();
    session.armed.store(0, Ordering::Release);
    session.notify_tracer(&mut token);
}
