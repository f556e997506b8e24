//! The state of one trace session: one tracer, one tracee context.
//!
//! Lifecycle: attach ([`SessionState::new`], no stop armed, the tracee keeps running), arm and
//! resume ([`SessionState::resume`]), stop ([`SessionState::stop`]), event delivery
//! ([`SessionState::peek_events`]), detach ([`SessionState::detach`]), tracee exit
//! ([`SessionState::tracee_exited`]). The kernel holds this behind the session lock and only adds
//! sleeping and waking around it.

use syscall::{
    error::{Error, Result, EINVAL, ESRCH},
    flag::PtraceFlags,
};

use crate::{
    abi::{Stop, TraceEvent, PTRACE_STOP_INTERRUPT},
    filter::SyscallFilter,
    queue::EventQueue,
    signal::{Pending, Signal, SignalResume},
};

/// Where the tracee is, as far as the session is concerned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceeState {
    /// Outside any trace stop (running, blocked in a syscall, or not yet started).
    Running,
    /// In a trace stop, asleep until the tracer resumes it.
    Stopped { stop: Stop },
    /// Resumed by the tracer but not yet awake; `action` is what it will pick up.
    Resuming { action: Action },
    /// The tracee context has exited; the session only drains its queue.
    Exited,
}

/// What a tracee does as it leaves a stop: skip what the stop was about (`PTRACE_FLAG_IGNORE`),
/// and what becomes of its signals.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Action {
    pub ignore: bool,
    pub signal: SignalResume,
}

/// What [`SessionState::resume`] found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Resumed {
    /// The tracee was in a stop and must be woken.
    WasStopped,
    /// The tracee was not in a stop; the new flags apply from its next event.
    WasRunning,
}

/// What [`SessionState::stop`] did with a stop or notice.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Delivery {
    /// Not armed (or no room): the tracer hears nothing, the tracee goes on.
    Dropped,
    /// A notice was queued; wake the tracer, the tracee goes on.
    Queued,
    /// A stop was queued; wake the tracer, the tracee sleeps until resumed.
    Stopped,
}

/// What [`SessionState::interrupt`] did.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Interrupt {
    /// The tracee stops at its next interrupt point; a tracee running on another CPU must be
    /// switched out once so that its CPU sees the request.
    Requested,
    /// The tracee is in a stop already (its event says which), or a request is pending.
    Nothing,
}

/// Room for one stop and a few notices.
pub const QUEUE_LEN: usize = 4;

#[derive(Debug)]
pub struct SessionState {
    armed: PtraceFlags,
    tracee: TraceeState,
    events: EventQueue<QUEUE_LEN>,
    filter: SyscallFilter,
    /// The tracer asked for an interrupt stop that has not happened yet.
    interrupt: bool,
    /// Signals the tracer let through or raised: each is taken without a signal stop (once).
    passed: u64,
    /// Signals the kernel's redirect handed to redox-rt after their stop (or their pass):
    /// redox-rt's report of taking one ([`SessionState::signal_taken`]) does not stop again.
    handed: u64,
}

impl SessionState {
    /// A fresh session: nothing armed, so attaching never stops the tracee by itself.
    pub const fn new() -> Self {
        Self {
            armed: PtraceFlags::empty(),
            tracee: TraceeState::Running,
            events: EventQueue::new(),
            filter: SyscallFilter::ALL,
            interrupt: false,
            passed: 0,
            handed: 0,
        }
    }

    /// A session for a context the tracee created: the same stops armed and the same filter.
    pub fn inherit(parent: &Self) -> Self {
        Self {
            armed: parent.armed,
            filter: parent.filter,
            ..Self::new()
        }
    }

    /// Which syscalls stop at entry and exit; takes effect at the next syscall.
    pub fn filter(&self) -> &SyscallFilter {
        &self.filter
    }

    pub fn set_filter(&mut self, filter: SyscallFilter) {
        self.filter = filter;
    }

