//! The end of a session: the tracer closing its event stream (detach, or kill for `O_EXCL`),
//! and the tracee exiting.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use super::{
    arming::switch_out,
    follow::never_ran,
    session::{Handle, Part, Session},
};
use crate::{
    context::{self, ContextLock, Status},
    sync::CleanLockToken,
    syscall::flag::PtraceFlags,
};

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

pub(super) fn end_session(session: Arc<Session>, token: &mut CleanLockToken) {
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
        let mut context = tracee.write(token.token());
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
