//! The `xsave` part of a trace handle: the tracee's XSAVE area (`trace_core::xsave`).
//!
//! The kernel saves a switched-out context's extended state into its `kfx` buffer with
//! `xsave`/`xsaveopt` (standard format, every component enabled in XCR0) and restores it with
//! `xrstor`. A tracer reads and writes the first [`area_len`] bytes of that buffer while the
//! tracee is off its CPU.

use alloc::{sync::Arc, vec};

use trace_core::xsave::MXCSR_MASK;

use crate::{
    context::ContextLock,
    scheme::proc::try_stop_context,
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EINVAL, EOPNOTSUPP},
        usercopy::{UserSliceRo, UserSliceWo},
    },
};

/// CR4.OSXSAVE: the kernel enabled XSAVE (the CPU has it).
const CR4_OSXSAVE: usize = 1 << 18;

/// The size of the standard-format area for the components enabled in XCR0, or `EOPNOTSUPP`
/// when the kernel saves contexts with `fxsave` (no XSAVE on this CPU).
pub fn area_len() -> Result<usize> {
    // SAFETY: reading CR4 has no side effect.
    let cr4 = unsafe { x86::controlregs::cr4() }.bits();
    if cr4 & CR4_OSXSAVE == 0 {
        return Err(Error::new(EOPNOTSUPP));
    }
    // Leaf 0xD exists when the CPU supports XSAVE.
    let len = core::arch::x86_64::__cpuid_count(0xD, 0).ebx;
    usize::try_from(len).map_err(|_| Error::new(EOPNOTSUPP))
}

fn xcr0() -> u64 {
    // SAFETY: XSAVE is enabled (checked by `area_len`), so XGETBV is valid.
    unsafe { x86::controlregs::xcr0() }.bits()
}

/// `read`: the whole area into `buf`.
///
/// RETURNS: the area's size; `EINVAL` when `buf` is smaller; `EOPNOTSUPP` without XSAVE.
pub fn read(
    tracee: Arc<ContextLock>,
    buf: UserSliceWo,
    token: &mut CleanLockToken,
) -> Result<usize> {
    let len = area_len()?;
    if buf.len() < len {
        return Err(Error::new(EINVAL));
    }
    let mut area = vec![0_u8; len];
    try_stop_context(tracee, token, |context, _| {
        let saved = context.kfx.get(..len).ok_or(Error::new(EOPNOTSUPP))?;
        area.copy_from_slice(saved);
        Ok(())
    })?;
    buf.copy_common_bytes_from_slice(&area)
}

/// `write`: replaces the whole area but its MXCSR_MASK, once `trace_core::xsave::write`
/// accepts it.
///
/// RETURNS: the area's size; `EINVAL` for a bad size or area; `EOPNOTSUPP` without XSAVE.
pub fn write(
    tracee: Arc<ContextLock>,
    buf: UserSliceRo,
    token: &mut CleanLockToken,
) -> Result<usize> {
    let len = area_len()?;
    if buf.len() != len {
        return Err(Error::new(EINVAL));
    }
    let mut area = vec![0_u8; len];
    buf.copy_to_slice(&mut area)?;
    let (xcr0, mxcsr_mask) = (xcr0(), mxcsr_mask());
    try_stop_context(tracee, token, |context, _| {
        let saved = context.kfx.get_mut(..len).ok_or(Error::new(EOPNOTSUPP))?;
        trace_core::xsave::write(saved, &area, xcr0, mxcsr_mask)
    })?;
    Ok(len)
}

/// The MXCSR bits this CPU supports, as `fxsave` stores them (0: the default mask). Taken from
/// the CPU each time, never from a saved area, which a tracer writes.
pub fn mxcsr_mask() -> u32 {
    #[repr(C, align(16))]
    struct Legacy([u8; 512]);
    let mut legacy = Legacy([0; 512]);
    // SAFETY: fxsave64 only stores this CPU's FPU state into the 512-byte, 16-aligned buffer.
    unsafe {
        core::arch::asm!("fxsave64 [{}]", in(reg) legacy.0.as_mut_ptr(), options(nostack));
    }
    legacy
        .0
        .get(MXCSR_MASK..MXCSR_MASK + 4)
        .and_then(|bytes| bytes.try_into().ok())
        .map_or(0, u32::from_ne_bytes)
}