    /// The stops and notices the tracer asked for (never `PTRACE_FLAG_IGNORE`), with
    /// [`PTRACE_STOP_INTERRUPT`] while an interrupt is pending: the set the tracee's CPU tests.
    pub fn armed(&self) -> PtraceFlags {
        match self.interrupt {
            true => self.armed.union(PTRACE_STOP_INTERRUPT),
            false => self.armed,
        }
    }

    pub fn tracee(&self) -> TraceeState {
        self.tracee
    }

    /// Tracee side, at `stop`: queues it for the tracer if armed. On [`Delivery::Stopped`] the
    /// tracee must sleep until [`Self::is_stopped`] turns false; notices never stop.
    pub fn stop(&mut self, stop: Stop) -> Delivery {
        let filtered_out = match stop {
            Stop::SyscallEntry { number, .. } | Stop::SyscallExit { number, .. } => {
                !self.filter.selects(number)
            }
            _ => false,
        };
        if !self.armed().contains(stop.flag()) || filtered_out {
            return Delivery::Dropped;
        }
        match self.tracee {
            TraceeState::Running => {
                let event = TraceEvent::from(stop);
                if !stop.is_stop() {
                    // A notice says only that something happened since the tracer last read:
                    // an unread equal one already says it, so notices never pile up.
                    if !self.events.contains(&event) && self.events.push(event).is_err() {
                        return Delivery::Dropped;
                    }
                    return Delivery::Queued;
                }
                // A stop always gets in. The queue can only be full if the tracer resumed
                // stops without reading them; the oldest such event gives way.
                if self.events.is_full() {
                    let _ = self.events.pop();
                }
                if self.events.push(event).is_err() {
                    return Delivery::Dropped;
                }
                if let Stop::Interrupt { .. } = stop {
                    self.interrupt = false;
                }
                self.tracee = TraceeState::Stopped { stop };
                Delivery::Stopped
            }
            // Only the tracee enters stops, and it is awake and outside one right now.
            TraceeState::Stopped { .. } | TraceeState::Resuming { .. } | TraceeState::Exited => {
                Delivery::Dropped
            }
        }
    }

    pub fn is_stopped(&self) -> bool {
        match self.tracee {
            TraceeState::Stopped { .. } => true,
            TraceeState::Running | TraceeState::Resuming { .. } | TraceeState::Exited => false,
        }
    }

    /// Tracee side, once awake after a stop: the action to take.
    pub fn take_action(&mut self) -> Action {
        match self.tracee {
            TraceeState::Resuming { action } => {
                self.tracee = TraceeState::Running;
                action
            }
            TraceeState::Running | TraceeState::Stopped { .. } | TraceeState::Exited => {
                Action::default()
            }
        }
    }

    /// Tracee side, about to take `pending` (redox-rt's handler is to run for it): whether it
    /// stops for it first. Not when the tracer let it through or raised it at a stop: that
    /// pass is used up here. `still_pending` is the set of signals pending now; passes for
    /// signals no longer pending (another thread took a process signal) are dropped.
    pub fn signal_due(&mut self, pending: Pending, still_pending: u64) -> bool {
        self.passed &= still_pending;
        let bit = pending.signal.bit();
        if self.passed & bit != 0 {
            self.passed &= !bit;
            self.handed |= bit;
            return false;
        }
        self.handed &= !bit;
        self.armed.contains(PtraceFlags::PTRACE_STOP_SIGNAL)
    }

    /// Tracee side, redox-rt reporting that it takes `signal` (it claimed it already; see
    /// [`crate::abi::SIGNAL_TAKEN`]): whether it stops for it. Not when the kernel's redirect
    /// handed it over after its stop, nor when the tracer let it through or raised it at a
    /// stop: the hand-over or the pass is used up here.
    pub fn signal_taken(&mut self, signal: Signal) -> bool {
        let bit = signal.bit();
        if (self.handed | self.passed) & bit != 0 {
            self.handed &= !bit;
            self.passed &= !bit;
            return false;
        }
        self.armed.contains(PtraceFlags::PTRACE_STOP_SIGNAL)
    }

