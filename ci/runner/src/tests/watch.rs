//! Hardware watchpoints: `dup(trace, "watch")` sets DR0–DR3 of the tracee.

use core::{
    arch::asm,
    ptr::{addr_of, addr_of_mut},
    sync::atomic::{AtomicU16, AtomicU32, Ordering},
};

use syscall::{flag::PtraceFlags, ContextStatus, EINVAL};
use trace_core::{
    watch::{WatchKind, WatchSlot, SLOTS, WATCH_SIZE},
    Stop,
};

use super::{
    code,
    trace::{drain, dup_trace, next_stop, regs, resume, spawn_traced},
};
use crate::{child, harness::Failure, sys};

const BREAKPOINT: PtraceFlags = PtraceFlags::PTRACE_STOP_BREAKPOINT;
const EXIT: PtraceFlags = PtraceFlags::PTRACE_STOP_EXIT;

fn slot(address: usize, kind: WatchKind, len: u32) -> WatchSlot {
    WatchSlot {
        address: address as u64,
        kind: kind as u32,
        len,
    }
}

fn encode(slots: [WatchSlot; SLOTS]) -> [u8; WATCH_SIZE] {
    let mut raw = [0_u8; WATCH_SIZE];
    for (chunk, slot) in raw.chunks_exact_mut(16).zip(slots) {
        let bytes = [
            &slot.address.to_ne_bytes()[..],
            &slot.kind.to_ne_bytes(),
            &slot.len.to_ne_bytes(),
        ]
        .concat();
        chunk.copy_from_slice(&bytes);
    }
    raw
}

/// Sets `watch` in slot `index` and no other.
fn set_watch(trace: &sys::Fd, index: usize, watch: WatchSlot) -> sys::Result<usize> {
    let mut slots = [WatchSlot::default(); SLOTS];
    if let Some(slot) = slots.get_mut(index) {
        *slot = watch;
    }
    sys::write(&sys::dup(trace, "watch")?, &encode(slots))
}

static STORED: AtomicU32 = AtomicU32::new(0);

fn store_once(_: usize) -> ! {
    // SAFETY: STORED is a live u32.
    let _ = unsafe { code::rp_store(STORED.as_ptr(), 5) };
    child::exit()
}

/// Verifies that a write watch stops the tracee right after the storing instruction, naming
/// its slot and address, and that the store happened.
pub fn write_watch_stops_after_the_store() -> Result<(), Failure> {
    let (mut child, trace, _reader) = spawn_traced(store_once, dup_trace)?;
    let address = STORED.as_ptr() as usize;
    set_watch(&trace, 1, slot(address, WatchKind::Write, 4))?;
    resume(&trace, BREAKPOINT)?;
    child.start()?;

    let ip = code::at::store_next();
    check_eq!(
        next_stop(&trace)?,
        Stop::Watchpoint {
            ip,
            slot: 1,
            address
        }
    );
    check_eq!(regs(&child)?.1.rip, ip, "rip after the store");
    check_eq!(STORED.load(Ordering::SeqCst), 5, "stored before the stop");
    resume(&trace, BREAKPOINT)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

fn call_watched(_: usize) -> ! {
    let _ = sys::write(child::given(0), &code::rp_watched().to_ne_bytes());
    child::exit()
}

/// Verifies that an execute watch stops before the instruction runs, and that resuming runs
/// it once (no second stop at the same instruction).
pub fn execute_watch_stops_before_the_instruction() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(call_watched, dup_trace)?;
    let address = code::at::watched();
    set_watch(&trace, 2, slot(address, WatchKind::Execute, 1))?;
    resume(&trace, BREAKPOINT | EXIT)?;
    child.start()?;

    check_eq!(
        next_stop(&trace)?,
        Stop::Watchpoint {
            ip: address,
            slot: 2,
            address
        }
    );
    check_eq!(
        regs(&child)?.1.rip,
        address,
        "rip at the watched instruction"
    );
    resume(&trace, BREAKPOINT | EXIT)?;
    check_eq!(next_stop(&trace)?.flag(), EXIT, "no second stop");
    resume(&trace, BREAKPOINT | EXIT)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, 11_u32.to_ne_bytes());
    Ok(())
}

static SWITCHED: AtomicU32 = AtomicU32::new(0);

fn store_across_switches(_: usize) -> ! {
    for value in [1, 2] {
        // Off the CPU and back (a sleep) between the watch being set and each store.
        let _ = sys::sleep(core::time::Duration::from_millis(5));
        for _ in 0..10 {
            sys::yield_now();
        }
        // SAFETY: SWITCHED is a live u32.
        let _ = unsafe { code::rp_store(SWITCHED.as_ptr(), value) };
    }
    child::exit()
}

