//! Our register sets (`regs/int`, `regs/float`, the `xsave` area) as gdb's x86_64 core, SSE
//! and AVX registers ([`crate::arch`]).
//!
//! gdb numbers the general registers rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8..r15; the
//! kernel's `IntRegisters` is laid out as it pushes them, so each is mapped by name.
//! Registers the kernel does not expose (ds, es, fs, gs selectors, fiseg, foseg) read as 0
//! and writes to them are dropped.
//!
//! With an XSAVE area that has the AVX component, xmm`n` and the upper half of ymm`n` come from
//! it (`XsaveArea` honours XSTATE_BV: a component in its initial state reads as zeros, where the
//! FXSAVE image of `regs/float` may hold stale bytes), and go back to it.

use gdbstub::arch::Registers;
use gdbstub_arch::x86::reg::{id::X86_64CoreRegId, X86_64CoreRegs, F80};
use redox_ptrace::regs::XsaveArea;
use syscall::{FloatRegisters, IntRegisters};

use crate::arch::{AvxRegId, AvxRegs, CORE_SIZE, YMM_REGS};

/// Mutable references to the general registers in gdb's order.
fn gprs(int: &mut IntRegisters) -> [&mut usize; 16] {
    [
        &mut int.rax,
        &mut int.rbx,
        &mut int.rcx,
        &mut int.rdx,
        &mut int.rsi,
        &mut int.rdi,
        &mut int.rbp,
        &mut int.rsp,
        &mut int.r8,
        &mut int.r9,
        &mut int.r10,
        &mut int.r11,
        &mut int.r12,
        &mut int.r13,
        &mut int.r14,
        &mut int.r15,
    ]
}

/// gdb's view of the tracee's registers; the ymm upper halves are unavailable without an XSAVE
/// area with AVX.
pub fn to_gdb(int: &IntRegisters, float: &FloatRegisters, xsave: Option<&XsaveArea>) -> AvxRegs {
    let mut core = core_to_gdb(int, float);
    let ymm: Option<Vec<[u8; 32]>> =
        xsave.and_then(|area| (0..YMM_REGS).map(|n| area.ymm(n)).collect());
    let Some(ymm) = ymm else {
        // No XSAVE, or no AVX in it: the FXSAVE image's xmm, no upper halves.
        return AvxRegs { core, ymm_hi: None };
    };
    let mut ymm_hi = [[0_u8; 16]; YMM_REGS];
    for ((xmm, high), value) in core.xmm.iter_mut().zip(&mut ymm_hi).zip(&ymm) {
        let (low, upper) = value.split_at(16);
        *xmm = u128::from_le_bytes(low.try_into().unwrap_or_default());
        high.copy_from_slice(upper);
    }
    AvxRegs {
        core,
        ymm_hi: Some(ymm_hi),
    }
}

/// Puts gdb's ymm registers (xmm`n` low, the upper half high) into `xsave`; whether any
/// changed. Nothing to do when gdb has no upper halves (the tracee has no AVX).
pub fn apply_ymm(regs: &AvxRegs, xsave: &mut XsaveArea) -> Result<bool, redox_ptrace::Error> {
    let Some(ymm_hi) = &regs.ymm_hi else {
        return Ok(false);
    };
    let mut changed = false;
    for (n, (xmm, high)) in regs.core.xmm.iter().zip(ymm_hi).enumerate() {
        let mut ymm = [0_u8; 32];
        let (low, upper) = ymm.split_at_mut(16);
        low.copy_from_slice(&xmm.to_le_bytes());
        upper.copy_from_slice(high);
        if xsave.ymm(n) != Some(ymm) {
            xsave.set_ymm(n, ymm)?;
            changed = true;
        }
    }
    Ok(changed)
}

/// gdb's core + SSE registers from the FXSAVE image.
fn core_to_gdb(int: &IntRegisters, float: &FloatRegisters) -> X86_64CoreRegs {
    let mut int = *int;
    let mut regs = X86_64CoreRegs::default();
    for (slot, value) in regs.regs.iter_mut().zip(gprs(&mut int)) {
        *slot = *value as u64;
    }
    regs.rip = int.rip as u64;
    // RFLAGS above bit 31 is reserved (zero).
    regs.eflags = int.rflags as u32;
    regs.segments.cs = int.cs as u32;
    regs.segments.ss = int.ss as u32;
    let st_space = float.st_space;
    for (st, raw) in regs.st.iter_mut().zip(st_space) {
        let bytes = raw.to_le_bytes();
        let mut f80: F80 = [0; 10];
        f80.copy_from_slice(bytes.get(..10).unwrap_or(&[0; 10]));
        *st = f80;
    }
    regs.fpu.fctrl = u32::from(float.fcw);
    regs.fpu.fstat = u32::from(float.fsw);
    // FXSAVE keeps the abridged tag (one bit per register, 1 = valid); gdb wants the full
    // x87 tag word (two bits per register, 0b11 = empty). Valid registers are shown as 0b00.
    regs.fpu.ftag = abridged_to_full_tag(float.ftw);
    regs.fpu.fioff = float.fip as u32;
    regs.fpu.fooff = float.fdp as u32;
    regs.fpu.fop = u32::from(float.fop);
    regs.xmm = float.xmm_space;
    regs.mxcsr = float.mxcsr;
    regs
}

