//! RINE Is Not an Emulator: runs static x86_64 Redox programs on Linux. The program runs
//! natively in a Linux child; every `syscall` it makes stops the child under
//! `PTRACE_SYSEMU` (Linux never runs it), rine carries the Redox call out with Linux calls
//! and writes the Redox result into `rax`.

pub mod abi;
pub mod call;
pub mod elf;
pub mod exec;
pub mod files;
pub mod fork;
pub mod handles;
pub mod io;
pub mod linux;
pub mod memory;
pub mod process;
pub mod run;
pub mod scheme;
pub mod seed;
pub mod stack;
pub mod strace;
pub mod sys;
pub mod threads;
pub mod world;
