//! Fuzz and stress: random operations over trace, mem and regs handles, the filter, interrupt,
//! watch and xsave parts of sessions, signals (pending bits set as procmgr sets them, under
//! random masks, and resumes with random signal words) and procmgr's signal wakeup (the
//! `Interrupt` verb), on
//! tracees in every state (unstarted, running, stopped at syscalls or steps, exiting, dead),
//! checking that every answer is a documented one and that every tracee can always be reaped.
//!
//! Deterministic: the seed is printed, and the same seed gives the same operations (the
//! tracees' timing may still differ). The suite runs [`SUITE_OPS`] operations; `make soak
//! SEED=… OPS=…` builds the runner with the `soak` feature and runs as many as asked.

use alloc::{format, string::String, vec::Vec};
use core::sync::atomic::Ordering;
use syscall::{
    flag::PtraceFlags, ContextStatus, FloatRegisters, IntRegisters, EACCES, EAGAIN, EBUSY, EFAULT,
    EINVAL, EPERM, ESRCH, O_EXCL, O_NONBLOCK, O_RDWR,
};
use trace_core::TraceEvent;

use super::signal::Controls;
use crate::{
    child::{self, Child},
    harness::Failure,
    sys::{self, Fd},
};

/// Seed and operation count of the suite's run.
const SUITE_SEED: u64 = 0x5eed_0f_7ace;
const SUITE_OPS: u64 = 100_000;
/// Tracees alive at once.
const SLOTS: usize = 3;
const PAGE: usize = 4096;

/// xorshift64*: small, deterministic, good enough to pick operations.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }

    fn chance(&mut self, one_in: u64) -> bool {
        self.below(one_in) == 0
    }
}

/// A page the fuzzer lets tracees (which share the runner's address space) and `mem` writes
/// scribble on; nothing reads it.
#[repr(C, align(4096))]
struct Scratch([u8; PAGE]);
static mut SCRATCH: Scratch = Scratch([0; PAGE]);

/// Does `arg` rounds of a write (to its first fd, a non-blocking pipe nobody drains) and a
/// yield, then exits: syscall stops, steps and an exit, all without touching the heap.
fn busy_then_exit(rounds: usize) -> ! {
    for round in 0..rounds {
        let _ = sys::write(child::given(0), &[round as u8]);
        sys::yield_now();
    }
    // Not `child::exit`, whose fallback is a fault: the tracer may skip the exit (sysemu).
    child::kill_self()
}

struct Tracee {
    child: Child,
    trace: Option<Fd>,
    mem: Fd,
    regs: Fd,
    float: Fd,
    /// Its signal pages, which its signal handler (it ends the tracee) is registered with.
    signals: Controls,
}

/// Addresses for `mem` accesses: ours (shared with the tracees), unmapped, kernel,
/// non-canonical, and the edges between.
fn address(rng: &mut Rng) -> u64 {
    let scratch = (&raw const SCRATCH) as u64;
    match rng.below(8) {
        0 => scratch + rng.below(PAGE as u64),
        1 => 0,
        2 => 0x0000_7fff_ffff_f000 + rng.below(2 * PAGE as u64),
        3 => 0xffff_8000_0000_0000 + rng.below(1 << 30),
        4 => 0x8000_0000_0000_0000 | rng.next(),
        5 => rng.next(),
        6 => u64::MAX - rng.below(64),
        _ => busy_then_exit as fn(usize) -> ! as u64 + rng.below(256),
    }
}

