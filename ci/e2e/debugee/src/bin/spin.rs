//! `spin`: says so, then spins in [`spin`] forever without a syscall. `make gdb-test` presses
//! Ctrl-C while it runs: the interrupt stop must catch it in the loop, where `bt` shows it.

use std::hint::black_box;

#[inline(never)]
fn spin(mut state: u64) -> u64 {
    loop {
        // A full-period LCG from a nonzero seed: `state` is 0 again only after 2^64 rounds.
        state = black_box(state.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1));
        if state == 0 {
            return state;
        }
    }
}

fn main() {
    println!("spin: spinning");
    println!("spin: {}", spin(black_box(1)));
}
