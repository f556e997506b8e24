//! Signal numbers: Redox's (Linux's x86 numbering, what the kernel and relibc use) and gdb's
//! remote protocol's own (`gdbstub::common::Signal`), which differ from 7 on (SIGBUS is 7 on
//! Redox, 10 for gdb; SIGUSR1 10 and 30).

use gdbstub::common::Signal;

/// gdb's number for each Redox signal 1–31, in order.
const STANDARD: [Signal; 31] = [
    Signal::SIGHUP,
    Signal::SIGINT,
    Signal::SIGQUIT,
    Signal::SIGILL,
    Signal::SIGTRAP,
    Signal::SIGABRT,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGKILL,
    Signal::SIGUSR1,
    Signal::SIGSEGV,
    Signal::SIGUSR2,
    Signal::SIGPIPE,
    Signal::SIGALRM,
    Signal::SIGTERM,
    // SIGSTKFLT has no gdb name; gdb calls what it cannot name "unknown".
    Signal::UNKNOWN,
    Signal::SIGCHLD,
    Signal::SIGCONT,
    Signal::SIGSTOP,
    Signal::SIGTSTP,
    Signal::SIGTTIN,
    Signal::SIGTTOU,
    Signal::SIGURG,
    Signal::SIGXCPU,
    Signal::SIGXFSZ,
    Signal::SIGVTALRM,
    Signal::SIGPROF,
    Signal::SIGWINCH,
    Signal::SIGIO,
    Signal::SIGPWR,
    Signal::SIGSYS,
];

/// gdb's signal for Redox signal `signo`.
pub fn to_gdb(signo: u8) -> Signal {
    match signo {
        1..=31 => STANDARD
            .get(usize::from(signo) - 1)
            .copied()
            .unwrap_or(Signal::UNKNOWN),
        32 => Signal::SIG32,
        33..=63 => Signal(Signal::SIG33.0 + (signo - 33)),
        64 => Signal::SIG64,
        _ => Signal::UNKNOWN,
    }
}

/// The Redox signal gdb means by `signal`, if it names one.
pub fn from_gdb(signal: Signal) -> Option<u8> {
    (1..=64).find(|&signo| to_gdb(signo) == signal && signal != Signal::UNKNOWN)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies the numbers that differ between the two, and that the mapping goes both ways.
    #[test]
    fn numbers_that_differ_and_round_trips() {
        assert_eq!(to_gdb(10), Signal::SIGUSR1);
        assert_eq!(to_gdb(7), Signal::SIGBUS);
        assert_eq!(to_gdb(17), Signal::SIGCHLD);
        assert_eq!(to_gdb(19), Signal::SIGSTOP);
        assert_eq!(to_gdb(34), Signal::SIG34);
        assert_eq!(from_gdb(Signal::SIGUSR1), Some(10));
        assert_eq!(from_gdb(Signal::SIGEMT), None);
        assert_eq!(from_gdb(Signal::UNKNOWN), None);
        for signo in (1..=64).filter(|&signo| signo != 16) {
            assert_eq!(from_gdb(to_gdb(signo)), Some(signo), "signal {signo}");
        }
    }
}
