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
