//! Tests where the suite itself is the tracer, through the redox-ptrace library: what an
//! `O_EXCL` session closed at the clone stop of a fork leaves to procmgr and to `waitpid`.

use std::time::{Duration, Instant};

use redox_ptrace::{
    fd::default_allocator,
    raw::{self, AttachFlags},
    spawn::default_source,
    ContextFd, TraceFd,
};
use syscall::flag::PtraceFlags;
use trace_core::{Stop, TraceEvent};

use crate::{
    check::{equal, lines},
    tests::scratch,
};

/// How long a stop, an exit or procmgr's view of one may take before the test fails instead
/// of hanging.
const TIMEOUT: Duration = Duration::from_secs(10);
const POLL: Duration = Duration::from_millis(10);

/// Starts `forkwait FILE` under an `O_EXCL` session with clone events armed, from its first
/// instruction. Returns its pid and the session.
fn spawn_forkwait(file: &str) -> Result<(usize, TraceFd), String> {
    let argv = ["forkwait".to_owned(), file.to_owned()];
    let spawned = default_source()
        .spawn(&argv)
        .map_err(|e| format!("spawning forkwait: {e}"))?;
    // The handed-over handle is forkwait's own thread handle, on which procmgr forwards
    // `open_via_dup`: the kernel's context handle, the only one that takes `O_EXCL` (openat).
    let ctx = raw::dup_into(spawned.ctx.raw(), b"open_via_dup", default_allocator())
        .map_err(|e| format!("open_via_dup on forkwait's thread handle: {e}"))?;
    // SAFETY: a context handle the kernel just made, ours alone.
    let ctx = unsafe { ContextFd::from_raw(ctx.into_raw()) };
    let flags = AttachFlags {
        exclusive: true,
        nonblocking: true,
    };
    let trace = raw::attach_with(&ctx, flags).map_err(|e| format!("attaching: {e}"))?;
    raw::resume(&trace, PtraceFlags::PTRACE_EVENT_CLONE).map_err(|e| format!("arming: {e}"))?;
    spawned
        .gate
        .release()
        .map_err(|e| format!("releasing forkwait: {e}"))?;
    Ok((spawned.pid, trace))
}

/// The next stop of a non-blocking session, within [`TIMEOUT`].
fn next_stop(trace: &TraceFd) -> Result<Stop, String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut events = [TraceEvent::default()];
    loop {
        match raw::next_events(trace, &mut events) {
            Ok(0) if Instant::now() < deadline => std::thread::sleep(POLL),
            Ok(0) => return Err(format!("no stop within {TIMEOUT:?}")),
            Ok(_) => {
                let [event] = events;
                return event
                    .decode()
                    .map_err(|e| format!("bad event {event:?}: {e}"));
            }
            Err(e) => return Err(format!("reading the session: {e}")),
        }
    }
}

/// How a child of ours ended.
#[derive(Debug, PartialEq, Eq)]
enum End {
    Code(i32),
    Signal(i32),
}

/// Waits for our child `pid` to end, for [`TIMEOUT`] at most (`None`: it still runs).
fn wait_for(pid: usize) -> Result<Option<End>, String> {
    let pid = libc::pid_t::try_from(pid).map_err(|e| e.to_string())?;
    let deadline = Instant::now() + TIMEOUT;
    loop {
        let mut status = 0;
        // SAFETY: a plain call with a valid status pointer.
        match unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } {
            0 if Instant::now() < deadline => std::thread::sleep(POLL),
            0 => return Ok(None),
            got if got == pid && libc::WIFSIGNALED(status) => {
                return Ok(Some(End::Signal(libc::WTERMSIG(status))));
            }
            got if got == pid => return Ok(Some(End::Code(libc::WEXITSTATUS(status)))),
            got => return Err(format!("waitpid({pid}) = {got}, status {status:#x}")),
        }
    }
}

/// What procmgr's process table says of `pid`: its thread count and status letter.
fn ps_entry(pid: usize) -> Result<Option<(String, String)>, String> {
    let table = std::fs::read_to_string("/scheme/proc/ps").map_err(|e| format!("ps: {e}"))?;
    let pid = pid.to_string();
    Ok(table.lines().find_map(|line| {
        let fields: Vec<&str> = line.split_whitespace().collect();
        match fields.as_slice() {
            [p, _, _, _, _, _, _, _, threads, status, ..] if *p == pid => {
                Some(((*threads).to_owned(), (*status).to_owned()))
            }
            _ => None,
        }
    }))
}

/// Verifies that a fork whose child the `O_EXCL` tracer discards at the clone stop (it takes
/// the clone's session and closes it, so the child never runs) fails with ESRCH, and that the
/// forking process's `waitpid` then reports that child killed, as procmgr reports any killed
/// child, instead of waiting forever for a child that will never run.
pub fn exclusive_close_of_clone_at_fork_reports_child_killed() -> Result<(), String> {
    let (path, _) = scratch("e2e-forkwait-clone.txt")?;
    let (pid, trace) = spawn_forkwait(&path)?;
    let Stop::Clone { number, pid: child } = next_stop(&trace)? else {
        return Err("expected forkwait's clone stop".into());
    };
    let clone = raw::take_clone(&trace, number).map_err(|e| format!("taking the clone: {e}"))?;
    clone
        .close()
        .map_err(|e| format!("closing the clone: {e}"))?;
    raw::resume(&trace, PtraceFlags::PTRACE_EVENT_CLONE).map_err(|e| format!("resuming: {e}"))?;
    let end = wait_for(pid)?;
    // An O_EXCL close: a forkwait still waiting dies with it.
    drop(trace);
    let written = std::fs::read_to_string(&path).map_err(|e| format!("{path}: {e}"))?;
    let Some(end) = end else {
        let _ = wait_for(pid);
        return Err(format!(
            "forkwait still waiting after {TIMEOUT:?}; it wrote:\n{written}"
        ));
    };
    equal("forkwait's end", end, End::Code(0))?;
    lines(
        "forkwait's file",
        &written,
        &[
            "fork: ESRCH",
            &format!("waitpid: {child} killed by signal {}", libc::SIGKILL),
        ],
    )
}

/// Verifies that an `O_EXCL` tracer closing its session at the clone stop of a fork kills the
/// forking process, and that the child it was starting, discarded unstarted, is dead to
/// procmgr too (exited, no thread left), not a process that runs forever with one thread
/// (`R`) whose end no `waitpid` would ever see.
pub fn exclusive_close_at_fork_kills_forker_and_child() -> Result<(), String> {
    let (path, _) = scratch("e2e-forkwait-starter.txt")?;
    let (pid, trace) = spawn_forkwait(&path)?;
    let Stop::Clone { pid: child, .. } = next_stop(&trace)? else {
        return Err("expected forkwait's clone stop".into());
    };
    trace
        .close()
        .map_err(|e| format!("closing the session: {e}"))?;
    equal(
        "forkwait's end",
        wait_for(pid)?,
        Some(End::Signal(libc::SIGKILL)),
    )?;
    let deadline = Instant::now() + TIMEOUT;
    let want = Some(("0".to_owned(), "X".to_owned()));
    loop {
        let entry = ps_entry(child)?;
        if entry == want || Instant::now() >= deadline {
            return equal("the child in ps (threads, status)", entry, want);
        }
        std::thread::sleep(POLL);
    }
}
