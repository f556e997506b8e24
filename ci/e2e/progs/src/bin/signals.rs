//! `signals MODE`: takes a signal and says who sent it (`signals: NAME from PID`). In the first
//! three modes a child it forked sends the signal while it spins without syscalls, so that the
//! signal arrives while it runs user code (the kernel sends it to redox-rt's handler entry):
//! - `usr1`: SIGUSR1 to an `SA_SIGINFO` handler, which notes the sender; exits 0.
//! - `chld`: the child exits, and procmgr's SIGCHLD reaches a handler; exits 0.
//! - `term`: SIGTERM, whose default action ends the program: it prints nothing.
//!
//! In the other two redox-rt enters its handler by itself:
//! - `read`: the child sends SIGALRM while it blocks in a pipe read (the handler has no
//!   `SA_RESTART`): then prints `signals: read: EINTR` and exits 0.
//! - `raise`: it sends itself SIGUSR1 with `raise`; exits 0.
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
        "usr1" | "raise" => (libc::SIGUSR1, "SIGUSR1"),
        "chld" => (libc::SIGCHLD, "SIGCHLD"),
        "term" => (libc::SIGTERM, "SIGTERM"),
        "read" => (libc::SIGALRM, "SIGALRM"),
        _ => {
            eprintln!("usage: signals usr1|chld|term|read|raise");
            return ExitCode::from(2);
        }
    };
    if signal != libc::SIGTERM {
        if let Err(e) = install(signal) {
            eprintln!("signals: sigaction: {e}");
            return ExitCode::FAILURE;
        }
    }
    let outcome = match mode.as_str() {
        // SAFETY: raise has no preconditions; the handler only stores an atomic.
        "raise" => match unsafe { libc::raise(signal) } {
            0 => Ok(SENDER.load(Ordering::SeqCst)),
            _ => Err(format!("raise: {}", std::io::Error::last_os_error())),
        },
        "read" => read_until_signalled(signal),
        _ => spin_with_child(signal),
    };
    match outcome {
        Err(e) => {
            eprintln!("signals: {e}");
            ExitCode::FAILURE
        }
        Ok(NOT_YET) => {
            println!("signals: no signal");
            ExitCode::from(3)
        }
        Ok(pid) => {
            println!("signals: {name} from {pid}");
            ExitCode::SUCCESS
        }
    }
}

/// Forks a child that sends `signal` (none for SIGCHLD: it exits) after 300 ms, then keeps the
/// write end of `pipe` (if any) open for another second. Returns its pid.
fn fork_sender(signal: libc::c_int, pipe: Option<libc::c_int>) -> Result<libc::pid_t, String> {
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
            if pipe.is_some() {
                thread::sleep(Duration::from_secs(1));
            }
            libc::_exit(0)
        }
    }
    if child < 0 {
        return Err(format!("fork: {}", std::io::Error::last_os_error()));
    }
    Ok(child)
}

fn reap(child: libc::pid_t) {
    let mut status = 0;
    // SAFETY: `child` is our child; `status` outlives the call.
    unsafe { libc::waitpid(child, &mut status, 0) };
}

/// The sender of `signal`, sent by a child while this spins.
fn spin_with_child(signal: libc::c_int) -> Result<i32, String> {
    let child = fork_sender(signal, None)?;
    let sender = spin_until_handled(Duration::from_secs(5));
    reap(child);
    Ok(sender.unwrap_or(NOT_YET))
}

/// The sender of `signal`, sent by a child while this blocks reading a pipe whose write end
/// the child holds; prints how the read ended.
fn read_until_signalled(signal: libc::c_int) -> Result<i32, String> {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        return Err(format!("pipe: {}", std::io::Error::last_os_error()));
    }
    let [reader, writer] = fds;
    let child = fork_sender(signal, Some(writer))?;
    let mut byte = [0_u8; 1];
    // SAFETY: plain calls on our own descriptors and buffer.
    let got = unsafe {
        libc::close(writer);
        libc::read(reader, byte.as_mut_ptr().cast(), 1)
    };
    let error = std::io::Error::last_os_error();
    match (got, error.raw_os_error()) {
        (-1, Some(libc::EINTR)) => println!("signals: read: EINTR"),
        (-1, _) => println!("signals: read: {error}"),
        (n, _) => println!("signals: read: {n} bytes"),
    }
    reap(child);
    Ok(SENDER.load(Ordering::SeqCst))
}
