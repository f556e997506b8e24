//! The tracer: owns sessions, hands out stops, takes restarts (pete's `Ptracer`).
//!
//! ```no_run
//! use redox_ptrace::{fd::EventQueueFd, ContextFd, Restart, Stop, Tracer};
//!
//! fn trace(queue: EventQueueFd, ctx: ContextFd, pid: usize) -> redox_ptrace::Result<()> {
//!     let mut tracer = Tracer::with_event_queue(queue);
//!     let id = tracer.attach(ctx, Some(pid))?;
//!     tracer.restart(id, Restart::Syscall)?; // arm: the tracee was running
//!     while let Some((id, stop)) = tracer.wait()? {
//!         if let Stop::SyscallEntry { number, .. } = stop {
//!             let _regs = tracer.tracee(id).map(|t| t.int_regs());
//!             let _ = number;
//!         }
//!         if stop.is_stop() {
//!             tracer.restart(id, Restart::Syscall)?;
//!         }
//!     }
//!     Ok(())
//! }
//! ```
//!
//! With an `event:` queue, trace handles are non-blocking and registered with the queue
//! (`data` = the tracee's index); [`Tracer::wait`] drains every handle the queue reports until
//! `EAGAIN`, then sleeps in the queue. Without a queue (the first userspace program has no
//! `event:` scheme set up yet) it traces one tracee with blocking reads.

use alloc::collections::{BTreeMap, BTreeSet, VecDeque};

use syscall::{data::Event, flag::EventFlags};
use trace_core::{SyscallFilter, TraceEvent};

use crate::{
    error::{Error, Request, Result, TraceeId},
    fd::{ContextFd, EventQueueFd, TraceFd},
    raw,
    stop::{Restart, Stop, StopSet},
    tracee::Tracee,
};

/// How many events one read asks for: one stop and a few notices.
const BATCH: usize = 4;

#[derive(Debug)]
pub struct Tracer {
    tracees: BTreeMap<usize, Tracee>,
    next_index: usize,
    queue: Option<EventQueueFd>,
    /// Tracees whose trace handle may have events queued.
    ready: BTreeSet<usize>,
    pending: VecDeque<(TraceeId, Stop)>,
    /// Armed by every restart but `Detach`.
    always: StopSet,
    /// Written to every session this tracer opens or adopts, before its first restart.
    filter: SyscallFilter,
}

impl Tracer {
    /// A tracer for a single tracee, reading its events with blocking reads.
    pub fn new() -> Self {
        Self {
            tracees: BTreeMap::new(),
            next_index: 0,
            queue: None,
            ready: BTreeSet::new(),
            pending: VecDeque::new(),
            always: StopSet::NONE,
            filter: SyscallFilter::ALL,
        }
    }

    /// A tracer for any number of tracees, multiplexed through `queue` (see
    /// [`raw::event_queue_at`] and [`raw::event_queue_adopt`]).
    pub fn with_event_queue(queue: EventQueueFd) -> Self {
        Self {
            queue: Some(queue),
            ..Self::new()
        }
    }

    /// Stops and notices armed by every restart (except `Detach`) on top of its own, for
    /// example [`StopSet::ADDRSPACE_SWITCH`].
    pub fn set_always(&mut self, set: StopSet) {
        self.always = set;
    }

    /// Chooses which syscalls stop, for every tracee now and every one attached or adopted
    /// later (set it before [`Tracer::attach`] so that no other call stops first). The others
    /// run without a stop: the kernel does not even wake the tracer for them.
    pub fn set_syscall_filter(&mut self, filter: SyscallFilter) -> Result<()> {
        self.filter = filter;
        self.tracees
            .values()
            .try_for_each(|tracee| tracee.set_syscall_filter(&filter))
    }

    // ---- attach ----

    /// Opens a trace session on `ctx` ([`raw::attach`]) and takes over both handles. The
    /// tracee keeps running until a [`Tracer::restart`] arms a stop. `pid` is only for display.
    pub fn attach(&mut self, ctx: ContextFd, pid: Option<usize>) -> Result<TraceeId> {
        let id = self.next_id(pid);
        let trace = raw::attach(&ctx).map_err(|e| e.on(id))?;
        self.adopt_as(id, ctx, trace)
    }

    /// Takes over a session opened by the caller (for example with [`raw::attach_with`] and
    /// `O_EXCL`).
    pub fn adopt(
        &mut self,
        ctx: ContextFd,
        trace: TraceFd,
        pid: Option<usize>,
    ) -> Result<TraceeId> {
        let id = self.next_id(pid);
        self.adopt_as(id, ctx, trace)
    }

