//! Pure logic of Redox trace sessions, shared by the kernel and by tracers.
//!
//! The kernel's `ptrace` module adapts this crate to contexts, locks and wait queues; the
//! userspace library decodes the same [`TraceEvent`]s. Nothing here touches hardware, so every
//! rule has a host unit test.
#![no_std]

pub mod abi;
pub mod filter;
pub mod follow;
pub mod mem;
pub mod queue;
#[cfg(target_arch = "x86_64")]
pub mod regs;
pub mod session;
pub mod signal;
#[cfg(target_arch = "x86_64")]
pub mod watch;
#[cfg(target_arch = "x86_64")]
pub mod xsave;

pub use abi::{Stop, TraceDup, TraceEvent, TRACE_HANDLE};
pub use filter::{FilterMask, SyscallFilter};
pub use queue::EventQueue;
pub use session::{Action, Delivery, Interrupt, Resumed, SessionState, TraceeState};
pub use signal::{Pending, Signal, SignalResume, SignalSet};
