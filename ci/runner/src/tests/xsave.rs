//! Extended register state: `dup(trace, "xsave")` reads and writes the tracee's XSAVE area.

use alloc::{vec, vec::Vec};
use core::ptr::addr_of_mut;

use syscall::{flag::PtraceFlags, ContextStatus, EINVAL};
use trace_core::{
    xsave::{MXCSR, MXCSR_MASK, STATE_AVX, STATE_SSE, XCOMP_BV, XMM, XSTATE_BV, YMM_HI},
    Stop,
};

use super::{
    code,
    trace::{dup_trace, next_stop, regs, resume, spawn_traced},
};
use crate::{child, harness::Failure, sys};

const BREAKPOINT: PtraceFlags = PtraceFlags::PTRACE_STOP_BREAKPOINT;
const IGNORE: PtraceFlags = PtraceFlags::PTRACE_FLAG_IGNORE;

static YMM_IN: [u8; 32] = pattern(0x10);
static mut YMM_OUT: [u8; 32] = [0; 32];

const fn pattern(first: u8) -> [u8; 32] {
    let mut bytes = [0; 32];
    let mut index = 0;
    while index < 32 {
        bytes[index] = first.wrapping_add(index as u8);
        index += 1;
    }
    bytes
}

fn ymm_through_breakpoint(_: usize) -> ! {
    // SAFETY: both are live 32-byte buffers; only this child writes YMM_OUT until it exits.
    unsafe { code::rp_ymm(&YMM_IN, addr_of_mut!(YMM_OUT)) };
    child::exit()
}

/// The whole area, as the xsave part reads it.
fn read_area(xsave: &sys::Fd) -> Result<Vec<u8>, Failure> {
    let mut area = vec![0_u8; 8192];
    let len = sys::read(xsave, &mut area)?;
    area.truncate(len);
    Ok(area)
}

fn ymm0(area: &[u8]) -> Option<Vec<u8>> {
    Some([area.get(XMM..XMM + 16)?, area.get(YMM_HI..YMM_HI + 16)?].concat())
}

fn set_ymm0(area: &mut [u8], value: &[u8; 32]) -> Option<()> {
    let (low, high) = value.split_at(16);
    area.get_mut(XMM..XMM + 16)?.copy_from_slice(low);
    area.get_mut(YMM_HI..YMM_HI + 16)?.copy_from_slice(high);
    let bv = area.get_mut(XSTATE_BV..XSTATE_BV + 8)?;
    let state = u64::from_ne_bytes(bv.try_into().ok()?) | STATE_SSE | STATE_AVX;
    bv.copy_from_slice(&state.to_ne_bytes());
    Some(())
}

/// Stops the tracee at the breakpoint between its ymm0 load and store.
fn stopped_between_load_and_store() -> Result<(child::Child, sys::Fd, sys::Fd), Failure> {
    let (mut child, trace, _reader) = spawn_traced(ymm_through_breakpoint, dup_trace)?;
    resume(&trace, BREAKPOINT)?;
    child.start()?;
    check_eq!(
        next_stop(&trace)?,
        Stop::Breakpoint {
            ip: code::at::ymm_store() - 1
        }
    );
    let xsave = sys::dup(&trace, "xsave")?;
    Ok((child, trace, xsave))
}

/// Verifies that the tracer reads the ymm0 the tracee loaded, and that the ymm0 the tracer
/// writes is what the tracee stores.
pub fn tracer_and_tracee_see_each_others_ymm0() -> Result<(), Failure> {
    let (mut child, trace, xsave) = stopped_between_load_and_store()?;
    let mut area = read_area(&xsave)?;
    check_eq!(ymm0(&area), Some(YMM_IN.to_vec()), "ymm0 the tracee loaded");

    let written = pattern(0xa0);
    check_eq!(set_ymm0(&mut area, &written), Some(()));
    check_eq!(sys::write(&xsave, &area)?, area.len());
    check_eq!(
        ymm0(&read_area(&xsave)?),
        Some(written.to_vec()),
        "read back"
    );

    let (handle, mut stopped) = regs(&child)?;
    stopped.rip = code::at::ymm_store();
    sys::write(&handle, &stopped)?;
    resume(&trace, BREAKPOINT | IGNORE)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    // SAFETY: the child has exited.
    check_eq!(
        unsafe { *addr_of_mut!(YMM_OUT) },
        written,
        "ymm0 the tracee stored"
    );
    Ok(())
}

/// Verifies that areas `xrstor` would fault on are refused, and the area stays as it was: a
/// state bit the kernel did not enable, the compacted format, a reserved MXCSR bit, a wrong
/// size, and a read into a short buffer.
pub fn bad_xsave_areas_are_einval() -> Result<(), Failure> {
    let (mut child, _trace, xsave) = stopped_between_load_and_store()?;
    let area = read_area(&xsave)?;
    let with = |offset: usize, bytes: &[u8]| {
        let mut bad = area.clone();
        if let Some(slot) = bad.get_mut(offset..offset + bytes.len()) {
            slot.copy_from_slice(bytes);
        }
        bad
    };
    let bad = [
        with(XSTATE_BV + 7, &[0x80]),
        with(XCOMP_BV + 7, &[0x80]),
        with(MXCSR, &0xffff_ffff_u32.to_ne_bytes()),
        area.get(..area.len() - 1).unwrap_or(&[]).to_vec(),
    ];
    for (index, bad) in bad.iter().enumerate() {
        let result = sys::write(&xsave, bad).map_err(|error| error.errno);
        check_eq!(result, Err(EINVAL), "bad area {}", index);
    }
    let mut short = vec![0_u8; area.len() - 1];
    check_errno!(sys::read(&xsave, &mut short).map(drop), EINVAL);
    check_eq!(read_area(&xsave)?, area, "unchanged");
    // Killed at its stop: resumed, it would raise the breakpoint exception.
    child.kill()?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    Ok(())
}

/// Verifies that the MXCSR_MASK an `xsave` write carries is ignored: after a write with an
/// all-ones mask, a reserved MXCSR bit is still EINVAL (the check uses the CPU's mask), and the
/// mask reads back as it was.
pub fn written_mxcsr_mask_is_ignored() -> Result<(), Failure> {
    let (mut child, _trace, xsave) = stopped_between_load_and_store()?;
    let area = read_area(&xsave)?;
    let mut widened = area.clone();
    if let Some(mask) = widened.get_mut(MXCSR_MASK..MXCSR_MASK + 4) {
        mask.copy_from_slice(&u32::MAX.to_ne_bytes());
    }
    check_eq!(sys::write(&xsave, &widened)?, area.len());
    let mut bad = widened.clone();
    if let Some(mxcsr) = bad.get_mut(MXCSR..MXCSR + 4) {
        mxcsr.copy_from_slice(&0x8000_1f80_u32.to_ne_bytes());
    }
    let result = sys::write(&xsave, &bad).map_err(|error| error.errno);
    if result.is_ok() {
        // Undo before failing: xrstor of the bad value would fault in ring 0.
        sys::write(&xsave, &area)?;
    }
    check_eq!(
        result,
        Err(EINVAL),
        "reserved MXCSR bit after an all-ones mask"
    );
    check_eq!(read_area(&xsave)?, area, "the area after the writes");
    // Killed at its stop: resumed, it would raise the breakpoint exception.
    child.kill()?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    Ok(())
}
