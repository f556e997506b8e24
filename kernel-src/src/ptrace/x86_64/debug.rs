//! Hardware watchpoints: a session's validated slots (`trace_core::watch`) in the debug
//! registers of the CPU its tracee runs on.
//!
//! The registers are loaded at context switch only for a tracee whose tracer set watchpoints,
//! and DR7 is cleared at the next switch away from it, so a context that never used them pays
//! one per-CPU load and test per switch. A debug exception reads and clears DR6 before anything
//! else, so a stale hit is never reported twice.

use core::{
    arch::asm,
    cell::Cell,
    sync::atomic::{AtomicU64, Ordering},
};

use trace_core::watch::{Watchpoints, DR6_CLEAR, DR6_HITS, SLOTS};

/// A session's watchpoints as the context switch loads them: written under the tracee's context
/// lock, read under it by the switch, so a switch never sees half an update.
#[derive(Debug, Default)]
pub struct DebugRegs {
    dr7: AtomicU64,
    /// DR7 while the tracee single-steps (`Watchpoints::dr7_while_stepping`).
    dr7_stepping: AtomicU64,
    addresses: [AtomicU64; SLOTS],
}

impl DebugRegs {
    /// CONTEXT: the caller holds the tracee's context lock.
    pub fn store(&self, watches: &Watchpoints) {
        for (register, address) in self.addresses.iter().zip(watches.addresses()) {
            register.store(address, Ordering::Relaxed);
        }
        self.dr7.store(watches.dr7(), Ordering::Relaxed);
        self.dr7_stepping
            .store(watches.dr7_while_stepping(), Ordering::Relaxed);
    }
}

/// This CPU's debug register state.
#[derive(Debug)]
pub struct PerCpu {
    /// DR7 is nonzero: the context switched out last had watchpoints.
    live: Cell<bool>,
}

impl PerCpu {
    pub const fn new() -> Self {
        Self {
            live: Cell::new(false),
        }
    }
}

/// Context switch: loads `next`'s watchpoints (only its execute ones when it single-steps), or
/// clears DR7 if the previous context had some.
///
/// CONTEXT: the caller holds the next context's lock.
#[inline(always)]
pub fn switched_to(percpu: &PerCpu, next: Option<(&DebugRegs, bool)>) {
    let next = next.map(|(regs, stepping)| {
        let dr7 = if stepping {
            &regs.dr7_stepping
        } else {
            &regs.dr7
        };
        (regs, dr7.load(Ordering::Relaxed))
    });
    if let Some((regs, dr7)) = next
        && dr7 != 0
    {
        load(regs, dr7);
        percpu.live.set(true);
    } else if percpu.live.get() {
        // SAFETY: disabling every breakpoint has no other effect.
        unsafe { asm!("mov dr7, {}", in(reg) 0_u64, options(nostack, nomem)) };
        percpu.live.set(false);
    }
}

#[cold]
fn load(regs: &DebugRegs, dr7: u64) {
    let [a0, a1, a2, a3] = &regs.addresses;
    // SAFETY: the addresses were validated as user addresses and DR7 was computed from validated
    // slots (local enables, R/W and LEN fields only); a hit raises #DB, which `ptrace::debug_trap` handles.
    unsafe {
        asm!(
            "mov dr0, {}", "mov dr1, {}", "mov dr2, {}", "mov dr3, {}", "mov dr7, {}",
            in(reg) a0.load(Ordering::Relaxed),
            in(reg) a1.load(Ordering::Relaxed),
            in(reg) a2.load(Ordering::Relaxed),
            in(reg) a3.load(Ordering::Relaxed),
            in(reg) dr7,
            options(nostack, nomem),
        );
    }
}

/// Reads and clears DR6; returns it when a watchpoint of the context running here may have
/// fired. B0–B3 may be set for slots that are not enabled: only a live DR7 makes them ours.
///
/// CONTEXT: takes no lock (the exception may come from kernel code holding any).
pub fn take_dr6(percpu: &PerCpu) -> Option<u64> {
    let dr6: u64;
    // SAFETY: reading DR6 and writing its cleared value have no other effect.
    unsafe {
        asm!("mov {}, dr6", out(reg) dr6, options(nostack, nomem));
        asm!("mov dr6, {}", in(reg) DR6_CLEAR, options(nostack, nomem));
    }
    (dr6 & DR6_HITS != 0 && percpu.live.get()).then_some(dr6)
}

/// Disables the watchpoints loaded on this CPU, whose session has ended.
pub fn unload(percpu: &PerCpu) {
    switched_to(percpu, None);
}
