//! `signals MODE`: takes a signal sent by a child it forked while it spins without syscalls, so
//! that the signal arrives while it runs user code.
//! - `usr1`: the child sends SIGUSR1 to an `SA_SIGINFO` handler, which notes the sender; prints
//!   `signals: SIGUSR1 from PID` and exits 0.
//! - `chld`: the child exits, and procmgr's SIGCHLD reaches a handler; prints
//!   `signals: SIGCHLD from PID` and exits 0.
//! - `term`: the child sends SIGTERM, whose default action ends the program: it prints nothing.
//!
//! Without a signal within five seconds it prints `signals: no signal` and exits 3.

use std::{
    hint::black_box,
    process::ExitCode,
    sync::atomic::{AtomicI32, Ordering},
    thread,
    time::{Duration, Instant},
};

/// The sender's pid, once the handler ran.
static SENDER: AtomicI32 = AtomicI32::new(NOT_YET);
const NOT_YET: i32 = i32::MIN;

extern "C" fn on_signal(_: libc::c_int, info: *mut libc::siginfo_t, _: *mut libc::c_void) {
    // SAFETY: with SA_SIGINFO, redox-rt passes a valid siginfo for the duration of the call.
    let pid = unsafe { (*info).si_pid };
    SENDER.store(pid, Ordering::SeqCst);
}

fn install(signal: libc::c_int) -> std::io::Result<()> {
    let handler: extern "C" fn(libc::c_int, *mut libc::siginfo_t, *mut libc::c_void) = on_signal;
    // SAFETY: an all-zero sigaction is valid (empty mask); the handler only stores an atomic.
    let mut action: libc::sigaction = unsafe { std::mem::zeroed() };
    action.sa_sigaction = handler as libc::sighandler_t;
    action.sa_flags = libc::SA_SIGINFO;
    // SAFETY: `action` is initialised and outlives the call; no old action is asked for.
    match unsafe { libc::sigaction(signal, &action, std::ptr::null_mut()) } {
        0 => Ok(()),
        _ => Err(std::io::Error::last_os_error()),
    }
}

/// Spins until the handler ran or `limit` passed, looking at the clock (a syscall) only every
/// million rounds.
fn spin_until_handled(limit: Duration) -> Option<i32> {
    let start = Instant::now();
    while start.elapsed() < limit {
        for round in 0..1_000_000_u64 {
            match SENDER.load(Ordering::SeqCst) {
                NOT_YET => black_box(round),
                pid => return Some(pid),
            };
        }
    }
    None
}

fn main() -> ExitCode {
    let mode = std::env::args().nth(1).unwrap_or_default();
    let (signal, name) = match mode.as_str() {
        "usr1" => (libc::SIGUSR1, "SIGUSR1"),
        "chld" => (libc::SIGCHLD, "SIGCHLD"),
        "term" => (libc::SIGTERM, "SIGTERM"),
        _ => {
            eprintln!("usage: signals usr1|chld|term");
            return ExitCode::from(2);
        }
    };
    if signal != libc::SIGTERM {
        if let Err(e) = install(signal) {
            eprintln!("signals: sigaction: {e}");
            return ExitCode::FAILURE;
        }
    }
    // SAFETY: getpid and fork have no preconditions.
    let parent = unsafe { libc::getpid() };
    let child = unsafe { libc::fork() };
    if child == 0 {
        // SAFETY: plain calls in the forked child, which then exits without unwinding.
        unsafe {
            thread::sleep(Duration::from_millis(300));
            if signal != libc::SIGCHLD {
                libc::kill(parent, signal);
            }
            libc::_exit(0)
        }
    }
    if child < 0 {
        eprintln!("signals: fork: {}", std::io::Error::last_os_error());
        return ExitCode::FAILURE;
    }
    let sender = spin_until_handled(Duration::from_secs(5));
    let mut status = 0;
    // SAFETY: `child` is our child; `status` outlives the call.
    unsafe { libc::waitpid(child, &mut status, 0) };
    match sender {
        Some(pid) => {
            println!("signals: {name} from {pid}");
            ExitCode::SUCCESS
        }
        None => {
            println!("signals: no signal");
            ExitCode::from(3)
        }
    }
}
