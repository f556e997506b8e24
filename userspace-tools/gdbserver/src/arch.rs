//! gdb's x86_64 register file with AVX: gdbstub_arch's core + SSE registers (`X86_64_SSE`,
//! reused as they are) followed by the upper halves of ymm0..ymm15 (gdb's
//! `org.gnu.gdb.i386.avx` feature, `ymm0h`..`ymm15h`), from which gdb composes `$ymm0`..`$ymm15`.
//!
//! gdbstub_arch's `X86_64_SSE` names no registers in its target description, so gdb falls back
//! on its built-in SSE layout; a feature beyond it needs the registers spelled out, hence
//! `amd64-avx.xml` (gdb's 64bit-core, 64bit-sse and 64bit-avx features, in `g` packet order).
//! There is no `org.gnu.gdb.i386.linux` feature: the tracee is no Linux process and has no
//! `orig_rax`.

use core::num::NonZeroUsize;

use gdbstub::arch::{Arch, RegId, Registers};
use gdbstub_arch::x86::reg::{id::X86_64CoreRegId, X86_64CoreRegs};

/// Bytes of the core + SSE registers in the `g` packet (what `X86_64CoreRegs` serializes).
pub const CORE_SIZE: usize = 0x218;
/// gdb's register number of `ymm0h` (after the 57 core + SSE registers).
const YMM0H: usize = 57;
/// Vector registers in 64-bit mode.
pub use redox_ptrace::regs::VECTOR_REGS as YMM_REGS;
/// Bytes of the `g` packet: core + SSE, then the 16 upper halves.
pub const G_SIZE: usize = CORE_SIZE + YMM_REGS * 16;

/// x86_64 + SSE + AVX, with the target description gdb needs to see the ymm registers.
#[allow(non_camel_case_types)]
pub enum X86_64_AVX {}

impl Arch for X86_64_AVX {
    type Usize = u64;
    type Registers = AvxRegs;
    type RegId = AvxRegId;
    type BreakpointKind = usize;

    fn target_description_xml() -> Option<&'static str> {
        Some(include_str!("amd64-avx.xml"))
    }
}

/// The register file gdb reads with `g` and writes with `G`.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct AvxRegs {
    pub core: X86_64CoreRegs,
    /// The upper halves of ymm0..ymm15 (little-endian bytes), `None` when the tracee's CPU has
    /// no AVX state to give (no XSAVE): gdb then shows them `<unavailable>`.
    pub ymm_hi: Option<[[u8; 16]; YMM_REGS]>,
}

impl Registers for AvxRegs {
    type ProgramCounter = u64;

    fn pc(&self) -> u64 {
        self.core.rip
    }

    fn gdb_serialize(&self, mut write_byte: impl FnMut(Option<u8>)) {
        self.core.gdb_serialize(&mut write_byte);
        match &self.ymm_hi {
            Some(halves) => halves.iter().flatten().for_each(|&b| write_byte(Some(b))),
            // "xx" per byte: unavailable.
            None => (0..YMM_REGS * 16).for_each(|_| write_byte(None)),
        }
    }

    fn gdb_deserialize(&mut self, bytes: &[u8]) -> Result<(), ()> {
        if bytes.len() != G_SIZE {
            return Err(());
        }
        let (core, upper) = bytes.split_at(CORE_SIZE);
        self.core.gdb_deserialize(core)?;
        let mut halves = [[0_u8; 16]; YMM_REGS];
        for (half, chunk) in halves.iter_mut().zip(upper.chunks_exact(16)) {
            half.copy_from_slice(chunk);
        }
        self.ymm_hi = Some(halves);
        Ok(())
    }
}

/// A register by gdb's number: 0..=56 as in `X86_64_SSE`, then `ymm0h`..`ymm15h`.
#[derive(Clone, Copy, Debug)]
pub enum AvxRegId {
    Core(X86_64CoreRegId),
    /// The upper half of ymm`n`.
    YmmHi(u8),
}

