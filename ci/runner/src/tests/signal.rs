//! Signals at trace stops. A signal reaches a thread as procmgr sends it: a pending bit in the
//! thread's `Sigcontrol` word, then the `Interrupt` verb on its status handle, which wakes it;
//! the kernel runs the registered handler when the thread next yields or is preempted.

use core::{
    arch::global_asm,
    sync::atomic::{AtomicU32, AtomicU64, Ordering},
};

use syscall::{
    error::{EINVAL, ESRCH},
    flag::PtraceFlags,
    ContextStatus, ContextVerb, SenderInfo, SetSighandlerData, SigProcControl, Sigcontrol,
    SYS_YIELD,
};
use trace_core::{Pending, Signal, Stop};

use super::trace::{dup_trace, next_stop, resume, spawn_traced};
use crate::{child, harness::Failure, sys};

const PAGE: usize = 4096;
/// SIGUSR1's bit in a `Sigcontrol` word: pending in the low half, allowed in the high half.
pub(super) const SIGUSR1_BIT: u64 = 1 << (10 - 1);
pub(super) const SIGUSR2_BIT: u64 = 1 << (12 - 1);
const SIGUSR1: usize = 10;
const SIGUSR2: usize = 12;
const SIGNAL: PtraceFlags = PtraceFlags::PTRACE_STOP_SIGNAL;

static HANDLED: AtomicU32 = AtomicU32::new(0);

global_asm!(
    r#"
    .section .text.rp_signal, "ax"
    // The kernel enters a signal handler with the interrupted stack: align it for Rust.
    .global rp_sighandler
rp_sighandler:
    and rsp, -16
    call {handled}
    ud2
    // The fuzzer's: its tracers may skip the exit syscall, so it asks until the exit runs.
    .global rp_sighandler_kill
rp_sighandler_kill:
    and rsp, -16
    call {kill_self}
    ud2
"#,
    handled = sym handled,
    kill_self = sym child::kill_self,
);

unsafe extern "C" {
    safe fn rp_sighandler();
    safe fn rp_sighandler_kill();
}

extern "C" fn handled() -> ! {
    HANDLED.fetch_add(1, Ordering::SeqCst);
    child::exit()
}

/// Yields (the traced syscall), then yields until a signal's handler ends it.
fn yield_until_signalled(_: usize) -> ! {
    loop {
        sys::yield_now();
    }
}

/// A thread's and a process's signal control pages, fresh and zeroed, with SIGUSR1 allowed.
pub(super) struct Controls {
    base: usize,
}

impl Controls {
    pub(super) fn new() -> Result<Self, Failure> {
        let base = sys::map_anonymous(2 * PAGE)?;
        let this = Self { base };
        this.thread().word[0].store(SIGUSR1_BIT << 32, Ordering::SeqCst);
        this.process().pending.store(0, Ordering::SeqCst);
        Ok(this)
    }

    pub(super) fn thread(&self) -> &Sigcontrol {
        // SAFETY: a private, page-aligned, zero-filled mapping that lives as long as `self`; all
        // zeros is a valid Sigcontrol (atomics and plain words).
        unsafe { &*(self.base as *const Sigcontrol) }
    }

    pub(super) fn process(&self) -> &SigProcControl {
        // SAFETY: as for `thread`, one page further.
        unsafe { &*((self.base + PAGE) as *const SigProcControl) }
    }

    pub(super) fn handler_data(&self) -> SetSighandlerData {
        self.handler_data_for(rp_sighandler)
    }

    /// With a handler that ends the thread, however often its exit is skipped.
    pub(super) fn killing_handler_data(&self) -> SetSighandlerData {
        self.handler_data_for(rp_sighandler_kill)
    }

    pub(super) fn handler_data_for(&self, handler: extern "C" fn()) -> SetSighandlerData {
        SetSighandlerData {
            user_handler: handler as *const () as usize,
            excp_handler: 0,
            thread_control_addr: self.base,
            proc_control_addr: self.base + PAGE,
        }
    }
}

impl Drop for Controls {
    fn drop(&mut self) {
        // SAFETY: the children that used the pages have exited.
        let _ = unsafe { sys::unmap(self.base, 2 * PAGE) };
    }
}

