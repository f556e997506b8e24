//! The trace handle's ABI: what a tracer writes, what it reads. `docs/abi.md` is the prose.

use core::mem::size_of;

use syscall::{
    error::{Error, Result, EINVAL},
    flag::PtraceFlags,
    SenderInfo,
};

use crate::signal::{Pending, Signal};

/// Name of the trace handle, opened relative to a context handle with `dup` or `openat`.
pub const TRACE_HANDLE: &str = "trace";

/// `dup` names on a trace handle (see [`TraceDup`]).
pub const CONTEXT_OF_TRACE: &[u8] = b"context";
pub const FILTER_OF_TRACE: &[u8] = b"filter";
pub const WATCH_OF_TRACE: &[u8] = b"watch";
pub const XSAVE_OF_TRACE: &[u8] = b"xsave";
pub const INTERRUPT_OF_TRACE: &[u8] = b"interrupt";

/// The cause of an interrupt stop ([`Stop::Interrupt`]): a bit of `PTRACE_STOP_MASK` that
/// `redox_syscall` leaves unnamed. Never written: a tracer asks for the stop through the
/// `interrupt` part, not by arming it.
pub const PTRACE_STOP_INTERRUPT: PtraceFlags = PtraceFlags::from_bits_retain(0x40);

/// The cause of a signal-delivery stop ([`Stop::Signal`]): another bit of `PTRACE_STOP_MASK`
/// that `redox_syscall` leaves unnamed. Never written: `PTRACE_STOP_SIGNAL` arms it (upstream's
/// "stop before a signal is handled"), whose exception stops keep their own cause.
pub const PTRACE_STOP_SIGNAL_DELIVERY: PtraceFlags = PtraceFlags::from_bits_retain(0x80);

/// `SYS_CALL` verb on a context's own `sighandler` handle: redox-rt says it takes a signal it
/// found pending by itself, without the kernel's redirect (after a call the signal interrupted,
/// when an unblock makes one deliverable, between two handlers), so that a tracer sees it too.
/// Metadata `[SIGNAL_TAKEN, signal, sender]` (a call carries at most three words): the signal
/// number, plus [`SIGNAL_TO_THREAD`] for one sent to the thread, and the sender as
/// `SenderInfo::raw`; see [`parse_signal_taken`]. The call returns 0 when redox-rt is to act
/// on the signal, 1 when the tracer suppressed or replaced it.
pub const SIGNAL_TAKEN: u64 = 1;

/// Added to the signal word of a [`SIGNAL_TAKEN`] call for a signal sent to the thread.
pub const SIGNAL_TO_THREAD: u64 = 1 << 32;

/// Parses the metadata of a [`SIGNAL_TAKEN`] call: the signal (1 to 64), whether it was sent
/// to the thread, and the sender's pid and uid.
///
/// RETURNS: `EINVAL` for another verb, other than three words, a signal outside 1 to 64, or
/// high bits other than [`SIGNAL_TO_THREAD`].
pub fn parse_signal_taken(metadata: &[u64]) -> Result<(Pending, SenderInfo)> {
    let &[SIGNAL_TAKEN, word, sender] = metadata else {
        return Err(Error::new(EINVAL));
    };
    let to_thread = match word & !0xffff_ffff {
        0 => false,
        SIGNAL_TO_THREAD => true,
        _ => return Err(Error::new(EINVAL)),
    };
    let signal = usize::try_from(word & 0xffff_ffff)
        .ok()
        .and_then(Signal::new)
        .ok_or(Error::new(EINVAL))?;
    Ok((Pending { signal, to_thread }, SenderInfo::from_raw(sender)))
}

/// What `dup` on a trace handle opens.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TraceDup {
    /// `context`: the tracee's context handle.
    Context,
    /// `clone/<n>`: the session of the `n`th context the tracee created (see [`Stop::Clone`]).
    Clone(usize),
    /// `filter`: the session's syscall filter (see `filter`).
    Filter,
    /// `watch`: the tracee's hardware watchpoints (see `watch`).
    Watch,
    /// `xsave`: the tracee's XSAVE area (see `xsave`).
    Xsave,
    /// `interrupt`: a write stops the running tracee (see [`Stop::Interrupt`]).
    Interrupt,
}

