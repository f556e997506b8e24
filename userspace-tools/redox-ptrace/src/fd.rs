//! Owned handles and the numbers they live at.
//!
//! The Redox kernel does not pick fd numbers: `dup_into` and `openat_into` take the slot the new
//! handle goes to, and fail with `EEXIST` when it is taken. Every call in [`crate::raw`] that
//! creates a handle therefore asks an [`FdAllocator`] for a number.
//!
//! The default, [`HighRange`], hands out slots of the *upper* file table
//! (`UPPER_FDTBL_TAG | n`) from a high range, counting up and wrapping. relibc fills the upper
//! table from the lowest free slot and uses a handful of entries, so the two do not meet in
//! practice; a collision shows up as `EEXIST`, and the raw layer then simply asks for the next
//! number (see [`crate::raw`]). A program that manages its own table (the QEMU test runner) can
//! implement [`FdAllocator`] itself and use the `*_into` forms of the raw calls.
//!
//! Handles made this way are invisible to relibc: they are not closed by relibc's `O_CLOEXEC`
//! emulation on exec. [`HighRange::close_all`] exists for a forked child that is about to exec.

use core::sync::atomic::{AtomicUsize, Ordering};

use syscall::{error::Result, number::SYS_CLOSE, UPPER_FDTBL_TAG};

/// Chooses the slot a new handle goes to.
pub trait FdAllocator: Sync {
    /// A slot that is probably free. The kernel has the last word: a taken slot gives `EEXIST`
    /// and the caller asks again (at most [`FdAllocator::attempts`] times).
    fn allocate(&self) -> usize;

    /// How many numbers a caller tries before giving up with `EEXIST`.
    fn attempts(&self) -> usize {
        8
    }
}

/// The default allocator: an atomic counter over `len` slots of the upper table from `first`.
#[derive(Debug)]
pub struct HighRange {
    first: usize,
    len: usize,
    next: AtomicUsize,
}

impl HighRange {
    /// Slots `UPPER_FDTBL_TAG | first ..= UPPER_FDTBL_TAG | first + len - 1`.
    pub const fn new(first: usize, len: usize) -> Self {
        Self {
            first,
            len,
            next: AtomicUsize::new(0),
        }
    }

    /// Closes every slot of the range this allocator has handed out so far, ignoring errors.
    ///
    /// Meant for a forked child right before exec: relibc does not know these handles, so it
    /// would not close them, and the new program would inherit its parent's trace handles.
    pub fn close_all(&self) {
        let used = self.next.load(Ordering::Relaxed).min(self.len);
        for index in 0..used {
            if let Some(slot) = self.first.checked_add(index) {
                // SAFETY: closing a slot of our own range; a free slot gives EBADF, ignored.
                let _ = unsafe { syscall::syscall1(SYS_CLOSE, UPPER_FDTBL_TAG | slot) };
            }
        }
    }
}

impl FdAllocator for HighRange {
    fn allocate(&self) -> usize {
        let n = self.next.fetch_add(1, Ordering::Relaxed);
        let offset = n.checked_rem(self.len).unwrap_or(0);
        UPPER_FDTBL_TAG | self.first.saturating_add(offset)
    }
}

/// What [`default_allocator`] returns: upper-table slots 0x2000..0x4000.
pub static DEFAULT_ALLOCATOR: HighRange = HighRange::new(0x2000, 0x2000);

/// The allocator the plain (non-`_into`) raw calls use.
pub fn default_allocator() -> &'static HighRange {
    &DEFAULT_ALLOCATOR
}

/// An owned handle; closing it is the last thing that happens to it.
#[derive(Debug, PartialEq, Eq)]
pub struct Fd(usize);

impl Fd {
    /// Takes ownership of `raw`.
    ///
    /// # Safety
    /// `raw` must be an open handle of this process that nothing else closes.
    pub const unsafe fn from_raw(raw: usize) -> Self {
        Self(raw)
    }

    pub fn raw(&self) -> usize {
        self.0
    }

    /// Gives up ownership without closing.
    pub fn into_raw(self) -> usize {
        let raw = self.0;
        core::mem::forget(self);
        raw
    }

    /// Closes now and reports the error `Drop` would swallow. Closing is where the kernel
    /// commits some changes (`current-addrspace`, `current-filetable`), and where an `O_EXCL`
    /// trace handle kills its tracee.
    pub fn close(self) -> Result<()> {
        let raw = self.into_raw();
        // SAFETY: we owned `raw` and give it up here.
        unsafe { syscall::syscall1(SYS_CLOSE, raw) }.map(drop)
    }
}

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: we own the handle. redox_syscall 0.9.2 has no close() wrapper.
        let _ = unsafe { syscall::syscall1(SYS_CLOSE, self.0) };
    }
}

/// Declares an owned-handle newtype around [`Fd`].
macro_rules! handle {
    ($(#[$meta:meta])* $name:ident) => {
        $(#[$meta])*
        #[derive(Debug, PartialEq, Eq)]
        pub struct $name(pub(crate) crate::fd::Fd);

        impl $name {
            /// Takes ownership of an open handle of this kind.
            ///
            /// # Safety
            /// `raw` must be an open handle of this kind that nothing else closes.
            pub const unsafe fn from_raw(raw: usize) -> Self {
                // SAFETY: forwarded to the caller.
                Self(unsafe { crate::fd::Fd::from_raw(raw) })
            }

            pub fn raw(&self) -> usize {
                self.0.raw()
            }

            pub fn into_fd(self) -> crate::fd::Fd {
                self.0
            }

            /// Closes now, reporting the error (see [`crate::fd::Fd::close`]).
            pub fn close(self) -> syscall::error::Result<()> {
                self.0.close()
            }
        }
    };
}

handle!(
    /// A `kernel.proc` context handle: the capability to trace (and to read the registers of)
    /// one context. From `dup(auth, "new-context")`, from procmgr (`thread-N` of a process
    /// handle), or handed over by a tracee (see `spawn`).
    ContextFd
);
handle!(
    /// A trace handle, from `dup(context, "trace")`: writes arm and resume, reads give
    /// `TraceEvent`s. Closing it detaches (or kills the tracee, when opened with `O_EXCL`).
    TraceFd
);
handle!(
    /// A `mem` handle on a context (issue 4, not in the kernel yet): file offset = address.
    MemFd
);
handle!(
    /// An `event:` queue: register handles by writing `Event`s, read `Event`s back.
    EventQueueFd
);

#[cfg(test)]
mod tests {
    use super::*;

    /// Verifies that the default allocator stays inside its range of the upper table and wraps.
    #[test]
    fn high_range_wraps_inside_upper_table() {
        let range = HighRange::new(0x100, 3);
        let got: [usize; 4] = core::array::from_fn(|_| range.allocate());
        let tag = UPPER_FDTBL_TAG;
        assert_eq!(got, [tag | 0x100, tag | 0x101, tag | 0x102, tag | 0x100]);
    }

    /// Verifies that an empty range does not panic and keeps returning its first slot.
    #[test]
    fn empty_range_is_harmless() {
        let range = HighRange::new(7, 0);
        assert_eq!(range.allocate(), UPPER_FDTBL_TAG | 7);
    }
}
