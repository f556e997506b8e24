//! Multiprocessor races: tracer, tracee and a third context running at the same time on
//! different CPUs. The tests pin their contexts with `sched-affinity` (the runner, the tracer,
//! to CPU 0) and skip when the machine has one CPU. A context learns which CPU runs it from
//! `rdtscp`: the kernel loads each CPU's number into `IA32_TSC_AUX`.

use alloc::vec::Vec;
use core::{
    fmt,
    sync::atomic::{AtomicBool, AtomicIsize, AtomicU64, AtomicUsize, Ordering},
    time::Duration,
};

use syscall::{
    flag::PtraceFlags, ContextStatus, ContextVerb, GlobalSchemes, IntRegisters, EAGAIN, ESRCH,
    O_EXCL, O_NONBLOCK, O_RDONLY, O_RDWR,
};
use trace_core::Stop;

use super::trace::{next_stop, resume};
use crate::{
    child::{self, Child},
    harness::{Failure, Hex},
    sys::{self, AsFd, Fd},
};

/// How long a race test waits for progress before it calls the run stuck.
const STALL: Duration = Duration::from_secs(5);

/// How many CPUs the kernel runs: the first line of `sys:cpu`, `CPUs: N`.
fn cpu_count() -> Result<usize, Failure> {
    let cpu = sys::openat(sys::scheme_root(GlobalSchemes::Sys)?, "cpu", O_RDONLY)?;
    let mut buf = [0; 64];
    let len = sys::read(&cpu, &mut buf)?;
    let text = core::str::from_utf8(buf.get(..len).unwrap_or(&[])).unwrap_or("");
    let count = text
        .lines()
        .next()
        .and_then(|line| line.strip_prefix("CPUs: "))
        .and_then(|count| count.trim().parse().ok());
    match count {
        Some(count) => Ok(count),
        None => fail!("sys:cpu does not start with `CPUs: N`: {:?}", text),
    }
}

/// The CPU count, or a skip when there is only one CPU to race on.
fn cpus_or_skip() -> Result<usize, Failure> {
    let cpus = cpu_count()?;
    if cpus < 2 {
        skip!(
            "needs 2 CPUs, the machine has {} (run with QEMU_SMP=2 or more)",
            cpus
        );
    }
    Ok(cpus)
}

/// The number of the CPU running the caller.
fn current_cpu() -> u32 {
    let mut aux = 0;
    // SAFETY: rdtscp only reads the time-stamp counter and IA32_TSC_AUX into registers.
    unsafe { core::arch::x86_64::__rdtscp(&mut aux) };
    aux
}

/// Lets the context behind the context handle `context` run on `cpu` only, or on every CPU.
fn pin(context: impl AsFd, cpu: Option<usize>) -> Result<(), Failure> {
    let affinity = sys::dup(context, "sched-affinity")?;
    // The mask is a bit per CPU in native words; its size is the kernel's, learnt by a read.
    let mut mask = [0_u8; 64];
    let len = sys::read(&affinity, &mut mask)?;
    let Some(mask) = mask.get_mut(..len) else {
        fail!("sched-affinity read {} bytes", len);
    };
    match cpu {
        None => mask.fill(0xff),
        Some(cpu) => {
            mask.fill(0);
            let Some(byte) = mask.get_mut(cpu / 8) else {
                fail!("CPU {} is beyond the {}-byte affinity mask", cpu, len);
            };
            *byte = 1 << (cpu % 8);
        }
    }
    check_eq!(sys::write(&affinity, mask)?, len, "sched-affinity write");
    Ok(())
}

/// The runner pinned to one CPU for a test; on every CPU again when dropped.
pub(crate) struct RunnerPin(Fd);

impl RunnerPin {
    pub(crate) fn to(cpu: usize) -> Result<Self, Failure> {
        let me = sys::dup(sys::scheme_root(GlobalSchemes::Proc)?, "cur-context")?;
        pin(&me, Some(cpu))?;
        // Takes effect at the runner's next switch: move now.
        sys::yield_now();
        Ok(Self(me))
    }
}

