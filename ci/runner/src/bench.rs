//! Costs of syscalls and tracing, in TSC ticks, for the `bench` build of the runner (`make
//! bench`). `ci/bench.sh` boots QEMU with `-icount shift=0`, where the TSC advances by one for
//! each guest instruction (see there); this module only reads the TSC.
//!
//! The cheapest full round trip is a syscall number the kernel does not know: entry, dispatch
//! to ENOSYS, exit, with the trace hooks at both ends. Each figure is the median of
//! [`ROUNDS`] rounds. Each bench fails (and so can be told from a measurement) when a syscall
//! does not answer as expected; a feature the kernel lacks is reported as `n/a (<error>)`
//! where the table has a row for it.
//!
//! Lines: `bench <name> <ticks> ticks/<unit>`, or `bench <name> n/a (<why>)`.
//!
//! The loops carry marker instructions (a `nop` with a tagged displacement, see [`Region`])
//! that an instruction-counting QEMU plugin can key on to profile one region; they cost one
//! `nop` each.

use alloc::{format, string::String, vec, vec::Vec};
use core::{
    arch::x86_64::_rdtsc,
    mem::size_of,
    sync::atomic::{AtomicU64, Ordering},
};

use syscall::{
    data::Event, flag::PtraceFlags, EventFlags, GlobalSchemes, EAGAIN, ENOSYS, ESRCH, O_NONBLOCK,
    O_RDWR, SYS_WRITE,
};
use trace_core::Stop;

use crate::{
    child::{self, Child},
    harness::{Errno, Failure},
    sys::{self, Fd},
    tests::{
        interrupt::{await_spinning, read_then_exit, spin, SPINNING},
        smp::{pinned_child, RunnerPin},
        trace::{next_stop, resume},
    },
};

const ROUNDS: usize = 9;
const CALLS: u64 = 20_000;
/// Fewer calls when every one stops twice and waits for the tracer.
const TRACED_CALLS: u64 = 500;
/// A syscall number the kernel does not implement.
const NO_SUCH_SYSCALL: usize = 0;
const BOTH: PtraceFlags =
    PtraceFlags::PTRACE_STOP_PRE_SYSCALL.union(PtraceFlags::PTRACE_STOP_POST_SYSCALL);

/// Regions the profiling markers delimit.
#[derive(Clone, Copy)]
enum Region {
    /// The untraced ENOSYS loop.
    Untraced = 1,
    /// The traced ENOSYS loop, as the tracee runs it: everything the system does meanwhile.
    Traced = 2,
    /// The same with the filter leaving the call out.
    Filtered = 3,
}

/// Marks the start (`on`) or end of `region`: `nop dword ptr [rax + 0x50ba_RR0E]`, `E` 1 at
/// the start and 2 at the end, which only a profiler looks at.
#[inline(always)]
fn mark(region: Region, on: bool) {
    match (region, on) {
        (Region::Untraced, true) => marker::<1, 1>(),
        (Region::Untraced, false) => marker::<2, 1>(),
        (Region::Traced, true) => marker::<1, 2>(),
        (Region::Traced, false) => marker::<2, 2>(),
        (Region::Filtered, true) => marker::<1, 3>(),
        (Region::Filtered, false) => marker::<2, 3>(),
    }
}

#[inline(always)]
fn marker<const END: u8, const REGION: u8>() {
    // SAFETY: a nop; the memory operand is never accessed.
    unsafe {
        core::arch::asm!(
            ".byte 0x0f, 0x1f, 0x80, {end}, {region}, 0xba, 0x50",
            end = const END,
            region = const REGION,
            options(nomem, nostack, preserves_flags)
        );
    }
}

fn ticks() -> u64 {
    // SAFETY: rdtsc has no preconditions.
    unsafe { _rdtsc() }
}

/// Runs `calls` unknown syscalls; the ticks per call, or what a call returned instead of
/// ENOSYS.
fn enosys_loop(calls: u64, region: Region) -> Result<u64, usize> {
    let start = ticks();
    mark(region, true);
    for _ in 0..calls {
        // SAFETY: an unknown syscall number touches no memory.
        let ret = unsafe { syscall::syscall0(NO_SUCH_SYSCALL) };
        if ret != Err(syscall::Error::new(ENOSYS)) {
            mark(region, false);
            return Err(ret.map_or_else(|error| error.errno as usize, |value| value));
        }
    }
    mark(region, false);
    Ok((ticks() - start) / calls)
}

fn median(mut samples: Vec<u64>) -> u64 {
    samples.sort_unstable();
    samples.get(samples.len() / 2).copied().unwrap_or(0)
}