    /// Tracee side, leaving the stop of a signal redox-rt took ([`SessionState::signal_taken`]):
    /// whether redox-rt acts on it, which it does unless the tracer suppressed or replaced it.
    /// The pass a plain resume gives was for the kernel's redirect, which this signal has
    /// left behind: dropped, so that the signal's next instance stops again.
    pub fn taken_signal_resumed(&mut self, signal: Signal, choice: &SignalResume) -> bool {
        if choice.discard.is_none() {
            self.passed &= !signal.bit();
        }
        choice.discard.is_none()
    }

    /// Tracee side, killed: it leaves its stop (or does not wait in the one just reported)
    /// without the tracer. What was queued stays readable.
    pub fn abandon_stop(&mut self) {
        match self.tracee {
            TraceeState::Stopped { .. } | TraceeState::Resuming { .. } => {
                self.tracee = TraceeState::Running;
            }
            TraceeState::Running | TraceeState::Exited => {}
        }
    }

    /// Tracer side, on `write`: arm `flags` and resume a stopped tracee, with `signal` (the
    /// write's signal word, if any) applied as [`SignalResume::choose`] says.
    /// `PTRACE_FLAG_IGNORE` is only valid when leaving a stop that can be skipped, and a
    /// nonzero signal word only when leaving a stop.
    pub fn resume(&mut self, flags: PtraceFlags, signal: Option<usize>) -> Result<Resumed> {
        let ignore = flags.contains(PtraceFlags::PTRACE_FLAG_IGNORE);
        let next = match self.tracee {
            TraceeState::Stopped { stop } if ignore && !stop.can_ignore() => {
                return Err(Error::new(EINVAL));
            }
            TraceeState::Stopped { stop } => {
                let stopped_at = match stop {
                    Stop::Signal { pending, .. } => Some(pending),
                    _ => None,
                };
                let signal = SignalResume::choose(stopped_at, signal, ignore)?;
                if let (Some(pending), None) = (stopped_at, signal.discard) {
                    self.passed |= pending.signal.bit();
                }
                if let Some(raised) = signal.raise {
                    self.passed |= raised.bit();
                }
                TraceeState::Resuming {
                    action: Action { ignore, signal },
                }
            }
            TraceeState::Running | TraceeState::Resuming { .. }
                if ignore || signal.is_some_and(|signo| signo != 0) =>
            {
                return Err(Error::new(EINVAL));
            }
            TraceeState::Running | TraceeState::Resuming { .. } => self.tracee,
            TraceeState::Exited => return Err(Error::new(ESRCH)),
        };
        let resumed = if self.is_stopped() {
            Resumed::WasStopped
        } else {
            Resumed::WasRunning
        };
        self.tracee = next;
        self.armed = flags.difference(PtraceFlags::PTRACE_FLAG_IGNORE);
        Ok(resumed)
    }

    /// Tracer side, a write to the `interrupt` part: the tracee is to stop at its next
    /// interrupt point ([`Stop::Interrupt`]), whatever is armed. Other stops leave the request
    /// pending; a tracee already in a stop, or resumed but not yet awake, is left alone when
    /// stopped and gets the request when resuming.
    ///
    /// RETURNS: `ESRCH` once the tracee has exited.
    pub fn interrupt(&mut self) -> Result<Interrupt> {
        match self.tracee {
            TraceeState::Exited => Err(Error::new(ESRCH)),
            TraceeState::Stopped { .. } => Ok(Interrupt::Nothing),
            TraceeState::Running | TraceeState::Resuming { .. } if self.interrupt => {
                Ok(Interrupt::Nothing)
            }
            TraceeState::Running | TraceeState::Resuming { .. } => {
                self.interrupt = true;
                Ok(Interrupt::Requested)
            }
        }
    }

    /// Tracer side, on `read`: copies the oldest queued events, as many as fit in `out`, and
    /// leaves them queued until [`Self::consume_events`], so that the tracer can copy them to
    /// its buffer without the session lock and a fault in that copy loses none. Returns how
    /// many, and the queue position to consume them at.
    ///
    /// RETURNS: `ESRCH` once the tracee has exited and every event was consumed.
    pub fn peek_events(&self, out: &mut [TraceEvent]) -> Result<(usize, u64)> {
        match self.events.peek(out) {
            0 if self.tracee == TraceeState::Exited => Err(Error::new(ESRCH)),
            count => Ok((count, self.events.position())),
        }
    }

