//! Turns stops into strace's lines (or, with `-c`, into the summary table).
//!
//! Lines are written when a call returns, with the inputs captured at its entry stop. Calls a
//! spawned tracee makes before its first exec (the tracer's handoff and relibc's program
//! loader) are not shown: the trace starts where the traced program does.

use std::{
    collections::BTreeMap,
    fs::File,
    io::{BufWriter, Write},
    time::Duration,
};

use redox_ptrace::{
    decode::{
        signal::{exception, siginfo, signal_label, signal_name},
        DecodeOptions, FinishedCall, PendingCall,
    },
    mem::TraceeMemory,
    spawn::ExitStatus,
    stats::SyscallStats,
    Signal, SignalSet, TraceeId,
};

use crate::args::{Options, Timestamps};

/// When something happened: a monotonic clock for durations, the wall clock for `-t`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Moment {
    pub mono: Duration,
    pub wall: Duration,
}

struct InFlight {
    call: PendingCall,
    entered: Duration,
}

/// Who a tracee is, for the `[pid N]` prefixes of `-f` and the files of `-ff`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// The command strace started, or the process of `-p`: its lines have no prefix.
    First { pid: Option<usize> },
    /// A process the traced ones forked (its first thread): `[pid N] `.
    Process { pid: usize },
    /// A thread started by process `pid`, the `number`th strace saw it start (its first
    /// thread is 0): `[pid N thread K] `. Redox threads have no ids of their own.
    Thread { pid: usize, number: usize },
    /// A context without a procmgr pid, by the tracer's number: `[tracee N] `.
    Context { index: usize },
}

impl Who {
    /// The process whose file (`-ff`) the lines go to.
    fn pid(self) -> Option<usize> {
        match self {
            Self::First { pid } => pid,
            Self::Process { pid } | Self::Thread { pid, .. } => Some(pid),
            Self::Context { .. } => None,
        }
    }

    /// The prefix in the one trace of `-f`.
    fn prefix(self) -> String {
        match self {
            Self::First { .. } => String::new(),
            Self::Process { pid } => format!("[pid {pid}] "),
            Self::Thread { pid, number } => format!("[pid {pid} thread {number}] "),
            Self::Context { index } => format!("[tracee {index}] "),
        }
    }

    /// The prefix in its process's own file (`-ff`): only other threads are marked.
    fn file_prefix(self) -> String {
        match self {
            Self::Thread { number, .. } => format!("[thread {number}] "),
            Self::First { .. } | Self::Process { .. } | Self::Context { .. } => String::new(),
        }
    }
}

/// `-ff -o PREFIX`: one file `PREFIX.PID` per process, created at its first line.
struct Split {
    prefix: String,
    files: BTreeMap<usize, BufWriter<File>>,
}

impl Split {
    fn file(&mut self, pid: usize) -> std::io::Result<&mut BufWriter<File>> {
        if !self.files.contains_key(&pid) {
            let path = format!("{}.{pid}", self.prefix);
            let file = File::create(&path)
                .map_err(|e| std::io::Error::new(e.kind(), format!("{path}: {e}")))?;
            self.files.insert(pid, BufWriter::new(file));
        }
        self.files
            .get_mut(&pid)
            .ok_or_else(|| std::io::Error::other("lost a -ff file"))
    }
}

struct TraceeView {
    who: Who,
    /// False until the tracee's first exec when we spawned it.
    shown: bool,
    in_flight: Option<InFlight>,
    /// The number of the call the tracee is in, shown or not.
    in_call: Option<usize>,
    /// The call that replaced the address space: its exit belongs to the old program.
    exec_call: Option<usize>,
}

