//! Hardware watchpoints as a tracer sets them: four slots of typed [`Watchpoint`]s over the
//! session's `watch` part. `trace_core::watch` holds the ABI (the 16-byte slot, the kinds) and
//! the kernel's validation, which [`to_kernel`] runs before anything is written.

use alloc::vec::Vec;

use syscall::error::Result as SysResult;
pub use trace_core::watch::{WatchKind, SLOTS};
use trace_core::watch::{WatchSlot, Watchpoints};

/// One watched range: `len` bytes at `address`, aligned to `len`; `len` is 1, 2, 4 or 8, and
/// 1 for [`WatchKind::Execute`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Watchpoint {
    pub address: usize,
    pub kind: WatchKind,
    pub len: usize,
}

/// The tracee's four debug-register slots; `None` is an unused slot.
pub type WatchSlots = [Option<Watchpoint>; SLOTS];

/// The widest range one slot watches.
const WIDEST: usize = 8;

impl Watchpoint {
    /// Stops before the instruction at `address` runs (a hardware breakpoint).
    pub const fn execute(address: usize) -> Self {
        Self {
            address,
            kind: WatchKind::Execute,
            len: 1,
        }
    }

    /// Stops after an instruction writes any of `len` bytes at `address`.
    pub const fn write(address: usize, len: usize) -> Self {
        Self {
            address,
            kind: WatchKind::Write,
            len,
        }
    }

    /// Stops after an instruction reads or writes any of `len` bytes at `address`.
    pub const fn read_write(address: usize, len: usize) -> Self {
        Self {
            address,
            kind: WatchKind::ReadWrite,
            len,
        }
    }

    /// Data watchpoints of `kind` that together cover `address..address + len` exactly: the
    /// fewest aligned 1-, 2-, 4- and 8-byte ranges (a debugger's `watch` on a 12-byte value at
    /// an odd address needs several slots). Empty for `len` 0 or a range past the address space.
    pub fn covering(address: usize, len: usize, kind: WatchKind) -> Vec<Self> {
        let mut pieces = Vec::new();
        let Some(end) = address.checked_add(len) else {
            return pieces;
        };
        let mut at = address;
        while at < end {
            let left = end.saturating_sub(at);
            let mut size = WIDEST;
            while size > 1 && (!at.is_multiple_of(size) || size > left) {
                size /= 2;
            }
            pieces.push(Self {
                address: at,
                kind,
                len: size,
            });
            at = at.saturating_add(size);
        }
        pieces
    }

    fn to_slot(self) -> WatchSlot {
        if self.kind == WatchKind::Off {
            return WatchSlot::default();
        }
        WatchSlot {
            address: self.address as u64,
            kind: self.kind as u32,
            len: u32::try_from(self.len).unwrap_or(u32::MAX),
        }
    }
}

/// The slots as the kernel takes them, validated by the kernel's own rules.
///
/// RETURNS: `EINVAL` for a slot the kernel would refuse (see `Watchpoints::parse`).
pub fn to_kernel(slots: &WatchSlots) -> SysResult<Watchpoints> {
    Watchpoints::new(slots.map(|slot| slot.map_or_else(WatchSlot::default, Watchpoint::to_slot)))
}

/// The slots the kernel holds; an unused or unknown slot is `None`.
pub fn from_kernel(watches: &Watchpoints) -> WatchSlots {
    watches.slots().map(|slot| {
        let kind = WatchKind::from_raw(slot.kind).ok()?;
        (kind != WatchKind::Off).then_some(Watchpoint {
            address: usize::try_from(slot.address).ok()?,
            kind,
            len: usize::try_from(slot.len).ok()?,
        })
    })
}

#[cfg(test)]
mod tests {
    use alloc::vec;

    use super::*;

    fn invalid() -> syscall::error::Error {
        syscall::error::Error::new(syscall::error::EINVAL)
    }

    /// Verifies that typed slots survive the trip through the kernel's encoding, and that the
    /// kernel's rules refuse a bad slot before anything is written.
    #[test]
    fn slots_round_trip_and_bad_ones_are_refused() {
        let slots = [
            None,
            Some(Watchpoint::write(0x2008, 8)),
            Some(Watchpoint::execute(0x1001)),
            Some(Watchpoint::read_write(0x3004, 4)),
        ];
        let kernel = to_kernel(&slots).expect("valid");
        let parsed = Watchpoints::parse(&kernel.encode()).expect("the kernel takes it");
        assert_eq!(from_kernel(&parsed), slots);
        for bad in [
            Watchpoint::write(0x2004, 8),
            Watchpoint::write(0x2000, 3),
            Watchpoint {
                len: 2,
                ..Watchpoint::execute(0x1000)
            },
            Watchpoint::write(0xffff_8000_0000_0000, 8),
        ] {
            assert_eq!(
                to_kernel(&[Some(bad), None, None, None]),
                Err(invalid()),
                "{bad:?}"
            );
        }
        let off = Watchpoint {
            kind: WatchKind::Off,
            ..Watchpoint::write(0x2000, 8)
        };
        assert_eq!(
            from_kernel(&to_kernel(&[Some(off); SLOTS]).expect("valid")),
            [None; SLOTS]
        );
    }

    /// Verifies that a range is covered by the fewest aligned pieces, exactly.
    #[test]
    fn covering_uses_aligned_pieces() {
        let write = WatchKind::Write;
        let pieces = |address, len| -> Vec<(usize, usize)> {
            Watchpoint::covering(address, len, write)
                .into_iter()
                .map(|w| (w.address, w.len))
                .collect()
        };
        assert_eq!(pieces(0x1000, 8), vec![(0x1000, 8)]);
        assert_eq!(pieces(0x1004, 4), vec![(0x1004, 4)]);
        assert_eq!(
            pieces(0x1001, 7),
            vec![(0x1001, 1), (0x1002, 2), (0x1004, 4)]
        );
        assert_eq!(pieces(0x1000, 12), vec![(0x1000, 8), (0x1008, 4)]);
        assert_eq!(pieces(0x1003, 2), vec![(0x1003, 1), (0x1004, 1)]);
        assert!(pieces(0x1000, 0).is_empty());
        assert!(pieces(usize::MAX, 2).is_empty());
        assert!(Watchpoint::covering(0x1000, 16, write)
            .iter()
            .all(|w| w.kind == write));
    }
}