/// Applies gdb's core + SSE registers to the sets read from the tracee (what gdb cannot express
/// stays); the ymm registers go with [`apply_ymm`].
pub fn from_gdb(regs: &AvxRegs, int: &mut IntRegisters, float: &mut FloatRegisters) {
    let regs = &regs.core;
    for (value, slot) in regs.regs.iter().zip(gprs(int)) {
        *slot = *value as usize;
    }
    int.rip = regs.rip as usize;
    // Keep the reserved upper half the kernel gave us; the kernel refuses changes to bits
    // a tracer may not touch (docs/abi.md), which then shows up as a failed write.
    int.rflags = (int.rflags & !0xffff_ffff) | regs.eflags as usize;
    int.cs = regs.segments.cs as usize;
    int.ss = regs.segments.ss as usize;
    let mut st_space = float.st_space;
    for (raw, st) in st_space.iter_mut().zip(regs.st) {
        let mut bytes = raw.to_le_bytes();
        if let Some(low) = bytes.get_mut(..10) {
            low.copy_from_slice(&st);
        }
        *raw = u128::from_le_bytes(bytes);
    }
    float.st_space = st_space;
    float.fcw = regs.fpu.fctrl as u16;
    float.fsw = regs.fpu.fstat as u16;
    float.ftw = full_to_abridged_tag(regs.fpu.ftag);
    float.fip = u64::from(regs.fpu.fioff);
    float.fdp = u64::from(regs.fpu.fooff);
    float.fop = regs.fpu.fop as u16;
    float.xmm_space = regs.xmm;
    float.mxcsr = regs.mxcsr;
}

fn abridged_to_full_tag(abridged: u8) -> u32 {
    (0..8).fold(0, |full, i| {
        let empty = abridged & (1 << i) == 0;
        full | if empty { 0b11 << (2 * i) } else { 0 }
    })
}

fn full_to_abridged_tag(full: u32) -> u8 {
    (0..8).fold(0, |abridged, i| {
        let empty = (full >> (2 * i)) & 0b11 == 0b11;
        abridged | if empty { 0 } else { 1 << i }
    })
}

/// Where register `id` sits in the `g` packet's byte image, and its size.
pub fn g_range(id: AvxRegId) -> Option<core::ops::Range<usize>> {
    use gdbstub_arch::x86::reg::id::{X86SegmentRegId as Seg, X87FpuInternalRegId as Fpu};
    let id = match id {
        AvxRegId::Core(id) => id,
        AvxRegId::YmmHi(n @ 0..=15) => {
            let start = CORE_SIZE + usize::from(n) * 16;
            return Some(start..start + 16);
        }
        AvxRegId::YmmHi(_) => return None,
    };
    let (start, len) = match id {
        X86_64CoreRegId::Gpr(n @ 0..=15) => (usize::from(n) * 8, 8),
        X86_64CoreRegId::Rip => (128, 8),
        X86_64CoreRegId::Eflags => (136, 4),
        X86_64CoreRegId::Segment(seg) => {
            let n = match seg {
                Seg::CS => 0,
                Seg::SS => 1,
                Seg::DS => 2,
                Seg::ES => 3,
                Seg::FS => 4,
                Seg::GS => 5,
            };
            (140 + n * 4, 4)
        }
        X86_64CoreRegId::St(n @ 0..=7) => (164 + usize::from(n) * 10, 10),
        X86_64CoreRegId::Fpu(fpu) => {
            let n = match fpu {
                Fpu::Fctrl => 0,
                Fpu::Fstat => 1,
                Fpu::Ftag => 2,
                Fpu::Fiseg => 3,
                Fpu::Fioff => 4,
                Fpu::Foseg => 5,
                Fpu::Fooff => 6,
                Fpu::Fop => 7,
            };
            (244 + n * 4, 4)
        }
        X86_64CoreRegId::Xmm(n @ 0..=15) => (276 + usize::from(n) * 16, 16),
        X86_64CoreRegId::Mxcsr => (532, 4),
        _ => return None,
    };
    Some(start..start + len)
}

