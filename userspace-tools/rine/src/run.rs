//! Loading a program and driving it: the `PTRACE_SYSEMU` loop.

use std::{io, path::PathBuf};

use nix::{
    sys::{
        ptrace,
        signal::Signal,
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::Pid,
};
use redox_ptrace::decode::{DecodeOptions, PendingCall};

use crate::{
    elf,
    handles::{initial, Handle, Table},
    linux::{Child, LoadPlan, STACK_TOP},
    stack::{self, auxv, AuxValue},
    strace::{self, ChildMemory},
    sys::{Machine, Outcome},
    threads::ThreadSlot,
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

/// How the program ended: a Redox exit status (`code`, or `signal << 8`).
pub type Status = u64;

/// The process exit code rine itself ends with for `status` (128 + signal, as shells do).
pub fn exit_code(status: Status) -> u8 {
    let signal = (status >> 8) & 0x7F;
    if signal != 0 {
        128 + signal as u8
    } else {
        (status & 0xFF) as u8
    }
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
    let cwd_handle = crate::files::open_host(
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
    let mut machine = Machine {
        child,
        table,
        root: opts.root.clone(),
        parent: std::process::id(),
        threads: Vec::new(),
        parked: Vec::new(),
        woken: Vec::new(),
        started: Vec::new(),
        ending: false,
    };
    machine.threads.push(ThreadSlot {
        tid: Some(machine.child.pid),
        entry: None,
        gone: false,
    });
    if opts.strace {
        eprintln!("--- exec: address space replaced ---");
    }
    let status = drive(&mut machine, opts.strace);
    let _ = nix::sys::signal::kill(machine.child.pid, Signal::SIGKILL);
    let _ = waitpid(machine.child.pid, None);
    status
}

/// The `PTRACE_SYSEMU` loop: one stop per Redox syscall of any thread, until the program
/// exits. Threads parked on a futex stay stopped until a wake releases them.
fn drive(m: &mut Machine, trace: bool) -> io::Result<Status> {
    let pid: Pid = m.child.pid;
    let decode = DecodeOptions::default();
    let mut resume: Vec<Pid> = vec![pid];
    let mut running: usize = 0;
    // Futex waits of parked threads, printed when a wake ends them.
    let mut parked_calls: Vec<(Pid, PendingCall)> = Vec::new();
    loop {
        for tid in resume.drain(..) {
            // A thread can vanish between its stop and here (the process is ending).
            if ptrace::sysemu(tid, None).is_ok() {
                running += 1;
            }
        }
        if running == 0 {
            eprintln!("rine: every thread waits on a futex that no thread can wake: deadlock");
            return Ok((Signal::SIGKILL as u64) << 8);
        }
        let status = waitpid(None, Some(WaitPidFlag::__WALL)).map_err(io::Error::from)?;
        running -= 1;
        let tid = match status {
            WaitStatus::PtraceSyscall(tid) => tid,
            WaitStatus::PtraceEvent(tid, ..) => {
                resume.push(tid);
                continue;
            }
            WaitStatus::Stopped(tid, sig) => {
                // A fault in the program (or a signal sent to it): Redox would kill it with
                // that signal too, since rine installs no handlers.
                m.child.current.set(tid);
                let regs = m.child.regs()?;
                eprintln!("rine: the program got {sig} at rip {:#x}", regs.rip);
                let status = (sig as u64) << 8;
                if trace {
                    eprintln!("{}", strace::exit_line(status));
                }
                return Ok(status);
            }
            WaitStatus::Exited(tid, code) if tid == pid => return Ok(code as u64 & 0xFF),
            WaitStatus::Signaled(tid, sig, _) if tid == pid => return Ok((sig as u64) << 8),
            WaitStatus::Exited(tid, _) | WaitStatus::Signaled(tid, ..) => {
                if let Some(t) = m.thread_of(tid) {
                    m.threads[t].gone = true;
                }
                continue;
            }
            other => {
                return Err(io::Error::other(format!(
                    "unexpected wait status {other:?}"
                )))
            }
        };
        m.child.current.set(tid);
        // Lines of threads other than the first carry their id, as strace -f's do.
        let prefix = if tid == pid {
            String::new()
        } else {
            format!("[pid {tid:>5}] ")
        };
        let regs = m.child.regs()?;
        let number = regs.orig_rax as usize;
        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9].map(|r| r as usize);
        let pending =
            trace.then(|| PendingCall::enter(number, args, &ChildMemory(&m.child), &decode));
        let mut out = regs;
        match m.syscall(number, args, &regs, &mut out) {
            Outcome::Return(ret) => {
                out.rax = ret as u64;
                m.child.set_regs(&out)?;
                if let Some(call) = pending {
                    eprintln!(
                        "{prefix}{}",
                        call.finish(ret, &ChildMemory(&m.child), &decode)
                    );
                }
                resume.push(tid);
            }
            Outcome::Park(addr) => {
                m.parked.push((tid, addr));
                if let Some(call) = pending {
                    parked_calls.push((tid, call));
                }
            }
            Outcome::ThreadExit => {
                if let Some(call) = pending {
                    eprintln!("{prefix}{}", call.unfinished());
                }
                m.child.exit_current_thread(&regs)?;
                if let Some(t) = m.thread_of(tid) {
                    m.threads[t].gone = true;
                }
            }
            Outcome::Exit(status) => {
                if let Some(call) = pending {
                    eprintln!("{prefix}{}", call.unfinished());
                    eprintln!("{}", strace::exit_line(status));
                }
                return Ok(status);
            }
        }
        // Woken threads return 0 from their wait.
        for woken in std::mem::take(&mut m.woken) {
            m.child.current.set(woken);
            let mut r = m.child.regs()?;
            r.rax = 0;
            m.child.set_regs(&r)?;
            if let Some(i) = parked_calls.iter().position(|(t, _)| *t == woken) {
                let (_, call) = parked_calls.remove(i);
                let prefix = if woken == pid {
                    String::new()
                } else {
                    format!("[pid {woken:>5}] ")
                };
                eprintln!(
                    "{prefix}{}",
                    call.finish(0, &ChildMemory(&m.child), &decode)
                );
            }
            resume.push(woken);
        }
        resume.append(&mut m.started);
    }
}
