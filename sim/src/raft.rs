//! Raft on the leader: log appends with byte sizes, fsync latency, replication, commit on quorum, FSM apply.
//!
//! Every job register, plan result, eval update and batch of client updates is a log entry with a modelled
//! size ([`crate::params::ModelParams`] `raft_*_bytes`). The leader writes queued entries in batches of up to
//! [`MAX_APPEND_ENTRIES`] ([src] hashicorp/raft `MaxAppendEntries`), each batch costing one fsync (log-normal
//! latency) plus bytes / disk bandwidth. Followers receive the batch one RTT later and fsync it too; an entry
//! commits when a quorum has it. Committed entries are applied to the FSM one at a time, in log order, on a
//! single goroutine ([src] `raft.runFSM`), so FSM apply cost is a serial resource: the first-order limit of
//! plan throughput in large clusters. Snapshots are taken every `raft_snapshot_threshold` entries (at most
//! once per `raft_snapshot_interval`) and write the whole state.

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, StandardNormal};

use crate::driver::SimTime;
use crate::params::ModelParams;

/// Most entries per disk write / AppendEntries RPC ([src] hashicorp/raft default 64).
pub const MAX_APPEND_ENTRIES: usize = 64;

/// Leader-side Raft timing model.
pub struct RaftModel {
    queue: VecDeque<(u32, u64)>,
    in_write: Vec<(u32, u64)>,
    write_start: SimTime,
    disk_busy: bool,
    fsm_free_at: SimTime,
    rng: ChaCha8Rng,
    followers: u32,
    /// Cumulative log bytes written by the leader (plus snapshots).
    pub bytes_written: u64,
    /// Cumulative fsyncs.
    pub fsyncs: u64,
    /// Cumulative entries committed.
    pub entries: u64,
    entries_since_snapshot: u64,
    last_snapshot: SimTime,
    /// Snapshots taken.
    pub snapshots: u64,
    /// Sum of commit latencies (append → commit) over committed entries, ns (for commitTime).
    pub commit_ns_sum: u64,
}

/// A committed entry: `(entry id, commit time)`.
pub type Committed = (u32, SimTime);

impl RaftModel {
    /// A model for a cluster of `servers` servers.
    pub fn new(servers: u32, rng: ChaCha8Rng) -> Self {
        RaftModel {
            queue: VecDeque::new(),
            in_write: Vec::with_capacity(MAX_APPEND_ENTRIES),
            write_start: 0,
            disk_busy: false,
            fsm_free_at: 0,
            rng,
            followers: servers.saturating_sub(1),
            bytes_written: 0,
            fsyncs: 0,
            entries: 0,
            entries_since_snapshot: 0,
            last_snapshot: 0,
            snapshots: 0,
            commit_ns_sum: 0,
        }
    }

    fn lognormal_us(&mut self, median_us: u64, sigma: f64) -> u64 {
        let z: f64 = StandardNormal.sample(&mut self.rng);
        ((median_us as f64) * (sigma * z).exp() * 1_000.0) as u64
    }

    /// Queues entry `id` of `bytes`. Returns the completion time of a disk write if one started now.
    pub fn append(
        &mut self,
        now: SimTime,
        id: u32,
        bytes: u64,
        p: &ModelParams,
    ) -> Option<SimTime> {
        self.queue.push_back((id, bytes));
        if self.disk_busy {
            None
        } else {
            Some(self.start_write(now, p))
        }
    }

    fn start_write(&mut self, now: SimTime, p: &ModelParams) -> SimTime {
        self.in_write.clear();
        let mut bytes = 0;
        while self.in_write.len() < MAX_APPEND_ENTRIES {
            match self.queue.pop_front() {
                Some(e) => {
                    bytes += e.1;
                    self.in_write.push(e);
                }
                None => break,
            }
        }
        self.disk_busy = true;
        self.write_start = now;
        self.bytes_written += bytes;
        self.fsyncs += 1;
        let fsync = self.lognormal_us(p.raft_fsync_median_us, p.raft_fsync_sigma);
        let xfer = bytes * 1_000_000_000 / p.raft_disk_bytes_per_s.max(1);
        now + fsync + xfer
    }

