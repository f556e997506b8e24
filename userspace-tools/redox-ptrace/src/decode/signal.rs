//! Signal names for exit reports (`+++ killed by SIGSEGV +++`), and the signal each x86_64
//! CPU exception stands for.

/// relibc's signal numbers on Redox (`src/header/signal/constants.rs`), which are Linux's.
const NAMES: [&str; 31] = [
    "SIGHUP",
    "SIGINT",
    "SIGQUIT",
    "SIGILL",
    "SIGTRAP",
    "SIGABRT",
    "SIGBUS",
    "SIGFPE",
    "SIGKILL",
    "SIGUSR1",
    "SIGSEGV",
    "SIGUSR2",
    "SIGPIPE",
    "SIGALRM",
    "SIGTERM",
    "SIGSTKFLT",
    "SIGCHLD",
    "SIGCONT",
    "SIGSTOP",
    "SIGTSTP",
    "SIGTTIN",
    "SIGTTOU",
    "SIGURG",
    "SIGXCPU",
    "SIGXFSZ",
    "SIGVTALRM",
    "SIGPROF",
    "SIGWINCH",
    "SIGIO",
    "SIGPWR",
    "SIGSYS",
];

/// The name of signal `number`, if it has one.
pub fn signal_name(number: i32) -> Option<&'static str> {
    NAMES
        .get(usize::try_from(number).ok()?.checked_sub(1)?)
        .copied()
}

/// x86_64 exception vectors (Intel SDM vol. 3, table 6-1): name and the signal POSIX systems
/// deliver for it (relibc's numbers).
const EXCEPTIONS: [(usize, &str, i32); 16] = [
    (0, "divide error", 8),
    (1, "debug", 5),
    (3, "breakpoint", 5),
    (4, "overflow", 11),
    (5, "bound range exceeded", 11),
    (6, "invalid opcode", 4),
    (7, "device not available", 8),
    (8, "double fault", 11),
    (10, "invalid TSS", 11),
    (11, "segment not present", 7),
    (12, "stack-segment fault", 7),
    (13, "general protection", 11),
    (14, "page fault", 11),
    (16, "x87 floating-point error", 8),
    (17, "alignment check", 7),
    (19, "SIMD floating-point error", 8),
];

/// The name of exception `vector` and the signal number it stands for, if it is one the CPU
/// raises for user code.
pub fn exception(vector: usize) -> Option<(&'static str, i32)> {
    EXCEPTIONS
        .iter()
        .find(|(v, _, _)| *v == vector)
        .map(|&(_, name, signal)| (name, signal))
}

#[cfg(test)]
mod tests {
    use super::{exception, signal_name};

    /// Verifies that a page fault is SIGSEGV and that vector 2 (NMI) is no user exception.
    #[test]
    fn exceptions() {
        assert_eq!(exception(14), Some(("page fault", 11)));
        assert_eq!(
            exception(6).map(|(_, s)| signal_name(s)),
            Some(Some("SIGILL"))
        );
        assert_eq!(exception(2), None);
    }

    /// Verifies the ends of the table and the numbers outside it.
    #[test]
    fn names() {
        assert_eq!(signal_name(1), Some("SIGHUP"));
        assert_eq!(signal_name(11), Some("SIGSEGV"));
        assert_eq!(signal_name(31), Some("SIGSYS"));
        assert_eq!(signal_name(0), None);
        assert_eq!(signal_name(32), None);
        assert_eq!(signal_name(-1), None);
    }
}