impl TraceDup {
    /// Parses a `dup` name.
    ///
    /// RETURNS: `EINVAL` for anything else, including `clone/` without a plain decimal number.
    pub fn parse(name: &[u8]) -> Result<Self> {
        Ok(match name {
            CONTEXT_OF_TRACE => Self::Context,
            FILTER_OF_TRACE => Self::Filter,
            WATCH_OF_TRACE => Self::Watch,
            XSAVE_OF_TRACE => Self::Xsave,
            INTERRUPT_OF_TRACE => Self::Interrupt,
            _ => Self::Clone(parse_clone_name(name)?),
        })
    }
}

const CLONE_PREFIX: &[u8] = b"clone/";

fn parse_clone_name(name: &[u8]) -> Result<usize> {
    name.strip_prefix(CLONE_PREFIX)
        .and_then(|digits| core::str::from_utf8(digits).ok())
        .filter(|digits| digits.bytes().all(|byte| byte.is_ascii_digit()))
        .and_then(|digits| digits.parse().ok())
        .ok_or(Error::new(EINVAL))
}

/// Flags a tracer may write: the stops this kernel implements, and the resume action.
pub const WRITABLE_FLAGS: PtraceFlags = PtraceFlags::PTRACE_STOP_PRE_SYSCALL
    .union(PtraceFlags::PTRACE_STOP_POST_SYSCALL)
    .union(PtraceFlags::PTRACE_STOP_SINGLESTEP)
    .union(PtraceFlags::PTRACE_STOP_BREAKPOINT)
    .union(PtraceFlags::PTRACE_STOP_SIGNAL)
    .union(PtraceFlags::PTRACE_STOP_EXIT)
    .union(PtraceFlags::PTRACE_EVENT_CLONE)
    .union(PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH)
    .union(PtraceFlags::PTRACE_FLAG_IGNORE);

/// Parses a tracer's `write`: one native-endian `u64` of [`WRITABLE_FLAGS`], optionally
/// followed by a `u64` signal word (see [`crate::signal::SignalResume::choose`]).
pub fn parse_flags(bytes: &[u8]) -> Result<(PtraceFlags, Option<usize>)> {
    let word = |chunk: &[u8]| -> Result<u64> {
        let raw: [u8; 8] = chunk.try_into().map_err(|_| Error::new(EINVAL))?;
        Ok(u64::from_ne_bytes(raw))
    };
    let (flags, signal) = match bytes.len() {
        8 => (word(bytes)?, None),
        16 => {
            let (flags, signal) = bytes.split_at(8);
            let signal = usize::try_from(word(signal)?).map_err(|_| Error::new(EINVAL))?;
            (word(flags)?, Some(signal))
        }
        _ => return Err(Error::new(EINVAL)),
    };
    let flags = PtraceFlags::from_bits(flags)
        .filter(|flags| WRITABLE_FLAGS.contains(*flags))
        .ok_or(Error::new(EINVAL))?;
    Ok((flags, signal))
}

/// One record read from a trace handle. `cause` holds exactly one stop or event bit of
/// `PtraceFlags`; what `data` means depends on it (see [`Stop`]).
///
/// `redox_syscall`'s `PtraceEvent` has six data words; a syscall entry needs seven (number and
/// six arguments), hence this type.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[repr(C)]
pub struct TraceEvent {
    pub cause: u64,
    pub data: [usize; 7],
}

impl TraceEvent {
    pub const SIZE: usize = size_of::<Self>();

    pub fn cause(&self) -> PtraceFlags {
        PtraceFlags::from_bits_retain(self.cause)
    }

    pub fn as_bytes(&self) -> &[u8; Self::SIZE] {
        // SAFETY: repr(C), integers only, no padding (u64 followed by usizes on 64-bit targets).
        unsafe { &*(self as *const Self).cast() }
    }