/// Verifies that a watchpoint survives context switches: both stores after sleeps and yields
/// stop.
pub fn watch_survives_context_switches() -> Result<(), Failure> {
    let (mut child, trace, _reader) = spawn_traced(store_across_switches, dup_trace)?;
    let address = SWITCHED.as_ptr() as usize;
    set_watch(&trace, 0, slot(address, WatchKind::ReadWrite, 4))?;
    resume(&trace, BREAKPOINT)?;
    child.start()?;

    for value in [1, 2] {
        check_eq!(
            next_stop(&trace)?,
            Stop::Watchpoint {
                ip: code::at::store_next(),
                slot: 0,
                address
            },
            "store {}",
            value
        );
        check_eq!(SWITCHED.load(Ordering::SeqCst), value);
        resume(&trace, BREAKPOINT)?;
    }
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

static STEPPED: AtomicU32 = AtomicU32::new(0);

fn store_stepped(_: usize) -> ! {
    // SAFETY: STEPPED is a live u32.
    let _ = unsafe { code::rp_store(STEPPED.as_ptr(), 7) };
    child::exit()
}

/// Verifies that a single step over an instruction that hits a data watchpoint gives one stop
/// right after it, the step's (data watchpoints are off while the tracee single-steps), and
/// that the next step comes after the next instruction.
pub fn step_onto_a_watch_gives_one_stop() -> Result<(), Failure> {
    let (mut child, trace, _reader) = spawn_traced(store_stepped, dup_trace)?;
    let store = code::at::store();
    let variable = STEPPED.as_ptr() as usize;
    let mut slots = [WatchSlot::default(); SLOTS];
    slots[0] = slot(store, WatchKind::Execute, 1);
    slots[1] = slot(variable, WatchKind::Write, 4);
    sys::write(&sys::dup(&trace, "watch")?, &encode(slots))?;
    let step = BREAKPOINT | PtraceFlags::PTRACE_STOP_SINGLESTEP;
    resume(&trace, BREAKPOINT)?;
    child.start()?;

    check_eq!(
        next_stop(&trace)?,
        Stop::Watchpoint {
            ip: store,
            slot: 0,
            address: store,
        }
    );
    resume(&trace, step)?;
    let after_store = code::at::store_next();
    check_eq!(
        next_stop(&trace)?,
        Stop::SingleStep { ip: after_store },
        "after the store"
    );
    check_eq!(STEPPED.load(Ordering::SeqCst), 7, "stored");
    resume(&trace, step)?;
    check_eq!(
        next_stop(&trace)?,
        Stop::SingleStep {
            ip: code::at::store_ret()
        }
    );
    resume(&trace, PtraceFlags::empty())?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

static mut RECEIVED: [u8; 8] = [0; 8];

fn read_into_watched(_: usize) -> ! {
    // SAFETY: only this child touches RECEIVED until it exits.
    let buf = unsafe { &mut *addr_of_mut!(RECEIVED) };
    let _ = sys::read(child::given(0), buf);
    child::exit()
}

/// Verifies that the kernel writing into watched memory for the tracee (a `read`) neither
/// stops it nor kills it: only the tracee's own accesses are reported.
pub fn kernel_access_is_not_reported() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe()?;
    let mut child = child::Child::new(read_into_watched, 0)?;
    child.give(&reader)?;
    let trace = dup_trace(&child)?;
    let address = addr_of_mut!(RECEIVED) as usize;
    set_watch(&trace, 3, slot(address, WatchKind::ReadWrite, 8))?;
    resume(&trace, BREAKPOINT | EXIT)?;
    sys::write(&writer, b"12345678")?;
    child.start()?;

    check_eq!(next_stop(&trace)?.flag(), EXIT, "the first stop");
    resume(&trace, BREAKPOINT | EXIT)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    // SAFETY: the child has exited.
    check_eq!(unsafe { *addr_of_mut!(RECEIVED) }, *b"12345678");
    Ok(())
}

static DETACHED: AtomicU32 = AtomicU32::new(0);

fn write_then_store(_: usize) -> ! {
    let _ = sys::write(child::given(0), b"w");
    // SAFETY: DETACHED is a live u32.
    let _ = unsafe { code::rp_store(DETACHED.as_ptr(), 6) };
    child::exit()
}

/// Verifies that ending the session removes the watchpoints: the tracee stores to the once
/// watched address and exits normally (a stray debug exception would kill it).
pub fn detaching_clears_watchpoints() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(write_then_store, dup_trace)?;
    let address = DETACHED.as_ptr() as usize;
    set_watch(&trace, 0, slot(address, WatchKind::Write, 4))?;
    resume(&trace, BREAKPOINT | PtraceFlags::PTRACE_STOP_PRE_SYSCALL)?;
    child.start()?;

    check_eq!(
        next_stop(&trace)?.flag(),
        PtraceFlags::PTRACE_STOP_PRE_SYSCALL
    );
    drop(trace);
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(DETACHED.load(Ordering::SeqCst), 6);
    check_eq!(drain(&reader)?, b"w");
    Ok(())
}

