//! Following contexts a tracee *starts*: the rules behind the kernel's `ptrace::follow`.
//!
//! On Redox a process does not create its forks and threads itself: procmgr opens
//! `new-context` for it. The tracee then sets the new context up through the handles procmgr
//! forwards to it and writes the context's `start` handle itself. That write is where the
//! kernel follows the new context when the tracee's tracer asked for clones. These are the
//! decisions it takes, as pure data.

use syscall::flag::PtraceFlags;

/// What the context being started looks like when a tracee writes its `start` handle.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Starting {
    /// It never ran (not merely parked by a switch-out).
    pub unstarted: bool,
    /// It already has a tracer: followed at `new-context`, or attached by someone.
    pub traced: bool,
}

/// Whether the start of a context follows it as the starter's clone.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OnStart {
    /// Start it as it is: clones are not armed, or it has a tracer, or the start will fail.
    Leave,
    /// Attach a session with the starter's armed stops, then report a clone event.
    Follow,
}

/// `armed`: the stops the starting context's tracer armed (empty when it is not traced).
pub fn on_start(armed: PtraceFlags, child: Starting) -> OnStart {
    match (armed.contains(PtraceFlags::PTRACE_EVENT_CLONE), child) {
        (
            true,
            Starting {
                unstarted: true,
                traced: false,
            },
        ) => OnStart::Follow,
        (true, Starting { .. }) | (false, Starting { .. }) => OnStart::Leave,
    }
}

/// What happens to the new context once its starter leaves the clone stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AfterClone {
    /// Start it: traced, or detached by a tracer that closed its session without `O_EXCL`.
    Start,
    /// Never start it: its `O_EXCL` session was closed during the stop (the tracer went away or
    /// gave it up), and an `O_EXCL` tracee must not run on untraced. The start fails with
    /// `ESRCH` and the context is discarded.
    Discard,
}

/// `kill_on_close`: the sessions are `O_EXCL`; `still_traced`: the new context still has the
/// session it got at the start.
pub fn after_clone(kill_on_close: bool, still_traced: bool) -> AfterClone {
    match (kill_on_close, still_traced) {
        (true, false) => AfterClone::Discard,
        (true, true) | (false, true) | (false, false) => AfterClone::Start,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CLONE: PtraceFlags = PtraceFlags::PTRACE_EVENT_CLONE;
    const FRESH: Starting = Starting {
        unstarted: true,
        traced: false,
    };

    /// Verifies that a fresh context started by a tracee with clones armed is followed.
    #[test]
    fn fresh_context_is_followed_when_clones_are_armed() {
        assert_eq!(on_start(CLONE, FRESH), OnStart::Follow);
        let syscalls = PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_STOP_POST_SYSCALL;
        assert_eq!(on_start(CLONE | syscalls, FRESH), OnStart::Follow);
    }

    /// Verifies that without clones armed (or untraced) nothing is followed.
    #[test]
    fn nothing_is_followed_without_clones_armed() {
        assert_eq!(on_start(PtraceFlags::empty(), FRESH), OnStart::Leave);
        assert_eq!(
            on_start(PtraceFlags::PTRACE_STOP_PRE_SYSCALL, FRESH),
            OnStart::Leave
        );
    }

    /// Verifies that a context with a tracer, or one that already ran, is left alone.
    #[test]
    fn traced_or_started_contexts_are_left() {
        let traced = Starting {
            unstarted: true,
            traced: true,
        };
        let started = Starting {
            unstarted: false,
            traced: false,
        };
        assert_eq!(on_start(CLONE, traced), OnStart::Leave);
        assert_eq!(on_start(CLONE, started), OnStart::Leave);
    }

    /// Verifies that only an O_EXCL clone whose session went away is discarded.
    #[test]
    fn excl_clone_without_session_never_starts() {
        assert_eq!(after_clone(true, false), AfterClone::Discard);
        assert_eq!(after_clone(true, true), AfterClone::Start);
        assert_eq!(after_clone(false, true), AfterClone::Start);
        assert_eq!(after_clone(false, false), AfterClone::Start);
    }
}