    /// Consumes the first `count` of the events [`Self::peek_events`] copied at `position`,
    /// once they reached the tracer. Returns `false`, consuming nothing, when another read
    /// consumed events since: that copy is stale, and the read starts over.
    pub fn consume_events(&mut self, position: u64, count: usize) -> bool {
        if self.events.position() != position {
            return false;
        }
        for _ in 0..count {
            let _ = self.events.pop();
        }
        true
    }

    /// Whether a `read` would return at once (for `fevent`).
    pub fn is_readable(&self) -> bool {
        !self.events.is_empty() || self.tracee == TraceeState::Exited
    }

    /// Tracer side, on close: disarm everything; returns whether a stopped tracee must be woken.
    pub fn detach(&mut self) -> bool {
        self.armed = PtraceFlags::empty();
        self.interrupt = false;
        self.passed = 0;
        self.handed = 0;
        match self.tracee {
            TraceeState::Stopped { .. } => {
                // Untraced from here: a signal the tracee stopped for takes effect as usual.
                self.tracee = TraceeState::Resuming {
                    action: Action::default(),
                };
                true
            }
            TraceeState::Running | TraceeState::Resuming { .. } | TraceeState::Exited => false,
        }
    }

    /// Tracee side, on exit: later reads drain the queue, then fail with `ESRCH`.
    pub fn tracee_exited(&mut self) {
        self.armed = PtraceFlags::empty();
        self.interrupt = false;
        self.tracee = TraceeState::Exited;
    }
}

impl Default for SessionState {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The oldest event, as a one-event `read` sees it.
    fn next_event(session: &SessionState) -> Result<Option<TraceEvent>> {
        let mut out = [TraceEvent {
            cause: 0,
            data: [0; 7],
        }];
        let (count, _) = session.peek_events(&mut out)?;
        Ok(out.first().copied().filter(|_| count == 1))
    }

    /// Consumes the oldest event, as a one-event `read` does once it is delivered.
    fn consume_event(session: &mut SessionState) {
        let position = session.events.position();
        assert!(session.consume_events(position, 1));
    }

    /// Verifies that a read's copy taken before another read consumed events is stale: its
    /// consume does nothing, so no event is delivered twice or lost.
    #[test]
    fn stale_read_consumes_nothing() {
        let mut session = SessionState::new();
        let armed = entry(1).flag() | Stop::AddrSpaceSwitch.flag();
        assert_eq!(session.resume(armed, None), Ok(Resumed::WasRunning));
        assert_eq!(session.stop(Stop::AddrSpaceSwitch), Delivery::Queued);
        assert_eq!(session.stop(entry(1)), Delivery::Stopped);
        let mut out = [TraceEvent {
            cause: 0,
            data: [0; 7],
        }; 2];
        let (count, stale) = session.peek_events(&mut out).expect("queued");
        assert_eq!(count, 2);
        consume_event(&mut session);
        assert!(!session.consume_events(stale, 2));
        assert_eq!(next_event(&session), Ok(Some(entry(1).into())));
        let (count, fresh) = session.peek_events(&mut out).expect("queued");
        assert_eq!(count, 1);
        assert!(session.consume_events(fresh, 1));
        assert_eq!(next_event(&session), Ok(None));
    }

    const PRE: PtraceFlags = PtraceFlags::PTRACE_STOP_PRE_SYSCALL;
    const POST: PtraceFlags = PtraceFlags::PTRACE_STOP_POST_SYSCALL;
    const IGNORE: PtraceFlags = PtraceFlags::PTRACE_FLAG_IGNORE;

    fn entry(number: usize) -> Stop {
        Stop::SyscallEntry {
            number,
            args: [0; 6],
        }
    }

    fn exit(number: usize) -> Stop {
        Stop::SyscallExit { number, ret: 0 }
    }

    fn stopped_at(stop: Stop, armed: PtraceFlags) -> SessionState {
        let mut session = SessionState::new();
        assert_eq!(session.resume(armed, None), Ok(Resumed::WasRunning));
        assert_eq!(session.stop(stop), Delivery::Stopped);
        session
    }

