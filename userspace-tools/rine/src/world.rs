//! The `PTRACE_SYSEMU` loop over every process and thread of the program: one stop per
//! Redox syscall, until the first process exits. Processes come from fork (`fork.rs`); a
//! child's exit is kept, as procmgr keeps it, until its parent's `Waitpid` takes it.

use std::{collections::HashSet, io};

use libredox::protocol::WaitFlags;
use nix::{
    sys::{
        ptrace,
        signal::{kill, Signal},
        wait::{waitpid, WaitPidFlag, WaitStatus},
    },
    unistd::Pid,
};
use redox_ptrace::decode::{DecodeOptions, PendingCall};

use crate::{
    abi::{wait_status, Status, Waitpid},
    io::Caller,
    memory,
    process::Process,
    strace::{self, ChildMemory},
    sys::{self, Outcome},
};

/// All processes of the program; `procs[0]` is the first, whose exit ends rine.
#[derive(Default)]
pub struct World {
    pub procs: Vec<Process>,
    /// The pid the next fork gets.
    next_pid: u32,
    /// Exited children nobody has waited for: `(parent pid, pid, Redox status)`.
    zombies: Vec<(u32, u32, u64)>,
    /// Threads in `Waitpid` until a child exits.
    waiting: Vec<(Pid, Waitpid)>,
    /// Threads whose read would block, retried after every stop.
    reading: Vec<Pid>,
    /// The strace lines of parked calls, printed when they return.
    parked_calls: Vec<(Pid, PendingCall)>,
    running: HashSet<Pid>,
    resume: Vec<Pid>,
}

impl World {
    /// The program's first process; forks get pids from `next_pid` on.
    pub fn new(first: Process, next_pid: u32) -> Self {
        Self {
            procs: vec![first],
            next_pid,
            ..Self::default()
        }
    }

    fn proc_of(&self, tid: Pid) -> Option<usize> {
        self.procs
            .iter()
            .position(|m| m.threads.number_of(tid).is_some())
    }

    fn prefix(&self, tid: Pid) -> String {
        if Some(tid) == self.procs.first().map(|m| m.child.pid) {
            String::new()
        } else {
            format!("[pid {tid:>5}] ")
        }
    }

    /// Runs the program to the first process's exit.
    pub fn drive(&mut self, trace: bool) -> io::Result<Status> {
        let root = self.procs[0].child.pid;
        self.resume.push(root);
        loop {
            for tid in std::mem::take(&mut self.resume) {
                // A thread can vanish between its stop and here (its process is ending).
                if ptrace::sysemu(tid, None).is_ok() {
                    self.running.insert(tid);
                }
            }
            if self.running.is_empty() {
                if self.reading.is_empty() {
                    eprintln!(
                        "rine: every thread waits on a futex or a child that nothing can end: deadlock"
                    );
                    return Ok((Signal::SIGKILL as u64) << 8);
                }
                // Only reads that wait on the host are left: look again shortly.
                std::thread::sleep(std::time::Duration::from_millis(1));
                self.answer_waits(trace)?;
                if let Some(status) = self.retry_reads(trace)? {
                    return Ok(status);
                }
                continue;
            }
            let status = waitpid(None, Some(WaitPidFlag::__WALL)).map_err(io::Error::from)?;
            if let Some(tid) = status.pid() {
                self.running.remove(&tid);
            }
            let ended = match status {
                WaitStatus::PtraceSyscall(tid) => self.stop(tid, trace)?,
                WaitStatus::PtraceEvent(tid, ..) => {
                    self.resume.push(tid);
                    None
                }
                WaitStatus::Stopped(tid, sig) => {
                    // A fault in the program (or a signal sent to it): Redox would end the
                    // process with that signal too, since rine installs no handlers.
                    let Some(p) = self.proc_of(tid) else { continue };
                    let rip = self.procs[p].child.regs(tid).map(|r| r.rip).unwrap_or(0);
                    eprintln!("rine: the program got {sig} at rip {rip:#x}");
                    let status = (sig as u64) << 8;
                    if trace {
                        eprintln!("{}{}", self.prefix(tid), strace::exit_line(status));
                    }
                    self.end_process(p, status)
                }
                WaitStatus::Exited(tid, code) if tid == root => Some(code as u64 & 0xFF),
                WaitStatus::Signaled(tid, sig, _) if tid == root => Some((sig as u64) << 8),
                WaitStatus::Exited(tid, _) | WaitStatus::Signaled(tid, ..) => {
                    if let Some(p) = self.proc_of(tid) {
                        self.procs[p].threads.gone(tid);
                    }
                    None
                }
                other => {
                    return Err(io::Error::other(format!(
                        "unexpected wait status {other:?}"
                    )))
                }
            };
            if let Some(status) = ended {
                return Ok(status);
            }
            self.answer_waits(trace)?;
            if let Some(status) = self.retry_reads(trace)? {
                return Ok(status);
            }
        }
    }