/// Flags for a trace write: mostly valid stops (never the clone event: the tracees do not
/// clone), sometimes with IGNORE, sometimes junk bits.
fn flags(rng: &mut Rng) -> u64 {
    let stops = [
        PtraceFlags::PTRACE_STOP_PRE_SYSCALL,
        PtraceFlags::PTRACE_STOP_POST_SYSCALL,
        PtraceFlags::PTRACE_STOP_SINGLESTEP,
        PtraceFlags::PTRACE_STOP_SIGNAL,
        PtraceFlags::PTRACE_STOP_BREAKPOINT,
        PtraceFlags::PTRACE_STOP_EXIT,
        PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH,
    ];
    let mut bits = 0;
    for stop in stops {
        if rng.chance(3) {
            bits |= stop.bits();
        }
    }
    if rng.chance(6) {
        bits |= PtraceFlags::PTRACE_FLAG_IGNORE.bits();
    }
    if rng.chance(20) {
        bits |= 1 << rng.below(64);
    }
    bits
}

/// A filter write: a few numbers (the tracees' own syscalls, junk, the all-word), sometimes a
/// ragged length.
fn filter_bytes(rng: &mut Rng) -> Vec<u8> {
    let count = rng.below(5);
    let mut bytes = Vec::new();
    for _ in 0..count {
        let number = match rng.below(4) {
            0 => syscall::SYS_WRITE as u64,
            1 => syscall::SYS_YIELD as u64,
            2 => u64::MAX,
            _ => rng.next(),
        };
        bytes.extend_from_slice(&number.to_ne_bytes());
    }
    if rng.chance(8) {
        bytes.push(0);
    }
    bytes
}

/// A watch write: four slots on the scratch page, the tracees' code, or bad addresses, with
/// kinds and lengths valid or not, sometimes a ragged size.
fn watch_bytes(rng: &mut Rng) -> Vec<u8> {
    let mut bytes = Vec::new();
    for _ in 0..trace_core::watch::SLOTS {
        let (address, kind, len) = if rng.chance(2) {
            (0, 0_u32, 0_u32)
        } else {
            let kind = rng.below(5) as u32;
            let len = [0, 1, 2, 3, 4, 8][rng.below(6) as usize];
            let mut address = address(rng);
            if rng.chance(2) {
                address &= !(u64::from(len.max(1)) - 1);
            }
            (address, kind, len)
        };
        bytes.extend_from_slice(&address.to_ne_bytes());
        bytes.extend_from_slice(&kind.to_ne_bytes());
        bytes.extend_from_slice(&len.to_ne_bytes());
    }
    if rng.chance(8) {
        bytes.pop();
    }
    bytes
}

/// What the run did, for the closing line.
static DONE: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);
static REFUSED: core::sync::atomic::AtomicUsize = core::sync::atomic::AtomicUsize::new(0);

/// The outcome of one operation: fine, or an errno outside its documented set.
fn expect<T>(what: &str, result: sys::Result<T>, allowed: &[i32]) -> Result<(), String> {
    use core::sync::atomic::Ordering::Relaxed;
    match result {
        Ok(_) => {
            DONE.fetch_add(1, Relaxed);
            Ok(())
        }
        Err(error) if allowed.contains(&error.errno) => {
            REFUSED.fetch_add(1, Relaxed);
            Ok(())
        }
        Err(error) => Err(format!(
            "{}: undocumented errno {} ({})",
            what, error.errno, error
        )),
    }
}

fn spawn(rng: &mut Rng) -> Result<Tracee, Failure> {
    let (_reader, writer) = sys::pipe_nonblocking()?;
    let rounds = rng.below(40) as usize + 1;
    let mut child = Child::new(busy_then_exit, rounds)?;
    child.give(&writer)?;
    let mut open_flags = O_RDWR | O_NONBLOCK;
    if rng.chance(3) {
        open_flags |= O_EXCL;
    }
    let trace = sys::openat(child.context_fd(), "trace", open_flags)?;
    let _ = sys::write(&trace, &flags(rng).to_ne_bytes());
    // Any unblocked set, hostile ones too: the kernel reads these pages, user code writes them.
    let signals = Controls::new()?;
    for word in &signals.thread().word {
        word.store(rng.next() & 0xffff_ffff_0000_0000, Ordering::SeqCst);
    }
    sys::write(&child.open("sighandler")?, &signals.killing_handler_data())?;
    let tracee = Tracee {
        signals,
        mem: child.open("mem")?,
        regs: child.open("regs/int")?,
        float: child.open("regs/float")?,
        trace: Some(trace),
        child,
    };
    Ok(tracee)
}

