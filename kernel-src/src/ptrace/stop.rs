//! Stopping: the tracee queues an event and sleeps until its tracer resumes it; and the other
//! end, the event stream the tracer reads (and watches through `event:`).

use trace_core::{session::QUEUE_LEN, Action, Delivery, SignalResume, Stop, TraceEvent};

use super::{
    arch,
    session::{Handle, Part, Session},
};
use ::syscall::SenderInfo;
use core::sync::atomic::Ordering;

use crate::{
    context::{self, Context},
    percpu::PercpuBlock,
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EAGAIN, EINTR, EINVAL},
        flag::{EventFlags, PtraceFlags, EVENT_READ, O_NONBLOCK},
        usercopy::UserSliceWo,
    },
};

/// Whether the current context's tracer armed any of `flags`: the fast path of every hook.
#[inline(always)]
pub(super) fn armed_here(flags: PtraceFlags) -> bool {
    PercpuBlock::current().ptrace_flags.get().intersects(flags)
}

/// Reports `stop` to the current context's tracer if armed, and sleeps until the tracer resumes
/// this context. Returns `true` when the tracer resumed with `PTRACE_FLAG_IGNORE`; a signal the
/// tracer suppressed, replaced or injected is already applied.
///
/// CONTEXT: sleeps; the caller holds no locks. A tracee killed while stopped exits from here.
#[cold]
pub(super) fn stop_current(stop: Stop, token: &mut CleanLockToken) -> bool {
    stop_current_for(stop, Pages::Apply, token).ignore
}

/// [`stop_current`] returning the whole [`Action`], its signal choice applied as `pages` says.
///
/// CONTEXT: as [`stop_current`].
#[cold]
pub(super) fn stop_current_for(stop: Stop, pages: Pages, token: &mut CleanLockToken) -> Action {
    let (action, killed) = stop_for(stop, pages, token);
    if killed {
        crate::syscall::exit_this_context(None, token);
    }
    action
}

/// Whether the current context is being force-killed. Read from the context, not the per-CPU
/// copy, which is only refreshed at a context switch.
fn being_killed(token: &mut CleanLockToken) -> bool {
    context::current().read(token.token()).being_sigkilled
}

/// [`stop_current`] for a context that is already exiting: being killed while stopped changes
/// nothing. Returns whether the tracer resumed with `PTRACE_FLAG_IGNORE`, and whether the
/// context is being killed. The tracer's signal choice is applied before it returns.
///
/// A stop takes the context lock twice, on the way in and on the way out (and once more only
/// if a wait ends without the tracer): it is on the path of every traced syscall.
#[cold]
pub(super) fn stop_here(stop: Stop, token: &mut CleanLockToken) -> (bool, bool) {
    let (action, killed) = stop_for(stop, Pages::Apply, token);
    (action.ignore, killed)
}

/// What [`stop_for`] does with the tracer's signal choice.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Pages {
    /// Apply all of it to the signal pages.
    Apply,
    /// The stop's signal is claimed already (redox-rt took it): only raise, never clear a
    /// pending bit, which may be a new instance of the signal.
    RaiseOnly,
}

/// [`stop_here`] returning the whole [`Action`], its signal choice applied as `pages` says.
#[cold]
fn stop_for(stop: Stop, pages: Pages, token: &mut CleanLockToken) -> (Action, bool) {
    let current = context::current();
    let (session, killed) = {
        let context = current.read(token.token());
        (context.ptrace.clone(), context.being_sigkilled)
    };
    let Some(session) = session else {
        return (Action::default(), killed);
    };
    let action = deliver(&session, stop, killed, token);
    let armed = session.armed();
    let mut context = current.write(token.token());
    let percpu = PercpuBlock::current();
    percpu.ptrace_flags.set(armed);
    // Under the context lock, which filter writes take: never half a mask.
    percpu.ptrace.filter.set(session.filter_mask());
    let stepping = armed.contains(PtraceFlags::PTRACE_STOP_SINGLESTEP);
    // The watchpoints depend on stepping, which the tracer may have changed at this stop.
    arch::switched_to(&percpu.ptrace.debug, Some((&session.watches, stepping)));
    drop(session);
    if let Some(regs) = context.regs_mut() {
        // The debug exception after the next user instruction is the single-step stop. Cleared
        // otherwise: a stop reached while stepping (a syscall stop, the step over a `syscall`)
        // still has TF in the saved flags, and an unarmed debug exception kills the tracee.
        regs.set_singlestep(stepping);
    }
    let signal = match pages {
        Pages::Apply => action.signal,
        Pages::RaiseOnly => SignalResume {
            discard: None,
            ..action.signal
        },
    };
    apply_signals(&context, signal);
    let killed = context.being_sigkilled;
    (action, killed)
}