/// The `g` packet's byte image of `regs` (unavailable bytes as 0).
pub fn g_image(regs: &AvxRegs) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(crate::arch::G_SIZE);
    regs.gdb_serialize(|byte| bytes.push(byte.unwrap_or(0)));
    bytes
}

#[cfg(test)]
mod tests {
    // The standard-format XSAVE area (docs/abi.md): xmm at 160, XSTATE_BV at 512, the upper
    // halves of ymm at 576, 832 bytes with AVX.
    use redox_ptrace::regs::xsave_layout::{STATE_AVX, STATE_SSE, XMM, XSTATE_BV, YMM_HI};

    use super::*;

    fn sample() -> (IntRegisters, FloatRegisters) {
        let int = IntRegisters {
            rax: 1,
            rbx: 2,
            rcx: 3,
            rdx: 4,
            rsi: 5,
            rdi: 6,
            rbp: 7,
            rsp: 8,
            r8: 9,
            r9: 10,
            r10: 11,
            r11: 12,
            r12: 13,
            r13: 14,
            r14: 15,
            r15: 16,
            rip: 0x40_1000,
            rflags: 0x246,
            cs: 0x2b,
            ss: 0x23,
        };
        let mut xmm_space = [0; 16];
        xmm_space[3] = 0x1122_3344;
        let mut st_space = [0; 8];
        st_space[0] = 0x4000_8000_0000_0000_0000; // 2.0 as an 80-bit float
        let float = FloatRegisters {
            mxcsr: 0x1f80,
            fcw: 0x37f,
            ftw: 0b0000_0001,
            xmm_space,
            st_space,
            ..FloatRegisters::default()
        };
        (int, float)
    }

    /// Verifies that gdb's register numbers land on the kernel's fields of the same name.
    #[test]
    fn gprs_map_by_name() {
        let (int, float) = sample();
        let regs = to_gdb(&int, &float, None).core;
        // rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8.. in gdb's order.
        assert_eq!(
            regs.regs,
            [1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]
        );
        assert_eq!((regs.rip, regs.eflags), (0x40_1000, 0x246));
        assert_eq!((regs.segments.cs, regs.segments.ss), (0x2b, 0x23));
        assert_eq!(regs.xmm[3], 0x1122_3344);
        assert_eq!(regs.mxcsr, 0x1f80);
    }

    /// Verifies that reading and writing back unchanged gives the same sets (a `G` after a
    /// `g` changes nothing).
    #[test]
    fn round_trip_is_identity() {
        let (int, float) = sample();
        let regs = to_gdb(&int, &float, None);
        let (mut int2, mut float2) = (int, float);
        int2.rax = 99;
        float2.mxcsr = 0;
        from_gdb(&regs, &mut int2, &mut float2);
        assert_eq!(&*int2, &*int);
        assert_eq!(&*float2, &*float);
    }

    /// Verifies that the tag word conversion keeps which x87 registers are empty.
    #[test]
    fn tag_words_convert_both_ways() {
        assert_eq!(abridged_to_full_tag(0), 0xffff);
        assert_eq!(abridged_to_full_tag(0b1), 0xfffc);
        assert_eq!(full_to_abridged_tag(0xfffc), 0b1);
        assert_eq!(full_to_abridged_tag(0xffff), 0);
    }

    /// Verifies that each single register's range matches where `g` serializes it.
    #[test]
    fn single_register_ranges_match_g_packet() {
        let (int, float) = sample();
        let image = g_image(&to_gdb(
            &int,
            &float,
            Some(&xsave_area(STATE_SSE | STATE_AVX)),
        ));
        assert_eq!(image.len(), crate::arch::G_SIZE);
        let at = |id| {
            image
                .get(g_range(id).expect("known register"))
                .expect("in range")
                .to_vec()
        };
        let core = AvxRegId::Core;
        assert_eq!(at(core(X86_64CoreRegId::Gpr(1))), 2u64.to_le_bytes());
        assert_eq!(at(core(X86_64CoreRegId::Rip)), 0x40_1000u64.to_le_bytes());
        assert_eq!(at(core(X86_64CoreRegId::Eflags)), 0x246u32.to_le_bytes());
        assert_eq!(at(core(X86_64CoreRegId::Xmm(3))), ymm(3)[..16]);
        assert_eq!(at(core(X86_64CoreRegId::Mxcsr)), 0x1f80u32.to_le_bytes());
        let st0 = at(core(X86_64CoreRegId::St(0)));
        assert_eq!(st0.get(8..), Some(&[0x00, 0x40][..]));
        assert_eq!(at(AvxRegId::YmmHi(3)), ymm(3)[16..]);
        assert_eq!(at(AvxRegId::YmmHi(15)), ymm(15)[16..]);
        assert_eq!(g_range(AvxRegId::YmmHi(16)), None);
    }

