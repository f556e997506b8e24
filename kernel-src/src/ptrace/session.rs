//! The session, the handles a tracer holds on it, and how a tracer gets one: attaching to a
//! context, and `dup` on the event stream.

use alloc::{
    sync::{Arc, Weak},
    vec::Vec,
};
use core::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};

use syscall::data::GlobalSchemes;
use trace_core::{FilterMask, SessionState, TraceDup};

use super::{arch, follow};
use crate::{
    context::{self, ContextLock},
    event,
    scheme::SchemeExt,
    sync::{CleanLockToken, LockToken, Mutex, WaitCondition, L1},
    syscall::{
        error::{Error, Result, EBUSY, EINVAL, EPERM, ESRCH},
        flag::{PtraceFlags, EVENT_READ, O_EXCL},
    },
};

pub struct Session {
    pub(super) state: Mutex<L1, SessionState>,
    /// `state.armed()`, readable without the lock by context switches.
    pub(super) armed: AtomicU64,
    /// The tracee sleeps here while stopped.
    pub(super) tracee_wait: WaitCondition,
    /// The tracee sleeps in a stop: its `WaitCondition::wait` then ignores pending signals.
    /// Written and read by the tracee only.
    pub(super) in_stop: AtomicBool,
    /// The tracer sleeps here until an event arrives or the tracee exits.
    pub(super) tracer_wait: WaitCondition,
    pub(super) tracee: Weak<ContextLock>,
    /// The `kernel.proc` handle id, for `event:` notifications.
    handle_id: AtomicUsize,
    /// `fevent` was asked of the event stream: an `event:` queue may watch it. Until then,
    /// notifying `event:` would be a registry lookup that finds nothing, on every stop.
    pub(super) watched: AtomicBool,
    /// Opened with `O_EXCL`: closing the handle kills the tracee.
    pub(super) kill_on_close: bool,
    /// Sessions of contexts this tracee created, until the tracer takes them (`clone/<n>`).
    pub(super) clones: Mutex<L1, Vec<(usize, Arc<Session>)>>,
    pub(super) next_clone: AtomicUsize,
    /// `state.filter().mask()`, written and read under the tracee's context lock.
    pub(super) filter_mask: [AtomicU64; 8],
    /// The watchpoints the tracer set, and what the context switch loads for them.
    pub(super) watches: arch::Watches,
}

impl core::fmt::Debug for Session {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Session")
            .field("armed", &self.armed())
            .field("kill_on_close", &self.kill_on_close)
            .finish_non_exhaustive()
    }
}

/// A `kernel.proc` trace handle: the session's event stream (the handle `attach` opens), or
/// one of the parts `dup` opens from it.
#[derive(Clone, Debug)]
pub struct Handle {
    pub(super) session: Arc<Session>,
    pub(super) part: Part,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Part {
    Events,
    Filter,
    Interrupt,
    /// `watch` or `xsave`, where the architecture has them.
    Arch(arch::Part),
}

impl Handle {
    pub(super) fn events(session: Arc<Session>) -> Self {
        Self {
            session,
            part: Part::Events,
        }
    }
}

impl Session {
    pub(super) fn new(
        tracee: &Arc<ContextLock>,
        kill_on_close: bool,
        state: SessionState,
    ) -> Arc<Self> {
        let mask = state.filter().mask().to_words().map(AtomicU64::new);
        Arc::new(Self {
            armed: AtomicU64::new(state.armed().bits()),
            state: Mutex::new(state),
            tracee_wait: WaitCondition::new(),
            in_stop: AtomicBool::new(false),
            tracer_wait: WaitCondition::new(),
            tracee: Arc::downgrade(tracee),
            handle_id: AtomicUsize::new(0),
            watched: AtomicBool::new(false),
            kill_on_close,
            clones: Mutex::new(Vec::new()),
            next_clone: AtomicUsize::new(1),
            filter_mask: mask,
            watches: Default::default(),
        })
    }

    pub(super) fn filter_mask(&self) -> FilterMask {
        FilterMask::from_words(
            self.filter_mask
                .each_ref()
                .map(|word| word.load(Ordering::Relaxed)),
        )
    }

    /// The tracee's context, while it exists.
    pub fn tracee(&self) -> Result<Arc<ContextLock>> {
        self.tracee.upgrade().ok_or(Error::new(ESRCH))
    }

    pub(super) fn armed(&self) -> PtraceFlags {
        PtraceFlags::from_bits_retain(self.armed.load(Ordering::Acquire))
    }

