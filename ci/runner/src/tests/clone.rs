//! Following: contexts a tracee creates are traced from their first instruction.

use alloc::{format, vec::Vec};

use syscall::{flag::PtraceFlags, ContextStatus, GlobalSchemes, EAGAIN, EINVAL, ESRCH, SYS_WRITE};
use trace_core::Stop;

use super::trace::{drain, next_stop, resume};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys::{self, Fd},
};

const MESSAGE: &[u8] = b"grandchild";
/// What the grandchild of [`grandchild_is_traced_from_the_start`] does: only its write.
static WRITE_ONLY: Grandchild = Grandchild {
    message: MESSAGE,
    close: 0,
};

/// What the grandchild [`spawn_grandchild`] spawns does: writes `message` to its own first fd,
/// closes `close` unless it is 0, then exits.
pub(super) struct Grandchild {
    pub(super) message: &'static [u8],
    pub(super) close: usize,
}

impl Grandchild {
    /// The argument for [`spawn_grandchild`] (and so for [`grandchild`]): the address of this
    /// plan, which every child shares, as all run in the runner's address space.
    pub(super) fn arg(&'static self) -> usize {
        self as *const Self as usize
    }
}

fn grandchild(plan: usize) -> ! {
    // SAFETY: `plan` comes from `Grandchild::arg`: the address of a static, in the address
    // space this child shares with the runner.
    let plan = unsafe { &*(plan as *const Grandchild) };
    let _ = sys::write(child::given(0), plan.message);
    if plan.close != 0 {
        let _ = sys::close(plan.close);
    }
    child::exit()
}

/// Spawns a grandchild doing what `plan` (from [`Grandchild::arg`]) says, with its own first
/// fd, waits for it, then exits.
pub(super) fn spawn_grandchild(plan: usize) -> ! {
    let run = || -> sys::Result<()> {
        let mut grandchild = Child::new(grandchild, plan)?;
        grandchild.give(child::given(0))?;
        grandchild.start()?;
        grandchild.wait_exit().map(drop)
    };
    let _ = run();
    child::exit()
}

/// Serves the tracee behind the non-blocking `parent` and the one clone it reports until both
/// are gone, resuming every stop with `armed`. A clone stop of the parent's is taken through
/// `on_clone` (given `parent` and the clone's number), which returns the clone's trace handle.
/// Returns that handle (if any) and the clone's syscall entries as (number, first argument).
/// Any other stop fails, as does making no progress for [`child::WAIT_TIMEOUT`].
pub(super) fn follow_one_clone(
    parent: &Fd,
    armed: PtraceFlags,
    mut on_clone: impl FnMut(&Fd, usize) -> Result<Fd, Failure>,
) -> Result<(Option<Fd>, Vec<(usize, usize)>), Failure> {
    let mut grandchild: Option<Fd> = None;
    let mut seen = Vec::new();
    let mut gone = [false; 2];
    let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
    while gone != [true; 2] {
        let mut progress = false;
        let mut claimed = None;
        for (index, trace) in [Some(parent), grandchild.as_ref()].into_iter().enumerate() {
            let Some(trace) = trace else { continue };
            match next_stop(trace) {
                Err(error) if error.errno == EAGAIN => continue,
                Err(error) if error.errno == ESRCH => {
                    gone[index] = true;
                    continue;
                }
                Err(error) => return Err(error.into()),
                Ok(Stop::Clone { number, .. }) if index == 0 => {
                    claimed = Some(on_clone(parent, number)?);
                }
                Ok(Stop::SyscallEntry { number, args }) => {
                    if index == 1 {
                        seen.push((number, args[0]));
                    }
                }
                Ok(other) => fail!("unexpected stop {:?}", other),
            }
            resume(trace, armed)?;
            progress = true;
        }
        if claimed.is_some() {
            grandchild = claimed;
        }
        if !progress {
            if sys::monotonic()? > deadline {
                fail!("timed out; grandchild syscalls so far: {:?}", seen);
            }
            sys::yield_now();
        }
    }
    Ok((grandchild, seen))
}

/// Verifies that a context created by a tracee is traced from its first instruction by the
/// same tracer, which sees every one of its syscalls, while the creator goes on.
pub fn grandchild_is_traced_from_the_start() -> Result<(), Failure> {
    let armed = PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_EVENT_CLONE;
    let (reader, writer) = sys::pipe_nonblocking()?;
    let proc_root = sys::scheme_root(GlobalSchemes::Proc)?;
    let mut child = Child::new(spawn_grandchild, WRITE_ONLY.arg())?;
    child.give(&writer)?;
    child.give_as(proc_root, proc_root)?;
    let parent = sys::openat(
        child.context_fd(),
        "trace",
        syscall::O_RDWR | syscall::O_NONBLOCK,
    )?;
    resume(&parent, armed)?;
    child.start()?;

    let mut claimed = false;
    let (_grandchild, seen) = follow_one_clone(&parent, armed, |parent, number| {
        check_eq!(!claimed, true, "one clone");
        let name = format!("clone/{}", number);
        let grandchild = sys::dup(parent, &name)?;
        check_errno!(sys::dup(parent, &name).map(drop), EINVAL);
        claimed = true;
        Ok(grandchild)
    })?;
    check_eq!(
        seen,
        [(SYS_WRITE, child::given(0)), (SYS_WRITE, child::SELF_FD)],
        "the grandchild's syscalls"
    );
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, MESSAGE);
    Ok(())
}

/// How many contexts exist now: the lines of `sys:context` after its header.
fn context_count() -> Result<usize, Failure> {
    let sys_root = sys::scheme_root(GlobalSchemes::Sys)?;
    let table = sys::openat(sys_root, "context", syscall::O_RDONLY)?;
    let mut text = Vec::new();
    let mut buf = [0; 512];
    loop {
        let len = sys::read(&table, &mut buf)?;
        if len == 0 {
            break;
        }
        text.extend_from_slice(buf.get(..len).unwrap_or(&[]));
    }
    Ok(text
        .split(|byte| *byte == b'\n')
        .filter(|line| !line.is_empty())
        .count())
}

/// Creates one context through `new-context` (never started), then exits.
pub(super) fn create_context(_: usize) -> ! {
    let proc_root = sys::scheme_root(GlobalSchemes::Proc);
    if let Ok(root) = proc_root {
        let _ = sys::dup(root, "new-context");
    }
    child::exit()
}

/// Verifies that killing a tracee at its clone stop leaves no context behind: the context it
/// was creating goes too, once the tracer closes its handle.
pub fn kill_at_clone_stop_leaks_nothing() -> Result<(), Failure> {
    let before = context_count()?;
    let mut child = Child::new(create_context, 0)?;
    let proc_root = sys::scheme_root(GlobalSchemes::Proc)?;
    child.give_as(proc_root, proc_root)?;
    let trace = child.open("trace")?;
    resume(&trace, PtraceFlags::PTRACE_EVENT_CLONE)?;
    child.start()?;
    let Stop::Clone { .. } = next_stop(&trace)? else {
        fail!("expected the clone stop");
    };
    child.kill()?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    trace.close()?;
    drop(child);
    // A killed context is reaped once it has run its exit: give it a moment.
    let deadline = sys::monotonic()? + child::WAIT_TIMEOUT;
    while context_count()? != before && sys::monotonic()? < deadline {
        sys::yield_now();
    }
    check_eq!(context_count()?, before, "contexts after the cycle");
    Ok(())
}
