//! A fixed-size FIFO of trace events.
//!
//! A tracee is in at most one stop at a time, so a session queues one stop plus a few notices
//! (address-space switches). A fixed array keeps the tracee's stop path free of allocation.

use crate::abi::TraceEvent;

#[derive(Debug)]
pub struct EventQueue<const N: usize> {
    slots: [TraceEvent; N],
    head: usize,
    len: usize,
    /// How many events were ever popped: the position of the front event.
    popped: u64,
}

/// The queue had no room; the event was not queued.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Full;

impl<const N: usize> EventQueue<N> {
    pub const fn new() -> Self {
        Self {
            slots: [TraceEvent {
                cause: 0,
                data: [0; 7],
            }; N],
            head: 0,
            len: 0,
            popped: 0,
        }
    }

    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    pub fn is_full(&self) -> bool {
        self.len == N
    }

    /// Whether an event equal to `event` is queued.
    pub fn contains(&self, event: &TraceEvent) -> bool {
        (0..self.len).any(|offset| {
            self.head
                .checked_add(offset)
                .and_then(|index| index.checked_rem(N))
                .and_then(|index| self.slots.get(index))
                == Some(event)
        })
    }

    pub fn push(&mut self, event: TraceEvent) -> Result<(), Full> {
        if self.len == N {
            return Err(Full);
        }
        let tail = self
            .head
            .checked_add(self.len)
            .and_then(|index| index.checked_rem(N))
            .ok_or(Full)?;
        *self.slots.get_mut(tail).ok_or(Full)? = event;
        self.len = self.len.checked_add(1).ok_or(Full)?;
        Ok(())
    }

    /// The position of the front event: it changes exactly when an event is popped.
    pub fn position(&self) -> u64 {
        self.popped
    }

    /// Copies the front events into `out`, oldest first, as many as are queued and fit;
    /// returns how many.
    pub fn peek(&self, out: &mut [TraceEvent]) -> usize {
        let mut count = 0;
        for (offset, slot) in out.iter_mut().enumerate().take(self.len) {
            let Some(event) = self
                .head
                .checked_add(offset)
                .and_then(|index| index.checked_rem(N))
                .and_then(|index| self.slots.get(index))
            else {
                break;
            };
            *slot = *event;
            count = offset.saturating_add(1);
        }
        count
    }

    pub fn pop(&mut self) -> Option<TraceEvent> {
        if self.len == 0 {
            return None;
        }
        let event = *self.slots.get(self.head)?;
        self.head = self.head.checked_add(1)?.checked_rem(N)?;
        self.len = self.len.checked_sub(1)?;
        self.popped = self.popped.wrapping_add(1);
        Some(event)
    }
}

impl<const N: usize> Default for EventQueue<N> {
    fn default() -> Self {
        Self::new()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::abi::Stop;

    fn step(ip: usize) -> TraceEvent {
        Stop::SingleStep { ip }.into()
    }

    /// Verifies that events come out in the order they went in, across the wrap-around.
    #[test]
    fn fifo_order_survives_wraparound() {
        let mut queue = EventQueue::<3>::new();
        for round in 0..5 {
            assert_eq!(queue.push(step(round)), Ok(()));
            assert_eq!(queue.push(step(round + 100)), Ok(()));
            assert_eq!(queue.pop(), Some(step(round)));
            assert_eq!(queue.pop(), Some(step(round + 100)));
        }
        assert!(queue.is_empty());
    }

    /// Verifies that a full queue refuses an event and keeps the ones it has.
    #[test]
    fn full_queue_refuses_push() {
        let mut queue = EventQueue::<2>::new();
        assert_eq!(queue.push(step(1)), Ok(()));
        assert_eq!(queue.push(step(2)), Ok(()));
        assert_eq!(queue.push(step(3)), Err(Full));
        assert_eq!(queue.len(), 2);
        assert_eq!(queue.pop(), Some(step(1)));
    }

    /// Verifies that popping an empty queue gives nothing.
    #[test]
    fn empty_queue_pops_nothing() {
        let mut queue = EventQueue::<1>::new();
        let mut out = [step(0); 1];
        assert_eq!(queue.peek(&mut out), 0);
        assert_eq!(queue.pop(), None);
        assert_eq!(queue.position(), 0);
    }

    /// Verifies that peeking copies the front events in order across the wrap-around without
    /// consuming them, and that only a pop moves the position.
    #[test]
    fn peek_copies_without_consuming() {
        let mut queue = EventQueue::<3>::new();
        assert_eq!(queue.push(step(1)), Ok(()));
        assert_eq!(queue.pop(), Some(step(1)));
        for ip in [2, 3, 4] {
            assert_eq!(queue.push(step(ip)), Ok(()));
        }
        let mut two = [step(0); 2];
        assert_eq!(queue.peek(&mut two), 2);
        assert_eq!(two, [step(2), step(3)]);
        let mut five = [step(0); 5];
        assert_eq!(queue.peek(&mut five), 3);
        assert_eq!(five[..3], [step(2), step(3), step(4)]);
        assert_eq!(queue.position(), 1);
        assert_eq!(queue.len(), 3);
        assert_eq!(queue.pop(), Some(step(2)));
        assert_eq!(queue.position(), 2);
    }
}
