//! `ticker N [UID]`: writes `tick 0` .. `tick N-1`, one line every 20 ms, then exits with 0. Gives a
//! tracer a running process to attach to. With `UID`, it first drops its uids and gids to `UID`
//! (a process whose credentials changed since its exec, for procmgr's dumpable rule).

use std::{io::Write, process::ExitCode, thread::sleep, time::Duration};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let count = args
        .next()
        .and_then(|a| a.parse::<u32>().ok())
        .unwrap_or(10);
    if let Some(id) = args.next().and_then(|a| a.parse::<u32>().ok()) {
        // SAFETY: plain calls; the group first, while still allowed to.
        if unsafe { libc::setresgid(id, id, id) != 0 || libc::setresuid(id, id, id) != 0 } {
            eprintln!("ticker: cannot drop to uid {id}");
            return ExitCode::FAILURE;
        }
    }
    let mut out = std::io::stdout();
    for i in 0..count {
        // One write per line, flushed, so that a reader sees each tick when it happens.
        let _ = out.write_all(format!("tick {i}\n").as_bytes());
        let _ = out.flush();
        sleep(Duration::from_millis(20));
    }
    ExitCode::SUCCESS
}