/// Verifies that a signal sent to a tracee in a trace stop leaves it asleep in the stop and
/// gives the CPU back (the stop's wait used to return at once while a signal was pending, and
/// its loop spun forever with interrupts off), and that the resume delivers the signal.
pub fn pending_signal_leaves_the_stop_asleep() -> Result<(), Failure> {
    HANDLED.store(0, Ordering::SeqCst);
    let controls = Controls::new()?;
    let (mut child, trace, _output) = spawn_traced(yield_until_signalled, dup_trace)?;
    sys::write(&child.open("sighandler")?, &controls.handler_data())?;
    resume(&trace, PtraceFlags::PTRACE_STOP_PRE_SYSCALL)?;
    child.start()?;
    match next_stop(&trace)? {
        Stop::SyscallEntry { number, .. } if number == SYS_YIELD => {}
        other => fail!("first stop: {:?}", other),
    }

    controls.thread().word[0].fetch_or(SIGUSR1_BIT, Ordering::SeqCst);
    let status = child.open("status")?;
    sys::write_usizes(&status, &[ContextVerb::Interrupt as usize])?;
    for _ in 0..10 {
        sys::yield_now();
    }
    check_eq!(
        child.status()?,
        ContextStatus::Blocked,
        "tracee after the signal"
    );
    check_eq!(
        HANDLED.load(Ordering::SeqCst),
        0,
        "handler runs during the stop"
    );

    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(
        HANDLED.load(Ordering::SeqCst),
        1,
        "handler runs after the resume"
    );
    Ok(())
}

/// Resumes with a signal word after the flags (see `docs/abi.md`, "Signal-delivery stops").
pub(super) fn resume_with_signal(
    trace: &sys::Fd,
    flags: PtraceFlags,
    signo: u64,
) -> sys::Result<()> {
    let mut raw = [0_u8; 16];
    raw[..8].copy_from_slice(&flags.bits().to_ne_bytes());
    raw[8..].copy_from_slice(&signo.to_ne_bytes());
    sys::write(trace, &raw).map(drop)
}

/// A traced child that yields until a handler ends it, with the signal pages installed, both
/// user signals allowed, and `flags` armed; started.
fn spawn_signalled(flags: PtraceFlags) -> Result<(Controls, child::Child, sys::Fd), Failure> {
    HANDLED.store(0, Ordering::SeqCst);
    let controls = Controls::new()?;
    controls.thread().word[0].store((SIGUSR1_BIT | SIGUSR2_BIT) << 32, Ordering::SeqCst);
    let (mut child, trace, _output) = spawn_traced(yield_until_signalled, dup_trace)?;
    sys::write(&child.open("sighandler")?, &controls.handler_data())?;
    resume(&trace, flags)?;
    child.start()?;
    Ok((controls, child, trace))
}

/// Sends SIGUSR1 the way procmgr does to a thread (`tkill`): sender slot, pending bit, wake.
pub(super) fn send_to_thread(
    controls: &Controls,
    child: &child::Child,
    pid: u32,
    ruid: u32,
) -> sys::Result<()> {
    controls.thread().sender_infos[SIGUSR1 - 1]
        .store(SenderInfo { pid, ruid }.raw(), Ordering::SeqCst);
    controls.thread().word[0].fetch_or(SIGUSR1_BIT, Ordering::SeqCst);
    let status = child.open("status")?;
    sys::write_usizes(&status, &[ContextVerb::Interrupt as usize]).map(drop)
}

/// Waits until SIGUSR1's bit in `word` is clear: the tracee applies a suppression as it leaves
/// its stop, after the tracer's write returned.
fn wait_until_clear(word: &AtomicU64, what: &str) -> Result<(), Failure> {
    for _ in 0..10_000 {
        if word.load(Ordering::SeqCst) & SIGUSR1_BIT == 0 {
            return Ok(());
        }
        sys::yield_now();
    }
    fail!("{} still set 10000 yields after the suppression", what)
}

fn usr1_stop(to_thread: bool, pid: usize, uid: usize) -> Stop {
    Stop::Signal {
        pending: Pending {
            signal: Signal::new(SIGUSR1).expect("SIGUSR1"),
            to_thread,
        },
        pid,
        uid,
    }
}

/// Verifies that a signal about to be handled stops the tracee first, naming the signal and its
/// sender, with the handler not yet run; a plain resume delivers it, with no second stop.
pub fn signal_stop_comes_before_the_handler() -> Result<(), Failure> {
    let (controls, mut child, trace) = spawn_signalled(SIGNAL)?;
    send_to_thread(&controls, &child, 77, 5)?;
    check_eq!(next_stop(&trace)?, usr1_stop(true, 77, 5));
    check_eq!(
        HANDLED.load(Ordering::SeqCst),
        0,
        "handler run before the resume"
    );
    resume(&trace, SIGNAL)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(
        HANDLED.load(Ordering::SeqCst),
        1,
        "handler runs after the resume"
    );
    check_errno!(next_stop(&trace), ESRCH);
    Ok(())
}

