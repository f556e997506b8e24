//! The `mem` handle: a tracee's memory, where the file offset is the virtual address.
//!
//! Each access resolves the context's address space anew, so a handle keeps working after the
//! tracee's address space is replaced (exec). Bytes pass through a kernel buffer one page at a
//! time: the tracee's address-space lock is never held while the tracer's buffer is touched,
//! which matters when tracer and tracee share an address space.

use alloc::{sync::Arc, vec};

use trace_core::mem::chunks;

use crate::{
    context::{memory::tracer_access, ContextLock},
    memory::{Page, VirtualAddress, PAGE_SIZE},
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EINVAL},
        usercopy::{UserSliceRo, UserSliceWo},
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
    let addr_space = Arc::clone(tracee.read(token.token()).addr_space()?);
    let mut bounce = vec![0_u8; PAGE_SIZE];
    let mut done = 0;
    for chunk in chunks(address, buf.len(), PAGE_SIZE, crate::USER_END_OFFSET)? {
        let staged = bounce.get_mut(..chunk.len).ok_or(Error::new(EINVAL))?;
        let page = Page::containing_address(VirtualAddress::new(chunk.page));
        let copied = tracer_access(&addr_space, page, false, token, |frame| {
            frame
                .get(chunk.offset..chunk.offset + chunk.len)
                .map(|src| staged.copy_from_slice(src))
        });
        match copied {
            Ok(Some(())) => {}
            Ok(None) => return Err(Error::new(EINVAL)),
            Err(error) if done == 0 => return Err(error),
            Err(_) => break,
        }
        buf.advance(done)
            .and_then(|rest| rest.limit(chunk.len))
            .ok_or(Error::new(EINVAL))?
            .copy_from_slice(staged)?;
        done += chunk.len;
    }
    Ok(done)
}

/// `write` on a `mem` handle: copies `buf` into tracee memory at `address`. Read-only private
/// memory (code) is written too, copy-on-write safely; see `tracer_access`.
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
    let addr_space = Arc::clone(tracee.read(token.token()).addr_space()?);
    let mut bounce = vec![0_u8; PAGE_SIZE];
    let mut done = 0;
    for chunk in chunks(address, buf.len(), PAGE_SIZE, crate::USER_END_OFFSET)? {
        let staged = bounce.get_mut(..chunk.len).ok_or(Error::new(EINVAL))?;
        buf.advance(done)
            .and_then(|rest| rest.limit(chunk.len))
            .ok_or(Error::new(EINVAL))?
            .copy_to_slice(staged)?;
        let page = Page::containing_address(VirtualAddress::new(chunk.page));
        let written = tracer_access(&addr_space, page, true, token, |frame| {
            frame
                .get_mut(chunk.offset..chunk.offset + chunk.len)
                .map(|dst| dst.copy_from_slice(staged))
        });
        match written {
            Ok(Some(())) => {}
            Ok(None) => return Err(Error::new(EINVAL)),
            Err(error) if done == 0 => return Err(error),
            Err(_) => break,
        }
        done += chunk.len;
    }
    Ok(done)
}
