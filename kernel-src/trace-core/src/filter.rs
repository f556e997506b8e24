//! The syscall filter of a trace session: which syscalls stop at entry and exit.
//!
//! A tracer writes the set to `dup(trace, "filter")` (see [`SyscallFilter::parse`]). The
//! kernel checks it twice: the per-CPU [`FilterMask`], the set's numbers modulo 512 as a
//! bitmap, rejects most calls outside it with one load and a bit test, before any lock; the
//! exact set, under the session lock, settles the rest. So a call outside the set never stops and never wakes the
//! tracer, and costs the untraced path a few instructions.

use core::{cell::Cell, mem::size_of};

use syscall::error::{Error, Result, EINVAL};

/// The most syscall numbers one filter holds (Redox has fewer than 64 syscalls).
pub const FILTER_MAX: usize = 128;

/// Written alone, selects every syscall: the filter of a new session.
pub const FILTER_ALL: u64 = u64::MAX;

const MASK_WORDS: usize = 8;
const MASK_BITS: usize = MASK_WORDS * 64;

/// Which syscalls stop.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SyscallFilter {
    /// `None`: every syscall. Otherwise the first `len` entries of `numbers`, sorted, unique.
    only: Option<Numbers>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Numbers {
    numbers: [usize; FILTER_MAX],
    len: usize,
}

impl Numbers {
    const EMPTY: Self = Self {
        numbers: [0; FILTER_MAX],
        len: 0,
    };

    fn as_slice(&self) -> &[usize] {
        self.numbers.get(..self.len).unwrap_or(&[])
    }

    /// Adds `number` unless present, keeping the set sorted; `EINVAL` past [`FILTER_MAX`].
    fn insert(&mut self, number: usize) -> Result<()> {
        let len = self.len;
        if let Err(at) = self.as_slice().binary_search(&number) {
            if len == FILTER_MAX {
                return Err(Error::new(EINVAL));
            }
            // Insertion keeps the set sorted; FILTER_MAX bounds the work.
            let tail = self.numbers.get_mut(at..=len).ok_or(Error::new(EINVAL))?;
            tail.rotate_right(1);
            if let Some(slot) = tail.first_mut() {
                *slot = number;
            }
            self.len = len.saturating_add(1);
        }
        Ok(())
    }
}

impl SyscallFilter {
    /// Every syscall stops.
    pub const ALL: Self = Self { only: None };

    /// Parses a filter write: native-endian `u64` syscall numbers, any order, duplicates
    /// allowed, at most [`FILTER_MAX`] distinct; none at all selects no syscall, and
    /// [`FILTER_ALL`] alone selects every syscall.
    ///
    /// RETURNS: `EINVAL` for a length that is not a multiple of 8, more than [`FILTER_MAX`]
    /// numbers, [`FILTER_ALL`] among others, or a number that does not fit a `usize`.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        const WORD: usize = size_of::<u64>();
        if !bytes.len().is_multiple_of(WORD) {
            return Err(Error::new(EINVAL));
        }
        let words = bytes.chunks_exact(WORD).map(|chunk| {
            let mut raw = [0_u8; WORD];
            raw.copy_from_slice(chunk);
            u64::from_ne_bytes(raw)
        });
        if bytes.len() == WORD && words.clone().eq([FILTER_ALL]) {
            return Ok(Self::ALL);
        }
        let mut numbers = Numbers::EMPTY;
        for word in words {
            if word == FILTER_ALL {
                return Err(Error::new(EINVAL));
            }
            numbers.insert(usize::try_from(word).map_err(|_| Error::new(EINVAL))?)?;
        }
        Ok(Self {
            only: Some(numbers),
        })
    }

    /// Exactly `numbers` (any order, duplicates allowed): what a tracer builds before writing
    /// it with [`SyscallFilter::encode`].
    ///
    /// RETURNS: `EINVAL` for more than [`FILTER_MAX`] distinct numbers or [`FILTER_ALL`].
    pub fn only(numbers: &[usize]) -> Result<Self> {
        let mut set = Numbers::EMPTY;
        for &number in numbers {
            if number as u64 == FILTER_ALL {
                return Err(Error::new(EINVAL));
            }
            set.insert(number)?;
        }
        Ok(Self { only: Some(set) })
    }

    /// The selected numbers, sorted; `None` when every syscall is selected.
    pub fn numbers(&self) -> Option<&[usize]> {
        self.only.as_ref().map(Numbers::as_slice)
    }

    /// Whether `number` stops.
    pub fn selects(&self, number: usize) -> bool {
        match &self.only {
            None => true,
            Some(numbers) => numbers.as_slice().binary_search(&number).is_ok(),
        }
    }

    /// The set as a filter write would give it (for reads of the filter handle).
    pub fn encode(&self, out: &mut [u8]) -> Result<usize> {
        let all = [FILTER_ALL as usize];
        let numbers = match &self.only {
            None => &all[..],
            Some(numbers) => numbers.as_slice(),
        };
        let len = numbers.len().saturating_mul(size_of::<u64>());
        let out = out.get_mut(..len).ok_or(Error::new(EINVAL))?;
        for (chunk, number) in out.chunks_exact_mut(size_of::<u64>()).zip(numbers) {
            chunk.copy_from_slice(&(*number as u64).to_ne_bytes());
        }
        Ok(len)
    }

    /// The quick-reject mask for the per-CPU copy.
    pub fn mask(&self) -> FilterMask {
        let mut mask = FilterMask([0; MASK_WORDS]);
        match &self.only {
            None => mask.0 = [u64::MAX; MASK_WORDS],
            Some(numbers) => {
                for &number in numbers.as_slice() {
                    let bit = FilterMask::bit(number);
                    if let Some(word) = mask.0.get_mut(bit / 64) {
                        *word |= 1 << (bit % 64);
                    }
                }
            }
        }
        mask
    }
}