pub struct Printer<W: Write> {
    out: W,
    timestamps: Timestamps,
    syscall_times: bool,
    summary: bool,
    prefix_pids: bool,
    split: Option<Split>,
    filter: Option<Vec<usize>>,
    signals: SignalSet,
    decode: DecodeOptions,
    tracees: BTreeMap<TraceeId, TraceeView>,
    stats: SyscallStats,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, opts: &Options) -> Self {
        Self {
            out,
            timestamps: opts.timestamps,
            syscall_times: opts.syscall_times,
            summary: opts.summary,
            prefix_pids: opts.follow_forks,
            split: match (&opts.output, opts.separate_files) {
                (Some(prefix), true) => Some(Split {
                    prefix: prefix.clone(),
                    files: BTreeMap::new(),
                }),
                _ => None,
            },
            filter: opts.filter.clone(),
            signals: opts.signals,
            decode: DecodeOptions {
                string_limit: opts.string_limit,
            },
            tracees: BTreeMap::new(),
            stats: SyscallStats::new(),
        }
    }

    /// A new tracee. `spawned`: hide its calls until its first exec.
    pub fn add_tracee(&mut self, id: TraceeId, who: Who, spawned: bool) {
        let view = TraceeView {
            who,
            shown: !spawned,
            in_flight: None,
            in_call: None,
            exec_call: None,
        };
        self.tracees.insert(id, view);
    }

    fn wanted(&self, number: usize) -> bool {
        self.filter
            .as_ref()
            .is_none_or(|list| list.contains(&number))
    }

    pub fn syscall_entry(
        &mut self,
        id: TraceeId,
        number: usize,
        args: [usize; 6],
        now: Moment,
        mem: &dyn TraceeMemory,
    ) {
        let wanted = self.wanted(number);
        let decode = self.decode;
        let Some(view) = self.tracees.get_mut(&id) else {
            return;
        };
        view.in_call = Some(number);
        view.in_flight = (view.shown && wanted).then(|| InFlight {
            call: PendingCall::enter(number, args, mem, &decode),
            entered: now.mono,
        });
    }

    pub fn syscall_exit(
        &mut self,
        id: TraceeId,
        number: usize,
        ret: usize,
        now: Moment,
        mem: &dyn TraceeMemory,
    ) -> std::io::Result<()> {
        let wanted = self.wanted(number);
        let decode = self.decode;
        let Some(view) = self.tracees.get_mut(&id) else {
            return Ok(());
        };
        view.in_call = None;
        if view.exec_call.take() == Some(number) {
            return Ok(());
        }
        if !view.shown || !wanted {
            view.in_flight = None;
            return Ok(());
        }
        let (finished, took) = match view.in_flight.take() {
            Some(flight) if flight.call.number == number => {
                let took = now.mono.saturating_sub(flight.entered);
                (flight.call.finish(ret, mem, &decode), Some(took))
            }
            Some(_) | None => (FinishedCall::resumed(number, ret), None),
        };
        if self.summary {
            let nanos = took.map_or(0, |t| u64::try_from(t.as_nanos()).unwrap_or(u64::MAX));
            self.stats.record(number, nanos, finished.errno().is_some());
            return Ok(());
        }
        let mut line = finished.to_string();
        if let (true, Some(took)) = (self.syscall_times, took) {
            line.push_str(&format!(
                " <{}.{:06}>",
                took.as_secs(),
                took.subsec_micros()
            ));
        }
        self.line(id, now, &line)
    }

    /// The tracee's address space was replaced (exec).
    pub fn exec(&mut self, id: TraceeId, now: Moment) -> std::io::Result<()> {
        let Some(view) = self.tracees.get_mut(&id) else {
            return Ok(());
        };
        view.shown = true;
        view.in_flight = None;
        view.exec_call = view.in_call;
        if self.summary {
            return Ok(());
        }
        self.line(id, now, "--- exec: address space replaced ---")
    }

    /// The tracee stopped at a CPU exception, before it is handled.
    pub fn exception(
        &mut self,
        id: TraceeId,
        vector: usize,
        code: usize,
        address: usize,
        now: Moment,
    ) -> std::io::Result<()> {
        let signal = exception(vector).and_then(|(name, sig)| {
            let signal = Signal::new(usize::try_from(sig).ok()?)?;
            Some((name, signal))
        });
        if self.summary || signal.is_some_and(|(_, signal)| !self.signals.contains(signal)) {
            return Ok(());
        }
        let text = match signal {
            Some((name, signal)) => format!(
                "--- {} ({name} at {address:#x}, error {code:#x}) ---",
                signal_label(signal)
            ),
            None => format!("--- exception {vector} at {address:#x}, error {code:#x} ---"),
        };
        self.line(id, now, &text)
    }

    /// A signal-delivery stop: `signal` is about to reach the tracee's handler or default
    /// action, sent to the thread or to its process by `pid` and `uid`.
    pub fn signal(
        &mut self,
        id: TraceeId,
        signal: Signal,
        to_thread: bool,
        sender: (usize, usize),
        now: Moment,
    ) -> std::io::Result<()> {
        if self.summary || !self.signals.contains(signal) {
            return Ok(());
        }
        let (pid, uid) = sender;
        let text = format!(
            "--- {} {} ---",
            signal_label(signal),
            siginfo(signal, to_thread, pid, uid)
        );
        self.line(id, now, &text)
    }

    /// The tracee is gone; `status` is how it ended: the signal of the exception that killed
    /// it, else its procmgr wait status (from `waitpid` when it was our child, from its `Exit`
    /// call when it was followed or attached), else unknown.
    pub fn exited(&mut self, id: TraceeId, status: ExitStatus, now: Moment) -> std::io::Result<()> {
        let Some(view) = self.tracees.remove(&id) else {
            return Ok(());
        };
        if self.summary {
            return Ok(());
        }
        if let Some(flight) = view.in_flight {
            let line = flight.call.unfinished().to_string();
            self.line_as(view.who, now, &line)?;
        }
        let text = match status {
            ExitStatus::Code(code) => format!("+++ exited with {code} +++"),
            ExitStatus::Signal(sig) => match signal_name(sig) {
                Some(name) => format!("+++ killed by {name} +++"),
                None => format!("+++ killed by signal {sig} +++"),
            },
            ExitStatus::Unknown => "+++ exited +++".to_string(),
        };
        self.line_as(view.who, now, &text)
    }

    /// A message from strace itself, in the trace (`strace: ...`).
    pub fn note(&mut self, text: &str) -> std::io::Result<()> {
        self.out.write_all(format!("strace: {text}\n").as_bytes())
    }

    /// Prints the `-c` table (if asked for) and flushes.
    pub fn finish(mut self) -> std::io::Result<W> {
        if self.summary {
            write!(self.out, "{}", self.stats)?;
        }
        if let Some(split) = &mut self.split {
            for file in split.files.values_mut() {
                file.flush()?;
            }
        }
        self.out.flush()?;
        Ok(self.out)
    }

    /// Writes one line with a single write, so that lines from several writers (a traced
    /// program's own stderr, a traced strace) never split each other.
    fn line(&mut self, id: TraceeId, now: Moment, text: &str) -> std::io::Result<()> {
        let who = match self.tracees.get(&id) {
            Some(view) => view.who,
            None => Who::First { pid: id.pid },
        };
        self.line_as(who, now, text)
    }

    /// [`Printer::line`] for a tracee that may be gone from the table (its exit).
    fn line_as(&mut self, who: Who, now: Moment, text: &str) -> std::io::Result<()> {
        let mut line = Vec::with_capacity(text.len() + 32);
        let file = match (&mut self.split, who.pid()) {
            (Some(split), Some(pid)) => {
                line.extend_from_slice(who.file_prefix().as_bytes());
                Some(split.file(pid)?)
            }
            (Some(_), None) | (None, _) => {
                if self.prefix_pids {
                    line.extend_from_slice(who.prefix().as_bytes());
                }
                None
            }
        };
        write_timestamp(&mut line, self.timestamps, now.wall)?;
        writeln!(line, "{text}")?;
        match file {
            Some(file) => file.write_all(&line),
            None => self.out.write_all(&line),
        }
    }
}

