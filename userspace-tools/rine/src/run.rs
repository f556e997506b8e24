//! The entry point: loading a program and running it to its end (the loop is `world.rs`).

use std::{io, path::PathBuf};

use nix::sys::{
    signal::Signal,
    wait::{waitpid, WaitPidFlag},
};

use crate::{
    abi::Status,
    elf, files,
    handles::{initial, Handle, Table},
    linux::{Child, LoadPlan, STACK_TOP},
    process::Process,
    stack::{self, auxv, AuxValue},
    world::World,
};

/// How to run a program.
pub struct Options {
    /// The host directory that is the program's `file` scheme (its `/`).
    pub root: PathBuf,
    /// The program's working directory, under `root` (no leading `/`).
    pub cwd: String,
    /// Print every syscall to stderr as the Redox `strace` does.
    pub strace: bool,
    pub env: Vec<Vec<u8>>,
}

/// Loads `file` (the ELF's bytes) with `argv` and runs it to its end.
pub fn run(file: &[u8], argv: &[Vec<u8>], opts: &Options) -> io::Result<Status> {
    let image =
        elf::parse(file).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e.to_string()))?;
    let cwd = format!("/scheme/file/{}", opts.cwd);
    let aux = [
        (auxv::AT_PHDR, AuxValue::Num(image.phdr_vaddr)),
        (auxv::AT_PHENT, AuxValue::Num(image.phent)),
        (auxv::AT_PHNUM, AuxValue::Num(image.phnum)),
        (auxv::AT_PAGESZ, AuxValue::Num(4096)),
        (auxv::AT_ENTRY, AuxValue::Num(image.entry)),
        (
            auxv::AT_REDOX_INITIAL_CWD_PTR,
            AuxValue::Str(cwd.clone().into_bytes()),
        ),
        (
            auxv::AT_REDOX_INITIAL_CWD_LEN,
            AuxValue::Num(cwd.len() as u64),
        ),
        (auxv::AT_REDOX_INHERITED_SIGIGNMASK, AuxValue::Num(0)),
        (auxv::AT_REDOX_INHERITED_SIGPROCMASK, AuxValue::Num(0)),
        (auxv::AT_REDOX_UMASK, AuxValue::Num(0o022)),
        (auxv::AT_REDOX_THR_FD, AuxValue::Num(initial::THREAD as u64)),
        (auxv::AT_REDOX_PROC_FD, AuxValue::Num(initial::PROC as u64)),
        (
            auxv::AT_REDOX_NS_FD,
            AuxValue::Num(initial::NAMESPACE as u64),
        ),
        (auxv::AT_REDOX_CWD_FD, AuxValue::Num(initial::CWD as u64)),
        (
            auxv::AT_REDOX_FILETABLE_FD,
            AuxValue::Num(initial::FILETABLE as u64),
        ),
    ];
    let (rsp, stack_bytes) = stack::build(STACK_TOP, argv, &opts.env, &aux);

    let mut table = Table::default();
    for fd in 0..3 {
        let file = std::fs::File::from(nix::unistd::dup(unsafe {
            std::os::fd::BorrowedFd::borrow_raw(fd)
        })?);
        table.replace(
            fd as usize,
            Handle::Host {
                file,
                reference: None,
                dir: false,
                flags: syscall::O_RDWR,
            },
        );
    }
    table.replace(
        initial::FILETABLE,
        Handle::FileTable {
            snapshot: Vec::new(),
            pos: 0,
        },
    );
    table.replace(initial::PROC, Handle::Proc);
    table.replace(initial::THREAD, Handle::Thread(0));
    table.replace(initial::NAMESPACE, Handle::Namespace);
    let cwd_handle = files::open_host(
        &opts.root,
        "",
        &opts.cwd,
        syscall::O_RDONLY | syscall::O_DIRECTORY,
    )
    .map_err(|e| io::Error::from_raw_os_error(e.errno))?;
    table.replace(initial::CWD, cwd_handle);

    let plan = LoadPlan {
        image: &image,
        file,
        stack: &stack_bytes,
        rsp,
    };
    let child = Child::spawn(&plan)?;
    // The first process has its Linux pid; forks get the numbers after it.
    let pid = child.pid.as_raw() as u32;
    let first = Process::new(child, table, opts.root.clone(), pid, std::process::id());
    if opts.strace {
        eprintln!("--- exec: address space replaced ---");
    }
    let mut world = World::new(first, pid + 1);
    let status = world.drive(opts.strace);
    for m in &world.procs {
        let _ = nix::sys::signal::kill(m.child.pid, Signal::SIGKILL);
    }
    // Reap every traced thread and process (a thread-group leader is reaped only after its
    // traced threads are), until none is left.
    while waitpid(None, Some(WaitPidFlag::__WALL)).is_ok() {}
    status
}
