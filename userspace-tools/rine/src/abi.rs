//! The Redox facts rine stands in above the kernel's (`redox_syscall`): exit status words,
//! procmgr's `ProcMeta` and `Waitpid` (libredox `protocol`, the version the image's base
//! and relibc use), and how a call rine does not stand in fails.

use libredox::protocol::{ProcMeta, WaitFlags};
use syscall::Error;

/// How a process ended: a Redox exit status (`code`, or `signal << 8`).
pub type Status = u64;

/// The process exit code rine itself ends with for `status` (128 + signal, as shells do).
pub fn exit_code(status: Status) -> u8 {
    let signal = (status >> 8) & 0x7F;
    if signal != 0 {
        128 + signal as u8
    } else {
        (status & 0xFF) as u8
    }
}

/// `status` as the word `waitpid` stores (procmgr's `signal | code << 8`).
pub fn wait_status(status: Status) -> u64 {
    let signal = (status >> 8) & 0x7F;
    if signal != 0 {
        signal
    } else {
        (status & 0xFF) << 8
    }
}

/// What a `read` of a process handle gives: its `ProcMeta`, with the host's uid and gid and
/// namespace 1 for every id.
pub fn proc_meta(pid: u32, parent: u32) -> Vec<u8> {
    let (uid, gid) = (
        nix::unistd::getuid().as_raw(),
        nix::unistd::getgid().as_raw(),
    );
    let meta = ProcMeta {
        pid,
        pgid: pid,
        ppid: parent,
        ruid: uid,
        euid: uid,
        suid: uid,
        rgid: gid,
        egid: gid,
        sgid: gid,
        ens: 1,
        rns: 1,
    };
    // SAFETY: `ProcMeta` is `Plain`: `repr(C)`, eleven `u32`s, no padding.
    unsafe { plain::as_bytes(&meta) }.to_vec()
}

/// procmgr's `Waitpid` (`call(proc, status, [Waitpid, pid, flags])`): `pid` 0 for any child;
/// `status` is where the status word goes.
#[derive(Debug, PartialEq, Eq, Clone, Copy)]
pub struct Waitpid {
    pub pid: u32,
    pub flags: WaitFlags,
    pub status: usize,
}

/// A failed `SYS_CALL` or `dup`: an errno, or a verb or name rine does not stand in.
pub enum CallError {
    Errno(Error),
    Unsupported,
}

impl From<Error> for CallError {
    fn from(e: Error) -> Self {
        Self::Errno(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that an exit code and a killing signal become procmgr's status words
    /// (`WEXITSTATUS` = bits 8..16, `WTERMSIG` = the low bits).
    #[test]
    fn wait_status_words() {
        assert_eq!(wait_status(7), 7 << 8);
        assert_eq!(wait_status(0), 0);
        assert_eq!(wait_status((libc::SIGSEGV as u64) << 8), 11);
    }
}
