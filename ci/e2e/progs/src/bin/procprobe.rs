//! `procprobe SCENARIO ...`: asks procmgr for what a tracer or an attacker would, and prints
//! one line per answer (`ok` or the errno's name), for the suite's procmgr-policy tests.
//!
//! - `selfroot`: the root exploit. Run as root, drops to uid and gid 1000 (real, effective and
//!   saved), dups `auth-N-attrs` on its own thread handle for every `N` procmgr may hold its
//!   authority at, makes itself euid 0 through a handle it gets, then opens its parent's
//!   `thread-0`.
//! - `open PID`: opens `/scheme/proc/PID/thread-0`.
//! - `self`: opens its own `thread-0` and dups `trace` through it, then dups `trace` on its own
//!   thread handle (the one relibc keeps).
//! - `sibling`: a second thread dups `open_via_dup` (the kernel's context handle) and `""`
//!   (another fd for the same handle) on its own thread handle; the first thread dups `trace`
//!   on each.
//! - `drop-then-trace PID UID`: opens `PID`'s `thread-0`, drops to uid and gid `UID`, then dups
//!   `trace` through the handle it opened before.
//! - `run-as UID PROGRAM ARGS...`: drops to uid and gid `UID` (all three of each; std's
//!   `Command::uid` keeps the saved uid) and execs `PROGRAM`.

use std::{
    fs::File,
    os::{fd::AsRawFd, unix::process::CommandExt},
    process::{Command, ExitCode},
    sync::mpsc,
    thread,
};

use libredox::{call, error::Error};
use syscall::{ProcSchemeAttrs, UPPER_FDTBL_TAG};

unsafe extern "C" {
    /// relibc: this thread's handle from procmgr.
    fn redox_cur_thrfd_v0() -> usize;
}

/// How many slots of each of procmgr's fd tables `selfroot` tries.
const SLOTS: usize = 64;

/// The user `selfroot` runs as.
const USER: u32 = 1000;

/// Sets the real, effective and saved uid and gid to `id`.
fn drop_to(id: u32) -> bool {
    // SAFETY: plain calls; the group first, while still allowed to.
    unsafe { libc::setresgid(id, id, id) == 0 && libc::setresuid(id, id, id) == 0 }
}

/// [`drop_to`], printing whether it could.
fn print_drop_to(id: u32) -> bool {
    let dropped = drop_to(id);
    println!(
        "dropped to uid {id}: {}",
        if dropped { "ok" } else { "failed" }
    );
    dropped
}

fn errno_name(errno: i32) -> String {
    match errno {
        libc::EPERM => "EPERM".into(),
        libc::ENOENT => "ENOENT".into(),
        libc::ESRCH => "ESRCH".into(),
        libc::EBADF => "EBADF".into(),
        libc::EACCES => "EACCES".into(),
        libc::EBUSY => "EBUSY".into(),
        libc::EINVAL => "EINVAL".into(),
        other => format!("errno {other}"),
    }
}

fn answer<T>(result: &Result<T, Error>) -> String {
    match result {
        Ok(_) => "ok".into(),
        Err(e) => errno_name(e.errno()),
    }
}

fn thread_path(pid: u32) -> String {
    format!("/scheme/proc/{pid}/thread-0")
}

/// Opens `pid`'s `thread-0`, printing the answer.
fn open_thread(pid: u32) -> Option<File> {
    let path = thread_path(pid);
    match File::open(&path) {
        Ok(file) => {
            println!("open {path}: ok");
            Some(file)
        }
        Err(e) => {
            println!("open {path}: {}", errno_name(e.raw_os_error().unwrap_or(0)));
            None
        }
    }
}

/// `dup(fd, "trace")`, printing the answer; a session it gets is closed at once (a detach).
fn trace_through(what: &str, fd: usize) {
    let session = call::dup(fd, b"trace");
    println!("trace through {what}: {}", answer(&session));
    if let Ok(session) = session {
        let _ = call::close(session);
    }
}

