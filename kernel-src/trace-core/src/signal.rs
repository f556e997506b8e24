//! Signals as a tracer sees them: which pending signal a thread takes next, and what a resume
//! does to it.
//!
//! Redox keeps a thread's signals in its `Sigcontrol` page: two words, each holding 32 pending
//! bits (low half) and 32 unblocked bits (high half), the first for signals 1–32 and the second
//! for 33–64; the process's pending bits are one word in its `SigProcControl` page. redox-rt's
//! signal entry picks the signal to act on in a fixed order, and [`next_signal`] is that order, so
//! that the stop reports the signal the handler then takes.

use syscall::error::{Error, Result, EINVAL};

/// `SIGKILL` and `SIGSTOP` are procmgr's own: they never reach redox-rt's handler.
const SIGKILL: usize = 9;
const SIGSTOP: usize = 19;

/// A signal number, 1 to 64 (held as its bit index, 0 to 63).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Signal(u8);

impl Signal {
    pub const fn new(signo: usize) -> Option<Self> {
        match signo {
            1..=64 => Some(Self(signo.wrapping_sub(1) as u8)),
            _ => None,
        }
    }

    /// A signal a tracer may have delivered: any but `SIGKILL` and `SIGSTOP`, which only
    /// procmgr acts on (kill the process; stop it).
    ///
    /// RETURNS: `EINVAL` for 0, a number above 64, `SIGKILL` or `SIGSTOP`.
    pub fn deliverable(signo: usize) -> Result<Self> {
        Self::new(signo)
            .filter(|signal| !matches!(signal.number(), SIGKILL | SIGSTOP))
            .ok_or(Error::new(EINVAL))
    }

    pub const fn number(self) -> usize {
        (self.0 as usize).wrapping_add(1)
    }

    /// Its bit in a 64-bit signal set.
    pub const fn bit(self) -> u64 {
        1_u64.wrapping_shl(self.0 as u32)
    }

    /// Its index in a page's `sender_infos`: only signals 1–32 have a slot (procmgr queues the
    /// senders of realtime signals itself).
    pub const fn sender_slot(self) -> Option<usize> {
        match self.0 {
            0..32 => Some(self.0 as usize),
            _ => None,
        }
    }

    /// Which `Sigcontrol` word holds it, and its pending bit there.
    pub const fn word_bit(self) -> (usize, u64) {
        (
            (self.0 / 32) as usize,
            1_u64.wrapping_shl((self.0 % 32) as u32),
        )
    }
}

/// A set of signals, bit `n - 1` for signal `n` (the layout of `sigset_t` and of
/// [`pending_set`]): which signals a tracer shows, passes or stops at.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalSet(u64);

impl SignalSet {
    pub const EMPTY: Self = Self(0);
    pub const ALL: Self = Self(u64::MAX);

    pub const fn with(self, signal: Signal) -> Self {
        Self(self.0 | signal.bit())
    }

    pub const fn contains(self, signal: Signal) -> bool {
        self.0 & signal.bit() != 0
    }

    /// Every signal not in the set.
    pub const fn complement(self) -> Self {
        Self(!self.0)
    }
}

/// A pending signal about to be taken: the signal, and whether it was sent to the thread
/// (`tkill`) or to its process (`kill`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Pending {
    pub signal: Signal,
    pub to_thread: bool,
}

