//! Tracing Redox contexts from userspace.
//!
//! Layers, bottom up (see `docs/abi.md` for the kernel side):
//!
//! - [`raw`]: one function per request on a context or trace handle, nix-style.
//! - [`Tracer`], [`Tracee`], [`Stop`], [`Restart`]: pete-style sessions that track syscall
//!   entry and exit and multiplex many tracees through `event:`.
//! - [`decode`]: every syscall of redox_syscall 0.9.2 printed like strace; [`regs`]: register
//!   sets printed like gdb; [`stats`]: the `strace -c` table. All behind `Display`, reading
//!   tracee memory through [`mem::TraceeMemory`].
//! - [`follow`]: what a clone stop announced (a process or a thread), and how a followed
//!   process ended.
//! - Session parts: [`SyscallFilter`] (which syscalls stop), [`watch`] (hardware
//!   watchpoints), [`regs::XsaveArea`] (AVX registers), through [`Tracee`] and [`raw`].
//! - [`spawn`] (feature `std`): where context handles come from ([`spawn::ContextSource`]).
//!
//! The core is `no_std` + `alloc`, for the QEMU test runner; the `std` feature adds spawning.
#![no_std]

extern crate alloc;
#[cfg(feature = "std")]
extern crate std;

pub mod decode;
pub mod error;
pub mod fd;
pub mod follow;
pub mod mem;
pub mod raw;
#[cfg(target_arch = "x86_64")]
pub mod regs;
#[cfg(feature = "std")]
pub mod spawn;
pub mod stats;
pub mod stop;
pub mod tracee;
pub mod tracer;
#[cfg(target_arch = "x86_64")]
pub mod watch;

pub use error::{Error, Request, Result, TraceeId};
pub use fd::{ContextFd, TraceFd};
pub use stop::{Restart, Stop, StopSet};
pub use trace_core::{Signal, SignalSet, SyscallFilter};
pub use tracee::Tracee;
pub use tracer::Tracer;