/// What procmgr does to send a signal: wakes the thread from whatever it waits in (the
/// `Interrupt` verb on its status handle).
fn wake(tracee: &Tracee, what: &str) -> Result<(), String> {
    let verb = [syscall::ContextVerb::Interrupt as usize];
    let result = tracee
        .child
        .open("status")
        .and_then(|status| sys::write_usizes(&status, &verb));
    expect(what, result, &[ESRCH])
}

/// One random operation on `tracee`.
fn operate(rng: &mut Rng, tracee: &mut Tracee) -> Result<(), String> {
    let trace = tracee.trace.as_ref();
    match rng.below(19) {
        0 | 1 | 2 => {
            let Some(trace) = trace else { return Ok(()) };
            let result = sys::write(trace, &flags(rng).to_ne_bytes());
            expect("trace write", result, &[EINVAL, ESRCH])
        }
        3 | 4 | 5 => {
            let Some(trace) = trace else { return Ok(()) };
            let mut buf = [0_u8; 3 * TraceEvent::SIZE];
            let len = rng.below(buf.len() as u64 + 1) as usize;
            match sys::read(trace, &mut buf[..len]) {
                Ok(got) if got % TraceEvent::SIZE != 0 || got > len => {
                    Err(format!("trace read of {} gave {}", len, got))
                }
                result => expect("trace read", result, &[EINVAL, EAGAIN, ESRCH]),
            }
        }
        6 => {
            let mut buf = [0_u8; 2 * PAGE];
            let len = rng.below(buf.len() as u64) as usize;
            let result = sys::read_at(&tracee.mem, address(rng), &mut buf[..len]);
            expect("mem read", result, &[EFAULT, EACCES, ESRCH])
        }
        7 => {
            // Only the scratch page may really change; everything else must be refused.
            let at = address(rng);
            let scratch = (&raw const SCRATCH) as u64;
            if at < 0x0000_8000_0000_0000 && !(scratch..scratch + PAGE as u64).contains(&at) {
                return Ok(());
            }
            let end = scratch + PAGE as u64;
            let room = if at < end { (end - at) as usize } else { 64 };
            let len = rng.below(room.min(64) as u64 + 1) as usize;
            let bytes = [0xcc_u8; 64];
            let result = sys::write_at(&tracee.mem, at, &bytes[..len]);
            expect("mem write", result, &[EFAULT, EACCES, ESRCH])
        }
        8 => {
            let mut regs = IntRegisters::default();
            if sys::read(&tracee.regs, &mut regs).is_err() {
                return Ok(());
            }
            // Only writes that must be refused: the tracee may have run on since the read, so
            // writing back what was read could rewind it.
            const KERNEL_FLAGS: [u32; 10] = [9, 12, 13, 14, 16, 17, 18, 19, 20, 21];
            match rng.below(3) {
                0 => regs.rip = 0x0000_8000_0000_0000 | rng.next() as usize,
                1 => regs.rflags ^= 1 << KERNEL_FLAGS[rng.below(10) as usize],
                _ => regs.cs ^= 3,
            }
            let result = sys::write(&tracee.regs, &regs);
            match result {
                Ok(_) => Err(format!("regs/int write of {:x?} accepted", regs.rip)),
                result => expect("regs/int write", result, &[EINVAL, EPERM, ESRCH]),
            }
        }
        9 => {
            let mut regs = FloatRegisters::default();
            if sys::read(&tracee.float, &mut regs).is_err() {
                return Ok(());
            }
            if rng.chance(2) {
                // Any MXCSR_MASK is accepted and ignored: it must not widen the check below.
                let hostile = FloatRegisters {
                    mxcsr_mask: rng.next() as u32,
                    ..regs
                };
                expect(
                    "regs/float write of a hostile mask",
                    sys::write(&tracee.float, &hostile).map(drop),
                    &[ESRCH],
                )?;
                regs = hostile;
            }
            // A refused write only, for the same reason.
            regs.mxcsr |= 1 << (16 + rng.below(16));
            let result = sys::write(&tracee.float, &regs);
            match result {
                Ok(_) => Err(format!("regs/float write of mxcsr {:#x} accepted", {
                    regs.mxcsr
                })),
                result => expect("regs/float write", result, &[EINVAL, ESRCH]),
            }
        }
        10 => {
            let name = match rng.below(7) {
                0 => String::from("context"),
                1 => format!("clone/{}", rng.below(4)),
                2 => String::from("filter"),
                3 => String::from("watch"),
                4 => String::from("xsave"),
                5 => String::from("interrupt"),
                _ => String::from("clone/x"),
            };
            let Some(trace) = trace else { return Ok(()) };
            expect("trace dup", sys::dup(trace, &name), &[EINVAL, ESRCH])
        }
        11 => {
            let Some(trace) = trace else { return Ok(()) };
            let Ok(filter) = sys::dup(trace, "filter") else {
                return Err(String::from("dup filter failed"));
            };
            let result = sys::write(&filter, &filter_bytes(rng));
            expect("filter write", result, &[EINVAL, ESRCH])
        }
        12 => {
            let Some(trace) = trace else { return Ok(()) };
            let Ok(watch) = sys::dup(trace, "watch") else {
                return Err(String::from("dup watch failed"));
            };
            let result = sys::write(&watch, &watch_bytes(rng));
            expect("watch write", result, &[EINVAL, ESRCH])
        }
        13 => {
            let Some(trace) = trace else { return Ok(()) };
            let Ok(xsave) = sys::dup(trace, "xsave") else {
                return Err(String::from("dup xsave failed"));
            };
            let mut area = alloc::vec![0_u8; 4096];
            match sys::read(&xsave, &mut area) {
                Ok(len) => area.truncate(len),
                result => return expect("xsave read", result, &[ESRCH]),
            }
            // Only writes that must be refused, as for regs/float: a state bit no CPU has, the
            // compacted format, or a reserved header byte.
            let at = [512 + 7, 520 + 7, 528 + rng.below(48) as usize][rng.below(3) as usize];
            if let Some(byte) = area.get_mut(at) {
                *byte |= 0x80;
            }
            match sys::write(&xsave, &area) {
                Ok(_) => Err(format!("xsave write with byte {} set accepted", at)),
                result => expect("xsave write", result, &[EINVAL, ESRCH]),
            }
        }
        14 => {
            let Some(trace) = trace else { return Ok(()) };
            let Ok(interrupt) = sys::dup(trace, "interrupt") else {
                return Err(String::from("dup interrupt failed"));
            };
            expect("interrupt write", sys::write(&interrupt, &[]), &[ESRCH])
        }
        15 => wake(tracee, "Interrupt verb"),
        16 => {
            // A signal made pending as procmgr does it, for the thread or for the process.
            let signo = rng.below(64) as usize;
            match rng.chance(2) {
                true => tracee.signals.thread().word[signo / 32]
                    .fetch_or(1 << (signo % 32), Ordering::SeqCst),
                false => tracee
                    .signals
                    .process()
                    .pending
                    .fetch_or(1 << signo, Ordering::SeqCst),
            };
            wake(tracee, "signal")
        }
        17 => {
            let Some(trace) = trace else { return Ok(()) };
            let signal = match rng.below(5) {
                0 => 0,
                1 => 9,
                2 => 19,
                3 => rng.below(66),
                _ => rng.next(),
            };
            let mut bytes = [0_u8; 16];
            bytes[..8].copy_from_slice(&flags(rng).to_ne_bytes());
            bytes[8..].copy_from_slice(&signal.to_ne_bytes());
            let result = sys::write(trace, &bytes);
            expect("trace write with a signal", result, &[EINVAL, ESRCH])
        }
        _ => {
            if trace.is_some() {
                tracee.trace = None;
            } else {
                // Non-blocking, like every trace handle here: a read must never wait.
                let result = sys::openat(tracee.child.context_fd(), "trace", O_RDWR | O_NONBLOCK);
                if let Ok(trace) = result {
                    tracee.trace = Some(trace);
                } else {
                    expect("re-attach", result, &[ESRCH, EBUSY])?;
                }
            }
            Ok(())
        }
    }
}

