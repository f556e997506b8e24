//! Trace sessions: a tracer's `trace` handle on a context, and the stops it arms.
//!
//! This replaces the 2019 `proc:PID/trace` backend. A [`Session`] links one `trace` handle of
//! the `kernel.proc` scheme to one tracee context (its `ptrace` field). The rules (what stops,
//! what a write means, when a read fails) are pure data in `trace_core::SessionState`; this
//! module adds the session lock, sleeping and waking. By concern, in lifecycle order:
//!
//! - [`session`]: the session and its handles; attaching, `dup`.
//! - [`arming`]: what the tracer armed, as the CPUs see it; resuming a stop.
//! - [`hooks`]: where upstream's code reports a syscall, exception, step, tick or exit.
//! - [`stop`]: stopping, and the event stream the tracer reads.
//! - [`parts`]: the `filter`, `interrupt`, `watch` and `xsave` parts of a session.
//! - [`follow`]: giving the contexts a tracee creates sessions of their own.
//! - [`detach`]: the tracer closing its handle, and the tracee exiting.
//! - [`mem`]: `mem` handles; `arch`: debug registers and XSAVE.
//!
//! Fast path: `PercpuBlock::ptrace_flags` caches the armed stops of the context running on this
//! CPU, and [`PerCpu`] its syscall filter's quick-reject mask and debug register state. They
//! are refreshed at every context switch ([`switched_to`]) and by the tracee itself when it
//! leaves a stop, so an untraced syscall costs one per-CPU load and test, and a traced one the
//! filter rejects a few more.
//!
//! Lock order: the session lock is never held together with a context lock; a context lock may
//! be held while the session's atomics are read or written.

#[cfg_attr(target_arch = "x86_64", path = "ptrace/x86_64/mod.rs")]
#[cfg_attr(not(target_arch = "x86_64"), path = "ptrace/other.rs")]
mod arch;
mod arming;
mod detach;
pub mod follow;
mod hooks;
pub mod mem;
mod parts;
mod session;
mod stop;

#[cfg(target_arch = "x86_64")]
pub use self::arch::debug_entry;
pub use self::{
    arch::float_write,
    arming::{switched_to, PerCpu},
    detach::{close, tracee_exited},
    follow::context_created,
    hooks::{
        addrspace_switched, breakpoint, debug_trap, exception, exiting, signal_point, signal_taken,
        syscall_entry, syscall_exit,
    },
    parts::{read, write},
    session::{attach, bind_handle, dup, Handle, Session},
    stop::{fevent, ignores_signals},
};

/// What a debug exception was, as far as watchpoints go.
enum WatchTrap {
    /// Not a watchpoint: a single step, or somebody else's.
    Other,
    /// One of ours, outside the tracee's own code (the kernel touched a watched user address
    /// on its behalf, or the session has just ended): nothing to report.
    Ignored,
    /// The tracee hit a watchpoint: this stop reports it.
    Hit(trace_core::Stop),
}
