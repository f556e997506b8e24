//! The redox-ptrace test runner: the first and only userspace program of the test kernel.
//!
//! The bootloader hands this blob to the kernel as the initfs; the kernel copies it to 0x1000
//! and enters `_start` with every register zero and no stack. The runner sets up a stack,
//! opens `debug:` for its log, runs every test in [`tests::ALL`] and powers the machine off.
#![no_std]
#![no_main]
// The variants (bench, demo, soak) run lists of their own: the suite, and what only it uses,
// is built but unused there. Dead code is checked in the default build.
#![cfg_attr(
    any(feature = "bench", feature = "demo", feature = "soak"),
    allow(dead_code)
)]

extern crate alloc;

#[macro_use]
mod log;
#[macro_use]
mod harness;

#[cfg(feature = "bench")]
mod bench;
mod child;
#[cfg(feature = "demo")]
mod demo;
#[path = "alloc.rs"]
mod heap;
mod sys;
mod tests;
#[cfg(feature = "soak")]
use tests::fuzz;

use core::arch::global_asm;

/// Size of the runner's own stack. Children get theirs from `child`.
const STACK_SIZE: usize = 64 * 1024;

#[repr(C, align(16))]
struct Stack([u8; STACK_SIZE]);

// A `.data` section, so that the stack is part of the blob (see link.ld).
#[unsafe(link_section = ".data.stack")]
static mut STACK: Stack = Stack([0; STACK_SIZE]);

// The initfs header the bootloader checks (`RedoxFtw`) and the entry address the kernel reads
// at offset 0x1a, then the entry itself.
global_asm!(
    r#"
    .section .redox_header, "a"
    .ascii "RedoxFtw"
    .fill 0x1a - 8, 1, 0
    .quad _start

    .section .text.entry, "ax"
    .global _start
_start:
    lea rsp, [rip + {stack} + {size}]
    xor ebp, ebp
    call {main}
    ud2
"#,
    stack = sym STACK,
    size = const STACK_SIZE,
    main = sym main,
);

/// Whether `addr` lies on the runner's stack (as opposed to a child's).
pub fn on_runner_stack(addr: usize) -> bool {
    let base = (&raw const STACK) as usize;
    (base..base + STACK_SIZE).contains(&addr)
}

extern "C" fn main() -> ! {
    if log::init().is_err() {
        // Nowhere to report anything: stop the machine so that the harness sees no summary.
        sys::power_off();
    }
    #[cfg(not(any(feature = "bench", feature = "demo", feature = "soak")))]
    let list = tests::ALL;
    #[cfg(feature = "soak")]
    let list = tests![fuzz::soak];
    #[cfg(feature = "demo")]
    let list = tests![demo::show];
    // The benchmarks only: all but the first fail on a kernel without trace sessions.
    #[cfg(feature = "bench")]
    let list = tests![
        bench::syscall_untraced,
        bench::syscall_traced,
        bench::syscall_filtered,
        bench::mem_read,
        bench::event_1,
        bench::event_4,
        bench::event_16,
        bench::interrupt_spinning,
        bench::interrupt_blocked,
    ];
    harness::run(list)
}
