//! `make demo`: a tracee traced by the userspace library, shown as a person would see it:
//! its syscalls as strace prints them, its registers at a stop as `regs` prints them, and the
//! `strace -c` summary.

use redox_ptrace::regs::IntRegs;

use crate::{harness::Failure, tests::strace::trace_known_calls};

/// Verifies that the demo's tracee can be traced, and shows what the tools print for it.
pub fn show() -> Result<(), Failure> {
    let traced = trace_known_calls()?;
    println!("=== demo: strace of a child context (library: userspace-tools/redox-ptrace) ===");
    for line in &traced.lines {
        println!("{}", line);
    }
    println!("+++ exited +++");
    println!("=== demo: regs at the first syscall entry stop ===");
    match traced.first_entry_regs {
        Some(regs) => println!("{}", IntRegs(&regs)),
        None => fail!("no syscall entry stop"),
    }
    println!("=== demo: strace -c ===");
    println!("{}", traced.stats);
    println!("=== demo: end ===");
    Ok(())
}
