//! Register sets printed like gdb's `info registers`: name, hex, natural value.
//!
//! ```text
//! rax            0x1c                28
//! rsp            0x7ffffffe000       0x7ffffffe000
//! rflags         0x246               [ PF ZF IF ]
//! ```
//!
//! x86_64 only, like `IntRegisters`' layout. [`XsaveArea`] gives the AVX registers.

mod env;
mod float;
mod int;
mod xsave;

use core::fmt;

pub use env::EnvRegs;
pub use float::{FloatRegs, Mxcsr};
pub use int::{IntRegs, Rflags};
pub use xsave::{XsaveArea, VECTOR_REGS};

/// The standard-format XSAVE layout [`XsaveArea`] reads (`docs/abi.md`): offsets and
/// XSTATE_BV bits, for callers that build or check an area byte by byte.
pub mod xsave_layout {
    pub use trace_core::xsave::{STATE_AVX, STATE_SSE, XMM, XSTATE_BV, YMM_HI};
}

/// One gdb-style line: the name in 15 columns, the hex value in 19, then `natural`.
pub(crate) fn line(
    f: &mut fmt::Formatter<'_>,
    name: &str,
    hex: u64,
    natural: &dyn fmt::Display,
) -> fmt::Result {
    let hex = HexValue(hex);
    writeln!(f, "{name:<15}{hex:<19}{natural}")
}

/// `0x..` that honours width and alignment (`{:#x}` pads the digits, not the whole value).
struct HexValue(u64);

impl fmt::Display for HexValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut buf = [0u8; 18];
        let text = format_hex(self.0, &mut buf);
        f.pad(text)
    }
}

fn format_hex(mut value: u64, buf: &mut [u8; 18]) -> &str {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut at = buf.len();
    loop {
        at = at.saturating_sub(1);
        let digit = usize::try_from(value & 0xf).unwrap_or(0);
        if let (Some(slot), Some(d)) = (buf.get_mut(at), DIGITS.get(digit)) {
            *slot = *d;
        }
        value >>= 4;
        if value == 0 || at <= 2 {
            break;
        }
    }
    at = at.saturating_sub(2);
    if let Some(prefix) = buf.get_mut(at..at.saturating_add(2)) {
        prefix.copy_from_slice(b"0x");
    }
    core::str::from_utf8(buf.get(at..).unwrap_or_default()).unwrap_or("0x?")
}

/// Bit names joined gdb-style: `[ PF ZF IF ]`; `[ ]` for none.
pub(crate) fn write_bit_names(
    f: &mut fmt::Formatter<'_>,
    value: u64,
    names: &[(u64, &str)],
) -> fmt::Result {
    f.write_str("[ ")?;
    for (bit, name) in names {
        if value & bit != 0 {
            write!(f, "{name} ")?;
        }
    }
    f.write_str("]")
}

#[cfg(test)]
mod tests {
    use alloc::format;

    use super::*;

    /// Verifies that hex values pad as a whole.
    #[test]
    fn hex_pads_as_a_whole() {
        assert_eq!(format!("{:<8}|", HexValue(0x2b)), "0x2b    |");
        assert_eq!(format!("{}", HexValue(0)), "0x0");
        assert_eq!(format!("{}", HexValue(u64::MAX)), "0xffffffffffffffff");
    }
}
