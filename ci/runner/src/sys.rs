//! Thin typed wrappers over the Redox system calls the runner uses.
//!
//! Redox lets the caller choose the number of every new fd (`openat_into`, `dup_into`); the
//! runner takes them from one allocator, so numbers never clash between the runner and its
//! children (which share its address space, and so this allocator). Each wrapper returns
//! `syscall::Error` unchanged: tests compare errnos.

use core::{
    mem::size_of,
    sync::atomic::{AtomicU64, Ordering},
    time::Duration,
};

use syscall::{
    CallFlags, GlobalSchemes, KernelSchemeInfo, Map, MapFlags, ProcSchemeVerb, TimeSpec, EMFILE,
    ENODEV, KERNEL_METADATA_SIZE, O_NONBLOCK, O_RDWR, O_WRONLY, SYS_CLOSE, SYS_READ2, SYS_WRITE2,
};

pub use syscall::error::{Error, Result};

/// Fd numbers below this are never handed out: they are fixed slots ([`crate::log::LOG_FD`],
/// and the slots `child` fills in a child's table).
pub const FIRST_DYNAMIC_FD: usize = 64;
const DYNAMIC_FDS: usize = 1024;

static FD_MAP: [AtomicU64; DYNAMIC_FDS / 64] = [const { AtomicU64::new(0) }; DYNAMIC_FDS / 64];

fn reserve_fd() -> Result<usize> {
    for (word_index, word) in FD_MAP.iter().enumerate() {
        let mut bits = word.load(Ordering::Relaxed);
        while bits != u64::MAX {
            let bit = bits.trailing_ones();
            match word.compare_exchange(bits, bits | 1 << bit, Ordering::AcqRel, Ordering::Relaxed)
            {
                Ok(_) => return Ok(FIRST_DYNAMIC_FD + word_index * 64 + bit as usize),
                Err(now) => bits = now,
            }
        }
    }
    Err(Error::new(EMFILE))
}

fn release_fd(fd: usize) {
    let Some(index) = fd
        .checked_sub(FIRST_DYNAMIC_FD)
        .filter(|i| *i < DYNAMIC_FDS)
    else {
        return;
    };
    if let Some(word) = FD_MAP.get(index / 64) {
        word.fetch_and(!(1 << (index % 64)), Ordering::AcqRel);
    }
}

/// Runs `open` with a freshly reserved fd number, and gives the number back if it fails.
fn with_new_fd(open: impl FnOnce(usize) -> Result<usize>) -> Result<Fd> {
    let fd = reserve_fd()?;
    match open(fd) {
        Ok(_) => Ok(Fd(fd)),
        Err(error) => {
            release_fd(fd);
            Err(error)
        }
    }
}

/// An fd in the caller's file table that this program opened; closed on drop.
#[derive(Debug)]
pub struct Fd(usize);

impl Fd {
    pub fn raw(&self) -> usize {
        self.0
    }

    /// Closes the fd and reports what close returned. Handles that commit on close
    /// (`current-addrspace`, `current-filetable`) report their commit errors here.
    pub fn close(self) -> Result<()> {
        let fd = self.0;
        core::mem::forget(self);
        let result = close(fd);
        release_fd(fd);
        result
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        let _ = close(self.0);
        release_fd(self.0);
    }
}

/// Anything that names an fd: an owned [`Fd`], or a raw number (a root fd, or a fixed slot in a
/// child's table).
pub trait AsFd {
    fn as_fd(&self) -> usize;
}

impl AsFd for usize {
    fn as_fd(&self) -> usize {
        *self
    }
}

impl AsFd for Fd {
    fn as_fd(&self) -> usize {
        self.0
    }
}

impl<T: AsFd + ?Sized> AsFd for &T {
    fn as_fd(&self) -> usize {
        (**self).as_fd()
    }
}

/// The root fd of a kernel scheme, from the table the kernel leaves on the info page at the top
/// of user memory (`usermode_bootstrap`): `[count][count × KernelSchemeInfo]`.
pub fn scheme_root(scheme: GlobalSchemes) -> Result<usize> {
    // x86_64 user space ends at 2^47 (4-level paging); the info page sits right below.
    const USER_END: usize = 1 << 47;
    let base = USER_END - KERNEL_METADATA_SIZE;
    // SAFETY: the kernel maps the info page read-only for the whole life of the bootstrap
    // address space, which the runner and its children share.
    let count = unsafe { (base as *const usize).read_volatile() };
    let entries = (base + size_of::<usize>()) as *const KernelSchemeInfo;
    (0..count.min(64))
        // SAFETY: the kernel wrote `count` entries after the count.
        .map(|i| unsafe { entries.add(i).read_volatile() })
        .find(|info| info.scheme_id == scheme as u8)
        .map(|info| info.fd)
        // The kernel lists a scheme whose root it could not open with fd usize::MAX.
        .filter(|fd| *fd != usize::MAX)
        .ok_or(Error::new(ENODEV))
}

