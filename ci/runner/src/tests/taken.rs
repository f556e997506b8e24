//! Signals redox-rt takes by itself: its report on the thread's own `sighandler` handle
//! (`SYS_CALL` with `SIGNAL_TAKEN`, see docs/abi.md) makes the signal-delivery stop the kernel's
//! redirect would have made, and answers whether to act on the signal.

use core::{
    arch::global_asm,
    sync::atomic::{AtomicU64, Ordering},
};

use syscall::{
    error::{EINVAL, EPERM, ESRCH},
    flag::PtraceFlags,
    CallFlags, ContextStatus, SenderInfo,
};
use trace_core::{
    abi::{SIGNAL_TAKEN, SIGNAL_TO_THREAD},
    Pending, Signal, Stop,
};

use super::{
    signal::{resume_with_signal, send_to_thread, Controls, SIGUSR1_BIT, SIGUSR2_BIT},
    trace::{next_stop, resume},
};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys::{self, Fd},
};

const SIGUSR1: u64 = 10;
const SIGUSR2: u64 = 12;
const SIGNAL: PtraceFlags = PtraceFlags::PTRACE_STOP_SIGNAL;
/// What the child's reports answered, in order; `NONE` until it made them.
static ANSWERS: [AtomicU64; 2] = [AtomicU64::new(NONE), AtomicU64::new(NONE)];
const NONE: u64 = u64::MAX;
/// An error answer: the errno with this bit.
const ERRNO: u64 = 1 << 32;

fn report(fd: usize, signo: u64) -> sys::Result<usize> {
    let sender = SenderInfo { pid: 77, ruid: 5 }.raw();
    let signal = SIGNAL_TO_THREAD | signo;
    syscall::call_wo(fd, &[], CallFlags::empty(), &[SIGNAL_TAKEN, signal, sender])
}

fn answer(result: sys::Result<usize>) -> u64 {
    match result {
        Ok(value) => value as u64,
        Err(error) => ERRNO | error.errno as u64,
    }
}

/// Reports SIGUSR1, then the signal `second` (0: no second report), on its own `sighandler`
/// handle (its first given fd), noting each answer; then exits.
fn report_twice(second: usize) -> ! {
    let fd = child::given(0);
    ANSWERS[0].store(answer(report(fd, SIGUSR1)), Ordering::SeqCst);
    if second != 0 {
        ANSWERS[1].store(answer(report(fd, second as u64)), Ordering::SeqCst);
    }
    child::exit()
}

/// A child that will report SIGUSR1 and then `second` on its own `sighandler` handle, with
/// fresh signal pages installed (both user signals allowed), traced with `flags` armed unless
/// `None`; started. Returns the pages, the child and its trace handle.
fn spawn_reporter(
    second: u64,
    flags: Option<PtraceFlags>,
) -> Result<(Controls, Child, Option<Fd>), Failure> {
    for slot in &ANSWERS {
        slot.store(NONE, Ordering::SeqCst);
    }
    let controls = Controls::new()?;
    controls.thread().word[0].store((SIGUSR1_BIT | SIGUSR2_BIT) << 32, Ordering::SeqCst);
    let mut child = Child::new(report_twice, second as usize)?;
    let sighandler = child.open("sighandler")?;
    sys::write(&sighandler, &controls.handler_data())?;
    child.give(&sighandler)?;
    let trace = match flags {
        Some(flags) => {
            let trace = child.open("trace")?;
            resume(&trace, flags)?;
            Some(trace)
        }
        None => None,
    };
    child.start()?;
    Ok((controls, child, trace))
}

global_asm!(
    r#"
    .section .text.rp_taken, "ax"
    // As redox-rt's entry does once the kernel redirected it: report the signal, then act.
    .global rp_sighandler_report
rp_sighandler_report:
    and rsp, -16
    call {report}
    ud2
"#,
    report = sym report_from_handler,
);

unsafe extern "C" {
    safe fn rp_sighandler_report();
}

extern "C" fn report_from_handler() -> ! {
    ANSWERS[0].store(answer(report(child::given(0), SIGUSR1)), Ordering::SeqCst);
    child::exit()
}

fn yield_forever(_: usize) -> ! {
    loop {
        sys::yield_now();
    }
}

fn taken_stop(signo: u64) -> Stop {
    Stop::Signal {
        pending: Pending {
            signal: Signal::new(signo as usize).expect("1 to 64"),
            to_thread: true,
        },
        pid: 77,
        uid: 5,
    }
}

fn answers() -> [u64; 2] {
    ANSWERS.each_ref().map(|slot| slot.load(Ordering::SeqCst))
}

/// Verifies that a signal redox-rt reports taking stops the tracee with the signal's stop,
/// that a plain resume answers 0 (act on it), and that the same signal reported again stops
/// again: the resume leaves no pass behind.
pub fn taken_signal_stops_each_time() -> Result<(), Failure> {
    let (_controls, mut child, trace) = spawn_reporter(SIGUSR1, Some(SIGNAL))?;
    let Some(trace) = trace else {
        fail!("no trace handle");
    };
    for round in 0..2 {
        check_eq!(next_stop(&trace)?, taken_stop(SIGUSR1), "report {}", round);
        resume(&trace, SIGNAL)?;
    }
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(answers(), [0, 0]);
    Ok(())
}

