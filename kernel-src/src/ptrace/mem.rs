//! The `mem` handle: a tracee's memory, where the file offset is the virtual address.
//!
//! Each access resolves the context's address space anew, so a handle keeps working after the
//! tracee's address space is replaced (exec). Bytes pass through a kernel buffer one page at a
//! time: the tracee's address-space lock is never held while the tracer's buffer is touched,
//! which matters when tracer and tracee share an address space.

use alloc::{sync::Arc, vec};

use trace_core::mem::chunks;

use crate::{
    context::{
        memory::{
            correct_inner, cow, AccessMode, AddrSpaceWrapper, Flusher, GenericFlusher, PfError,
            Provider, TlbShootdownActions,
        },
        ContextLock,
    },
    memory::{get_page_info, Frame, Page, RefKind, RmmA, RmmArch, VirtualAddress, PAGE_SIZE},
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EACCES, EFAULT, EINVAL, ENOMEM},
        usercopy::{UserSlice, UserSliceRo, UserSliceWo},
    },
};

/// `read` on a `mem` handle: copies tracee memory at `address` into `buf`.
///
/// CONTEXT: takes the tracee's context lock, then its address-space lock, page by page.
/// RETURNS: the bytes copied, short at the end of a mapping; `EFAULT` when nothing is mapped at
/// `address`; `ESRCH` when the tracee has no address space (it exited).
pub fn read(
    tracee: &Arc<ContextLock>,
    address: u64,
    buf: UserSliceWo,
    token: &mut CleanLockToken,
) -> Result<usize> {
    copy(tracee, address, Tracer::Reads(buf), token)
}

/// `write` on a `mem` handle: copies `buf` into tracee memory at `address`. Read-only private
/// memory (code) is written too, copy-on-write safely; see [`tracer_access`].
///
/// CONTEXT: takes the tracee's context lock, then its address-space lock, page by page.
/// RETURNS: the bytes written, short at the end of a mapping; `EFAULT` when nothing is mapped at
/// `address`; `EACCES` for read-only memory shared with other address spaces; `ESRCH`.
pub fn write(
    tracee: &Arc<ContextLock>,
    address: u64,
    buf: UserSliceRo,
    token: &mut CleanLockToken,
) -> Result<usize> {
    copy(tracee, address, Tracer::Writes(buf), token)
}

/// The tracer's side of a copy.
#[derive(Clone, Copy)]
enum Tracer {
    Reads(UserSliceWo),
    Writes(UserSliceRo),
}

/// The part of `buf` for the chunk that starts `done` bytes in.
fn window<const R: bool, const W: bool>(
    buf: UserSlice<R, W>,
    done: usize,
    len: usize,
) -> Result<UserSlice<R, W>> {
    buf.advance(done)
        .and_then(|rest| rest.limit(len))
        .ok_or(Error::new(EINVAL))
}

fn copy(
    tracee: &Arc<ContextLock>,
    address: u64,
    tracer: Tracer,
    token: &mut CleanLockToken,
) -> Result<usize> {
    let (len, write) = match tracer {
        Tracer::Reads(buf) => (buf.len(), false),
        Tracer::Writes(buf) => (buf.len(), true),
    };
    let addr_space = Arc::clone(tracee.read(token.token()).addr_space()?);
    let mut bounce = vec![0_u8; PAGE_SIZE];
    let mut done = 0_usize;
    for chunk in chunks(address, len, PAGE_SIZE, crate::USER_END_OFFSET)? {
        let staged = bounce.get_mut(..chunk.len).ok_or(Error::new(EINVAL))?;
        let in_frame = chunk.offset..chunk.offset.saturating_add(chunk.len);
        if let Tracer::Writes(buf) = tracer {
            window(buf, done, chunk.len)?.copy_to_slice(staged)?;
        }
        let page = Page::containing_address(VirtualAddress::new(chunk.page));
        let copied = tracer_access(&addr_space, page, write, token, |frame| {
            let bytes = frame.get_mut(in_frame)?;
            match tracer {
                Tracer::Reads(_) => staged.copy_from_slice(bytes),
                Tracer::Writes(_) => bytes.copy_from_slice(staged),
            }
            Some(())
        });
        match copied {
            Ok(Some(())) => {}
            Ok(None) => return Err(Error::new(EINVAL)),
            // Nothing at the start is an error; further on, the access ends at the mapping's end.
            Err(error) if done == 0 => return Err(error),
            Err(_) => break,
        }
        if let Tracer::Reads(buf) = tracer {
            window(buf, done, chunk.len)?.copy_from_slice(staged)?;
        }
        done = done.saturating_add(chunk.len);
    }
    Ok(done)
}