/// `-t`: `HH:MM:SS `; `-tt`: `HH:MM:SS.uuuuuu `; `-ttt`: `SECONDS.uuuuuu `. Times of day are UTC
/// (Redox has no time zone database for a tracer to consult).
fn write_timestamp(out: &mut dyn Write, style: Timestamps, wall: Duration) -> std::io::Result<()> {
    let secs = wall.as_secs();
    let (h, m, s) = (secs / 3600 % 24, secs / 60 % 60, secs % 60);
    match style {
        Timestamps::None => Ok(()),
        Timestamps::Seconds => write!(out, "{h:02}:{m:02}:{s:02} "),
        Timestamps::Micros => write!(out, "{h:02}:{m:02}:{s:02}.{:06} ", wall.subsec_micros()),
        Timestamps::Epoch => write!(out, "{secs}.{:06} ", wall.subsec_micros()),
    }
}

#[cfg(test)]
mod tests {
    use redox_ptrace::mem::{FakeMemory, NoMemory};
    use syscall::{error::EBADF, number::*};

    use super::*;

    const ID: TraceeId = TraceeId {
        index: 0,
        pid: Some(7),
    };

    fn at(micros: u64) -> Moment {
        Moment {
            mono: Duration::from_micros(micros),
            wall: Duration::from_secs(3600 * 13 + 60 * 5 + 9) + Duration::from_micros(micros),
        }
    }

    fn printer(opts: &Options) -> Printer<Vec<u8>> {
        let mut p = Printer::new(Vec::new(), opts);
        p.add_tracee(ID, Who::First { pid: ID.pid }, false);
        p
    }

