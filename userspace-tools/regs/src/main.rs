//! `regs`: stop a tracee at a syscall entry and print its registers like gdb.
//!
//! Parsing is in `args`; the register formatting lives in the redox-ptrace library
//! (`redox_ptrace::regs`), this file only drives the tracer and prints.

mod args;

use std::process::ExitCode;

use args::{Options, Parsed, StopAt};
use redox_ptrace::{
    decode::syscall_name,
    regs::{EnvRegs, FloatRegs, IntRegs},
    spawn::{self, ExitStatus},
    Restart, Stop, StopSet, Tracee, TraceeId, Tracer,
};

fn main() -> ExitCode {
    let opts = match args::parse(std::env::args().skip(1)) {
        Ok(Parsed::Run(opts)) => opts,
        Ok(Parsed::Help) => {
            println!("{}", args::USAGE);
            return ExitCode::SUCCESS;
        }
        Err(msg) => {
            eprintln!("regs: {msg}\n{}", args::USAGE);
            return ExitCode::from(2);
        }
    };
    match run(&opts) {
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(msg) => {
            eprintln!("regs: {msg}");
            ExitCode::FAILURE
        }
    }
}

/// Starts or attaches, waits for the chosen stop, prints, detaches. Returns the exit code.
fn run(opts: &Options) -> Result<i32, String> {
    let mut source = spawn::default_source();
    let mut tracer = Tracer::new();
    tracer.set_always(StopSet::ADDRSPACE_SWITCH);
    let arm = Restart::Continue(StopSet::SYSCALL_ENTRY);
    let target = match opts.pid {
        Some(pid) => spawn::Target::Pid(pid),
        None => spawn::Target::Command(&opts.command),
    };
    let (id, child) = spawn::start_traced(&mut tracer, source.as_mut(), target, arm)
        .map_err(|e| format!("{target}: {e}"))?;
    // An attached process is already running its program; a spawned one first runs our
    // handoff and relibc's loader, which we skip.
    let mut after_exec = child.is_none();
    let mut seen = 0usize;
    while let Some((stop_id, stop)) = tracer.wait().map_err(|e| e.to_string())? {
        match stop {
            Stop::AddrSpaceSwitch => after_exec = true,
            Stop::SyscallEntry { number, .. } if after_exec => {
                seen = seen.saturating_add(1);
                let here = match opts.stop_at {
                    StopAt::Count(n) => seen == n,
                    StopAt::Syscall(wanted) => number == wanted,
                };
                if here {
                    let tracee = tracer.tracee(stop_id).ok_or("tracee vanished")?;
                    print_registers(tracee, number, opts)?;
                    tracer
                        .restart(stop_id, Restart::Detach)
                        .map_err(|e| e.to_string())?;
                    return Ok(child.map_or(0, |pid| exit_code(id, spawn::wait_exit(pid))));
                }
            }
            Stop::Exited => {
                return Err(format!(
                    "{id} exited before the stop (after {seen} syscalls)"
                ))
            }
            _ => {}
        }
        if stop.is_stop() {
            tracer.restart(stop_id, arm).map_err(|e| e.to_string())?;
        }
    }
    Err("no tracee left".to_string())
}

fn print_registers(tracee: &Tracee, number: usize, opts: &Options) -> Result<(), String> {
    let err = |e: redox_ptrace::Error| e.to_string();
    println!(
        "{}: stopped at entry of {} ({number:#x})",
        tracee.id(),
        syscall_name(number)
    );
    print!("{}", IntRegs(&tracee.int_regs().map_err(err)?));
    if opts.float {
        print!("{}", FloatRegs(&tracee.float_regs().map_err(err)?));
    }
    if opts.env {
        print!("{}", EnvRegs(&tracee.env_regs().map_err(err)?));
    }
    Ok(())
}

fn exit_code(id: TraceeId, status: ExitStatus) -> i32 {
    match status {
        ExitStatus::Code(code) => code,
        ExitStatus::Signal(sig) => {
            eprintln!("regs: {id} killed by signal {sig}");
            128_i32.saturating_add(sig)
        }
        ExitStatus::Unknown => 0,
    }
}
