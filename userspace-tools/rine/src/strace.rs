//! `--strace`: every syscall printed by the project's decoder, the same lines the Redox
//! `strace` prints, so a trace under rine and one in QEMU compare line by line.

use redox_ptrace::mem::{MemError, TraceeMemory};

use crate::linux::Child;

/// The child's memory as the decoder reads it.
pub struct ChildMemory<'a>(pub &'a Child);

impl TraceeMemory for ChildMemory<'_> {
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<usize, MemError> {
        self.0
            .read(addr as u64, buf)
            .map_err(|_| MemError::Fault { addr })
    }
}

/// The line the Redox `strace` ends a trace with.
pub fn exit_line(status: u64) -> String {
    let signal = (status >> 8) & 0x7F;
    if signal != 0 {
        format!("+++ killed by signal {signal} +++")
    } else {
        format!("+++ exited with {} +++", status & 0xFF)
    }
}
