//! `gdbdemo [N]`: the program `make gdb-test` debugs. It prints `compute(N) = 2N+1` and exits
//! with that value (mod 256). Unoptimised and with debug info (ci/e2e/Cargo.toml), so that gdb
//! sees `compute`'s locals and lines; the test changes `factor` in `compute` with `set var`
//! and checks that the printed line and the exit code follow.

use std::hint::black_box;

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

fn main() {
    let input: u64 = std::env::args()
        .nth(1)
        .and_then(|arg| arg.parse().ok())
        .unwrap_or(20);
    let result = compute(black_box(input));
    println!("gdbdemo: compute({input}) = {result}");
    std::process::exit((result % 256) as i32);
}
