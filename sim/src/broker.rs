//! The eval broker and the blocked-evals tracker ([src] `nomad/eval_broker.go`, `nomad/blocked_evals.go`).
//!
//! Ready evaluations are served by **priority, then FIFO** (a counter stands in for `CreateIndex`). **At most
//! one evaluation per job is in flight** (ready or unacked); later ones wait in the job's pending set and are
//! promoted when the in-flight one is acked. Unacked evaluations are redelivered after the nack timeout, up
//! to the delivery limit. Blocked evaluations (one per job) wait for a capacity change.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};

use crate::ids::{EvalIx, JobIx};

/// Key ordering evaluations (or jobs): highest priority first, then oldest.
type Key<T> = (Reverse<u32>, u64, T);
type ReadyKey = Key<EvalIx>;
/// A blocked evaluation: its broker-order key, the eval, and the job's smallest (CPU, memory) ask.
type BlockedEntry = (Key<JobIx>, EvalIx, (u32, u32));

/// A position in the blocked set's broker order (see [`BlockedEvals::next_after`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BlockedPos(Key<JobIx>);

/// The eval broker.
#[derive(Debug, Default)]
pub struct EvalBroker {
    ready: BTreeSet<ReadyKey>,
    /// Per job: evaluations waiting because another one of the job is in flight.
    pending: BTreeMap<JobIx, BTreeSet<ReadyKey>>,
    /// Jobs with an evaluation ready or unacked.
    in_flight: BTreeSet<JobIx>,
    unacked: usize,
    seq: u64,
}

impl EvalBroker {
    /// An empty broker.
    pub fn new() -> Self {
        Self::default()
    }

    /// Enqueues `eval` of `job` at `priority`. Returns true if it became ready (false: it waits behind
    /// another evaluation of the same job).
    pub fn enqueue(&mut self, eval: EvalIx, job: JobIx, priority: u32) -> bool {
        let key = (Reverse(priority), self.seq, eval);
        self.seq += 1;
        if self.in_flight.contains(&job) {
            self.pending.entry(job).or_default().insert(key);
            false
        } else {
            self.in_flight.insert(job);
            self.ready.insert(key);
            true
        }
    }

    /// Takes the next ready evaluation (highest priority, then oldest).
    pub fn dequeue(&mut self) -> Option<EvalIx> {
        let k = self.ready.pop_first()?;
        self.unacked += 1;
        Some(k.2)
    }

    /// Acknowledges the in-flight evaluation of `job`; promotes the job's next pending one, if any.
    pub fn ack(&mut self, job: JobIx) {
        self.unacked = self.unacked.saturating_sub(1);
        self.release(job);
    }

    /// The in-flight evaluation of `job` was nacked (timed out) and will be re-enqueued later (or failed):
    /// the job stays in flight so no other evaluation of it starts meanwhile.
    pub fn nack(&mut self) {
        self.unacked = self.unacked.saturating_sub(1);
    }

    /// Re-enqueues a nacked evaluation of a job that is still in flight.
    pub fn requeue(&mut self, eval: EvalIx, priority: u32) {
        let key = (Reverse(priority), self.seq, eval);
        self.seq += 1;
        self.ready.insert(key);
    }

    /// The nacked evaluation of `job` failed for good: promote the job's next pending one.
    pub fn fail(&mut self, job: JobIx) {
        self.release(job);
    }

    fn release(&mut self, job: JobIx) {
        let next = self.pending.get_mut(&job).and_then(|p| p.pop_first());
        match next {
            Some(k) => {
                self.ready.insert(k);
            }
            None => {
                self.in_flight.remove(&job);
                self.pending.remove(&job);
            }
        }
    }

    /// Ready evaluations.
    pub fn ready_len(&self) -> usize {
        self.ready.len()
    }

    /// Unacked (in-flight) evaluations.
    pub fn unacked_len(&self) -> usize {
        self.unacked
    }

    /// Evaluations waiting behind another of their job.
    #[cfg(test)]
    pub fn pending_len(&self) -> usize {
        self.pending.values().map(|p| p.len()).sum()
    }
}

/// Blocked evaluations: at most one per job, kept in broker order (priority, then age) so a capacity change
/// can release them in the order the broker would serve them.
#[derive(Debug, Default)]
pub struct BlockedEvals {
    by_job: BTreeMap<JobIx, BlockedEntry>,
    /// Multisets of the smallest CPU and memory asks of blocked jobs (to stop scanning early).
    cpu_asks: BTreeMap<u32, u32>,
    mem_asks: BTreeMap<u32, u32>,
    ordered: BTreeSet<Key<JobIx>>,
    seq: u64,
    /// Evaluations that were ever blocked.
    pub total_blocked_ever: u64,
}

impl BlockedEvals {
    /// Blocks `eval` of `job`. Returns a previously blocked eval of the same job that this one supersedes
    /// (Nomad cancels the older one).
    pub fn block(
        &mut self,
        job: JobIx,
        eval: EvalIx,
        priority: u32,
        ask: (u32, u32),
    ) -> Option<EvalIx> {
        self.total_blocked_ever += 1;
        self.reblock(job, eval, priority, ask)
    }