    /// Takes over the context the tracee `parent` created, announced by its
    /// [`Stop::Clone`] stop (`number`, `pid`): [`raw::take_clone`] and [`raw::context_of`].
    /// The clone is traced from its first instruction with `parent`'s stops armed, so it
    /// needs no [`Tracer::restart`] until its first stop.
    pub fn adopt_clone(
        &mut self,
        parent: TraceeId,
        number: usize,
        pid: Option<usize>,
    ) -> Result<TraceeId> {
        let parent_trace = self
            .tracees
            .get(&parent.index)
            .ok_or(Error::Unsupported {
                what: "adopt_clone of a tracee this tracer does not have",
            })?
            .trace_handle();
        let trace = raw::take_clone(parent_trace, number).map_err(|e| e.on(parent))?;
        let ctx = raw::context_of(&trace).map_err(|e| e.on(parent))?;
        let id = self.next_id(pid);
        self.adopt_as(id, ctx, trace)
    }

    fn next_id(&mut self, pid: Option<usize>) -> TraceeId {
        let index = self.next_index;
        self.next_index = self.next_index.saturating_add(1);
        TraceeId { index, pid }
    }

    fn adopt_as(&mut self, id: TraceeId, ctx: ContextFd, trace: TraceFd) -> Result<TraceeId> {
        match &self.queue {
            Some(queue) => {
                raw::set_nonblocking(&trace, true).map_err(|e| e.on(id))?;
                raw::event_register(queue, trace.raw(), EventFlags::EVENT_READ, id.index)
                    .map_err(|e| e.on(id))?;
            }
            None if !self.tracees.is_empty() => {
                return Err(Error::Unsupported {
                    what: "more than one tracee needs an event queue (Tracer::with_event_queue)",
                });
            }
            None => {}
        }
        let tracee = Tracee::new(id, ctx, trace);
        if self.filter != SyscallFilter::ALL {
            tracee.set_syscall_filter(&self.filter)?;
        }
        self.tracees.insert(id.index, tracee);
        self.ready.insert(id.index);
        Ok(id)
    }

    pub fn tracee(&self, id: TraceeId) -> Option<&Tracee> {
        self.tracees.get(&id.index)
    }

    pub fn tracee_mut(&mut self, id: TraceeId) -> Option<&mut Tracee> {
        self.tracees.get_mut(&id.index)
    }

