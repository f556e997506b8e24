//! The gdbstub target over an [`Inferior`]: registers, memory, resume and step, software
//! breakpoints. The protocol itself is gdbstub's.

use std::collections::BTreeMap;

use gdbstub::{
    arch::Arch,
    common::Signal,
    target::{
        ext::{
            base::{
                single_register_access::{SingleRegisterAccess, SingleRegisterAccessOps},
                singlethread::{
                    SingleThreadBase, SingleThreadResume, SingleThreadResumeOps,
                    SingleThreadSingleStep, SingleThreadSingleStepOps,
                },
                BaseOps,
            },
            breakpoints::{Breakpoints, BreakpointsOps, SwBreakpoint, SwBreakpointOps},
        },
        Target, TargetError, TargetResult,
    },
};
use gdbstub_arch::x86::{reg::id::X86_64CoreRegId, X86_64_SSE};

use crate::{
    inferior::{Error, Halt, Inferior, Resume},
    regs,
};

/// x86's breakpoint instruction.
const INT3: u8 = 0xcc;

/// A gdb target: the inferior plus the breakpoints gdb planted, with the bytes they hide.
pub struct GdbTarget<I: Inferior> {
    pub inferior: I,
    breakpoints: BTreeMap<usize, u8>,
    /// Set by resume/step, taken by the event loop.
    pub pending: Option<Resume>,
}

impl<I: Inferior> GdbTarget<I> {
    pub fn new(inferior: I) -> Self {
        Self {
            inferior,
            breakpoints: BTreeMap::new(),
            pending: None,
        }
    }

    fn fatal<T>(e: Error) -> TargetResult<T, Self> {
        Err(TargetError::Fatal(e))
    }

    /// Resumes as gdb asked last and waits for the next stop.
    pub fn run(&mut self) -> Result<Halt, Error> {
        let how = self.pending.take().unwrap_or(Resume::Continue);
        self.inferior.wait().map(|halt| match (how, halt) {
            // A step onto a breakpoint's int3 reports the step, not the breakpoint: gdb asked
            // for one instruction.
            (Resume::Step, Halt::Breakpoint) => Halt::Step,
            (_, halt) => halt,
        })
    }

    fn resume_as(&mut self, how: Resume, signal: Option<Signal>) -> Result<(), Error> {
        self.inferior.resume(how, signal.is_some())?;
        self.pending = Some(how);
        Ok(())
    }

    fn all_regs(&mut self) -> Result<gdbstub_arch::x86::reg::X86_64CoreRegs, Error> {
        let int = self.inferior.int_regs()?;
        let float = self.inferior.float_regs()?;
        Ok(regs::to_gdb(&int, &float))
    }

    fn set_all_regs(&mut self, gdb: &gdbstub_arch::x86::reg::X86_64CoreRegs) -> Result<(), Error> {
        let mut int = self.inferior.int_regs()?;
        let mut float = self.inferior.float_regs()?;
        regs::from_gdb(gdb, &mut int, &mut float);
        self.inferior.set_int_regs(&int)?;
        self.inferior.set_float_regs(&float)
    }
}

impl<I: Inferior> Target for GdbTarget<I> {
    type Arch = X86_64_SSE;
    type Error = Error;

    fn base_ops(&mut self) -> BaseOps<'_, Self::Arch, Self::Error> {
        BaseOps::SingleThread(self)
    }

    fn support_breakpoints(&mut self) -> Option<BreakpointsOps<'_, Self>> {
        Some(self)
    }
}

impl<I: Inferior> SingleThreadBase for GdbTarget<I> {
    fn read_registers(
        &mut self,
        regs: &mut <Self::Arch as Arch>::Registers,
    ) -> TargetResult<(), Self> {
        match self.all_regs() {
            Ok(all) => {
                *regs = all;
                Ok(())
            }
            Err(e) => Self::fatal(e),
        }
    }

    fn write_registers(
        &mut self,
        regs: &<Self::Arch as Arch>::Registers,
    ) -> TargetResult<(), Self> {
        // A refused register (a flag bit the kernel protects) is gdb's "E" reply, not fatal.
        self.set_all_regs(regs).map_err(|_| TargetError::NonFatal)
    }

