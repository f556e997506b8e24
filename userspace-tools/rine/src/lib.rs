//! RINE Is Not an Emulator: runs static x86_64 Redox programs on Linux. The program runs
//! natively in a Linux child; every `syscall` it makes stops the child under
//! `PTRACE_SYSEMU` (Linux never runs it), rine carries the Redox call out with Linux calls
//! and writes the Redox result into `rax`.
//!
//! The modules form layers, each importing only the ones below it:
//!
//! 1. ABI facts: `elf`, `stack`, `abi` (status words, procmgr's protocol from libredox).
//! 2. The Linux side: `linux` (the traced child), `memory` (its memory and mappings),
//!    `strace` (the decoder's view of it).
//! 3. What handles stand for: `scheme` (paths), `handles` (the handle kinds, the table),
//!    `files` (I/O on them).
//! 4. Process state: `threads`, `fork`, `exec`, and `process`, which owns them.
//! 5. Syscalls: `call` (`SYS_CALL`), `io` (calls on handles), `sys` (the dispatch).
//! 6. The scheduling loop: `world`.
//! 7. The entry point: `run`.

mod abi;
mod call;
mod elf;
mod exec;
mod files;
mod fork;
mod handles;
mod io;
mod linux;
mod memory;
mod process;
mod run;
mod scheme;
mod stack;
mod strace;
mod sys;
mod threads;
mod world;

/// The seed demo rine grew from, for `tests/seed.rs` and `examples/intercept_stderr.rs`;
/// apart from the rest.
pub mod seed;

pub use abi::exit_code;
pub use run::{run, Options};
