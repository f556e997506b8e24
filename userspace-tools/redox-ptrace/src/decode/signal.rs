//! Signal names for exit reports (`+++ killed by SIGSEGV +++`) and signal-delivery stops
//! (`--- SIGUSR1 {si_signo=SIGUSR1, ...} ---`), signal sets as strace's `-e signal=` writes
//! them, and the signal each x86_64 CPU exception stands for.

use alloc::{format, string::String};

use trace_core::{Signal, SignalSet};

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

/// relibc's first realtime signal (`SIGRTMIN`); 32 to 34 are relibc's own.
const SIGRTMIN: usize = 35;

/// How `signal` is printed: its name, `SIGRTMIN+N` for a realtime one, else `SIG` and its number.
pub fn signal_label(signal: Signal) -> String {
    let number = signal.number();
    match i32::try_from(number).ok().and_then(signal_name) {
        Some(name) => String::from(name),
        None => match number.checked_sub(SIGRTMIN) {
            Some(0) => String::from("SIGRTMIN"),
            Some(offset) => format!("SIGRTMIN+{offset}"),
            None => format!("SIG{number}"),
        },
    }
}

/// The signal `text` names: a name with or without `SIG`, in any case (`SIGUSR1`, `usr1`),
/// `RTMIN` or `RTMIN+N`, or a number from 1 to 64.
pub fn parse_signal(text: &str) -> Option<Signal> {
    if let Ok(number) = text.parse::<usize>() {
        return Signal::new(number);
    }
    let upper = text.to_ascii_uppercase();
    let bare = upper.strip_prefix("SIG").unwrap_or(&upper);
    if let Some(rest) = bare.strip_prefix("RTMIN") {
        let offset = match rest.strip_prefix('+') {
            Some(offset) => offset.parse::<usize>().ok()?,
            None if rest.is_empty() => 0,
            None => return None,
        };
        return Signal::new(SIGRTMIN.checked_add(offset)?);
    }
    let index = NAMES
        .iter()
        .position(|name| name.strip_prefix("SIG") == Some(bare))?;
    Signal::new(index.checked_add(1)?)
}

/// A signal set as strace's `-e signal=` takes it: `all`, `none`, or a comma-separated list of
/// signals ([`parse_signal`]), the whole set negated by a leading `!`.
///
/// RETURNS: the set, or a message naming the word that is no signal.
pub fn parse_set(text: &str) -> Result<SignalSet, String> {
    let (negate, list) = match text.strip_prefix('!') {
        Some(list) => (true, list),
        None => (false, text),
    };
    let set = match list {
        "all" => SignalSet::ALL,
        "none" => SignalSet::EMPTY,
        _ => list.split(',').try_fold(SignalSet::EMPTY, |set, word| {
            parse_signal(word)
                .map(|signal| set.with(signal))
                .ok_or_else(|| format!("invalid signal '{word}'"))
        })?,
    };
    Ok(if negate { set.complement() } else { set })
}

/// The `siginfo_t` a signal-delivery stop describes, as Linux strace prints it:
/// `{si_signo=SIGUSR1, si_code=SI_USER, si_pid=5, si_uid=0}`. A signal sent to one thread
/// (`pthread_kill`, `raise`) is `SI_TKILL`, one sent to the process `SI_USER`.
pub fn siginfo(signal: Signal, to_thread: bool, pid: usize, uid: usize) -> String {
    let code = if to_thread { "SI_TKILL" } else { "SI_USER" };
    format!(
        "{{si_signo={}, si_code={code}, si_pid={pid}, si_uid={uid}}}",
        signal_label(signal)
    )
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
    use super::*;

    fn signal(number: usize) -> Signal {
        Signal::new(number).expect("1 to 64")
    }

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

    /// Verifies that names are found with or without SIG in any case, realtime signals by
    /// offset, numbers as numbers, and that anything else is no signal.
    #[test]
    fn parses_signals() {
        assert_eq!(parse_signal("SIGUSR1"), Some(signal(10)));
        assert_eq!(parse_signal("term"), Some(signal(15)));
        assert_eq!(parse_signal("9"), Some(signal(9)));
        assert_eq!(parse_signal("RTMIN+2"), Some(signal(37)));
        assert_eq!(parse_signal("SIGRTMIN"), Some(signal(35)));
        assert_eq!(parse_signal("RTMIN+30"), None);
        assert_eq!(parse_signal("65"), None);
        assert_eq!(parse_signal("SIG"), None);
        assert_eq!(parse_signal("bogus"), None);
    }

    /// Verifies that every signal prints as a name `parse_signal` reads back.
    #[test]
    fn labels_read_back() {
        for number in (1..=31).chain(35..=64) {
            assert_eq!(
                parse_signal(&signal_label(signal(number))),
                Some(signal(number))
            );
        }
        assert_eq!(signal_label(signal(33)), "SIG33");
        assert_eq!(signal_label(signal(64)), "SIGRTMIN+29");
    }

    /// Verifies `all`, `none`, lists and their negation, and the error naming a bad word.
    #[test]
    fn parses_sets() {
        assert_eq!(parse_set("all"), Ok(SignalSet::ALL));
        assert_eq!(parse_set("!all"), Ok(SignalSet::EMPTY));
        assert_eq!(parse_set("none"), Ok(SignalSet::EMPTY));
        let set = parse_set("SIGCHLD,usr1").expect("valid");
        assert!(set.contains(signal(17)) && set.contains(signal(10)) && !set.contains(signal(2)));
        let not = parse_set("!CHLD").expect("valid");
        assert!(!not.contains(signal(17)) && not.contains(signal(10)));
        assert_eq!(
            parse_set("USR1,nope"),
            Err(String::from("invalid signal 'nope'"))
        );
        assert_eq!(parse_set(""), Err(String::from("invalid signal ''")));
    }

    /// Verifies the siginfo of a process- and a thread-directed signal.
    #[test]
    fn siginfo_like_linux() {
        assert_eq!(
            siginfo(signal(17), false, 12, 0),
            "{si_signo=SIGCHLD, si_code=SI_USER, si_pid=12, si_uid=0}"
        );
        assert_eq!(
            siginfo(signal(10), true, 3, 1000),
            "{si_signo=SIGUSR1, si_code=SI_TKILL, si_pid=3, si_uid=1000}"
        );
    }
}