    fn support_single_register_access(&mut self) -> Option<SingleRegisterAccessOps<'_, (), Self>> {
        Some(self)
    }

    fn read_addrs(&mut self, start: u64, data: &mut [u8]) -> TargetResult<usize, Self> {
        let start = start as usize;
        let n = match self.inferior.read_mem(start, data) {
            Ok(n) => n,
            // Unmapped: gdb shows "Cannot access memory".
            Err(_) => return Err(TargetError::NonFatal),
        };
        // Show the bytes our breakpoints cover, not the int3s.
        let end = start.saturating_add(n);
        for (&addr, &byte) in self.breakpoints.range(start..end) {
            if let Some(slot) = data.get_mut(addr - start) {
                *slot = byte;
            }
        }
        Ok(n)
    }

    fn write_addrs(&mut self, start: u64, data: &[u8]) -> TargetResult<(), Self> {
        let start = start as usize;
        let end = start.saturating_add(data.len());
        // A write over a planted breakpoint changes the byte it hides; the int3 stays.
        let mut bytes = data.to_vec();
        for (&addr, hidden) in self.breakpoints.range_mut(start..end) {
            if let Some(slot) = bytes.get_mut(addr - start) {
                *hidden = *slot;
                *slot = INT3;
            }
        }
        self.inferior
            .write_mem(start, &bytes)
            .map_err(|_| TargetError::NonFatal)
    }

    fn support_resume(&mut self) -> Option<SingleThreadResumeOps<'_, Self>> {
        Some(self)
    }
}

impl<I: Inferior> SingleRegisterAccess<()> for GdbTarget<I> {
    fn read_register(
        &mut self,
        _tid: (),
        reg_id: X86_64CoreRegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let range = regs::g_range(reg_id).ok_or(TargetError::NonFatal)?;
        let all = match self.all_regs() {
            Ok(all) => all,
            Err(e) => return Self::fatal(e),
        };
        let image = regs::g_image(&all);
        let value = image.get(range).ok_or(TargetError::NonFatal)?;
        let dst = buf.get_mut(..value.len()).ok_or(TargetError::NonFatal)?;
        dst.copy_from_slice(value);
        Ok(value.len())
    }

    fn write_register(
        &mut self,
        _tid: (),
        reg_id: X86_64CoreRegId,
        val: &[u8],
    ) -> TargetResult<(), Self> {
        use gdbstub::arch::Registers;
        let range = regs::g_range(reg_id).ok_or(TargetError::NonFatal)?;
        let mut all = match self.all_regs() {
            Ok(all) => all,
            Err(e) => return Self::fatal(e),
        };
        let mut image = regs::g_image(&all);
        let dst = image.get_mut(range).ok_or(TargetError::NonFatal)?;
        if dst.len() != val.len() {
            return Err(TargetError::NonFatal);
        }
        dst.copy_from_slice(val);
        all.gdb_deserialize(&image)
            .map_err(|()| TargetError::NonFatal)?;
        self.set_all_regs(&all).map_err(|_| TargetError::NonFatal)
    }
}

impl<I: Inferior> SingleThreadResume for GdbTarget<I> {
    fn resume(&mut self, signal: Option<Signal>) -> Result<(), Self::Error> {
        self.resume_as(Resume::Continue, signal)
    }

    fn support_single_step(&mut self) -> Option<SingleThreadSingleStepOps<'_, Self>> {
        Some(self)
    }
}

impl<I: Inferior> SingleThreadSingleStep for GdbTarget<I> {
    fn step(&mut self, signal: Option<Signal>) -> Result<(), Self::Error> {
        self.resume_as(Resume::Step, signal)
    }
}

impl<I: Inferior> Breakpoints for GdbTarget<I> {
    fn support_sw_breakpoint(&mut self) -> Option<SwBreakpointOps<'_, Self>> {
        Some(self)
    }
}

impl<I: Inferior> SwBreakpoint for GdbTarget<I> {
    fn add_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let addr = addr as usize;
        if self.breakpoints.contains_key(&addr) {
            return Ok(true);
        }
        let mut original = [0u8];
        match self.inferior.read_mem(addr, &mut original) {
            Ok(1) => {}
            _ => return Ok(false),
        }
        if self.inferior.write_mem(addr, &[INT3]).is_err() {
            return Ok(false);
        }
        self.breakpoints.insert(addr, original[0]);
        Ok(true)
    }

    fn remove_sw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let addr = addr as usize;
        let Some(original) = self.breakpoints.remove(&addr) else {
            return Ok(false);
        };
        match self.inferior.write_mem(addr, &[original]) {
            Ok(()) => Ok(true),
            Err(e) => Self::fatal(e),
        }
    }
}
