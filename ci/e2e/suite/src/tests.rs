//! The tests, in the order they run. One scenario each; the programs they trace are in
//! `ci/e2e/progs`. Expected lines are what this relibc makes those programs do.

use std::{
    io::{BufRead, BufReader, Read},
    os::unix::process::CommandExt,
    process::{Child, ChildStdout, Command, Stdio},
};

use crate::{
    check::{
        by_tracee, ends_with, equal, has_block, in_order, lines, run, run_command,
        upper_slots_hidden, Run,
    },
    tracer::{
        exclusive_close_at_fork_kills_forker_and_child,
        exclusive_close_of_clone_at_fork_reports_child_killed,
    },
};

pub struct Test {
    pub name: &'static str,
    pub run: fn() -> Result<(), String>,
}

macro_rules! tests {
    ($($name:ident),* $(,)?) => {
        pub const ALL: &[Test] = &[$(Test { name: stringify!($name), run: $name }),*];
    };
}

tests![
    strace_decodes_file_calls,
    strace_shows_errors_by_name,
    strace_filter_shows_only_chosen_calls,
    strace_refuses_unknown_syscall_name,
    strace_shows_exec_once,
    strace_exits_with_tracee_code,
    strace_reports_fault,
    strace_shows_handled_signal,
    strace_shows_sigchld,
    strace_reports_death_by_signal,
    strace_hides_signals_outside_set,
    strace_shows_signal_that_interrupts_a_read,
    strace_shows_raised_signal,
    strace_writes_trace_to_file,
    strace_summary_adds_up,
    strace_times_each_call,
    regs_stops_at_chosen_syscall,
    strace_traces_threaded_program,
    strace_traces_forking_parent,
    strace_follows_fork_exec_tree,
    strace_follows_threads,
    strace_writes_file_per_process,
    strace_traces_strace,
    strace_attaches_by_pid,
    regs_attaches_and_detaches,
    strace_refuses_other_user,
    strace_reports_unknown_pid,
    procmgr_refuses_auth_names_of_clients,
    procmgr_rechecks_handle_at_each_dup,
    strace_refuses_init,
    strace_refuses_procmgr,
    procmgr_refuses_trace_of_own_process,
    kernel_refuses_trace_of_sibling_thread,
    strace_refuses_process_that_dropped_uid,
    strace_attaches_as_user_after_exec,
    exclusive_close_of_clone_at_fork_reports_child_killed,
    exclusive_close_at_fork_kills_forker_and_child,
];

const FILE_CALLS: &str = "trace=openat_into,read,write,close";

fn scratch_dir() -> Result<String, String> {
    std::env::var("TMPDIR").map_err(|_| "TMPDIR is not set (init sets it)".to_owned())
}

/// `name` in the image's scratch directory, which init runs the suite in and names in `TMPDIR`
/// (the build's `IMAGE_TMPDIR`). Also returns the path relibc opens it by, relative to the
/// `file` scheme's root.
pub(crate) fn scratch(name: &str) -> Result<(String, String), String> {
    let path = format!("{}/{name}", scratch_dir()?.trim_end_matches('/'));
    let in_scheme = path.trim_start_matches('/').to_owned();
    Ok((path, in_scheme))
}

