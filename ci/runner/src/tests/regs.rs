//! Register writes that the CPU would refuse in ring 0 are refused at the write instead.

use core::mem::size_of;

use syscall::{ContextStatus, FloatRegisters, IntRegisters, EINVAL};

use crate::{
    child::{self, Child},
    harness::Failure,
    sys,
};

/// Verifies that a `regs/int` write with a `rip` outside user space (non-canonical, or a kernel
/// address) is EINVAL, without any trace session, and leaves the registers as they were.
pub fn rip_outside_user_space_is_einval() -> Result<(), Failure> {
    let mut child = Child::new(child::exit_at_once, 0)?;
    let handle = child.open("regs/int")?;
    let mut regs = IntRegisters::default();
    check_eq!(sys::read(&handle, &mut regs)?, size_of::<IntRegisters>());
    for rip in [
        0x0000_8000_0000_0000,
        0x8000_0000_0000_0000,
        0xFFFF_8000_0000_0000,
    ] {
        let bad = IntRegisters { rip, ..regs };
        let result = sys::write(&handle, &bad);
        if result.is_ok() {
            // Undo before failing, so that the child never resumes there.
            sys::write(&handle, &regs)?;
        }
        check_errno!(result, EINVAL);
    }
    let mut now = IntRegisters::default();
    sys::read(&handle, &mut now)?;
    check_eq!(now.rip, regs.rip, "rip after the refused writes");
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that a `regs/float` write with MXCSR bits outside the CPU's MXCSR_MASK is EINVAL,
/// while writing back what was read succeeds.
pub fn reserved_mxcsr_bits_are_einval() -> Result<(), Failure> {
    let mut child = Child::new(child::exit_at_once, 0)?;
    let handle = child.open("regs/float")?;
    let mut regs = FloatRegisters::default();
    check_eq!(sys::read(&handle, &mut regs)?, size_of::<FloatRegisters>());
    let bad = FloatRegisters {
        mxcsr: regs.mxcsr | 0x8000_0000,
        ..regs
    };
    let result = sys::write(&handle, &bad);
    if result.is_ok() {
        // Undo before failing: fxrstor of the bad value would fault in ring 0.
        sys::write(&handle, &regs)?;
    }
    check_errno!(result, EINVAL);
    check_eq!(sys::write(&handle, &regs)?, size_of::<FloatRegisters>());
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that the MXCSR_MASK a `regs/float` write carries is ignored: after a write with
/// an all-ones mask, a reserved MXCSR bit is still EINVAL (the check uses the CPU's mask), and
/// the mask reads back as it was.
pub fn written_mxcsr_mask_is_ignored() -> Result<(), Failure> {
    let mut child = Child::new(child::exit_at_once, 0)?;
    let handle = child.open("regs/float")?;
    let mut regs = FloatRegisters::default();
    sys::read(&handle, &mut regs)?;
    let widened = FloatRegisters {
        mxcsr_mask: u32::MAX,
        ..regs
    };
    check_eq!(sys::write(&handle, &widened)?, size_of::<FloatRegisters>());
    let bad = FloatRegisters {
        mxcsr: regs.mxcsr | 0x8000_0000,
        ..widened
    };
    let result = sys::write(&handle, &bad);
    if result.is_ok() {
        // Undo before failing: fxrstor of the bad value would fault in ring 0.
        sys::write(&handle, &regs)?;
    }
    check_errno!(result, EINVAL);
    let mut now = FloatRegisters::default();
    sys::read(&handle, &mut now)?;
    check_eq!(
        { now.mxcsr_mask },
        { regs.mxcsr_mask },
        "MXCSR_MASK after the writes"
    );
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that an address-space switch (`current-addrspace`, as exec does) to a `rip`
/// outside user space is EINVAL at the write: that `rip` would reach `iretq`/`sysretq` too.
pub fn addrspace_switch_to_kernel_rip_is_einval() -> Result<(), Failure> {
    let child = Child::new(child::exit_at_once, 0)?;
    let space = child.open("addrspace")?;
    let switch = child.open("current-addrspace")?;
    let sp = 0x1000;
    let result = sys::write_usizes(&switch, &[space.raw(), sp, 0x8000_0000_0000_0000]);
    if result.is_ok() {
        // Never closed, so never applied.
        core::mem::forget(switch);
    }
    check_errno!(result, EINVAL);
    Ok(())
}
