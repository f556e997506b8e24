//! `gdbdemo [N]`: the program `make gdb-test` debugs. It prints `compute(N) = 2N+1` and exits
//! with that value (mod 256). Unoptimised and with debug info (ci/e2e/Cargo.toml), so that gdb
//! sees `compute`'s locals and lines; the test changes `factor` in `compute` with `set var`
//! and checks that the printed line and the exit code follow.
//!
//! With AVX it then puts [`LANES`] into ymm0 and stores ymm0 back, printing
//! `gdbdemo: ymm0 = 0x1001 0x2002 ...`: the test stops at `gdbdemo_ymm_loaded` between the
//! two, reads `$ymm0` and changes a lane in each half, which the printed line then shows.

use std::{arch::global_asm, hint::black_box};

/// Written by `compute`, for gdb to watch.
static mut LAST_RESULT: u64 = 0;

#[inline(never)]
fn compute(input: u64) -> u64 {
    // Its address escapes, so `factor` has one stack slot, loaded again on the next line: a
    // `set var` between the two lines changes the result.
    let mut factor = 2u64;
    black_box(&mut factor);
    let result = input.wrapping_mul(factor).wrapping_add(1);
    // SAFETY: one thread; a plain store, no reference to the static is made.
    unsafe { LAST_RESULT = result };
    result
}

/// What ymm0 holds at `gdbdemo_ymm_loaded`: lanes 4..7 are its upper half (ymm0h).
const LANES: [u32; 8] = [
    0x1001, 0x2002, 0x3003, 0x4004, 0x5005, 0x6006, 0x7007, 0x8008,
];

// gdbdemo_ymm0_round_trip(src, dst): loads ymm0 from the 32 bytes at `src` and stores it to
// the 32 at `dst`. The global label between the two is where gdb stops (`break
// gdbdemo_ymm_loaded`): one piece of asm, so nothing else touches ymm0 there. global_asm, not
// asm!: a named label must not be duplicated, as inlining could do to an asm! block.
global_asm!(
    ".pushsection .text",
    ".globl gdbdemo_ymm0_round_trip",
    ".type gdbdemo_ymm0_round_trip, @function",
    "gdbdemo_ymm0_round_trip:",
    "vmovdqu ymm0, [rdi]",
    ".globl gdbdemo_ymm_loaded",
    "gdbdemo_ymm_loaded:",
    "vmovdqu [rsi], ymm0",
    "vzeroupper",
    "ret",
    ".size gdbdemo_ymm0_round_trip, . - gdbdemo_ymm0_round_trip",
    ".popsection",
);

unsafe extern "C" {
    /// Needs AVX; reads 32 bytes at `src`, writes 32 at `dst`.
    fn gdbdemo_ymm0_round_trip(src: *const u32, dst: *mut u32);
}

fn main() {
    let input: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(20);
    let result = compute(black_box(input));
    println!("gdbdemo: compute({input}) = {result}");
    if std::arch::is_x86_feature_detected!("avx") {
        let mut lanes = [0_u32; 8];
        // SAFETY: the CPU has AVX; both arrays are 32 bytes. ymm0 is the caller's to lose
        // (System V), so the C ABI covers it.
        unsafe { gdbdemo_ymm0_round_trip(LANES.as_ptr(), lanes.as_mut_ptr()) };
        let shown: Vec<String> = lanes.iter().map(|lane| format!("{lane:#x}")).collect();
        println!("gdbdemo: ymm0 = {}", shown.join(" "));
    } else {
        println!("gdbdemo: no AVX");
    }
    std::process::exit((result % 256) as i32);
}
