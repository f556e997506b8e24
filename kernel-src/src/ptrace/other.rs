//! Architectures whose debug registers and extended state trace sessions do not support yet:
//! sessions there have no `watch` or `xsave` part, and no step over a `syscall` instruction is
//! reported.

use syscall::FloatRegisters;

use super::{session::Session, WatchTrap};
use crate::{
    arch::interrupt::InterruptStack,
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EOPNOTSUPP},
        usercopy::{UserSliceRo, UserSliceWo},
    },
};

#[derive(Debug, Default)]
pub struct Watches;

#[derive(Debug)]
pub struct PerCpu;

impl PerCpu {
    pub const fn new() -> Self {
        Self
    }
}

/// No part exists here.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Part {}

impl Part {
    pub fn watch() -> Result<Self> {
        Err(Error::new(EOPNOTSUPP))
    }

    pub fn xsave() -> Result<Self> {
        Err(Error::new(EOPNOTSUPP))
    }
}

#[inline(always)]
pub fn switched_to(_percpu: &PerCpu, _next: Option<(&Watches, bool)>) {}

/// A `regs/float` write needs no check here.
pub fn float_write(_current: &FloatRegisters, new: FloatRegisters) -> Result<FloatRegisters> {
    Ok(new)
}

/// Only x86 reports debug exceptions, and only from user mode.
pub fn from_user(_stack: &InterruptStack) -> bool {
    true
}

/// Calls are not rewound here: an interrupt ends them as a signal would.
pub fn rewind_syscall(_regs: &mut InterruptStack, _number: usize) -> bool {
    false
}

pub fn trap_flag_set(_regs: &InterruptStack) -> bool {
    false
}

pub fn watchpoint_trap(_stack: &mut InterruptStack, _token: &mut CleanLockToken) -> WatchTrap {
    WatchTrap::Other
}

pub fn write(
    part: Part,
    _session: &Session,
    _buf: UserSliceRo,
    _token: &mut CleanLockToken,
) -> Result<usize> {
    match part {}
}

pub fn read(
    part: Part,
    _session: &Session,
    _buf: UserSliceWo,
    _token: &mut CleanLockToken,
) -> Result<usize> {
    match part {}
}