    /// The leader's disk write finished at `now`. Returns the committed entries with their commit time, and
    /// the completion time of the next write if one started.
    pub fn on_disk_done(
        &mut self,
        now: SimTime,
        p: &ModelParams,
        out: &mut Vec<Committed>,
    ) -> Option<SimTime> {
        let bytes: u64 = self.in_write.iter().map(|e| e.1).sum();
        // Quorum: the leader plus floor(servers/2) followers. Followers receive the batch one RTT after the
        // leader started writing, then write it themselves; the needed follower is the quorum-th fastest.
        let commit = if self.followers == 0 {
            now
        } else {
            let need = self.followers.div_ceil(2) as usize;
            let mut acks: Vec<SimTime> = (0..self.followers)
                .map(|_| {
                    let fs = self.lognormal_us(p.raft_fsync_median_us, p.raft_fsync_sigma);
                    self.write_start
                        + p.raft_rtt_us * 1_000
                        + fs
                        + bytes * 1_000_000_000 / p.raft_disk_bytes_per_s.max(1)
                })
                .collect();
            acks.sort_unstable();
            now.max(acks[need - 1])
        };
        for &(id, _) in &self.in_write {
            out.push((id, commit));
            self.commit_ns_sum += commit - self.write_start;
        }
        self.entries += self.in_write.len() as u64;
        self.entries_since_snapshot += self.in_write.len() as u64;
        self.disk_busy = false;
        if self.queue.is_empty() {
            None
        } else {
            Some(self.start_write(now, p))
        }
    }

    /// Schedules the FSM apply of an entry committed at `commit` costing `cost_ns`; returns when it is applied.
    pub fn fsm_apply(&mut self, commit: SimTime, cost_ns: u64) -> SimTime {
        let start = commit.max(self.fsm_free_at);
        self.fsm_free_at = start + cost_ns;
        self.fsm_free_at
    }

    /// Whether a snapshot is due at `now`.
    pub fn snapshot_due(&self, now: SimTime, p: &ModelParams) -> bool {
        self.entries_since_snapshot >= p.raft_snapshot_threshold
            && now >= self.last_snapshot + p.raft_snapshot_interval_us * 1_000
    }

    /// Takes a snapshot of `state_bytes` at `now`; returns the bytes written.
    pub fn take_snapshot(&mut self, now: SimTime, state_bytes: u64) -> u64 {
        self.entries_since_snapshot = 0;
        self.last_snapshot = now;
        self.snapshots += 1;
        self.bytes_written += state_bytes;
        state_bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn batches_and_commits_in_order_on_quorum() {
        let p = ModelParams::default();
        let mut r = RaftModel::new(3, stream(1, "raft"));
        let done = r.append(0, 1, 1000, &p).expect("disk was idle");
        assert!(r.append(10, 2, 1000, &p).is_none(), "disk busy: queued");
        assert!(r.append(20, 3, 1000, &p).is_none());
        let mut out = Vec::new();
        let next = r
            .on_disk_done(done, &p, &mut out)
            .expect("second batch starts");
        assert_eq!(out.len(), 1);
        assert!(out[0].1 >= done);
        assert!(
            out[0].1 >= p.raft_rtt_us * 1000,
            "needs a follower round trip"
        );
        out.clear();
        assert!(r.on_disk_done(next, &p, &mut out).is_none());
        assert_eq!(
            out.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![2, 3],
            "entries 2 and 3 share one fsync"
        );
        assert_eq!(r.fsyncs, 2);
        assert_eq!(r.bytes_written, 3000);
    }

    #[test]
    fn fsm_is_serial() {
        let mut r = RaftModel::new(1, stream(1, "raft"));
        assert_eq!(r.fsm_apply(100, 50), 150);
        assert_eq!(r.fsm_apply(120, 50), 200, "waits for the previous apply");
        assert_eq!(r.fsm_apply(500, 50), 550);
    }
}