    /// Re-blocks an unblocked evaluation that still could not place (not counted as newly blocked).
    /// `ask` is the job's smallest (CPU MHz, memory MB) allocation.
    pub fn reblock(
        &mut self,
        job: JobIx,
        eval: EvalIx,
        priority: u32,
        ask: (u32, u32),
    ) -> Option<EvalIx> {
        let old = self.remove_job(job);
        let key = (Reverse(priority), self.seq, job);
        self.seq += 1;
        self.ordered.insert(key);
        self.by_job.insert(job, (key, eval, ask));
        *self.cpu_asks.entry(ask.0).or_default() += 1;
        *self.mem_asks.entry(ask.1).or_default() += 1;
        old
    }

    /// The smallest CPU and memory asks among blocked jobs (each may come from a different job).
    pub fn min_ask(&self) -> Option<(u32, u32)> {
        Some((*self.cpu_asks.keys().next()?, *self.mem_asks.keys().next()?))
    }

    /// Removes the blocked eval of `job` (job stopped, superseded or released), returning it.
    pub fn remove_job(&mut self, job: JobIx) -> Option<EvalIx> {
        let (key, e, ask) = self.by_job.remove(&job)?;
        self.ordered.remove(&key);
        for (m, v) in [(&mut self.cpu_asks, ask.0), (&mut self.mem_asks, ask.1)] {
            if let Some(c) = m.get_mut(&v) {
                *c -= 1;
                if *c == 0 {
                    m.remove(&v);
                }
            }
        }
        Some(e)
    }

    /// Capacity changed: every blocked evaluation is released, in broker order.
    #[cfg(test)]
    pub fn unblock_all(&mut self) -> Vec<(JobIx, EvalIx)> {
        let out = self.iter().collect();
        self.by_job.clear();
        self.ordered.clear();
        self.cpu_asks.clear();
        self.mem_asks.clear();
        out
    }

    /// Blocked evaluations now.
    pub fn len(&self) -> usize {
        self.by_job.len()
    }

    /// Whether none is blocked.
    pub fn is_empty(&self) -> bool {
        self.by_job.is_empty()
    }

    /// The first blocked (job, eval) in broker order after position `after` (`None`: from the start), with
    /// its position: a cursor that stays valid while entries at or before it are removed.
    pub fn next_after(&self, after: Option<BlockedPos>) -> Option<(BlockedPos, JobIx, EvalIx)> {
        use std::ops::Bound::{Excluded, Unbounded};
        let k = match after {
            None => self.ordered.iter().next()?,
            Some(p) => self.ordered.range((Excluded(p.0), Unbounded)).next()?,
        };
        Some((BlockedPos(*k), k.2, self.by_job[&k.2].1))
    }

    /// Blocked (job, eval) pairs in broker order (highest priority, then oldest).
    pub fn iter(&self) -> impl Iterator<Item = (JobIx, EvalIx)> + '_ {
        self.ordered.iter().map(|k| (k.2, self.by_job[&k.2].1))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn e(i: u32) -> EvalIx {
        EvalIx::new(i)
    }
    fn j(i: u32) -> JobIx {
        JobIx::new(i)
    }

    #[test]
    fn priority_then_fifo() {
        let mut b = EvalBroker::new();
        assert!(b.enqueue(e(1), j(10), 50));
        assert!(b.enqueue(e(2), j(11), 70));
        assert!(b.enqueue(e(3), j(12), 50));
        assert_eq!(b.dequeue(), Some(e(2)));
        assert_eq!(b.dequeue(), Some(e(1)));
        assert_eq!(b.dequeue(), Some(e(3)));
        assert_eq!(b.dequeue(), None);
        assert_eq!(b.unacked_len(), 3);
    }

    #[test]
    fn one_eval_per_job_in_flight() {
        let mut b = EvalBroker::new();
        assert!(b.enqueue(e(1), j(10), 50));
        assert!(
            !b.enqueue(e(2), j(10), 90),
            "second eval of the same job waits"
        );
        assert_eq!(b.pending_len(), 1);
        assert_eq!(b.dequeue(), Some(e(1)));
        assert_eq!(b.dequeue(), None, "job 10 already has one in flight");
        b.ack(j(10));
        assert_eq!(b.dequeue(), Some(e(2)));
        b.ack(j(10));
        assert!(b.enqueue(e(3), j(10), 50), "job is free again");
    }

    #[test]
    fn nack_requeue_keeps_job_in_flight() {
        let mut b = EvalBroker::new();
        b.enqueue(e(1), j(10), 50);
        assert_eq!(b.dequeue(), Some(e(1)));
        b.nack();
        assert!(!b.enqueue(e(2), j(10), 50));
        b.requeue(e(1), 50);
        assert_eq!(b.dequeue(), Some(e(1)));
        b.ack(j(10));
        assert_eq!(b.dequeue(), Some(e(2)));
    }

    #[test]
    fn blocked_evals_one_per_job() {
        let mut bl = BlockedEvals::default();
        assert_eq!(bl.block(j(1), e(100), 50, (1, 1)), None);
        assert_eq!(bl.block(j(1), e(101), 50, (1, 1)), Some(e(100)));
        bl.block(j(2), e(200), 80, (5, 9));
        bl.block(j(3), e(300), 50, (2, 2));
        assert_eq!(bl.len(), 3);
        assert_eq!(bl.min_ask(), Some((1, 1)));
        assert_eq!(
            bl.unblock_all(),
            vec![(j(2), e(200)), (j(1), e(101)), (j(3), e(300))],
            "priority first, then age"
        );
        assert!(bl.is_empty());
    }
}