/// The scheme-creation capability the kernel leaves on the info page, after the scheme table:
/// `dup(cap, "create-scheme")` makes a userspace scheme served by the caller.
pub fn scheme_creation_cap() -> Result<usize> {
    const USER_END: usize = 1 << 47;
    let base = USER_END - KERNEL_METADATA_SIZE;
    // SAFETY: as in scheme_root; the kernel writes the capability right after the entries.
    let fd = unsafe {
        let count = (base as *const usize).read_volatile();
        let entries = (base + size_of::<usize>()) as *const KernelSchemeInfo;
        entries.add(count).cast::<usize>().read_unaligned()
    };
    (fd != usize::MAX).then_some(fd).ok_or(Error::new(ENODEV))
}

/// `openat(dir, path)` into a new fd.
pub fn openat(dir: impl AsFd, path: &str, flags: usize) -> Result<Fd> {
    with_new_fd(|fd| syscall::openat_into(dir.as_fd(), fd, path, flags, 0))
}

/// `openat(dir, path)` into the given fd number, which must be free.
pub fn openat_at(dir: impl AsFd, path: &str, flags: usize, fd: usize) -> Result<()> {
    syscall::openat_into(dir.as_fd(), fd, path, flags, 0).map(drop)
}

/// `dup(fd, name)` into a new fd: a plain copy for an empty name, else the scheme's `name`
/// handle relative to `fd`.
pub fn dup(fd: impl AsFd, name: &str) -> Result<Fd> {
    with_new_fd(|new| syscall::dup_into(fd.as_fd(), new, name.as_bytes()))
}

/// `dup(fd, buf)` into a new fd, for schemes whose dup payload is binary (a scheme socket
/// takes `NewFdParams`).
pub fn dup_bytes(fd: impl AsFd, buf: &[u8]) -> Result<Fd> {
    with_new_fd(|new| syscall::dup_into(fd.as_fd(), new, buf))
}

pub fn read(fd: impl AsFd, buf: &mut [u8]) -> Result<usize> {
    syscall::read(fd.as_fd(), buf)
}

pub fn write(fd: impl AsFd, buf: &[u8]) -> Result<usize> {
    syscall::write(fd.as_fd(), buf)
}

/// Reads at `offset` of a positioned handle (such as `mem`), leaving its file offset alone.
pub fn read_at(fd: impl AsFd, offset: u64, buf: &mut [u8]) -> Result<usize> {
    // SAFETY: the kernel writes at most `buf.len()` bytes into `buf`; no flags (usize::MAX).
    unsafe {
        syscall::syscall5(
            SYS_READ2,
            fd.as_fd(),
            buf.as_mut_ptr() as usize,
            buf.len(),
            offset as usize,
            usize::MAX,
        )
    }
}

/// Writes at `offset` of a positioned handle (such as `mem`), leaving its file offset alone.
pub fn write_at(fd: impl AsFd, offset: u64, buf: &[u8]) -> Result<usize> {
    // SAFETY: the kernel reads at most `buf.len()` bytes from `buf`; no flags (usize::MAX).
    unsafe {
        syscall::syscall5(
            SYS_WRITE2,
            fd.as_fd(),
            buf.as_ptr() as usize,
            buf.len(),
            offset as usize,
            usize::MAX,
        )
    }
}

/// Writes native-endian `usize`s in one write.
pub fn write_usizes(fd: impl AsFd, words: &[usize]) -> Result<usize> {
    // SAFETY: any initialised usize slice is also a valid byte slice of 8× the length.
    let bytes =
        unsafe { core::slice::from_raw_parts(words.as_ptr().cast::<u8>(), size_of_val(words)) };
    write(fd, bytes)
}