/// Ends `tracee` and checks it can be reaped: killed (or exited) and gone in time.
fn reap(mut tracee: Tracee) -> Result<(), Failure> {
    // Closing the trace handle first also covers the detach and O_EXCL paths.
    tracee.trace = None;
    let status = tracee.child.status()?;
    if status == ContextStatus::NotYetStarted {
        // Dropping an unstarted child starts it into its exit.
        return Ok(());
    }
    tracee.child.kill()?;
    tracee.child.wait_exit()?;
    // Gone for good, not only marked: then its stack can go too.
    let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
    while !tracee.child.confirm_exited() {
        if sys::monotonic()? > deadline {
            fail!("a killed tracee never exited");
        }
        sys::yield_now();
    }
    Ok(())
}

/// Runs `ops` random operations from `seed`.
pub fn run(seed: u64, ops: u64) -> Result<(), Failure> {
    println!("# fuzz seed {:#x}, {} operations", seed, ops);
    let mut rng = Rng(seed | 1);
    let mut slots: Vec<Option<Tracee>> = (0..SLOTS).map(|_| None).collect();
    let (mut spawned, mut reaped) = (0_u64, 0_u64);
    for op in 0..ops {
        let slot = rng.below(SLOTS as u64) as usize;
        match slots[slot].take() {
            None => {
                let mut tracee = spawn(&mut rng)?;
                spawned += 1;
                if !rng.chance(4) {
                    tracee.child.start()?;
                }
                slots[slot] = Some(tracee);
            }
            Some(mut tracee) => {
                if rng.chance(40) {
                    if tracee.child.status()? == ContextStatus::NotYetStarted {
                        tracee.child.start()?;
                    } else {
                        reap(tracee)?;
                        reaped += 1;
                        continue;
                    }
                }
                if let Err(message) = operate(&mut rng, &mut tracee) {
                    fail!("seed {:#x}, operation {}: {}", seed, op, message);
                }
                slots[slot] = Some(tracee);
            }
        }
        if op % 100_000 == 99_999 {
            println!("# fuzz: {} operations done", op + 1);
        }
    }
    for tracee in slots.into_iter().flatten() {
        reap(tracee)?;
    }
    use core::sync::atomic::Ordering::Relaxed;
    println!(
        "# fuzz: {} operations, 0 failures ({} tracees, {} killed and reaped; {} calls done, {} refused as documented)",
        ops,
        spawned,
        reaped,
        DONE.load(Relaxed),
        REFUSED.load(Relaxed)
    );
    Ok(())
}

/// Verifies that random operations over trace, mem and regs handles of tracees in every state
/// only ever give documented answers, and that every tracee stays reapable.
pub fn random_operations_keep_invariants() -> Result<(), Failure> {
    run(SUITE_SEED, SUITE_OPS)
}

/// `make soak`: the same with the seed and count the build was given.
#[cfg(feature = "soak")]
pub fn soak() -> Result<(), Failure> {
    let parse = |text: Option<&str>, default: u64| {
        text.and_then(|text| {
            let text = text.trim();
            match text.strip_prefix("0x") {
                Some(hex) => u64::from_str_radix(hex, 16).ok(),
                None => text.parse().ok(),
            }
        })
        .unwrap_or(default)
    };
    let seed = parse(option_env!("FUZZ_SEED"), SUITE_SEED);
    let ops = parse(option_env!("FUZZ_OPS"), 1_000_000);
    run(seed, ops)
}