impl Default for SyscallFilter {
    fn default() -> Self {
        Self::ALL
    }
}

/// A [`SyscallFilter`] folded to 512 bits (each number modulo 512): a clear bit means "not selected" for sure, a set bit
/// "maybe" (the exact set decides).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FilterMask([u64; MASK_WORDS]);

impl FilterMask {
    /// Selects every syscall.
    pub const ALL: Self = Self([u64::MAX; MASK_WORDS]);

    /// The low 9 bits: the class, argument and return-kind bits of a Redox syscall number
    /// (bits 20..32) never tell two syscalls apart, and the low 9 bits of the ones
    /// `redox_syscall` names are all distinct (a host test checks), so one `and` does.
    #[inline(always)]
    fn bit(number: usize) -> usize {
        number % MASK_BITS
    }

    /// The mask as words, for storing in atomics.
    pub const fn to_words(self) -> [u64; MASK_WORDS] {
        self.0
    }

    pub const fn from_words(words: [u64; MASK_WORDS]) -> Self {
        Self(words)
    }

    /// Whether `number` may be selected.
    #[inline(always)]
    pub fn may_select(&self, number: usize) -> bool {
        let bit = Self::bit(number);
        self.0
            .get(bit / 64)
            .is_some_and(|word| word & (1 << (bit % 64)) != 0)
    }
}

/// A CPU's copy of the [`FilterMask`] of the context it runs. Word by word, so that the check
/// on every syscall of a traced context loads the one word it needs: `Cell<FilterMask>::get`
/// copies all 64 bytes first.
#[derive(Debug)]
pub struct FilterCells([Cell<u64>; MASK_WORDS]);

impl FilterCells {
    /// Selects every syscall.
    pub const fn new() -> Self {
        Self([const { Cell::new(u64::MAX) }; MASK_WORDS])
    }

    #[inline]
    pub fn set(&self, mask: FilterMask) {
        for (cell, word) in self.0.iter().zip(mask.0) {
            cell.set(word);
        }
    }

    /// [`FilterMask::may_select`] of the mask last set.
    #[inline(always)]
    pub fn may_select(&self, number: usize) -> bool {
        let bit = FilterMask::bit(number);
        self.0
            .get(bit / 64)
            .is_some_and(|word| word.get() & (1 << (bit % 64)) != 0)
    }
}

impl Default for FilterCells {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use syscall::number::*;

    /// Every syscall this redox_syscall names.
    const REDOX_SYSCALLS: [usize; 27] = [
        SYS_CALL,
        SYS_CLOCK_GETTIME,
        SYS_CLOSE,
        SYS_DUP2,
        SYS_DUP_INTO,
        SYS_FCHOWN,
        SYS_FCNTL,
        SYS_FEVENT,
        SYS_FLINK,
        SYS_FMAP,
        SYS_FPATH,
        SYS_FRENAME,
        SYS_FSTAT,
        SYS_FSYNC,
        SYS_FUNMAP,
        SYS_FUTEX,
        SYS_LSEEK,
        SYS_MPROTECT,
        SYS_MREMAP,
        SYS_NANOSLEEP,
        SYS_OPENAT_INTO,
        SYS_READ,
        SYS_READ2,
        SYS_UNLINKAT,
        SYS_WRITE,
        SYS_WRITE2,
        SYS_YIELD,
    ];

    fn bytes(numbers: &[u64]) -> ([u8; 8 * 8], usize) {
        let mut out = [0_u8; 64];
        for (chunk, number) in out.chunks_exact_mut(8).zip(numbers) {
            chunk.copy_from_slice(&number.to_ne_bytes());
        }
        (out, numbers.len().saturating_mul(8))
    }

    fn parse(numbers: &[u64]) -> Result<SyscallFilter> {
        let (raw, len) = bytes(numbers);
        SyscallFilter::parse(raw.get(..len).expect("at most 8 numbers"))
    }

