//! Exceptions stop a traced tracee before they are handled, and the tracer may suppress them.

use syscall::{flag::PtraceFlags, ContextStatus};
use trace_core::Stop;

use super::{
    code,
    trace::{drain, dup_trace, next_stop, regs, resume, spawn_traced},
};
use crate::{
    child,
    harness::Failure,
    sys,
};

/// x86 exception vectors.
const INVALID_OPCODE: usize = 6;
const PAGE_FAULT: usize = 14;

fn call_ud2(_: usize) -> ! {
    let _ = sys::write(child::given(0), &code::rp_ud2().to_ne_bytes());
    child::exit()
}

fn call_load(_: usize) -> ! {
    let _ = sys::write(child::given(0), &code::rp_load().to_ne_bytes());
    child::exit()
}

/// Runs `entry` traced for exceptions; at the first stop checks it with `expect`, moves `rip`
/// from `site` to `next` and suppresses the exception; then checks the tracee finishes with
/// `result`.
fn suppress(
    entry: fn(usize) -> !,
    expect: impl Fn(Stop) -> Result<(), Failure>,
    (site, next): (usize, usize),
    result: u32,
) -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(entry, dup_trace)?;
    resume(&trace, PtraceFlags::PTRACE_STOP_SIGNAL)?;
    child.start()?;

    expect(next_stop(&trace)?)?;
    let (handle, mut stopped) = regs(&child)?;
    check_eq!(stopped.rip, site, "rip at the faulting instruction");
    stopped.rip = next;
    sys::write(&handle, &stopped)?;
    resume(&trace, PtraceFlags::PTRACE_FLAG_IGNORE)?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, result.to_ne_bytes());
    Ok(())
}

/// Verifies that an invalid opcode stops the tracee with the vector, and that the tracer can
/// suppress it and let the tracee go on past the instruction.
pub fn invalid_opcode_stops_and_is_suppressed() -> Result<(), Failure> {
    suppress(
        call_ud2,
        |stop| {
            let Stop::Exception { kind, .. } = stop else {
                fail!("expected an exception, got {:?}", stop);
            };
            check_eq!(kind, INVALID_OPCODE);
            Ok(())
        },
        (code::at::ud2(), code::at::ud2_next()),
        5,
    )
}

/// Verifies that a page fault stops the tracee with the vector and the faulting address.
pub fn page_fault_reports_the_address() -> Result<(), Failure> {
    suppress(
        call_load,
        |stop| {
            let Stop::Exception { kind, address, .. } = stop else {
                fail!("expected an exception, got {:?}", stop);
            };
            check_eq!((kind, address), (PAGE_FAULT, code::UNMAPPED));
            Ok(())
        },
        (code::at::load(), code::at::load_next()),
        6,
    )
}