    pub fn from_bytes(bytes: &[u8]) -> Result<Self> {
        let bytes: &[u8; Self::SIZE] = bytes.try_into().map_err(|_| Error::new(EINVAL))?;
        // SAFETY: every bit pattern is a valid TraceEvent; read_unaligned copes with any buffer.
        Ok(unsafe { bytes.as_ptr().cast::<Self>().read_unaligned() })
    }

    /// The typed meaning of this record.
    pub fn decode(&self) -> Result<Stop> {
        let [d0, d1, d2, d3, d4, d5, d6] = self.data;
        if self.cause == PTRACE_STOP_INTERRUPT.bits() {
            return Ok(Stop::Interrupt {
                ip: d0,
                call: (d1 != 0).then_some(d2),
            });
        }
        if self.cause == PTRACE_STOP_SIGNAL_DELIVERY.bits() {
            let signal = Signal::new(d0).ok_or(Error::new(EINVAL))?;
            return Ok(Stop::Signal {
                pending: Pending {
                    signal,
                    to_thread: d1 != 0,
                },
                pid: d2,
                uid: d3,
            });
        }
        let cause = PtraceFlags::from_bits(self.cause).ok_or(Error::new(EINVAL))?;
        Ok(if cause == PtraceFlags::PTRACE_STOP_PRE_SYSCALL {
            Stop::SyscallEntry {
                number: d0,
                args: [d1, d2, d3, d4, d5, d6],
            }
        } else if cause == PtraceFlags::PTRACE_STOP_POST_SYSCALL {
            Stop::SyscallExit {
                number: d0,
                ret: d1,
            }
        } else if cause == PtraceFlags::PTRACE_STOP_SINGLESTEP {
            Stop::SingleStep { ip: d0 }
        } else if cause == PtraceFlags::PTRACE_STOP_BREAKPOINT && d1 == 0 {
            Stop::Breakpoint { ip: d0 }
        } else if cause == PtraceFlags::PTRACE_STOP_BREAKPOINT {
            Stop::Watchpoint {
                ip: d0,
                slot: d1.wrapping_sub(1),
                address: d2,
            }
        } else if cause == PtraceFlags::PTRACE_STOP_SIGNAL {
            Stop::Exception {
                kind: d0,
                code: d1,
                address: d2,
            }
        } else if cause == PtraceFlags::PTRACE_STOP_EXIT {
            Stop::Exit {
                status: d0,
                exception: d1,
            }
        } else if cause == PtraceFlags::PTRACE_EVENT_CLONE {
            Stop::Clone {
                number: d0,
                pid: d1,
            }
        } else if cause == PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH {
            Stop::AddrSpaceSwitch
        } else {
            return Err(Error::new(EINVAL));
        })
    }
}