    /// Verifies that a fresh session stops nothing: attaching is a seize.
    #[test]
    fn attach_does_not_stop() {
        let mut session = SessionState::new();
        assert_eq!(session.stop(entry(1)), Delivery::Dropped);
        assert_eq!(next_event(&session), Ok(None));
    }

    /// Verifies that only armed stops stop, and that the stop is queued for the tracer.
    #[test]
    fn stop_matches_armed_flags_only() {
        let mut session = SessionState::new();
        assert_eq!(session.resume(POST, None), Ok(Resumed::WasRunning));
        assert_eq!(session.stop(entry(1)), Delivery::Dropped);
        assert_eq!(session.stop(exit(1)), Delivery::Stopped);
        assert!(session.is_stopped());
        assert_eq!(next_event(&session), Ok(Some(exit(1).into())));
        assert_eq!(next_event(&session), Ok(Some(exit(1).into())));
        consume_event(&mut session);
        assert_eq!(next_event(&session), Ok(None));
    }

    /// Verifies that resuming a stopped tracee hands it the action exactly once.
    #[test]
    fn resume_hands_over_the_action_once() {
        let mut session = stopped_at(entry(7), PRE);
        assert_eq!(session.resume(PRE | IGNORE, None), Ok(Resumed::WasStopped));
        assert!(!session.is_stopped());
        assert!(session.take_action().ignore);
        assert!(!session.take_action().ignore);
        assert_eq!(session.tracee(), TraceeState::Running);
        assert_eq!(session.armed(), PRE);
    }

    /// Verifies that PTRACE_FLAG_IGNORE is refused outside a skippable stop.
    #[test]
    fn ignore_needs_a_skippable_stop() {
        let mut running = SessionState::new();
        assert_eq!(running.resume(PRE | IGNORE, None), Err(Error::new(EINVAL)));
        let mut at_exit = stopped_at(exit(1), POST);
        assert_eq!(at_exit.resume(POST | IGNORE, None), Err(Error::new(EINVAL)));
        assert!(at_exit.is_stopped());
    }

    /// Verifies that a write while the tracee is still waking only re-arms.
    #[test]
    fn resume_while_resuming_rearms() {
        let mut session = stopped_at(entry(1), PRE);
        assert_eq!(session.resume(PRE, None), Ok(Resumed::WasStopped));
        assert_eq!(session.resume(POST, None), Ok(Resumed::WasRunning));
        assert!(!session.take_action().ignore);
        assert_eq!(session.armed(), POST);
    }

    /// Verifies that a notice is queued without stopping.
    #[test]
    fn notices_do_not_stop() {
        let mut session = SessionState::new();
        let switch = PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH;
        assert_eq!(session.resume(switch, None), Ok(Resumed::WasRunning));
        assert_eq!(session.stop(Stop::AddrSpaceSwitch), Delivery::Queued);
        assert!(!session.is_stopped());
        assert_eq!(next_event(&session), Ok(Some(Stop::AddrSpaceSwitch.into())));
    }

    /// Verifies that detaching wakes a stopped tracee without an action and disarms.
    #[test]
    fn detach_releases_a_stopped_tracee() {
        let mut session = stopped_at(entry(1), PRE);
        assert!(session.detach());
        assert!(!session.take_action().ignore);
        assert_eq!(session.stop(entry(2)), Delivery::Dropped);
        assert!(!session.detach());
    }

    /// Verifies that after the tracee exits, reads drain the queue and then fail with ESRCH.
    #[test]
    fn exit_drains_then_reports_esrch() {
        let mut session = stopped_at(entry(1), PRE);
        session.tracee_exited();
        assert!(session.is_readable());
        assert_eq!(next_event(&session), Ok(Some(entry(1).into())));
        consume_event(&mut session);
        assert_eq!(next_event(&session), Err(Error::new(ESRCH)));
        assert_eq!(session.resume(PRE, None), Err(Error::new(ESRCH)));
        assert_eq!(session.stop(entry(2)), Delivery::Dropped);
    }