    /// Verifies that a filter selects exactly its numbers, and its mask never rejects one.
    #[test]
    fn selects_exactly_its_numbers() {
        let filter = parse(&[SYS_WRITE as u64, SYS_OPENAT_INTO as u64]).expect("valid");
        for selected in [SYS_WRITE, SYS_OPENAT_INTO] {
            assert!(filter.selects(selected));
            assert!(filter.mask().may_select(selected));
        }
        for other in [SYS_READ, SYS_CLOSE, SYS_CALL, 0, usize::MAX] {
            assert!(!filter.selects(other));
        }
    }

    /// Verifies that the mask tells Redox's syscalls apart: each alone rejects the others, so
    /// they never reach the exact check.
    #[test]
    fn mask_separates_redox_syscalls() {
        for selected in REDOX_SYSCALLS {
            let filter = parse(&[selected as u64]).expect("valid");
            for other in REDOX_SYSCALLS.iter().filter(|other| **other != selected) {
                assert!(
                    !filter.mask().may_select(*other),
                    "{selected:#x} vs {other:#x}"
                );
            }
        }
    }

    /// Verifies that no numbers select nothing, and FILTER_ALL alone selects everything.
    #[test]
    fn empty_and_all() {
        let none = parse(&[]).expect("valid");
        assert!(!none.selects(SYS_WRITE));
        assert!(!none.mask().may_select(SYS_WRITE));
        let all = parse(&[FILTER_ALL]).expect("valid");
        assert_eq!(all, SyscallFilter::ALL);
        assert!(all.selects(12345));
        assert!(all.mask().may_select(12345));
    }

    /// Verifies that the per-CPU copy answers as the mask it was given, for every Redox
    /// syscall, and starts out selecting everything.
    #[test]
    fn cells_answer_as_their_mask() {
        let cells = FilterCells::new();
        assert!(REDOX_SYSCALLS
            .iter()
            .all(|number| cells.may_select(*number)));
        for selected in REDOX_SYSCALLS {
            let mask = parse(&[selected as u64]).expect("valid").mask();
            cells.set(mask);
            for number in REDOX_SYSCALLS.iter().copied().chain([0, usize::MAX]) {
                assert_eq!(
                    cells.may_select(number),
                    mask.may_select(number),
                    "{number:#x}"
                );
            }
            assert!(cells.may_select(selected));
        }
    }

    /// Verifies that duplicates and order do not matter, and reads give the sorted set.
    #[test]
    fn duplicates_collapse_and_encode_sorted() {
        let filter = parse(&[9, 3, 9, 3, 1]).expect("valid");
        let mut out = [0_u8; 64];
        let len = filter.encode(&mut out).expect("room");
        assert_eq!((out, len), bytes(&[1, 3, 9]));
        let mut all = [0_u8; 8];
        assert_eq!(SyscallFilter::ALL.encode(&mut all), Ok(8));
        assert_eq!(all, FILTER_ALL.to_ne_bytes());
        assert_eq!(filter.encode(&mut [0; 16]), Err(Error::new(EINVAL)));
    }

    /// Verifies that a set built from numbers equals the parsed one and gives them back.
    #[test]
    fn only_matches_parse() {
        let built = SyscallFilter::only(&[9, 3, 9, 1]).expect("valid");
        assert_eq!(built, parse(&[1, 3, 9]).expect("valid"));
        assert_eq!(built.numbers(), Some(&[1, 3, 9][..]));
        assert_eq!(SyscallFilter::ALL.numbers(), None);
        assert_eq!(
            SyscallFilter::only(&[]).expect("valid").numbers(),
            Some(&[][..])
        );
        assert_eq!(
            SyscallFilter::only(&[FILTER_ALL as usize]),
            Err(Error::new(EINVAL))
        );
        let many: [usize; FILTER_MAX + 1] = core::array::from_fn(|number| number);
        assert_eq!(SyscallFilter::only(&many), Err(Error::new(EINVAL)));
    }

    /// Verifies that bad writes are refused: a partial word, FILTER_ALL among others, too many.
    #[test]
    fn bad_writes_are_einval() {
        assert_eq!(SyscallFilter::parse(&[0; 7]), Err(Error::new(EINVAL)));
        assert_eq!(parse(&[1, FILTER_ALL]), Err(Error::new(EINVAL)));
        let mut many = [0_u8; 8 * (FILTER_MAX + 1)];
        for (number, chunk) in many.chunks_exact_mut(8).enumerate() {
            chunk.copy_from_slice(&(number as u64).to_ne_bytes());
        }
        assert_eq!(SyscallFilter::parse(&many), Err(Error::new(EINVAL)));
        let full = SyscallFilter::parse(&many[..8 * FILTER_MAX]).expect("FILTER_MAX fit");
        assert!(full.selects(FILTER_MAX - 1));
        assert!(!full.selects(FILTER_MAX));
    }
}
