//! `read` and `write` on a trace handle: the event stream, and the parts `dup` opens from it
//! (`filter` here; `interrupt` with the arming; `watch` and `xsave` in the architecture's file).

use core::sync::atomic::Ordering;

use trace_core::{filter::FILTER_MAX, SyscallFilter};

use super::{
    arch,
    arming::{publish, write_flags, write_interrupt},
    session::{Handle, Part, Session},
    stop::read_events,
};
use crate::{
    sync::CleanLockToken,
    syscall::{
        error::{Error, Result, EINVAL},
        usercopy::{UserSliceRo, UserSliceWo},
    },
};

/// `write` on a trace handle or one of its parts.
///
/// CONTEXT: may sleep (a tracee running on another CPU is switched out once, so that CPU picks
/// up what changed).
pub fn write(handle: &Handle, buf: UserSliceRo, token: &mut CleanLockToken) -> Result<usize> {
    match handle.part {
        Part::Events => write_flags(&handle.session, buf, token),
        Part::Filter => write_filter(&handle.session, buf, token),
        Part::Interrupt => write_interrupt(&handle.session, buf, token),
        Part::Arch(part) => arch::write(part, &handle.session, buf, token),
    }
}

/// `read` on a trace handle or one of its parts.
///
/// CONTEXT: reads of the event stream sleep until an event arrives, unless `O_NONBLOCK` is in
/// `fcntl_flags`.
pub fn read(
    handle: &Handle,
    buf: UserSliceWo,
    fcntl_flags: u32,
    token: &mut CleanLockToken,
) -> Result<usize> {
    match handle.part {
        Part::Events => read_events(&handle.session, buf, fcntl_flags, token),
        Part::Filter => read_filter(&handle.session, buf, token),
        // Nothing to read: the stop it asks for comes on the event stream.
        Part::Interrupt => Err(Error::new(EINVAL)),
        Part::Arch(part) => arch::read(part, &handle.session, buf, token),
    }
}

/// The filter's `write`: replaces the set of syscalls that stop (`SyscallFilter::parse`).
/// Takes effect at the tracee's next syscall, also when written at a stop.
///
/// RETURNS: `EINVAL` for a malformed set.
fn write_filter(session: &Session, buf: UserSliceRo, token: &mut CleanLockToken) -> Result<usize> {
    let mut raw = [0_u8; FILTER_MAX * 8];
    let raw = raw.get_mut(..buf.len()).ok_or(Error::new(EINVAL))?;
    buf.copy_to_slice(raw)?;
    let filter = SyscallFilter::parse(raw)?;
    session.state.lock(token.token()).set_filter(filter);
    let mask = filter.mask().to_words();
    publish(session, token, || {
        for (word, value) in session.filter_mask.iter().zip(mask) {
            word.store(value, Ordering::Relaxed);
        }
    })?;
    Ok(raw.len())
}

/// The filter's `read`: the set as a write gives it (the lone `FILTER_ALL` word when every
/// syscall stops).
///
/// RETURNS: `EINVAL` when `buf` is too small for the whole set.
fn read_filter(session: &Session, buf: UserSliceWo, token: &mut CleanLockToken) -> Result<usize> {
    let filter = *session.state.lock(token.token()).filter();
    let mut raw = [0_u8; FILTER_MAX * 8];
    let len = filter.encode(&mut raw)?;
    let raw = raw.get(..len).ok_or(Error::new(EINVAL))?;
    if buf.len() < len {
        return Err(Error::new(EINVAL));
    }
    buf.copy_common_bytes_from_slice(raw)
}