/// What a trace handle reports, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Stop {
    /// Before a syscall runs: its number and six argument registers.
    SyscallEntry { number: usize, args: [usize; 6] },
    /// After a syscall ran (or was skipped): the number it ran with and the value it returns
    /// (`-errno` as `usize` for an error).
    SyscallExit { number: usize, ret: usize },
    /// After one instruction; `ip` is the next instruction.
    SingleStep { ip: usize },
    /// At a software breakpoint; `ip` is the address of the `int3` byte.
    Breakpoint { ip: usize },
    /// A hardware watchpoint fired: `slot` (0–3) watching `address`. For an execute watch `ip`
    /// is the watched instruction, not yet run; for a data watch, the instruction after the
    /// access. Armed with `PTRACE_STOP_BREAKPOINT`; encoded as a breakpoint record whose second
    /// word is `slot + 1` (0 for `int3`) and third word `address`.
    Watchpoint {
        ip: usize,
        slot: usize,
        address: usize,
    },
    /// A CPU exception the tracee raised, before it is handled (`syscall::Exception`'s fields:
    /// the vector, the error code, and for page faults the faulting address).
    Exception {
        kind: usize,
        code: usize,
        address: usize,
    },
    /// The tracee is exiting; its registers and memory are still there. `status` is the
    /// `ContextStatus` its status handle will show (`Dead`, `ForceKilled` or `UnhandledExcp`),
    /// `exception` the vector of the exception that killed it (0 otherwise).
    Exit { status: usize, exception: usize },
    /// The tracee created a context (`new-context`), or started one that never ran (a fork or
    /// thread procmgr made for it), which is traced from its first instruction with the same
    /// stops armed; the tracer takes its session with `dup(trace, "clone/<number>")`. `pid` is
    /// the process id procmgr gave the new context (0 if none yet): a thread's is its
    /// creator's.
    Clone { number: usize, pid: usize },
    /// The tracee's address space was replaced (exec). Reported, not a stop.
    AddrSpaceSwitch,
    /// The tracer asked for a stop through the `interrupt` part; `ip` is where the tracee
    /// was interrupted in user code (at a syscall entry: the instruction after `syscall`).
    /// `call` is the syscall it was blocked in, which the request ended: `ip` is then that
    /// `syscall` instruction, and the call runs again when the tracee is resumed. Event words
    /// `[ip, 1 if in a call, number]`.
    Interrupt { ip: usize, call: Option<usize> },
    /// A signal is about to take effect: redox-rt's handler is about to run for it (to call
    /// the program's handler, or to act on the default action or `SIG_IGN`). `pid` and `uid`
    /// are the sender's, as procmgr recorded them (0 for realtime signals, which it queues
    /// elsewhere). Armed with `PTRACE_STOP_SIGNAL`; the event's cause is
    /// [`PTRACE_STOP_SIGNAL_DELIVERY`] and its words `[signo, to_thread, pid, uid]`.
    Signal {
        pending: Pending,
        pid: usize,
        uid: usize,
    },
}

impl Stop {
    /// The `PtraceFlags` bit that arms this stop.
    pub fn flag(&self) -> PtraceFlags {
        match self {
            Self::SyscallEntry { .. } => PtraceFlags::PTRACE_STOP_PRE_SYSCALL,
            Self::SyscallExit { .. } => PtraceFlags::PTRACE_STOP_POST_SYSCALL,
            Self::SingleStep { .. } => PtraceFlags::PTRACE_STOP_SINGLESTEP,
            Self::Breakpoint { .. } | Self::Watchpoint { .. } => {
                PtraceFlags::PTRACE_STOP_BREAKPOINT
            }
            Self::Exception { .. } | Self::Signal { .. } => PtraceFlags::PTRACE_STOP_SIGNAL,
            Self::Exit { .. } => PtraceFlags::PTRACE_STOP_EXIT,
            Self::Clone { .. } => PtraceFlags::PTRACE_EVENT_CLONE,
            Self::AddrSpaceSwitch => PtraceFlags::PTRACE_EVENT_ADDRSPACE_SWITCH,
            Self::Interrupt { .. } => PTRACE_STOP_INTERRUPT,
        }
    }

    /// The event's cause: the arming flag, but for signal-delivery stops.
    pub fn cause(&self) -> PtraceFlags {
        match self {
            Self::Signal { .. } => PTRACE_STOP_SIGNAL_DELIVERY,
            _ => self.flag(),
        }
    }

    /// Whether the tracee waits for the tracer (a stop) or only reports (a notice).
    pub fn is_stop(&self) -> bool {
        !matches!(self, Self::AddrSpaceSwitch)
    }

    /// Whether `PTRACE_FLAG_IGNORE` means something when resuming from this stop.
    pub fn can_ignore(&self) -> bool {
        matches!(
            self,
            Self::SyscallEntry { .. }
                | Self::Breakpoint { .. }
                | Self::Exception { .. }
                | Self::Signal { .. }
        )
    }
}

