//! Leak check: spawn/trace/kill cycles, with kills at every stop kind, give all memory back.

use syscall::{
    flag::PtraceFlags, CallFlags, GlobalSchemes, StatVfs, StdFsCallKind, O_EXCL, O_RDWR,
};
use trace_core::Stop;

use super::{
    clone::create_context,
    trace::{next_stop, resume},
};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys::{self, Fd},
};

const PRE: PtraceFlags = PtraceFlags::PTRACE_STOP_PRE_SYSCALL;
const POST: PtraceFlags = PtraceFlags::PTRACE_STOP_POST_SYSCALL;
const STEP: PtraceFlags = PtraceFlags::PTRACE_STOP_SINGLESTEP;
const EXIT: PtraceFlags = PtraceFlags::PTRACE_STOP_EXIT;
const CLONE: PtraceFlags = PtraceFlags::PTRACE_EVENT_CLONE;
/// Cycles measured (after one to warm up).
const CYCLES: usize = 4;

/// Free physical memory in frames, as `memory:` reports it (fstatvfs).
fn free_frames() -> Result<u64, Failure> {
    let root = sys::scheme_root(GlobalSchemes::Memory)?;
    let mut stat = StatVfs::default();
    syscall::call_ro(
        root,
        &mut stat,
        CallFlags::STD_FS,
        &[StdFsCallKind::Fstatvfs as u64, 0, 0],
    )?;
    Ok(stat.f_bfree)
}

/// Writes to its first fd a few times, yielding, then exits.
fn busy(_: usize) -> ! {
    for _ in 0..1000 {
        let _ = sys::write(child::given(0), b"x");
        sys::yield_now();
    }
    child::exit()
}

/// The stop at which a cycle kills its tracee.
#[derive(Clone, Copy, Debug, PartialEq)]
enum KillAt {
    Running,
    SyscallEntry,
    SyscallExit,
    Step,
    Exit,
    SelfExit,
    Clone,
    ExclusiveClose,
}

/// One spawn/trace/kill cycle.
fn cycle(at: KillAt) -> Result<(), Failure> {
    let (_reader, writer) = sys::pipe_nonblocking()?;
    let entry = match at {
        KillAt::Clone => create_context,
        KillAt::Exit | KillAt::SelfExit => child::exit_at_once,
        _ => busy,
    };
    let mut child = Child::new(entry, 0)?;
    child.give(&writer)?;
    let proc_root = sys::scheme_root(GlobalSchemes::Proc)?;
    child.give_as(proc_root, proc_root)?;
    let exclusive = matches!(at, KillAt::ExclusiveClose);
    let trace: Fd = sys::openat(
        child.context_fd(),
        "trace",
        O_RDWR | if exclusive { O_EXCL } else { 0 },
    )?;
    let armed = match at {
        KillAt::Running => PtraceFlags::empty(),
        KillAt::SyscallEntry | KillAt::ExclusiveClose | KillAt::Step => PRE,
        KillAt::SyscallExit => POST,
        KillAt::Exit => EXIT,
        KillAt::SelfExit => PtraceFlags::empty(),
        KillAt::Clone => CLONE,
    };
    resume(&trace, armed)?;
    child.start()?;
    match at {
        KillAt::Running | KillAt::SelfExit => sys::yield_now(),
        KillAt::Step => {
            next_stop(&trace)?;
            resume(&trace, STEP)?;
            check_eq!(next_stop(&trace)?.flag(), STEP, "{:?}", at);
        }
        KillAt::Exit => {
            check_eq!(next_stop(&trace)?.flag(), EXIT, "{:?}", at);
        }
        KillAt::Clone => {
            let Stop::Clone { .. } = next_stop(&trace)? else {
                fail!("{:?}: expected the clone stop", at);
            };
        }
        KillAt::SyscallEntry | KillAt::SyscallExit | KillAt::ExclusiveClose => {
            next_stop(&trace)?;
        }
    }
    if exclusive {
        trace.close()?;
    } else {
        child.kill()?;
    }
    child.wait_exit()?;
    let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
    while !child.confirm_exited() {
        if sys::monotonic()? > deadline {
            fail!("{:?}: the killed tracee never exited", at);
        }
        sys::yield_now();
    }
    Ok(())
}

const ALL: [KillAt; 8] = [
    KillAt::SelfExit,
    KillAt::Running,
    KillAt::SyscallEntry,
    KillAt::SyscallExit,
    KillAt::Step,
    KillAt::Exit,
    KillAt::Clone,
    KillAt::ExclusiveClose,
];

/// Verifies that free memory is the same before and after spawn/trace/kill cycles that kill
/// tracees running, at syscall entry and exit, at a step, at the clone stop and by closing an
/// O_EXCL handle; and that killing a tracee at its exit stop costs no more than the same exit
/// untraced. (A context that ends itself through its own `status` handle leaks its context
/// upstream: the syscall frames it never returns from hold that handle open. A tracee reaches
/// its exit stop only that way here, so its cycles are compared with untraced ones.)
pub fn kill_cycles_leak_nothing() -> Result<(), Failure> {
    // One round first, so that the runner's heap and the kernel's caches have grown.
    for at in ALL {
        cycle(at)?;
    }
    let mut lost = alloc::vec::Vec::new();
    for at in ALL {
        let before = free_frames()?;
        for _ in 0..CYCLES {
            cycle(at)?;
        }
        // Dead contexts are freed when their last reference goes, a moment after they exit.
        let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
        while free_frames()? < before && sys::monotonic()? < deadline {
            sys::yield_now();
        }
        lost.push((at, before.saturating_sub(free_frames()?)));
    }
    let untraced = lost
        .iter()
        .find(|(at, _)| *at == KillAt::SelfExit)
        .map(|(_, n)| *n);
    for (at, frames) in lost {
        let allowed = match at {
            KillAt::Exit | KillAt::SelfExit => untraced.unwrap_or(0),
            _ => 0,
        };
        check_eq!(
            frames,
            allowed,
            "frames lost by {} cycles killing {:?}",
            CYCLES,
            at
        );
    }
    Ok(())
}
