//! fsbase and gsbase.

use core::fmt;

use syscall::EnvRegisters;

use super::line;

/// `EnvRegisters` as gdb's `fs_base` and `gs_base` lines.
pub struct EnvRegs<'a>(pub &'a EnvRegisters);

impl fmt::Display for EnvRegs<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // Copies: the struct is packed.
        let (fs, gs) = (self.0.fsbase, self.0.gsbase);
        line(f, "fs_base", fs, &(fs as i64))?;
        line(f, "gs_base", gs, &(gs as i64))
    }
}

#[cfg(test)]
mod tests {
    use alloc::string::ToString;

    use super::*;

    /// Verifies the two env lines.
    #[test]
    fn env_registers_print_like_gdb() {
        let regs = EnvRegisters {
            fsbase: 0x1000,
            gsbase: 0,
        };
        assert_eq!(
            EnvRegs(&regs).to_string(),
            "fs_base        0x1000             4096\ngs_base        0x0                0\n"
        );
    }
}