fn selfroot() {
    if !print_drop_to(USER) {
        return;
    }
    // SAFETY: relibc sets the thread handle up before main.
    let thread = unsafe { redox_cur_thrfd_v0() };
    let slots = (0..SLOTS).chain((0..SLOTS).map(|n| n | UPPER_FDTBL_TAG));
    let mut errors: Vec<String> = Vec::new();
    let mut attrs = None;
    for n in slots {
        match call::dup(thread, format!("auth-{n}-attrs")) {
            Ok(fd) => {
                attrs = Some((n, fd));
                break;
            }
            Err(e) => {
                let name = errno_name(e.errno());
                if !errors.contains(&name) {
                    errors.push(name);
                }
            }
        }
    }
    match attrs {
        None => println!("auth-N-attrs: {} for every N", errors.join(", ")),
        Some((n, fd)) => {
            let slot = if n & UPPER_FDTBL_TAG != 0 {
                format!("UPPER|{}", n & !UPPER_FDTBL_TAG)
            } else {
                n.to_string()
            };
            println!("auth-N-attrs: an attrs handle for N = {slot}");
            let mut own = ProcSchemeAttrs::default();
            let written = call::read(fd, &mut own).and_then(|_| {
                own.euid = 0;
                own.egid = 0;
                call::write(fd, &own)
            });
            println!("euid 0 written: {}", answer(&written));
        }
    }
    // SAFETY: a plain getter.
    let parent = u32::try_from(unsafe { libc::getppid() }).unwrap_or(0);
    open_thread(parent);
}

fn own_thread() {
    if let Some(file) = open_thread(std::process::id()) {
        let fd = usize::try_from(file.as_raw_fd()).unwrap_or(usize::MAX);
        trace_through("own thread-0", fd);
    }
    // SAFETY: relibc sets the thread handle up before main.
    trace_through("own thread handle", unsafe { redox_cur_thrfd_v0() });
}

fn sibling_thread() {
    let (handles_tx, handles_rx) = mpsc::channel();
    let (done_tx, done_rx) = mpsc::channel::<()>();
    let sibling = thread::spawn(move || {
        // SAFETY: relibc sets each thread's handle up before the thread runs.
        let own = unsafe { redox_cur_thrfd_v0() };
        let _ = handles_tx.send((call::dup(own, b"open_via_dup"), call::dup(own, b"")));
        // Alive until the first thread has tried.
        let _ = done_rx.recv();
    });
    if let Ok((kernel, procmgr)) = handles_rx.recv() {
        println!(
            "open_via_dup on a second thread's own handle: {}",
            answer(&kernel)
        );
        for (what, handle) in [
            ("a sibling's kernel context handle", kernel),
            ("a sibling's thread handle", procmgr),
        ] {
            if let Ok(fd) = handle {
                trace_through(what, fd);
                let _ = call::close(fd);
            }
        }
    }
    let _ = done_tx.send(());
    let _ = sibling.join();
}

fn drop_then_trace(pid: u32, uid: u32) {
    let Some(file) = open_thread(pid) else {
        return;
    };
    if !print_drop_to(uid) {
        return;
    }
    let fd = usize::try_from(file.as_raw_fd()).unwrap_or(usize::MAX);
    trace_through("the handle opened before", fd);
}

fn run_as(uid: u32, program: &str, args: &[String]) -> ExitCode {
    if !drop_to(uid) {
        eprintln!("procprobe: cannot drop to uid {uid}");
        return ExitCode::FAILURE;
    }
    let e = Command::new(program).args(args).exec();
    eprintln!("procprobe: cannot exec {program}: {e}");
    ExitCode::FAILURE
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let number = |i: usize| args.get(i).and_then(|a| a.parse::<u32>().ok());
    match (args.first().map(String::as_str), number(1), number(2)) {
        (Some("selfroot"), _, _) => selfroot(),
        (Some("open"), Some(pid), _) => {
            open_thread(pid);
        }
        (Some("self"), _, _) => own_thread(),
        (Some("sibling"), _, _) => sibling_thread(),
        (Some("drop-then-trace"), Some(pid), Some(uid)) => drop_then_trace(pid, uid),
        (Some("run-as"), Some(uid), _) if args.len() > 2 => {
            return run_as(uid, &args[2], args.get(3..).unwrap_or_default());
        }
        _ => {
            eprintln!(
                "usage: procprobe selfroot | open PID | self | sibling | drop-then-trace PID UID \
                 | run-as UID PROGRAM ARGS..."
            );
            return ExitCode::from(2);
        }
    }
    ExitCode::SUCCESS
}
