//! Integer registers and RFLAGS.

use core::fmt;

use syscall::IntRegisters;

use super::{line, write_bit_names};

/// RFLAGS bits gdb names, low to high.
const RFLAGS_BITS: &[(u64, &str)] = &[
    (1 << 0, "CF"),
    (1 << 2, "PF"),
    (1 << 4, "AF"),
    (1 << 6, "ZF"),
    (1 << 7, "SF"),
    (1 << 8, "TF"),
    (1 << 9, "IF"),
    (1 << 10, "DF"),
    (1 << 11, "OF"),
    (1 << 14, "NT"),
    (1 << 16, "RF"),
    (1 << 17, "VM"),
    (1 << 18, "AC"),
    (1 << 19, "VIF"),
    (1 << 20, "VIP"),
    (1 << 21, "ID"),
];

/// RFLAGS decoded: `[ PF ZF IF ]`, plus `IOPL=n` when the I/O privilege level is not 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rflags(pub u64);

impl fmt::Display for Rflags {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_bit_names(f, self.0, RFLAGS_BITS)?;
        let iopl = (self.0 >> 12) & 3;
        if iopl != 0 {
            write!(f, " IOPL={iopl}")?;
        }
        Ok(())
    }
}

/// `IntRegisters` in gdb's order: rax rbx rcx rdx rsi rdi rbp rsp r8..r15 rip rflags cs ss.
pub struct IntRegs<'a>(pub &'a IntRegisters);

/// A value printed as gdb prints a pointer: in hex.
struct Pointer(u64);

impl fmt::Display for Pointer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:#x}", self.0)
    }
}

impl fmt::Display for IntRegs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let r = self.0;
        let as_u64 = |v: usize| v as u64;
        let signed = |v: usize| v as i64;
        for (name, value) in [
            ("rax", r.rax),
            ("rbx", r.rbx),
            ("rcx", r.rcx),
            ("rdx", r.rdx),
            ("rsi", r.rsi),
            ("rdi", r.rdi),
        ] {
            line(f, name, as_u64(value), &signed(value))?;
        }
        for (name, value) in [("rbp", r.rbp), ("rsp", r.rsp)] {
            line(f, name, as_u64(value), &Pointer(as_u64(value)))?;
        }
        for (name, value) in [
            ("r8", r.r8),
            ("r9", r.r9),
            ("r10", r.r10),
            ("r11", r.r11),
            ("r12", r.r12),
            ("r13", r.r13),
            ("r14", r.r14),
            ("r15", r.r15),
        ] {
            line(f, name, as_u64(value), &signed(value))?;
        }
        line(f, "rip", as_u64(r.rip), &Pointer(as_u64(r.rip)))?;
        line(f, "rflags", as_u64(r.rflags), &Rflags(as_u64(r.rflags)))?;
        line(f, "cs", as_u64(r.cs), &signed(r.cs))?;
        line(f, "ss", as_u64(r.ss), &signed(r.ss))
    }
}

#[cfg(test)]
mod tests {
    use alloc::{format, string::ToString};

    use super::*;

    /// Verifies gdb's RFLAGS decoding, low bit first, with IOPL when set.
    #[test]
    fn rflags_names_set_bits() {
        assert_eq!(Rflags(0x246).to_string(), "[ PF ZF IF ]");
        assert_eq!(Rflags(0x2).to_string(), "[ ]");
        assert_eq!(Rflags(0x3202).to_string(), "[ IF ] IOPL=3");
    }

    /// Verifies the line layout and order of the integer registers.
    #[test]
    fn int_registers_print_like_gdb() {
        let regs = IntRegisters {
            rax: 28,
            rsp: 0x7fff_f000,
            rip: 0x40_1000,
            rflags: 0x246,
            cs: 0x2b,
            ss: 0x23,
            r15: usize::MAX,
            ..IntRegisters::default()
        };
        let text = format!("{}", IntRegs(&regs));
        let lines: alloc::vec::Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 20);
        assert_eq!(
            lines.first().copied(),
            Some("rax            0x1c               28")
        );
        assert_eq!(
            lines.get(7).copied(),
            Some("rsp            0x7ffff000         0x7ffff000")
        );
        assert_eq!(
            lines.get(15).copied(),
            Some("r15            0xffffffffffffffff -1")
        );
        assert_eq!(
            lines.get(17).copied(),
            Some("rflags         0x246              [ PF ZF IF ]")
        );
        assert_eq!(
            lines.get(18).copied(),
            Some("cs             0x2b               43")
        );
    }
}
