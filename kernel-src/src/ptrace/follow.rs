//! Following the forks and threads procmgr creates for a tracee.
//!
//! relibc's `fork()` and `pthread_create()` ask procmgr for the new context (`dup(proc,
//! "fork")`, `dup(proc, "new-thread")`), and procmgr opens `new-context` on its own authority,
//! so [`super::context_created`] sees procmgr, not the tracee, as the creator. But the caller
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

use trace_core::{
    follow::{after_clone, on_start, AfterClone, OnStart, Starting},
    SessionState, Stop,
};

use super::{armed_here, attach_session, discard_unstarted, stop_here, take_clone_number, Session};
use crate::{
    context::{self, context::HardBlockedReason, ContextLock, Status},
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EBUSY, ESRCH},
        flag::PtraceFlags,
    },
};

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
            // try_stop_context parks a running context as "not yet started" for a moment; one
            // that was ever switched to is not unstarted.
            unstarted: context.switch_time == 0
                && matches!(
                    context.status,
                    Status::HardBlocked {
                        reason: HardBlockedReason::NotYetStarted
                    }
                ),
            traced: context.ptrace.is_some(),
        }
    };
    if on_start(parent.armed(), starting) == OnStart::Leave {
        return Ok(());
    }
    // The parent's armed stops and filter; not its watchpoints (the creator's addresses).
    let inherited = SessionState::inherit(&parent.state.lock(token.token()));
    let session = Session::new(child, parent.kill_on_close, inherited);
    let session = match attach_session(child, session, token) {
        Ok(session) => session,
        // Someone attached since we looked: theirs, not a clone.
        Err(error) if error.errno == EBUSY => return Ok(()),
        Err(error) => return Err(error),
    };

    let number = parent.next_clone.fetch_add(1, Ordering::Relaxed);
    parent
        .clones
        .lock(token.token())
        .push((number, Arc::clone(&session)));
    let pid = child.read(token.token()).pid;
    stop_here(Stop::Clone { number, pid }, token);

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
