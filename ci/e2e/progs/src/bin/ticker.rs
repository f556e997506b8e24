//! `ticker N`: writes `tick 0` .. `tick N-1`, one line every 20 ms, then exits with 0. Gives a
//! tracer a running process to attach to.

use std::{io::Write, thread::sleep, time::Duration};

fn main() {
    let count = std::env::args()
        .nth(1)
        .and_then(|a| a.parse::<u32>().ok())
        .unwrap_or(10);
    let mut out = std::io::stdout();
    for i in 0..count {
        // One write per line, flushed, so that a reader sees each tick when it happens.
        let _ = out.write_all(format!("tick {i}\n").as_bytes());
        let _ = out.flush();
        sleep(Duration::from_millis(20));
    }
}
