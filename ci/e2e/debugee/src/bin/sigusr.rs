//! `sigusr`: a child it forks sends it SIGUSR1 while it spins without syscalls, and its handler
//! ends the spin: it prints `sigusr: handled` and exits 0. Without the signal (a debugger
//! suppressed it) it gives up after five seconds, prints `sigusr: no signal` and exits 3.
//! `make gdb-test` has gdb stop at the signal and drop it, and pass it without stopping.

use std::{
    hint::black_box,
    process::ExitCode,
    sync::atomic::{AtomicBool, Ordering},
    thread,
    time::{Duration, Instant},
};

static HANDLED: AtomicBool = AtomicBool::new(false);

extern "C" fn on_usr1(_: libc::c_int) {
    HANDLED.store(true, Ordering::SeqCst);
}

/// Spins until the handler ran or `limit` passed, looking at the clock (a syscall) only every
/// million rounds: the signal arrives while it runs user code.
#[inline(never)]
fn spin_until_handled(limit: Duration) -> bool {
    let start = Instant::now();
    while start.elapsed() < limit {
        for round in 0..1_000_000_u64 {
            if HANDLED.load(Ordering::SeqCst) {
                return true;
            }
            black_box(round);
        }
    }
    false
}

fn main() -> ExitCode {
    let handler: extern "C" fn(libc::c_int) = on_usr1;
    // SAFETY: the handler only stores to an atomic.
    if unsafe { libc::signal(libc::SIGUSR1, handler as libc::sighandler_t) } == libc::SIG_ERR {
        eprintln!("sigusr: signal: {}", std::io::Error::last_os_error());
        return ExitCode::from(1);
    }
    // SAFETY: getpid and fork have no preconditions.
    let parent = unsafe { libc::getpid() };
    let child = unsafe { libc::fork() };
    if child == 0 {
        thread::sleep(Duration::from_millis(300));
        // SAFETY: plain syscalls in the forked child, which then exits without unwinding.
        unsafe {
            libc::kill(parent, libc::SIGUSR1);
            libc::_exit(0)
        }
    }
    if child < 0 {
        eprintln!("sigusr: fork: {}", std::io::Error::last_os_error());
        return ExitCode::from(1);
    }
    let handled = spin_until_handled(Duration::from_secs(5));
    let mut status = 0;
    // SAFETY: `child` is our child; `status` outlives the call.
    unsafe { libc::waitpid(child, &mut status, 0) };
    if handled {
        println!("sigusr: handled");
        ExitCode::SUCCESS
    } else {
        println!("sigusr: no signal");
        ExitCode::from(3)
    }
}
