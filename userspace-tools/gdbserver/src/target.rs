//! The gdbstub target over an [`Inferior`]: registers, memory, resume and step, software
//! breakpoints, and hardware breakpoints and watchpoints in the tracee's four debug-register
//! slots. The protocol itself is gdbstub's.

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
            breakpoints::{
                Breakpoints, BreakpointsOps, HwBreakpoint, HwBreakpointOps, HwWatchpoint,
                HwWatchpointOps, SwBreakpoint, SwBreakpointOps, WatchKind,
            },
        },
        Target, TargetError, TargetResult,
    },
};
use redox_ptrace::watch::{self, Watchpoint, SLOTS};

use crate::{
    arch::{AvxRegId, AvxRegs, X86_64_AVX},
    inferior::{Error, Halt, Inferior, Resume},
    regs, signals,
};

/// x86's breakpoint instruction.
const INT3: u8 = 0xcc;

/// What gdb set a debug-register slot for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HwUse {
    /// `Z1` (`hbreak`): an execute slot.
    Break { addr: u64 },
    /// `Z2`/`Z3`/`Z4` (`watch`, `rwatch`, `awatch`): one of the slots covering the range.
    Watch {
        addr: u64,
        len: u64,
        kind: WatchKind,
    },
}

/// The debug-register slots: what gdb asked for, and the piece each slot watches.
type HwSlots = [Option<(HwUse, Watchpoint)>; SLOTS];

/// A gdb target: the inferior plus the breakpoints gdb planted, with the bytes they hide.
pub struct GdbTarget<I: Inferior> {
    pub inferior: I,
    breakpoints: BTreeMap<usize, u8>,
    hw: HwSlots,
    /// Set by resume/step, taken by [`GdbTarget::report`] when the tracee halts.
    pub pending: Option<Resume>,
}

impl<I: Inferior> GdbTarget<I> {
    pub fn new(inferior: I) -> Self {
        Self {
            inferior,
            breakpoints: BTreeMap::new(),
            hw: [None; SLOTS],
            pending: None,
        }
    }

    fn fatal<T>(e: Error) -> TargetResult<T, Self> {
        Err(TargetError::Fatal(e))
    }

    /// The stop that ends what gdb asked for last, or `None` while the tracee runs on.
    pub fn poll(&mut self) -> Result<Option<Halt>, Error> {
        Ok(self.inferior.poll()?.map(|halt| self.report(halt)))
    }

    fn report(&mut self, halt: Halt) -> Halt {
        match (self.pending.take(), halt) {
            // A step onto a breakpoint's int3 reports the step, not the breakpoint: gdb asked
            // for one instruction.
            (Some(Resume::Step), Halt::Breakpoint) => Halt::Step,
            (_, Halt::Watchpoint { slot, address }) => match self.hw.get(slot) {
                Some(Some((HwUse::Break { .. }, _))) => Halt::HwBreak,
                Some(Some((HwUse::Watch { kind, .. }, _))) => Halt::Watch {
                    kind: *kind,
                    address,
                },
                Some(None) | None => Halt::Watchpoint { slot, address },
            },
            (_, halt) => halt,
        }
    }

    /// Puts `pieces` for `owner` into free slots; `false` (gdb: "could not insert") when
    /// they do not fit or the kernel refuses them.
    fn add_hw(&mut self, owner: HwUse, pieces: &[Watchpoint]) -> bool {
        let free: Vec<usize> = (0..SLOTS)
            .filter(|&slot| matches!(self.hw.get(slot), Some(None)))
            .collect();
        if pieces.is_empty() || free.len() < pieces.len() {
            return false;
        }
        let mut next = self.hw;
        for (&slot, &piece) in free.iter().zip(pieces) {
            if let Some(entry) = next.get_mut(slot) {
                *entry = Some((owner, piece));
            }
        }
        self.load_hw(next)
    }

