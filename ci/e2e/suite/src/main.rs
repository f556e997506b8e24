//! The end-to-end suite: runs `strace` and `regs` as programs on the test programs inside the
//! Redox image and checks what they print, line by line, and traces a few programs itself
//! through the redox-ptrace library. One line per test (`ok NAME` or `FAIL NAME: why`), then
//! `N passed, N failed`; the exit status is the number failed.
//!
//! `e2e [NAME...]` runs only the tests whose names contain one of the arguments.

mod check;
mod tests;
mod tracer;

use std::process::ExitCode;

fn main() -> ExitCode {
    let only: Vec<String> = std::env::args().skip(1).collect();
    let (mut passed, mut failed) = (0u32, 0u32);
    for test in tests::ALL {
        if !only.is_empty() && !only.iter().any(|o| test.name.contains(o.as_str())) {
            continue;
        }
        match (test.run)() {
            Ok(()) => {
                passed += 1;
                println!("ok {}", test.name);
            }
            Err(why) => {
                failed += 1;
                println!("FAIL {}: {}", test.name, why.replace('\n', "\n    "));
            }
        }
    }
    println!("{passed} passed, {failed} failed");
    ExitCode::from(u8::try_from(failed).unwrap_or(u8::MAX))
}
