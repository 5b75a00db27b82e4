//! Raft on the leader: log appends with byte sizes, group commit, the log store's writes and fsyncs on the
//! leader and the followers, commit on quorum, snapshots.
//!
//! Every job register, plan result, eval update and batch of client updates is a log entry with a modelled
//! size ([`crate::params::ModelParams`] `raft_*_bytes`). The timing is hashicorp/raft's
//! (`crate::model::commit::RaftCommit`, [src] `raft.go:Raft.leaderLoop/dispatchLogs`,
//! `replication.go:pipelineReplicate`, `commitment.go:recalculate`): the leader drains up to 65 queued
//! applies into one `StoreLogs` (boltdb: pages + 2 fsyncs; raft-wal: frames + 1 fsync,
//! `crate::model::storage`), then replicates it to the followers, which store it the same way; an entry
//! commits when a quorum has stored it. Disk latencies come from the servers' storage class. The FSM that
//! applies committed entries runs on the leader's CPU (`cluster/fsm.rs`). Snapshots are taken every
//! `raft_snapshot_threshold` entries (at most once per `raft_snapshot_interval`) and write the whole state.

use std::collections::VecDeque;

use rand_chacha::ChaCha8Rng;

use crate::api::SimTime;
use crate::model::commit::{RaftCommit, RaftSetup};
use crate::model::storage::{DiskProfile, LogStoreKind, StorageClass};
use crate::params::ModelParams;

/// Most entries per AppendEntries RPC ([src] hashicorp/raft default 64; a leader write holds up to 65).
pub const MAX_APPEND_ENTRIES: usize = 64;

/// Leader-side Raft timing model.
pub struct RaftModel {
    commit: RaftCommit,
    rng: ChaCha8Rng,
    /// Append time of every entry not yet committed, in log order.
    appended: VecDeque<SimTime>,
    /// Scratch of `(entry id, commit time)`.
    buf: Vec<(u64, u64)>,
    /// Cumulative log bytes written by the leader (plus snapshots).
    pub bytes_written: u64,
    /// Cumulative fsyncs on the leader.
    pub fsyncs: u64,
    /// Cumulative entries committed.
    pub entries: u64,
    entries_since_snapshot: u64,
    last_snapshot: SimTime,
    /// Snapshots taken.
    pub snapshots: u64,
    /// Write bandwidth of the servers' disks, bytes/s.
    pub disk_bytes_per_s: u64,
    /// Sum of commit latencies (append → commit) over committed entries, ns (for commitTime).
    pub commit_ns_sum: u64,
}

/// A committed entry: `(entry id, commit time)`.
pub type Committed = (u32, SimTime);

/// The disk of the servers: the storage class's figures, or the `raft_fsync_*` / `raft_disk_bytes_per_s`
/// parameters where set (non-zero).
pub(crate) fn disk_profile(class: StorageClass, p: &ModelParams) -> DiskProfile {
    let mut d = class.profile();
    if p.raft_fsync_median_us > 0 {
        d.fsync_median_ns = p.raft_fsync_median_us * 1_000;
        d.fsync_sigma = p.raft_fsync_sigma;
    }
    if p.raft_disk_bytes_per_s > 0 {
        d.write_bytes_per_s = p.raft_disk_bytes_per_s;
    }
    d
}

impl RaftModel {
    /// A model for a cluster of `servers` servers on `disk`, with `log_store` and `max_rpcs_in_flight`
    /// AppendEntries per follower.
    pub(crate) fn new(
        servers: u32,
        disk: DiskProfile,
        log_store: LogStoreKind,
        max_rpcs_in_flight: u32,
        p: &ModelParams,
        rng: ChaCha8Rng,
    ) -> Self {
        let setup = RaftSetup::uniform(
            servers,
            disk,
            log_store,
            p.raft_rtt_us * 1_000,
            max_rpcs_in_flight,
        );
        RaftModel {
            commit: RaftCommit::new(setup),
            rng,
            appended: VecDeque::new(),
            buf: Vec::with_capacity(2 * MAX_APPEND_ENTRIES),
            bytes_written: 0,
            fsyncs: 0,
            entries: 0,
            entries_since_snapshot: 0,
            last_snapshot: 0,
            snapshots: 0,
            disk_bytes_per_s: disk.write_bytes_per_s,
            commit_ns_sum: 0,
        }
    }