    /// Frees the slots of `owner`; `false` if it had none.
    fn remove_hw(&mut self, owner: HwUse) -> bool {
        let mut next = self.hw;
        let mut found = false;
        for entry in next.iter_mut() {
            if matches!(entry, Some((used, _)) if *used == owner) {
                *entry = None;
                found = true;
            }
        }
        found && self.load_hw(next)
    }

    fn load_hw(&mut self, next: HwSlots) -> bool {
        let slots = next.map(|entry| entry.map(|(_, piece)| piece));
        let loaded = self.inferior.set_watchpoints(&slots).is_ok();
        if loaded {
            self.hw = next;
        }
        loaded
    }

    fn resume_as(&mut self, how: Resume, signal: Option<Signal>) -> Result<(), Error> {
        let signal = signal
            .map(|signal| {
                signals::from_gdb(signal)
                    .ok_or_else(|| format!("gdb's signal {} has no Redox number", signal.0))
            })
            .transpose()?;
        self.inferior.resume(how, signal)?;
        self.pending = Some(how);
        Ok(())
    }

    fn all_regs(&mut self) -> Result<AvxRegs, Error> {
        let int = self.inferior.int_regs()?;
        let float = self.inferior.float_regs()?;
        let xsave = self.inferior.xsave()?;
        Ok(regs::to_gdb(&int, &float, xsave.as_ref()))
    }

    fn set_all_regs(&mut self, gdb: &AvxRegs) -> Result<(), Error> {
        let mut int = self.inferior.int_regs()?;
        let mut float = self.inferior.float_regs()?;
        regs::from_gdb(gdb, &mut int, &mut float);
        self.inferior.set_int_regs(&int)?;
        self.inferior.set_float_regs(&float)?;
        // Read after the FXSAVE write, so that the area holds it; the ymm registers (and xmm,
        // with its XSTATE_BV bit) go in when they differ. Upper halves gdb sends for a tracee
        // without AVX (it shows them unavailable) have nowhere to go and are dropped.
        let Some(mut xsave) = self.inferior.xsave()? else {
            return Ok(());
        };
        if regs::apply_ymm(gdb, &mut xsave).map_err(|e| e.to_string())? {
            self.inferior.set_xsave(&xsave)?;
        }
        Ok(())
    }
}

impl<I: Inferior> Target for GdbTarget<I> {
    type Arch = X86_64_AVX;
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
        reg_id: AvxRegId,
        buf: &mut [u8],
    ) -> TargetResult<usize, Self> {
        let range = regs::g_range(reg_id).ok_or(TargetError::NonFatal)?;
        let all = match self.all_regs() {
            Ok(all) => all,
            Err(e) => return Self::fatal(e),
        };
        if matches!(reg_id, AvxRegId::YmmHi(_)) && all.ymm_hi.is_none() {
            // No AVX: gdb shows the register unavailable.
            return Ok(0);
        }
        let image = regs::g_image(&all);
        let value = image.get(range).ok_or(TargetError::NonFatal)?;
        let dst = buf.get_mut(..value.len()).ok_or(TargetError::NonFatal)?;
        dst.copy_from_slice(value);
        Ok(value.len())
    }

    fn write_register(&mut self, _tid: (), reg_id: AvxRegId, val: &[u8]) -> TargetResult<(), Self> {
        use gdbstub::arch::Registers;
        let range = regs::g_range(reg_id).ok_or(TargetError::NonFatal)?;
        let mut all = match self.all_regs() {
            Ok(all) => all,
            Err(e) => return Self::fatal(e),
        };
        if matches!(reg_id, AvxRegId::YmmHi(_)) && all.ymm_hi.is_none() {
            // No AVX: nothing to write to (gdb's "E" reply).
            return Err(TargetError::NonFatal);
        }
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

    fn support_hw_breakpoint(&mut self) -> Option<HwBreakpointOps<'_, Self>> {
        Some(self)
    }

    fn support_hw_watchpoint(&mut self) -> Option<HwWatchpointOps<'_, Self>> {
        Some(self)
    }
}