impl RegId for AvxRegId {
    fn from_raw_id(id: usize) -> Option<(Self, Option<NonZeroUsize>)> {
        match id.checked_sub(YMM0H) {
            None => X86_64CoreRegId::from_raw_id(id).map(|(core, size)| (Self::Core(core), size)),
            Some(n) if n < YMM_REGS => Some((Self::YmmHi(n as u8), NonZeroUsize::new(16))),
            Some(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn image(regs: &AvxRegs) -> Vec<Option<u8>> {
        let mut bytes = Vec::new();
        regs.gdb_serialize(|b| bytes.push(b));
        bytes
    }

    fn sample() -> AvxRegs {
        let mut regs = AvxRegs::default();
        regs.core.rip = 0x40_1000;
        regs.core.xmm[2] = 0x0f0e_0d0c_0b0a_0908_0706_0504_0302_0100;
        regs.core.mxcsr = 0x1f80;
        let mut halves = [[0; 16]; YMM_REGS];
        halves[2] = core::array::from_fn(|i| 0x10 + i as u8);
        halves[15] = [0xab; 16];
        regs.ymm_hi = Some(halves);
        regs
    }

    /// Verifies that the upper halves follow the core + SSE image, ymm`n`h at
    /// CORE_SIZE + 16n, and that deserializing the image gives the registers back.
    #[test]
    fn upper_halves_follow_the_core_and_round_trip() {
        let regs = sample();
        let bytes: Vec<u8> = image(&regs)
            .into_iter()
            .map(|b| b.expect("all known"))
            .collect();
        assert_eq!(bytes.len(), G_SIZE);
        let ymm2h = CORE_SIZE + 2 * 16;
        let expected: Vec<u8> = (0x10..0x20).collect();
        assert_eq!(bytes.get(ymm2h..ymm2h + 16), Some(&expected[..]));
        assert_eq!(bytes.get(G_SIZE - 16..), Some(&[0xab; 16][..]));
        // xmm2 (the low half of ymm2) stays where X86_64_SSE puts it.
        assert_eq!(bytes.get(0x114 + 2 * 16), Some(&0x00));
        let mut back = AvxRegs::default();
        assert_eq!(back.gdb_deserialize(&bytes), Ok(()));
        assert_eq!(back, regs);
        assert_eq!(back.gdb_deserialize(&bytes[..CORE_SIZE]), Err(()));
    }

    /// Verifies that without AVX state the upper halves are sent as unavailable bytes and the
    /// core registers as before.
    #[test]
    fn no_avx_sends_unavailable_upper_halves() {
        let regs = AvxRegs {
            ymm_hi: None,
            ..sample()
        };
        let bytes = image(&regs);
        assert_eq!(bytes.len(), G_SIZE);
        assert!(bytes
            .get(..CORE_SIZE)
            .expect("core")
            .iter()
            .all(Option::is_some));
        assert!(bytes
            .get(CORE_SIZE..)
            .expect("upper")
            .iter()
            .all(Option::is_none));
    }

    /// Verifies that gdb's register numbers 0..=56 are X86_64_SSE's, 57..=72 the upper
    /// halves, and that the sizes add up to the `g` packet.
    #[test]
    fn register_numbers_match_the_description() {
        let id = |n| AvxRegId::from_raw_id(n).map(|(id, _)| id);
        assert!(matches!(id(16), Some(AvxRegId::Core(X86_64CoreRegId::Rip))));
        assert!(matches!(
            id(56),
            Some(AvxRegId::Core(X86_64CoreRegId::Mxcsr))
        ));
        assert!(matches!(id(57), Some(AvxRegId::YmmHi(0))));
        assert!(matches!(id(72), Some(AvxRegId::YmmHi(15))));
        assert!(AvxRegId::from_raw_id(73).is_none());
        let total: usize = (0..)
            .map_while(AvxRegId::from_raw_id)
            .map(|(_, size)| size.map_or(0, NonZeroUsize::get))
            .sum();
        assert_eq!(total, G_SIZE);
    }

    /// Verifies that the target description lists the registers in `g` packet order: the 57
    /// core + SSE registers, then ymm0h..ymm15h, each as wide as its bytes in the packet.
    #[test]
    fn description_lists_registers_in_packet_order() {
        let xml = X86_64_AVX::target_description_xml().expect("a description");
        let regs: Vec<(&str, usize)> = xml
            .split("<reg ")
            .skip(1)
            .map(|reg| {
                let attr = |name: &str| {
                    let start = reg.find(&format!("{name}=\"")).expect(name) + name.len() + 2;
                    let len = reg.get(start..).and_then(|s| s.find('"')).expect("closed");
                    reg.get(start..start + len).expect("value")
                };
                (attr("name"), attr("bitsize").parse().expect("a number"))
            })
            .collect();
        assert_eq!(regs.len(), YMM0H + YMM_REGS);
        assert_eq!(regs.first(), Some(&("rax", 64)));
        assert_eq!(regs.get(16), Some(&("rip", 64)));
        assert_eq!(regs.get(40), Some(&("xmm0", 128)));
        assert_eq!(regs.get(56), Some(&("mxcsr", 32)));
        assert_eq!(regs.get(57), Some(&("ymm0h", 128)));
        assert_eq!(regs.last(), Some(&("ymm15h", 128)));
        for (n, &(name, bits)) in regs.iter().enumerate() {
            let size = AvxRegId::from_raw_id(n).and_then(|(_, size)| size);
            assert_eq!(size.map(NonZeroUsize::get), Some(bits / 8), "{name}");
        }
        assert!(xml.contains(r#"<feature name="org.gnu.gdb.i386.avx">"#));
    }
}
