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

/// Checks a write of the whole area, `new`, against the tracee's saved one (`xrstor` of a bad
/// area raises #GP in ring 0 when the tracee resumes), and on success copies it over `saved`,
/// all but its MXCSR_MASK: that field describes the CPU, so a tracer's value is ignored. `xcr0`
/// is the set of components the kernel enabled, `mxcsr_mask` the CPU's.
///
/// RETURNS: `EINVAL` for a size other than the saved area's, XSTATE_BV bits outside `xcr0`,
/// a nonzero XCOMP_BV (the kernel uses the standard format) or reserved header byte, or MXCSR
/// bits the CPU does not support; `saved` is then unchanged.
pub fn write(saved: &mut [u8], new: &[u8], xcr0: u64, mxcsr_mask: u32) -> Result<()> {
    if new.len() != saved.len() || new.len() < HEADER_END {
        return Err(Error::new(EINVAL));
    }
    let xstate_bv = u64::from_ne_bytes(word(new, XSTATE_BV)?);
    let header_rest = new.get(XCOMP_BV..HEADER_END).ok_or(Error::new(EINVAL))?;
    if xstate_bv & !xcr0 != 0 || header_rest.iter().any(|byte| *byte != 0) {
        return Err(Error::new(EINVAL));
    }
    check_mxcsr(mxcsr_mask, u32::from_ne_bytes(word(new, MXCSR)?))?;
    let kept: [u8; 4] = word(saved, MXCSR_MASK)?;
    saved.copy_from_slice(new);
    saved
        .get_mut(MXCSR_MASK..MXCSR_MASK + kept.len())
        .ok_or(Error::new(EINVAL))?
        .copy_from_slice(&kept);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const LEN: usize = 832;
    const XCR0: u64 = STATE_X87 | STATE_SSE | STATE_AVX;
    const CPU_MASK: u32 = 0xffff;

    fn area() -> [u8; LEN] {
        let mut area = [0_u8; LEN];
        area[MXCSR..MXCSR + 4].copy_from_slice(&0x1f80_u32.to_ne_bytes());
        area[MXCSR_MASK..MXCSR_MASK + 4].copy_from_slice(&CPU_MASK.to_ne_bytes());
        area[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&XCR0.to_ne_bytes());
        area
    }

    /// Verifies that writing back what was read, or new register values, passes and is stored.
    #[test]
    fn same_shape_passes() {
        let current = area();
        let mut new = current;
        new[YMM_HI..YMM_HI + 16].fill(0xab);
        let mut saved = current;
        assert_eq!(write(&mut saved, &current, XCR0, CPU_MASK), Ok(()));
        assert_eq!(saved, current);
        assert_eq!(write(&mut saved, &new, XCR0, CPU_MASK), Ok(()));
        assert_eq!(saved, new);
    }

    /// Verifies that every malformed area is refused before the kernel could xrstor it, and
    /// leaves the saved area as it was.
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
        let mut saved = current;
        for bad in [wrong_bv, compacted, reserved, mxcsr] {
            assert_eq!(
                write(&mut saved, &bad, XCR0, CPU_MASK),
                Err(Error::new(EINVAL))
            );
        }
        assert_eq!(
            write(&mut saved, &current[..LEN - 1], XCR0, CPU_MASK),
            Err(Error::new(EINVAL))
        );
        assert_eq!(
            write(&mut saved, &current, STATE_X87 | STATE_SSE, CPU_MASK),
            Err(Error::new(EINVAL))
        );
        assert_eq!(saved, current);
    }

    /// Verifies that the MXCSR_MASK a write carries neither widens the check nor is stored.
    #[test]
    fn written_mask_is_ignored() {
        let current = area();
        let mut widened = current;
        widened[MXCSR_MASK..MXCSR_MASK + 4].copy_from_slice(&u32::MAX.to_ne_bytes());
        let mut saved = current;
        assert_eq!(write(&mut saved, &widened, XCR0, CPU_MASK), Ok(()));
        assert_eq!(saved, current);
        let mut reserved = widened;
        reserved[MXCSR..MXCSR + 4].copy_from_slice(&0x8000_1f80_u32.to_ne_bytes());
        assert_eq!(
            write(&mut saved, &reserved, XCR0, CPU_MASK),
            Err(Error::new(EINVAL))
        );
        assert_eq!(saved, current);
    }
}
