//! What a tracer armed, and how the CPUs come to see it: the per-CPU copies a context switch
//! loads, the event stream's `write` that arms stops and resumes a stopped tracee, and the
//! switch-out that makes a tracee running on another CPU pick up a change.

use alloc::sync::Arc;
use core::sync::atomic::Ordering;

use trace_core::{filter::FilterCells, Interrupt, Resumed};

use super::{arch, session::Session};
use crate::{
    context::{unblock_context, Context, ContextLock},
    percpu::PercpuBlock,
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EINVAL},
        flag::PtraceFlags,
        usercopy::UserSliceRo,
    },
};

/// What a CPU keeps of the session of the context it runs, beside `PercpuBlock::ptrace_flags`.
#[derive(Debug)]
pub struct PerCpu {
    pub(super) filter: FilterCells,
    pub(super) debug: arch::PerCpu,
}

impl PerCpu {
    pub const fn new() -> Self {
        Self {
            filter: FilterCells::new(),
            debug: arch::PerCpu::new(),
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
    let armed = session.map_or(PtraceFlags::empty(), Session::armed);
    percpu.ptrace_flags.set(armed);
    if let Some(session) = session {
        percpu.ptrace.filter.set(session.filter_mask());
    }
    let stepping = armed.contains(PtraceFlags::PTRACE_STOP_SINGLESTEP);
    arch::switched_to(
        &percpu.ptrace.debug,
        session.map(|session| (&session.watches, stepping)),
    );
}

/// The event stream's `write`: one `u64` of `PtraceFlags`, optionally followed by a `u64`
/// signal word. Arms those stops and resumes a stopped tracee; `PTRACE_FLAG_IGNORE` skips what
/// the stop was about, and the signal word delivers, suppresses, replaces or injects a signal
/// (`trace_core::SignalResume::choose`).
///
/// RETURNS: `EINVAL` for a bad size, flags or signal word, `ESRCH` when the tracee has exited.
pub(super) fn write_flags(
    session: &Session,
    buf: UserSliceRo,
    token: &mut CleanLockToken,
) -> Result<usize> {
    let mut raw = [0_u8; 16];
    let raw = raw.get_mut(..buf.len()).ok_or(Error::new(EINVAL))?;
    buf.copy_to_slice(raw)?;
    let (flags, signal) = trace_core::abi::parse_flags(raw)?;

    let (resumed, unstep) = {
        let mut state = session.state.lock(token.token());
        let stepping = state.armed().contains(PtraceFlags::PTRACE_STOP_SINGLESTEP);
        let resumed = state.resume(flags, signal)?;
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

/// The `interrupt` part's `write` (its bytes are not read): the tracee stops at its next
/// interrupt point (`hooks::interrupted`) with [`trace_core::Stop::Interrupt`]. A tracee running
/// on another CPU is switched out once, so that its CPU sees the request; one blocked in a call
/// is woken, which ends the call with `EINTR` and stops it there (`hooks::syscall_exit`); one
/// in a stop is left alone.
///
/// RETURNS: the length written; `ESRCH` when the tracee has exited.
/// CONTEXT: may sleep (see [`switch_out`]).
pub(super) fn write_interrupt(
    session: &Session,
    buf: UserSliceRo,
    token: &mut CleanLockToken,
) -> Result<usize> {
    let requested = {
        let mut state = session.state.lock(token.token());
        let requested = state.interrupt()?;
        session.armed.store(state.armed().bits(), Ordering::Release);
        requested
    };
    if requested == Interrupt::Requested
        && let Some(tracee) = session.tracee.upgrade()
    {
        if tracee.read(token.token()).running {
            switch_out(tracee, false, token)?;
        } else {
            // Blocked in a call: end it with EINTR, as a signal would; the syscall exit hook
            // stops the tracee there and rewinds the call.
            unblock_context(&tracee, &mut token.token().downgrade());
        }
    }
    Ok(buf.len())
}

/// Makes a tracee outside any stop see a new armed set: one running on another CPU is switched
/// out once, so that its CPU refreshes its per-CPU copy. With `unstep`, its trap flag is cleared
/// too: a tracee that left a step stop (or entered a syscall) stepping still has TF in its
/// saved flags, and a debug exception with no step armed would kill it.
///
/// CONTEXT: may sleep (waits for the tracee to leave its CPU).
pub(super) fn switch_out(
    tracee: Arc<ContextLock>,
    unstep: bool,
    token: &mut CleanLockToken,
) -> Result<()> {
    crate::scheme::proc::try_stop_context(tracee, token, |context, _| {
        if unstep && let Some(regs) = context.regs_mut() {
            regs.set_singlestep(false);
        }
        Ok(())
    })
}

/// Runs `update` under the tracee's context lock, where context switches read the session's
/// filter mask and debug registers, then switches a tracee running on another CPU out once so
/// that CPU reloads them. A stopped tracee picks them up when it leaves its stop. (The part's
/// handle holds the tracee's context, so `ESRCH` cannot happen while it is open.)
///
/// CONTEXT: may sleep (see [`switch_out`]).
pub(super) fn publish(
    session: &Session,
    token: &mut CleanLockToken,
    update: impl FnOnce(),
) -> Result<()> {
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