    /// Handles a syscall stop of `tid`; `Some` when the first process exited.
    fn stop(&mut self, tid: Pid, trace: bool) -> io::Result<Option<Status>> {
        let Some(p) = self.proc_of(tid) else {
            return Ok(None);
        };
        let decode = DecodeOptions::default();
        let prefix = self.prefix(tid);
        let m = &mut self.procs[p];
        let regs = m.child.regs(tid)?;
        let number = regs.orig_rax as usize;
        let args = [regs.rdi, regs.rsi, regs.rdx, regs.r10, regs.r8, regs.r9].map(|r| r as usize);
        let pending =
            trace.then(|| PendingCall::enter(number, args, &ChildMemory(&m.child), &decode));
        let mut out = regs;
        let mut ended = None;
        let mut caller = Caller {
            process: m,
            tid,
            regs: &regs,
            next_pid: &mut self.next_pid,
        };
        let outcome = sys::syscall(&mut caller, number, args, &mut out);
        match outcome {
            Outcome::Return(ret) => {
                out.rax = ret as u64;
                m.child.set_regs(tid, &out)?;
                if let Some(call) = pending {
                    eprintln!(
                        "{prefix}{}",
                        call.finish(ret, &ChildMemory(&m.child), &decode)
                    );
                }
                self.resume.push(tid);
            }
            Outcome::Park(addr) => {
                m.threads.park(tid, addr);
                if let Some(call) = pending {
                    self.parked_calls.push((tid, call));
                }
            }
            // Retried after every stop; printed once it returns.
            Outcome::BlockedRead => self.reading.push(tid),
            Outcome::Wait(w) => {
                if let Some(call) = pending {
                    self.parked_calls.push((tid, call));
                }
                self.waiting.push((tid, w));
            }
            Outcome::Replaced(r) => {
                m.child.set_regs(tid, &r)?;
                if let Some(call) = pending {
                    eprintln!("{prefix}{}", call.unfinished());
                    eprintln!("{prefix}--- exec: address space replaced ---");
                }
                self.resume.push(tid);
            }
            Outcome::ThreadExit => {
                if let Some(call) = pending {
                    eprintln!("{prefix}{}", call.unfinished());
                }
                m.child.exit_thread(tid, &regs)?;
                m.threads.gone(tid);
            }
            Outcome::Exit(status) => {
                if let Some(call) = pending {
                    eprintln!("{prefix}{}", call.unfinished());
                    eprintln!("{prefix}{}", strace::exit_line(status));
                }
                ended = self.end_process(p, status);
            }
        }
        if ended.is_some() {
            return Ok(ended);
        }
        if let Some(p) = self.proc_of(tid) {
            self.after_stop(p, trace)?;
        }
        Ok(None)
    }

