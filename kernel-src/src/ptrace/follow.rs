//! Following the contexts a tracee creates: those it makes itself with `new-context`
//! ([`context_created`]), and the forks and threads procmgr creates for it ([`context_starting`]).
//!
//! relibc's `fork()` and `pthread_create()` ask procmgr for the new context (`dup(proc,
//! "fork")`, `dup(proc, "new-thread")`), and procmgr opens `new-context` on its own authority,
//! so [`context_created`] sees procmgr, not the tracee, as the creator. But the caller
//! then sets the new context up itself, through the kernel handles procmgr forwards to it
//! (address space, file table, registers), and finally writes the context's `start` handle
//! with its own thread. That write is where the new context is followed: before it ever ran,
//! by the very thread that forked, which stops there with a clone event as a context calling
//! `new-context` does. procmgr needs no change, and there is no window: until `start` is
//! written the new context cannot run, and after it, it runs traced.
//!
//! The decisions are `trace_core::follow`'s; this module adapts them to contexts and sessions.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use syscall::data::GlobalSchemes;
use trace_core::{
    follow::{after_clone, on_start, AfterClone, OnStart, Starting},
    SessionState, Stop,
};

use super::{
    detach::end_session,
    session::{attach_session, Session},
    stop::{armed_here, stop_here},
};
use crate::{
    context::{self, context::HardBlockedReason, Context, ContextLock, Status},
    event,
    scheme::SchemeExt,
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EBUSY, EINTR, ESRCH},
        flag::{PtraceFlags, EVENT_READ},
    },
};

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

/// `start` hook: the current context is about to start `child`. If the current context's
/// tracer armed `PTRACE_EVENT_CLONE` and `child` never ran and has no tracer, `child` gets a
/// session with the same stops armed (and the same filter and `O_EXCL` setting) and the current context
/// stops with a clone event (`pid`: the process id procmgr gave `child`). The tracer takes
/// the session with `dup(trace, "clone/<n>")`; until then `child` waits at its first stop.
///
/// After the stop the start goes on, also when the starter is being killed (the fork happened;
/// the starter dies on its way out), unless the tracer closed an `O_EXCL` clone's session
/// meanwhile: then `child` is discarded unstarted and the start fails with `ESRCH`, so an
/// `O_EXCL` tracee never runs on untraced.
///
/// CONTEXT: may sleep; the caller holds no locks. Takes `child`'s lock, then the session lock.
/// RETURNS: `ESRCH` when `child` is discarded or exited meanwhile.
pub fn context_starting(child: &Arc<ContextLock>, token: &mut CleanLockToken) -> Result<()> {
    if !armed_here(PtraceFlags::PTRACE_EVENT_CLONE) || context::is_current(child) {
        return Ok(());
    }
    let Some(parent) = context::current().read(token.token()).ptrace.clone() else {
        return Ok(());
    };
    let starting = {
        let context = child.read(token.token());
        Starting {
            unstarted: never_ran(&context),
            traced: context.ptrace.is_some(),
        }
    };
    if on_start(parent.armed(), starting) == OnStart::Leave {
        return Ok(());
    }
    let (number, session) = match follow_clone(&parent, child, token) {
        // Killed at the stop: the start still goes on (see above).
        Ok((number, session, _)) => (number, session),
        // Someone attached since we looked: theirs, not a clone.
        Err(error) if error.errno == EBUSY => return Ok(()),
        Err(error) => return Err(error),
    };

    let still_traced = child
        .read(token.token())
        .ptrace
        .as_ref()
        .is_some_and(|current| Arc::ptr_eq(current, &session));
    match after_clone(parent.kill_on_close, still_traced) {
        AfterClone::Start => Ok(()),
        AfterClone::Discard => {
            // Closed with the parent's session (not taken), or by the tracer: either way gone.
            let _ = take_clone_number(&parent, number, token);
            discard_unstarted(child, token);
            Err(Error::new(ESRCH))
        }
    }
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

/// Whether `context` never ran: it is not yet started.
pub(super) fn never_ran(context: &Context) -> bool {
    matches!(
        context.status,
        Status::HardBlocked {
            reason: HardBlockedReason::NotYetStarted
        }
    )
}

/// Removes `number` from the clones waiting to be taken, if it still is.
pub(super) fn take_clone_number(
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

/// Takes a context that never started, and that no tracer holds, out of the context list; it
/// is freed with its last reference. It dies as a killed context does: its status reads
/// `ForceKilled`, and its owner (procmgr, for a fork or thread) is told as at any exit, since
/// procmgr ends the process it made for it, and answers its parent's `waitpid`, only then.
///
/// CONTEXT: takes `child`'s lock, then the context list lock, then `event:`'s registry.
fn discard_unstarted(child: &Arc<ContextLock>, token: &mut CleanLockToken) {
    let owner = {
        let mut context = child.write(token.token());
        if !never_ran(&context) || context.ptrace.is_some() {
            return;
        }
        context.being_sigkilled = true;
        context.status = Status::Dead { excp: None };
        context.owner_proc_id
    };
    context::contexts_mut(token.downgrade()).remove(&context::ContextRef(Arc::clone(child)));
    if let Some(owner) = owner {
        event::trigger(
            GlobalSchemes::Proc.scheme_id(),
            owner.get(),
            EVENT_READ,
            token,
        );
    }
}
