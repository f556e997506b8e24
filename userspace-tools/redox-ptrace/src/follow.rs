//! Following forks and threads: what a [`Stop::Clone`] means, and how a followed process
//! ended.
//!
//! With [`StopSet::CLONE`] armed, the kernel follows every context a tracee creates or starts:
//! on Redox that includes the forks and threads procmgr creates for it, which relibc's `fork()`
//! and `pthread_create()` start themselves (`docs/abi.md`, "Following new contexts"). The
//! clone stop carries the procmgr process id of the new context, so a tracer tells a new
//! process (a new pid) from a new thread (its creator's pid).
//!
//! A tracer learns how its own child ended from `waitpid`; a followed process is not its
//! child. Every relibc process ends with procmgr's `Exit` call carrying its wait status, so
//! [`exit_request`] reads that status from the call's syscall-entry stop.
//!
//! [`Stop::Clone`]: crate::Stop::Clone
//! [`StopSet::CLONE`]: crate::StopSet::CLONE

use core::mem::size_of;

use syscall::number::SYS_CALL;

use crate::{
    decode::flags::CALL_METADATA_LEN_MASK,
    mem::{read_exact, TraceeMemory},
};

/// The syscall a process ends with: procmgr's `Exit` call is a `SYS_CALL`. A tracer with a
/// syscall filter lets this number stop so that [`exit_request`] sees the call.
pub const EXIT_CALL: usize = SYS_CALL;

/// What a clone stop announced, relative to the tracee that stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Birth {
    /// A new process: procmgr gave the new context its own pid.
    Process { pid: usize },
    /// A new thread of the creator's process (same pid).
    Thread { pid: usize },
    /// No procmgr pid (a context created outside procmgr, as the QEMU runner does).
    Context,
}

impl Birth {
    /// Classifies a clone stop's `pid` against the creator's (`None` when unknown).
    pub fn of(pid: Option<usize>, creator: Option<usize>) -> Self {
        match (pid, creator) {
            (None, _) => Self::Context,
            (Some(pid), Some(creator)) if pid == creator => Self::Thread { pid },
            (Some(pid), Some(_) | None) => Self::Process { pid },
        }
    }
}

/// How a process ended: its procmgr wait status.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ExitStatus {
    Code(i32),
    Signal(i32),
    Unknown,
}

/// procmgr's `ProcCall::Exit` (libredox's `protocol::ProcCall`), the first metadata word.
const PROC_CALL_EXIT: u64 = 2;

/// How many metadata words the `Exit` call carries: `[Exit, status]`.
const EXIT_METADATA_WORDS: usize = 2;

/// The wait status a process asks procmgr to exit with, if the syscall entry (`number`,
/// `args`) is relibc's `Exit` call: `SYS_CALL` with two metadata words `[Exit, status]` and no
/// payload. `status` is the exit code (low byte), or a signal number shifted left by 8 for a
/// death by signal. `mem` is the tracee's memory (the metadata is there).
///
/// The caller sees the call only if it stops: a tracer that sets a syscall filter
/// ([`crate::Tracer::set_syscall_filter`]) must let [`EXIT_CALL`] entries through it.
pub fn exit_request(number: usize, args: [usize; 6], mem: &dyn TraceeMemory) -> Option<ExitStatus> {
    let [_fd, _payload, payload_len, flags, metadata, _] = args;
    if number != EXIT_CALL
        || payload_len != 0
        || flags & CALL_METADATA_LEN_MASK != EXIT_METADATA_WORDS
    {
        return None;
    }
    let mut words = [0_u8; EXIT_METADATA_WORDS * size_of::<u64>()];
    read_exact(mem, metadata, &mut words).ok()?;
    let (verb, status) = words.split_at(size_of::<u64>());
    if u64::from_ne_bytes(verb.try_into().ok()?) != PROC_CALL_EXIT {
        return None;
    }
    let status = u64::from_ne_bytes(status.try_into().ok()?);
    let signal = (status >> 8) & 0x7F;
    Some(match signal {
        0 => ExitStatus::Code(i32::from(status as u8)),
        sig => ExitStatus::Signal(i32::try_from(sig).ok()?),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::{FakeMemory, NoMemory};

    const META: usize = 0x5000;

    fn words(verb: u64, status: u64) -> alloc::vec::Vec<u8> {
        let mut bytes = verb.to_ne_bytes().to_vec();
        bytes.extend_from_slice(&status.to_ne_bytes());
        bytes
    }

    fn exit_call(flags: usize) -> [usize; 6] {
        [0x4000_0000_0000_0001, 0, 0, flags, META, 0]
    }

    /// Verifies that relibc's Exit call gives the code, and a death by signal its signal.
    #[test]
    fn exit_call_gives_the_status() {
        let mem = FakeMemory::new().with(META, &words(2, 7));
        assert_eq!(
            exit_request(SYS_CALL, exit_call(2), &mem),
            Some(ExitStatus::Code(7))
        );
        let mem = FakeMemory::new().with(META, &words(2, 11 << 8));
        assert_eq!(
            exit_request(SYS_CALL, exit_call(2), &mem),
            Some(ExitStatus::Signal(11))
        );
    }

    /// Verifies that other calls, other verbs and unreadable metadata are not exits.
    #[test]
    fn other_calls_are_not_exits() {
        let mem = FakeMemory::new().with(META, &words(3, 7));
        assert_eq!(exit_request(SYS_CALL, exit_call(2), &mem), None);
        let mem = FakeMemory::new().with(META, &words(2, 7));
        assert_eq!(exit_request(SYS_CALL, exit_call(1), &mem), None);
        assert_eq!(exit_request(SYS_CALL + 1, exit_call(2), &mem), None);
        assert_eq!(exit_request(SYS_CALL, exit_call(2), &NoMemory), None);
    }

    /// Verifies that a clone's pid tells a thread from a process.
    #[test]
    fn birth_by_pid() {
        assert_eq!(Birth::of(Some(5), Some(5)), Birth::Thread { pid: 5 });
        assert_eq!(Birth::of(Some(6), Some(5)), Birth::Process { pid: 6 });
        assert_eq!(Birth::of(Some(6), None), Birth::Process { pid: 6 });
        assert_eq!(Birth::of(None, Some(5)), Birth::Context);
    }
}