/// Verifies that the unknown syscall answers ENOSYS, and reports its cost untraced.
pub fn syscall_untraced() -> Result<(), Failure> {
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        match enosys_loop(CALLS, Region::Untraced) {
            Ok(ticks) => samples.push(ticks),
            Err(got) => fail!(
                "syscall {} returned {:#x}, not ENOSYS",
                NO_SUCH_SYSCALL,
                got
            ),
        }
    }
    println!("bench syscall_untraced {} ticks/call", median(samples));
    Ok(())
}

/// Ticks per call the traced child measured, or `u64::MAX` if a call misbehaved.
static TRACED_TICKS: AtomicU64 = AtomicU64::new(0);

/// `filtered`: 1 when the filter leaves the call out (only the profiling region differs).
fn traced_loop(filtered: usize) -> ! {
    let region = if filtered == 1 {
        Region::Filtered
    } else {
        Region::Traced
    };
    TRACED_TICKS.store(
        enosys_loop(TRACED_CALLS, region).unwrap_or(u64::MAX),
        Ordering::SeqCst,
    );
    child::exit()
}

/// The child's exit is a write to its own status handle.
fn is_exit_call(stop: &Stop) -> bool {
    matches!(
        stop,
        Stop::SyscallEntry {
            number: SYS_WRITE,
            ..
        }
    )
}

/// Runs [`traced_loop`] in a tracee with entry and exit stops armed, after `setup` (given its
/// trace handle), resuming every stop until the tracee's exit call; the ticks per call it
/// measured. `setup` failing ends the round with its message (the child is killed when
/// dropped).
fn traced_round(
    filtered: bool,
    setup: impl Fn(&Fd) -> Result<(), String>,
) -> Result<Result<u64, String>, Failure> {
    let mut child = Child::new(traced_loop, usize::from(filtered))?;
    let trace = child.open("trace")?;
    resume(&trace, BOTH)?;
    if let Err(why) = setup(&trace) {
        return Ok(Err(why));
    }
    child.start()?;
    loop {
        let stop = next_stop(&trace)?;
        let exiting = is_exit_call(&stop);
        resume(&trace, if exiting { PtraceFlags::empty() } else { BOTH })?;
        if exiting {
            break;
        }
    }
    check_eq!(child.wait_exit()?, syscall::ContextStatus::Dead);
    match TRACED_TICKS.load(Ordering::SeqCst) {
        u64::MAX => fail!("a traced syscall did not return ENOSYS"),
        ticks => Ok(Ok(ticks)),
    }
}

/// Verifies that a tracee stopping before and after every syscall gets ENOSYS each time, and
/// reports what one traced syscall costs it.
pub fn syscall_traced() -> Result<(), Failure> {
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        match traced_round(false, |_| Ok(()))? {
            Ok(ticks) => samples.push(ticks),
            Err(why) => fail!("{}", why),
        }
    }
    println!("bench syscall_traced {} ticks/call", median(samples));
    Ok(())
}

/// Verifies that a tracee whose syscall filter leaves the unknown syscall out gets ENOSYS each
/// time, and reports what that call costs it: entry and exit stops are armed, but the filter
/// (`dup(trace, "filter")`) holds only `SYS_WRITE`, the call [`child::exit`] makes (so the
/// exit still stops, as the loop expects). Without the filter handle: `n/a (<error>)`.
pub fn syscall_filtered() -> Result<(), Failure> {
    let filter = |trace: &Fd| -> Result<(), String> {
        let set = (SYS_WRITE as u64).to_ne_bytes();
        sys::dup(trace, "filter")
            .map_err(|error| format!("dup(trace, \"filter\"): {}", Errno(error)))
            .and_then(|filter| {
                sys::write(&filter, &set).map_err(|error| format!("filter write: {}", Errno(error)))
            })
            .and_then(|written| match written {
                8 => Ok(()),
                short => Err(format!("filter write took {} of 8 bytes", short)),
            })
    };
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        match traced_round(true, filter)? {
            Ok(ticks) => samples.push(ticks),
            Err(why) => {
                println!("bench syscall_filtered n/a ({})", why);
                return Ok(());
            }
        }
    }
    println!("bench syscall_filtered {} ticks/call", median(samples));
    Ok(())
}

const MIB: usize = 1 << 20;

