//! The image's init (bootstrap execs `/scheme/initfs/bin/init` once procmgr, the init namespace
//! and the initfs scheme run):
//!
//! 1. starts base's `randd` (`/scheme/rand`, which std's `HashMap` seeds from) and `ramfs` as
//!    the `file` scheme, so that plain paths work, and makes the scratch directory named in
//!    `/scheme/initfs/etc/tmpdir` (the build's `IMAGE_TMPDIR`);
//! 2. runs each line of `/scheme/initfs/etc/commands` (words split on spaces; `#` starts a
//!    comment; `$TMPDIR` stands for the scratch directory, which the commands also get in
//!    `TMPDIR`), echoing it as `$ LINE` with `$TMPDIR` replaced and printing `[exit N]` when it
//!    fails;
//! 3. powers the machine off.
//!
//! The programs' output goes to the debug scheme, that is QEMU's serial port.

use std::{
    io,
    os::fd::{AsRawFd, RawFd},
    os::unix::process::CommandExt,
    process::Command,
};

use syscall::CallFlags;

const BIN: &str = "/scheme/initfs/bin";
const COMMANDS: &str = "/scheme/initfs/etc/commands";
const TMPDIR: &str = "/scheme/initfs/etc/tmpdir";

fn main() {
    for (program, scheme, args) in [("randd", "rand", &[][..]), ("ramfs", "file", &["file"][..])] {
        if let Err(e) = start_scheme(program, scheme, args) {
            eprintln!("init: {program}: {e}");
        }
    }
    // The commands' scratch directory (the file scheme is the root filesystem's).
    let tmpdir = match std::fs::read_to_string(TMPDIR) {
        Ok(dir) => dir.trim().to_owned(),
        Err(e) => {
            eprintln!("init: {TMPDIR}: {e}");
            String::from("/")
        }
    };
    if let Err(e) = std::fs::create_dir_all(&tmpdir) {
        eprintln!("init: {tmpdir}: {e}");
    }
    match std::fs::read_to_string(COMMANDS) {
        Ok(list) => list.lines().for_each(|line| run_line(line, &tmpdir)),
        Err(e) => eprintln!("init: {COMMANDS}: {e}"),
    }
    power_off();
}

/// Starts a base scheme daemon and registers the scheme it hands back in our namespace.
///
/// base's daemons find a pipe in `INIT_NOTIFY` and send their scheme's root capability
/// through it when they are ready.
fn start_scheme(program: &str, scheme: &str, args: &[&str]) -> io::Result<()> {
    let (read, write) = io::pipe()?;
    let notify: RawFd = write.as_raw_fd();
    let mut command = Command::new(format!("{BIN}/{program}"));
    command.args(args).env("INIT_NOTIFY", notify.to_string());
    // SAFETY: fcntl on an inherited descriptor is async-signal-safe.
    unsafe {
        command.pre_exec(move || {
            // Let the pipe's write end survive the exec.
            if libc::fcntl(notify, libc::F_SETFD, 0) == -1 {
                return Err(io::Error::last_os_error());
            }
            Ok(())
        });
    }
    command.spawn()?;
    drop(write);

    let mut cap = usize::MAX.to_ne_bytes();
    let read_fd = usize::try_from(read.as_raw_fd()).map_err(io::Error::other)?;
    let received =
        libredox::call::call_ro(read_fd, &mut cap, CallFlags::FD | CallFlags::FD_UPPER, &[])
            .map_err(|e| io::Error::from_raw_os_error(e.errno()))?;
    drop(read);
    match received {
        1 => {}
        0 => return Err(io::Error::other("exited without handing over its scheme")),
        n => return Err(io::Error::other(format!("handed over {n} handles, not 1"))),
    }
    let ns = libredox::call::getns().map_err(|e| io::Error::from_raw_os_error(e.errno()))?;
    libredox::call::register_scheme_to_ns(ns, scheme, usize::from_ne_bytes(cap))
        .map_err(|e| io::Error::from_raw_os_error(e.errno()))
}

fn run_line(line: &str, tmpdir: &str) {
    let line = line.split('#').next().unwrap_or("").trim();
    // Relative paths do not work here: ramfs refuses an open relative to a directory handle.
    let line = line.replace("$TMPDIR", tmpdir);
    let mut words = line.split_whitespace();
    let Some(program) = words.next() else {
        return;
    };
    println!("$ {line}");
    let status = Command::new(program)
        .args(words)
        .env("PATH", BIN)
        .env("TMPDIR", tmpdir)
        .status();
    match status {
        Ok(status) if status.success() => {}
        Ok(status) => println!("[{status}]"),
        Err(e) => println!("[{program}: {e}]"),
    }
}

/// Powers the machine off through the kernel's `sys:kstop`.
fn power_off() -> ! {
    if let Err(e) = std::fs::write("/scheme/sys/kstop", "shutdown") {
        eprintln!("init: cannot power off: {e}");
    }
    loop {
        std::thread::park();
    }
}
