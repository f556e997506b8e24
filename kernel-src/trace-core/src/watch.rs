//! Hardware watchpoints (x86_64 debug registers DR0–DR3, DR6, DR7) of a trace session.
//!
//! A tracer writes four [`WatchSlot`]s to `dup(trace, "watch")`; the kernel loads them into the
//! tracee's debug registers whenever it runs. The tracer never writes DR7 itself: the kernel
//! computes it from validated slots ([`Watchpoints::dr7`]), so a reserved bit, a kernel address
//! or an I/O breakpoint cannot be expressed.

use core::mem::size_of;

use syscall::error::{Error, Result, EINVAL};

use crate::regs::USER_END;

/// Number of debug address registers.
pub const SLOTS: usize = 4;

/// What a watchpoint watches.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum WatchKind {
    /// The slot is unused.
    Off = 0,
    /// Executing the instruction at the address: stops before it runs.
    Execute = 1,
    /// Writes: stops right after the writing instruction.
    Write = 2,
    /// Reads or writes: stops right after the accessing instruction.
    ReadWrite = 3,
}

impl WatchKind {
    /// The kind a slot's `kind` word names; `EINVAL` for anything else.
    pub fn from_raw(raw: u32) -> Result<Self> {
        Ok(match raw {
            0 => Self::Off,
            1 => Self::Execute,
            2 => Self::Write,
            3 => Self::ReadWrite,
            _ => return Err(Error::new(EINVAL)),
        })
    }

    /// DR7's R/W field for this kind.
    fn rw_bits(self) -> u64 {
        match self {
            Self::Off | Self::Execute => 0b00,
            Self::Write => 0b01,
            Self::ReadWrite => 0b11,
        }
    }
}

/// One slot as the tracer writes and reads it: 16 bytes, native-endian.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct WatchSlot {
    pub address: u64,
    /// A [`WatchKind`].
    pub kind: u32,
    /// 1, 2, 4 or 8 bytes; 1 for [`WatchKind::Execute`]; 0 for an unused slot.
    pub len: u32,
}

/// Bytes of a watch handle write or read: [`SLOTS`] slots.
pub const WATCH_SIZE: usize = SLOTS * size_of::<WatchSlot>();

/// A session's validated watchpoints.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Watchpoints {
    slots: [WatchSlot; SLOTS],
}

impl Watchpoints {
    /// Parses and validates a watch handle write: exactly [`WATCH_SIZE`] bytes.
    ///
    /// RETURNS: `EINVAL` for a bad size, an unknown kind, a length other than 1, 2, 4 or 8 (1
    /// for execute), an address not aligned to its length (the CPU ignores the low bits), an
    /// address range reaching past user space, or an unused slot with a nonzero address or
    /// length.
    pub fn parse(bytes: &[u8]) -> Result<Self> {
        if bytes.len() != WATCH_SIZE {
            return Err(Error::new(EINVAL));
        }
        let mut slots = [WatchSlot::default(); SLOTS];
        for (slot, raw) in slots
            .iter_mut()
            .zip(bytes.chunks_exact(size_of::<WatchSlot>()))
        {
            let (address, rest) = raw.split_at(8);
            let (kind, len) = rest.split_at(4);
            *slot = WatchSlot {
                address: u64::from_ne_bytes(address.try_into().map_err(|_| Error::new(EINVAL))?),
                kind: u32::from_ne_bytes(kind.try_into().map_err(|_| Error::new(EINVAL))?),
                len: u32::from_ne_bytes(len.try_into().map_err(|_| Error::new(EINVAL))?),
            };
            validate(slot)?;
        }
        Ok(Self { slots })
    }

    /// Validates `slots` as [`Watchpoints::parse`] does: what a tracer builds before writing
    /// it with [`Watchpoints::encode`].
    pub fn new(slots: [WatchSlot; SLOTS]) -> Result<Self> {
        slots.iter().try_for_each(validate)?;
        Ok(Self { slots })
    }