    /// Verifies that a killed tracee leaves its stop without the tracer, and its stop stays
    /// readable.
    #[test]
    fn abandoned_stop_stays_readable() {
        let mut session = stopped_at(entry(1), PRE);
        session.abandon_stop();
        assert!(!session.is_stopped());
        assert_eq!(session.resume(PRE, None), Ok(Resumed::WasRunning));
        assert_eq!(next_event(&session), Ok(Some(entry(1).into())));
    }

    /// Verifies that unread notices coalesce into one and never crowd out a stop.
    #[test]
    fn notices_coalesce_and_stops_always_fit() {
        let mut session = SessionState::new();
        let switch = PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH;
        assert_eq!(session.resume(switch | PRE, None), Ok(Resumed::WasRunning));
        for _ in 0..QUEUE_LEN + 2 {
            assert_eq!(session.stop(Stop::AddrSpaceSwitch), Delivery::Queued);
        }
        assert_eq!(session.stop(entry(1)), Delivery::Stopped);
        assert_eq!(next_event(&session), Ok(Some(Stop::AddrSpaceSwitch.into())));
        consume_event(&mut session);
        assert_eq!(next_event(&session), Ok(Some(entry(1).into())));
        consume_event(&mut session);
        assert_eq!(next_event(&session), Ok(None));
    }

    fn filter(numbers: &[u64]) -> SyscallFilter {
        let mut raw = [0_u8; 64];
        for (chunk, number) in raw.chunks_exact_mut(8).zip(numbers) {
            chunk.copy_from_slice(&number.to_ne_bytes());
        }
        let len = numbers.len().saturating_mul(8);
        SyscallFilter::parse(raw.get(..len).expect("at most 8 numbers")).expect("valid filter")
    }

    /// Verifies that a filter drops the entry and exit stops of other syscalls, queues nothing,
    /// and a new filter set at a stop applies from the next call.
    #[test]
    fn filter_selects_syscall_stops_only() {
        let mut session = SessionState::new();
        session.set_filter(filter(&[5]));
        assert_eq!(session.resume(PRE | POST, None), Ok(Resumed::WasRunning));
        assert_eq!(session.stop(entry(4)), Delivery::Dropped);
        assert_eq!(session.stop(exit(4)), Delivery::Dropped);
        assert_eq!(next_event(&session), Ok(None));
        assert_eq!(session.stop(entry(5)), Delivery::Stopped);
        session.set_filter(filter(&[4]));
        assert_eq!(session.resume(PRE | POST, None), Ok(Resumed::WasStopped));
        assert!(!session.take_action().ignore);
        assert_eq!(session.stop(exit(5)), Delivery::Dropped);
        assert_eq!(session.stop(entry(4)), Delivery::Stopped);
    }

    /// Verifies that an empty filter stops no syscall but leaves other stops alone.
    #[test]
    fn empty_filter_stops_no_syscall() {
        let mut session = SessionState::new();
        session.set_filter(filter(&[]));
        let exit_stop = PtraceFlags::PTRACE_STOP_EXIT;
        assert_eq!(
            session.resume(PRE | POST | exit_stop, None),
            Ok(Resumed::WasRunning)
        );
        assert_eq!(session.stop(entry(1)), Delivery::Dropped);
        let stop = Stop::Exit {
            status: 0,
            exception: 0,
        };
        assert_eq!(session.stop(stop), Delivery::Stopped);
    }

    /// Verifies that a clone's session starts with its creator's stops and filter.
    #[test]
    fn clones_inherit_armed_stops_and_filter() {
        let mut parent = SessionState::new();
        parent.set_filter(filter(&[7]));
        assert_eq!(parent.resume(PRE, None), Ok(Resumed::WasRunning));
        let mut child = SessionState::inherit(&parent);
        assert_eq!(child.armed(), PRE);
        assert_eq!(child.stop(entry(6)), Delivery::Dropped);
        assert_eq!(child.stop(entry(7)), Delivery::Stopped);
    }

