//! Starts three threads that each write a line, joins them, and says so.

use std::{io::Write, thread};

fn main() {
    let workers: Vec<_> = (0..3)
        .map(|n| {
            thread::spawn(move || {
                // One write per line, so lines from different threads never interleave.
                let line = format!("thread {n}\n");
                let _ = std::io::stdout().lock().write_all(line.as_bytes());
                n
            })
        })
        .collect();
    let sum: i32 = workers.into_iter().map(|w| w.join().unwrap_or(0)).sum();
    println!("joined, sum {sum}");
}
