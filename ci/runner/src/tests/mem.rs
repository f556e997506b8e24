//! The `mem` handle: a tracee's memory at file offset = address.

use syscall::{ContextStatus, EACCES, EFAULT, ESRCH};

use super::{
    code,
    trace::{drain, next_stop, resume},
};
use crate::{
    child::{self, Child},
    harness::Failure,
    sys,
};

const PAGE: usize = 4096;

#[repr(C, align(4096))]
struct TwoPages([u8; 2 * PAGE]);

/// Two pages the tests write into a forked child's copy of.
static mut PAGES: TwoPages = TwoPages([0; 2 * PAGE]);

fn pages() -> usize {
    (&raw const PAGES) as usize
}

/// Where the cross-page pattern goes: its first half ends the first page.
fn pattern_at() -> usize {
    pages() + PAGE - 6
}

const PATTERN: [u8; 12] = *b"ptrace-redox";

/// Writes the 12 bytes at [`pattern_at`] (as its own address space has them) to its first
/// given fd, then exits.
fn send_pattern(_: usize) -> ! {
    // SAFETY: a plain read of the child's own copy of PAGES.
    let bytes = unsafe { core::slice::from_raw_parts(pattern_at() as *const u8, PATTERN.len()) };
    let _ = sys::write(child::given(0), bytes);
    child::exit()
}

/// Verifies that a tracer writes and reads a forked tracee's memory across a page boundary,
/// that the tracee sees the write, and that the tracer's own copy is untouched.
pub fn reads_and_writes_across_pages() -> Result<(), Failure> {
    let (reader, writer) = sys::pipe_nonblocking()?;
    let mut child = Child::forked(send_pattern, 0)?;
    child.give(&writer)?;
    let mem = child.open("mem")?;

    check_eq!(
        sys::write_at(&mem, pattern_at() as u64, &PATTERN)?,
        PATTERN.len()
    );
    let mut back = [0; PATTERN.len()];
    check_eq!(
        sys::read_at(&mem, pattern_at() as u64, &mut back)?,
        PATTERN.len()
    );
    check_eq!(back, PATTERN);
    // SAFETY: a plain read of the runner's own PAGES, which nothing else writes.
    let ours = unsafe { core::ptr::read_volatile(pattern_at() as *const [u8; 12]) };
    check_eq!(ours, [0; 12], "the runner's own copy");

    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, PATTERN, "what the tracee saw");
    Ok(())
}

/// Verifies that an access running off the end of a mapping is cut short there, and one that
/// starts where nothing is mapped is EFAULT, as are addresses outside user space.
pub fn short_at_mapping_end_efault_beyond() -> Result<(), Failure> {
    // The child first: its stack must not land in the hole made below.
    let child = Child::new(|_| child::exit(), 0)?;
    let mem = child.open("mem")?;
    let base = sys::map_anonymous(2 * PAGE)?;
    // SAFETY: the second page is ours and unused.
    unsafe { sys::unmap(base + PAGE, PAGE)? };
    let end = (base + PAGE) as u64;

    let mut buf = [0; 16];
    check_eq!(
        sys::read_at(&mem, end - 4, &mut buf)?,
        4,
        "read across the end"
    );
    check_eq!(
        sys::write_at(&mem, end - 4, &[7; 16])?,
        4,
        "write across the end"
    );
    check_errno!(sys::read_at(&mem, end, &mut buf), EFAULT);
    check_errno!(sys::write_at(&mem, end, &buf), EFAULT);
    check_errno!(sys::read_at(&mem, code::UNMAPPED as u64, &mut buf), EFAULT);
    check_errno!(sys::read_at(&mem, u64::MAX - 8, &mut buf), EFAULT);
    check_errno!(sys::read_at(&mem, 1 << 47, &mut buf), EFAULT);
    check_eq!(sys::read_at(&mem, end - 4, &mut [])?, 0, "empty read");
    // SAFETY: the first page is ours, and the child is not started.
    unsafe { sys::unmap(base, PAGE)? };
    Ok(())
}

