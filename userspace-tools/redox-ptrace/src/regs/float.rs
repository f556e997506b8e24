//! The FXSAVE area: x87 control/status, MXCSR, st0-7 and xmm0-15.

use core::fmt;

use syscall::FloatRegisters;

use super::{line, write_bit_names};

/// MXCSR bits, low to high, as gdb names them.
const MXCSR_BITS: &[(u64, &str)] = &[
    (1 << 0, "IE"),
    (1 << 1, "DE"),
    (1 << 2, "ZE"),
    (1 << 3, "OE"),
    (1 << 4, "UE"),
    (1 << 5, "PE"),
    (1 << 6, "DAZ"),
    (1 << 7, "IM"),
    (1 << 8, "DM"),
    (1 << 9, "ZM"),
    (1 << 10, "OM"),
    (1 << 11, "UM"),
    (1 << 12, "PM"),
    (1 << 15, "FZ"),
];

/// MXCSR decoded: `[ IM DM ZM OM UM PM ]` for the default 0x1f80.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Mxcsr(pub u32);

impl fmt::Display for Mxcsr {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write_bit_names(f, u64::from(self.0), MXCSR_BITS)?;
        let rounding = (self.0 >> 13) & 3;
        if rounding != 0 {
            write!(f, " RC={rounding}")?;
        }
        Ok(())
    }
}

/// `FloatRegisters` like gdb's `info all-registers` float part; vector registers as raw hex.
pub struct FloatRegs<'a>(pub &'a FloatRegisters);

impl fmt::Display for FloatRegs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Copies: the struct is packed, so no references into it.
        let r = *self.0;
        let (fcw, fsw, ftw, fop, fip, fdp, mxcsr) =
            (r.fcw, r.fsw, r.ftw, r.fop, r.fip, r.fdp, r.mxcsr);
        let (st, xmm) = (r.st_space, r.xmm_space);
        line(f, "fctrl", fcw.into(), &fcw)?;
        line(f, "fstat", fsw.into(), &fsw)?;
        line(f, "ftag", ftw.into(), &ftw)?;
        line(f, "fop", fop.into(), &fop)?;
        line(f, "fioff", fip, &fip)?;
        line(f, "fooff", fdp, &fdp)?;
        line(f, "mxcsr", mxcsr.into(), &Mxcsr(mxcsr))?;
        for (i, value) in st.iter().enumerate() {
            // x87 registers are 80 bits wide in 16-byte slots.
            writeln!(f, "st{i:<13}{:#022x}", value & ((1u128 << 80) - 1))?;
        }
        for (i, value) in xmm.iter().enumerate() {
            writeln!(f, "xmm{i:<12}{value:#034x}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use alloc::{format, string::ToString};

    use super::*;

    /// Verifies MXCSR decoding of the power-on default and of a flag plus rounding mode.
    #[test]
    fn mxcsr_names_bits() {
        assert_eq!(Mxcsr(0x1f80).to_string(), "[ IM DM ZM OM UM PM ]");
        assert_eq!(Mxcsr(0x6001).to_string(), "[ IE ] RC=3");
    }

    /// Verifies the control lines and the st/xmm rows.
    #[test]
    fn float_registers_print_control_and_vectors() {
        let mut regs = FloatRegisters {
            fcw: 0x37f,
            mxcsr: 0x1f80,
            ..FloatRegisters::default()
        };
        regs.xmm_space[1] = 0x1234;
        let text = format!("{}", FloatRegs(&regs));
        let lines: alloc::vec::Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 7 + 8 + 16);
        assert_eq!(
            lines.first().copied(),
            Some("fctrl          0x37f              895")
        );
        assert_eq!(
            lines.get(6).copied(),
            Some("mxcsr          0x1f80             [ IM DM ZM OM UM PM ]")
        );
        assert_eq!(
            lines.get(7).copied(),
            Some("st0            0x00000000000000000000")
        );
        assert_eq!(
            lines.get(16).copied(),
            Some("xmm1           0x00000000000000000000000000001234")
        );
    }
}