    /// Verifies that stops the tracer resumed without reading make room for a new stop: the
    /// oldest gives way, the new one is queued.
    #[test]
    fn unread_resumed_stops_give_way_to_a_new_stop() {
        let mut session = SessionState::new();
        assert_eq!(session.resume(PRE, None), Ok(Resumed::WasRunning));
        for number in 0..=QUEUE_LEN {
            assert_eq!(session.stop(entry(number)), Delivery::Stopped);
            assert_eq!(session.resume(PRE, None), Ok(Resumed::WasStopped));
            assert!(!session.take_action().ignore);
        }
        assert_eq!(next_event(&session), Ok(Some(entry(1).into())));
    }

    /// Verifies that an interrupt request stops the tracee once, at its next interrupt point,
    /// with nothing armed, and that the stop clears the request.
    #[test]
    fn interrupt_stops_once() {
        let mut session = SessionState::new();
        assert_eq!(session.interrupt(), Ok(Interrupt::Requested));
        assert_eq!(session.armed(), PTRACE_STOP_INTERRUPT);
        assert_eq!(session.interrupt(), Ok(Interrupt::Nothing));
        let stop = Stop::Interrupt {
            ip: 0x1000,
            call: None,
        };
        assert_eq!(session.stop(stop), Delivery::Stopped);
        assert_eq!(session.armed(), PtraceFlags::empty());
        assert_eq!(next_event(&session), Ok(Some(stop.into())));
        assert_eq!(
            session.resume(PtraceFlags::empty(), None),
            Ok(Resumed::WasStopped)
        );
        assert!(!session.take_action().ignore);
        assert_eq!(session.stop(stop), Delivery::Dropped);
    }

    /// Verifies that an interrupt asked of a stopped tracee does nothing (the tracer reads the
    /// stop it is in), that other stops leave a request pending, and that the resume keeps it.
    #[test]
    fn interrupt_waits_for_its_own_stop() {
        let mut session = SessionState::new();
        assert_eq!(
            session.resume(entry(1).flag(), None),
            Ok(Resumed::WasRunning)
        );
        assert_eq!(session.stop(entry(1)), Delivery::Stopped);
        assert_eq!(session.interrupt(), Ok(Interrupt::Nothing));
        assert_eq!(
            session.resume(entry(1).flag(), None),
            Ok(Resumed::WasStopped)
        );
        assert_eq!(session.interrupt(), Ok(Interrupt::Requested));
        assert!(!session.take_action().ignore);
        assert_eq!(session.stop(entry(2)), Delivery::Stopped);
        assert!(session.armed().contains(PTRACE_STOP_INTERRUPT));
        assert_eq!(
            session.resume(PtraceFlags::PTRACE_FLAG_IGNORE, None),
            Ok(Resumed::WasStopped)
        );
        assert!(session.take_action().ignore);
        assert_eq!(session.stop(interrupt_stop()), Delivery::Stopped);
        // An interrupt stop cannot be skipped: there is nothing to skip.
        assert_eq!(
            session.resume(PtraceFlags::PTRACE_FLAG_IGNORE, None),
            Err(Error::new(EINVAL))
        );
    }

    /// Verifies that detaching drops a pending interrupt and that an exited tracee refuses one.
    #[test]
    fn interrupt_after_detach_or_exit() {
        let mut session = SessionState::new();
        assert_eq!(session.interrupt(), Ok(Interrupt::Requested));
        assert!(!session.detach());
        assert_eq!(session.armed(), PtraceFlags::empty());
        assert_eq!(session.stop(interrupt_stop()), Delivery::Dropped);
        session.tracee_exited();
        assert_eq!(session.interrupt(), Err(Error::new(ESRCH)));
    }

    fn usr1() -> Pending {
        Pending {
            signal: crate::signal::Signal::new(10).expect("SIGUSR1"),
            to_thread: true,
        }
    }

    fn interrupt_stop() -> Stop {
        Stop::Interrupt { ip: 1, call: None }
    }

    fn signal_stop() -> Stop {
        Stop::Signal {
            pending: usr1(),
            pid: 3,
            uid: 0,
        }
    }

