//! Syscall cost, in TSC cycles per call, for the `bench` build of the runner (`make bench`).
//!
//! The cheapest full round trip is a syscall number the kernel does not know: entry, dispatch
//! to ENOSYS, exit, with the trace hooks at both ends. Each figure is the median of
//! [`ROUNDS`] rounds. Each bench fails (and so can be told from a measurement) when a syscall
//! does not answer as expected.

use alloc::vec::Vec;
use core::{
    arch::x86_64::_rdtsc,
    sync::atomic::{AtomicU64, Ordering},
};

use syscall::{flag::PtraceFlags, ENOSYS, SYS_WRITE};
use trace_core::{Stop, TraceEvent};

use crate::{
    child::{self, Child},
    harness::Failure,
    sys,
};

const ROUNDS: usize = 9;
const CALLS: u64 = 20_000;
/// Fewer calls when every one stops twice and waits for the tracer.
const TRACED_CALLS: u64 = 500;
/// A syscall number the kernel does not implement.
const NO_SUCH_SYSCALL: usize = 0;

fn enosys_loop(calls: u64) -> Result<u64, usize> {
    let start = unsafe { _rdtsc() };
    for _ in 0..calls {
        // SAFETY: an unknown syscall number touches no memory.
        let ret = unsafe { syscall::syscall0(NO_SUCH_SYSCALL) };
        if ret != Err(syscall::Error::new(ENOSYS)) {
            return Err(ret.map_or_else(|error| error.errno as usize, |value| value));
        }
    }
    Ok((unsafe { _rdtsc() } - start) / calls)
}

fn median(mut samples: Vec<u64>) -> u64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or(0)
}

/// Verifies that the unknown syscall answers ENOSYS, and reports its cost untraced.
pub fn syscall_untraced() -> Result<(), Failure> {
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        match enosys_loop(CALLS) {
            Ok(cycles) => samples.push(cycles),
            Err(got) => fail!(
                "syscall {} returned {:#x}, not ENOSYS",
                NO_SUCH_SYSCALL,
                got
            ),
        }
    }
    println!("bench syscall_untraced {} cycles/call", median(samples));
    Ok(())
}

/// Cycles per call the traced child measured, or `u64::MAX` if a call misbehaved.
static TRACED_CYCLES: AtomicU64 = AtomicU64::new(0);

fn traced_loop(_: usize) -> ! {
    TRACED_CYCLES.store(
        enosys_loop(TRACED_CALLS).unwrap_or(u64::MAX),
        Ordering::SeqCst,
    );
    child::exit()
}

/// Verifies that a tracee stopping before and after every syscall gets ENOSYS each time, and
/// reports what one traced syscall costs it.
pub fn syscall_traced() -> Result<(), Failure> {
    let both = PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_STOP_POST_SYSCALL;
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        let mut child = Child::new(traced_loop, 0)?;
        let trace = child.open("trace")?;
        sys::write(&trace, &both.bits().to_ne_bytes())?;
        child.start()?;
        loop {
            let mut buf = [0; TraceEvent::SIZE];
            let len = sys::read(&trace, &mut buf)?;
            let stop = TraceEvent::from_bytes(buf.get(..len).unwrap_or(&[]))?.decode()?;
            // The child's exit is a write to its own status handle.
            let exiting = matches!(
                stop,
                Stop::SyscallEntry {
                    number: SYS_WRITE,
                    ..
                }
            );
            let next = if exiting { PtraceFlags::empty() } else { both };
            sys::write(&trace, &next.bits().to_ne_bytes())?;
            if exiting {
                break;
            }
        }
        check_eq!(child.wait_exit()?, syscall::ContextStatus::Dead);
        match TRACED_CYCLES.load(Ordering::SeqCst) {
            u64::MAX => fail!("a traced syscall did not return ENOSYS"),
            cycles => samples.push(cycles),
        }
    }
    println!("bench syscall_traced {} cycles/call", median(samples));
    Ok(())
}