/// The signal redox-rt's entry takes next, given the thread's two `Sigcontrol` words and the
/// process's pending word: the lowest unblocked signal of 1–32 sent to the thread, else the
/// lowest of 1–32 sent to the process, else the lowest of 33–64 sent to either (the thread's
/// first when both have it). `None` when no unblocked signal is pending.
pub fn next_signal(words: [u64; 2], process_pending: u64) -> Option<Pending> {
    let [low, high] = words;
    let unblocked_low = low >> 32;
    let unblocked_high = high >> 32;
    // `set` is nonzero, so its lowest bit index is below 32.
    let lowest = |set: u64, offset: u8, to_thread: bool| {
        (set != 0).then(|| Pending {
            signal: Signal((set.trailing_zeros() as u8).wrapping_add(offset)),
            to_thread,
        })
    };
    let thread_low = low & unblocked_low & 0xffff_ffff;
    let process_low = process_pending & unblocked_low & 0xffff_ffff;
    let thread_high = high & unblocked_high & 0xffff_ffff;
    let either_high = (thread_high | (process_pending >> 32)) & unblocked_high & 0xffff_ffff;
    lowest(thread_low, 0, true)
        .or_else(|| lowest(process_low, 0, false))
        .or_else(|| {
            let pending = lowest(either_high, 32, false)?;
            let (_, bit) = pending.signal.word_bit();
            Some(Pending {
                to_thread: thread_high & bit != 0,
                ..pending
            })
        })
}

/// Every pending signal, blocked or not, of the thread's two `Sigcontrol` words and the
/// process's pending word, as one 64-bit set.
pub fn pending_set(words: [u64; 2], process_pending: u64) -> u64 {
    let [low, high] = words;
    process_pending | (low & 0xffff_ffff) | ((high & 0xffff_ffff) << 32)
}

/// What leaving a stop does to the tracee's signals; the kernel applies it as the tracee wakes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SignalResume {
    /// Take this pending signal back, unacted on: suppressed or replaced at its stop.
    pub discard: Option<Pending>,
    /// Make this signal pending for the thread, as a `tkill` would: injected, or a replacement.
    pub raise: Option<Signal>,
}

