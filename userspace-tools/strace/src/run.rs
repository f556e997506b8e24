//! Drives the tracer: spawn (or attach), arm syscall stops, print every stop, report the exit.

use std::{
    collections::BTreeMap,
    io::Write,
    time::{Instant, SystemTime, UNIX_EPOCH},
};

use syscall::flag::ContextStatus;

use redox_ptrace::{
    decode::signal,
    follow::{self, Birth},
    spawn::{self, ContextSource, ExitStatus},
    Restart, Stop, StopSet, SyscallFilter, TraceeId, Tracer,
};

use crate::{
    args::Options,
    printer::{Moment, Printer, Who},
};

const FOLLOW_ATTACHED: &str = "-f with -p: the process's first thread is traced, and the forks \
     and threads started from now on; threads already running are not";

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
    // death as a plain exit. The exception flag also arms signal-delivery stops, shown as
    // `--- SIGNAME {...} ---`; the restart below delivers the signal unchanged.
    // With -f, every fork and thread (procmgr makes them, the tracee starts them) is traced
    // from its first instruction and announced by a clone stop of the tracee that started it.
    let follow = match opts.follow_forks {
        true => StopSet::CLONE,
        false => StopSet::NONE,
    };
    tracer.set_always(StopSet::ADDRSPACE_SWITCH | StopSet::EXCEPTION | StopSet::EXIT | follow);
    // -e trace=: the kernel stops only the chosen calls; the others cost the tracee no stop
    // and us no wakeup. (The printer still checks each call it is shown.) A process that is
    // not our child tells its exit code only in its procmgr call (SYS_CALL), so with -f or -p
    // that call stops too, unprinted.
    if let Some(chosen) = &opts.filter {
        let mut numbers = chosen.clone();
        if opts.follow_forks || opts.pid.is_some() {
            numbers.push(follow::EXIT_CALL);
        }
        let filter = SyscallFilter::only(&numbers)
            .map_err(|e| format!("-e trace=: {e} (too many system calls)"))?;
        tracer
            .set_syscall_filter(filter)
            .map_err(|e| e.to_string())?;
    }

    let (main, child_pid) = start(opts, source.as_mut(), &mut tracer)?;
    if opts.follow_forks && opts.pid.is_some() {
        printer.note(FOLLOW_ATTACHED).map_err(|e| e.to_string())?;
    }
    printer.add_tracee(main, Who::First { pid: main.pid }, child_pid.is_some());
    let mut exit_code = 0;
    let mut killed_by = BTreeMap::new();
    // What each followed process asked procmgr to exit with (it is not our child to wait for).
    let mut exit_requests = BTreeMap::new();
    // Threads seen per process, to number the next one.
    let mut threads: BTreeMap<usize, usize> = BTreeMap::new();

    while let Some((id, stop)) = tracer.wait().map_err(|e| e.to_string())? {
        let now = clock.now();
        let io = match stop {
            Stop::SyscallEntry { number, args } => {
                let mem = memory(&mut tracer, id);
                if let Some(status) = follow::exit_request(number, args, mem) {
                    exit_requests.insert(id, status);
                }
                printer.syscall_entry(id, number, args, now, mem);
                Ok(())
            }
            Stop::Clone { number, pid } => {
                let clone = tracer
                    .adopt_clone(id, number, pid)
                    .map_err(|e| e.to_string())?;
                let who = match Birth::of(pid, id.pid) {
                    Birth::Process { pid } => Who::Process { pid },
                    Birth::Thread { pid } => {
                        let seen = threads.entry(pid).or_insert(0);
                        *seen = seen.saturating_add(1);
                        Who::Thread { pid, number: *seen }
                    }
                    Birth::Context => Who::Context { index: clone.index },
                };
                printer.add_tracee(clone, who, false);
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
            Stop::Signal {
                signal,
                to_thread,
                pid,
                uid,
            } => printer.signal(id, signal, to_thread, (pid, uid), now),
            Stop::Exiting { status, exception } => {
                let by_exception = status == ContextStatus::UnhandledExcp as usize;
                if let (true, Some((_, signal))) = (by_exception, signal::exception(exception)) {
                    killed_by.insert(id, signal);
                }
                Ok(())
            }
            Stop::Exited => {
                let requested = exit_requests.remove(&id).unwrap_or(ExitStatus::Unknown);
                let reaped = match child_pid {
                    Some(pid) if id == main => spawn::wait_exit(pid),
                    Some(_) | None => requested,
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
