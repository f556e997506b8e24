//! The Linux side: a child process holding the Redox program, stopped under ptrace, and the
//! few things the tracer does to it (registers, memory, Linux syscalls run on its behalf).

use std::{fs::File, io, os::unix::fs::FileExt};

use nix::{
    libc::{self, user_regs_struct},
    sys::{
        ptrace,
        signal::{raise, Signal},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::{fork, ForkResult, Pid},
};

use crate::elf::Image;

/// Where the Redox stack goes: far from the ranges Linux gives the tracer's own mappings
/// (program near `0x55..`, libraries and stack near `0x7f..`), so the fixed mapping succeeds.
pub const STACK_TOP: u64 = 0x0000_6fff_ffff_0000;
/// 8 MiB, Redox's main-thread stack size.
pub const STACK_SIZE: u64 = 8 << 20;
pub const PAGE: u64 = 4096;

/// The page-aligned range `[lo, hi)` the program's segments cover (0, 0 for none).
fn page_span(segs: &[crate::elf::Segment]) -> (u64, u64) {
    let lo = segs
        .iter()
        .map(|s| s.vaddr / PAGE * PAGE)
        .min()
        .unwrap_or(0);
    let hi = segs
        .iter()
        .map(|s| (s.vaddr + s.mem_size).next_multiple_of(PAGE))
        .max()
        .unwrap_or(0);
    (lo, hi)
}

/// Which side of a syscall a syscall stop is (`PTRACE_GET_SYSCALL_INFO`'s `op`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SyscallStop {
    Entry,
    Exit,
    Other,
}

/// A stopped Linux child that runs a Redox program. What is done to one of its threads
/// (registers, injected calls) names that thread, `tid`: the one whose stop is handled.
pub struct Child {
    /// The thread-group leader: the program's first thread, and its process id.
    pub pid: Pid,
    /// The mappings the process inherited from rine (its code, libraries, heap, stack,
    /// vdso): exec keeps these and replaces everything else.
    pub host: Vec<(u64, u64)>,
    mem: File,
}

/// Everything the child maps before it stops for the tracer.
pub struct LoadPlan<'a> {
    pub image: &'a Image,
    pub file: &'a [u8],
    pub stack: &'a [u8],
    pub rsp: u64,
}

fn prot(r: bool, w: bool, x: bool) -> libc::c_int {
    let mut p = 0;
    if r {
        p |= libc::PROT_READ;
    }
    if w {
        p |= libc::PROT_WRITE;
    }
    if x {
        p |= libc::PROT_EXEC;
    }
    p
}

/// Runs in the forked child: map the segments and the stack at their fixed addresses, copy
/// their bytes, then stop for the tracer. Any failure exits with a message; the tracer sees
/// the exit instead of the stop.
fn load_and_stop(plan: &LoadPlan<'_>) -> ! {
    let fail = |what: &str| -> ! {
        eprintln!(
            "rine: loading the program: {what}: {}",
            io::Error::last_os_error()
        );
        unsafe { libc::_exit(127) }
    };
    let segs = &plan.image.segments;
    let (lo, hi) = page_span(segs);
    // SAFETY: a fresh fixed mapping in this single-threaded child; NOREPLACE refuses to
    // clobber anything of ours that is already there.
    unsafe {
        if hi > lo {
            let at = libc::mmap(
                lo as *mut libc::c_void,
                (hi - lo) as usize,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
                -1,
                0,
            );
            if at as u64 != lo {
                fail("mapping the segments");
            }
            for s in segs {
                let src =
                    &plan.file[s.file_offset as usize..(s.file_offset + s.file_size) as usize];
                std::ptr::copy_nonoverlapping(src.as_ptr(), s.vaddr as *mut u8, src.len());
            }
            // Pages shared by two segments get the union of their permissions.
            let mut page = lo;
            while page < hi {
                let (mut r, mut w, mut x) = (false, false, false);
                for s in segs
                    .iter()
                    .filter(|s| s.vaddr < page + PAGE && page < s.vaddr + s.mem_size)
                {
                    r |= s.readable;
                    w |= s.writable;
                    x |= s.executable;
                }
                if libc::mprotect(page as *mut libc::c_void, PAGE as usize, prot(r, w, x)) != 0 {
                    fail("protecting the segments");
                }
                page += PAGE;
            }
        }
        let stack_lo = STACK_TOP - STACK_SIZE;
        let at = libc::mmap(
            stack_lo as *mut libc::c_void,
            STACK_SIZE as usize,
            libc::PROT_READ | libc::PROT_WRITE,
            libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_FIXED_NOREPLACE,
            -1,
            0,
        );
        if at as u64 != stack_lo {
            fail("mapping the stack");
        }
        std::ptr::copy_nonoverlapping(plan.stack.as_ptr(), plan.rsp as *mut u8, plan.stack.len());
    }
    if ptrace::traceme().is_err() {
        fail("PTRACE_TRACEME");
    }
    let _ = raise(Signal::SIGSTOP);
    // The tracer moves rip to the program's entry before resuming: never reached.
    unsafe { libc::_exit(127) }
}

