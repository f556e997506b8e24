//! What a tracer may change in a stopped tracee's integer registers (x86_64).

use syscall::{
    error::{Error, Result, EINVAL, EPERM},
    FloatRegisters, IntRegisters,
};

/// RFLAGS bits userspace owns: CF, PF, AF, ZF, SF, TF, DF and OF. Everything else (IF, IOPL,
/// NT, RF, VM, AC, ID...) is the kernel's.
pub const USER_RFLAGS: usize = 0xDD5;

/// The first address past user space (the lower canonical half; the kernel's
/// `USER_END_OFFSET`).
pub const USER_END: usize = 0x0000_8000_0000_0000;

/// Checks a `regs/int` write against the registers the context has now.
///
/// Changing CS or SS, or any RFLAGS bit outside [`USER_RFLAGS`], is refused with `EPERM`
/// rather than silently masked, so a tracer learns its write did not take effect. A `rip` at or
/// past [`USER_END`] is `EINVAL`: `sysretq` to a non-canonical address faults in ring 0 on
/// Intel CPUs after `swapgs` (CVE-2012-0217), and a kernel address is never a user `rip`.
/// Writing back what was read always passes.
pub fn check_write(current: &IntRegisters, new: &IntRegisters) -> Result<()> {
    let kernel_bits_changed = (current.rflags ^ new.rflags) & !USER_RFLAGS != 0;
    if new.cs != current.cs || new.ss != current.ss || kernel_bits_changed {
        return Err(Error::new(EPERM));
    }
    if new.rip >= USER_END {
        return Err(Error::new(EINVAL));
    }
    Ok(())
}

/// MXCSR bits a CPU supports when `fxsave` stores a zero `MXCSR_MASK` (Intel SDM 11.6.6).
pub const DEFAULT_MXCSR_MASK: u32 = 0xFFBF;

/// Checks an MXCSR a tracer writes against the CPU's `MXCSR_MASK` (as `fxsave` stores it; 0
/// means [`DEFAULT_MXCSR_MASK`]). A reserved bit would make `fxrstor`/`xrstor` raise #GP in
/// ring 0 when the context resumes, so it is `EINVAL` (as on Linux). The mask must be the
/// CPU's own, never one read from a saved area: a tracer writes those.
pub fn check_mxcsr(mxcsr_mask: u32, mxcsr: u32) -> Result<()> {
    let mask = match mxcsr_mask {
        0 => DEFAULT_MXCSR_MASK,
        mask => mask,
    };
    if mxcsr & !mask != 0 {
        return Err(Error::new(EINVAL));
    }
    Ok(())
}

/// Checks a `regs/float` write, `new`, against the CPU's `mxcsr_mask` ([`check_mxcsr`]), and
/// returns what to store: `new` with the `MXCSR_MASK` of `current`, the saved registers (the
/// field describes the CPU, so a tracer's value is ignored).
pub fn float_write(
    current: &FloatRegisters,
    new: FloatRegisters,
    mxcsr_mask: u32,
) -> Result<FloatRegisters> {
    check_mxcsr(mxcsr_mask, new.mxcsr)?;
    Ok(FloatRegisters {
        mxcsr_mask: current.mxcsr_mask,
        ..new
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_regs() -> IntRegisters {
        IntRegisters {
            cs: 0x2b,
            ss: 0x23,
            rflags: 0x202,
            rax: 1,
            ..IntRegisters::default()
        }
    }

    /// Verifies that writing back the registers just read is allowed.
    #[test]
    fn unchanged_registers_pass() {
        assert_eq!(check_write(&user_regs(), &user_regs()), Ok(()));
    }

    /// Verifies that general registers and user flags (TF, CF, DF) may change.
    #[test]
    fn user_state_may_change() {
        let new = IntRegisters {
            rax: 42,
            rip: 0x1234,
            rflags: 0x202 | 0x100 | 0x1 | 0x400,
            ..user_regs()
        };
        assert_eq!(check_write(&user_regs(), &new), Ok(()));
    }

    /// Verifies that CS and SS changes are refused with EPERM.
    #[test]
    fn segment_changes_are_refused() {
        let cs = IntRegisters {
            cs: 0x08,
            ..user_regs()
        };
        let ss = IntRegisters {
            ss: 0x10,
            ..user_regs()
        };
        assert_eq!(check_write(&user_regs(), &cs), Err(Error::new(EPERM)));
        assert_eq!(check_write(&user_regs(), &ss), Err(Error::new(EPERM)));
    }

    /// Verifies that a `rip` outside user space is EINVAL: non-canonical, or a kernel address.
    #[test]
    fn rip_outside_user_space_is_refused() {
        for rip in [
            USER_END,
            0x8000_0000_0000_0000,
            0xFFFF_8000_0000_0000,
            usize::MAX,
        ] {
            let new = IntRegisters { rip, ..user_regs() };
            assert_eq!(check_write(&user_regs(), &new), Err(Error::new(EINVAL)));
        }
        let last = IntRegisters {
            rip: USER_END - 1,
            ..user_regs()
        };
        assert_eq!(check_write(&user_regs(), &last), Ok(()));
    }

    /// Verifies that MXCSR bits outside the CPU's mask are EINVAL and the default mask (no DAZ)
    /// applies when the saved mask is zero.
    #[test]
    fn mxcsr_reserved_bits_are_refused() {
        assert_eq!(check_mxcsr(0xFFFF, 0x1F80), Ok(()));
        assert_eq!(check_mxcsr(0xFFFF, 0x1FC0), Ok(()));
        assert_eq!(check_mxcsr(0xFFFF, 0x1_1F80), Err(Error::new(EINVAL)));
        assert_eq!(check_mxcsr(0xFFFF, 0x8000_1F80), Err(Error::new(EINVAL)));
        assert_eq!(check_mxcsr(0, 0x1FC0), Err(Error::new(EINVAL)));
        assert_eq!(check_mxcsr(0, 0x1F80), Ok(()));
    }

    /// Verifies that a float write is checked against the CPU's mask, not the mask it carries,
    /// and that the saved mask is kept.
    #[test]
    fn float_write_ignores_the_written_mask() {
        // FloatRegisters has no PartialEq: compare the MXCSR fields.
        let fields = |regs: Result<FloatRegisters>| regs.map(|regs| (regs.mxcsr, regs.mxcsr_mask));
        let current = FloatRegisters {
            mxcsr: 0x1F80,
            mxcsr_mask: 0xFFFF,
            ..FloatRegisters::default()
        };
        let widened = FloatRegisters {
            mxcsr_mask: u32::MAX,
            ..current
        };
        assert_eq!(
            fields(float_write(&current, widened, 0xFFFF)),
            Ok((0x1F80, 0xFFFF))
        );
        let reserved = FloatRegisters {
            mxcsr: 0x8000_1F80,
            ..widened
        };
        assert_eq!(
            fields(float_write(&current, reserved, 0xFFFF)),
            Err(Error::new(EINVAL))
        );
        let daz = FloatRegisters {
            mxcsr: 0x1FC0,
            ..widened
        };
        assert_eq!(
            fields(float_write(&current, daz, 0xFFFF)),
            Ok((0x1FC0, 0xFFFF))
        );
    }

    /// Verifies that IOPL, IF and AC are the kernel's and cannot be changed.
    #[test]
    fn privileged_flags_are_refused() {
        for bit in [0x3000, 0x200, 0x4_0000] {
            let new = IntRegisters {
                rflags: user_regs().rflags ^ bit,
                ..user_regs()
            };
            assert_eq!(check_write(&user_regs(), &new), Err(Error::new(EPERM)));
        }
    }
}