/// Closes a raw fd. 0.9.2 has no `close` wrapper, hence the raw call.
pub fn close(fd: usize) -> Result<()> {
    // SAFETY: SYS_CLOSE takes one integer and touches no memory of ours.
    unsafe { syscall::syscall1(SYS_CLOSE, fd) }.map(drop)
}

/// Copies `fd` from the caller's table into slot `slot` of the table behind `filetable`
/// (a `kernel.proc` filetable handle). The slot's previous fd, if any, is closed.
pub fn send_fd(filetable: impl AsFd, fd: impl AsFd, slot: usize) -> Result<()> {
    let fd = fd.as_fd();
    // A payload of zero fds panics the kernel (kfdwrite unwraps the first one): always one.
    syscall::call_wo(
        filetable.as_fd(),
        &fd.to_ne_bytes(),
        CallFlags::FD | CallFlags::FD_CLONE,
        &[slot as u64],
    )
    .map(drop)
}

/// A new pipe: `(reader, writer)`. Reads block while the pipe is empty and has a writer.
pub fn pipe() -> Result<(Fd, Fd)> {
    pipe_with(O_RDWR)
}

/// A new pipe whose reads fail with `EAGAIN` instead of blocking.
pub fn pipe_nonblocking() -> Result<(Fd, Fd)> {
    pipe_with(O_RDWR | O_NONBLOCK)
}

fn pipe_with(reader_flags: usize) -> Result<(Fd, Fd)> {
    let reader = openat(scheme_root(GlobalSchemes::Pipe)?, "", reader_flags)?;
    let writer = dup(&reader, "write")?;
    Ok((reader, writer))
}

pub fn yield_now() {
    let _ = syscall::sched_yield();
}

pub fn sleep(duration: Duration) -> Result<()> {
    let request = TimeSpec::from_nanos(duration.as_nanos());
    let mut remaining = TimeSpec::default();
    syscall::nanosleep(&request, &mut remaining).map(drop)
}

/// Time since boot.
pub fn monotonic() -> Result<Duration> {
    let mut now = TimeSpec::default();
    syscall::clock_gettime(syscall::CLOCK_MONOTONIC, &mut now)?;
    Ok(Duration::from_nanos(
        now.to_nanos().try_into().unwrap_or(u64::MAX),
    ))
}

/// Maps `size` bytes (a multiple of the page size) of fresh zeroed read-write memory.
pub fn map_anonymous(size: usize) -> Result<usize> {
    let map = Map {
        offset: 0,
        size,
        flags: MapFlags::PROT_READ | MapFlags::PROT_WRITE | MapFlags::MAP_PRIVATE,
        address: 0,
    };
    // SAFETY: an anonymous private mapping at an address the kernel chooses aliases nothing.
    unsafe { syscall::fmap(!0, &map) }
}

/// Unmaps what [`map_anonymous`] returned.
///
/// # Safety
/// Nothing may use the memory afterwards (in particular no child may still run on it).
pub unsafe fn unmap(addr: usize, size: usize) -> Result<()> {
    unsafe { syscall::funmap(addr, size) }.map(drop)
}

/// Ends QEMU with exit status `code * 2 + 1` through its `isa-debug-exit` device (I/O port
/// [`DEBUG_EXIT_PORT`]). Returns if the port write does not stop the machine (no such
/// device), or if the kernel does not grant port access.
pub fn debug_exit(code: u8) -> Result<()> {
    let me = dup(scheme_root(GlobalSchemes::Proc)?, "cur-context")?;
    // Iopl always applies to the caller, whatever context the handle names.
    syscall::call_wo(
        me.raw(),
        &[],
        CallFlags::empty(),
        &[ProcSchemeVerb::Iopl as u64],
    )?;
    // SAFETY: the kernel allowed port I/O; the port is QEMU's debug-exit device or nothing.
    unsafe {
        core::arch::asm!("out dx, al", in("dx") DEBUG_EXIT_PORT, in("al") code,
            options(nomem, nostack));
    }
    Ok(())
}

/// Where `ci/qemu-test.sh` puts QEMU's `isa-debug-exit` device.
pub const DEBUG_EXIT_PORT: u16 = 0xf4;

/// Powers the machine off through `sys:kstop`; spins if the kernel refuses.
pub fn power_off() -> ! {
    if let Ok(sys) = scheme_root(GlobalSchemes::Sys)
        && let Ok(kstop) = openat(sys, "kstop", O_WRONLY)
    {
        let _ = write(&kstop, b"shutdown");
    }
    loop {
        yield_now();
    }
}