    /// The slots, as written.
    pub fn slots(&self) -> [WatchSlot; SLOTS] {
        self.slots
    }

    /// The slots as a watch handle read gives them.
    pub fn encode(&self) -> [u8; WATCH_SIZE] {
        let mut out = [0_u8; WATCH_SIZE];
        for (raw, slot) in out
            .chunks_exact_mut(size_of::<WatchSlot>())
            .zip(&self.slots)
        {
            let (address, rest) = raw.split_at_mut(8);
            let (kind, len) = rest.split_at_mut(4);
            address.copy_from_slice(&slot.address.to_ne_bytes());
            kind.copy_from_slice(&slot.kind.to_ne_bytes());
            len.copy_from_slice(&slot.len.to_ne_bytes());
        }
        out
    }

    /// DR0–DR3.
    pub fn addresses(&self) -> [u64; SLOTS] {
        self.slots.map(|slot| slot.address)
    }

    /// DR7: the local-enable bit, R/W and LEN fields of each used slot, nothing else.
    pub fn dr7(&self) -> u64 {
        self.dr7_for(|_| true)
    }

    /// DR7 while the tracee single-steps: its execute slots only. A stepped instruction that
    /// also hits a data watchpoint is reported by some CPUs as a second debug exception (QEMU's
    /// TCG raises it at the first instruction of the #DB handler, which then lands on the #DB
    /// stack over the first one's frame), so the step's stop reports that instruction alone.
    pub fn dr7_while_stepping(&self) -> u64 {
        self.dr7_for(|kind| kind == WatchKind::Execute)
    }

    fn dr7_for(&self, wanted: impl Fn(WatchKind) -> bool) -> u64 {
        let mut dr7 = 0_u64;
        for (index, slot) in self.slots.iter().enumerate() {
            let Ok(kind) = WatchKind::from_raw(slot.kind) else {
                continue;
            };
            if kind == WatchKind::Off || !wanted(kind) {
                continue;
            }
            let len_bits: u64 = match slot.len {
                2 => 0b01,
                4 => 0b11,
                8 => 0b10,
                _ => 0b00,
            };
            // At most 16 + 4 * 3 + 2: no overflow.
            let enable = index.saturating_mul(2);
            let shift = index.saturating_mul(4).saturating_add(16);
            dr7 |=
                (1 << enable) | (kind.rw_bits() << shift) | (len_bits << shift.saturating_add(2));
        }
        dr7
    }

    /// The slot and its watched address for a debug exception's DR6, if a used slot hit.
    /// Also tells whether that slot watches execution (the tracee must then resume with RF set,
    /// or the instruction would trap again).
    pub fn hit(&self, dr6: u64) -> Option<Hit> {
        self.slots.iter().enumerate().find_map(|(index, slot)| {
            let kind = WatchKind::from_raw(slot.kind).ok()?;
            (dr6 & (1 << index) != 0 && kind != WatchKind::Off).then_some(Hit {
                slot: index,
                address: slot.address as usize,
                execute: kind == WatchKind::Execute,
            })
        })
    }

    pub fn is_empty(&self) -> bool {
        self.dr7() == 0
    }
}

/// A watchpoint that fired.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Hit {
    pub slot: usize,
    pub address: usize,
    pub execute: bool,
}

/// DR6 bits that say a slot's condition was met (B0–B3).
pub const DR6_HITS: u64 = 0xF;

/// DR6 with no condition recorded (the reserved bits that read as 1).
pub const DR6_CLEAR: u64 = 0xFFFF_0FF0;