impl Drop for RunnerPin {
    fn drop(&mut self) {
        let _ = pin(&self.0, None);
    }
}

/// A child pinned to `cpu`, not started.
pub(crate) fn pinned_child(
    entry: fn(usize) -> !,
    arg: usize,
    cpu: usize,
) -> Result<Child, Failure> {
    let child = Child::new(entry, arg)?;
    pin(child.context_fd(), Some(cpu))?;
    Ok(child)
}

/// Waits until `child` has exited for good, not only been marked killed: a kill that is lost
/// shows `ForceKilled` while the context never runs again. Fails after [`STALL`].
fn wait_gone(child: &mut Child, what: fmt::Arguments) -> Result<(), Failure> {
    let deadline = sys::monotonic()? + STALL;
    while !child.confirm_exited() {
        if sys::monotonic()? > deadline {
            fail!(
                "{}: not gone after {:?}, status {:?}",
                what,
                STALL,
                child.status()
            );
        }
        sys::yield_now();
    }
    Ok(())
}

/// Busy-waits `spins` rounds, to vary where in the other side's work a race lands.
fn spin(spins: usize) {
    for _ in 0..spins {
        core::hint::spin_loop();
    }
}

/// Set by [`kill_after`] once it runs.
static KILLER_RUNS: AtomicBool = AtomicBool::new(false);

/// Force-kills the context whose `status` handle is its first fd after `spins` rounds.
fn kill_after(spins: usize) -> ! {
    KILLER_RUNS.store(true, Ordering::Relaxed);
    spin(spins);
    let _ = sys::write_usizes(child::given(0), &[ContextVerb::ForceKill as usize]);
    child::exit()
}

/// The CPUs [`record_cpus`] ran on, a bit each.
static SEEN_CPUS: AtomicU64 = AtomicU64::new(0);
static RECORDING: AtomicBool = AtomicBool::new(false);

/// Spins, recording each CPU it runs on in [`SEEN_CPUS`], while [`RECORDING`] is set.
fn record_cpus(_: usize) -> ! {
    while RECORDING.load(Ordering::Relaxed) {
        SEEN_CPUS.fetch_or(1 << (current_cpu() % 64), Ordering::Relaxed);
    }
    child::exit()
}

/// Verifies that user code runs on every CPU: busy contexts, twice as many as CPUs and pinned
/// to none, are seen (through `rdtscp`) on each CPU within a few seconds. Prints
/// `# cpus: N of M ran user code`.
pub fn busy_contexts_run_on_every_cpu() -> Result<(), Failure> {
    let cpus = cpu_count()?;
    if cpus > 63 {
        fail!("{} CPUs: more than the mask records", cpus);
    }
    let every = (1_u64 << cpus) - 1;
    SEEN_CPUS.store(0, Ordering::Relaxed);
    RECORDING.store(true, Ordering::Relaxed);
    let mut children = Vec::new();
    for _ in 0..2 * cpus {
        let mut child = Child::new(record_cpus, 0)?;
        child.start()?;
        children.push(child);
    }
    let deadline = sys::monotonic()? + STALL;
    while SEEN_CPUS.load(Ordering::Relaxed) != every && sys::monotonic()? < deadline {
        sys::sleep(Duration::from_millis(10))?;
    }
    RECORDING.store(false, Ordering::Relaxed);
    for child in &mut children {
        check_eq!(child.wait_exit()?, ContextStatus::Dead);
    }
    let seen = SEEN_CPUS.load(Ordering::Relaxed);
    println!("# cpus: {} of {} ran user code", seen.count_ones(), cpus);
    check_eq!(
        Hex(seen as usize),
        Hex(every as usize),
        "the CPUs that ran user code"
    );
    Ok(())
}

/// Set while [`spin_in_user_code`] is to go on; it sets [`SPUN`] once it runs.
static SPIN_ON: AtomicBool = AtomicBool::new(false);
static SPUN: AtomicBool = AtomicBool::new(false);

