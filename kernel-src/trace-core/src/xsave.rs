//! The tracee's extended register state: the standard-format XSAVE area (x86_64).
//!
//! `dup(trace, "xsave")` reads and writes the area the kernel saves the tracee's FPU, SSE and
//! AVX registers in, exactly as `xsave` lays it out: the legacy region (the `fxsave` image),
//! the 64-byte header, then one region per state component enabled in XCR0. A component whose
//! bit is clear in XSTATE_BV is in its initial state (all zeros for SSE and AVX), whatever its
//! bytes say.

use syscall::error::{Error, Result, EINVAL};

use crate::regs::check_mxcsr;

/// Offset of MXCSR and of MXCSR_MASK in the legacy region.
pub const MXCSR: usize = 24;
pub const MXCSR_MASK: usize = 28;
/// Offset of the XSAVE header: XSTATE_BV, then XCOMP_BV, then 48 reserved bytes.
pub const XSTATE_BV: usize = 512;
pub const XCOMP_BV: usize = 520;
const HEADER_END: usize = 576;
/// Offset of the XMM registers in the legacy region, 16 bytes each.
pub const XMM: usize = 160;
/// Offset of the upper halves of YMM0–YMM15 in the standard format, 16 bytes each.
pub const YMM_HI: usize = 576;

/// XSTATE_BV bits of the x87, SSE and AVX components.
pub const STATE_X87: u64 = 1 << 0;
pub const STATE_SSE: u64 = 1 << 1;
pub const STATE_AVX: u64 = 1 << 2;

fn word<const N: usize>(area: &[u8], offset: usize) -> Result<[u8; N]> {
    area.get(offset..offset.saturating_add(N))
        .and_then(|bytes| bytes.try_into().ok())
        .ok_or(Error::new(EINVAL))
}

/// Checks a write of the area against the tracee's current one (`xrstor` of a bad area raises
/// #GP in ring 0 when the tracee resumes). `xcr0` is the set of components the kernel enabled.
///
/// RETURNS: `EINVAL` for a size other than the current area's, XSTATE_BV bits outside `xcr0`,
/// a nonzero XCOMP_BV (the kernel uses the standard format) or reserved header byte, or MXCSR
/// bits the CPU does not support.
pub fn check_write(current: &[u8], new: &[u8], xcr0: u64) -> Result<()> {
    if new.len() != current.len() || new.len() < HEADER_END {
        return Err(Error::new(EINVAL));
    }
    let xstate_bv = u64::from_ne_bytes(word(new, XSTATE_BV)?);
    let header_rest = new.get(XCOMP_BV..HEADER_END).ok_or(Error::new(EINVAL))?;
    if xstate_bv & !xcr0 != 0 || header_rest.iter().any(|byte| *byte != 0) {
        return Err(Error::new(EINVAL));
    }
    check_mxcsr(
        u32::from_ne_bytes(word(current, MXCSR_MASK)?),
        u32::from_ne_bytes(word(new, MXCSR)?),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = 832;
    const XCR0: u64 = STATE_X87 | STATE_SSE | STATE_AVX;

    fn area() -> [u8; LEN] {
        let mut area = [0_u8; LEN];
        area[MXCSR..MXCSR + 4].copy_from_slice(&0x1f80_u32.to_ne_bytes());
        area[MXCSR_MASK..MXCSR_MASK + 4].copy_from_slice(&0xffff_u32.to_ne_bytes());
        area[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&XCR0.to_ne_bytes());
        area
    }

    /// Verifies that writing back what was read, or new register values, passes.
    #[test]
    fn same_shape_passes() {
        let current = area();
        let mut new = current;
        new[YMM_HI..YMM_HI + 16].fill(0xab);
        assert_eq!(check_write(&current, &current, XCR0), Ok(()));
        assert_eq!(check_write(&current, &new, XCR0), Ok(()));
    }

    /// Verifies that every malformed area is refused before the kernel could xrstor it.
    #[test]
    fn bad_areas_are_einval() {
        let current = area();
        let mut wrong_bv = current;
        wrong_bv[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&(1_u64 << 9).to_ne_bytes());
        let mut compacted = current;
        compacted[XCOMP_BV + 7] = 0x80;
        let mut reserved = current;
        reserved[HEADER_END - 1] = 1;
        let mut mxcsr = current;
        mxcsr[MXCSR..MXCSR + 4].copy_from_slice(&0x1_0000_u32.to_ne_bytes());
        for bad in [wrong_bv, compacted, reserved, mxcsr] {
            assert_eq!(check_write(&current, &bad, XCR0), Err(Error::new(EINVAL)));
        }
        assert_eq!(
            check_write(&current, &current[..LEN - 1], XCR0),
            Err(Error::new(EINVAL))
        );
        assert_eq!(
            check_write(&current, &current, STATE_X87 | STATE_SSE),
            Err(Error::new(EINVAL))
        );
    }
}