fn validate(slot: &WatchSlot) -> Result<()> {
    let kind = WatchKind::from_raw(slot.kind)?;
    if kind == WatchKind::Off {
        return if slot.address == 0 && slot.len == 0 {
            Ok(())
        } else {
            Err(Error::new(EINVAL))
        };
    }
    let len_ok = match kind {
        WatchKind::Execute => slot.len == 1,
        _ => matches!(slot.len, 1 | 2 | 4 | 8),
    };
    let end = slot.address.checked_add(u64::from(slot.len));
    let in_user = end.is_some_and(|end| end <= USER_END as u64);
    if !len_ok || !slot.address.is_multiple_of(u64::from(slot.len.max(1))) || !in_user {
        return Err(Error::new(EINVAL));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(slots: [WatchSlot; SLOTS]) -> Result<Watchpoints> {
        let parsed = Watchpoints::parse(&Watchpoints { slots }.encode());
        assert_eq!(Watchpoints::new(slots), parsed, "new and parse agree");
        parsed
    }

    fn slot(address: u64, kind: WatchKind, len: u32) -> WatchSlot {
        WatchSlot {
            address,
            kind: kind as u32,
            len,
        }
    }

    /// Verifies that DR7 gets exactly the enable, R/W and LEN bits of the used slots.
    #[test]
    fn dr7_encodes_used_slots_only() {
        let off = WatchSlot::default();
        let watches = write([
            slot(0x1000, WatchKind::Execute, 1),
            off,
            slot(0x2008, WatchKind::Write, 8),
            slot(0x3004, WatchKind::ReadWrite, 4),
        ])
        .expect("valid");
        // Slot 0: L0, R/W 00, LEN 00. Slot 2: L2, R/W 01, LEN 10. Slot 3: L3, R/W 11, LEN 11.
        let expected =
            1 | (1 << 4) | (1 << 6) | (0b01 << 24) | (0b10 << 26) | (0b11 << 28) | (0b11 << 30);
        assert_eq!(watches.dr7(), expected);
        assert_eq!(watches.dr7_while_stepping(), 1);
        assert_eq!(watches.addresses(), [0x1000, 0, 0x2008, 0x3004]);
        assert!(Watchpoints::default().is_empty());
    }

    /// Verifies that bad slots are refused: kernel or non-canonical addresses, misalignment,
    /// odd lengths, wide execute watches, unknown kinds, leftovers in unused slots, bad sizes.
    #[test]
    fn bad_slots_are_einval() {
        let off = WatchSlot::default();
        let bad = [
            slot(USER_END as u64, WatchKind::Write, 1),
            slot(USER_END as u64 - 4, WatchKind::Write, 8),
            slot(0xffff_8000_0000_0000, WatchKind::Execute, 1),
            slot(0x1001, WatchKind::Write, 2),
            slot(0x1000, WatchKind::Write, 3),
            slot(0x1000, WatchKind::Execute, 4),
            WatchSlot {
                address: 0x1000,
                kind: 4,
                len: 1,
            },
            slot(0x1000, WatchKind::Off, 0),
            slot(0, WatchKind::Off, 1),
        ];
        for slot in bad {
            assert_eq!(
                write([off, slot, off, off]),
                Err(Error::new(EINVAL)),
                "{slot:?}"
            );
        }
        assert_eq!(
            Watchpoints::parse(&[0; WATCH_SIZE - 1]),
            Err(Error::new(EINVAL))
        );
        assert_eq!(
            write([
                slot(USER_END as u64 - 8, WatchKind::ReadWrite, 8),
                off,
                off,
                off
            ])
            .map(|watches| watches.is_empty()),
            Ok(false)
        );
    }

    /// Verifies that a DR6 hit names the used slot and its address, and ignores unused ones.
    #[test]
    fn hit_names_slot_and_address() {
        let off = WatchSlot::default();
        let watches = write([off, slot(0x4000, WatchKind::Execute, 1), off, off]).expect("valid");
        assert_eq!(
            watches.hit(DR6_CLEAR | 0b10),
            Some(Hit {
                slot: 1,
                address: 0x4000,
                execute: true
            })
        );
        assert_eq!(watches.hit(DR6_CLEAR | 0b01), None);
        assert_eq!(watches.hit(DR6_CLEAR | (1 << 14)), None);
    }
}
