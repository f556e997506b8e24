//! Trace sessions: a tracer's `trace` handle on a context, and the stops it arms.
//!
//! This replaces the 2019 `proc:PID/trace` backend. A [`Session`] links one `trace` handle of
//! the `kernel.proc` scheme to one tracee context (its `ptrace` field). The rules (what stops,
//! what a write means, when a read fails) are pure data in `trace_core::SessionState`; this
//! module adds the session lock, sleeping and waking.
//!
//! Fast path: `PercpuBlock::ptrace_flags` caches the armed stops of the context running on this
//! CPU. It is refreshed at every context switch ([`armed_flags`]) and by the tracee itself when
//! it leaves a stop, so an untraced syscall costs one per-CPU load and test.
//!
//! Lock order: the session lock is never held together with a context lock.

pub mod follow;
pub mod mem;

use alloc::{
    sync::{Arc, Weak},
    vec::Vec,
};
use core::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

use syscall::data::GlobalSchemes;
use trace_core::{Delivery, Resumed, SessionState, Stop, TraceEvent};

use crate::{
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
    /// Opened with `O_EXCL`: closing the handle kills the tracee.
    kill_on_close: bool,
    /// Sessions of contexts this tracee created, until the tracer takes them (`clone/<n>`).
    clones: Mutex<L1, Vec<(usize, Arc<Session>)>>,
    next_clone: AtomicUsize,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("armed", &self.armed())
            .field("kill_on_close", &self.kill_on_close)
            .finish_non_exhaustive()
    }
}

impl Session {
    fn new(tracee: &Arc<ContextLock>, kill_on_close: bool) -> Arc<Self> {
        Arc::new(Self {
            state: Mutex::new(SessionState::new()),
            armed: AtomicU64::new(0),
            tracee_wait: WaitCondition::new(),
            tracer_wait: WaitCondition::new(),
            tracee: Arc::downgrade(tracee),
            handle_id: AtomicUsize::new(0),
            kill_on_close,
            clones: Mutex::new(Vec::new()),
            next_clone: AtomicUsize::new(1),
        })
    }

    /// The tracee's context, while it exists.
    pub fn tracee(&self) -> Result<Arc<ContextLock>> {
        self.tracee.upgrade().ok_or(Error::new(ESRCH))
    }

    fn armed(&self) -> PtraceFlags {
        PtraceFlags::from_bits_retain(self.armed.load(Ordering::Acquire))
    }

    fn notify_tracer(&self, token: &mut crate::sync::LockToken<'_, L1>) {
        event::trigger_locked(
            GlobalSchemes::Proc.scheme_id(),
            self.handle_id.load(Ordering::Relaxed),
            EVENT_READ,
            token.token(),
        );
        self.tracer_wait.notify_locked(token.token());
    }
}

