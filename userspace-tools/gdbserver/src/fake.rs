//! A fake tracee for host tests of the gdb glue: one mapped range of memory, register sets,
//! and the halts its next waits return.

use std::collections::VecDeque;

use redox_ptrace::{
    regs::XsaveArea,
    watch::{WatchSlots, SLOTS},
};
use syscall::{FloatRegisters, IntRegisters};

use crate::inferior::{Error, Halt, Inferior, Resume};

pub struct FakeInferior {
    pub base: usize,
    pub memory: Vec<u8>,
    pub int: IntRegisters,
    pub float: FloatRegisters,
    /// The XSAVE area; `None` as on a CPU without XSAVE.
    pub xsave: Option<XsaveArea>,
    /// What the next polls report, after `busy_polls` polls that find it still running.
    pub halts: VecDeque<Halt>,
    pub busy_polls: usize,
    /// Every resume, with its `deliver` flag.
    pub resumes: Vec<(Resume, Option<u8>)>,
    pub killed: bool,
    pub detached: bool,
    pub interrupted: bool,
    /// What the last `set_watchpoints` loaded.
    pub watches: WatchSlots,
}

impl FakeInferior {
    /// 256 bytes at 0x1000 holding 0, 1, 2, ...; rip at 0x1010.
    pub fn new() -> Self {
        let int = IntRegisters {
            rip: 0x1010,
            rflags: 0x202,
            ..IntRegisters::default()
        };
        Self {
            base: 0x1000,
            memory: (0..=255).collect(),
            int,
            float: FloatRegisters::default(),
            xsave: None,
            halts: VecDeque::new(),
            busy_polls: 0,
            resumes: Vec::new(),
            killed: false,
            detached: false,
            interrupted: false,
            watches: [None; SLOTS],
        }
    }

    fn range(&self, addr: usize, len: usize) -> Result<std::ops::Range<usize>, Error> {
        let start = addr
            .checked_sub(self.base)
            .filter(|&start| start < self.memory.len())
            .ok_or_else(|| format!("nothing mapped at {addr:#x}"))?;
        Ok(start..(start + len).min(self.memory.len()))
    }
}

impl Inferior for FakeInferior {
    fn int_regs(&mut self) -> Result<IntRegisters, Error> {
        Ok(self.int)
    }

    fn set_int_regs(&mut self, regs: &IntRegisters) -> Result<(), Error> {
        // As the kernel: only the arithmetic flags, TF and DF may change.
        if (regs.rflags ^ self.int.rflags) & !0xdd5 != 0 {
            return Err("EPERM".to_string());
        }
        self.int = *regs;
        Ok(())
    }

    fn float_regs(&mut self) -> Result<FloatRegisters, Error> {
        Ok(self.float)
    }

    fn set_float_regs(&mut self, regs: &FloatRegisters) -> Result<(), Error> {
        self.float = *regs;
        Ok(())
    }

    fn xsave(&mut self) -> Result<Option<XsaveArea>, Error> {
        Ok(self.xsave.clone())
    }

    fn set_xsave(&mut self, area: &XsaveArea) -> Result<(), Error> {
        match &mut self.xsave {
            Some(saved) if saved.as_bytes().len() == area.as_bytes().len() => {
                *saved = area.clone();
                Ok(())
            }
            Some(_) => Err("EINVAL".to_string()),
            None => Err("EOPNOTSUPP".to_string()),
        }
    }

    fn read_mem(&mut self, addr: usize, buf: &mut [u8]) -> Result<usize, Error> {
        let range = self.range(addr, buf.len())?;
        let n = range.len();
        buf[..n].copy_from_slice(&self.memory[range]);
        Ok(n)
    }

    fn write_mem(&mut self, addr: usize, data: &[u8]) -> Result<(), Error> {
        let range = self.range(addr, data.len())?;
        if range.len() != data.len() {
            return Err("write runs past the mapping".to_string());
        }
        self.memory[range].copy_from_slice(data);
        Ok(())
    }

    fn resume(&mut self, how: Resume, signal: Option<u8>) -> Result<(), Error> {
        self.resumes.push((how, signal));
        Ok(())
    }

    fn poll(&mut self) -> Result<Option<Halt>, Error> {
        if self.busy_polls > 0 {
            self.busy_polls -= 1;
            return Ok(None);
        }
        Ok(self.halts.pop_front())
    }

    fn interrupt(&mut self) -> Result<(), Error> {
        self.interrupted = true;
        Ok(())
    }

    fn set_watchpoints(&mut self, slots: &WatchSlots) -> Result<(), Error> {
        self.watches = *slots;
        Ok(())
    }

    fn kill(&mut self) -> Result<(), Error> {
        self.killed = true;
        Ok(())
    }

    fn detach(&mut self) -> Result<(), Error> {
        self.detached = true;
        Ok(())
    }
}
