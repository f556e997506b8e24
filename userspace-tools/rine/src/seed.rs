//! The Linux ptrace experiment RINE grew from: a tracer catches its child's `write` to
//! stderr at the syscall-entry stop and turns it into `exit(123)`, so the write never
//! happens and the child ends with status 123.

use nix::{
    libc,
    sys::{
        ptrace,
        signal::{raise, Signal},
        wait::{waitpid, WaitStatus},
    },
    unistd::{fork, ForkResult},
};

/// The status the intercepted child exits with.
pub const INTERCEPT_STATUS: i32 = 123;

/// What the demo saw: the child's exit status and whether it was stopped at the write.
#[derive(Debug, PartialEq, Eq)]
pub struct Outcome {
    pub caught_write: bool,
    pub exit_status: i32,
}

/// Forks a child that writes `message` to stderr and would exit 0; traces it with
/// `PTRACE_SYSCALL`, and at the entry of its `write(2, ...)` rewrites the call into
/// `exit(123)`.
pub fn intercept_stderr_write(message: &[u8]) -> nix::Result<Outcome> {
    // SAFETY: the child only makes async-signal-safe calls (ptrace, raise, write, _exit), so
    // forking from a multi-threaded test process is fine.
    match unsafe { fork() }? {
        ForkResult::Child => {
            let _ = ptrace::traceme();
            let _ = raise(Signal::SIGSTOP);
            // SAFETY: plain syscalls on a borrowed buffer.
            unsafe {
                libc::write(2, message.as_ptr().cast(), message.len());
                libc::_exit(0)
            }
        }
        ForkResult::Parent { child } => {
            waitpid(child, None)?;
            ptrace::setoptions(
                child,
                ptrace::Options::PTRACE_O_TRACESYSGOOD | ptrace::Options::PTRACE_O_EXITKILL,
            )?;
            let mut caught_write = false;
            let mut entering = true;
            loop {
                ptrace::syscall(child, None)?;
                match waitpid(child, None)? {
                    WaitStatus::PtraceSyscall(_) => {
                        let mut regs = ptrace::getregs(child)?;
                        if entering && regs.orig_rax == libc::SYS_write as u64 && regs.rdi == 2 {
                            // Replace the call before the kernel runs it: same stop, other
                            // number and argument.
                            regs.orig_rax = libc::SYS_exit as u64;
                            regs.rdi = INTERCEPT_STATUS as u64;
                            ptrace::setregs(child, regs)?;
                            caught_write = true;
                        }
                        entering = !entering;
                    }
                    WaitStatus::Exited(_, status) => {
                        return Ok(Outcome {
                            caught_write,
                            exit_status: status,
                        });
                    }
                    WaitStatus::Signaled(_, sig, _) => {
                        return Ok(Outcome {
                            caught_write,
                            exit_status: 128 + sig as i32,
                        });
                    }
                    _ => {}
                }
            }
        }
    }
}