    fn text(p: Printer<Vec<u8>>) -> String {
        String::from_utf8(p.finish().expect("Vec")).expect("UTF-8")
    }

    fn write_call(p: &mut Printer<Vec<u8>>, start: u64, end: u64) {
        let mem = FakeMemory::new().with(0x1000, b"hi\n");
        p.syscall_entry(ID, SYS_WRITE, [1, 0x1000, 3, 0, 0, 0], at(start), &mem);
        p.syscall_exit(ID, SYS_WRITE, 3, at(end), &mem)
            .expect("Vec");
    }

    /// Verifies a plain line, and -T's time in angle brackets.
    #[test]
    fn lines_and_syscall_times() {
        let mut p = printer(&Options {
            syscall_times: true,
            ..Options::default()
        });
        write_call(&mut p, 10, 135);
        assert_eq!(text(p), "write(1, \"hi\\n\", 3) = 3 <0.000125>\n");
    }

    const CHILD: TraceeId = TraceeId {
        index: 1,
        pid: Some(8),
    };
    const THREAD: TraceeId = TraceeId {
        index: 2,
        pid: Some(8),
    };

    fn follow_printer(opts: &Options) -> Printer<Vec<u8>> {
        let mut p = printer(opts);
        p.add_tracee(CHILD, Who::Process { pid: 8 }, false);
        p.add_tracee(THREAD, Who::Thread { pid: 8, number: 1 }, false);
        p
    }

    fn write_as(p: &mut Printer<Vec<u8>>, id: TraceeId, at_micros: u64) {
        p.syscall_entry(id, SYS_YIELD, [0; 6], at(at_micros), &NoMemory);
        p.syscall_exit(id, SYS_YIELD, 0, at(at_micros), &NoMemory)
            .expect("Vec");
    }

    /// Verifies -tt timestamps and -f's prefixes: none for the first process, `[pid N]` for a
    /// followed process, `[pid N thread K]` for a thread, also on exit lines.
    #[test]
    fn timestamps_and_pid_prefix() {
        let opts = Options {
            timestamps: Timestamps::Micros,
            follow_forks: true,
            ..Options::default()
        };
        let mut p = follow_printer(&opts);
        write_call(&mut p, 42, 50);
        write_as(&mut p, CHILD, 60);
        write_as(&mut p, THREAD, 70);
        p.exited(THREAD, ExitStatus::Unknown, at(80)).expect("Vec");
        p.exited(CHILD, ExitStatus::Code(4), at(90)).expect("Vec");
        assert_eq!(
            text(p),
            "13:05:09.000050 write(1, \"hi\\n\", 3) = 3\n\
             [pid 8] 13:05:09.000060 yield() = 0\n\
             [pid 8 thread 1] 13:05:09.000070 yield() = 0\n\
             [pid 8 thread 1] 13:05:09.000080 +++ exited +++\n\
             [pid 8] 13:05:09.000090 +++ exited with 4 +++\n"
        );
    }