/// Applies the tracer's signal choice to the current context's signal pages, under its lock:
/// a discarded signal's pending bit is cleared (in the thread's word, or the process's for a
/// process signal), a raised one is made pending for the thread, with sender pid and uid 0.
///
/// CONTEXT: the caller holds the current context's lock.
fn apply_signals(context: &Context, signal: SignalResume) {
    let Some((thread, process, _)) = context.sigcontrol() else {
        return;
    };
    if let Some(pending) = signal.discard {
        let (word, bit) = pending.signal.word_bit();
        match (pending.to_thread, thread.word.get(word)) {
            (true, Some(word)) => {
                word.fetch_and(!bit, Ordering::AcqRel);
            }
            _ => {
                process
                    .pending
                    .fetch_and(!pending.signal.bit(), Ordering::AcqRel);
            }
        }
    }
    if let Some(raised) = signal.raise {
        let (word, bit) = raised.word_bit();
        if let Some(info) = raised
            .sender_slot()
            .and_then(|slot| thread.sender_infos.get(slot))
        {
            info.store(SenderInfo { pid: 0, ruid: 0 }.raw(), Ordering::Relaxed);
        }
        if let Some(word) = thread.word.get(word) {
            word.fetch_or(bit, Ordering::AcqRel);
        }
    }
}

/// Queues `stop` and, if it is a stop, sleeps until the tracer resumes; returns what the tracer
/// chose (nothing when the tracee did not wait). `killed`: the current
/// context was being killed when it reached the stop. Kill always wins: a context being killed
/// reports the stop but does not wait in it, and a kill during the wait ends it (the patched
/// `WaitCondition::wait` does not sleep once `being_sigkilled` is set, and returns `false` when
/// anything but a notify ends it: only then is the kill flag read again).
pub(super) fn deliver(
    session: &Session,
    stop: Stop,
    killed: bool,
    token: &mut CleanLockToken,
) -> Action {
    {
        let state = session.state.lock(token.token());
        let (mut state, mut token) = state.into_split();
        let delivery = state.stop(stop);
        if delivery != Delivery::Dropped {
            session.notify_tracer(&mut token);
        }
        if delivery != Delivery::Stopped {
            return Action::default();
        }
        if killed {
            state.abandon_stop();
            return Action::default();
        }
    }
    session.in_stop.store(true, Ordering::Relaxed);
    let action = loop {
        let notified = {
            let state = session.state.lock(token.token());
            let (mut state, mut token) = state.into_split();
            if !state.is_stopped() {
                break state.take_action();
            }
            session.tracee_wait.wait(state, "ptrace::stop", &mut token)
        };
        // Woken by something else than the tracer (an `Interrupt`, as procmgr sends with a
        // signal): only a kill ends a trace stop early.
        if !notified && being_killed(token) {
            session.state.lock(token.token()).abandon_stop();
            break Action::default();
        }
    };
    session.in_stop.store(false, Ordering::Relaxed);
    action
}

/// Whether `context` sleeps in a trace stop, which a pending signal does not end: the signal
/// is acted on after the tracer resumes it (`WaitCondition::wait` asks this before it gives up
/// on a pending signal; without it, the stop's loop would spin with the signal pending).
///
/// CONTEXT: the caller holds `context`'s lock.
pub fn ignores_signals(context: &Context) -> bool {
    context
        .ptrace
        .as_ref()
        .is_some_and(|session| session.in_stop.load(Ordering::Relaxed))
}

/// The event stream's `read`: as many whole [`TraceEvent`]s as fit and are queued.
///
/// The events are copied out of the session under its lock and into `buf` without it: a fault
/// on `buf` may sleep (a page a scheme lends) or end the tracer, and no other use of the
/// session may wait for that. They are consumed only once delivered; if another read consumed
/// events meanwhile, this one starts over, so none is delivered twice.
///
/// RETURNS: `EINVAL` for a buffer smaller than one event, `EAGAIN` (non-blocking, none queued),
/// `EINTR`, `EFAULT` when the first event cannot be copied (nothing is consumed; a fault after
/// that gives the short count), or `ESRCH` once the tracee has exited and every event was read.
pub(super) fn read_events(
    session: &Session,
    buf: UserSliceWo,
    fcntl_flags: u32,
    token: &mut CleanLockToken,
) -> Result<usize> {
    if buf.len() < TraceEvent::SIZE {
        return Err(Error::new(EINVAL));
    }
    let mut events = [TraceEvent {
        cause: 0,
        data: [0; 7],
    }; QUEUE_LEN];
    let fit = (buf.len() / TraceEvent::SIZE).min(QUEUE_LEN);
    let events = events.get_mut(..fit).ok_or(Error::new(EINVAL))?;
    loop {
        let (count, position) = {
            let state = session.state.lock(token.token());
            let (state, mut token) = state.into_split();
            match state.peek_events(events)? {
                (0, _) if fcntl_flags & O_NONBLOCK as u32 != 0 => return Err(Error::new(EAGAIN)),
                (0, _) => {
                    if !session.tracer_wait.wait(state, "ptrace::read", &mut token) {
                        return Err(Error::new(EINTR));
                    }
                    continue;
                }
                found => found,
            }
        };
        let mut delivered = 0_usize;
        for (chunk, event) in buf
            .in_exact_chunks(TraceEvent::SIZE)
            .zip(events.iter().take(count))
        {
            match chunk.copy_from_slice(event.as_bytes()) {
                Ok(()) => delivered = delivered.saturating_add(1),
                Err(error) if delivered == 0 => return Err(error),
                Err(_) => break,
            }
        }
        if session
            .state
            .lock(token.token())
            .consume_events(position, delivered)
        {
            return Ok(delivered.saturating_mul(TraceEvent::SIZE));
        }
    }
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