/// Runs `access` on the frame behind `page` of `addr_space_lock`, with the address space locked
/// so the frame stays put. The page is faulted in as the tracee's own access would.
///
/// With `write`, a private page is first made this address space's own even where the grant is
/// read-only, so a debugger can plant a breakpoint in code without changing the frame other
/// address spaces share copy-on-write; the tracee's mapping keeps its protection. Shared and
/// borrowed memory is written only where the grant allows it.
///
/// RETURNS: `EFAULT` where nothing is (or can be) mapped, `EACCES` for a write the grant and its
/// sharing forbid, or for a frame outside RAM; `ENOMEM`.
fn tracer_access<T>(
    addr_space_lock: &Arc<AddrSpaceWrapper>,
    page: Page,
    write: bool,
    token: &mut CleanLockToken,
    access: impl FnOnce(&mut [u8; PAGE_SIZE]) -> T,
) -> Result<T> {
    let mut lock_token = token.token();
    let mut addr_space = addr_space_lock.acquire_write(lock_token.downgrade());
    let (_, info) = addr_space.grants.contains(page).ok_or(Error::new(EFAULT))?;
    let private = matches!(info.provider, Provider::Allocated { .. });
    let grant_writable = info.flags().has_write();
    if write && !private && !grant_writable {
        return Err(Error::new(EACCES));
    }

    let needed = if write && grant_writable {
        AccessMode::Write
    } else {
        AccessMode::Read
    };
    let mapped = addr_space.table.utable.translate(page.start_address());
    let mut frame = match mapped {
        Some((phys, flags)) if needed == AccessMode::Read || flags.has_write() => {
            Frame::containing(phys)
        }
        _ => {
            let (frame, flush, guard) = correct_inner(addr_space_lock, addr_space, page, needed, 0)
                .map_err(|error| match error {
                    PfError::Oom => Error::new(ENOMEM),
                    _ => Error::new(EFAULT),
                })?;
            flush.flush();
            addr_space = guard;
            frame
        }
    };

    // Only RAM the frame allocator manages is in the kernel's map of RAM: device memory mapped
    // through `memory:physical` (or borrowed from such a mapping) is not, and is never touched.
    let info = get_page_info(frame).ok_or(Error::new(EACCES))?;
    if write && !grant_writable && !info.allows_writable() {
        let result = cow(frame, info, RefKind::Cow).map_err(|_| Error::new(ENOMEM))?;
        let mut flusher = Flusher::with_cpu_set(&addr_space_lock.used_by, &addr_space_lock.tlb_ack);
        // SAFETY: the page is mapped (translated or faulted in above) and the lock is held.
        unsafe {
            addr_space
                .table
                .utable
                .remap_with_full(page.start_address(), |_, flags| {
                    Some((result.new_frame.base(), flags))
                })
                .ok_or(Error::new(EFAULT))?
                .2
                .ignore();
        }
        if let Some(old_frame) = result.old_frame {
            flusher.queue(old_frame, None, TlbShootdownActions::FREE);
        }
        flusher.flush();
        frame = result.new_frame;
    }

    // SAFETY: the frame is mapped in this address space, whose lock is held until we return.
    let bytes = unsafe { &mut *(RmmA::phys_to_virt(frame.base()).data() as *mut [u8; PAGE_SIZE]) };
    Ok(access(bytes))
}