impl<I: Inferior> HwBreakpoint for GdbTarget<I> {
    fn add_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        let owner = HwUse::Break { addr };
        if self.hw.iter().flatten().any(|(used, _)| *used == owner) {
            return Ok(true);
        }
        Ok(self.add_hw(owner, &[Watchpoint::execute(addr as usize)]))
    }

    fn remove_hw_breakpoint(&mut self, addr: u64, _kind: usize) -> TargetResult<bool, Self> {
        Ok(self.remove_hw(HwUse::Break { addr }))
    }
}

impl<I: Inferior> HwWatchpoint for GdbTarget<I> {
    fn add_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        // x86 has no read-only watchpoints: `rwatch` watches reads and writes (gdb then
        // reports a write to it as a read too).
        let hw_kind = match kind {
            WatchKind::Write => watch::WatchKind::Write,
            WatchKind::Read | WatchKind::ReadWrite => watch::WatchKind::ReadWrite,
        };
        let pieces = Watchpoint::covering(addr as usize, len as usize, hw_kind);
        Ok(self.add_hw(HwUse::Watch { addr, len, kind }, &pieces))
    }

    fn remove_hw_watchpoint(
        &mut self,
        addr: u64,
        len: u64,
        kind: WatchKind,
    ) -> TargetResult<bool, Self> {
        Ok(self.remove_hw(HwUse::Watch { addr, len, kind }))
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fake::FakeInferior;

    fn target() -> GdbTarget<FakeInferior> {
        GdbTarget::new(FakeInferior::new())
    }

    fn read(t: &mut GdbTarget<FakeInferior>, addr: u64, len: usize) -> Vec<u8> {
        let mut buf = vec![0; len];
        let n = t.read_addrs(addr, &mut buf).ok().expect("readable");
        buf.truncate(n);
        buf
    }

    mod breakpoint {
        use super::*;

        /// Verifies that a software breakpoint writes int3 into the tracee, that gdb's reads
        /// still see the original byte, and that removing it puts the byte back.
        #[test]
        fn plants_int3_and_hides_it() {
            let mut t = target();
            assert_eq!(t.add_sw_breakpoint(0x1010, 1).ok(), Some(true));
            assert_eq!(t.inferior.memory[0x10], INT3);
            assert_eq!(read(&mut t, 0x100e, 4), [0x0e, 0x0f, 0x10, 0x11]);
            assert_eq!(t.remove_sw_breakpoint(0x1010, 1).ok(), Some(true));
            assert_eq!(t.inferior.memory[0x10], 0x10);
            assert_eq!(t.remove_sw_breakpoint(0x1010, 1).ok(), Some(false));
        }

        /// Verifies that a memory write over a planted breakpoint changes the byte it hides
        /// and leaves the int3 in place.
        #[test]
        fn write_over_it_keeps_int3() {
            let mut t = target();
            t.add_sw_breakpoint(0x1011, 1).ok().expect("planted");
            t.write_addrs(0x1010, &[0xaa, 0xbb, 0xcc])
                .ok()
                .expect("written");
            assert_eq!(t.inferior.memory[0x10..0x13], [0xaa, INT3, 0xcc]);
            assert_eq!(read(&mut t, 0x1010, 3), [0xaa, 0xbb, 0xcc]);
            t.remove_sw_breakpoint(0x1011, 1).ok().expect("removed");
            assert_eq!(t.inferior.memory[0x11], 0xbb);
        }

        /// Verifies that a breakpoint where nothing is mapped is refused, not fatal.
        #[test]
        fn unmapped_is_refused() {
            let mut t = target();
            assert_eq!(t.add_sw_breakpoint(0x9000, 1).ok(), Some(false));
        }
    }

    mod hardware {
        use super::*;

        /// Verifies that a watch on an unaligned 12-byte range takes the aligned slots that
        /// cover it, and that removing it frees exactly those.
        #[test]
        fn watch_covers_range_and_frees_its_slots() {
            let mut t = target();
            assert_eq!(t.add_hw_breakpoint(0x1010, 1).ok(), Some(true));
            assert_eq!(
                t.add_hw_watchpoint(0x2004, 12, WatchKind::Write).ok(),
                Some(true)
            );
            assert_eq!(
                t.inferior.watches,
                [
                    Some(Watchpoint::execute(0x1010)),
                    Some(Watchpoint::write(0x2004, 4)),
                    Some(Watchpoint::write(0x2008, 8)),
                    None
                ]
            );
            assert_eq!(
                t.remove_hw_watchpoint(0x2004, 12, WatchKind::Write).ok(),
                Some(true)
            );
            assert_eq!(
                t.inferior.watches,
                [Some(Watchpoint::execute(0x1010)), None, None, None]
            );
            assert_eq!(
                t.remove_hw_watchpoint(0x2004, 12, WatchKind::Write).ok(),
                Some(false)
            );
        }

        /// Verifies that a watch needing more slots than are free is refused and changes
        /// nothing, and that rwatch and awatch both watch reads and writes.
        #[test]
        fn full_slots_refuse_and_reads_watch_both() {
            let mut t = target();
            assert_eq!(
                t.add_hw_watchpoint(0x3000, 8, WatchKind::Read).ok(),
                Some(true)
            );
            assert_eq!(
                t.add_hw_watchpoint(0x3100, 4, WatchKind::ReadWrite).ok(),
                Some(true)
            );
            let before = t.inferior.watches;
            assert_eq!(
                t.add_hw_watchpoint(0x4001, 7, WatchKind::Write).ok(),
                Some(false)
            );
            assert_eq!(t.inferior.watches, before);
            assert_eq!(before[0], Some(Watchpoint::read_write(0x3000, 8)));
            assert_eq!(before[1], Some(Watchpoint::read_write(0x3100, 4)));
        }

        /// Verifies that a slot's hit is reported as what gdb set it for, with the address.
        #[test]
        fn hits_report_what_gdb_set() {
            let mut t = target();
            t.add_hw_breakpoint(0x1010, 1).ok().expect("hbreak");
            t.add_hw_watchpoint(0x2000, 4, WatchKind::ReadWrite)
                .ok()
                .expect("awatch");
            t.inferior.halts.extend([
                Halt::Watchpoint {
                    slot: 0,
                    address: 0x1010,
                },
                Halt::Watchpoint {
                    slot: 1,
                    address: 0x2000,
                },
                Halt::Watchpoint {
                    slot: 3,
                    address: 0x5000,
                },
            ]);
            assert_eq!(t.poll(), Ok(Some(Halt::HwBreak)));
            let awatch = Halt::Watch {
                kind: WatchKind::ReadWrite,
                address: 0x2000,
            };
            assert_eq!(t.poll(), Ok(Some(awatch)));
            let unknown = Halt::Watchpoint {
                slot: 3,
                address: 0x5000,
            };
            assert_eq!(t.poll(), Ok(Some(unknown)));
        }
    }

    mod memory {
        use super::*;

        /// Verifies that reads stop at the end of the mapping and that a read where nothing
        /// is mapped is gdb's error reply, not the end of the session.
        #[test]
        fn short_and_unmapped_reads() {
            let mut t = target();
            assert_eq!(read(&mut t, 0x10fe, 4), [0xfe, 0xff]);
            let mut buf = [0; 4];
            assert!(matches!(
                t.read_addrs(0x9000, &mut buf),
                Err(TargetError::NonFatal)
            ));
        }
    }

    mod registers {
        use gdbstub_arch::x86::reg::id::X86_64CoreRegId;
        use redox_ptrace::regs::XsaveArea;

        use super::*;

        /// An 832-byte XSAVE area (with AVX) in its initial state: XSTATE_BV (at 512) zero.
        pub fn initial_xsave() -> XsaveArea {
            XsaveArea::from_bytes(vec![0; 832])
        }

        /// Verifies that ymm0's upper half is read and written as gdb's register 57 (ymm0h)
        /// through the XSAVE area, and that gdb's xmm0 (its low half) stays.
        #[test]
        fn ymm_upper_half_through_xsave() {
            let mut t = target();
            t.inferior.xsave = Some(initial_xsave());
            t.inferior.float.xmm_space[0] = 0xdead; // stale: SSE is in its initial state
            let ymm0h = AvxRegId::YmmHi(0);
            let mut buf = [0xff; 16];
            assert_eq!(t.read_register((), ymm0h, &mut buf).ok(), Some(16));
            assert_eq!(buf, [0; 16]);
            let mut value = [0; 16];
            value[12..].copy_from_slice(&0x5555_aaaau32.to_le_bytes());
            t.write_register((), ymm0h, &value).ok().expect("ymm0h");
            let ymm0 = t.inferior.xsave.as_ref().and_then(|a| a.ymm(0));
            let mut want = [0; 32];
            want[16..].copy_from_slice(&value);
            assert_eq!(
                ymm0,
                Some(want),
                "xmm0 as gdb saw it (0), the upper half set"
            );
            assert_eq!(t.read_register((), ymm0h, &mut buf).ok(), Some(16));
            assert_eq!(buf, value);
        }

        /// Verifies that without XSAVE the upper halves read as unavailable (0 bytes) and
        /// cannot be written, while xmm still can.
        #[test]
        fn no_xsave_ymm_unavailable() {
            let mut t = target();
            let mut buf = [0; 16];
            assert_eq!(
                t.read_register((), AvxRegId::YmmHi(3), &mut buf).ok(),
                Some(0)
            );
            assert!(matches!(
                t.write_register((), AvxRegId::YmmHi(3), &[1; 16]),
                Err(TargetError::NonFatal)
            ));
            let xmm3 = AvxRegId::Core(X86_64CoreRegId::Xmm(3));
            t.write_register((), xmm3, &[2; 16]).ok().expect("xmm3");
            let xmm = t.inferior.float.xmm_space;
            assert_eq!(xmm[3], u128::from_le_bytes([2; 16]));
        }

        /// Verifies that single-register reads and writes go to the named kernel field.
        #[test]
        fn single_register_access() {
            let mut t = target();
            let mut buf = [0; 16];
            let n = t
                .read_register((), AvxRegId::Core(X86_64CoreRegId::Rip), &mut buf)
                .ok()
                .expect("rip");
            assert_eq!(&buf[..n], 0x1010u64.to_le_bytes());
            t.write_register(
                (),
                AvxRegId::Core(X86_64CoreRegId::Gpr(3)),
                &7u64.to_le_bytes(),
            )
            .ok()
            .expect("rdx");
            assert_eq!(t.inferior.int.rdx, 7);
            assert_eq!(t.inferior.int.rip, 0x1010, "the rest unchanged");
        }

        /// Verifies that a register write the kernel refuses (a protected flag bit) is an
        /// error reply to gdb.
        #[test]
        fn refused_write_is_an_error_reply() {
            let mut t = target();
            let mut regs = t.all_regs().expect("regs");
            regs.core.eflags |= 1 << 9 | 1 << 12; // IOPL: not the tracer's to change
            assert!(matches!(
                t.write_registers(&regs),
                Err(TargetError::NonFatal)
            ));
            regs.core.eflags = 0x202 | 1; // CF may change
            assert!(t.write_registers(&regs).is_ok());
            assert_eq!(t.inferior.int.rflags, 0x203);
        }
    }

    mod resume {
        use super::*;

        /// Verifies that a step that lands on a breakpoint reports the step gdb asked for.
        #[test]
        fn step_onto_breakpoint_is_a_step() {
            let mut t = target();
            t.inferior.halts.push_back(Halt::Breakpoint);
            t.step(None).expect("step");
            assert_eq!(t.poll(), Ok(Some(Halt::Step)));
            t.inferior.halts.push_back(Halt::Breakpoint);
            t.resume(None).expect("continue");
            assert_eq!(t.poll(), Ok(Some(Halt::Breakpoint)));
        }

        /// Verifies that gdb's signal reaches the tracee in Redox's numbering, and that
        /// resuming without one passes none.
        #[test]
        fn signal_decides_delivery() {
            let mut t = target();
            t.resume(Some(Signal::SIGSEGV)).expect("continue");
            t.step(None).expect("step");
            t.resume(Some(Signal::SIGUSR1)).expect("continue");
            assert_eq!(
                t.inferior.resumes,
                [
                    (Resume::Continue, Some(11)),
                    (Resume::Step, None),
                    (Resume::Continue, Some(10))
                ]
            );
            assert!(t.resume(Some(Signal::SIGEMT)).is_err());
        }
    }

    mod protocol {
        use gdbstub::{
            conn::{Connection, ConnectionExt},
            stub::{run_blocking, GdbStub, SingleThreadStopReason},
        };

        use super::*;

        /// gdb's side of a session: the packets to send, what came back.
        struct Script {
            input: std::collections::VecDeque<u8>,
            output: std::rc::Rc<std::cell::RefCell<Vec<u8>>>,
        }

        impl Script {
            /// Packets, framed; `"\x03"` is sent bare (gdb's Ctrl-C).
            fn new(packets: &[&str]) -> Self {
                let mut input = Vec::new();
                for packet in packets {
                    if *packet == "\x03" {
                        input.push(3);
                        continue;
                    }
                    let sum = packet.bytes().fold(0u8, |s, b| s.wrapping_add(b));
                    input.extend(format!("${packet}#{sum:02x}").bytes());
                }
                Self {
                    input: input.into(),
                    output: Default::default(),
                }
            }
        }

        impl Connection for Script {
            type Error = &'static str;
            fn write(&mut self, byte: u8) -> Result<(), Self::Error> {
                self.output.borrow_mut().push(byte);
                Ok(())
            }
            fn flush(&mut self) -> Result<(), Self::Error> {
                Ok(())
            }
        }

        impl ConnectionExt for Script {
            fn read(&mut self) -> Result<u8, Self::Error> {
                self.input.pop_front().ok_or("end of script")
            }
            fn peek(&mut self) -> Result<Option<u8>, Self::Error> {
                Ok(self.input.front().copied())
            }
        }

        enum Loop {}

        impl run_blocking::BlockingEventLoop for Loop {
            type Target = GdbTarget<FakeInferior>;
            type Connection = Script;
            type StopReason = SingleThreadStopReason<u64>;

            fn wait_for_stop_reason(
                target: &mut Self::Target,
                conn: &mut Self::Connection,
            ) -> Result<
                run_blocking::Event<Self::StopReason>,
                run_blocking::WaitForStopReasonError<Error, &'static str>,
            > {
                use run_blocking::WaitForStopReasonError as E;
                // The tracee first: the script holds gdb's later packets already, which gdb
                // would only send after the stop reply. Then gdb's bytes (a Ctrl-C).
                if let Some(halt) = target.poll().map_err(E::Target)? {
                    return Ok(run_blocking::Event::TargetStopped(crate::stop_reason(halt)));
                }
                match conn.peek().map_err(E::Connection)? {
                    Some(_) => {
                        let byte = conn.read().map_err(E::Connection)?;
                        Ok(run_blocking::Event::IncomingData(byte))
                    }
                    None => Err(E::Target("the fake tracee never stops".to_string())),
                }
            }

            fn on_interrupt(t: &mut Self::Target) -> Result<Option<Self::StopReason>, Error> {
                t.inferior.interrupt()?;
                Ok(None)
            }
        }

        /// Runs gdb's packets against a fake tracee; returns the stub's replies.
        fn session(t: &mut GdbTarget<FakeInferior>, packets: &[&str]) -> String {
            let script = Script::new(packets);
            let output = std::rc::Rc::clone(&script.output);
            // The session ends when the script does (a connection error).
            let _ = GdbStub::new(script).run_blocking::<Loop>(t);
            String::from_utf8_lossy(&output.borrow()).into_owned()
        }

        /// Verifies that gdb's packets reach the glue: a breakpoint (Z0), a memory read
        /// that shows the hidden byte (m), a continue reported as a software breakpoint
        /// (vCont;c), a register read (p10: rip) and the exit report (W).
        #[test]
        fn breakpoint_continue_and_exit() {
            let mut t = target();
            t.inferior
                .halts
                .extend([Halt::Breakpoint, Halt::Exited(61)]);
            let replies = session(
                &mut t,
                &["Z0,1010,1", "m100f,2", "vCont;c", "p10", "vCont;c"],
            );
            assert_eq!(t.inferior.memory[0x10], INT3);
            // rip 0x1010, little-endian, with gdb's run-length encoding: "00" then 13 more "0".
            let rip = "$1010*)#";
            for want in ["$OK#", "$0f10#", "$T05", "swbreak", rip, "$W3d#"] {
                assert!(replies.contains(want), "{want} not in {replies}");
            }
        }

        /// Verifies that gdb gets the AVX target description and that `p`/`P` of register
        /// 0x39 (ymm0h) reach the XSAVE area; without XSAVE `p39` is unavailable ("xx").
        #[test]
        fn target_xml_and_ymm_packets() {
            let mut t = target();
            t.inferior.xsave = Some(super::registers::initial_xsave());
            let set = format!("P39={}", "11".repeat(15) + "22");
            let replies = session(
                &mut t,
                &["qXfer:features:read:target.xml:0,ffff", set.as_str(), "p39"],
            );
            let ymm0 = t.inferior.xsave.as_ref().and_then(|a| a.ymm(0));
            assert_eq!(ymm0.map(|y| y[31]), Some(0x22));
            // The first chunk of the description, then P's OK and p's 15 x "11" then "22"
            // (run-length encoded: "1" and 29 more).
            let arch = "<architecture>i386:x86-64</architecture>";
            for want in [arch, "$OK#", "$1*:22#"] {
                assert!(replies.contains(want), "{want} not in {replies}");
            }
            let mut t = target();
            let replies = session(&mut t, &["p39", "P39=00000000000000000000000000000000"]);
            // 32 "x" run-length encoded: "x" and 31 more.
            assert!(replies.contains("$x*<#"), "{replies}");
            assert!(replies.contains("$E"), "{replies}");
        }

        /// Verifies that gdb's `watch` reaches the debug registers (Z2) and its hit is
        /// reported the way gdb reads a watchpoint stop (`T05watch:ADDR;`).
        #[test]
        fn watch_is_reported_with_its_address() {
            let mut t = target();
            t.inferior.halts.extend([
                Halt::Watchpoint {
                    slot: 0,
                    address: 0x2000,
                },
                Halt::Exited(0),
            ]);
            let replies = session(&mut t, &["Z2,2000,4", "vCont;c", "z2,2000,4", "vCont;c"]);
            assert_eq!(t.inferior.watches, [None; SLOTS], "removed again");
            for want in ["$OK#", "watch:2000;", "$W00#"] {
                assert!(replies.contains(want), "{want} not in {replies}");
            }
        }

        /// Verifies that gdb's Ctrl-C while the tracee runs reaches the inferior as an
        /// interrupt request, and the stop that follows is reported as SIGINT.
        #[test]
        fn ctrl_c_interrupts() {
            let mut t = target();
            t.inferior.busy_polls = 1;
            t.inferior.halts.push_back(Halt::Signal(2));
            let replies = session(&mut t, &["vCont;c", "\x03"]);
            assert!(t.inferior.interrupted);
            assert!(replies.contains("$S02"), "{replies}");
        }
    }
}