/// Verifies that suppressing a reported signal (signal word 0) answers 1 and sets no pending
/// bit: the signal was claimed already, and a pending bit now would be a new instance.
pub fn suppressed_taken_signal_answers_one() -> Result<(), Failure> {
    let (controls, mut child, trace) = spawn_reporter(0, Some(SIGNAL))?;
    let Some(trace) = trace else {
        fail!("no trace handle");
    };
    check_eq!(next_stop(&trace)?, taken_stop(SIGUSR1));
    resume_with_signal(&trace, SIGNAL, 0)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(answers(), [1, NONE]);
    check_eq!(
        controls.thread().word[0].load(Ordering::SeqCst) & (SIGUSR1_BIT | SIGUSR2_BIT),
        0,
        "pending bits after the suppression"
    );
    Ok(())
}

/// Verifies that replacing a reported signal answers 1, makes the replacement pending for the
/// thread, and that reporting the replacement then takes it without a stop of its own.
pub fn replaced_taken_signal_is_raised() -> Result<(), Failure> {
    let (controls, mut child, trace) = spawn_reporter(SIGUSR2, Some(SIGNAL))?;
    let Some(trace) = trace else {
        fail!("no trace handle");
    };
    check_eq!(next_stop(&trace)?, taken_stop(SIGUSR1));
    resume_with_signal(&trace, SIGNAL, SIGUSR2)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(answers(), [1, 0]);
    check_eq!(
        controls.thread().word[0].load(Ordering::SeqCst) & (SIGUSR1_BIT | SIGUSR2_BIT),
        SIGUSR2_BIT,
        "pending bits after the replacement"
    );
    Ok(())
}

/// Verifies that a report answers 0 without a stop when the thread is not traced, and when its
/// tracer did not arm signal stops (no event is queued).
pub fn taken_signal_without_signal_stops_answers_zero() -> Result<(), Failure> {
    let (_controls, mut child, _) = spawn_reporter(0, None)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(answers(), [0, NONE], "untraced");
    let (_controls, mut child, trace) = spawn_reporter(0, Some(PtraceFlags::PTRACE_STOP_EXIT))?;
    let Some(trace) = trace else {
        fail!("no trace handle");
    };
    match next_stop(&trace)? {
        Stop::Exit { .. } => {}
        other => fail!("expected the exit stop first, got {:?}", other),
    }
    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(answers(), [0, NONE], "traced, signal stops not armed");
    Ok(())
}

/// Verifies the report's errors: `EINVAL` for a signal outside 1 to 64 (then the valid report
/// still answers), and `EPERM` when the handle is another context's.
pub fn taken_signal_errors() -> Result<(), Failure> {
    let (_controls, mut child, _) = spawn_reporter(65, None)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(answers(), [0, ERRNO | EINVAL as u64]);
    let (_controls, mut child, _) = spawn_reporter(0, None)?;
    let sighandler = child.open("sighandler")?;
    check_errno!(report(sighandler.raw(), SIGUSR1), EPERM);
    let sender = SenderInfo { pid: 1, ruid: 0 }.raw();
    for bad in [
        &[SIGNAL_TAKEN + 1, SIGUSR1, sender][..],
        &[SIGNAL_TAKEN, SIGUSR1],
        &[SIGNAL_TAKEN, 0, sender],
        &[SIGNAL_TAKEN, (SIGNAL_TO_THREAD << 1) | SIGUSR1, sender],
    ] {
        check_errno!(
            syscall::call_wo(sighandler.raw(), &[], CallFlags::empty(), bad),
            EINVAL
        );
    }
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that a signal the kernel's redirect stopped at does not stop again when redox-rt,
/// entered by that redirect, reports taking it: one stop per signal, and the report answers 0.
pub fn redirected_signal_is_reported_without_a_second_stop() -> Result<(), Failure> {
    for slot in &ANSWERS {
        slot.store(NONE, Ordering::SeqCst);
    }
    let controls = Controls::new()?;
    controls.thread().word[0].store((SIGUSR1_BIT | SIGUSR2_BIT) << 32, Ordering::SeqCst);
    let mut child = Child::new(yield_forever, 0)?;
    let sighandler = child.open("sighandler")?;
    sys::write(
        &sighandler,
        &controls.handler_data_for(rp_sighandler_report),
    )?;
    child.give(&sighandler)?;
    let trace = child.open("trace")?;
    resume(&trace, SIGNAL)?;
    child.start()?;
    send_to_thread(&controls, &child, 77, 5)?;
    check_eq!(
        next_stop(&trace)?,
        taken_stop(SIGUSR1),
        "the redirect's stop"
    );
    resume(&trace, SIGNAL)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(answers(), [0, NONE]);
    check_errno!(next_stop(&trace), ESRCH);
    Ok(())
}