/// Verifies that watchpoints read back as written, and that kernel and non-canonical
/// addresses, misaligned or odd lengths, wide execute watches, unknown kinds and bad sizes are
/// refused without changing them.
pub fn bad_watchpoints_are_einval() -> Result<(), Failure> {
    // Never started: dropping it runs it straight to its exit.
    let (_child, trace, _reader) = spawn_traced(store_once, dup_trace)?;
    let watch = sys::dup(&trace, "watch")?;
    let good = slot(0x1000, WatchKind::Write, 8);
    set_watch(&trace, 1, good)?;
    let mut back = [0_u8; WATCH_SIZE];
    check_eq!(sys::read(&watch, &mut back)?, WATCH_SIZE);
    let mut expected = [WatchSlot::default(); SLOTS];
    expected[1] = good;
    check_eq!(back, encode(expected));

    let bad = [
        slot(0xffff_8000_0000_1000, WatchKind::Write, 4),
        slot(0x0000_8000_0000_0000, WatchKind::Execute, 1),
        slot(0x1002, WatchKind::Write, 4),
        slot(0x1000, WatchKind::ReadWrite, 3),
        slot(0x1000, WatchKind::Execute, 4),
        WatchSlot {
            address: 0x1000,
            kind: 7,
            len: 1,
        },
    ];
    for bad in bad {
        let result = set_watch(&trace, 0, bad).map_err(|error| error.errno);
        check_eq!(result, Err(EINVAL), "{:?}", bad);
    }
    check_errno!(sys::write(&watch, &[0; WATCH_SIZE - 1]).map(drop), EINVAL);
    check_errno!(
        sys::read(&watch, &mut [0; WATCH_SIZE - 1]).map(drop),
        EINVAL
    );
    check_eq!(sys::read(&watch, &mut back)?, WATCH_SIZE);
    check_eq!(back, encode(expected), "unchanged");
    Ok(())
}

/// The user SS selector, for a `mov ss` to load from a watched address.
static SELECTOR: AtomicU16 = AtomicU16::new(0);

const CANARY_LEN: usize = 8192;
const CANARY_BYTE: u8 = 0xa5;

#[repr(C, align(4096))]
struct Canary([u8; CANARY_LEN]);

/// The stack the tracee makes its syscall on; nothing may write to it.
static mut CANARY: Canary = Canary([0; CANARY_LEN]);

fn mov_ss_then_syscall(_: usize) -> ! {
    // SAFETY: SELECTOR holds the user SS; CANARY is this child's stack only until the call
    // returns, and the parent reads it only after the child exited.
    let _ = unsafe {
        let stack_end = addr_of_mut!(CANARY.0).cast::<u8>().add(CANARY_LEN);
        code::rp_movss(SELECTOR.as_ptr(), stack_end)
    };
    child::exit()
}

/// Verifies that a `mov ss` from a watched address followed by `syscall` leaves the user stack
/// untouched and the tracee running. On real CPUs the load's debug exception is held past the
/// `syscall` and raised in ring 0 before the kernel switched stacks (CVE-2018-8897): the
/// kernel takes #DB on a stack of its own, and one raised in ring 0 is never a stop. QEMU's
/// TCG raises it in user mode right after the `mov ss` (the watchpoint stop at the `syscall`),
/// so under TCG this test passes with or without that fix, which must hold by design.
pub fn mov_ss_syscall_leaves_user_stack_alone() -> Result<(), Failure> {
    let selector: u16;
    // SAFETY: reading SS has no side effect.
    unsafe { asm!("mov {0:x}, ss", out(reg) selector, options(nomem, nostack)) };
    SELECTOR.store(selector, Ordering::SeqCst);
    // SAFETY: no child runs yet, so nothing else touches CANARY.
    unsafe { (*addr_of_mut!(CANARY)).0.fill(CANARY_BYTE) };
    let (mut child, trace, _reader) = spawn_traced(mov_ss_then_syscall, dup_trace)?;
    let address = SELECTOR.as_ptr() as usize;
    set_watch(&trace, 0, slot(address, WatchKind::ReadWrite, 2))?;
    resume(&trace, EXIT)?;
    child.start()?;

    let mut stop = next_stop(&trace)?;
    if stop.flag() != EXIT {
        let watch = Stop::Watchpoint {
            ip: code::at::movss_syscall(),
            slot: 0,
            address,
        };
        check_eq!(stop, watch, "the one stop before exit");
        resume(&trace, EXIT)?;
        stop = next_stop(&trace)?;
    }
    check_eq!(stop.flag(), EXIT, "the exit stop");
    resume(&trace, EXIT)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    // SAFETY: the child has exited.
    let changed = unsafe { (*addr_of!(CANARY)).0.iter() }
        .filter(|byte| **byte != CANARY_BYTE)
        .count();
    check_eq!(changed, 0, "bytes of the user stack the kernel wrote");
    Ok(())
}
