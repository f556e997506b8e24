//! Breakpoints and single steps.

use syscall::{flag::PtraceFlags, ContextStatus};
use trace_core::Stop;

use super::{
    code,
    trace::{drain, dup_trace, next_stop, regs, resume, spawn_traced},
};
use crate::{child, harness::Failure, sys};

const BREAKPOINT: PtraceFlags = PtraceFlags::PTRACE_STOP_BREAKPOINT;
const STEP: PtraceFlags = PtraceFlags::PTRACE_STOP_SINGLESTEP;
const IGNORE: PtraceFlags = PtraceFlags::PTRACE_FLAG_IGNORE;

/// Runs the `int3; mov; add; ret` sequence and writes what it returned to its first fd.
fn call_step(_: usize) -> ! {
    let _ = sys::write(child::given(0), &code::rp_step().to_ne_bytes());
    child::exit()
}

/// Verifies that an int3 stops the tracee with `ip` and `rip` at the int3 byte, and that
/// single steps then stop after each instruction with the next instruction's address.
pub fn int3_then_steps_report_each_instruction() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(call_step, dup_trace)?;
    resume(&trace, BREAKPOINT)?;
    child.start()?;

    check_eq!(
        next_stop(&trace)?,
        Stop::Breakpoint {
            ip: code::at::step()
        }
    );
    let (handle, mut stopped) = regs(&child)?;
    check_eq!(stopped.rip, code::at::step(), "rip at the breakpoint");
    // Past the int3, without the trap's default action, one instruction at a time.
    stopped.rip = code::at::step_mov();
    sys::write(&handle, &stopped)?;
    resume(&trace, IGNORE | STEP)?;

    for next in [code::at::step_add(), code::at::step_ret()] {
        check_eq!(next_stop(&trace)?, Stop::SingleStep { ip: next });
        check_eq!(regs(&child)?.1.rip, next, "rip after the step");
        resume(&trace, STEP)?;
    }
    // The ret lands back in call_step; then run freely.
    let Stop::SingleStep { ip } = next_stop(&trace)? else {
        fail!("expected the step over ret");
    };
    check_eq!(ip == code::at::step_ret(), false, "ret returned");
    resume(&trace, PtraceFlags::empty())?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, 10_u32.to_ne_bytes());
    Ok(())
}

fn call_syscall(_: usize) -> ! {
    let _ = sys::write(child::given(0), &code::rp_syscall().to_ne_bytes());
    child::exit()
}

/// Verifies that single-stepping over a `syscall` instruction gives its entry and exit stops,
/// then a step stop right after the instruction, not one instruction later.
pub fn step_over_syscall_stops_after_it() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(call_syscall, dup_trace)?;
    let all = STEP | PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_STOP_POST_SYSCALL;
    resume(&trace, BREAKPOINT)?;
    child.start()?;

    check_eq!(
        next_stop(&trace)?,
        Stop::Breakpoint {
            ip: code::at::syscall()
        }
    );
    let (handle, mut stopped) = regs(&child)?;
    stopped.rip = code::at::syscall_xor();
    sys::write(&handle, &stopped)?;
    resume(&trace, IGNORE | all)?;

    let enosys = syscall::ENOSYS.wrapping_neg() as usize;
    let expected = [
        Stop::SingleStep {
            ip: code::at::syscall_insn(),
        },
        Stop::SyscallEntry {
            number: 0,
            args: [0; 6],
        },
        Stop::SyscallExit {
            number: 0,
            ret: enosys,
        },
        Stop::SingleStep {
            ip: code::at::syscall_ret(),
        },
    ];
    for (index, want) in expected.into_iter().enumerate() {
        let mut got = next_stop(&trace)?;
        // Argument registers hold whatever the caller left there.
        if let Stop::SyscallEntry { args, .. } = &mut got {
            *args = [0; 6];
        }
        check_eq!(got, want, "stop {}", index);
        resume(&trace, all)?;
    }
    check_eq!(next_stop(&trace)?.flag(), STEP, "the step over ret");
    resume(&trace, PtraceFlags::empty())?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, enosys.to_ne_bytes());
    Ok(())
}