/// open, write, close, open, read, close of a file in ramfs: paths and flags decoded, buffers
/// shown as the program passed them.
fn strace_decodes_file_calls() -> Result<(), String> {
    let (path, rel) = scratch("e2e-decode.txt")?;
    let r = run(&["strace", "-e", FILE_CALLS, "files", &path])?;
    equal("exit code", r.code()?, 0)?;
    // relibc opens `/scheme/file/...` in two steps: the scheme's root from its namespace
    // handle (O_DIRECTORY), then the path relative to that root.
    let root =
        format!(r#"openat_into(UPPER|_, "{path}", O_CLOEXEC|O_DIRECTORY, 0, UPPER|_) = UPPER|_"#);
    has_block(
        "trace",
        &upper_slots_hidden(&r.stderr),
        &[
            r#"write(1, "hello from files\n", 17) = 17"#,
            &root,
            &format!(
                r#"openat_into(UPPER|_, "{rel}", O_WRONLY|O_CLOEXEC|O_CREAT|O_TRUNC|0644, 0, 3) = 3"#
            ),
            "close(UPPER|_) = 0",
            r#"write(3, "tracing works\n", 14) = 14"#,
            "close(3) = 0",
            &root,
            &format!(r#"openat_into(UPPER|_, "{rel}", O_RDONLY|O_CLOEXEC, 0, 3) = 3"#),
            "close(UPPER|_) = 0",
            r#"read(3, "tracing works\n", 14) = 14"#,
            r#"read(3, "", 32) = 0"#,
            "close(3) = 0",
        ],
    )
}

/// A failing call prints `-1 ENAME (text)`, and the program still gets its error.
fn strace_shows_errors_by_name() -> Result<(), String> {
    let (path, rel) = scratch("e2e-errors.txt")?;
    let r = run(&["strace", "-e", FILE_CALLS, "files", &path])?;
    has_block(
        "trace",
        &upper_slots_hidden(&r.stderr),
        &[
            &format!(
                r#"openat_into(UPPER|_, "{rel}.missing", O_RDONLY|O_CLOEXEC, 0, 3) = -1 ENOENT (No such file or directory)"#
            ),
            "close(UPPER|_) = 0",
            r#"write(1, "missing: entity not found\n", 26) = 26"#,
        ],
    )?;
    has_block("stdout", &r.stdout, &["missing: entity not found"])
}

/// `-e trace=openat_into,close` goes to the kernel's syscall filter: the trace is exactly
/// those calls of the program, between its exec line and its exit line.
fn strace_filter_shows_only_chosen_calls() -> Result<(), String> {
    let (path, rel) = scratch("e2e-filter.txt")?;
    let r = run(&["strace", "-e", "trace=openat_into,close", "files", &path])?;
    equal("exit code", r.code()?, 0)?;
    let root = |path: &str| {
        format!(r#"openat_into(UPPER|_, "{path}", O_CLOEXEC|O_DIRECTORY, 0, UPPER|_) = UPPER|_"#)
    };
    lines(
        "trace",
        &upper_slots_hidden(&r.stderr),
        &[
            "--- exec: address space replaced ---",
            // relibc's start-up.
            "close(UPPER|_) = 0",
            "close(UPPER|_) = 0",
            "close(UPPER|_) = 0",
            &root(&path),
            &format!(
                r#"openat_into(UPPER|_, "{rel}", O_WRONLY|O_CLOEXEC|O_CREAT|O_TRUNC|0644, 0, 3) = 3"#
            ),
            "close(UPPER|_) = 0",
            "close(3) = 0",
            &root(&path),
            &format!(r#"openat_into(UPPER|_, "{rel}", O_RDONLY|O_CLOEXEC, 0, 3) = 3"#),
            "close(UPPER|_) = 0",
            "close(3) = 0",
            &root(&format!("{path}.missing")),
            &format!(
                r#"openat_into(UPPER|_, "{rel}.missing", O_RDONLY|O_CLOEXEC, 0, 3) = -1 ENOENT (No such file or directory)"#
            ),
            "close(UPPER|_) = 0",
            "+++ exited with 0 +++",
        ],
    )?;
    lines(
        "stdout",
        &r.stdout,
        &[
            "hello from files",
            "read back: tracing works",
            "missing: entity not found",
        ],
    )
}

/// A name strace does not know is an error naming it, before anything runs.
fn strace_refuses_unknown_syscall_name() -> Result<(), String> {
    let r = run(&["strace", "-e", "trace=close,bogus", "exitcode", "3"])?;
    equal("exit code", r.code()?, 2)?;
    equal("stdout", r.stdout.as_str(), "")?;
    equal(
        "first line",
        r.stderr.lines().next(),
        Some("strace: invalid system call 'bogus'"),
    )
}

/// The trace starts at the exec of the program: one exec line first, and the call that
/// replaced the address space leaves no `<... resumed>` line behind.
fn strace_shows_exec_once() -> Result<(), String> {
    let r = run(&["strace", "exitcode", "0"])?;
    let trace: Vec<&str> = r.stderr.lines().collect();
    equal(
        "first line",
        trace.first().copied(),
        Some("--- exec: address space replaced ---"),
    )?;
    equal(
        "exec lines",
        trace.iter().filter(|l| l.starts_with("--- exec")).count(),
        1,
    )?;
    match trace.iter().find(|l| l.contains("resumed>")) {
        Some(line) => Err(format!("a resumed line: {line}")),
        None => Ok(()),
    }
}

/// The traced program's exit code becomes strace's, and the trace ends with it.
fn strace_exits_with_tracee_code() -> Result<(), String> {
    let r = run(&["strace", "exitcode", "42"])?;
    equal("exit code", r.code()?, 42)?;
    equal("stdout", r.stdout.as_str(), "exiting with 42\n")?;
    ends_with("trace", &r.stderr, &["+++ exited with 42 +++"])
}

/// A program killed by a page fault: the exception stop names it, the exit says which signal
/// it stands for, and strace exits with 128 + that signal (as a shell reports it).
fn strace_reports_fault() -> Result<(), String> {
    let r = run(&["strace", "-e", "trace=write", "fault"])?;
    equal("stdout", r.stdout.as_str(), "about to fault\n")?;
    ends_with(
        "trace",
        &r.stderr,
        &[
            "--- SIGSEGV (page fault at 0x8, error 0x6) ---",
            "+++ killed by SIGSEGV +++",
        ],
    )?;
    equal("exit code", r.code()?, 128 + 11)
}

/// The sender pid a `signals` run printed (`signals: NAME from PID`).
fn signal_sender(stdout: &str, name: &str) -> Result<String, String> {
    let prefix = format!("signals: {name} from ");
    stdout
        .lines()
        .find_map(|line| line.strip_prefix(prefix.as_str()))
        .map(str::to_string)
        .ok_or_else(|| format!("stdout has no '{prefix}PID' line: {stdout:?}"))
}

/// The one signal line of `trace` (`--- ... ---` but the exec notice), which must exist.
fn only_signal_line(trace: &str) -> Result<&str, String> {
    let found: Vec<&str> = trace
        .lines()
        .filter(|l| l.starts_with("--- ") && !l.starts_with("--- exec"))
        .collect();
    match found.as_slice() {
        [line] => Ok(line),
        _ => Err(format!(
            "expected one signal line, got {found:?}\ntrace:\n{trace}"
        )),
    }
}

/// Runs `strace -e trace=CALLS signals MODE`, which must exit 0 having taken signal `name`;
/// checks that the trace's one signal line is strace's for it, sent with `code` by the sender
/// the handler saw (uid 0). Returns the run and that line.
fn traced_signal(calls: &str, mode: &str, name: &str, code: &str) -> Result<(Run, String), String> {
    let r = run(&["strace", "-e", calls, "signals", mode])?;
    equal("exit code", r.code()?, 0)?;
    let sender = signal_sender(&r.stdout, name)?;
    let want =
        format!("--- {name} {{si_signo={name}, si_code={code}, si_pid={sender}, si_uid=0}} ---");
    equal("signal line", only_signal_line(&r.stderr)?, want.as_str())?;
    Ok((r, want))
}

/// A SIGUSR1 sent by another process reaches the traced program's `SA_SIGINFO` handler while
/// it runs user code: strace shows it as Linux does, with the sender the handler saw, before
/// the program's next call.
fn strace_shows_handled_signal() -> Result<(), String> {
    let (r, line) = traced_signal("trace=write", "usr1", "SIGUSR1", "SI_USER")?;
    in_order(
        &r.stderr,
        |l| l == line,
        |l| l.starts_with(r#"write(1, "signals: SIGUSR1 from "#),
        "the signal line before the program's write",
    )
}

/// procmgr's SIGCHLD at a child's exit reaches the parent's handler, and strace shows it with
/// the sender the handler saw.
fn strace_shows_sigchld() -> Result<(), String> {
    traced_signal("trace=write", "chld", "SIGCHLD", "SI_USER").map(drop)
}

/// A SIGTERM without a handler ends the program: strace shows the signal, then the death by
/// it, and exits with 128 + 15 as a shell would report it.
fn strace_reports_death_by_signal() -> Result<(), String> {
    let r = run(&["strace", "-e", "trace=write", "signals", "term"])?;
    equal("stdout", r.stdout.as_str(), "")?;
    let line = only_signal_line(&r.stderr)?;
    if !line.starts_with("--- SIGTERM {si_signo=SIGTERM, si_code=SI_USER, si_pid=") {
        return Err(format!("not a SIGTERM line: {line}"));
    }
    ends_with("trace", &r.stderr, &[line, "+++ killed by SIGTERM +++"])?;
    equal("exit code", r.code()?, 128 + 15)
}

/// `-e signal=none` hides the signal line; the program still gets the signal.
fn strace_hides_signals_outside_set() -> Result<(), String> {
    let r = run(&[
        "strace",
        "-e",
        "signal=none",
        "-e",
        "trace=write",
        "signals",
        "usr1",
    ])?;
    equal("exit code", r.code()?, 0)?;
    signal_sender(&r.stdout, "SIGUSR1")?;
    match r.stderr.lines().find(|l| l.starts_with("--- SIG")) {
        Some(line) => Err(format!("a signal line despite signal=none: {line}")),
        None => Ok(()),
    }
}

/// A SIGALRM sent while the program blocks in a pipe read: the read returns EINTR and redox-rt
/// enters the handler by itself (no kernel redirect); strace shows the signal after the
/// interrupted read, with the sender the handler saw.
fn strace_shows_signal_that_interrupts_a_read() -> Result<(), String> {
    let (r, line) = traced_signal("trace=read", "read", "SIGALRM", "SI_USER")?;
    if !r.stdout.lines().any(|l| l == "signals: read: EINTR") {
        return Err(format!("the read did not end with EINTR: {:?}", r.stdout));
    }
    in_order(
        &r.stderr,
        |l| l.starts_with("read(") && l.contains("= -1 EINTR"),
        |l| l == line,
        "the read's EINTR line before the signal line",
    )
}

/// A signal the program sends itself (`raise`: procmgr answers the kill, and redox-rt enters
/// the handler by itself): strace shows it as sent to the thread, by the program itself.
fn strace_shows_raised_signal() -> Result<(), String> {
    traced_signal("trace=write", "raise", "SIGUSR1", "SI_TKILL").map(drop)
}

/// `-o FILE` puts the whole trace into a file in ramfs and nothing on stderr.
fn strace_writes_trace_to_file() -> Result<(), String> {
    let (path, _) = scratch("e2e-trace.txt")?;
    let path = path.as_str();
    let r = run(&["strace", "-o", path, "exitcode", "1"])?;
    equal("exit code", r.code()?, 1)?;
    equal("stderr", r.stderr.as_str(), "")?;
    let trace = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    has_block(path, &trace, &[r#"write(1, "exiting with 1\n", 15) = 15"#])?;
    ends_with(path, &trace, &["+++ exited with 1 +++"])
}

/// `-c` prints only the table; its rows add up to its total line.
fn strace_summary_adds_up() -> Result<(), String> {
    let r = run(&["strace", "-c", "exitcode", "0"])?;
    equal("stdout", r.stdout.as_str(), "exiting with 0\n")?;
    let table: Vec<&str> = r.stderr.lines().collect();
    equal(
        "header",
        table.first().copied(),
        Some("% time     seconds  usecs/call     calls    errors syscall"),
    )?;
    // Rows: `% time, seconds, usecs/call, calls, [errors,] name`; the total has no usecs.
    let numbers = |line: &str| -> Vec<u64> {
        line.split_whitespace()
            .filter_map(|w| w.parse::<u64>().ok())
            .collect()
    };
    let rows: Vec<&str> = table
        .iter()
        .skip(2)
        .take_while(|l| !l.starts_with("------"))
        .copied()
        .collect();
    let total = table.last().copied().unwrap_or("");
    let (mut calls, mut errors) = (0, 0);
    for row in &rows {
        // usecs/call, calls, and errors when the row has any.
        match numbers(row).as_slice() {
            [_, c] => calls += c,
            [_, c, e] => (calls, errors) = (calls + c, errors + e),
            other => return Err(format!("row {row:?}: numbers {other:?}")),
        }
    }
    let want = match numbers(total).as_slice() {
        [c] => (*c, 0),
        [c, e] => (*c, *e),
        other => return Err(format!("total {total:?}: numbers {other:?}")),
    };
    equal("rows' calls and errors vs total", (calls, errors), want)?;
    // relibc's startup writes twice (its TLS base and signal handler), then the program once.
    match rows.iter().find(|r| r.ends_with(" write")) {
        Some(row) => equal("write calls", numbers(row).get(1).copied(), Some(3)),
        None => Err(format!("no write row in\n{}", r.stderr)),
    }
}

/// `-T` appends each call's duration as `<seconds.micros>`.
fn strace_times_each_call() -> Result<(), String> {
    let r = run(&["strace", "-T", "-e", "trace=write", "exitcode", "5"])?;
    equal("exit code", r.code()?, 5)?;
    let calls: Vec<&str> = r
        .stderr
        .lines()
        .filter(|l| l.starts_with("write("))
        .collect();
    equal("traced writes", calls.len(), 3)?;
    for line in &calls {
        let timed = line
            .rsplit_once(" <")
            .and_then(|(_, t)| t.strip_suffix('>'))
            .and_then(|t| t.split_once('.'))
            .is_some_and(|(s, us)| {
                s.parse::<u64>().is_ok() && us.len() == 6 && us.parse::<u32>().is_ok()
            });
        if !timed {
            return Err(format!("no <s.uuuuuu> duration: {line}"));
        }
    }
    let last = calls.last().copied().unwrap_or("");
    match last.strip_prefix(r#"write(1, "exiting with 5\n", 15) = 15 <"#) {
        Some(_) => Ok(()),
        None => Err(format!("last write: {last}")),
    }
}

/// `regs --syscall write` stops the program at its first write after exec and prints its
/// registers like gdb: rax holds the call number, rdi the handle (relibc's first write goes to
/// one of its upper handles, bit 62), cs/ss are the user selectors. The program then runs on.
fn regs_stops_at_chosen_syscall() -> Result<(), String> {
    let r = run(&["regs", "--syscall", "write", "exitcode", "2"])?;
    equal("exit code", r.code()?, 2)?;
    equal(
        "stdout's last line",
        r.stdout.lines().last(),
        Some("exiting with 2"),
    )?;
    let out: Vec<&str> = r.stdout.lines().collect();
    let first = out.first().copied().unwrap_or("");
    if !(first.starts_with("pid ") && first.ends_with(": stopped at entry of write (0x21000004)")) {
        return Err(format!("first line: {first}"));
    }
    for want in [
        "rax            0x21000004         553648132",
        "cs             0x2b               43",
        "ss             0x23               35",
    ] {
        has_block("registers", &r.stdout, &[want])?;
    }
    match out.iter().find(|l| l.starts_with("rdi ")) {
        Some(rdi) if rdi.contains(" 0x400000000000000") => Ok(()),
        other => Err(format!("rdi is no upper handle: {other:?}")),
    }
}

/// A program with three threads runs to completion under strace; without `-f` only the main
/// thread's calls, thread creation included, are traced.
fn strace_traces_threaded_program() -> Result<(), String> {
    let r = run(&["strace", "-e", "trace=write", "threads"])?;
    equal("exit code", r.code()?, 0)?;
    let mut out: Vec<&str> = r.stdout.lines().collect();
    out.sort_unstable();
    equal(
        "stdout (sorted)",
        out,
        vec!["joined, sum 3", "thread 0", "thread 1", "thread 2"],
    )?;
    ends_with(
        "trace",
        &r.stderr,
        &[
            r#"write(1, "joined, sum 3\n", 14) = 14"#,
            "+++ exited with 0 +++",
        ],
    )
}

/// A program that forks and execs a child: without `-f` the parent is traced to its end and
/// reaps the child's status, and the child runs untraced.
fn strace_traces_forking_parent() -> Result<(), String> {
    let r = run(&["strace", "-e", "trace=write", "forkexec"])?;
    equal("exit code", r.code()?, 0)?;
    lines(
        "stdout",
        &r.stdout,
        &["exiting with 7", "child: exit status: 7"],
    )?;
    ends_with(
        "trace",
        &r.stderr,
        &[
            r#"write(1, "child: exit status: 7\n", 22) = 22"#,
            "+++ exited with 0 +++",
        ],
    )?;
    match r.stderr.lines().find(|l| l.contains("exiting with 7")) {
        Some(line) => Err(format!("the child's write was traced: {line}")),
        None => Ok(()),
    }
}

/// The lines of tracee `label` (`""`: the first process) in `tracees`.
fn lines_of<'a>(tracees: &'a [(String, Vec<String>)], label: &str) -> Result<&'a [String], String> {
    tracees
        .iter()
        .find(|(l, _)| l == label)
        .map(|(_, lines)| lines.as_slice())
        .ok_or_else(|| format!("no lines of {label:?}"))
}

/// `lines` (one tracee's, prefixes removed) has exactly one exec line and ends with `want`.
fn tracee_ends_with(what: &str, lines: &[String], want: &[&str]) -> Result<(), String> {
    let execs = lines
        .iter()
        .filter(|l| *l == "--- exec: address space replaced ---")
        .count();
    equal(&format!("{what}: exec lines"), execs, 1)?;
    ends_with(what, &lines.join("\n"), want)
}

/// How each of `forktree`'s three processes (first, middle, last) ends under `strace -f`: its
/// last write and its exit.
const FORKTREE_ENDS: [[&str; 2]; 3] = [
    [
        r#"write(1, "first: exit status: 4\n", 22) = 22"#,
        "+++ exited with 5 +++",
    ],
    [
        r#"write(1, "middle: exit status: 3\n", 23) = 23"#,
        "+++ exited with 4 +++",
    ],
    [
        r#"write(1, "exiting with 3\n", 15) = 15"#,
        "+++ exited with 3 +++",
    ],
];

/// `strace -f` of three processes in a line, each made by fork + exec (`forktree`, which runs
/// `forktree middle`, which runs `exitcode 3`): every process is followed from its fork
/// through its exec to its exit, its lines prefixed with its pid (none for the first), each
/// exit reported with its own code, and strace exits with the first process's code.
fn strace_follows_fork_exec_tree() -> Result<(), String> {
    let r = run(&["strace", "-f", "-e", "trace=write", "forktree"])?;
    equal("exit code", r.code()?, 5)?;
    lines(
        "stdout",
        &r.stdout,
        &[
            "exiting with 3",
            "middle: exit status: 3",
            "first: exit status: 4",
        ],
    )?;
    let tracees = by_tracee(&r.stderr);
    let labels: Vec<&str> = tracees.iter().map(|(l, _)| l.as_str()).collect();
    let [first, middle, last] = labels.as_slice() else {
        return Err(format!("tracees {labels:?}, expected three:\n{}", r.stderr));
    };
    equal("first process's label", *first, "")?;
    let pid = |label: &str| {
        label
            .strip_prefix("pid ")
            .and_then(|p| p.parse::<u32>().ok())
    };
    match (pid(middle), pid(last)) {
        (Some(m), Some(l)) if m != l => {}
        other => return Err(format!("tracee labels {labels:?}: pids {other:?}")),
    }
    for ((what, label), want) in [("first", first), ("middle", middle), ("last", last)]
        .into_iter()
        .zip(&FORKTREE_ENDS)
    {
        tracee_ends_with(&format!("{what} process"), lines_of(&tracees, label)?, want)?;
    }
    Ok(())
}

/// `strace -f` of a program with three threads: each thread is followed from its first
/// instruction, its lines prefixed `[pid N thread K]` in the order the threads started, and
/// each thread's exit is reported before the process's.
fn strace_follows_threads() -> Result<(), String> {
    let r = run(&["strace", "-f", "-e", "trace=write", "threads"])?;
    equal("exit code", r.code()?, 0)?;
    let tracees = by_tracee(&r.stderr);
    let labels: Vec<&str> = tracees.iter().map(|(l, _)| l.as_str()).collect();
    let pid = labels
        .get(1)
        .and_then(|l| l.strip_prefix("pid "))
        .and_then(|l| l.split_once(' '))
        .map(|(pid, _)| pid)
        .ok_or_else(|| format!("no thread lines:\n{}", r.stderr))?;
    let threads: Vec<String> = (1..=3).map(|k| format!("pid {pid} thread {k}")).collect();
    let mut want = vec![""];
    want.extend(threads.iter().map(String::as_str));
    equal("tracees", labels, want)?;
    for (n, thread) in threads.iter().enumerate() {
        let ours = lines_of(&tracees, thread)?;
        let line = format!(r#"write(1, "thread {n}\n", 9) = 9"#);
        if !ours.contains(&line) {
            return Err(format!("{thread} lacks {line}:\n{}", ours.join("\n")));
        }
        equal(
            &format!("{thread}'s last line"),
            ours.last().map(String::as_str),
            Some("+++ exited +++"),
        )?;
    }
    ends_with(
        "first process",
        &lines_of(&tracees, "")?.join("\n"),
        &[
            r#"write(1, "joined, sum 3\n", 14) = 14"#,
            "+++ exited with 0 +++",
        ],
    )
}

/// `strace -ff -o PREFIX`: one file `PREFIX.PID` per process with that process's lines and
/// exit, unprefixed, and nothing on stderr.
fn strace_writes_file_per_process() -> Result<(), String> {
    let name = "e2e-ff";
    let (prefix, _) = scratch(name)?;
    let dir = scratch_dir()?;
    let r = run(&[
        "strace",
        "-ff",
        "-o",
        &prefix,
        "-e",
        "trace=write",
        "forktree",
    ])?;
    equal("exit code", r.code()?, 5)?;
    equal("stderr", r.stderr.as_str(), "")?;
    let mut files: Vec<(u32, String)> = Vec::new();
    for entry in std::fs::read_dir(&dir).map_err(|e| format!("{dir}: {e}"))? {
        let entry = entry.map_err(|e| format!("{dir}: {e}"))?;
        let file = entry.file_name().to_string_lossy().into_owned();
        let Some(pid) = file.strip_prefix(&format!("{name}.")) else {
            continue;
        };
        let pid = pid.parse().map_err(|_| format!("not a pid: {file}"))?;
        let path = entry.path();
        let text = std::fs::read_to_string(&path).map_err(|e| format!("{file}: {e}"))?;
        files.push((pid, text));
    }
    files.sort_unstable();
    // Pids grow: the first process's file comes first.
    let [(_, first), (_, middle), (_, last)] = files.as_slice() else {
        let pids: Vec<u32> = files.iter().map(|(pid, _)| *pid).collect();
        return Err(format!("files for pids {pids:?}, expected three"));
    };
    for ((what, text), want) in [("first", first), ("middle", middle), ("last", last)]
        .into_iter()
        .zip(&FORKTREE_ENDS)
    {
        let text_lines: Vec<String> = text.lines().map(str::to_string).collect();
        tracee_ends_with(&format!("{what} process's file"), &text_lines, want)?;
        if let Some(line) = text.lines().find(|l| l.starts_with('[')) {
            return Err(format!("{what} process's file has a prefixed line: {line}"));
        }
    }
    Ok(())
}

/// strace under strace: the inner one traces its program, the outer one sees the inner one
/// write each of its lines with one write, and the exit code passes through both.
fn strace_traces_strace() -> Result<(), String> {
    let r = run(&[
        "strace",
        "-e",
        "trace=write",
        "strace",
        "-e",
        "trace=write",
        "exitcode",
        "3",
    ])?;
    equal("exit code", r.code()?, 3)?;
    equal("stdout", r.stdout.as_str(), "exiting with 3\n")?;
    has_block(
        "outer trace",
        &r.stderr,
        &[r#"write(2, "+++ exited with 3 +++\n", 22) = 22"#],
    )?;
    ends_with("outer trace", &r.stderr, &["+++ exited with 3 +++"])
}

/// Ticks of a ticker a tracer attaches to: two seconds, so that it still runs when the tracer,
/// started after it, looks it up by pid (on 4 CPUs under TCG too, where a short ticker ends
/// first and the lookup gives ESRCH).
const ATTACH_TICKS: u32 = 100;

/// `ticker COUNT`, started and seen running (its first line read): the process to attach to.
fn start_ticker(count: u32) -> Result<(Child, BufReader<ChildStdout>), String> {
    let mut ticker = Command::new("ticker");
    ticker.arg(count.to_string());
    spawn_ticker(ticker)
}

/// `ticker`, as `command` says, started and seen running (its first line read).
fn spawn_ticker(mut command: Command) -> Result<(Child, BufReader<ChildStdout>), String> {
    let mut child = command
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot start ticker: {e}"))?;
    let mut out = BufReader::new(child.stdout.take().ok_or("ticker has no stdout")?);
    let mut first = String::new();
    out.read_line(&mut first)
        .map_err(|e| format!("ticker's first line: {e}"))?;
    equal("ticker's first line", first.as_str(), "tick 0\n")?;
    Ok((child, out))
}

/// Waits for the ticker: it must have run to its end, every tick there.
fn ticker_finished(
    mut child: Child,
    mut out: BufReader<ChildStdout>,
    count: u32,
) -> Result<(), String> {
    let mut rest = String::new();
    out.read_to_string(&mut rest)
        .map_err(|e| format!("ticker's output: {e}"))?;
    let status = child
        .wait()
        .map_err(|e| format!("waiting for ticker: {e}"))?;
    equal("ticker's exit", status.code(), Some(0))?;
    let want: Vec<String> = (1..count).map(|i| format!("tick {i}")).collect();
    equal(
        "ticker's other lines",
        rest.lines().collect::<Vec<_>>(),
        want.iter().map(String::as_str).collect(),
    )
}

/// `strace -p PID` attaches to a running process: its calls from then on, then its exit.
fn strace_attaches_by_pid() -> Result<(), String> {
    let count = ATTACH_TICKS;
    let (ticker, out) = start_ticker(count)?;
    let pid = ticker.id().to_string();
    let r = run(&["strace", "-e", "trace=write", "-p", &pid])?;
    equal("strace's exit code", r.code()?, 0)?;
    ticker_finished(ticker, out, count)?;
    let trace: Vec<&str> = r.stderr.lines().collect();
    let (last, writes) = trace.split_last().ok_or("no trace")?;
    // Not strace's child: the code is the one the process passed procmgr's Exit call.
    equal("last line", *last, "+++ exited with 0 +++")?;
    // Attached after tick 0: the writes are the last ticks, consecutive, to the end.
    let first = count - u32::try_from(writes.len()).map_err(|e| e.to_string())?;
    if writes.len() < 3 || first < 1 {
        return Err(format!("{} writes traced:\n{}", writes.len(), r.stderr));
    }
    let want: Vec<String> = (first..count)
        .map(|i| {
            format!(
                r#"write(1, "tick {i}\n", {}) = {0}"#,
                format!("tick {i}\n").len()
            )
        })
        .collect();
    lines(
        "trace",
        &writes.join("\n"),
        &want.iter().map(String::as_str).collect::<Vec<_>>(),
    )
}

/// `regs -p PID` stops a running process at its next write, prints its registers and
/// detaches: the process runs on to its normal end.
fn regs_attaches_and_detaches() -> Result<(), String> {
    let count = ATTACH_TICKS;
    let (ticker, out) = start_ticker(count)?;
    let pid = ticker.id().to_string();
    let r = run(&["regs", "--syscall", "write", "-p", &pid])?;
    equal("regs' exit code", r.code()?, 0)?;
    equal(
        "first line",
        r.stdout.lines().next(),
        Some(format!("pid {pid}: stopped at entry of write (0x21000004)").as_str()),
    )?;
    has_block(
        "registers",
        &r.stdout,
        &["rdi            0x1                1"],
    )?;
    ticker_finished(ticker, out, count)
}

/// A tracer of another uid is refused by procmgr, with the error named.
fn strace_refuses_other_user() -> Result<(), String> {
    let count = ATTACH_TICKS;
    let (ticker, out) = start_ticker(count)?;
    let pid = ticker.id().to_string();
    let mut strace = Command::new("strace");
    strace.args(["-p", &pid]).uid(1000).gid(1000);
    let r = run_command(strace)?;
    equal("exit code", r.code()?, 1)?;
    lines(
        "stderr",
        &r.stderr,
        &[format!(
            "strace: pid {pid}: by_pid (open /scheme/proc/PID/thread-0): EACCES (Permission denied)"
        )
        .as_str()],
    )?;
    ticker_finished(ticker, out, count)
}

/// A pid no process has: a clear error, not a hang.
fn strace_reports_unknown_pid() -> Result<(), String> {
    let r = run(&["strace", "-p", "9999"])?;
    equal("exit code", r.code()?, 1)?;
    lines(
        "stderr",
        &r.stderr,
        &["strace: pid 9999: by_pid (open /scheme/proc/PID/thread-0): ESRCH (No such process)"],
    )
}

/// Runs `procprobe ARGS` (as root) to its end: its pid and what it printed.
fn procprobe(args: &[&str]) -> Result<(u32, String), String> {
    let child = Command::new("procprobe")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .map_err(|e| format!("cannot run procprobe: {e}"))?;
    let pid = child.id();
    let out = child
        .wait_with_output()
        .map_err(|e| format!("waiting for procprobe: {e}"))?;
    equal("procprobe's exit", out.status.code(), Some(0))?;
    Ok((pid, String::from_utf8_lossy(&out.stdout).into_owned()))
}

/// A user's process cannot make itself root through procmgr: a dup of `auth-N-attrs` on its
/// own thread handle, which procmgr would forward and the kernel resolve in procmgr's file
/// table, is refused for every `N`, and its parent's (root's) thread stays closed to it.
fn procmgr_refuses_auth_names_of_clients() -> Result<(), String> {
    // The probe drops to uid 1000 itself: a saved uid 0 (Command::uid) could go back to root.
    let (_, out) = procprobe(&["selfroot"])?;
    let parent = format!("open /scheme/proc/{}/thread-0: EACCES", std::process::id());
    lines(
        "procprobe selfroot",
        &out,
        &[
            "dropped to uid 1000: ok",
            "auth-N-attrs: EACCES for every N",
            &parent,
        ],
    )
}

/// procmgr checks a tracer's thread handle again at each dup through it: one opened while
/// allowed gives no session once its holder dropped to another uid.
fn procmgr_rechecks_handle_at_each_dup() -> Result<(), String> {
    let count = ATTACH_TICKS;
    let (ticker, ticks) = start_ticker(count)?;
    let pid = ticker.id().to_string();
    let (_, out) = procprobe(&["drop-then-trace", &pid, "1000"])?;
    lines(
        "procprobe drop-then-trace",
        &out,
        &[
            format!("open /scheme/proc/{pid}/thread-0: ok").as_str(),
            "dropped to uid 1000: ok",
            "trace through the handle opened before: EACCES",
        ],
    )?;
    ticker_finished(ticker, ticks, count)
}

/// strace's line for a refused `strace -p PID`.
fn by_pid_refused(pid: &str, error: &str) -> String {
    format!("strace: pid {pid}: by_pid (open /scheme/proc/PID/thread-0): {error}")
}

/// `strace -p PID` as `uid` (and gid `uid`) exits with 1 and prints only `error`.
fn strace_p_refused(pid: &str, uid: Option<u32>, error: &str) -> Result<(), String> {
    let mut strace = Command::new("strace");
    strace.args(["-p", pid]);
    if let Some(uid) = uid {
        strace.uid(uid).gid(uid);
    }
    let r = run_command(strace)?;
    equal("exit code", r.code()?, 1)?;
    lines("stderr", &r.stderr, &[by_pid_refused(pid, error).as_str()])
}

const EPERM: &str = "EPERM (Operation not permitted)";

/// init is nobody's to trace, not even root's: its thread is refused with EPERM.
fn strace_refuses_init() -> Result<(), String> {
    // The probe first: before the rule, `strace -p 1` would trace init to the end.
    let (_, out) = procprobe(&["open", "1"])?;
    lines(
        "procprobe open 1",
        &out,
        &["open /scheme/proc/1/thread-0: EPERM"],
    )?;
    strace_p_refused("1", None, EPERM)
}

/// procmgr (and the other bootstrap daemons: their contexts' pid is 0) is nobody's to trace.
fn strace_refuses_procmgr() -> Result<(), String> {
    strace_p_refused("0", None, EPERM)
}

/// A process gets no session on itself through procmgr, neither by its pid nor through its
/// own thread handle (its first stop would put its only tracer to sleep).
fn procmgr_refuses_trace_of_own_process() -> Result<(), String> {
    let (pid, out) = procprobe(&["self"])?;
    lines(
        "procprobe self",
        &out,
        &[
            format!("open /scheme/proc/{pid}/thread-0: EPERM").as_str(),
            "trace through own thread handle: EPERM",
        ],
    )
}

/// A thread gets no session on a sibling thread of its process, not even through the
/// kernel context handle the sibling has from `open_via_dup` (Linux refuses a tracer in the
/// tracee's thread group).
fn kernel_refuses_trace_of_sibling_thread() -> Result<(), String> {
    let (_, out) = procprobe(&["sibling"])?;
    lines(
        "procprobe sibling",
        &out,
        &[
            "open_via_dup on a second thread's own handle: ok",
            "trace through a sibling's kernel context handle: EPERM",
            "trace through a sibling's thread handle: EPERM",
        ],
    )
}

const EACCES: &str = "EACCES (Permission denied)";

/// A process that dropped from root to a user's uid (and may still hold root's handles) is
/// not that user's to trace until it execs.
fn strace_refuses_process_that_dropped_uid() -> Result<(), String> {
    let count = ATTACH_TICKS;
    let mut ticker = Command::new("ticker");
    ticker.args([count.to_string().as_str(), "1000"]);
    let (ticker, out) = spawn_ticker(ticker)?;
    let pid = ticker.id().to_string();
    strace_p_refused(&pid, Some(1000), EACCES)?;
    ticker_finished(ticker, out, count)
}

/// A process that dropped to a user's uids and gids and then execed is that user's to trace.
fn strace_attaches_as_user_after_exec() -> Result<(), String> {
    let count = ATTACH_TICKS;
    // All three uids: std's Command::uid leaves the saved uid 0, which no user may trace.
    let mut ticker = Command::new("procprobe");
    ticker.args(["run-as", "1000", "ticker", count.to_string().as_str()]);
    let (ticker, out) = spawn_ticker(ticker)?;
    let pid = ticker.id().to_string();
    let mut strace = Command::new("strace");
    strace
        .args(["-e", "trace=write", "-p", &pid])
        .uid(1000)
        .gid(1000);
    let r = run_command(strace)?;
    ticker_finished(ticker, out, count)?;
    ends_with("trace", &r.stderr, &["+++ exited with 0 +++"])?;
    equal("strace's exit code", r.code()?, 0)
}