impl SignalResume {
    /// The tracer's choice at a stop: `stopped_at` is the signal of a signal-delivery stop (the
    /// tracee is about to take it), `requested` the signal word of the write (`None` when the
    /// tracer wrote flags only), `ignore` whether it resumed with `PTRACE_FLAG_IGNORE`.
    ///
    /// At a signal stop: no word delivers the signal, 0 or `ignore` suppresses it, another
    /// signal replaces it. At any other stop: a signal is injected, 0 or no word changes nothing.
    ///
    /// RETURNS: `EINVAL` for a signal word that names no deliverable signal, or a replacement
    /// together with `PTRACE_FLAG_IGNORE`.
    pub fn choose(
        stopped_at: Option<Pending>,
        requested: Option<usize>,
        ignore: bool,
    ) -> Result<Self> {
        let raise = match requested {
            None | Some(0) => None,
            Some(signo) => Some(Signal::deliverable(signo)?),
        };
        if ignore && raise.is_some() {
            return Err(Error::new(EINVAL));
        }
        let discard = match (stopped_at, requested) {
            (Some(pending), _) if ignore => Some(pending),
            (Some(pending), Some(_)) => Some(pending),
            _ => None,
        };
        Ok(Self { discard, raise })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signal(signo: usize) -> Signal {
        Signal::new(signo).expect("1 to 64")
    }

    /// A `Sigcontrol` word pair with `pending` pending and everything unblocked.
    fn words(pending: u64) -> [u64; 2] {
        [
            (pending & 0xffff_ffff) | 0xffff_ffff_0000_0000,
            (pending >> 32) | 0xffff_ffff_0000_0000,
        ]
    }

    /// Verifies that a set holds what was added, its complement the rest, and ALL all 64.
    #[test]
    fn signal_sets() {
        let set = SignalSet::EMPTY.with(signal(1)).with(signal(64));
        assert!(set.contains(signal(1)) && set.contains(signal(64)));
        assert!(!set.contains(signal(2)));
        assert!(set.complement().contains(signal(2)) && !set.complement().contains(signal(64)));
        assert!((1..=64).all(|n| SignalSet::ALL.contains(signal(n))));
    }

    /// Verifies that the thread's low signals come first, even before a lower process signal.
    #[test]
    fn thread_low_signal_before_process_signal() {
        let pending = next_signal(words(signal(10).bit()), signal(2).bit());
        assert_eq!(
            pending,
            Some(Pending {
                signal: signal(10),
                to_thread: true
            })
        );
    }

    /// Verifies that a process signal is taken when the thread has no low one.
    #[test]
    fn process_signal_when_thread_has_none() {
        let pending = next_signal(words(signal(40).bit()), signal(17).bit());
        assert_eq!(
            pending,
            Some(Pending {
                signal: signal(17),
                to_thread: false
            })
        );
    }

    /// Verifies that realtime signals are merged, lowest first, and say who they were sent to.
    #[test]
    fn realtime_signals_merge_thread_and_process() {
        assert_eq!(
            next_signal(words(signal(41).bit()), signal(35).bit()),
            Some(Pending {
                signal: signal(35),
                to_thread: false
            })
        );
        assert_eq!(
            next_signal(words(signal(35).bit()), signal(35).bit()),
            Some(Pending {
                signal: signal(35),
                to_thread: true
            })
        );
    }

    /// Verifies that a blocked signal is never taken, from the thread or from the process.
    #[test]
    fn blocked_signals_are_not_taken() {
        let blocked = !(signal(10).bit() | signal(40).bit());
        let mut words = words(signal(10).bit() | signal(40).bit());
        words[0] &= 0xffff_ffff | ((blocked & 0xffff_ffff) << 32);
        words[1] &= 0xffff_ffff | (blocked & 0xffff_ffff_0000_0000);
        assert_eq!(
            next_signal(words, signal(10).bit() | signal(40).bit()),
            None
        );
        assert_eq!(next_signal(self::words(0), 0), None);
    }

    /// Verifies the word and bit of signals at the edges of the two words.
    #[test]
    fn word_bits() {
        assert_eq!(signal(1).word_bit(), (0, 1));
        assert_eq!(signal(32).word_bit(), (0, 1 << 31));
        assert_eq!(signal(33).word_bit(), (1, 1));
        assert_eq!(signal(64).bit(), 1 << 63);
        assert_eq!(Signal::new(0), None);
        assert_eq!(Signal::new(65), None);
        assert_eq!(signal(32).sender_slot(), Some(31));
        assert_eq!(signal(33).sender_slot(), None);
    }

    /// Verifies that the pending set merges both words' pending halves and the process's.
    #[test]
    fn pending_set_ignores_the_unblocked_halves() {
        let set = pending_set(words(signal(10).bit() | signal(40).bit()), signal(2).bit());
        assert_eq!(set, signal(2).bit() | signal(10).bit() | signal(40).bit());
    }

    /// Verifies delivery, suppression and replacement at a signal stop.
    #[test]
    fn choices_at_a_signal_stop() {
        let usr1 = Pending {
            signal: signal(10),
            to_thread: false,
        };
        let at = Some(usr1);
        assert_eq!(
            SignalResume::choose(at, None, false),
            Ok(SignalResume::default())
        );
        let suppressed = SignalResume {
            discard: Some(usr1),
            raise: None,
        };
        assert_eq!(SignalResume::choose(at, Some(0), false), Ok(suppressed));
        assert_eq!(SignalResume::choose(at, None, true), Ok(suppressed));
        assert_eq!(
            SignalResume::choose(at, Some(12), false),
            Ok(SignalResume {
                discard: Some(usr1),
                raise: Some(signal(12)),
            })
        );
        assert!(SignalResume::choose(at, Some(12), true).is_err());
    }

    /// Verifies injection at other stops, and the signals no tracer may deliver.
    #[test]
    fn injection_and_refused_signals() {
        assert_eq!(
            SignalResume::choose(None, Some(14), false),
            Ok(SignalResume {
                discard: None,
                raise: Some(signal(14)),
            })
        );
        assert_eq!(
            SignalResume::choose(None, Some(0), false),
            Ok(SignalResume::default())
        );
        for signo in [9, 19, 65, usize::MAX] {
            assert!(SignalResume::choose(None, Some(signo), false).is_err());
        }
    }
}
