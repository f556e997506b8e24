//! The hooks upstream's code calls: syscall entry and exit, debug exceptions, `int3`,
//! exceptions, timer ticks, exit and exec. Each costs one per-CPU test when nothing is armed.

use alloc::sync::Arc;

use trace_core::{
    abi::{parse_signal_taken, PTRACE_STOP_INTERRUPT},
    signal::{next_signal, pending_set},
    Pending, Stop,
};

use super::{
    arch,
    stop::{armed_here, deliver, stop_current, stop_current_for, stop_here, Pages},
    WatchTrap,
};
use crate::{
    arch::interrupt::InterruptStack,
    context::{self, Context, ContextLock},
    percpu::PercpuBlock,
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EINTR, EPERM},
        flag::{ContextStatus, PtraceFlags, SigcontrolFlags},
    },
};
use ::syscall::SenderInfo;
use core::sync::atomic::Ordering;

/// Syscall entry hook, given the syscall number and its six argument registers. Returns
/// `false` when the tracer skips the syscall (sysemu); the tracer then provides the result
/// through `regs/int`. The tracer may rewrite the saved registers while this context sleeps, so
/// the caller reads them again afterwards.
///
/// CONTEXT: may sleep; the caller holds no locks.
#[inline(always)]
pub fn syscall_entry(number: usize, args: [usize; 6], token: &mut CleanLockToken) -> bool {
    interrupted(token);
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
    if armed_here(PTRACE_STOP_INTERRUPT) && ret == Error::mux(Err(Error::new(EINTR))) {
        // The tracer's interrupt (or a signal) ended a blocking call: stop in it. The call runs
        // again after the resume, so no exit stop for it.
        if blocked_call_stop(number, token) {
            return;
        }
    }
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
    let ip = match context::current().read(token.token()).regs() {
        Some(regs) if arch::trap_flag_set(regs) => regs.instr_pointer(),
        _ => return,
    };
    stop_current(Stop::SingleStep { ip }, token);
}

/// Interrupt point: where a tracer's interrupt request stops the tracee. [`signal_point`] calls
/// it, from upstream's `signal_handler`, when a timer tick preempts the context in user mode
/// (also when no other context was waiting) and at `sched_yield`; the syscall entry hook calls
/// it first.
///
/// CONTEXT: may sleep; the caller holds no locks.
#[inline(always)]
pub fn interrupted(token: &mut CleanLockToken) {
    if armed_here(PTRACE_STOP_INTERRUPT) {
        interrupt_stop(token);
    }
}

/// Signal point: upstream's `signal_handler`, which redirects the context to redox-rt's signal
/// entry when an unblocked signal is pending. First the interrupt point; then, with
/// `PTRACE_STOP_SIGNAL` armed, a signal-delivery stop for the signal redox-rt will take, for
/// each such signal until the tracer lets one through (or none is left).
///
/// CONTEXT: may sleep; the caller holds no locks.
#[inline(always)]
pub fn signal_point(token: &mut CleanLockToken) {
    interrupted(token);
    if armed_here(PtraceFlags::PTRACE_STOP_SIGNAL) {
        signal_stops(token);
    }
}

#[cold]
fn signal_stops(token: &mut CleanLockToken) {
    loop {
        let current = context::current();
        let (session, next) = {
            let context = current.read(token.token());
            (context.ptrace.clone(), next_pending(&context))
        };
        let (Some(session), Some((pending, sender, still_pending))) = (session, next) else {
            return;
        };
        if !session
            .state
            .lock(token.token())
            .signal_due(pending, still_pending)
        {
            return;
        }
        drop(session);
        stop_current(
            Stop::Signal {
                pending,
                pid: sender.pid as usize,
                uid: sender.ruid as usize,
            },
            token,
        );
    }
}

/// `SYS_CALL` with [`trace_core::abi::SIGNAL_TAKEN`] on `context`'s `sighandler` handle:
/// redox-rt takes a signal it claimed by itself, without the kernel's redirect (after a call
/// the signal interrupted, at an unblock, between two handlers). With `PTRACE_STOP_SIGNAL`
/// armed the caller makes the signal-delivery stop it would have made at a redirect, unless
/// the redirect made it already. Untraced, or with signal stops not armed, it returns at once.
///
/// RETURNS: 0 when redox-rt is to act on the signal, 1 when the tracer suppressed or replaced
/// it (a replacement is pending for the thread, to be taken next); `EINVAL` for bad metadata
/// (see [`parse_signal_taken`]), `EPERM` when `context` is not the caller.
/// CONTEXT: may sleep; the caller holds no locks. A tracee killed while stopped exits here.
pub fn signal_taken(
    context: &Arc<ContextLock>,
    metadata: &[u64],
    token: &mut CleanLockToken,
) -> Result<usize> {
    let (pending, sender) = parse_signal_taken(metadata)?;
    if !context::is_current(context) {
        return Err(Error::new(EPERM));
    }
    let Some(session) = context.read(token.token()).ptrace.clone() else {
        return Ok(0);
    };
    if !session
        .state
        .lock(token.token())
        .signal_taken(pending.signal)
    {
        return Ok(0);
    }
    let stop = Stop::Signal {
        pending,
        pid: sender.pid as usize,
        uid: sender.ruid as usize,
    };
    let action = stop_current_for(stop, Pages::RaiseOnly, token);
    let acts = session
        .state
        .lock(token.token())
        .taken_signal_resumed(pending.signal, &action.signal);
    Ok(usize::from(!acts))
}