/// Verifies that a tracer reads 1 MiB of a stopped tracee's memory through `mem` and gets what
/// is there, and reports the ticks that takes, and those of copying the same MiB in-process.
pub fn mem_read() -> Result<(), Failure> {
    let source = sys::map_anonymous(MIB)?;
    let target = sys::map_anonymous(MIB)?;
    // SAFETY: two fresh private mappings of MIB bytes each, ours alone; children share our
    // address space but the tracee below does not touch them.
    let (source, target) = unsafe {
        (
            core::slice::from_raw_parts_mut(source as *mut u8, MIB),
            core::slice::from_raw_parts_mut(target as *mut u8, MIB),
        )
    };
    for (index, byte) in source.iter_mut().enumerate() {
        *byte = (index % 251) as u8;
    }
    // A tracee stopped at its exit call, in our address space.
    let mut child = Child::new(|_| child::exit(), 0)?;
    let trace = child.open("trace")?;
    resume(&trace, PtraceFlags::PTRACE_STOP_PRE_SYSCALL)?;
    child.start()?;
    let stop = next_stop(&trace)?;
    check_eq!(is_exit_call(&stop), true, "stopped at the exit call");
    let mem = child.open("mem")?;

    let (mut reads, mut copies, mut bytewise) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        target.fill(0);
        let start = ticks();
        let mut done = 0;
        while let Some(rest) = target.get_mut(done..)
            && !rest.is_empty()
        {
            match sys::read_at(&mem, (source.as_ptr() as usize + done) as u64, rest)? {
                0 => fail!("mem read returned 0 at {:#x} of {:#x}", done, MIB),
                len => done += len,
            }
        }
        reads.push(ticks() - start);
        check_eq!(&*target == &*source, true, "the MiB read through mem");

        target.fill(0);
        let start = ticks();
        target.copy_from_slice(core::hint::black_box(&*source));
        copies.push(ticks() - start);
        check_eq!(&*target == &*source, true, "the MiB copied");

        target.fill(0);
        let start = ticks();
        copy_bytewise(target, source);
        bytewise.push(ticks() - start);
        check_eq!(&*target == &*source, true, "the MiB copied bytewise");
    }
    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, syscall::ContextStatus::Dead);
    println!("bench mem_read_1mib {} ticks/MiB", median(reads));
    println!("bench memcpy_1mib {} ticks/MiB", median(copies));
    println!("bench movsb_1mib {} ticks/MiB", median(bytewise));
    Ok(())
}

/// Copies with `rep movsb`, as the kernel's usercopy does. Under `-icount` every iteration of
/// a rep-string instruction counts as one instruction, so `memcpy`'s `rep movsq` counts one per
/// 8 bytes and this one per byte: the like-for-like baseline for a `mem` read.
fn copy_bytewise(target: &mut [u8], source: &[u8]) {
    let len = target.len().min(source.len());
    // SAFETY: both ranges are `len` bytes of live slices, which do not overlap (one is
    // borrowed mutably); DF is clear, as the ABI requires between instructions.
    unsafe {
        core::arch::asm!(
            "rep movsb",
            inout("rcx") len => _,
            inout("rdi") target.as_mut_ptr() => _,
            inout("rsi") source.as_ptr() => _,
            options(nostack, preserves_flags),
        );
    }
}

/// Unknown syscalls in all, spread over the tracees of each multiplexing bench.
const MULTIPLEXED_CALLS: u64 = 960;

/// Runs `calls` unknown syscalls, then exits (the tracer checks nothing but the stops).
fn enosys_then_exit(calls: usize) -> ! {
    for _ in 0..calls {
        // SAFETY: an unknown syscall number touches no memory.
        let _ = unsafe { syscall::syscall0(NO_SUCH_SYSCALL) };
    }
    child::exit()
}