impl From<Stop> for TraceEvent {
    fn from(stop: Stop) -> Self {
        let data = match stop {
            Stop::SyscallEntry { number, args } => {
                let [a, b, c, d, e, f] = args;
                [number, a, b, c, d, e, f]
            }
            Stop::SyscallExit { number, ret } => [number, ret, 0, 0, 0, 0, 0],
            Stop::SingleStep { ip } | Stop::Breakpoint { ip } => [ip, 0, 0, 0, 0, 0, 0],
            Stop::Interrupt { ip, call } => [
                ip,
                usize::from(call.is_some()),
                call.unwrap_or(0),
                0,
                0,
                0,
                0,
            ],
            Stop::Watchpoint { ip, slot, address } => {
                [ip, slot.wrapping_add(1), address, 0, 0, 0, 0]
            }
            Stop::Exception {
                kind,
                code,
                address,
            } => [kind, code, address, 0, 0, 0, 0],
            Stop::Exit { status, exception } => [status, exception, 0, 0, 0, 0, 0],
            Stop::Clone { number, pid } => [number, pid, 0, 0, 0, 0, 0],
            Stop::Signal { pending, pid, uid } => [
                pending.signal.number(),
                usize::from(pending.to_thread),
                pid,
                uid,
                0,
                0,
                0,
            ],
            Stop::AddrSpaceSwitch => [0; 7],
        };
        Self {
            cause: stop.cause().bits(),
            data,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that a syscall entry survives encoding, the byte view and decoding.
    #[test]
    fn event_roundtrips_through_bytes() {
        let stop = Stop::SyscallEntry {
            number: 3,
            args: [1, 2, 3, 4, 5, 6],
        };
        let event = TraceEvent::from(stop);
        let back = TraceEvent::from_bytes(event.as_bytes()).expect("full record");
        assert_eq!(back, event);
        assert_eq!(back.decode(), Ok(stop));
    }

    /// Verifies that every stop kind decodes to itself.
    #[test]
    fn every_stop_decodes_to_itself() {
        let stops = [
            Stop::SyscallEntry {
                number: 1,
                args: [9; 6],
            },
            Stop::SyscallExit {
                number: 2,
                ret: usize::MAX,
            },
            Stop::SingleStep { ip: 0x1000 },
            Stop::Breakpoint { ip: 0x2000 },
            Stop::Watchpoint {
                ip: 0x2004,
                slot: 3,
                address: 0x8000,
            },
            Stop::Exception {
                kind: 14,
                code: 6,
                address: 0xdead_0000,
            },
            Stop::Exit {
                status: 6,
                exception: 6,
            },
            Stop::Clone { number: 1, pid: 7 },
            Stop::AddrSpaceSwitch,
            Stop::Interrupt {
                ip: 0x3000,
                call: None,
            },
            Stop::Interrupt {
                ip: 0x3002,
                call: Some(0),
            },
            Stop::Signal {
                pending: Pending {
                    signal: Signal::new(10).expect("SIGUSR1"),
                    to_thread: true,
                },
                pid: 5,
                uid: 1000,
            },
        ];
        for stop in stops {
            assert_eq!(TraceEvent::from(stop).decode(), Ok(stop));
        }
    }

    /// Verifies that a record with no, several or unknown cause bits is refused.
    #[test]
    fn decode_rejects_bad_causes() {
        for cause in [0, 0b11, 1 << 40] {
            let event = TraceEvent {
                cause,
                data: [0; 7],
            };
            assert_eq!(event.decode(), Err(Error::new(EINVAL)));
        }
    }

    /// Verifies that a short buffer is not a record.
    #[test]
    fn from_bytes_rejects_short_buffers() {
        assert_eq!(
            TraceEvent::from_bytes(&[0; TraceEvent::SIZE - 1]),
            Err(Error::new(EINVAL))
        );
    }

    /// Verifies that dup names parse to their handle and nothing else does.
    #[test]
    fn dup_names_parse() {
        assert_eq!(TraceDup::parse(b"clone/7"), Ok(TraceDup::Clone(7)));
        assert_eq!(TraceDup::parse(b"context"), Ok(TraceDup::Context));
        assert_eq!(TraceDup::parse(b"filter"), Ok(TraceDup::Filter));
        assert_eq!(TraceDup::parse(b"watch"), Ok(TraceDup::Watch));
        assert_eq!(TraceDup::parse(b"xsave"), Ok(TraceDup::Xsave));
        assert_eq!(TraceDup::parse(b"interrupt"), Ok(TraceDup::Interrupt));
        for bad in [
            &b"clone/"[..],
            b"clone/-1",
            b"clone/+1",
            b"clone/1x",
            b"clones/1",
            b"7",
            b"filters",
            b"",
        ] {
            assert_eq!(TraceDup::parse(bad), Err(Error::new(EINVAL)));
        }
    }

    /// Verifies that writes must be eight bytes of known, implemented flags, or those and a
    /// signal word.
    #[test]
    fn parse_flags_accepts_only_writable_u64s() {
        let syscalls = PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_STOP_POST_SYSCALL;
        assert_eq!(
            parse_flags(&syscalls.bits().to_ne_bytes()),
            Ok((syscalls, None))
        );
        assert_eq!(
            parse_flags(&0u64.to_ne_bytes()),
            Ok((PtraceFlags::empty(), None))
        );
        assert_eq!(parse_flags(&[1, 0, 0, 0]), Err(Error::new(EINVAL)));
        assert_eq!(parse_flags(&[0; 24]), Err(Error::new(EINVAL)));
        assert_eq!(
            parse_flags(&(1u64 << 63).to_ne_bytes()),
            Err(Error::new(EINVAL))
        );
        // Inside PTRACE_STOP_MASK, but no stop a tracer arms (the interrupt stop is asked for,
        // the signal-delivery stop armed with PTRACE_STOP_SIGNAL).
        for unarmed in [PTRACE_STOP_INTERRUPT, PTRACE_STOP_SIGNAL_DELIVERY] {
            assert_eq!(
                parse_flags(&unarmed.bits().to_ne_bytes()),
                Err(Error::new(EINVAL))
            );
        }
    }

    /// Verifies that a sixteen-byte write carries the signal word after the flags.
    #[test]
    fn parse_flags_takes_a_signal_word() {
        let mut raw = [0_u8; 16];
        raw[..8].copy_from_slice(&PtraceFlags::PTRACE_STOP_SIGNAL.bits().to_ne_bytes());
        raw[8..].copy_from_slice(&10_u64.to_ne_bytes());
        assert_eq!(
            parse_flags(&raw),
            Ok((PtraceFlags::PTRACE_STOP_SIGNAL, Some(10)))
        );
    }

    /// Verifies the signal-taken metadata: the signal, its target and sender, and the errors
    /// for another verb, a wrong length, a signal outside 1 to 64 and stray high bits.
    #[test]
    fn signal_taken_metadata() {
        let sender = SenderInfo { pid: 7, ruid: 1000 }.raw();
        let (pending, from) = parse_signal_taken(&[SIGNAL_TAKEN, 17, sender]).expect("valid");
        assert_eq!(pending.signal.number(), 17);
        assert!(!pending.to_thread);
        assert_eq!((from.pid, from.ruid), (7, 1000));
        let thread = parse_signal_taken(&[SIGNAL_TAKEN, SIGNAL_TO_THREAD | 64, 0]);
        assert!(thread.expect("valid").0.to_thread);
        for bad in [
            &[2, 17, sender][..],
            &[SIGNAL_TAKEN, 17],
            &[SIGNAL_TAKEN, 17, sender, 0],
            &[SIGNAL_TAKEN, 0, sender],
            &[SIGNAL_TAKEN, 65, sender],
            &[SIGNAL_TAKEN, (SIGNAL_TO_THREAD << 1) | 17, sender],
        ] {
            assert_eq!(
                parse_signal_taken(bad).map(|_| ()),
                Err(Error::new(EINVAL)),
                "{bad:?}"
            );
        }
    }
}
