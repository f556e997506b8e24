//! Signals at trace stops. A signal reaches a thread as procmgr sends it: a pending bit in the
//! thread's `Sigcontrol` word, then the `Interrupt` verb on its status handle, which wakes it;
//! the kernel runs the registered handler when the thread next yields or is preempted.

use core::{
    arch::global_asm,
    sync::atomic::{AtomicU32, Ordering},
};

use syscall::{
    flag::PtraceFlags, ContextStatus, ContextVerb, SetSighandlerData, SigProcControl, Sigcontrol,
    SYS_YIELD,
};
use trace_core::Stop;

use super::trace::{dup_trace, next_stop, resume, spawn_traced};
use crate::{child, harness::Failure, sys};

const PAGE: usize = 4096;
/// SIGUSR1's bit in a `Sigcontrol` word: pending in the low half, allowed in the high half.
const SIGUSR1_BIT: u64 = 1 << (10 - 1);

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
"#,
    handled = sym handled,
);

unsafe extern "C" {
    safe fn rp_sighandler();
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
struct Controls {
    base: usize,
}

impl Controls {
    fn new() -> Result<Self, Failure> {
        let base = sys::map_anonymous(2 * PAGE)?;
        let this = Self { base };
        this.thread().word[0].store(SIGUSR1_BIT << 32, Ordering::SeqCst);
        this.process().pending.store(0, Ordering::SeqCst);
        Ok(this)
    }

    fn thread(&self) -> &Sigcontrol {
        // SAFETY: a private, page-aligned, zero-filled mapping that lives as long as `self`; all
        // zeros is a valid Sigcontrol (atomics and plain words).
        unsafe { &*(self.base as *const Sigcontrol) }
    }

    fn process(&self) -> &SigProcControl {
        // SAFETY: as for `thread`, one page further.
        unsafe { &*((self.base + PAGE) as *const SigProcControl) }
    }

    fn handler_data(&self) -> SetSighandlerData {
        SetSighandlerData {
            user_handler: rp_sighandler as *const () as usize,
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