    /// CONTEXT: the caller holds the session lock, which orders this against `fevent`.
    pub(super) fn notify_tracer(&self, token: &mut LockToken<'_, L1>) {
        if self.watched.load(Ordering::Relaxed) {
            event::trigger_locked(
                GlobalSchemes::Proc.scheme_id(),
                self.handle_id.load(Ordering::Relaxed),
                EVENT_READ,
                token.token(),
            );
        }
        self.tracer_wait.notify_locked(token.token());
    }
}

/// Attaches a new session to `tracee`, opened with open `flags`.
///
/// Attaching arms nothing, so the tracee keeps running (a "seize"); it first stops at an event
/// the tracer arms with a write. A context created with `new-context` and attached before
/// `start` is traced from its first instruction. `O_EXCL` makes closing the handle kill the
/// tracee. Holding the context handle is the permission to trace it, but for the caller's own
/// process: as on Linux, no thread traces a thread of its own process.
///
/// CONTEXT: takes the caller's lock, then `tracee`'s.
/// RETURNS: `EPERM` for the caller's own context or another of its process, `ESRCH` for a
/// dead one, `EBUSY` when it already has a tracer.
pub fn attach(
    tracee: &Arc<ContextLock>,
    flags: usize,
    token: &mut CleanLockToken,
) -> Result<Handle> {
    if context::is_current(tracee) {
        // The first stop would put the only reader of the events to sleep.
        return Err(Error::new(EPERM));
    }
    // procmgr's pid: 0 for contexts it gave none (its own, the bootstrap daemons', a runner's
    // children), which are no process of anyone's. A sibling's stop could hold a lock of the
    // process (relibc's, the allocator's) that its tracer then waits for.
    let pid = context::current().read(token.token()).pid;
    if pid != 0 && tracee.read(token.token()).pid == pid {
        return Err(Error::new(EPERM));
    }
    let kill_on_close = flags & O_EXCL == O_EXCL;
    let session = Session::new(tracee, kill_on_close, SessionState::new());
    attach_session(tracee, session, token).map(Handle::events)
}

pub(super) fn attach_session(
    tracee: &Arc<ContextLock>,
    session: Arc<Session>,
    token: &mut CleanLockToken,
) -> Result<Arc<Session>> {
    let mut context = tracee.write(token.token());
    if context.status.is_dead() {
        return Err(Error::new(ESRCH));
    }
    if context.ptrace.is_some() {
        return Err(Error::new(EBUSY));
    }
    context.ptrace = Some(Arc::clone(&session));
    Ok(session)
}

/// Records the handle id the scheme gave an event stream; no event can be queued before the
/// tracer's first write, so nothing is notified under a stale id.
pub fn bind_handle(handle: &Handle, handle_id: usize) {
    if handle.part == Part::Events {
        handle.session.handle_id.store(handle_id, Ordering::Relaxed);
    }
}

/// `dup` on a trace handle (see `trace_core::TraceDup`). Returns the context the new handle is
/// on, and the trace handle it is, or `None` for the plain context handle `context` asks for.
///
/// RETURNS: `EINVAL` for an unknown name, a clone number not (or no longer) waiting, or a `dup`
/// of a part (only the event stream has parts); `ESRCH` when the clone's context is gone;
/// `EOPNOTSUPP` for `xsave` on a CPU without XSAVE, or a part this architecture lacks.
pub fn dup(
    handle: &Handle,
    tracee: Arc<ContextLock>,
    name: &[u8],
    token: &mut CleanLockToken,
) -> Result<(Arc<ContextLock>, Option<Handle>)> {
    if handle.part != Part::Events {
        return Err(Error::new(EINVAL));
    }
    let part = match TraceDup::parse(name)? {
        TraceDup::Context => return Ok((tracee, None)),
        TraceDup::Clone(number) => {
            let clone = follow::take_clone_number(&handle.session, number, token)
                .ok_or(Error::new(EINVAL))?;
            return Ok((clone.tracee()?, Some(Handle::events(clone))));
        }
        TraceDup::Filter => Part::Filter,
        TraceDup::Interrupt => Part::Interrupt,
        TraceDup::Watch => Part::Arch(arch::Part::watch()?),
        TraceDup::Xsave => Part::Arch(arch::Part::xsave()?),
    };
    let part = Handle {
        session: Arc::clone(&handle.session),
        part,
    };
    Ok((tracee, Some(part)))
}
