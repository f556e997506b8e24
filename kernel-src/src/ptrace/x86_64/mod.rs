//! The x86_64 parts of trace sessions: watchpoints in the debug registers (the `watch` part),
//! the XSAVE area (the `xsave` part), and the trap flag.

mod debug;
mod entry;
mod xsave;

use syscall::FloatRegisters;
use trace_core::{
    watch::{Watchpoints, WATCH_SIZE},
    Stop,
};

pub use self::{debug::PerCpu, entry::debug_entry};
use super::{arming::publish, session::Session, WatchTrap};
use crate::{
    arch::{flags::FLAG_SINGLESTEP, interrupt::InterruptStack},
    context,
    sync::{CleanLockToken, Mutex, L1},
    syscall::{
        error::{Error, Result, EINVAL},
        usercopy::{UserSliceRo, UserSliceWo},
    },
};

/// The requested privilege level of user code segments.
const USER_RPL: usize = 3;

// trace-core checks user addresses (regs, watchpoints) against its own copy of the kernel's
// end of user space.
const _: () = assert!(trace_core::regs::USER_END == crate::USER_END_OFFSET);

/// A session's watchpoints: the slots as the tracer wrote them, and what the context switch
/// loads for them.
#[derive(Debug)]
pub struct Watches {
    slots: Mutex<L1, Watchpoints>,
    regs: debug::DebugRegs,
}

impl Default for Watches {
    fn default() -> Self {
        Self {
            slots: Mutex::new(Watchpoints::default()),
            regs: Default::default(),
        }
    }
}

/// The parts of a session this architecture adds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {
    Watch,
    Xsave,
}

impl Part {
    pub fn watch() -> Result<Self> {
        Ok(Self::Watch)
    }

    /// RETURNS: `EOPNOTSUPP` on a CPU without XSAVE.
    pub fn xsave() -> Result<Self> {
        xsave::area_len()?;
        Ok(Self::Xsave)
    }
}

/// Context switch: loads the next context's watchpoints (`stepping`: it single-steps), or
/// unloads the previous one's.
///
/// CONTEXT: the caller holds the next context's lock.
#[inline(always)]
pub fn switched_to(percpu: &PerCpu, next: Option<(&Watches, bool)>) {
    debug::switched_to(
        percpu,
        next.map(|(watches, stepping)| (&watches.regs, stepping)),
    );
}

/// Checks a `regs/float` write of `new` over `current` (`trace_core::regs::float_write`, with
/// this CPU's MXCSR_MASK) and returns what to store.
///
/// RETURNS: `EINVAL` for an MXCSR bit the CPU does not support: `fxrstor` would raise #GP in
/// ring 0 when the context resumes.
pub fn float_write(current: &FloatRegisters, new: FloatRegisters) -> Result<FloatRegisters> {
    trace_core::regs::float_write(current, new, xsave::mxcsr_mask())
}

/// Whether the exception on `stack` came from user mode.
pub fn from_user(stack: &InterruptStack) -> bool {
    stack.iret.cs & USER_RPL == USER_RPL
}

/// Sets `regs` back to the `syscall` instruction of call `number` (2 bytes before the saved
/// `rip`, the number in `rax` again), so that the call runs again when the context resumes.
/// Returns `true`: every call through this entry can be rewound.
pub fn rewind_syscall(regs: &mut InterruptStack, number: usize) -> bool {
    regs.set_instr_pointer(regs.instr_pointer().wrapping_sub(SYSCALL_LEN));
    regs.scratch.rax = number;
    true
}

/// The length of the `syscall` instruction (`0f 05`).
const SYSCALL_LEN: usize = 2;

/// Whether `regs` has the trap flag set: the tracee single-steps.
pub fn trap_flag_set(regs: &InterruptStack) -> bool {
    regs.iret.rflags & FLAG_SINGLESTEP != 0
}

/// Which watchpoint, if any, raised this debug exception.
///
/// CONTEXT: takes the current context's lock, then the watch lock, but only for an exception
/// from user mode.
pub fn watchpoint_trap(stack: &mut InterruptStack, token: &mut CleanLockToken) -> WatchTrap {
    // The fault comes before the instruction: RF lets it run once on resume.
    const RESUME_FLAG: usize = 1 << 16;
    let percpu = &crate::percpu::PercpuBlock::current().ptrace.debug;
    let Some(dr6) = debug::take_dr6(percpu) else {
        return WatchTrap::Other;
    };
    if !from_user(stack) {
        // The kernel touched a watched user address (a usercopy): not the tracee's access, and
        // no lock may be taken here.
        return WatchTrap::Ignored;
    }
    let Some(session) = context::current().read(token.token()).ptrace.clone() else {
        debug::unload(percpu);
        return WatchTrap::Ignored;
    };
    let slots = *session.watches.slots.lock(token.token());
    let Some(hit) = slots.hit(dr6) else {
        return WatchTrap::Ignored;
    };
    if hit.execute {
        stack.iret.rflags |= RESUME_FLAG;
    }
    WatchTrap::Hit(Stop::Watchpoint {
        ip: stack.instr_pointer(),
        slot: hit.slot,
        address: hit.address,
    })
}

/// `write` on this architecture's parts.
///
/// CONTEXT: may sleep (see `arming::publish`).
pub fn write(
    part: Part,
    session: &Session,
    buf: UserSliceRo,
    token: &mut CleanLockToken,
) -> Result<usize> {
    match part {
        Part::Watch => write_watches(session, buf, token),
        Part::Xsave => xsave::write(session.tracee()?, buf, token),
    }
}

/// `read` on this architecture's parts.
///
/// CONTEXT: may sleep (`xsave` waits for the tracee to leave its CPU).
pub fn read(
    part: Part,
    session: &Session,
    buf: UserSliceWo,
    token: &mut CleanLockToken,
) -> Result<usize> {
    match part {
        Part::Watch => read_watches(session, buf, token),
        Part::Xsave => xsave::read(session.tracee()?, buf, token),
    }
}

/// The watch part's `write`: four slots (`trace_core::watch`), replacing the tracee's
/// watchpoints; all slots off removes them.
///
/// RETURNS: `EINVAL` for a bad size or slot.
fn write_watches(session: &Session, buf: UserSliceRo, token: &mut CleanLockToken) -> Result<usize> {
    let mut raw = [0_u8; WATCH_SIZE];
    if buf.len() != WATCH_SIZE {
        return Err(Error::new(EINVAL));
    }
    buf.copy_to_slice(&mut raw)?;
    let slots = Watchpoints::parse(&raw)?;
    *session.watches.slots.lock(token.token()) = slots;
    publish(session, token, || session.watches.regs.store(&slots))?;
    Ok(WATCH_SIZE)
}

/// The watch part's `read`: the four slots as last written.
///
/// RETURNS: `EINVAL` when `buf` is smaller than four slots.
fn read_watches(session: &Session, buf: UserSliceWo, token: &mut CleanLockToken) -> Result<usize> {
    if buf.len() < WATCH_SIZE {
        return Err(Error::new(EINVAL));
    }
    let raw = session.watches.slots.lock(token.token()).encode();
    buf.copy_common_bytes_from_slice(&raw)
}