/// Verifies that a signal sent to the process is reported as such, with the process's sender.
pub fn process_signal_stop_names_the_process_sender() -> Result<(), Failure> {
    let (controls, mut child, trace) = spawn_signalled(SIGNAL)?;
    controls.process().sender_infos[SIGUSR1 - 1].store(
        SenderInfo {
            pid: 41,
            ruid: 1000,
        }
        .raw(),
        Ordering::SeqCst,
    );
    controls
        .process()
        .pending
        .fetch_or(SIGUSR1_BIT, Ordering::SeqCst);
    check_eq!(next_stop(&trace)?, usr1_stop(false, 41, 1000));
    resume_with_signal(&trace, SIGNAL, 0)?;
    wait_until_clear(&controls.process().pending, "process pending bit")?;
    child.kill()?;
    check_eq!(
        HANDLED.load(Ordering::SeqCst),
        0,
        "suppressed process signal handled"
    );
    Ok(())
}

/// Verifies that a signal suppressed at its stop (signal word 0) is taken back and never
/// handled, and that the tracee runs on.
pub fn suppressed_signal_is_never_handled() -> Result<(), Failure> {
    let (controls, mut child, trace) = spawn_signalled(SIGNAL)?;
    send_to_thread(&controls, &child, 1, 0)?;
    check_eq!(next_stop(&trace)?, usr1_stop(true, 1, 0));
    resume_with_signal(&trace, SIGNAL, 0)?;
    wait_until_clear(&controls.thread().word[0], "thread pending bit")?;
    for _ in 0..20 {
        sys::yield_now();
    }
    check_eq!(
        HANDLED.load(Ordering::SeqCst),
        0,
        "suppressed signal handled"
    );
    check_eq!(
        child.status()?,
        ContextStatus::Runnable,
        "tracee after suppression"
    );
    child.kill()?;
    Ok(())
}

/// Verifies that a signal replaced at its stop is taken back, the replacement made pending for
/// the thread and handled without a stop of its own.
pub fn replaced_signal_is_handled_instead() -> Result<(), Failure> {
    let (controls, mut child, trace) = spawn_signalled(SIGNAL)?;
    send_to_thread(&controls, &child, 1, 0)?;
    check_eq!(next_stop(&trace)?, usr1_stop(true, 1, 0));
    resume_with_signal(&trace, SIGNAL, SIGUSR2 as u64)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(HANDLED.load(Ordering::SeqCst), 1, "replacement handled");
    let word = controls.thread().word[0].load(Ordering::SeqCst);
    check_eq!(
        word & (SIGUSR1_BIT | SIGUSR2_BIT),
        SIGUSR2_BIT,
        "pending bits after replacement"
    );
    check_errno!(next_stop(&trace), ESRCH);
    Ok(())
}

/// Verifies that a signal word at a syscall stop injects that signal, handled without a signal
/// stop.
pub fn signal_injected_at_a_syscall_stop_is_handled() -> Result<(), Failure> {
    let (controls, mut child, trace) =
        spawn_signalled(SIGNAL | PtraceFlags::PTRACE_STOP_PRE_SYSCALL)?;
    match next_stop(&trace)? {
        Stop::SyscallEntry { number, .. } if number == SYS_YIELD => {}
        other => fail!("first stop: {:?}", other),
    }
    resume_with_signal(&trace, SIGNAL, SIGUSR1 as u64)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(HANDLED.load(Ordering::SeqCst), 1, "injected signal handled");
    check_eq!(
        controls.thread().word[0].load(Ordering::SeqCst) & SIGUSR1_BIT,
        SIGUSR1_BIT,
        "injected signal pending for the thread"
    );
    check_errno!(next_stop(&trace), ESRCH);
    Ok(())
}

/// Verifies the signal words refused: SIGKILL, SIGSTOP, 65, any outside a stop, and a
/// replacement together with `PTRACE_FLAG_IGNORE`; each leaves the stop as it was.
pub fn bad_signal_words_are_einval() -> Result<(), Failure> {
    let (controls, mut child, trace) = spawn_signalled(SIGNAL)?;
    check_errno!(resume_with_signal(&trace, SIGNAL, SIGUSR1 as u64), EINVAL);
    send_to_thread(&controls, &child, 1, 0)?;
    check_eq!(next_stop(&trace)?, usr1_stop(true, 1, 0));
    for signo in [9, 19, 65, u64::MAX] {
        check_errno!(resume_with_signal(&trace, SIGNAL, signo), EINVAL);
    }
    check_errno!(
        resume_with_signal(
            &trace,
            SIGNAL | PtraceFlags::PTRACE_FLAG_IGNORE,
            SIGUSR2 as u64
        ),
        EINVAL
    );
    check_errno!(sys::write(&trace, &[0_u8; 12]), EINVAL);
    check_eq!(
        child.status()?,
        ContextStatus::Blocked,
        "tracee after refused writes"
    );
    // PTRACE_FLAG_IGNORE at a signal stop suppresses, like a signal word 0.
    resume(&trace, SIGNAL | PtraceFlags::PTRACE_FLAG_IGNORE)?;
    for _ in 0..20 {
        sys::yield_now();
    }
    check_eq!(HANDLED.load(Ordering::SeqCst), 0, "ignored signal handled");
    child.kill()?;
    Ok(())
}