/// `tracees` tracees loop on the unknown syscall with entry and exit stops armed; one tracer
/// waits on `event:` for all their trace handles and resumes whichever stopped. Reports the
/// ticks per stop over the whole run, with the number of stops.
fn multiplexed(tracees: usize) -> Result<(), Failure> {
    let calls = MULTIPLEXED_CALLS / tracees as u64;
    let queue = sys::openat(sys::scheme_root(GlobalSchemes::Event)?, "", O_RDWR)?;
    let mut children = Vec::new();
    for index in 0..tracees {
        let child = Child::new(enosys_then_exit, calls as usize)?;
        let trace = sys::openat(child.context_fd(), "trace", O_RDWR | O_NONBLOCK)?;
        resume(&trace, BOTH)?;
        let event = Event {
            id: trace.raw(),
            flags: EventFlags::EVENT_READ,
            data: index,
        };
        sys::write(&queue, &event)?;
        children.push((child, trace));
    }

    let start = ticks();
    for (child, _) in &mut children {
        child.start()?;
    }
    let (mut stops, mut calls_seen, mut exited) = (0_u64, vec![0_u64; tracees], 0);
    while exited < tracees {
        let mut event = Event::default();
        check_eq!(sys::read(&queue, &mut event)?, size_of::<Event>());
        let Some((_, trace)) = children.get(event.data) else {
            fail!("event for unknown data {}", event.data);
        };
        // One event per stop: the tracee cannot stop again before it is resumed. An
        // edge-triggered event may come once more for a stop already read (EAGAIN), and one
        // for a tracee resumed at its exit call reads ESRCH once it is gone.
        let stop = match next_stop(trace) {
            Ok(stop) => stop,
            Err(error) if error.errno == EAGAIN || error.errno == ESRCH => continue,
            Err(error) => return Err(error.into()),
        };
        stops += 1;
        if is_exit_call(&stop) {
            exited += 1;
            resume(trace, PtraceFlags::empty())?;
            continue;
        }
        if let Stop::SyscallExit { .. } = stop
            && let Some(seen) = calls_seen.get_mut(event.data)
        {
            *seen += 1;
        }
        resume(trace, BOTH)?;
    }
    let elapsed = ticks() - start;
    check_eq!(calls_seen, vec![calls; tracees], "exit stops per tracee");
    for (child, _) in &mut children {
        check_eq!(child.wait_exit()?, syscall::ContextStatus::Dead);
    }
    println!(
        "bench event_{} {} ticks/stop ({} stops)",
        tracees,
        elapsed / stops.max(1),
        stops
    );
    Ok(())
}

pub fn event_1() -> Result<(), Failure> {
    multiplexed(1)
}

pub fn event_4() -> Result<(), Failure> {
    multiplexed(4)
}

pub fn event_16() -> Result<(), Failure> {
    multiplexed(16)
}

/// Ticks from the tracer's interrupt request (a write to the session's `interrupt` part) to its
/// read of the interrupt stop, for `child` (pinned to the tracer's CPU, not yet started) once
/// `ready` says it is where the request is to find it; the stop must be in a call exactly when
/// `in_call`. Tracer and tracee share CPU 0: under `-icount`, in the runs tried, the second
/// vCPU stopped running the contexts pinned to it after the first test that used it.
fn interrupt_ticks(
    mut child: Child,
    ready: impl Fn(&mut Child) -> Result<(), Failure>,
    in_call: bool,
) -> Result<u64, Failure> {
    let trace = child.open("trace")?;
    let interrupt = sys::dup(&trace, "interrupt")?;
    child.start()?;
    ready(&mut child)?;
    let start = ticks();
    sys::write(&interrupt, &[])?;
    let stop = next_stop(&trace)?;
    let end = ticks();
    match stop {
        Stop::Interrupt { call, .. } if call.is_some() == in_call => {}
        other => fail!(
            "expected the interrupt stop (in a call: {}), got {:?}",
            in_call,
            other
        ),
    }
    child.kill()?;
    Ok(end - start)
}

/// Prints the median of [`ROUNDS`] rounds of `round` as bench `name`.
fn interrupt_bench(name: &str, round: impl Fn() -> Result<u64, Failure>) -> Result<(), Failure> {
    let mut samples = Vec::new();
    for _ in 0..ROUNDS {
        samples.push(round()?);
    }
    println!("bench {} {} ticks/interrupt", name, median(samples));
    Ok(())
}

/// Verifies that an interrupt stops a tracee spinning in user code without syscalls, and
/// reports how long it takes: it runs once the tracer waits, and stops at its first interrupt
/// point.
pub fn interrupt_spinning() -> Result<(), Failure> {
    interrupt_bench("interrupt_spinning", || {
        let _pinned = RunnerPin::to(0)?;
        SPINNING.store(false, Ordering::SeqCst);
        interrupt_ticks(pinned_child(spin, 0, 0)?, |_| await_spinning(), false)
    })
}

/// Verifies that an interrupt stops a tracee blocked in a pipe read in that call, and reports
/// how long it takes: woken, its read ends and it stops in it.
pub fn interrupt_blocked() -> Result<(), Failure> {
    interrupt_bench("interrupt_blocked", || {
        let _pinned = RunnerPin::to(0)?;
        let (reader, _writer) = sys::pipe()?;
        let mut child = pinned_child(read_then_exit, 0, 0)?;
        child.give(&reader)?;
        interrupt_ticks(
            child,
            |child| {
                child.wait_status(syscall::ContextStatus::Blocked)?;
                Ok(())
            },
            true,
        )
    })
}