/// The address of a `syscall` instruction in rine's own code (libc's `syscall()`), which
/// every traced process has at the same address, since each is a fork of rine.
pub fn syscall_gadget() -> Option<u64> {
    let start = libc::syscall as *const u8;
    // SAFETY: reads rine's own code, mapped and readable; stops within the function's first
    // bytes.
    let code = unsafe { std::slice::from_raw_parts(start, 128) };
    code.windows(2)
        .position(|w| w == [0x0f, 0x05])
        .map(|i| start as u64 + i as u64)
}

/// Zero registers but for the segment registers and flags of `like`: how a new Redox
/// context starts.
pub fn clean_regs(like: &user_regs_struct) -> user_regs_struct {
    // SAFETY: user_regs_struct is plain integers.
    let mut regs: user_regs_struct = unsafe { std::mem::zeroed() };
    (
        regs.cs,
        regs.ss,
        regs.ds,
        regs.es,
        regs.fs,
        regs.gs,
        regs.eflags,
    ) = (
        like.cs,
        like.ss,
        like.ds,
        like.es,
        like.fs,
        like.gs,
        like.eflags,
    );
    regs
}

impl Child {
    /// Forks a child that maps `plan` and stops; sets its registers to enter the program.
    pub fn spawn(plan: &LoadPlan<'_>) -> io::Result<Self> {
        // SAFETY: rine is single-threaded when it forks, so the child may allocate.
        let pid = match unsafe { fork() }.map_err(io::Error::from)? {
            ForkResult::Child => load_and_stop(plan),
            ForkResult::Parent { child } => child,
        };
        match waitpid(pid, None).map_err(io::Error::from)? {
            WaitStatus::Stopped(_, Signal::SIGSTOP) => {}
            other => {
                return Err(io::Error::other(format!(
                    "the loader child did not stop: {other:?}"
                )));
            }
        }
        ptrace::setoptions(
            pid,
            ptrace::Options::PTRACE_O_EXITKILL
                | ptrace::Options::PTRACE_O_TRACESYSGOOD
                | ptrace::Options::PTRACE_O_TRACECLONE
                | ptrace::Options::PTRACE_O_TRACEFORK,
        )
        .map_err(io::Error::from)?;
        let mem = File::options()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))?;
        let mut child = Self {
            pid,
            host: Vec::new(),
            mem,
        };
        // Everything mapped now but the program's segments and stack is rine's.
        let segs = &plan.image.segments;
        let (lo, hi) = page_span(segs);
        child.host = child
            .mappings()?
            .into_iter()
            .filter(|&(s, e)| {
                let program = s < hi && lo < e;
                let stack = s < STACK_TOP && STACK_TOP - STACK_SIZE < e;
                !program && !stack
            })
            .collect();
        // A Redox program starts with clean registers and no TLS (relibc sets fs itself).
        let mut regs = clean_regs(&child.regs(pid)?);
        regs.rip = plan.image.entry;
        regs.rsp = plan.rsp;
        child.set_regs(pid, &regs)?;
        Ok(child)
    }

    /// The registers of thread `tid`, stopped.
    pub fn regs(&self, tid: Pid) -> io::Result<user_regs_struct> {
        ptrace::getregs(tid).map_err(io::Error::from)
    }

    pub fn set_regs(&self, tid: Pid, regs: &user_regs_struct) -> io::Result<()> {
        ptrace::setregs(tid, *regs).map_err(io::Error::from)
    }

    /// Reads tracee memory (through `/proc/PID/mem`, which ignores page protections as the
    /// kernel's own accesses for a tracer do).
    pub fn read(&self, addr: u64, buf: &mut [u8]) -> io::Result<usize> {
        self.mem.read_at(buf, addr)
    }

    pub fn read_exact(&self, addr: u64, buf: &mut [u8]) -> io::Result<()> {
        self.mem.read_exact_at(buf, addr)
    }

    pub fn write_all(&self, addr: u64, buf: &[u8]) -> io::Result<()> {
        self.mem.write_all_at(buf, addr)
    }

    /// Runs one Linux syscall in thread `tid`, which must be at a syscall stop whose
    /// registers are `at_stop`: back up over its `syscall` instruction, let it run once with
    /// our number and arguments, and take the result at the exit stop. The caller then
    /// writes the registers it wants (the Redox result) back. Returns Linux's `-errno` form.
    pub fn linux_syscall(
        &self,
        tid: Pid,
        at_stop: &user_regs_struct,
        nr: i64,
        args: [u64; 6],
    ) -> io::Result<i64> {
        self.inject(tid, at_stop, nr, args).map(|(ret, _)| ret)
    }

    /// `linux_syscall` of a `clone` that makes a thread: also the new thread, traced
    /// already and stopped, when the call made one.
    pub fn linux_clone(
        &self,
        tid: Pid,
        at_stop: &user_regs_struct,
        args: [u64; 6],
    ) -> io::Result<(i64, Option<Pid>)> {
        self.inject(tid, at_stop, libc::SYS_clone, args)
    }

    fn inject(
        &self,
        tid: Pid,
        at_stop: &user_regs_struct,
        nr: i64,
        args: [u64; 6],
    ) -> io::Result<(i64, Option<Pid>)> {
        let mut r = *at_stop;
        r.rax = nr as u64;
        r.orig_rax = nr as u64;
        [r.rdi, r.rsi, r.rdx, r.r10, r.r8, r.r9] = args;
        r.rip = at_stop.rip - 2;
        self.set_regs(tid, &r)?;
        let mut cloned = None;
        // Resuming a SYSEMU stop with PTRACE_SYSCALL first reports the exit of the call that
        // was skipped; then come our call's entry and exit. Only an exit after an entry ends.
        let mut entered = false;
        loop {
            ptrace::syscall(tid, None).map_err(io::Error::from)?;
            match waitpid(tid, Some(WaitPidFlag::__WALL)).map_err(io::Error::from)? {
                WaitStatus::PtraceSyscall(_) => {}
                // An injected clone: the new thread is traced already and starts stopped;
                // resume the caller towards its exit stop.
                WaitStatus::PtraceEvent(_, _, libc::PTRACE_EVENT_CLONE) => {
                    let new = ptrace::getevent(tid).map_err(io::Error::from)?;
                    cloned = Some(Pid::from_raw(new as i32));
                    continue;
                }
                // An injected fork: the caller learns the child's pid from the result, and
                // takes the child's first stop itself (`wait_new_process`).
                WaitStatus::PtraceEvent(_, _, libc::PTRACE_EVENT_FORK) => continue,
                other => {
                    return Err(io::Error::other(format!(
                        "the tracee stopped unexpectedly while running Linux syscall {nr}: {other:?}"
                    )));
                }
            }
            match syscall_stop_kind(tid)? {
                SyscallStop::Entry => entered = true,
                SyscallStop::Exit if entered => break,
                SyscallStop::Exit | SyscallStop::Other => {}
            }
        }
        Ok((self.regs(tid)?.rax as i64, cloned))
    }

    /// Waits for the first stop of a process an injected `fork` made (traced from birth).
    pub fn wait_new_process(pid: Pid) -> io::Result<()> {
        match waitpid(pid, Some(WaitPidFlag::__WALL)).map_err(io::Error::from)? {
            WaitStatus::Stopped(_, _) | WaitStatus::PtraceEvent(..) => Ok(()),
            other => Err(io::Error::other(format!("new process {pid}: {other:?}"))),
        }
    }

    /// A stopped process an injected `fork` made, as a `Child` of its own.
    pub fn adopt_process(pid: Pid, host: Vec<(u64, u64)>) -> io::Result<Self> {
        let mem = File::options()
            .read(true)
            .write(true)
            .open(format!("/proc/{pid}/mem"))?;
        Ok(Self { pid, host, mem })
    }

    /// The process's mappings (`/proc/PID/maps`) as `(start, end)`.
    pub fn mappings(&self) -> io::Result<Vec<(u64, u64)>> {
        let maps = std::fs::read_to_string(format!("/proc/{}/maps", self.pid))?;
        Ok(maps
            .lines()
            .filter_map(|l| {
                let (range, _) = l.split_once(' ')?;
                let (s, e) = range.split_once('-')?;
                Some((
                    u64::from_str_radix(s, 16).ok()?,
                    u64::from_str_radix(e, 16).ok()?,
                ))
            })
            .collect())
    }

    /// Sets the process's only thread (a forked child's) to run `ip` on `sp` with otherwise
    /// clean registers (`like` gives the segment registers and flags), and what `more` adds.
    pub fn start_at(
        &self,
        like: &user_regs_struct,
        ip: u64,
        sp: u64,
        more: impl FnOnce(&mut user_regs_struct),
    ) -> io::Result<()> {
        let mut regs = clean_regs(like);
        regs.rip = ip;
        regs.rsp = sp;
        more(&mut regs);
        self.set_regs(self.pid, &regs)
    }

    /// Takes over a thread an injected `clone` made: waits for the stop it starts in and
    /// sets it to run `ip` on stack `sp` with otherwise clean registers (`like` gives the
    /// segment registers and flags). The caller resumes it.
    pub fn adopt_thread(
        &self,
        tid: Pid,
        like: &user_regs_struct,
        ip: u64,
        sp: u64,
    ) -> io::Result<()> {
        match waitpid(tid, Some(WaitPidFlag::__WALL)).map_err(io::Error::from)? {
            WaitStatus::Stopped(_, _) | WaitStatus::PtraceEvent(..) => {}
            other => return Err(io::Error::other(format!("new thread {tid}: {other:?}"))),
        }
        let mut regs = clean_regs(like);
        regs.rip = ip;
        regs.rsp = sp;
        ptrace::setregs(tid, regs).map_err(io::Error::from)
    }

    /// Ends thread `tid` (not the process): it runs Linux `exit` from its stop, as the
    /// Redox kernel ends a context whose `status` handle is written.
    pub fn exit_thread(&self, tid: Pid, at_stop: &user_regs_struct) -> io::Result<()> {
        let mut r = *at_stop;
        r.rax = libc::SYS_exit as u64;
        r.orig_rax = r.rax;
        r.rdi = 0;
        r.rip = at_stop.rip - 2;
        self.set_regs(tid, &r)?;
        loop {
            ptrace::cont(tid, None).map_err(io::Error::from)?;
            match waitpid(tid, Some(WaitPidFlag::__WALL)).map_err(io::Error::from)? {
                WaitStatus::Exited(..) | WaitStatus::Signaled(..) => return Ok(()),
                _ => {}
            }
        }
    }
}

/// Whether thread `tid`, at a syscall stop, is entering or leaving the call.
fn syscall_stop_kind(tid: Pid) -> io::Result<SyscallStop> {
    // struct ptrace_syscall_info: `op` is its first byte; the rest is not needed here.
    let mut info = [0u64; 12];
    // SAFETY: the kernel writes at most the size we pass into `info`.
    let ret = unsafe {
        libc::ptrace(
            libc::PTRACE_GET_SYSCALL_INFO,
            tid.as_raw(),
            size_of_val(&info),
            info.as_mut_ptr(),
        )
    };
    if ret < 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(match info[0] as u8 {
        libc::PTRACE_SYSCALL_INFO_ENTRY => SyscallStop::Entry,
        libc::PTRACE_SYSCALL_INFO_EXIT => SyscallStop::Exit,
        _ => SyscallStop::Other,
    })
}
