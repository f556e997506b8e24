//! Spawning children through `kernel.proc`: the ground every trace test stands on.

use core::{arch::asm, str};

use syscall::{CallFlags, ContextStatus, Error, IntRegisters, EAGAIN, EINVAL, SYS_READ};

use crate::{
    child::{self, Child},
    harness::{Failure, Hex},
    sys,
};

const MESSAGE: &[u8] = b"hello from a child";
/// What `blocks_with_magic` leaves in r12 while it waits.
const MAGIC: usize = 0x7ace_0f_c0ffee_42;

/// Writes [`MESSAGE`] to its first given fd, then exits.
fn write_message(_: usize) -> ! {
    let _ = sys::write(child::given(0), MESSAGE);
    child::exit()
}

/// Reads one byte from its first given fd with [`MAGIC`] in r12, then exits. The read is a
/// raw syscall so that r12 surely holds the value while the child is blocked in it.
fn blocks_with_magic(_: usize) -> ! {
    let mut byte = 0_u8;
    let result: usize;
    // SAFETY: SYS_READ into a live local; the kernel clobbers only rcx and r11.
    unsafe {
        asm!(
            "syscall",
            inlateout("rax") SYS_READ => result,
            in("rdi") child::given(0),
            in("rsi") &raw mut byte,
            in("rdx") 1,
            in("r12") MAGIC,
            out("rcx") _,
            out("r11") _,
            options(nostack),
        );
    }
    let _ = Error::demux(result);
    child::exit()
}

/// Verifies that a child writes a message into a pipe that the runner then reads.
pub fn child_writes_to_pipe() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe()?;
    let mut child = Child::new(write_message, 0)?;
    child.give(&writer)?;
    // The child holds the only writer: if it dies without writing, the read sees EOF.
    writer.close()?;
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);

    let mut buf = [0; 64];
    let len = sys::read(&reader, &mut buf)?;
    check_eq!(str::from_utf8(&buf[..len]), str::from_utf8(MESSAGE));
    Ok(())
}

/// Verifies that a child's exit shows as `Dead` on its status handle, and stays so.
pub fn exit_is_seen_through_status() -> Result<(), Failure> {
    let mut child = Child::new(child::exit_at_once, 0)?;
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(child.status()?, ContextStatus::Dead, "status read again");
    Ok(())
}

/// Verifies that a child's exit closes the fds in its table: once the child, which held the
/// only writer, is gone, the pipe reads the message and then end-of-file.
pub fn exit_closes_child_fds() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe_nonblocking()?;
    let mut child = Child::new(write_message, 0)?;
    child.give(&writer)?;
    writer.close()?;
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);

    let mut buf = [0; 64];
    check_eq!(sys::read(&reader, &mut buf)?, MESSAGE.len(), "first read");
    check_eq!(
        sys::read(&reader, &mut buf)?,
        0,
        "read after the writer's exit"
    );
    Ok(())
}

/// Verifies that a child does not run before `start`: it reports `NotYetStarted` and has
/// not written, and it runs after `start`.
pub fn not_started_before_start() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe_nonblocking()?;
    let mut child = Child::new(write_message, 0)?;
    child.give(&writer)?;
    sys::sleep(core::time::Duration::from_millis(20))?;
    check_eq!(child.status()?, ContextStatus::NotYetStarted);
    let mut buf = [0; 64];
    check_errno!(sys::read(&reader, &mut buf), EAGAIN);

    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(
        sys::read(&reader, &mut buf)?,
        MESSAGE.len(),
        "read after start"
    );
    Ok(())
}

/// Verifies that `regs/int` of a child blocked in a syscall shows the registers it blocked
/// with: the magic value it put in r12, and the fd argument in rdi.
pub fn regs_show_blocked_child() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe()?;
    let mut child = Child::new(blocks_with_magic, 0)?;
    let slot = child.give(&reader)?;
    child.start()?;
    check_eq!(
        child.wait_status(ContextStatus::Blocked)?,
        ContextStatus::Blocked
    );

    let regs_fd = child.open("regs/int")?;
    let mut regs = IntRegisters::default();
    check_eq!(
        sys::read(&regs_fd, &mut regs)?,
        size_of::<IntRegisters>(),
        "regs/int read size"
    );
    check_eq!(Hex(regs.r12), Hex(MAGIC), "r12");
    check_eq!(regs.rdi, slot, "rdi");

    sys::write(&writer, b"!")?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that writing ForceKill to the status handle ends a child that never blocks.
pub fn kill_ends_running_child() -> Result<(), Failure> {
    let mut child = Child::new(child::yield_forever, 0)?;
    child.start()?;
    child.kill()?;
    check_eq!(child.wait_exit()?, ContextStatus::ForceKilled);
    Ok(())
}

/// Verifies that a second `start` of a started child fails with EINVAL.
pub fn second_start_is_einval() -> Result<(), Failure> {
    let mut child = Child::new(child::exit_at_once, 0)?;
    child.start()?;
    let start = child.open("start")?;
    check_errno!(sys::write(&start, &[0]), EINVAL);
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that opening a handle name the proc scheme does not know fails with EINVAL.
pub fn unknown_handle_is_einval() -> Result<(), Failure> {
    let mut child = Child::new(child::exit_at_once, 0)?;
    check_errno!(sys::dup(child.context_fd(), "no-such-handle"), EINVAL);
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}

/// Verifies that an fd transfer into a file table that carries no fd is EINVAL (upstream
/// unwrapped the empty list) and leaves the target slot as it was.
pub fn empty_fd_transfer_is_einval() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe_nonblocking()?;
    let mut child = Child::new(child::exit_at_once, 0)?;
    let slot = child.give(&writer)?;
    let filetable = child.open("filetable")?;
    check_errno!(
        syscall::call_wo(
            filetable.raw(),
            &[],
            CallFlags::FD | CallFlags::FD_CLONE,
            &[slot as u64]
        )
        .map(drop),
        EINVAL
    );
    drop(writer);
    // The child still holds the writer in `slot`: the pipe has a writer, so no end-of-file.
    check_errno!(sys::read(&reader, &mut [0; 1]), EAGAIN);
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    Ok(())
}
