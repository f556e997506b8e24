//! `--strace`: every syscall printed by the project's decoder, the same lines the Redox
//! `strace` prints, so a trace under rine and one in QEMU compare line by line.

use redox_ptrace::{
    decode::signal::signal_name,
    mem::{MemError, TraceeMemory},
};

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
        match signal_name(signal as i32) {
            Some(name) => format!("+++ killed by {name} +++"),
            None => format!("+++ killed by signal {signal} +++"),
        }
    } else {
        format!("+++ exited with {} +++", status & 0xFF)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that exit lines read as the Redox strace's.
    #[test]
    fn exit_line_like_redox_strace() {
        assert_eq!(exit_line(3), "+++ exited with 3 +++");
        assert_eq!(exit_line(11 << 8), "+++ killed by SIGSEGV +++");
    }
}
