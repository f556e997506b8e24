//! The program's memory as Redox calls see it: reads and writes that fail with `EFAULT`, and
//! `fmap`, `funmap` and `mprotect`, carried out by the tracee itself, as Linux `mmap`,
//! `munmap` and `mprotect` injected at its syscall stop, because a tracer cannot change
//! another process's mappings from outside.

use std::{fs::File, os::unix::fs::FileExt};

use nix::{
    libc::{self, user_regs_struct},
    unistd::Pid,
};
use syscall::{Error, MapFlags, Result};

use crate::linux::Child;

/// `len` bytes of the program's memory at `addr`.
pub fn read(child: &Child, addr: usize, len: usize) -> Result<Vec<u8>> {
    let mut buf = vec![0; len];
    child
        .read_exact(addr as u64, &mut buf)
        .map_err(|_| Error::new(syscall::EFAULT))?;
    Ok(buf)
}

pub fn write(child: &Child, addr: usize, bytes: &[u8]) -> Result<()> {
    child
        .write_all(addr as u64, bytes)
        .map_err(|_| Error::new(syscall::EFAULT))
}

pub fn read_u32(child: &Child, addr: usize) -> Result<u32> {
    Ok(u32::from_le_bytes(
        read(child, addr, 4)?.try_into().expect("4 bytes"),
    ))
}

pub fn read_u64(child: &Child, addr: usize) -> Result<u64> {
    Ok(u64::from_le_bytes(
        read(child, addr, 8)?.try_into().expect("8 bytes"),
    ))
}

/// Redox protection bits to Linux's.
pub fn linux_prot(flags: MapFlags) -> u64 {
    let mut prot = 0;
    if flags.contains(MapFlags::PROT_READ) {
        prot |= libc::PROT_READ;
    }
    if flags.contains(MapFlags::PROT_WRITE) {
        prot |= libc::PROT_WRITE;
    }
    if flags.contains(MapFlags::PROT_EXEC) {
        prot |= libc::PROT_EXEC;
    }
    prot as u64
}

/// Redox mapping kind to Linux `mmap` flags (always anonymous: file contents are copied in).
pub fn linux_map_flags(flags: MapFlags) -> u64 {
    let mut out = libc::MAP_ANONYMOUS;
    out |= if flags.contains(MapFlags::MAP_SHARED) {
        libc::MAP_SHARED
    } else {
        libc::MAP_PRIVATE
    };
    // MAP_FIXED_NOREPLACE contains MAP_FIXED's bit: test the wider one first.
    if flags.contains(MapFlags::MAP_FIXED_NOREPLACE) {
        out |= libc::MAP_FIXED_NOREPLACE;
    } else if flags.contains(MapFlags::MAP_FIXED) {
        out |= libc::MAP_FIXED;
    }
    out as u64
}

/// A Linux `-errno` result as a Redox result (the errno numbers agree, see `errno`).
fn linux_ret(ret: i64) -> Result<usize> {
    if (-4095..0).contains(&ret) {
        Err(Error::new(-ret as i32))
    } else {
        Ok(ret as usize)
    }
}

fn inject(
    child: &Child,
    tid: Pid,
    regs: &user_regs_struct,
    nr: i64,
    args: [u64; 6],
) -> Result<usize> {
    match child.linux_syscall(tid, regs, nr, args) {
        Ok(ret) => linux_ret(ret),
        Err(e) => {
            eprintln!("rine: running Linux syscall {nr} in the program: {e}");
            Err(Error::new(syscall::EIO))
        }
    }
}

/// `fmap` of `map.size` bytes (not 0) in thread `tid`: anonymous memory, or a private copy
/// of `file`'s bytes.
pub fn fmap(
    child: &Child,
    tid: Pid,
    regs: &user_regs_struct,
    file: Option<&File>,
    map: &syscall::Map,
) -> Result<usize> {
    let args = [
        map.address as u64,
        map.size as u64,
        linux_prot(map.flags),
        linux_map_flags(map.flags),
        u64::MAX,
        0,
    ];
    let addr = inject(child, tid, regs, libc::SYS_mmap, args)?;
    if let Some(file) = file {
        let mut bytes = vec![0; map.size];
        let mut done = 0;
        while done < bytes.len() {
            match file.read_at(&mut bytes[done..], (map.offset + done) as u64) {
                Ok(0) => break,
                Ok(n) => done += n,
                Err(e) => return Err(Error::new(e.raw_os_error().unwrap_or(syscall::EIO))),
            }
        }
        write(child, addr, &bytes[..done])?;
    }
    Ok(addr)
}

pub fn funmap(
    child: &Child,
    tid: Pid,
    regs: &user_regs_struct,
    addr: usize,
    len: usize,
) -> Result<usize> {
    inject(
        child,
        tid,
        regs,
        libc::SYS_munmap,
        [addr as u64, len as u64, 0, 0, 0, 0],
    )
}

pub fn mprotect(
    child: &Child,
    tid: Pid,
    regs: &user_regs_struct,
    addr: usize,
    len: usize,
    flags: usize,
) -> Result<usize> {
    let prot = linux_prot(MapFlags::from_bits_truncate(flags));
    inject(
        child,
        tid,
        regs,
        libc::SYS_mprotect,
        [addr as u64, len as u64, prot, 0, 0, 0],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that Redox protection and mapping flags become the Linux ones.
    #[test]
    fn flags_translate() {
        let rw = MapFlags::PROT_READ | MapFlags::PROT_WRITE | MapFlags::MAP_PRIVATE;
        assert_eq!(linux_prot(rw), (libc::PROT_READ | libc::PROT_WRITE) as u64);
        assert_eq!(
            linux_map_flags(rw),
            (libc::MAP_ANONYMOUS | libc::MAP_PRIVATE) as u64
        );
        let fixed = MapFlags::MAP_FIXED_NOREPLACE | MapFlags::MAP_PRIVATE;
        assert_eq!(
            linux_map_flags(fixed),
            (libc::MAP_ANONYMOUS | libc::MAP_PRIVATE | libc::MAP_FIXED_NOREPLACE) as u64
        );
        assert_eq!(
            linux_ret(-(libc::ENOMEM as i64)),
            Err(Error::new(syscall::ENOMEM))
        );
        assert_eq!(linux_ret(0x1000), Ok(0x1000));
    }
}
