//! `gdbserver COMMAND [ARG...]`: starts COMMAND traced, held at its first instruction, and
//! serves gdb's remote serial protocol on COM2 until gdb detaches, kills it, or it exits.
//!
//! The protocol is the `gdbstub` crate's; this program is the target glue (`target`, over the
//! `inferior` trait) and the transport (`uart`). One thread only: the kernel can follow the
//! threads and forks the tracee starts, but gdbserver does not arm clone stops, so it never
//! sees them.

mod arch;
#[cfg(test)]
mod fake;
mod inferior;
mod regs;
mod signals;
mod target;
mod uart;

use std::{fmt, io::Write, process::ExitCode};

use gdbstub::{
    common::Signal,
    conn::{Connection, ConnectionExt},
    stub::{run_blocking, DisconnectReason, GdbStub, SingleThreadStopReason},
};

use inferior::{Halt, Inferior, Traced};
use target::GdbTarget;

const USAGE: &str = "usage: gdbserver COMMAND [ARG...]   (gdb connects through COM2)";

fn main() -> ExitCode {
    let argv: Vec<String> = std::env::args().skip(1).collect();
    match argv.first().map(String::as_str) {
        None => {
            eprintln!("{USAGE}");
            return ExitCode::from(2);
        }
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some(_) => {}
    }
    match serve(&argv) {
        Ok(code) => ExitCode::from(code),
        Err(msg) => {
            say(format_args!("{msg}"));
            ExitCode::FAILURE
        }
    }
}

/// Prints `gdbserver: LINE` to stderr in one write: the program gdbserver let go may print on
/// another CPU at the same moment, and `eprintln!` writes each piece of its format apart.
fn say(line: fmt::Arguments) {
    let _ = std::io::stderr().write_all(format!("gdbserver: {line}\n").as_bytes());
}

/// Serves one gdb session; returns the exit code of the tracee (0 if it was detached).
fn serve(argv: &[String]) -> Result<u8, String> {
    let uart = uart::Uart::open(uart::COM2)?;
    let traced = Traced::spawn(argv)?;
    let pid = traced.pid().unwrap_or(0);
    let mut target = GdbTarget::new(traced);
    let rip = target.inferior.int_regs()?.rip;
    say(format_args!(
        "{} (pid {pid}) stopped at {rip:#x}; gdb on COM2",
        argv.join(" ")
    ));
    let stub = GdbStub::new(uart);
    let reason = stub
        .run_blocking::<EventLoop>(&mut target)
        .map_err(|e| format!("gdb session: {e}"))?;
    match reason {
        DisconnectReason::TargetExited(code) => {
            say(format_args!("pid {pid} exited with {code}"));
            Ok(code)
        }
        DisconnectReason::TargetTerminated(sig) => {
            say(format_args!("pid {pid} killed by signal {}", sig.0));
            Ok(128u8.saturating_add(sig.0))
        }
        DisconnectReason::Disconnect => {
            target.inferior.detach()?;
            say(format_args!("detached from pid {pid}"));
            Ok(0)
        }
        DisconnectReason::Kill => {
            target.inferior.kill()?;
            say(format_args!("killed pid {pid}"));
            // gdb kills with `vKill` (it speaks the multiprocess dialect gdbstub offers) and
            // waits for its OK; gdbstub sends that only in extended mode, which we do not
            // offer. Answer it once the program is dead. After a plain `k` gdb expects no
            // reply and has closed the connection, so the packet goes nowhere.
            let mut uart = uart::Uart::open(uart::COM2)?;
            let _ = uart.write_all(b"$OK#9a");
            Ok(0)
        }
    }
}

/// gdbstub's blocking loop: after a resume, wait for the tracee's next stop.
enum EventLoop {}

impl run_blocking::BlockingEventLoop for EventLoop {
    type Target = GdbTarget<Traced>;
    type Connection = uart::Uart;
    type StopReason = SingleThreadStopReason<u64>;

    fn wait_for_stop_reason(
        target: &mut Self::Target,
        conn: &mut Self::Connection,
    ) -> Result<
        run_blocking::Event<Self::StopReason>,
        run_blocking::WaitForStopReasonError<
            <Self::Target as gdbstub::target::Target>::Error,
            <Self::Connection as Connection>::Error,
        >,
    > {
        // Poll gdb and the tracee in turn: gdb may send Ctrl-C while the program runs.
        loop {
            if conn
                .peek()
                .map_err(run_blocking::WaitForStopReasonError::Connection)?
                .is_some()
            {
                let byte = conn
                    .read()
                    .map_err(run_blocking::WaitForStopReasonError::Connection)?;
                return Ok(run_blocking::Event::IncomingData(byte));
            }
            if let Some(halt) = target
                .poll()
                .map_err(run_blocking::WaitForStopReasonError::Target)?
            {
                return Ok(run_blocking::Event::TargetStopped(stop_reason(halt)));
            }
            std::thread::yield_now();
        }
    }

    fn on_interrupt(
        target: &mut Self::Target,
    ) -> Result<Option<Self::StopReason>, <Self::Target as gdbstub::target::Target>::Error> {
        // An interrupt stop, reported as SIGINT, within one scheduler tick (docs/abi.md).
        target.inferior.interrupt()?;
        Ok(None)
    }
}

fn stop_reason(halt: Halt) -> SingleThreadStopReason<u64> {
    match halt {
        Halt::Step => SingleThreadStopReason::DoneStep,
        Halt::Breakpoint => SingleThreadStopReason::SwBreak(()),
        Halt::HwBreak => SingleThreadStopReason::HwBreak(()),
        Halt::Watch { kind, address } => SingleThreadStopReason::Watch {
            tid: (),
            kind,
            addr: address as u64,
        },
        // The glue resolves every slot it set; one it did not set is a plain trap.
        Halt::Watchpoint { .. } => SingleThreadStopReason::Signal(Signal::SIGTRAP),
        Halt::Signal(sig) => SingleThreadStopReason::Signal(signals::to_gdb(sig)),
        Halt::Exited(code) => SingleThreadStopReason::Exited(code),
        Halt::Killed(sig) => SingleThreadStopReason::Terminated(signals::to_gdb(sig)),
    }
}
