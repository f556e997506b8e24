//! Reading a tracee's memory, behind a trait so decoders and tests do not care how.
//!
//! Implementations: [`MemHandle`] (the tracee's `mem` handle: file offset = address),
//! [`NoMemory`] (decoders then print bare addresses) and [`FakeMemory`] for host tests.

use alloc::{collections::BTreeMap, vec::Vec};
use core::mem::{size_of, MaybeUninit};

use crate::{fd::MemFd, raw};

/// Why memory could not be read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MemError {
    /// This tracer has no way to read the tracee's memory.
    Unavailable,
    /// Nothing is mapped at this address (or the kernel refused it).
    Fault { addr: usize },
}

/// Read access to one tracee's address space.
pub trait TraceeMemory {
    /// Reads up to `buf.len()` bytes at `addr`; returns how many. Fewer than asked means the
    /// mapping ended; `Ok(0)` or `Err(Fault)` means nothing is there.
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<usize, MemError>;
}

impl<M: TraceeMemory + ?Sized> TraceeMemory for &M {
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<usize, MemError> {
        (**self).read(addr, buf)
    }
}

/// Fills all of `buf` from `addr`, or fails at the first hole.
pub fn read_exact(mem: &dyn TraceeMemory, addr: usize, buf: &mut [u8]) -> Result<(), MemError> {
    let mut done = 0;
    while done < buf.len() {
        let at = addr.checked_add(done).ok_or(MemError::Fault { addr })?;
        let rest = buf.get_mut(done..).unwrap_or_default();
        match mem.read(at, rest)? {
            0 => return Err(MemError::Fault { addr: at }),
            n => done = done.saturating_add(n),
        }
    }
    Ok(())
}

/// A byte range, cut to `limit` bytes. Returns the bytes and whether they were cut.
pub fn read_bytes(
    mem: &dyn TraceeMemory,
    addr: usize,
    len: usize,
    limit: usize,
) -> Result<(Vec<u8>, bool), MemError> {
    let mut bytes = alloc::vec![0; len.min(limit)];
    read_exact(mem, addr, &mut bytes)?;
    Ok((bytes, len > limit))
}

/// A NUL-terminated string of at most `limit` bytes (the NUL not included). Returns the bytes
/// and whether the string went on past `limit`.
pub fn read_cstr(
    mem: &dyn TraceeMemory,
    addr: usize,
    limit: usize,
) -> Result<(Vec<u8>, bool), MemError> {
    const CHUNK: usize = 64;
    let mut out = Vec::new();
    let mut chunk = [0u8; CHUNK];
    loop {
        let at = addr
            .checked_add(out.len())
            .ok_or(MemError::Fault { addr })?;
        // Never read across a page boundary in one go: the next page may be unmapped.
        let to_page_end = 4096usize.saturating_sub(at.checked_rem(4096).unwrap_or(0));
        let want = CHUNK.min(to_page_end);
        let got = mem.read(at, chunk.get_mut(..want).unwrap_or_default())?;
        if got == 0 {
            return Err(MemError::Fault { addr: at });
        }
        for &byte in chunk.get(..got).unwrap_or_default() {
            if byte == 0 {
                return Ok((out, false));
            }
            if out.len() == limit {
                return Ok((out, true));
            }
            out.push(byte);
        }
    }
}

/// Types any bytes are a valid value of: integers and `#[repr(C)]` structs of integers.
///
/// # Safety
/// Every bit pattern of `size_of::<Self>()` bytes must be a valid `Self`.
pub unsafe trait Plain: Copy {}

macro_rules! plain {
    ($($t:ty),*) => { $(
        // SAFETY: integers and repr(C) structs of integers (and integer bitflags).
        unsafe impl Plain for $t {}
    )* };
}
plain!(u8, u16, u32, u64, usize, i32, i64, isize);
plain!(
    syscall::data::Map,
    syscall::data::TimeSpec,
    syscall::data::Event,
    syscall::data::Stat
);

/// Reads a `T` at `addr`.
pub fn read_plain<T: Plain>(mem: &dyn TraceeMemory, addr: usize) -> Result<T, MemError> {
    let mut value = MaybeUninit::<T>::uninit();
    // SAFETY: the byte view covers exactly the value; it is fully written before assume_init
    // (read_exact fails otherwise), and Plain says any bytes are a valid T.
    unsafe {
        let bytes =
            core::slice::from_raw_parts_mut(value.as_mut_ptr().cast::<u8>(), size_of::<T>());
        bytes.fill(0);
        read_exact(mem, addr, bytes)?;
        Ok(value.assume_init())
    }
}

