//! Writes a line, then stores to an address in the unmapped first page: the kernel kills it.

fn main() {
    println!("about to fault");
    // black_box: the compiler cannot see the address, so it emits a plain store.
    let address = std::hint::black_box(8usize) as *mut u64;
    // SAFETY: none, on purpose: nothing is mapped there, and the fault is the point.
    unsafe { address.write_volatile(0xdead) };
    println!("still alive");
}
