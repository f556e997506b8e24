//! The XSAVE area (standard format) as the session's `xsave` part gives it: SSE and AVX
//! registers read and written through XSTATE_BV, whose clear bit means "in the initial state"
//! (all zeros) whatever the bytes of that component say.

use alloc::vec::Vec;

use trace_core::xsave::{STATE_AVX, STATE_SSE, XMM, XSTATE_BV, YMM_HI};

use crate::error::{Error, Result};

/// Vector registers in 64-bit mode.
pub const VECTOR_REGS: usize = 16;
const HALF: usize = 16;

/// A copy of a tracee's XSAVE area ([`crate::raw::get_xsave`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct XsaveArea(Vec<u8>);

impl XsaveArea {
    /// The area as read from the kernel.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        Self(bytes)
    }

    /// The bytes to write back ([`crate::raw::set_xsave`]).
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The header's XSTATE_BV: which components hold values other than their initial ones.
    pub fn xstate_bv(&self) -> u64 {
        self.word(XSTATE_BV).unwrap_or(0)
    }

    /// Whether the area has room for the AVX component (the kernel enabled AVX).
    pub fn has_avx(&self) -> bool {
        self.0.len() >= YMM_HI.saturating_add(VECTOR_REGS * HALF)
    }

    /// xmm`index`, zero when the SSE component is in its initial state.
    pub fn xmm(&self, index: usize) -> Option<[u8; 16]> {
        self.half(XMM, STATE_SSE, index)
    }

    /// ymm`index` (xmm`index` low, the AVX upper half high), each half zero when its
    /// component is in its initial state. `None` without AVX.
    pub fn ymm(&self, index: usize) -> Option<[u8; 32]> {
        if !self.has_avx() {
            return None;
        }
        let low = self.half(XMM, STATE_SSE, index)?;
        let high = self.half(YMM_HI, STATE_AVX, index)?;
        let mut out = [0_u8; 32];
        let (out_low, out_high) = out.split_at_mut(HALF);
        out_low.copy_from_slice(&low);
        out_high.copy_from_slice(&high);
        Some(out)
    }

    /// Sets xmm`index` (ymm`index`'s upper half stays), marking the SSE component in use.
    pub fn set_xmm(&mut self, index: usize, value: [u8; 16]) -> Result<()> {
        self.set_half(XMM, STATE_SSE, index, &value)
    }

    /// Sets ymm`index`, marking the SSE and AVX components in use.
    pub fn set_ymm(&mut self, index: usize, value: [u8; 32]) -> Result<()> {
        if !self.has_avx() {
            return Err(Error::Unsupported {
                what: "ymm registers: the XSAVE area has no AVX component",
            });
        }
        let (low, high) = value.split_at(HALF);
        self.set_half(XMM, STATE_SSE, index, low)?;
        self.set_half(YMM_HI, STATE_AVX, index, high)
    }

    fn word(&self, offset: usize) -> Option<u64> {
        let bytes = self.0.get(offset..offset.checked_add(8)?)?;
        Some(u64::from_ne_bytes(bytes.try_into().ok()?))
    }

    fn half(&self, base: usize, component: u64, index: usize) -> Option<[u8; 16]> {
        let bytes = self.0.get(Self::range(base, index)?)?;
        let mut out = [0_u8; 16];
        if self.xstate_bv() & component != 0 {
            out.copy_from_slice(bytes);
        }
        Some(out)
    }

    fn set_half(&mut self, base: usize, component: u64, index: usize, value: &[u8]) -> Result<()> {
        let out_of_range = Error::Unsupported {
            what: "no such vector register in the XSAVE area",
        };
        let range = Self::range(base, index).ok_or(out_of_range.clone())?;
        let all = base..base.saturating_add(VECTOR_REGS * HALF);
        let bv = self.xstate_bv();
        if bv & component == 0 {
            // The component's bytes are stale: its registers are all zero until the bit is set.
            self.0.get_mut(all).ok_or(out_of_range.clone())?.fill(0);
        }
        self.0
            .get_mut(range)
            .ok_or(out_of_range.clone())?
            .copy_from_slice(value);
        let header = self
            .0
            .get_mut(XSTATE_BV..XSTATE_BV.saturating_add(8))
            .ok_or(out_of_range)?;
        header.copy_from_slice(&(bv | component).to_ne_bytes());
        Ok(())
    }

    fn range(base: usize, index: usize) -> Option<core::ops::Range<usize>> {
        if index >= VECTOR_REGS {
            return None;
        }
        let start = base.checked_add(index.checked_mul(HALF)?)?;
        Some(start..start.checked_add(HALF)?)
    }
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    const LEN: usize = 832;

    /// An area as the kernel saves it: stale bytes everywhere, XSTATE_BV as given.
    fn area(bv: u64) -> XsaveArea {
        let mut bytes = vec![0xee_u8; LEN];
        let header = bytes.get_mut(XSTATE_BV..576).expect("in the area");
        header.fill(0);
        header
            .get_mut(..8)
            .expect("XSTATE_BV")
            .copy_from_slice(&bv.to_ne_bytes());
        XsaveArea::from_bytes(bytes)
    }

    fn pattern(first: u8) -> [u8; 32] {
        core::array::from_fn(|i| first.wrapping_add(i as u8))
    }

    /// Verifies that a component whose XSTATE_BV bit is clear reads as zeros.
    #[test]
    fn clear_bits_read_as_zero() {
        let none = area(0);
        assert_eq!(none.ymm(3), Some([0; 32]));
        assert_eq!(none.xmm(3), Some([0; 16]));
        let sse_only = area(STATE_SSE);
        let ymm = sse_only.ymm(3).expect("avx area");
        assert_eq!(ymm[..16], [0xee; 16]);
        assert_eq!(ymm[16..], [0; 16]);
        let both = area(STATE_SSE | STATE_AVX);
        assert_eq!(both.ymm(15), Some([0xee; 32]));
        assert_eq!(both.ymm(16), None);
    }

    /// Verifies that setting a ymm register stores both halves, sets the SSE and AVX bits and
    /// zeroes the other registers of a component that was in its initial state.
    #[test]
    fn set_ymm_sets_bits_and_keeps_others_zero() {
        let mut xsave = area(0x1);
        xsave.set_ymm(2, pattern(0x10)).expect("set");
        assert_eq!(xsave.ymm(2), Some(pattern(0x10)));
        assert_eq!(xsave.xstate_bv(), 0x1 | STATE_SSE | STATE_AVX);
        assert_eq!(xsave.ymm(1), Some([0; 32]), "stale bytes cleared");
        let bytes = xsave.as_bytes();
        let value = pattern(0x10);
        let (low, high) = value.split_at(16);
        assert_eq!(bytes.get(XMM + 32..XMM + 48), Some(low));
        assert_eq!(bytes.get(YMM_HI + 32..YMM_HI + 48), Some(high));
        assert!(xsave.set_ymm(16, [0; 32]).is_err());
    }

    /// Verifies that setting xmm keeps the upper half, and an area without AVX has no ymm.
    #[test]
    fn xmm_keeps_upper_half_and_no_avx_no_ymm() {
        let mut xsave = area(STATE_SSE | STATE_AVX);
        xsave.set_xmm(0, [1; 16]).expect("set");
        let ymm = xsave.ymm(0).expect("avx");
        assert_eq!(
            (ymm[..16].to_vec(), ymm[16..].to_vec()),
            (vec![1; 16], vec![0xee; 16])
        );
        let mut small = area(STATE_SSE).as_bytes().to_vec();
        small.truncate(576);
        let mut small = XsaveArea::from_bytes(small);
        assert_eq!(small.ymm(0), None);
        assert!(small.set_ymm(0, [0; 32]).is_err());
        assert_eq!(small.xmm(0), Some([0xee; 16]));
    }
}
