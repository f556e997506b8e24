//! The syscall decoder: names, arguments and results printed like Linux strace.
//!
//! ```text
//! openat_into(3, "sys:uname", O_RDONLY|O_CLOEXEC, 0, 4) = 4
//! read(4, "Redox\n", 64) = 6
//! close(9) = -1 EBADF (Bad file number)
//! ```
//!
//! A call is decoded in two steps, as strace does: [`PendingCall::enter`] at the syscall-entry
//! stop prints the inputs (strings and structs are read from tracee memory *before* the kernel
//! runs), and [`PendingCall::finish`] at the exit stop adds what the kernel filled in and the
//! result. Both go through a [`TraceeMemory`], so host tests use a fake one; without memory
//! access pointers print as addresses.

pub mod args;
pub mod errno;
pub mod flags;
pub mod signal;
pub mod strings;
pub mod structs;
pub mod table;

use alloc::{format, string::String, vec::Vec};
use core::fmt::{self, Write};

pub use table::{lookup, lookup_name, Arg, Ret, SyscallSpec, ALL_SYSCALLS};

use crate::mem::TraceeMemory;

/// Output settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DecodeOptions {
    /// Longest string printed, in bytes (strace `-s`, default 32); longer ones end in `...`.
    pub string_limit: usize,
}

impl Default for DecodeOptions {
    fn default() -> Self {
        Self { string_limit: 32 }
    }
}

/// The name printed for syscall `number`: its `SYS_*` name, or `syscall_0x...`.
pub fn syscall_name(number: usize) -> String {
    match lookup(number) {
        Some(spec) => String::from(spec.name),
        None => format!("syscall_{number:#x}"),
    }
}

/// One printed argument: done at entry, or waiting for the exit stop.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Piece {
    Text(String),
    AtExit { index: usize, arg: Arg },
}

/// A syscall seen at its entry stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PendingCall {
    pub number: usize,
    pub args: [usize; 6],
    pieces: Vec<Piece>,
}

impl PendingCall {
    /// Decodes the inputs of syscall `number` called with `args`.
    pub fn enter(
        number: usize,
        args: [usize; 6],
        mem: &dyn TraceeMemory,
        opts: &DecodeOptions,
    ) -> Self {
        let pieces = match lookup(number) {
            Some(spec) => spec
                .args
                .iter()
                .enumerate()
                .filter(|(_, arg)| **arg != Arg::Hidden)
                .map(|(index, &arg)| {
                    if args::is_output(arg, &args) {
                        Piece::AtExit { index, arg }
                    } else {
                        Piece::Text(render(|f| {
                            args::write_arg(f, arg, index, &args, None, mem, opts)
                        }))
                    }
                })
                .collect(),
            None => args
                .iter()
                .map(|a| Piece::Text(format!("{a:#x}")))
                .collect(),
        };
        Self {
            number,
            args,
            pieces,
        }
    }

    pub fn name(&self) -> String {
        syscall_name(self.number)
    }

    /// The line so far, for a call that is still running: `read(3, ` (strace's
    /// `<unfinished ...>` lines).
    pub fn entry_text(&self) -> String {
        let mut out = format!("{}(", self.name());
        let mut first = true;
        for piece in &self.pieces {
            if !first {
                out.push_str(", ");
            }
            first = false;
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::AtExit { index, .. } => {
                    let _ = args::write_addr(&mut out, self.args.get(*index).copied().unwrap_or(0));
                }
            }
        }
        out
    }

    /// Completes the call with the exit stop's return value.
    pub fn finish(self, ret: usize, mem: &dyn TraceeMemory, opts: &DecodeOptions) -> FinishedCall {
        let ok = errno::from_return(ret).is_none().then_some(ret);
        let args_text = self.render_args(ok, mem, opts);
        FinishedCall {
            number: self.number,
            args_text: Some(args_text),
            ret: Some(ret),
            fcntl_cmd: self.args.get(1).copied().unwrap_or(0),
        }
    }

    /// Ends a call that never returned (the tracee died in it): `name(args) = ?`.
    pub fn unfinished(self) -> FinishedCall {
        let text = self.entry_text();
        let args_text = text
            .split_once('(')
            .map(|(_, a)| String::from(a))
            .unwrap_or_default();
        FinishedCall {
            number: self.number,
            args_text: Some(args_text),
            ret: None,
            fcntl_cmd: self.args.get(1).copied().unwrap_or(0),
        }
    }

    fn render_args(
        &self,
        ok: Option<usize>,
        mem: &dyn TraceeMemory,
        opts: &DecodeOptions,
    ) -> String {
        let mut out = String::new();
        for (i, piece) in self.pieces.iter().enumerate() {
            if i > 0 {
                out.push_str(", ");
            }
            match piece {
                Piece::Text(text) => out.push_str(text),
                Piece::AtExit { index, arg } => {
                    let _ = args::write_arg(&mut out, *arg, *index, &self.args, ok, mem, opts);
                }
            }
        }
        out
    }
}

/// A whole syscall, ready to print with `Display`: `name(args) = result`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FinishedCall {
    pub number: usize,
    /// `None` when the entry was not seen (attached mid-call): printed as `<... name resumed>`.
    args_text: Option<String>,
    /// `None` when the call never returned.
    pub ret: Option<usize>,
    fcntl_cmd: usize,
}

impl FinishedCall {
    /// An exit stop whose entry this tracer did not see.
    pub fn resumed(number: usize, ret: usize) -> Self {
        Self {
            number,
            args_text: None,
            ret: Some(ret),
            fcntl_cmd: usize::MAX,
        }
    }

    /// The errno, if the call failed.
    pub fn errno(&self) -> Option<i32> {
        self.ret.and_then(errno::from_return)
    }

    fn write_ret(&self, f: &mut dyn Write) -> fmt::Result {
        let Some(ret) = self.ret else {
            return f.write_char('?');
        };
        if let Some(e) = errno::from_return(ret) {
            let name = errno::name(e).unwrap_or("E?");
            return write!(f, "-1 {name} ({})", errno::text(e));
        }
        match lookup(self.number).map(|s| s.ret) {
            Some(Ret::Fd) => args::write_fd(f, ret),
            Some(Ret::Addr) => write!(f, "{ret:#x}"),
            Some(Ret::EventFlags) => flags::write_event_flags(f, ret),
            Some(Ret::Fcntl { .. }) => args::write_fcntl_ret(f, self.fcntl_cmd, ret),
            Some(Ret::Uint) => write!(f, "{ret}"),
            None => write!(f, "{ret:#x}"),
        }
    }
}

impl fmt::Display for FinishedCall {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let name = syscall_name(self.number);
        match &self.args_text {
            Some(args) => write!(f, "{name}({args}) = ")?,
            None => write!(f, "<... {name} resumed>) = ")?,
        }
        self.write_ret(f)
    }
}

fn render(write: impl FnOnce(&mut dyn Write) -> fmt::Result) -> String {
    let mut s = String::new();
    let _ = write(&mut s);
    s
}

/// Decodes a whole call at once from its entry arguments and its return value (for tests and
/// for tracers that stop only at syscall exit and read the arguments from the registers).
pub fn decode(
    number: usize,
    args: [usize; 6],
    ret: usize,
    mem: &dyn TraceeMemory,
    opts: &DecodeOptions,
) -> FinishedCall {
    PendingCall::enter(number, args, mem, opts).finish(ret, mem, opts)
}