    /// Verifies that a signal the tracer delivers is then taken without a second stop, once.
    #[test]
    fn delivered_signal_passes_once() {
        let mut session = SessionState::new();
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None);
        assert!(session.signal_due(usr1(), usr1().signal.bit()));
        assert_eq!(session.stop(signal_stop()), Delivery::Stopped);
        assert_eq!(
            session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None),
            Ok(Resumed::WasStopped)
        );
        assert_eq!(session.take_action(), Action::default());
        assert!(!session.signal_due(usr1(), usr1().signal.bit()));
        assert!(session.signal_due(usr1(), usr1().signal.bit()));
    }

    /// Verifies that a pass for a signal another thread took meanwhile is dropped.
    #[test]
    fn pass_for_a_signal_no_longer_pending_is_dropped() {
        let mut session = SessionState::new();
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None);
        assert_eq!(session.stop(signal_stop()), Delivery::Stopped);
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None);
        let _ = session.take_action();
        assert!(session.signal_due(usr1(), 0));
    }

    /// Verifies suppression, and that a signal word is refused outside a stop.
    #[test]
    fn suppressed_signal_is_discarded() {
        let mut session = SessionState::new();
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None);
        assert_eq!(
            session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, Some(12)),
            Err(Error::new(EINVAL))
        );
        assert_eq!(session.stop(signal_stop()), Delivery::Stopped);
        assert_eq!(
            session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, Some(0)),
            Ok(Resumed::WasStopped)
        );
        assert_eq!(session.take_action().signal.discard, Some(usr1()));
        assert!(session.signal_due(usr1(), usr1().signal.bit()));
    }

    /// Verifies that nothing stops for a signal unless `PTRACE_STOP_SIGNAL` is armed.
    #[test]
    fn signal_stops_need_arming() {
        let mut session = SessionState::new();
        assert!(!session.signal_due(usr1(), usr1().signal.bit()));
        assert_eq!(session.stop(signal_stop()), Delivery::Dropped);
    }

    /// Verifies that a signal the redirect stopped at and handed over does not stop again
    /// when redox-rt reports taking it, and that its next instance does.
    #[test]
    fn handed_signal_is_taken_without_a_second_stop() {
        let mut session = SessionState::new();
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None);
        let bit = usr1().signal.bit();
        assert!(session.signal_due(usr1(), bit));
        assert_eq!(session.stop(signal_stop()), Delivery::Stopped);
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None);
        let _ = session.take_action();
        assert!(!session.signal_due(usr1(), bit));
        assert!(!session.signal_taken(usr1().signal));
        assert!(session.signal_taken(usr1().signal));
    }

    /// Verifies that a signal redox-rt takes by itself stops, that a plain resume lets it act
    /// without leaving a pass behind, and that suppression and replacement stop it from acting
    /// while the replacement is taken without a stop.
    #[test]
    fn signal_taken_by_redox_rt_stops_and_obeys_the_resume() {
        let mut session = SessionState::new();
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None);
        let usr1 = usr1().signal;
        assert!(session.signal_taken(usr1));
        assert_eq!(session.stop(signal_stop()), Delivery::Stopped);
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, None);
        let choice = session.take_action().signal;
        assert!(session.taken_signal_resumed(usr1, &choice));
        assert!(session.signal_taken(usr1));

        assert_eq!(session.stop(signal_stop()), Delivery::Stopped);
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, Some(0));
        let choice = session.take_action().signal;
        assert!(!session.taken_signal_resumed(usr1, &choice));

        let usr2 = Signal::new(12).expect("SIGUSR2");
        assert_eq!(session.stop(signal_stop()), Delivery::Stopped);
        let _ = session.resume(PtraceFlags::PTRACE_STOP_SIGNAL, Some(12));
        let choice = session.take_action().signal;
        assert_eq!(choice.raise, Some(usr2));
        assert!(!session.taken_signal_resumed(usr1, &choice));
        assert!(!session.signal_taken(usr2));
    }

    /// Verifies that a report stops only with signal stops armed.
    #[test]
    fn signal_taken_needs_arming() {
        let mut session = SessionState::new();
        assert!(!session.signal_taken(usr1().signal));
    }
}