    /// Verifies -ff -o: one file per process, its threads marked, nothing in the main output.
    #[test]
    fn separate_files_per_process() {
        let dir = std::env::temp_dir().join(format!("strace-ff-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let prefix = dir.join("trace").to_string_lossy().into_owned();
        let opts = Options {
            follow_forks: true,
            separate_files: true,
            output: Some(prefix.clone()),
            ..Options::default()
        };
        let mut p = follow_printer(&opts);
        write_call(&mut p, 0, 1);
        write_as(&mut p, CHILD, 2);
        write_as(&mut p, THREAD, 3);
        p.exited(CHILD, ExitStatus::Code(4), at(4)).expect("Vec");
        p.exited(ID, ExitStatus::Code(0), at(5)).expect("Vec");
        assert_eq!(text(p), "");
        let read = |pid: u32| std::fs::read_to_string(format!("{prefix}.{pid}")).expect("file");
        assert_eq!(
            read(7),
            "write(1, \"hi\\n\", 3) = 3\n+++ exited with 0 +++\n"
        );
        assert_eq!(
            read(8),
            "yield() = 0\n[thread 1] yield() = 0\n+++ exited with 4 +++\n"
        );
        std::fs::remove_dir_all(&dir).expect("clean up");
    }

    /// Verifies that -e trace= hides other calls, and -c prints only the table.
    #[test]
    fn filter_and_summary() {
        let mut p = printer(&Options {
            filter: Some(vec![SYS_CLOSE]),
            ..Options::default()
        });
        write_call(&mut p, 0, 1);
        p.syscall_entry(ID, SYS_CLOSE, [9, 0, 0, 0, 0, 0], at(2), &NoMemory);
        p.syscall_exit(
            ID,
            SYS_CLOSE,
            (-(EBADF as isize)) as usize,
            at(3),
            &NoMemory,
        )
        .expect("Vec");
        assert_eq!(text(p), "close(9) = -1 EBADF (Bad file number)\n");

        let mut p = printer(&Options {
            summary: true,
            ..Options::default()
        });
        write_call(&mut p, 0, 100);
        let out = text(p);
        assert!(out.starts_with("% time"), "{out}");
        assert!(
            out.contains("100.00    0.000100         100         1           write\n"),
            "{out}"
        );
    }

    /// Verifies that a spawned tracee is silent until its exec, and that exits are reported
    /// with the call the tracee died in.
    #[test]
    fn spawned_tracee_starts_at_exec() {
        let mut p = Printer::new(Vec::new(), &Options::default());
        p.add_tracee(ID, Who::First { pid: ID.pid }, true);
        write_call(&mut p, 0, 1);
        p.exec(ID, at(2)).expect("Vec");
        p.syscall_entry(ID, SYS_YIELD, [0; 6], at(3), &NoMemory);
        p.exited(ID, ExitStatus::Code(3), at(4)).expect("Vec");
        assert_eq!(
            text(p),
            "--- exec: address space replaced ---\nyield() = ?\n+++ exited with 3 +++\n"
        );
    }

    /// Verifies that a tracee killed by a signal is reported with the signal's name.
    #[test]
    fn killed_tracee_names_the_signal() {
        let mut p = printer(&Options::default());
        p.exited(ID, ExitStatus::Signal(11), at(0)).expect("Vec");
        assert_eq!(text(p), "+++ killed by SIGSEGV +++\n");
    }

    /// Verifies that the call that replaced the address space (the notice comes while the
    /// tracee is inside it) leaves no `resumed` line after the exec line.
    #[test]
    fn exec_call_exit_is_not_shown() {
        let mut p = Printer::new(Vec::new(), &Options::default());
        p.add_tracee(ID, Who::First { pid: ID.pid }, true);
        p.syscall_entry(ID, SYS_CLOSE, [5, 0, 0, 0, 0, 0], at(0), &NoMemory);
        p.exec(ID, at(1)).expect("Vec");
        p.syscall_exit(ID, SYS_CLOSE, 0, at(2), &NoMemory)
            .expect("Vec");
        write_call(&mut p, 3, 4);
        assert_eq!(
            text(p),
            "--- exec: address space replaced ---\nwrite(1, \"hi\\n\", 3) = 3\n"
        );
    }

    /// Verifies the line for an exception stop: the signal it stands for, its name, address
    /// and error code.
    #[test]
    fn exception_line() {
        let mut p = printer(&Options::default());
        p.exception(ID, 14, 6, 8, at(0)).expect("Vec");
        assert_eq!(text(p), "--- SIGSEGV (page fault at 0x8, error 0x6) ---\n");
    }

    /// Verifies the signal line, and that `-e signal=` hides signals outside the set, the
    /// exception lines of their signal included.
    #[test]
    fn signal_lines_follow_the_set() {
        let usr1 = Signal::new(10).expect("SIGUSR1");
        let mut p = printer(&Options::default());
        p.signal(ID, usr1, false, (7, 0), at(0)).expect("Vec");
        assert_eq!(
            text(p),
            "--- SIGUSR1 {si_signo=SIGUSR1, si_code=SI_USER, si_pid=7, si_uid=0} ---\n"
        );
        let segv = Signal::new(11).expect("SIGSEGV");
        let mut p = printer(&Options {
            signals: SignalSet::EMPTY.with(segv),
            ..Options::default()
        });
        p.signal(ID, usr1, true, (7, 0), at(0)).expect("Vec");
        p.exception(ID, 14, 6, 8, at(0)).expect("Vec");
        p.exception(ID, 6, 0, 0, at(0)).expect("Vec");
        assert_eq!(text(p), "--- SIGSEGV (page fault at 0x8, error 0x6) ---\n");
    }

    /// Verifies that an exit without its entry prints as resumed.
    #[test]
    fn exit_without_entry_is_resumed() {
        let mut p = printer(&Options::default());
        p.syscall_exit(ID, SYS_READ, 1, at(0), &NoMemory)
            .expect("Vec");
        assert_eq!(text(p), "<... read resumed>) = 1\n");
    }
}
