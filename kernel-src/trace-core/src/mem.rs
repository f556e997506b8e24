//! How a `mem` handle access splits into pages: the kernel copies one page at a time, so that
//! it never holds the tracee's address-space lock while touching the tracer's buffer.

use syscall::error::{Error, Result, EFAULT};

/// One page's part of an access: `len` bytes at `offset` in the page at `page`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Chunk {
    pub page: usize,
    pub offset: usize,
    pub len: usize,
}

/// The chunks of an access of `len` bytes at `address`, clipped to user space (which ends at
/// `user_end`) so that a range running past it gives a short count.
///
/// RETURNS: `EFAULT` when `address` is not in user space at all.
pub fn chunks(
    address: u64,
    len: usize,
    page_size: usize,
    user_end: usize,
) -> Result<impl Iterator<Item = Chunk>> {
    let start = usize::try_from(address)
        .ok()
        .filter(|start| *start < user_end)
        .ok_or(Error::new(EFAULT))?;
    let end = start.saturating_add(len).min(user_end);
    let mut next = start;
    Ok(core::iter::from_fn(move || {
        if next >= end {
            return None;
        }
        let offset = next.checked_rem(page_size)?;
        let len = page_size.checked_sub(offset)?.min(end.checked_sub(next)?);
        let chunk = Chunk {
            page: next.checked_sub(offset)?,
            offset,
            len,
        };
        next = next.checked_add(len)?;
        Some(chunk)
    }))
}

#[cfg(test)]
mod tests {
    extern crate std;
    use super::*;
    use std::vec::Vec;

    const PAGE: usize = 4096;
    const END: usize = 0x8000_0000_0000;

    fn all(address: u64, len: usize) -> Result<Vec<Chunk>> {
        chunks(address, len, PAGE, END).map(Iterator::collect)
    }

    /// Verifies that an access inside one page is one chunk.
    #[test]
    fn within_a_page() {
        let chunk = Chunk {
            page: 0x1000,
            offset: 0x10,
            len: 8,
        };
        assert_eq!(all(0x1010, 8), Ok(std::vec![chunk]));
    }

    /// Verifies that an access across a page boundary splits at the boundary.
    #[test]
    fn across_a_boundary() {
        let first = Chunk {
            page: 0x1000,
            offset: 0xffc,
            len: 4,
        };
        let second = Chunk {
            page: 0x2000,
            offset: 0,
            len: 4,
        };
        assert_eq!(all(0x1ffc, 8), Ok(std::vec![first, second]));
    }

    /// Verifies that an access running past the end of user space is clipped, and one
    /// starting beyond it is EFAULT.
    #[test]
    fn clipped_at_user_end() {
        let chunks = all((END - 2) as u64, 16).expect("starts in user space");
        assert_eq!(chunks.iter().map(|c| c.len).sum::<usize>(), 2);
        assert_eq!(all(END as u64, 1), Err(Error::new(EFAULT)));
        assert_eq!(all(u64::MAX, 1), Err(Error::new(EFAULT)));
    }

    /// Verifies that a huge length does not overflow.
    #[test]
    fn huge_length_saturates() {
        let chunks = all((END - 3 * PAGE) as u64, usize::MAX).expect("starts in user space");
        assert_eq!(chunks.len(), 3);
        assert_eq!(chunks.last().map(|c| c.page), Some(END - PAGE));
    }

    /// Verifies that an empty access has no chunks.
    #[test]
    fn empty_access() {
        assert_eq!(all(0x1000, 0), Ok(Vec::new()));
    }
}