/// No memory access: every read fails with [`MemError::Unavailable`].
#[derive(Clone, Copy, Debug, Default)]
pub struct NoMemory;

impl TraceeMemory for NoMemory {
    fn read(&self, _addr: usize, _buf: &mut [u8]) -> Result<usize, MemError> {
        Err(MemError::Unavailable)
    }
}

/// Memory through the tracee's `mem` handle: `read2` at offset = address.
#[derive(Debug)]
pub struct MemHandle(pub MemFd);

impl TraceeMemory for MemHandle {
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<usize, MemError> {
        raw::read_mem(&self.0, addr, buf).map_err(|_| MemError::Fault { addr })
    }
}

/// Host-test memory: a few byte regions at fixed addresses.
#[derive(Clone, Debug, Default)]
pub struct FakeMemory {
    regions: BTreeMap<usize, Vec<u8>>,
}

impl FakeMemory {
    pub fn new() -> Self {
        Self::default()
    }

    /// Maps `bytes` at `addr`.
    pub fn with(mut self, addr: usize, bytes: &[u8]) -> Self {
        self.regions.insert(addr, bytes.to_vec());
        self
    }

    /// Maps the bytes of a plain value at `addr`.
    pub fn with_plain<T: Plain>(self, addr: usize, value: &T) -> Self {
        // SAFETY: reading the bytes of a Plain value; padding bytes may be anything, which is
        // fine for a test fixture.
        let bytes = unsafe {
            core::slice::from_raw_parts((value as *const T).cast::<u8>(), size_of::<T>())
        };
        self.with(addr, bytes)
    }
}

impl TraceeMemory for FakeMemory {
    fn read(&self, addr: usize, buf: &mut [u8]) -> Result<usize, MemError> {
        let (start, bytes) = self
            .regions
            .range(..=addr)
            .next_back()
            .ok_or(MemError::Fault { addr })?;
        let offset = addr.checked_sub(*start).ok_or(MemError::Fault { addr })?;
        let src = bytes
            .get(offset..)
            .filter(|s| !s.is_empty())
            .ok_or(MemError::Fault { addr })?;
        let n = src.len().min(buf.len());
        if let (Some(dst), Some(src)) = (buf.get_mut(..n), src.get(..n)) {
            dst.copy_from_slice(src);
        }
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that a C string stops at its NUL, and is cut at the limit.
    #[test]
    fn read_cstr_stops_at_nul_and_limit() {
        let mem = FakeMemory::new().with(0x1000, b"hello\0world");
        assert_eq!(read_cstr(&mem, 0x1000, 64), Ok((b"hello".to_vec(), false)));
        assert_eq!(read_cstr(&mem, 0x1000, 3), Ok((b"hel".to_vec(), true)));
        assert_eq!(
            read_cstr(&mem, 0x1006, 64),
            Err(MemError::Fault { addr: 0x100b })
        );
    }

    /// Verifies that byte ranges are cut to the limit and holes are faults.
    #[test]
    fn read_bytes_cuts_and_faults() {
        let mem = FakeMemory::new().with(0x2000, b"abcdef");
        assert_eq!(read_bytes(&mem, 0x2000, 6, 4), Ok((b"abcd".to_vec(), true)));
        assert_eq!(
            read_bytes(&mem, 0x2002, 4, 64),
            Ok((b"cdef".to_vec(), false))
        );
        assert_eq!(
            read_bytes(&mem, 0x2002, 5, 64),
            Err(MemError::Fault { addr: 0x2006 })
        );
        assert_eq!(
            read_bytes(&mem, 0x10, 1, 64),
            Err(MemError::Fault { addr: 0x10 })
        );
    }

    /// Verifies that a repr(C) struct reads back field by field.
    #[test]
    fn read_plain_reads_structs() {
        let ts = syscall::data::TimeSpec {
            tv_sec: 5,
            tv_nsec: 250,
        };
        let mem = FakeMemory::new().with_plain(0x3000, &ts);
        assert_eq!(read_plain::<syscall::data::TimeSpec>(&mem, 0x3000), Ok(ts));
        assert_eq!(NoMemory.read(0, &mut [0; 1]), Err(MemError::Unavailable));
    }
}