    /// What a stop of process `p` released: futex-woken threads (they return 0), started
    /// threads, forked children.
    fn after_stop(&mut self, p: usize, trace: bool) -> io::Result<()> {
        let decode = DecodeOptions::default();
        for woken in self.procs[p].threads.take_woken() {
            let prefix = self.prefix(woken);
            let m = &self.procs[p];
            let mut r = m.child.regs(woken)?;
            r.rax = 0;
            m.child.set_regs(woken, &r)?;
            if let Some(i) = self.parked_calls.iter().position(|(t, _)| *t == woken) {
                let (_, call) = self.parked_calls.remove(i);
                if trace {
                    eprintln!(
                        "{prefix}{}",
                        call.finish(0, &ChildMemory(&m.child), &decode)
                    );
                }
            }
            self.resume.push(woken);
        }
        let m = &mut self.procs[p];
        self.resume.append(&mut m.threads.take_started());
        for child in m.take_spawned() {
            self.resume.push(child.child.pid);
            self.procs.push(child);
        }
        Ok(())
    }

    /// Ends process `p` with `status`: `Some` if it is the first one (rine's end). Its
    /// handles close with it (so pipes it held give their readers EOF), and its exit waits
    /// for its parent's `Waitpid`.
    fn end_process(&mut self, p: usize, status: Status) -> Option<Status> {
        if p == 0 {
            return Some(status);
        }
        let m = self.procs.remove(p);
        let _ = kill(m.child.pid, Signal::SIGKILL);
        let gone = |tid: &Pid| m.threads.number_of(*tid).is_some();
        self.reading.retain(|t| !gone(t));
        self.waiting.retain(|(t, _)| !gone(t));
        self.parked_calls.retain(|(t, _)| !gone(t));
        self.zombies.push((m.parent, m.pid, status));
        None
    }

    /// Answers the `Waitpid`s a child's exit (or its absence) decides.
    fn answer_waits(&mut self, trace: bool) -> io::Result<()> {
        let decode = DecodeOptions::default();
        let mut i = 0;
        while i < self.waiting.len() {
            let (tid, w) = self.waiting[i];
            let Some(p) = self.proc_of(tid) else {
                self.waiting.remove(i);
                continue;
            };
            let me = self.procs[p].pid;
            let result = if let Some(z) = self
                .zombies
                .iter()
                .position(|z| z.0 == me && (w.pid == 0 || z.1 == w.pid))
            {
                let (_, pid, status) = self.zombies.remove(z);
                memory::write(
                    &self.procs[p].child,
                    w.status,
                    &wait_status(status).to_le_bytes(),
                )
                .map(|_| pid as usize)
            } else if !self
                .procs
                .iter()
                .any(|c| c.parent == me && (w.pid == 0 || c.pid == w.pid))
            {
                Err(syscall::Error::new(syscall::ECHILD))
            } else if w.flags.contains(WaitFlags::WNOHANG) {
                Ok(0)
            } else {
                i += 1;
                continue;
            };
            self.waiting.remove(i);
            let ret = syscall::Error::mux(result);
            let prefix = self.prefix(tid);
            let m = &self.procs[p];
            let mut r = m.child.regs(tid)?;
            r.rax = ret as u64;
            m.child.set_regs(tid, &r)?;
            if let Some(k) = self.parked_calls.iter().position(|(t, _)| *t == tid) {
                let (_, call) = self.parked_calls.remove(k);
                if trace {
                    eprintln!(
                        "{prefix}{}",
                        call.finish(ret, &ChildMemory(&m.child), &decode)
                    );
                }
            }
            self.resume.push(tid);
        }
        Ok(())
    }

    /// Tries the reads that would have blocked again (each is the thread's syscall stop,
    /// untouched, so it is handled anew).
    fn retry_reads(&mut self, trace: bool) -> io::Result<Option<Status>> {
        for tid in std::mem::take(&mut self.reading) {
            if let Some(status) = self.stop(tid, trace)? {
                return Ok(Some(status));
            }
        }
        Ok(None)
    }
}
