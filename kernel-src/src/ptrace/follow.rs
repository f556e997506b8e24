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

use trace_core::follow::{after_clone, on_start, AfterClone, OnStart, Starting};

use super::{armed_here, discard_unstarted, follow_clone, never_ran, take_clone_number};
use crate::{
    context::{self, ContextLock},
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