    fn sync_stats(&mut self) {
        let s = self.commit.stats();
        self.fsyncs = s.leader_fsyncs;
    }

    /// Queues entry `id` of `bytes`. Returns the end of the leader's write if one started now.
    pub fn append(&mut self, now: SimTime, id: u32, bytes: u64) -> Option<SimTime> {
        self.appended.push_back(now);
        let before = self.commit.stats().leader_bytes;
        let r = self.commit.append(now, id as u64, bytes, &mut self.rng);
        self.bytes_written += self.commit.stats().leader_bytes - before;
        self.sync_stats();
        r
    }

    /// The leader's write finished at `now`. Pushes the committed entries with their commit time to `out`;
    /// returns the end of the next leader write if one started.
    pub fn on_disk_done(&mut self, now: SimTime, out: &mut Vec<Committed>) -> Option<SimTime> {
        self.buf.clear();
        let before = self.commit.stats().leader_bytes;
        let next = self
            .commit
            .on_leader_write_done(now, &mut self.rng, &mut self.buf);
        self.bytes_written += self.commit.stats().leader_bytes - before;
        self.sync_stats();
        for &(id, commit) in &self.buf {
            let appended = self.appended.pop_front().unwrap_or(commit);
            self.commit_ns_sum += commit.saturating_sub(appended);
            out.push((id as u32, commit));
        }
        self.entries += self.buf.len() as u64;
        self.entries_since_snapshot += self.buf.len() as u64;
        next
    }

    /// Fsyncs on every follower so far.
    pub fn follower_fsyncs(&self) -> u64 {
        self.commit.stats().follower_fsyncs
    }

    /// Largest group of entries committed by one leader write.
    pub fn max_group(&self) -> u32 {
        self.commit.stats().max_group
    }

    /// Leader writes (group commits) so far.
    pub fn leader_writes(&self) -> u64 {
        self.commit.stats().leader_writes
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

    fn model(servers: u32, store: LogStoreKind) -> RaftModel {
        let p = ModelParams::default();
        let disk = disk_profile(StorageClass::InstanceNvmeI3, &p);
        RaftModel::new(servers, disk, store, 2, &p, stream(1, "raft"))
    }

    #[test]
    fn batches_and_commits_in_order_on_quorum() {
        let p = ModelParams::default();
        let mut r = model(3, LogStoreKind::BoltDb);
        let done = r.append(0, 1, 1000).expect("disk was idle");
        assert!(r.append(10, 2, 1000).is_none(), "disk busy: queued");
        assert!(r.append(20, 3, 1000).is_none());
        let mut out = Vec::new();
        let next = r.on_disk_done(done, &mut out).expect("second batch starts");
        assert_eq!(out.len(), 1);
        assert!(out[0].1 >= done);
        assert!(
            out[0].1 >= p.raft_rtt_us * 1000,
            "needs a follower round trip"
        );
        out.clear();
        assert!(r.on_disk_done(next, &mut out).is_none());
        assert_eq!(
            out.iter().map(|c| c.0).collect::<Vec<_>>(),
            vec![2, 3],
            "entries 2 and 3 share one write"
        );
        assert_eq!(r.fsyncs, 4, "boltdb: two fsyncs per write");
        assert!(r.bytes_written >= 2 * 4096, "whole pages");
        assert!(r.commit_ns_sum > 0);
    }

    #[test]
    fn wal_pays_one_fsync_per_write() {
        let mut r = model(3, LogStoreKind::RaftWal);
        let done = r.append(0, 1, 1000).unwrap();
        let mut out = Vec::new();
        r.on_disk_done(done, &mut out);
        assert_eq!(r.fsyncs, 1);
        assert!(r.bytes_written < 2_000, "frames, not pages");
    }

    #[test]
    fn explicit_fsync_parameters_override_the_storage_class() {
        let mut p = ModelParams::default();
        assert_eq!(
            disk_profile(StorageClass::EbsGp3, &p),
            StorageClass::EbsGp3.profile()
        );
        p.raft_fsync_median_us = 5_000;
        assert_eq!(
            disk_profile(StorageClass::EbsGp3, &p).fsync_median_ns,
            5_000_000
        );
    }
}
