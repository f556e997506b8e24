//! Drives the tracer: spawn (or attach), arm syscall stops, print every stop, report the exit.

use std::{
    collections::BTreeMap,
    io::Write,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use syscall::flag::ContextStatus;

use redox_ptrace::{
    decode::signal,
    spawn::{self, ContextSource, ExitStatus},
    Restart, Stop, StopSet, SyscallFilter, TraceeId, Tracer,
};

use crate::{
    args::Options,
    printer::{Moment, Printer},
};

const NO_FOLLOW: &str = "-f: new processes and threads are not followed yet: relibc creates them \
     through procmgr, so the kernel does not report them as the tracee's clones \
     (PTRACE_EVENT_CLONE); tracing the first thread only";

struct Clock(Instant);

impl Clock {
    fn now(&self) -> Moment {
        Moment {
            mono: self.0.elapsed(),
            wall: SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .unwrap_or_default(),
        }
    }
}

/// Traces as `opts` says, printing to `out`. Returns the exit code strace should exit with
/// (the traced command's, like strace).
pub fn run(opts: &Options, out: Box<dyn Write>) -> Result<i32, String> {
    let clock = Clock(Instant::now());
    let mut source = spawn::default_source();
    let mut printer = Printer::new(out, opts);
    let mut tracer = match spawn::open_event_queue() {
        Ok(queue) => Tracer::with_event_queue(queue),
        Err(_) => Tracer::new(),
    };
    // Exception and exit stops tell which exception killed a tracee: procmgr reports such a
    // death as a plain exit.
    tracer.set_always(StopSet::ADDRSPACE_SWITCH | StopSet::EXCEPTION | StopSet::EXIT);
    // -e trace=: the kernel stops only the chosen calls; the others cost the tracee no stop
    // and us no wakeup. (The printer still checks each call it is shown.)
    if let Some(numbers) = &opts.filter {
        let filter = SyscallFilter::only(numbers)
            .map_err(|e| format!("-e trace=: {e} (too many system calls)"))?;
        tracer
            .set_syscall_filter(filter)
            .map_err(|e| e.to_string())?;
    }
    if opts.follow_forks {
        printer.note(NO_FOLLOW).map_err(|e| e.to_string())?;
    }

    let (main, child_pid) = start(opts, source.as_mut(), &mut tracer)?;
    printer.add_tracee(main, child_pid.is_some());
    let mut exit_code = 0;
    let mut killed_by = BTreeMap::new();

    while let Some((id, stop)) = tracer.wait().map_err(|e| e.to_string())? {
        let now = clock.now();
        let io = match stop {
            Stop::SyscallEntry { number, args } => {
                let mem = memory(&mut tracer, id);
                printer.syscall_entry(id, number, args, now, mem);
                Ok(())
            }
            Stop::SyscallExit { number, ret, .. } => {
                let mem = memory(&mut tracer, id);
                printer.syscall_exit(id, number, ret, now, mem)
            }
            Stop::AddrSpaceSwitch => printer.exec(id, now),
            Stop::Exception {
                kind,
                code,
                address,
            } => printer.exception(id, kind, code, address, now),
            Stop::Exiting { status, exception } => {
                let by_exception = status == ContextStatus::UnhandledExcp as usize;
                if let (true, Some((_, signal))) = (by_exception, signal::exception(exception)) {
                    killed_by.insert(id, signal);
                }
                Ok(())
            }
            Stop::Exited => {
                let reaped = match child_pid {
                    Some(pid) if id == main => spawn::wait_exit(pid),
                    Some(_) | None => ExitStatus::Unknown,
                };
                let status = killed_by.remove(&id).map_or(reaped, ExitStatus::Signal);
                if id == main {
                    exit_code = match status {
                        ExitStatus::Code(code) => code,
                        ExitStatus::Signal(sig) => 128_i32.saturating_add(sig),
                        ExitStatus::Unknown => 0,
                    };
                }
                printer.exited(id, status, now)
            }
            _ => Ok(()),
        };
        io.map_err(|e| e.to_string())?;
        if stop.is_stop() {
            match tracer.restart(id, Restart::Syscall) {
                Ok(()) => {}
                // Gone in the meantime: the next wait() reports its exit.
                Err(e) if e.is_tracee_died() => {}
                Err(e) => return Err(e.to_string()),
            }
        }
    }
    printer.finish().map_err(|e| e.to_string())?;
    Ok(exit_code)
}

/// Spawns the command (held at its gate until syscall stops are armed) or attaches to `-p`.
fn start(
    opts: &Options,
    source: &mut dyn ContextSource,
    tracer: &mut Tracer,
) -> Result<(TraceeId, Option<usize>), String> {
    let target = match opts.pid {
        Some(pid) => spawn::Target::Pid(pid),
        None => spawn::Target::Command(&opts.command),
    };
    spawn::start_traced(tracer, source, target, Restart::Syscall)
        .map_err(|e| format!("{target}: {e}"))
}

fn memory(tracer: &mut Tracer, id: TraceeId) -> &dyn redox_ptrace::mem::TraceeMemory {
    match tracer.tracee_mut(id) {
        Some(tracee) => tracee.memory(),
        None => &redox_ptrace::mem::NoMemory,
    }
}