/// Spins in user code, making no syscall, while [`SPIN_ON`] is set.
fn spin_in_user_code(_: usize) -> ! {
    SPUN.store(true, Ordering::SeqCst);
    while SPIN_ON.load(Ordering::Relaxed) {
        core::hint::spin_loop();
    }
    child::exit()
}

/// Verifies that an unmap on CPU 0 completes while a context of the same address space spins
/// in user code on CPU 1: the unmap's TLB shootdown reaches CPU 1 as an IPI, which acknowledges
/// it. With an xAPIC, upstream sent IPIs meant for an AP to CPU 0, and the unmap waited, with
/// interrupts off and so without ticks for anyone, forever (the suite's timeout fails it). An
/// early return leaves the spinner to `Child`'s drop, which kills it.
pub fn unmap_while_a_thread_spins_elsewhere() -> Result<(), Failure> {
    const PAGE: usize = 4096;
    cpus_or_skip()?;
    let _pin = RunnerPin::to(0)?;
    SPIN_ON.store(true, Ordering::SeqCst);
    SPUN.store(false, Ordering::SeqCst);
    let mut spinner = pinned_child(spin_in_user_code, 0, 1)?;
    spinner.start()?;
    let deadline = sys::monotonic()? + STALL;
    while !SPUN.load(Ordering::SeqCst) {
        if sys::monotonic()? > deadline {
            SPIN_ON.store(false, Ordering::SeqCst);
            fail!("the spinner never ran");
        }
        sys::yield_now();
    }
    for round in 0..100_u8 {
        let page = sys::map_anonymous(PAGE)?;
        // SAFETY: the page was just mapped read-write, and nothing else uses it.
        unsafe { (page as *mut u8).write_volatile(round) };
        // SAFETY: only this loop used the page.
        unsafe { sys::unmap(page, PAGE)? };
    }
    SPIN_ON.store(false, Ordering::SeqCst);
    check_eq!(spinner.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

const WAKEUP_ROUNDS: usize = 100_000;
/// How long [`ping_pong`] runs at most: under TCG a round trip across CPUs takes up to about
/// 0.6 ms (at -smp 4 on 2 host cores), so 10^5 rounds may not fit.
const WAKEUP_BUDGET: Duration = Duration::from_secs(10);
/// Rounds [`echo`] has completed.
static ECHOED: AtomicUsize = AtomicUsize::new(0);
/// How [`echo`] ended before its last round: 0 while it has not, else the length a read
/// returned plus one, or the negated errno of a failed read or write.
static ECHO_END: AtomicIsize = AtomicIsize::new(0);
/// Tells [`ping`] to stop after its round.
static PING_STOP: AtomicBool = AtomicBool::new(false);

/// The tracee: [`WAKEUP_ROUNDS`] times, reads a byte from its first fd (a pipe, so it blocks
/// until [`ping`] writes) and answers it on its second.
fn echo(_: usize) -> ! {
    let mut byte = [0];
    let end = |result: sys::Result<usize>| match result {
        Ok(len) => len as isize + 1,
        Err(error) => -(error.errno as isize),
    };
    for _ in 0..WAKEUP_ROUNDS {
        let read = sys::read(child::given(0), &mut byte);
        if read != Ok(1) {
            ECHO_END.store(end(read), Ordering::Relaxed);
            break;
        }
        ECHOED.fetch_add(1, Ordering::Relaxed);
        if let Err(error) = sys::write(child::given(1), &byte) {
            ECHO_END.store(end(Err(error)), Ordering::Relaxed);
            break;
        }
    }
    child::exit()
}

/// The writer: up to [`WAKEUP_ROUNDS`] times, until [`PING_STOP`], writes a byte to its first
/// fd and waits for the answer on its second.
fn ping(_: usize) -> ! {
    let mut byte = [0];
    for _ in 0..WAKEUP_ROUNDS {
        if PING_STOP.load(Ordering::Relaxed)
            || sys::write(child::given(0), &byte).is_err()
            || !matches!(sys::read(child::given(1), &mut byte), Ok(1))
        {
            break;
        }
    }
    child::exit()
}

/// Verifies that a context blocked in a pipe read is always woken by a writer on another
/// CPU, with no tracer: 10^5 wakeups (or as many as fit in 10 s), none lost. The control for
/// [`pipe_wakeup_survives_register_reads`].
pub fn pipe_wakeup_across_cpus_is_never_lost() -> Result<(), Failure> {
    ping_pong(false)
}

/// Verifies that a tracee blocked in a pipe read is always woken by a writer on another CPU
/// while its tracer reads its `regs/int` in a loop (on a third CPU when there is one): 10^5
/// wakeups (or as many as fit in 10 s), none lost.
pub fn pipe_wakeup_survives_register_reads() -> Result<(), Failure> {
    ping_pong(true)
}

/// Rounds of [`ping`] (pinned to CPU 1) waking [`echo`] (CPU 2, or CPU 0 with the runner on
/// 2 CPUs) for [`WAKEUP_ROUNDS`] or [`WAKEUP_BUDGET`], the runner on CPU 0 reading the echo's
/// `regs/int` in a loop if `read_registers`, as its tracer. Fails when no round completes for
/// [`STALL`]. Prints `# smp: N wakeups in T ms`.
fn ping_pong(read_registers: bool) -> Result<(), Failure> {
    let cpus = cpus_or_skip()?;
    let _pinned = RunnerPin::to(0)?;
    let (request_reader, request_writer) = sys::pipe()?;
    let (answer_reader, answer_writer) = sys::pipe()?;
    ECHOED.store(0, Ordering::Relaxed);
    ECHO_END.store(0, Ordering::Relaxed);
    PING_STOP.store(false, Ordering::Relaxed);
    let mut tracee = pinned_child(echo, 0, 2 % cpus)?;
    tracee.give(&request_reader)?;
    tracee.give(&answer_writer)?;
    let mut writer = pinned_child(ping, 0, 1)?;
    writer.give(&request_writer)?;
    writer.give(&answer_reader)?;
    let _trace = if read_registers {
        Some(tracee.open("trace")?)
    } else {
        None
    };
    let regs = tracee.open("regs/int")?;
    tracee.start()?;
    writer.start()?;

    let mut buf = IntRegisters::default();
    let start = sys::monotonic()?;
    let (mut reads, mut last, mut since) = (0_usize, 0, start);
    loop {
        let done = ECHOED.load(Ordering::Relaxed);
        let now = sys::monotonic()?;
        if done == WAKEUP_ROUNDS || now.saturating_sub(start) > WAKEUP_BUDGET {
            break;
        }
        if done != last {
            (last, since) = (done, now);
        } else if now.saturating_sub(since) > STALL {
            fail!(
                "stuck after {} of {} rounds ({} register reads): tracee {:?} (ended early: \
                 {}), writer {:?}",
                done,
                WAKEUP_ROUNDS,
                reads,
                tracee.status()?,
                ECHO_END.load(Ordering::Relaxed),
                writer.status()?
            );
        }
        if read_registers {
            sys::read(&regs, &mut buf)?;
            reads += 1;
        }
        // Lets the tracee run where it shares the runner's CPU.
        sys::yield_now();
    }
    let elapsed = sys::monotonic()?.saturating_sub(start);
    // The writer stops, and the echo reads end-of-file once the last writer is gone.
    PING_STOP.store(true, Ordering::Relaxed);
    drop(request_writer);
    wait_gone(&mut writer, format_args!("the writer after the last round"))?;
    wait_gone(&mut tracee, format_args!("the echo after end-of-file"))?;
    check_eq!(writer.status()?, ContextStatus::Dead);
    check_eq!(tracee.status()?, ContextStatus::Dead);
    let done = ECHOED.load(Ordering::Relaxed);
    println!("# smp: {} wakeups in {} ms", done, elapsed.as_millis());
    let expected_end = if done == WAKEUP_ROUNDS { 0 } else { 1 };
    check_eq!(
        ECHO_END.load(Ordering::Relaxed),
        expected_end,
        "how the echo ended (1: end-of-file)"
    );
    Ok(())
}

/// Slot of each new context's handle in [`create_contexts`]'s own table (below the runner's
/// dynamic fds, above the fixed slots).
const NEW_CONTEXT_FD: usize = 40;
/// How many contexts [`create_contexts`] makes: a never-started context outlives its handle
/// (nothing but a start or a kill ends it, and a kill lets it run), so each is leaked.
const CREATIONS: usize = 8;
/// Contexts [`create_contexts`] has created.
static CREATED: AtomicUsize = AtomicUsize::new(0);

/// Creates [`CREATIONS`] contexts (`new-context` on its first fd, the proc root), closing each
/// handle again, then yields until killed.
fn create_contexts(_: usize) -> ! {
    for _ in 0..CREATIONS {
        if syscall::dup_into(child::given(0), NEW_CONTEXT_FD, b"new-context").is_err() {
            break;
        }
        let _ = sys::close(NEW_CONTEXT_FD);
        CREATED.fetch_add(1, Ordering::Relaxed);
    }
    child::yield_forever(0)
}

const CLOSE_ROUNDS: usize = 50;

/// Verifies that closing an `O_EXCL` trace handle on one CPU kills a tracee creating contexts
/// in a loop on another, whatever creation it lands in: the tracee is gone each time.
pub fn exclusive_close_kills_tracee_creating_contexts() -> Result<(), Failure> {
    cpus_or_skip()?;
    let _pinned = RunnerPin::to(0)?;
    let proc_root = sys::scheme_root(GlobalSchemes::Proc)?;
    for round in 0..CLOSE_ROUNDS {
        let mut tracee = pinned_child(create_contexts, 0, 1)?;
        tracee.give(proc_root)?;
        let trace = sys::openat(tracee.context_fd(), "trace", O_RDWR | O_EXCL)?;
        let before = CREATED.load(Ordering::Relaxed);
        tracee.start()?;
        let deadline = sys::monotonic()? + STALL;
        while CREATED.load(Ordering::Relaxed) <= before {
            if sys::monotonic()? > deadline {
                fail!(
                    "round {}: the tracee created nothing: {:?}",
                    round,
                    tracee.status()?
                );
            }
            core::hint::spin_loop();
        }
        spin(round * 20);
        trace.close()?;
        check_eq!(
            tracee.wait_exit()?,
            ContextStatus::ForceKilled,
            "round {}",
            round
        );
        wait_gone(&mut tracee, format_args!("round {}", round))?;
    }
    Ok(())
}

const KILL_ROUNDS: usize = 50;

/// Verifies that a kill from a third CPU ends a tracee that stops at every syscall on its
/// CPU while the tracer reads and resumes its stops on a third: the tracer sees `ESRCH`, never
/// a hang, however the kill falls among the stops and resumes.
pub fn kill_races_syscall_stops() -> Result<(), Failure> {
    let cpus = cpus_or_skip()?;
    let _pinned = RunnerPin::to(0)?;
    let armed = PtraceFlags::PTRACE_STOP_PRE_SYSCALL;
    for round in 0..KILL_ROUNDS {
        let mut tracee = pinned_child(child::yield_forever, 0, 1)?;
        let trace = sys::openat(tracee.context_fd(), "trace", O_RDWR | O_NONBLOCK)?;
        resume(&trace, armed)?;
        let mut killer = pinned_child(kill_after, round * 2000, 2 % cpus)?;
        killer.give(tracee.open("status")?)?;
        tracee.start()?;
        killer.start()?;
        let (mut stops, deadline) = (0_usize, sys::monotonic()? + STALL);
        loop {
            match next_stop(&trace) {
                Ok(Stop::SyscallEntry { .. }) => {
                    stops += 1;
                    match resume(&trace, armed) {
                        Err(error) if error.errno == ESRCH => break,
                        other => other?,
                    }
                }
                Ok(other) => fail!("round {}: unexpected stop {:?}", round, other),
                Err(error) if error.errno == ESRCH => break,
                Err(error) if error.errno == EAGAIN => {
                    if sys::monotonic()? > deadline {
                        fail!(
                            "round {}: no stop and no ESRCH for {:?} after {} stops: tracee {:?}",
                            round,
                            STALL,
                            stops,
                            tracee.status()?
                        );
                    }
                }
                Err(error) => return Err(error.into()),
            }
        }
        drop(trace);
        check_eq!(killer.wait_exit()?, ContextStatus::Dead, "round {}", round);
        wait_gone(
            &mut tracee,
            format_args!("round {} ({} stops)", round, stops),
        )?;
    }
    Ok(())
}

/// Verifies that a kill from another CPU racing the start of a context ends it, whether it
/// lands before the start, during it or after it.
pub fn kill_races_start() -> Result<(), Failure> {
    cpus_or_skip()?;
    let _pinned = RunnerPin::to(0)?;
    for round in 0..KILL_ROUNDS {
        let mut target = pinned_child(child::yield_forever, 0, 1)?;
        let mut killer = pinned_child(kill_after, round * 200, 1)?;
        killer.give(target.open("status")?)?;
        KILLER_RUNS.store(false, Ordering::Relaxed);
        killer.start()?;
        // Reaching CPU 1 takes the killer a scheduler tick or so; the race starts after.
        let deadline = sys::monotonic()? + STALL;
        while !KILLER_RUNS.load(Ordering::Relaxed) {
            if sys::monotonic()? > deadline {
                fail!(
                    "round {}: the killer never ran: {:?}",
                    round,
                    killer.status()?
                );
            }
        }
        spin(KILL_ROUNDS * 100);
        // A start after the kill may be refused; either way the target must end.
        let _ = target.start();
        target.started_by_another();
        check_eq!(killer.wait_exit()?, ContextStatus::Dead, "round {}", round);
        wait_gone(&mut target, format_args!("round {}", round))?;
    }
    Ok(())
}

/// More rounds than [`KILL_ROUNDS`]: the window a register read opens is short.
const REGISTER_KILL_ROUNDS: usize = 200;

/// Blocks reading its first fd, a pipe no one writes to.
fn read_forever(_: usize) -> ! {
    let _ = sys::read(child::given(0), &mut [0]);
    child::exit()
}

/// Verifies that a kill from another CPU ends a tracee blocked in a pipe read while its tracer
/// reads its `regs/int` in a loop (each read parks the tracee for a moment): the kill is
/// never lost.
pub fn kill_races_register_reads() -> Result<(), Failure> {
    let cpus = cpus_or_skip()?;
    let _pinned = RunnerPin::to(0)?;
    let (reader, _writer) = sys::pipe()?;
    let mut buf = IntRegisters::default();
    for round in 0..REGISTER_KILL_ROUNDS {
        let mut tracee = pinned_child(read_forever, 0, 1)?;
        tracee.give(&reader)?;
        let regs = tracee.open("regs/int")?;
        tracee.start()?;
        tracee.wait_status(ContextStatus::Blocked)?;
        let mut killer = pinned_child(kill_after, round % 50 * 500, 2 % cpus)?;
        killer.give(tracee.open("status")?)?;
        killer.start()?;
        let deadline = sys::monotonic()? + STALL;
        while tracee.status()? != ContextStatus::ForceKilled {
            if sys::monotonic()? > deadline {
                // A killer that is Dead has killed: the tracee still Blocked lost the kill.
                fail!(
                    "round {}: tracee {:?} for {:?}, killer {:?}",
                    round,
                    tracee.status()?,
                    STALL,
                    killer.status()?
                );
            }
            sys::read(&regs, &mut buf)?;
        }
        // Reads right after the kill, too: the window where a parking can undo it.
        for _ in 0..10 {
            let _ = sys::read(&regs, &mut buf);
        }
        drop(regs);
        check_eq!(killer.wait_exit()?, ContextStatus::Dead, "round {}", round);
        wait_gone(&mut tracee, format_args!("round {}", round))?;
    }
    Ok(())
}