/// The stops armed for `context`, for the per-CPU cache at context switch.
///
/// CONTEXT: the caller holds `context`'s lock.
pub fn armed_flags(context: &Context) -> PtraceFlags {
    context
        .ptrace
        .as_ref()
        .map_or(PtraceFlags::empty(), |session| session.armed())
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
) -> Result<Arc<Session>> {
    if context::is_current(tracee) {
        // The first stop would put the only reader of the events to sleep.
        return Err(Error::new(EPERM));
    }
    attach_session(
        tracee,
        Session::new(tracee, flags & O_EXCL == O_EXCL),
        token,
    )
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

/// Records the handle id the scheme gave the session; no event can be queued before the
/// tracer's first write, so nothing is notified under a stale id.
pub fn bind_handle(session: &Session, handle_id: usize) {
    session.handle_id.store(handle_id, Ordering::Relaxed);
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
    let ignore = stop_here(stop, token);
    if being_killed(token) {
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
/// nothing.
#[cold]
fn stop_here(stop: Stop, token: &mut CleanLockToken) -> bool {
    let Some(session) = context::current().read(token.token()).ptrace.clone() else {
        return false;
    };
    let ignore = deliver(&session, stop, token);
    let armed = session.armed();
    drop(session);
    PercpuBlock::current().ptrace_flags.set(armed);
    if let Some(regs) = context::current().write(token.token()).regs_mut() {
        // The debug exception after the next user instruction is the single-step stop. Cleared
        // otherwise: a stop reached while stepping (a syscall stop, the step over a `syscall`)
        // still has TF in the saved flags, and an unarmed debug exception kills the tracee.
        regs.set_singlestep(armed.contains(PtraceFlags::PTRACE_STOP_SINGLESTEP));
    }
    ignore
}

/// Queues `stop` and, if it is a stop, sleeps until the tracer resumes. Kill always wins: a
/// context being killed reports the stop but does not wait in it, and a kill during the wait
/// ends it (the patched `WaitCondition::wait` does not sleep once `being_sigkilled` is set,
/// which closes the race between the check here and the sleep).
fn deliver(session: &Session, stop: Stop, token: &mut CleanLockToken) -> bool {
    let killed = being_killed(token);
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
        if being_killed(token) {
            session.state.lock(token.token()).abandon_stop();
            return false;
        }
        let state = session.state.lock(token.token());
        let (mut state, mut token) = state.into_split();
        if !state.is_stopped() {
            return state.take_action();
        }
        // A signal may cut the wait short; a trace stop only ends when the tracer (or a kill)
        // says so.
        let _ = session.tracee_wait.wait(state, "ptrace::stop", &mut token);
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
    !armed_here(PtraceFlags::PTRACE_STOP_PRE_SYSCALL)
        || !stop_current(Stop::SyscallEntry { number, args }, token)
}

/// Syscall exit hook: `number` is the syscall that ran (or was skipped), `ret` its result.
///
/// CONTEXT: may sleep; the caller holds no locks.
#[inline(always)]
pub fn syscall_exit(number: usize, ret: usize, token: &mut CleanLockToken) {
    if armed_here(PtraceFlags::PTRACE_STOP_POST_SYSCALL) {
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
        const TRAP_FLAG: usize = 1 << 8;
        let ip = match context::current().read(token.token()).regs() {
            Some(regs) if regs.iret.rflags & TRAP_FLAG != 0 => regs.instr_pointer(),
            _ => return,
        };
        stop_current(Stop::SingleStep { ip }, token);
    }
}

/// Debug-exception hook. Returns `true` when the single step was the tracer's.
///
/// CONTEXT: may sleep; the caller holds no locks.
pub fn singlestep(ip: usize, token: &mut CleanLockToken) -> bool {
    if !armed_here(PtraceFlags::PTRACE_STOP_SINGLESTEP) {
        return false;
    }
    stop_current(Stop::SingleStep { ip }, token);
    true
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
    let _ = deliver(&session, Stop::AddrSpaceSwitch, token);
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
    let session = attach_session(child, Session::new(child, parent.kill_on_close), token)?;
    let armed = parent.armed();
    session.state.lock(token.token()).resume(armed)?;
    session.armed.store(armed.bits(), Ordering::Release);

    let number = parent.next_clone.fetch_add(1, Ordering::Relaxed);
    parent.clones.lock(token.token()).push((number, session));
    let pid = child.read(token.token()).pid;
    stop_here(Stop::Clone { number, pid }, token);
    if being_killed(token) {
        // Killed inside `new-context`: nobody will ever get the new context's handle. Unless the
        // tracer took it (then it holds its session), it would sit unstarted forever, so the
        // creation is undone; the error unwinds the syscall (exiting from here would leak what
        // its frames hold), and the creator dies on the way out.
        if let Some(clone) = take_clone_number(&parent, number, token) {
            close(clone, token);
        }
        discard_unstarted(child, token);
        return Err(Error::new(EINTR));
    }
    Ok(())
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
        let unstarted = matches!(
            context.status,
            Status::HardBlocked {
                reason: HardBlockedReason::NotYetStarted
            }
        );
        if !unstarted || context.ptrace.is_some() {
            return;
        }
        context.status = Status::Dead { excp: None };
    }
    context::contexts_mut(token.downgrade()).remove(&context::ContextRef(Arc::clone(child)));
}

/// `dup(trace, "clone/<n>")`: takes the session of the `n`th context the tracee created.
///
/// RETURNS: `EINVAL` for a bad name or a number not (or no longer) waiting.
pub fn take_clone(
    session: &Session,
    name: &[u8],
    token: &mut CleanLockToken,
) -> Result<Arc<Session>> {
    let number = trace_core::abi::parse_clone_name(name)?;
    take_clone_number(session, number, token).ok_or(Error::new(EINVAL))
}

//  ___                          _                  _
// | _ \___ ____  _ _ __  ___   /_\  _ _  _ __  ___(_)_ _  __ _
// |   / -_|_-< || | '  \/ -_) / _ \| '_|| '  \/ -_) | ' \/ _` |
// |_|_\___/__/\_,_|_|_|_\___|/_/ \_\_|  |_|_|_\___|_|_||_\__, |
//                                                        |___/

/// `write` on a trace handle: one `u64` of `PtraceFlags`. Arms those stops and resumes a stopped
/// tracee; `PTRACE_FLAG_IGNORE` skips what the stop was about.
///
/// CONTEXT: may sleep (a tracee running on another CPU is switched out once, so that CPU picks
/// up the new flags).
/// RETURNS: `EINVAL` for a bad size or flags, `ESRCH` when the tracee has exited.
pub fn write(session: &Session, buf: UserSliceRo, token: &mut CleanLockToken) -> Result<usize> {
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

/// `read` on a trace handle: as many whole [`TraceEvent`]s as fit and are queued.
///
/// CONTEXT: sleeps until an event arrives, unless `O_NONBLOCK` is in `fcntl_flags`.
/// RETURNS: `EINVAL` for a buffer smaller than one event, `EAGAIN` (non-blocking, none queued),
/// `EINTR`, `EFAULT` when the first event cannot be copied (nothing is consumed; a fault after
/// that gives the short count), or `ESRCH` once the tracee has exited and every event was read.
pub fn read(
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

/// `fevent` on a trace handle: readable when an event is queued or the tracee has exited.
pub fn fevent(session: &Session, token: &mut CleanLockToken) -> EventFlags {
    if session.state.lock(token.token()).is_readable() {
        EVENT_READ
    } else {
        EventFlags::empty()
    }
}

//  ___      _           _
// |   \ ___| |_ __ _ __| |_
// | |) / -_)  _/ _` / _| ' \
// |___/\___|\__\__,_\__|_||_|

/// Closing the trace handle ends the session: a stopped tracee resumes as if nothing was
/// armed, or, for an `O_EXCL` session, is killed so a traced sandbox cannot run on untraced.
///
/// CONTEXT: takes the tracee's lock, then the session lock.
pub fn close(session: Arc<Session>, token: &mut CleanLockToken) {
    // Clones nobody took go as this session goes: resumed untraced, or killed with it.
    let clones = core::mem::take(&mut *session.clones.lock(token.token()));
    for (_, clone) in clones {
        close(clone, token);
    }
    let (wake, unstep) = {
        let mut state = session.state.lock(token.token());
        session.armed.store(0, Ordering::Release);
        let stepping = state.armed().contains(PtraceFlags::PTRACE_STOP_SINGLESTEP);
        let wake = state.detach();
        // A stopped tracee clears TF itself when it leaves its stop.
        (wake, stepping && !wake)
    };
    if let Some(tracee) = session.tracee.upgrade() {
        let mut context = loop {
            let context = tracee.write(token.token());
            // try_stop_context (a regs write, or `write` re-arming it) parks a context that is
            // running on another CPU as "not yet started" while it waits for it to leave the
            // CPU, then restores the old status. Read through that, the kill would be skipped
            // (or its wakeup lost to the restore): wait until the parking is over. A context
            // that never started has never been switched to.
            let parked = context.switch_time != 0
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
        let started = !matches!(
            context.status,
            Status::Dead { .. }
                | Status::HardBlocked {
                    reason: HardBlockedReason::NotYetStarted
                }
        );
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
                let _ = crate::scheme::proc::try_stop_context(tracee, token, |_, _| Ok(()));
            }
        }
    }
    if wake {
        session.tracee_wait.notify(token);
    }
    if unstep && let Some(tracee) = session.tracee.upgrade() {
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