/// Verifies that a breakpoint planted through `mem` in a forked tracee's read-only code stops
/// it, leaves the tracer's own code (the same frame until then) untouched, and that restoring
/// the byte and stepping over it lets the tracee finish.
pub fn breakpoint_in_code_is_copy_on_write() -> Result<(), Failure> {
    fn call_patch(_: usize) -> ! {
        let _ = sys::write(child::given(0), &code::rp_patch().to_ne_bytes());
        child::exit()
    }
    const INT3: u8 = 0xcc;
    const NOP: u8 = 0x90;
    let (reader, writer) = sys::pipe_nonblocking()?;
    let mut child = Child::forked(call_patch, 0)?;
    child.give(&writer)?;
    let mem = child.open("mem")?;
    let trace = child.open("trace")?;
    let site = code::at::patch() as u64;

    let mut byte = [0];
    sys::read_at(&mem, site, &mut byte)?;
    check_eq!(byte, [NOP]);
    check_eq!(sys::write_at(&mem, site, &[INT3])?, 1);
    sys::read_at(&mem, site, &mut byte)?;
    check_eq!(byte, [INT3], "the tracee's code");
    // SAFETY: reading the runner's own code.
    let ours = unsafe { core::ptr::read_volatile(site as *const u8) };
    check_eq!(ours, NOP, "the runner's code");

    resume(&trace, syscall::PtraceFlags::PTRACE_STOP_BREAKPOINT)?;
    child.start()?;
    check_eq!(
        next_stop(&trace)?,
        trace_core::Stop::Breakpoint { ip: site as usize }
    );
    sys::write_at(&mem, site, &[NOP])?;
    let step = syscall::PtraceFlags::PTRACE_STOP_SINGLESTEP;
    resume(&trace, syscall::PtraceFlags::PTRACE_FLAG_IGNORE | step)?;
    check_eq!(
        next_stop(&trace)?,
        trace_core::Stop::SingleStep {
            ip: code::at::patch_next()
        }
    );
    resume(&trace, syscall::PtraceFlags::empty())?;

    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_eq!(drain(&reader)?, 42_u32.to_ne_bytes());
    Ok(())
}

/// Verifies that `mem` on a tracee that has exited is ESRCH.
pub fn dead_tracee_is_esrch() -> Result<(), Failure> {
    let mut child = Child::new(|_| child::exit(), 0)?;
    let mem = child.open("mem")?;
    child.start()?;
    check_eq!(child.wait_exit()?, ContextStatus::Dead);
    check_errno!(sys::read_at(&mem, pages() as u64, &mut [0; 8]), ESRCH);
    check_errno!(sys::write_at(&mem, pages() as u64, &[0; 8]), ESRCH);
    Ok(())
}

/// A physical address that is device memory, not RAM: q35's HPET, whose registers read
/// without side effects.
const DEVICE_PAGE: usize = 0xFED0_0000;

/// Verifies that `mem` refuses memory mapped through `memory:physical` with EACCES, without
/// touching it through the kernel's map of RAM, and that the tracee's memory stays readable
/// afterwards (no lock left held).
pub fn physical_mapping_is_eacces() -> Result<(), Failure> {
    let root = sys::scheme_root(syscall::GlobalSchemes::Memory)?;
    let physical = sys::openat(root, "physical@uc", syscall::O_RDWR)?;
    let map = syscall::Map {
        offset: DEVICE_PAGE,
        size: PAGE,
        flags: syscall::MapFlags::PROT_READ | syscall::MapFlags::MAP_SHARED,
        address: 0,
    };
    // SAFETY: a new mapping at an address the kernel chooses aliases nothing of ours.
    let device = unsafe { syscall::fmap(physical.raw(), &map) }?;
    // A child in our address space, which now has the device page.
    let child = Child::new(send_pattern, 0)?;
    let mem = child.open("mem")?;

    let mut word = [0; 8];
    check_errno!(sys::read_at(&mem, device as u64, &mut word), EACCES);
    check_eq!(
        sys::read_at(&mem, pages() as u64, &mut word)?,
        word.len(),
        "a read of RAM afterwards"
    );
    // SAFETY: nothing uses the device mapping.
    unsafe { sys::unmap(device, PAGE)? };
    Ok(())
}