    /// ymm`n` of [`xsave_area`]: bytes 32n, 32n+1, ...
    fn ymm(n: usize) -> [u8; 32] {
        core::array::from_fn(|i| (n * 32 + i) as u8)
    }

    /// An area holding [`ymm`] in every register, with XSTATE_BV = `bv`.
    fn xsave_area(bv: u64) -> XsaveArea {
        let mut bytes = vec![0_u8; 832];
        for n in 0..YMM_REGS {
            let value = ymm(n);
            bytes[XMM + 16 * n..XMM + 16 * (n + 1)].copy_from_slice(&value[..16]);
            bytes[YMM_HI + 16 * n..YMM_HI + 16 * (n + 1)].copy_from_slice(&value[16..]);
        }
        bytes[XSTATE_BV..XSTATE_BV + 8].copy_from_slice(&bv.to_ne_bytes());
        XsaveArea::from_bytes(bytes)
    }

    /// Verifies that with AVX, xmm and the upper halves come from the XSAVE area (not the
    /// FXSAVE image), that a component in its initial state reads as zeros, and that without
    /// an area or without AVX in it the upper halves are unavailable and xmm is the FXSAVE's.
    #[test]
    fn ymm_comes_from_the_xsave_area() {
        let (int, float) = sample();
        let regs = to_gdb(&int, &float, Some(&xsave_area(STATE_SSE | STATE_AVX)));
        let ymm_hi = regs.ymm_hi.expect("avx");
        for (n, (xmm, high)) in regs.core.xmm.iter().zip(ymm_hi).enumerate() {
            assert_eq!(xmm.to_le_bytes(), ymm(n)[..16]);
            assert_eq!(high, ymm(n)[16..]);
        }
        // The AVX component in its initial state: the upper halves are zero, xmm as saved.
        let regs = to_gdb(&int, &float, Some(&xsave_area(STATE_SSE)));
        assert_eq!(regs.ymm_hi, Some([[0; 16]; YMM_REGS]));
        assert_eq!(regs.core.xmm[1].to_le_bytes(), ymm(1)[..16]);
        // No XSAVE: the FXSAVE image's xmm, no upper halves.
        let regs = to_gdb(&int, &float, None);
        assert_eq!((regs.ymm_hi, regs.core.xmm), (None, float.xmm_space));
        // XSAVE without AVX (an area of the legacy region and the header only).
        let mut small = xsave_area(STATE_SSE).as_bytes().to_vec();
        small.truncate(576);
        let regs = to_gdb(&int, &float, Some(&XsaveArea::from_bytes(small)));
        assert_eq!((regs.ymm_hi, regs.core.xmm), (None, float.xmm_space));
    }

    /// Verifies that gdb's ymm registers go back into the area: an unchanged set changes
    /// nothing, a changed lane of ymm7's upper half is stored with the AVX bit set, and gdb's
    /// xmm (the low halves) are stored too.
    #[test]
    fn apply_ymm_writes_changed_registers() {
        let (int, float) = sample();
        let mut area = xsave_area(STATE_SSE | STATE_AVX);
        let mut regs = to_gdb(&int, &float, Some(&area));
        assert_eq!(apply_ymm(&regs, &mut area).ok(), Some(false));
        assert_eq!(area, xsave_area(STATE_SSE | STATE_AVX));

        // AVX in its initial state: gdb sees zeros and sets a lane of ymm7's upper half.
        let mut area = xsave_area(STATE_SSE);
        regs = to_gdb(&int, &float, Some(&area));
        let ymm_hi = regs.ymm_hi.as_mut().expect("avx");
        ymm_hi[7][12..].copy_from_slice(&0x1234_5678u32.to_le_bytes());
        regs.core.xmm[0] = 0xfeed;
        assert_eq!(apply_ymm(&regs, &mut area).ok(), Some(true));
        let bv = area.as_bytes().get(XSTATE_BV..XSTATE_BV + 8);
        assert_eq!(bv, Some(&(STATE_SSE | STATE_AVX).to_ne_bytes()[..]));
        let ymm7 = area.ymm(7).expect("avx");
        assert_eq!(ymm7[..16], ymm(7)[..16]);
        assert_eq!(ymm7[16..28], [0; 12]);
        assert_eq!(ymm7[28..], 0x1234_5678u32.to_le_bytes());
        assert_eq!(area.ymm(0).expect("avx")[..16], 0xfeed_u128.to_le_bytes());
        assert_eq!(area.ymm(1).expect("avx")[16..], [0; 16], "others stay zero");

        // No upper halves (no AVX): nothing to do.
        regs.ymm_hi = None;
        assert_eq!(apply_ymm(&regs, &mut area).ok(), Some(false));
    }
}