    pub fn tracee_ids(&self) -> impl Iterator<Item = TraceeId> + '_ {
        self.tracees.values().map(Tracee::id)
    }

    pub fn is_empty(&self) -> bool {
        self.tracees.is_empty() && self.pending.is_empty()
    }

    // ---- stops and event delivery ----

    /// The next stop or notice of any tracee; `None` once no tracee is left.
    ///
    /// Sleeps (in the event queue, or in the single tracee's trace handle) until something
    /// happens. A tracee that exited is reported once as [`Stop::Exited`] and dropped, which
    /// closes its handles.
    pub fn wait(&mut self) -> Result<Option<(TraceeId, Stop)>> {
        loop {
            if let Some(next) = self.pending.pop_front() {
                return Ok(Some(next));
            }
            if self.tracees.is_empty() {
                return Ok(None);
            }
            let ready: alloc::vec::Vec<usize> =
                core::mem::take(&mut self.ready).into_iter().collect();
            for index in ready {
                self.drain(index)?;
            }
            if !self.pending.is_empty() {
                continue;
            }
            match &self.queue {
                Some(queue) => {
                    let mut events = [Event::default(); BATCH];
                    let n = raw::event_next(queue, &mut events)?;
                    for event in events.iter().take(n) {
                        self.ready.insert(event.data);
                    }
                }
                None => {
                    // Blocking mode: the one tracee's read sleeps until it has something.
                    self.ready.extend(self.tracees.keys().copied());
                }
            }
        }
    }

    /// Like [`Tracer::wait`], but never sleeps: the next stop or notice if one is queued,
    /// `None` if none is (or no tracee is left). For callers that wait on something else too
    /// (gdbserver polls its serial line). Needs an event queue, which makes the trace handles
    /// non-blocking; the queue itself is not read.
    pub fn poll(&mut self) -> Result<Option<(TraceeId, Stop)>> {
        if self.queue.is_none() {
            return Err(Error::Unsupported {
                what: "Tracer::poll needs non-blocking trace handles (Tracer::with_event_queue)",
            });
        }
        if let Some(next) = self.pending.pop_front() {
            return Ok(Some(next));
        }
        // Every handle, not only those the queue reported: we do not sleep in the queue.
        let all: alloc::vec::Vec<usize> = self.tracees.keys().copied().collect();
        for index in all {
            self.drain(index)?;
            self.ready.remove(&index);
        }
        Ok(self.pending.pop_front())
    }

    /// Reads what tracee `index` has queued and turns it into pending stops.
    fn drain(&mut self, index: usize) -> Result<()> {
        let blocking = self.queue.is_none();
        let Some(tracee) = self.tracees.get_mut(&index) else {
            return Ok(()); // already gone; a late queue event
        };
        loop {
            let mut events = [TraceEvent::default(); BATCH];
            let n = match raw::next_events(&tracee.trace, &mut events) {
                Ok(n) => n,
                Err(e) if e.is_tracee_died() => {
                    let id = tracee.id;
                    let (state, _) = tracee.state.on_exit();
                    tracee.state = state;
                    self.tracees.remove(&index);
                    self.pending.push_back((id, Stop::Exited));
                    return Ok(());
                }
                Err(e) => return Err(e.on(tracee.id)),
            };
            for event in events.iter().take(n) {
                let raw_stop = event
                    .decode()
                    .map_err(|_| tracee.protocol("undecodable trace event"))?;
                let (state, stop) = tracee
                    .state
                    .on_event(raw_stop)
                    .map_err(|what| tracee.protocol(what))?;
                tracee.state = state;
                self.pending.push_back((tracee.id, stop));
            }
            if blocking && n == 0 {
                // A blocking read returns at least one event or fails; never spin on it.
                return Err(tracee.protocol("empty read from a blocking trace handle"));
            }
            if n == 0 || blocking {
                return Ok(());
            }
        }
    }

    // ---- resume ----

    /// Answers the stop tracee `id` is held in (or re-arms it while it runs).
    ///
    /// `ESRCH` gives [`Error::TraceeDied`]; keep calling [`Tracer::wait`], which then reports
    /// [`Stop::Exited`]. So does a tracee whose exit is already queued: a killed tracee (and
    /// procmgr ends every process by killing it) reports its exit stop without waiting in it.
    /// [`Restart::Detach`] also closes the session and forgets the tracee.
    pub fn restart(&mut self, id: TraceeId, restart: Restart) -> Result<()> {
        let always = self.always;
        let Some(tracee) = self.tracees.get_mut(&id.index) else {
            let exited = self.pending.contains(&(id, Stop::Exited));
            return Err(match exited {
                true => Error::TraceeDied {
                    tracee: Some(id),
                    request: Request::Resume,
                },
                false => Error::UnknownTracee { tracee: id },
            });
        };
        let invalid = |why| Error::InvalidRestart { tracee: id, why };
        let flags = restart
            .flags(tracee.state.held(), always)
            .map_err(invalid)?;
        let state = tracee.state.on_restart(restart).map_err(invalid)?;
        let written = match restart.signal() {
            Some(signal) => raw::resume_with_signal(&tracee.trace, flags, signal),
            None => raw::resume(&tracee.trace, flags),
        };
        if let Err(e) = written {
            self.ready.insert(id.index);
            return Err(e.on(id));
        }
        tracee.state = state;
        if restart == Restart::Detach {
            self.detach_handles(id)?;
        }
        Ok(())
    }

    // ---- detach, exit ----

    fn detach_handles(&mut self, id: TraceeId) -> Result<()> {
        if let Some(tracee) = self.tracees.remove(&id.index) {
            self.ready.remove(&id.index);
            self.pending.retain(|(pending, _)| *pending != id);
            let (_ctx, trace) = tracee.into_handles();
            trace
                .close()
                .map_err(|e| Error::os(Request::Resume, Some(id), e))?;
        }
        Ok(())
    }

    /// Asks tracee `id` for an interrupt stop ([`raw::interrupt`]): [`Tracer::wait`] then
    /// reports [`Stop::Interrupt`], unless the tracee was in (or entered) another stop first.
    pub fn interrupt(&mut self, id: TraceeId) -> Result<()> {
        let tracee = self
            .tracees
            .get(&id.index)
            .ok_or(Error::UnknownTracee { tracee: id })?;
        raw::interrupt(tracee.trace_handle()).map_err(|e| e.on(id))
    }

    /// Kills tracee `id` ([`raw::kill`]). Its exit is reported by [`Tracer::wait`].
    pub fn kill(&mut self, id: TraceeId) -> Result<()> {
        let tracee = self
            .tracees
            .get(&id.index)
            .ok_or(Error::UnknownTracee { tracee: id })?;
        let result = raw::kill(tracee.context()).map_err(|e| e.on(id));
        self.ready.insert(id.index);
        result
    }
}

impl Default for Tracer {
    fn default() -> Self {
        Self::new()
    }
}
