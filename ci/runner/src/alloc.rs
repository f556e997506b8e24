//! The global allocator: power-of-two size classes carved from a static arena.
//!
//! Every block is rounded up to a power of two (at least [`MIN_BLOCK`]) and aligned to its own
//! size, so alignment always holds. Freed blocks go on their class's free list and are reused
//! as they are; there is no coalescing, which a test runner's short-lived `format!`s and
//! `Vec`s do not need. The arena lives in the blob's `.data` (see link.ld).
//!
//! Children share the runner's address space and so this allocator; a spin lock serialises
//! them. A child killed while it holds the lock leaves it held, so children that may be
//! killed must not allocate.

use core::{
    alloc::{GlobalAlloc, Layout},
    cell::UnsafeCell,
    hint::spin_loop,
    ptr::null_mut,
    sync::atomic::{AtomicBool, Ordering},
};

const ARENA_SIZE: usize = 256 * 1024;
const MIN_BLOCK: usize = 16;
/// Classes 16 B, 32 B, …, up to the whole arena.
const CLASSES: usize = (ARENA_SIZE / MIN_BLOCK).trailing_zeros() as usize + 1;

#[repr(C, align(4096))]
struct Arena([u8; ARENA_SIZE]);

#[unsafe(link_section = ".data.heap")]
static mut ARENA: Arena = Arena([0; ARENA_SIZE]);

struct State {
    /// Offset of the first never-used byte of the arena.
    next: usize,
    /// Head of each class's free list; a free block's first word points to the next one.
    free: [*mut u8; CLASSES],
}

struct Heap {
    locked: AtomicBool,
    state: UnsafeCell<State>,
}

// SAFETY: `state` is only touched with `locked` held.
unsafe impl Sync for Heap {}

#[global_allocator]
static HEAP: Heap = Heap {
    locked: AtomicBool::new(false),
    state: UnsafeCell::new(State {
        next: 0,
        free: [null_mut(); CLASSES],
    }),
};

/// The class of a layout and its block size, or `None` if no class is big enough.
fn class_of(layout: Layout) -> Option<(usize, usize)> {
    let size = layout
        .size()
        .max(layout.align())
        .max(MIN_BLOCK)
        .checked_next_power_of_two()?;
    let class = (size / MIN_BLOCK).trailing_zeros() as usize;
    (class < CLASSES).then_some((class, size))
}

impl Heap {
    fn with_state<R>(&self, f: impl FnOnce(&mut State) -> R) -> R {
        while self
            .locked
            .compare_exchange_weak(false, true, Ordering::Acquire, Ordering::Relaxed)
            .is_err()
        {
            spin_loop();
        }
        // SAFETY: the lock is held, so this is the only reference.
        let result = f(unsafe { &mut *self.state.get() });
        self.locked.store(false, Ordering::Release);
        result
    }
}

unsafe impl GlobalAlloc for Heap {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let Some((class, size)) = class_of(layout) else {
            return null_mut();
        };
        self.with_state(|state| {
            let head = state.free[class];
            if !head.is_null() {
                // SAFETY: a free block starts with the pointer to the next free block.
                state.free[class] = unsafe { head.cast::<*mut u8>().read() };
                return head;
            }
            let start = state.next.next_multiple_of(size);
            match start.checked_add(size) {
                Some(end) if end <= ARENA_SIZE => {
                    state.next = end;
                    // SAFETY: [start, end) lies inside the arena and was never handed out.
                    unsafe { (&raw mut ARENA).cast::<u8>().add(start) }
                }
                _ => null_mut(),
            }
        })
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        let Some((class, _)) = class_of(layout) else {
            return;
        };
        self.with_state(|state| {
            // SAFETY: the block is ours again and at least MIN_BLOCK bytes, pointer aligned.
            unsafe { ptr.cast::<*mut u8>().write(state.free[class]) };
            state.free[class] = ptr;
        });
    }
}
