//! `blockread`: says so, then blocks reading a pipe whose write end it holds itself, so that
//! the read never returns. `make gdb-test` presses Ctrl-C while it waits: the interrupt stop
//! must catch it inside the read, where `bt` shows the call from `main`; gdb then kills it.

use std::{fs::File, io::Read, os::fd::FromRawFd};

fn main() {
    let mut fds = [0; 2];
    // SAFETY: `fds` has room for the two descriptors.
    if unsafe { libc::pipe(fds.as_mut_ptr()) } != 0 {
        eprintln!("blockread: pipe: {}", std::io::Error::last_os_error());
        std::process::exit(1);
    }
    // SAFETY: the read end is ours alone; the write end stays open (unused) in `fds[1]`.
    let mut reader = unsafe { File::from_raw_fd(fds[0]) };
    println!("blockread: reading");
    let mut byte = [0_u8; 1];
    let got = reader.read(&mut byte);
    println!("blockread: read returned {got:?}");
}