/// The signal redox-rt's entry would take now, its sender, and every pending signal; `None`
/// when none is pending and unblocked, or delivery is inhibited (redox-rt is in a critical
/// section or already in its handler: the redirect waits, and so does the stop).
///
/// CONTEXT: the caller holds `context`'s lock.
fn next_pending(context: &Context) -> Option<(Pending, SenderInfo, u64)> {
    let (thread, process, _) = context.sigcontrol()?;
    let flags = SigcontrolFlags::from_bits_retain(thread.control_flags.load(Ordering::Acquire));
    if flags.contains(SigcontrolFlags::INHIBIT_DELIVERY) {
        return None;
    }
    let words = thread
        .word
        .each_ref()
        .map(|word| word.load(Ordering::Acquire));
    let process_pending = process.pending.load(Ordering::Acquire);
    let pending = next_signal(words, process_pending)?;
    let infos = match pending.to_thread {
        true => &thread.sender_infos,
        false => &process.sender_infos,
    };
    let sender = pending
        .signal
        .sender_slot()
        .and_then(|slot| infos.get(slot))
        .map_or(SenderInfo { pid: 0, ruid: 0 }, |info| {
            SenderInfo::from_raw(info.load(Ordering::Relaxed))
        });
    Some((pending, sender, pending_set(words, process_pending)))
}

#[cold]
fn interrupt_stop(token: &mut CleanLockToken) {
    let ip = context::current()
        .read(token.token())
        .regs()
        .map_or(0, |regs| regs.instr_pointer());
    stop_current(Stop::Interrupt { ip, call: None }, token);
}

/// The interrupt stop of a tracee whose blocking call `number` the request ended with
/// `EINTR`: its registers are set back to the `syscall` instruction first, so the call runs
/// again when resumed (a signal that is pending then ends it again). Returns `false`, with
/// nothing done, where calls cannot be rewound.
#[cold]
fn blocked_call_stop(number: usize, token: &mut CleanLockToken) -> bool {
    let current = context::current();
    let ip = {
        let mut context = current.write(token.token());
        let Some(regs) = context.regs_mut() else {
            return false;
        };
        if !arch::rewind_syscall(regs, number) {
            return false;
        }
        regs.instr_pointer()
    };
    stop_current(
        Stop::Interrupt {
            ip,
            call: Some(number),
        },
        token,
    );
    true
}

/// Debug-exception hook: a watchpoint hit or a single step. Returns `true` when the exception
/// was the tracer's, or was raised in ring 0, so no exception is raised.
///
/// CONTEXT: may sleep for an exception from user mode; the caller holds no locks. From ring 0
/// it takes no lock and never sleeps.
pub fn debug_trap(stack: &mut InterruptStack, token: &mut CleanLockToken) -> bool {
    match arch::watchpoint_trap(stack, token) {
        WatchTrap::Other => {}
        WatchTrap::Ignored => return true,
        WatchTrap::Hit(stop) => {
            stop_current(stop, token);
            return true;
        }
    }
    if !arch::from_user(stack) {
        // Raised in ring 0: a watchpoint the kernel tripped, or a debug exception held over
        // a `syscall`. Never the tracee's stop, and this runs on the #DB stack, where nothing
        // may sleep.
        return true;
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
/// Only user code's exceptions stop. One the kernel raises inside a syscall (a kernel bug: user
/// memory faults are fixed up before they get here) is not the tracee's, and stopping there
/// would sleep with whatever the kernel holds, and an ignore would re-run the kernel's
/// instruction.
///
/// CONTEXT: may sleep; the caller holds no locks, when the exception is user code's.
pub fn exception(excp: &syscall::Exception, token: &mut CleanLockToken) -> bool {
    armed_here(PtraceFlags::PTRACE_STOP_SIGNAL)
        && !PercpuBlock::current().inside_syscall.get()
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
