//! Our register sets (`regs/int`, `regs/float`) as gdb's x86_64 core + SSE registers.
//!
//! gdb numbers the general registers rax, rbx, rcx, rdx, rsi, rdi, rbp, rsp, r8..r15; the
//! kernel's `IntRegisters` is laid out as it pushes them, so each is mapped by name.
//! Registers the kernel does not expose (ds, es, fs, gs selectors, fiseg, foseg) read as 0
//! and writes to them are dropped.

use gdbstub::arch::Registers;
use gdbstub_arch::x86::reg::{id::X86_64CoreRegId, X86_64CoreRegs, F80};
use syscall::{FloatRegisters, IntRegisters};

/// Size of gdb's `g` packet for x86_64 + SSE: 16 GPRs, rip, eflags, 6 segments, 8 x87
/// registers, 8 x87 control words, 16 xmm, mxcsr.
pub const G_SIZE: usize = 0x218;

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

/// gdb's view of the tracee's registers.
pub fn to_gdb(int: &IntRegisters, float: &FloatRegisters) -> X86_64CoreRegs {
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

/// Applies gdb's registers to the sets read from the tracee (what gdb cannot express stays).
pub fn from_gdb(regs: &X86_64CoreRegs, int: &mut IntRegisters, float: &mut FloatRegisters) {
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
pub fn g_range(id: X86_64CoreRegId) -> Option<core::ops::Range<usize>> {
    use gdbstub_arch::x86::reg::id::{X86SegmentRegId as Seg, X87FpuInternalRegId as Fpu};
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

/// The `g` packet's byte image of `regs`.
pub fn g_image(regs: &X86_64CoreRegs) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(G_SIZE);
    regs.gdb_serialize(|byte| bytes.push(byte.unwrap_or(0)));
    bytes
}

#[cfg(test)]
mod tests {
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
        let regs = to_gdb(&int, &float);
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
        let regs = to_gdb(&int, &float);
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
        let image = g_image(&to_gdb(&int, &float));
        assert_eq!(image.len(), G_SIZE);
        let at = |id| {
            image
                .get(g_range(id).expect("known register"))
                .expect("in range")
                .to_vec()
        };
        assert_eq!(at(X86_64CoreRegId::Gpr(1)), 2u64.to_le_bytes());
        assert_eq!(at(X86_64CoreRegId::Rip), 0x40_1000u64.to_le_bytes());
        assert_eq!(at(X86_64CoreRegId::Eflags), 0x246u32.to_le_bytes());
        assert_eq!(at(X86_64CoreRegId::Xmm(3)), 0x1122_3344u128.to_le_bytes());
        assert_eq!(at(X86_64CoreRegId::Mxcsr), 0x1f80u32.to_le_bytes());
        assert_eq!(at(X86_64CoreRegId::St(0)).get(8..), Some(&[0x00, 0x40][..]));
    }
}
