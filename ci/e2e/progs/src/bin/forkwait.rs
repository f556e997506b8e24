//! `forkwait FILE`: forks a child that exits with 0 at once, then waits for any child, and
//! writes to `FILE` what `fork` and `waitpid` said, one line each (`FILE`, not stdout: the
//! suite, its tracer, spawns it with the suite's own stdout).

use std::{fs::File, io::Write, process::ExitCode};

fn errno_name(errno: i32) -> String {
    match errno {
        libc::ESRCH => "ESRCH".into(),
        libc::ECHILD => "ECHILD".into(),
        libc::EINTR => "EINTR".into(),
        other => format!("errno {other}"),
    }
}

fn last_errno() -> String {
    errno_name(std::io::Error::last_os_error().raw_os_error().unwrap_or(0))
}

fn main() -> ExitCode {
    let Some(path) = std::env::args().nth(1) else {
        eprintln!("usage: forkwait FILE");
        return ExitCode::from(2);
    };
    let Ok(mut out) = File::create(&path) else {
        eprintln!("forkwait: cannot create {path}");
        return ExitCode::FAILURE;
    };
    // SAFETY: the child only calls _exit.
    let pid = unsafe { libc::fork() };
    if pid == 0 {
        // SAFETY: plain exit, no unwinding or atexit work in the child.
        unsafe { libc::_exit(0) };
    }
    let fork = if pid < 0 {
        last_errno()
    } else {
        format!("child {pid}")
    };
    // Written before the wait, so that a wait that never returns still shows what fork said.
    let _ = out.write_all(format!("fork: {fork}\n").as_bytes());
    let mut status = 0;
    // SAFETY: a plain call with a valid status pointer.
    let waited = unsafe { libc::waitpid(-1, &mut status, 0) };
    let wait = if waited < 0 {
        last_errno()
    } else if libc::WIFSIGNALED(status) {
        format!("{waited} killed by signal {}", libc::WTERMSIG(status))
    } else {
        format!("{waited} exited with {}", libc::WEXITSTATUS(status))
    };
    let _ = out.write_all(format!("waitpid: {wait}\n").as_bytes());
    ExitCode::SUCCESS
}