/// Verifies that an int3 reaches a tracer that armed exception stops but not breakpoint
/// stops as the breakpoint exception (vector 3), which the tracer can suppress.
pub fn unarmed_breakpoint_is_an_exception() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(call_step, dup_trace)?;
    resume(&trace, PtraceFlags::PTRACE_STOP_SIGNAL)?;
    child.start()?;
    let Stop::Exception { kind, .. } = next_stop(&trace)? else {
        fail!("expected the int3 as an exception");
    };
    check_eq!(kind, 3);
    let (handle, mut stopped) = regs(&child)?;
    stopped.rip = code::at::step_mov();
    sys::write(&handle, &stopped)?;
    resume(&trace, IGNORE)?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, 10_u32.to_ne_bytes());
    Ok(())
}

/// Steps from the int3 before `rp_syscall`'s `syscall` up to that syscall's entry stop.
fn step_to_syscall(trace: &crate::sys::Fd, child: &child::Child) -> Result<(), Failure> {
    check_eq!(
        next_stop(trace)?,
        Stop::Breakpoint {
            ip: code::at::syscall()
        }
    );
    let (handle, mut stopped) = regs(child)?;
    stopped.rip = code::at::syscall_xor();
    sys::write(&handle, &stopped)?;
    let all = STEP | PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_STOP_POST_SYSCALL;
    resume(trace, IGNORE | all)?;
    check_eq!(
        next_stop(trace)?,
        Stop::SingleStep {
            ip: code::at::syscall_insn()
        }
    );
    resume(trace, all)?;
    check_eq!(
        next_stop(trace)?.flag(),
        PtraceFlags::PTRACE_STOP_PRE_SYSCALL
    );
    Ok(())
}

/// Verifies that leaving the single-step stop after a stepped `syscall` with flags without
/// PTRACE_STOP_SINGLESTEP clears the trap flag: the tracee runs on to its normal exit.
pub fn leaving_step_after_syscall_clears_trap_flag() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(call_syscall, dup_trace)?;
    resume(&trace, BREAKPOINT)?;
    child.start()?;
    step_to_syscall(&trace, &child)?;
    let all = STEP | PtraceFlags::PTRACE_STOP_PRE_SYSCALL | PtraceFlags::PTRACE_STOP_POST_SYSCALL;
    resume(&trace, all)?;
    check_eq!(
        next_stop(&trace)?.flag(),
        PtraceFlags::PTRACE_STOP_POST_SYSCALL
    );
    resume(&trace, all)?;
    check_eq!(
        next_stop(&trace)?,
        Stop::SingleStep {
            ip: code::at::syscall_ret()
        }
    );
    resume(&trace, PtraceFlags::empty())?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    let enosys = syscall::ENOSYS.wrapping_neg() as usize;
    check_eq!(drain(&reader)?, enosys.to_ne_bytes());
    Ok(())
}

/// Verifies that leaving a syscall entry stop reached while stepping with flags without
/// PTRACE_STOP_SINGLESTEP clears the trap flag: no step after the syscall returns.
pub fn leaving_syscall_stop_unstepped_clears_trap_flag() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(call_syscall, dup_trace)?;
    resume(&trace, BREAKPOINT)?;
    child.start()?;
    step_to_syscall(&trace, &child)?;
    resume(&trace, PtraceFlags::empty())?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    let enosys = syscall::ENOSYS.wrapping_neg() as usize;
    check_eq!(drain(&reader)?, enosys.to_ne_bytes());
    Ok(())
}

/// Verifies that disarming single steps while the tracee is inside a syscall it entered
/// stepping clears the trap flag: it runs on to its normal exit, no debug exception.
pub fn disarming_step_during_syscall_clears_trap_flag() -> Result<(), Failure> {
    let (mut child, trace, reader) = spawn_traced(call_syscall, dup_trace)?;
    resume(&trace, BREAKPOINT)?;
    child.start()?;
    check_eq!(
        next_stop(&trace)?,
        Stop::Breakpoint {
            ip: code::at::syscall()
        }
    );
    let (handle, mut stopped) = regs(&child)?;
    stopped.rip = code::at::syscall_xor();
    sys::write(&handle, &stopped)?;
    resume(&trace, IGNORE | STEP)?;
    check_eq!(
        next_stop(&trace)?,
        Stop::SingleStep {
            ip: code::at::syscall_insn()
        }
    );
    // A yield, so that this runner runs again while the tracee is inside the syscall.
    let (handle, mut stopped) = regs(&child)?;
    stopped.rax = syscall::SYS_YIELD;
    sys::write(&handle, &stopped)?;
    resume(&trace, STEP)?;
    sys::yield_now();
    resume(&trace, PtraceFlags::empty())?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, 0_usize.to_ne_bytes());
    Ok(())
}
