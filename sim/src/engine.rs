//! The event engine: integer-nanosecond time and a `(time, seq)`-ordered event queue.
//!
//! Events at the same time run in the order they were scheduled (FIFO, `seq` is a counter), so a run is
//! reproducible. With [`EventQueue::with_tie_shuffle`] same-time events are instead permuted by a second
//! seed, to show that a result does not hinge on tie order (turmoil/nexosim discipline).

use std::cmp::Ordering;
use std::collections::BinaryHeap;

use rand::RngCore;
use rand_chacha::ChaCha8Rng;

use crate::api::SimTime;

struct Entry<E> {
    time: SimTime,
    tie: u64,
    seq: u64,
    ev: E,
}

impl<E> PartialEq for Entry<E> {
    fn eq(&self, o: &Self) -> bool {
        self.time == o.time && self.tie == o.tie && self.seq == o.seq
    }
}
impl<E> Eq for Entry<E> {}
impl<E> PartialOrd for Entry<E> {
    fn partial_cmp(&self, o: &Self) -> Option<Ordering> {
        Some(self.cmp(o))
    }
}
impl<E> Ord for Entry<E> {
    fn cmp(&self, o: &Self) -> Ordering {
        // BinaryHeap is a max-heap: reverse so the earliest (time, tie, seq) pops first.
        (o.time, o.tie, o.seq).cmp(&(self.time, self.tie, self.seq))
    }
}

/// A min-priority queue of events keyed by `(time, seq)`.
pub struct EventQueue<E> {
    heap: BinaryHeap<Entry<E>>,
    seq: u64,
    tie_rng: Option<ChaCha8Rng>,
    popped: u64,
}

impl<E> Default for EventQueue<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> EventQueue<E> {
    /// An empty FIFO-tie queue.
    pub fn new() -> Self {
        EventQueue {
            heap: BinaryHeap::with_capacity(1 << 12),
            seq: 0,
            tie_rng: None,
            popped: 0,
        }
    }

    /// An empty queue that permutes same-time events with the given RNG.
    pub fn with_tie_shuffle(rng: ChaCha8Rng) -> Self {
        EventQueue {
            tie_rng: Some(rng),
            ..Self::new()
        }
    }

    /// Schedules `ev` at `time`.
    #[inline]
    pub fn push(&mut self, time: SimTime, ev: E) {
        let seq = self.seq;
        self.seq += 1;
        let tie = match &mut self.tie_rng {
            Some(r) => r.next_u64(),
            None => 0,
        };
        self.heap.push(Entry { time, tie, seq, ev });
    }

    /// Removes and returns the earliest event.
    #[inline]
    pub fn pop(&mut self) -> Option<(SimTime, E)> {
        let e = self.heap.pop()?;
        self.popped += 1;
        Some((e.time, e.ev))
    }

    /// Time of the earliest event.
    #[inline]
    pub fn peek_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|e| e.time)
    }

    /// Pending events.
    pub fn len(&self) -> usize {
        self.heap.len()
    }

    /// Whether no event is pending.
    pub fn is_empty(&self) -> bool {
        self.heap.is_empty()
    }

    /// Events popped so far.
    pub fn popped(&self) -> u64 {
        self.popped
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;

    #[test]
    fn orders_by_time_then_fifo() {
        let mut q = EventQueue::new();
        q.push(5, "c");
        q.push(1, "a");
        q.push(5, "d");
        q.push(1, "b");
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order, vec!["a", "b", "c", "d"]);
    }

    #[test]
    fn tie_shuffle_permutes_only_same_time_events() {
        let mut q = EventQueue::with_tie_shuffle(ChaCha8Rng::seed_from_u64(7));
        for i in 0..50u32 {
            q.push(10, i);
        }
        q.push(1, 1000);
        q.push(20, 2000);
        let order: Vec<_> = std::iter::from_fn(|| q.pop()).map(|(_, e)| e).collect();
        assert_eq!(order[0], 1000);
        assert_eq!(*order.last().unwrap(), 2000);
        let mid = &order[1..51];
        assert_ne!(
            mid,
            (0..50).collect::<Vec<_>>().as_slice(),
            "same-time events were permuted"
        );
        let mut sorted = mid.to_vec();
        sorted.sort();
        assert_eq!(sorted, (0..50).collect::<Vec<_>>());
    }
}
