//! Raft commit as hashicorp/raft does it, and the plan applier's pipeline in front of it.
//!
//! **Raft** ([src] hashicorp/raft v1.7.3, `sim/MECHANISMS.md` §2):
//! - *Group commit* — `raft.go:Raft.leaderLoop` (`case newLog := <-r.applyCh`) takes one log and drains up to
//!   `MaxAppendEntries` (64) more without blocking: a leader write holds **up to 65 entries**.
//! - *Leader first* — `raft.go:Raft.dispatchLogs` calls `r.logs.StoreLogs(logs)` synchronously on the leader
//!   loop (fsync; 2 for boltdb, 1 for raft-wal: `storage.rs`), marks its own match index, and only then
//!   notifies the follower replicators. While it writes, new applies queue and form the next group.
//! - *Replication* — `replication.go:Raft.pipelineReplicate/pipelineSend/setNewLogs`: per follower, one
//!   AppendEntries of at most `MaxAppendEntries` entries per RPC, up to `max_rpcs_in_flight` outstanding
//!   (`net_transport.go`: 128 with raft < 1.5 — Nomad ≤ 1.5 —, `DefaultMaxRPCsInFlight = 2` from raft 1.5.0).
//!   The follower stores each RPC's entries with one `StoreLogs`, serially (`raft.go:Raft.appendEntries`).
//! - *Commit* — `commitment.go:commitment.recalculate`: the quorum-th highest match index, the leader counting
//!   itself after its own store. So with 3 servers a batch commits at
//!   `leader store + RTT/2 + follower store (queued behind its earlier RPCs) + RTT/2`, the faster follower.
//! - *Apply* — `fsm.go:Raft.runFSM` applies committed logs one at a time (Nomad's FSM has no `ApplyBatch`);
//!   `ApplyFuture.Error()` returns after the FSM applied the entry, which is what the plan applier waits on.
//!
//! Not modelled: a lagging follower's replicator merging several leader batches into one RPC (it sends
//! `nextIndex..lastIndex`); here each leader batch is replicated as its own RPC(s), which over-counts
//! follower fsyncs only when a follower falls behind by more than `max_rpcs_in_flight` batches.
//!
//! **Plan applier** ([src] `nomad/plan_apply.go:planner.planApply` @ v2.0.5, MECHANISMS §1.1): dequeue a plan,
//! evaluate it (+ sign identities, `signAllocIdentities`) serially, then dispatch it to Raft if fewer than
//! `plan_apply_pipeline` plans are outstanding, else block until one completes (`for inFlightPlans >=
//! maxPipelineDepth { <-planIndexCh }`). Depth 1 is every version before 2.0.5 (evaluate N+1 while N
//! commits, dispatch N+1 after N returns). [`simulate_plans`] runs that loop in closed form against
//! [`RaftCommit`] with a fixed pool of schedulers; the cluster model will drive [`RaftCommit`] directly.
//!
//! Deterministic: every latency draw comes from the caller's RNG, in a fixed order (leader, then followers in
//! index order, chunks in order); integer ns throughout.

use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};

use rand::Rng;

use super::storage::{BoltTuning, DiskProfile, LogStoreKind};

/// hashicorp/raft's default `MaxAppendEntries` ([src] `config.go:DefaultConfig`; Nomad never sets it).
pub(crate) const MAX_APPEND_ENTRIES: u32 = 64;

/// Static description of the Raft group.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct RaftSetup {
    /// Voting servers (1, 3, 5 …).
    pub(crate) servers: u32,
    /// Entries per AppendEntries RPC; a leader write holds up to this + 1.
    pub(crate) max_append_entries: u32,
    /// AppendEntries RPCs in flight per follower.
    pub(crate) max_rpcs_in_flight: u32,
    /// Round trip leader ↔ follower, ns.
    pub(crate) rtt_ns: u64,
    /// Log store backend.
    pub(crate) log_store: LogStoreKind,
    /// bbolt tunables.
    pub(crate) bolt: BoltTuning,
    /// The leader's disk.
    pub(crate) leader_disk: DiskProfile,
    /// Each follower's disk (`servers − 1` of them).
    pub(crate) follower_disks: Vec<DiskProfile>,
}

impl RaftSetup {
    /// `servers` servers on the same disk class.
    pub(crate) fn uniform(
        servers: u32,
        disk: DiskProfile,
        log_store: LogStoreKind,
        rtt_ns: u64,
        max_rpcs_in_flight: u32,
    ) -> Self {
        RaftSetup {
            servers: servers.max(1),
            max_append_entries: MAX_APPEND_ENTRIES,
            max_rpcs_in_flight: max_rpcs_in_flight.max(1),
            rtt_ns,
            log_store,
            bolt: BoltTuning::default(),
            leader_disk: disk,
            follower_disks: vec![disk; servers.max(1) as usize - 1],
        }
    }
}

/// Counters of a [`RaftCommit`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct RaftStats {
    /// Leader `StoreLogs` calls (group commits).
    pub(crate) leader_writes: u64,
    /// Entries committed.
    pub(crate) entries: u64,
    /// Largest group committed.
    pub(crate) max_group: u32,
    /// fsyncs on the leader.
    pub(crate) leader_fsyncs: u64,
    /// fsyncs on all followers.
    pub(crate) follower_fsyncs: u64,
    /// Bytes the leader wrote.
    pub(crate) leader_bytes: u64,
}

/// The leader's log pipeline: group commit, leader store, pipelined replication, quorum commit.
#[derive(Debug, Clone)]
pub(crate) struct RaftCommit {
    s: RaftSetup,
    queue: VecDeque<(u64, u64)>,
    in_write: Vec<(u64, u64)>,
    writing: bool,
    follower_free_at: Vec<u64>,
    inflight: Vec<VecDeque<u64>>,
    acks: Vec<u64>,
    last_commit: u64,
    stats: RaftStats,
}

impl RaftCommit {
    /// An idle group.
    pub(crate) fn new(s: RaftSetup) -> Self {
        let followers = s.follower_disks.len();
        let group = s.max_append_entries as usize + 1;
        let inflight_cap = s.max_rpcs_in_flight.min(1024) as usize;
        RaftCommit {
            queue: VecDeque::with_capacity(4 * group),
            in_write: Vec::with_capacity(group),
            writing: false,
            follower_free_at: vec![0; followers],
            inflight: (0..followers)
                .map(|_| VecDeque::with_capacity(inflight_cap))
                .collect(),
            acks: Vec::with_capacity(followers),
            last_commit: 0,
            stats: RaftStats::default(),
            s,
        }
    }

    /// Counters so far.
    pub(crate) fn stats(&self) -> RaftStats {
        self.stats
    }

    /// Entries queued or being written by the leader.
    pub(crate) fn pending(&self) -> usize {
        self.queue.len() + self.in_write.len()
    }

    /// `Apply` of entry `id` (`bytes` of data) at `now`. Returns when the leader's write ends if one started
    /// now (the caller calls [`RaftCommit::on_leader_write_done`] then).
    pub(crate) fn append<R: Rng + ?Sized>(
        &mut self,
        now: u64,
        id: u64,
        bytes: u64,
        rng: &mut R,
    ) -> Option<u64> {
        self.queue.push_back((id, bytes));
        if self.writing {
            None
        } else {
            Some(self.start_write(now, rng))
        }
    }

    fn start_write<R: Rng + ?Sized>(&mut self, now: u64, rng: &mut R) -> u64 {
        self.in_write.clear();
        let group = self.s.max_append_entries as usize + 1;
        let mut bytes = 0;
        while self.in_write.len() < group {
            match self.queue.pop_front() {
                Some(e) => {
                    bytes += e.1;
                    self.in_write.push(e);
                }
                None => break,
            }
        }
        let io = self
            .s
            .log_store
            .store_logs_io(self.in_write.len() as u32, bytes, &self.s.bolt);
        self.writing = true;
        self.stats.leader_writes += 1;
        self.stats.leader_fsyncs += io.fsyncs as u64;
        self.stats.leader_bytes += io.bytes;
        self.stats.max_group = self.stats.max_group.max(self.in_write.len() as u32);
        now + self.s.leader_disk.store_ns(io, rng)
    }

    /// The leader's write ended at `now`: replicates the batch, pushes `(id, commit time)` of each entry to
    /// `out` (all the batch's entries commit together), and returns when the next leader write ends if one
    /// started (entries queued meanwhile).
    pub(crate) fn on_leader_write_done<R: Rng + ?Sized>(
        &mut self,
        now: u64,
        rng: &mut R,
        out: &mut Vec<(u64, u64)>,
    ) -> Option<u64> {
        let followers = self.s.follower_disks.len();
        let commit = if followers == 0 {
            now
        } else {
            let half = self.s.rtt_ns / 2;
            let per_rpc = self.s.max_append_entries.max(1) as usize;
            let max_inflight = self.s.max_rpcs_in_flight.max(1) as usize;
            self.acks.clear();
            for f in 0..followers {
                let mut send = now;
                let mut ack = now;
                for chunk in self.in_write.chunks(per_rpc) {
                    let q = &mut self.inflight[f];
                    while q.front().is_some_and(|&a| a <= send) {
                        q.pop_front();
                    }
                    if q.len() >= max_inflight {
                        send = send.max(q.pop_front().unwrap_or(send));
                    }
                    let bytes: u64 = chunk.iter().map(|e| e.1).sum();
                    let io =
                        self.s
                            .log_store
                            .store_logs_io(chunk.len() as u32, bytes, &self.s.bolt);
                    self.stats.follower_fsyncs += io.fsyncs as u64;
                    let start = (send + half).max(self.follower_free_at[f]);
                    let done = start + self.s.follower_disks[f].store_ns(io, rng);
                    self.follower_free_at[f] = done;
                    ack = done + (self.s.rtt_ns - half);
                    self.inflight[f].push_back(ack);
                }
                self.acks.push(ack);
            }
            self.acks.sort_unstable();
            // quorum = servers/2 + 1 including the leader ⇒ servers/2 followers
            let need = (self.s.servers as usize / 2).clamp(1, followers);
            self.acks[need - 1].max(now)
        };
        let commit = commit.max(self.last_commit);
        self.last_commit = commit;
        for &(id, _) in &self.in_write {
            out.push((id, commit));
        }
        self.stats.entries += self.in_write.len() as u64;
        self.in_write.clear();
        self.writing = false;
        if self.queue.is_empty() {
            None
        } else {
            Some(self.start_write(now, rng))
        }
    }
}

/// A closed stream of plans through schedulers, the plan applier, Raft and the FSM.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct PlanStream {
    /// Plans to commit in total.
    pub(crate) plans: u32,
    /// Scheduler workers; each submits a plan, waits for its result, computes the next.
    pub(crate) schedulers: u32,
    /// Worker time to produce a plan, ns.
    pub(crate) sched_ns: u64,
    /// Applier time per plan (evaluate + sign identities), ns, serial.
    pub(crate) applier_ns: u64,
    /// Bytes of a plan-result entry.
    pub(crate) entry_bytes: u64,
    /// FSM apply time per plan, ns, serial.
    pub(crate) fsm_ns: u64,
    /// `plan_apply_pipeline`.
    pub(crate) depth: u32,
}

/// What [`simulate_plans`] measured.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub(crate) struct PlanStreamStats {
    /// Time the last plan's result reached its worker, ns.
    pub(crate) makespan_ns: u64,
    /// Plans in flight (dispatched, not yet applied) when the applier dequeues a plan, mean: what Nomad's
    /// `nomad.plan.outstanding_apply` samples ([src] `planApply`, after draining completions).
    pub(crate) mean_in_flight: f64,
    /// Most plans in flight at once (right after a dispatch).
    pub(crate) max_in_flight: u32,
    /// Mean time from submission to result, ns.
    pub(crate) mean_latency_ns: u64,
    /// Raft counters.
    pub(crate) raft: RaftStats,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Ev {
    Submitted(u64),
    Evaluated(u64),
    LeaderWriteDone,
    Applied(u64),
}

/// Runs `p` through the plan applier loop of `planApply` and `raft`, drawing latencies from `rng`.
pub(crate) fn simulate_plans<R: Rng + ?Sized>(
    p: &PlanStream,
    raft: &mut RaftCommit,
    rng: &mut R,
) -> PlanStreamStats {
    let mut heap: BinaryHeap<Reverse<(u64, u64, Ev)>> = BinaryHeap::new();
    let mut seq = 0u64;
    let mut push = |heap: &mut BinaryHeap<Reverse<(u64, u64, Ev)>>, t: u64, e: Ev| {
        seq += 1;
        heap.push(Reverse((t, seq, e)));
    };
    let mut submitted_at: Vec<u64> = vec![0; p.plans as usize];
    let mut next_plan = 0u64;
    for _ in 0..p.schedulers.min(p.plans) {
        push(&mut heap, p.sched_ns, Ev::Submitted(next_plan));
        next_plan += 1;
    }
    let mut plan_queue: VecDeque<u64> = VecDeque::new();
    let mut applier_busy = false;
    let mut held: Option<u64> = None;
    let mut in_flight = 0u32;
    let mut fsm_free = 0u64;
    let mut commits: Vec<(u64, u64)> = Vec::new();
    let (mut sum_in_flight, mut dispatches, mut max_in_flight) = (0u64, 0u64, 0u32);
    let (mut done, mut lat_sum, mut makespan) = (0u64, 0u64, 0u64);
    let depth = p.depth.max(1);

    while let Some(Reverse((now, _, ev))) = heap.pop() {
        match ev {
            Ev::Submitted(id) => {
                submitted_at[id as usize] = now;
                plan_queue.push_back(id);
            }
            Ev::Evaluated(id) => {
                applier_busy = false;
                held = Some(id);
            }
            Ev::LeaderWriteDone => {
                commits.clear();
                if let Some(t) = raft.on_leader_write_done(now, rng, &mut commits) {
                    push(&mut heap, t, Ev::LeaderWriteDone);
                }
                for &(id, c) in &commits {
                    let start = c.max(fsm_free);
                    fsm_free = start + p.fsm_ns;
                    push(&mut heap, fsm_free, Ev::Applied(id));
                }
            }
            Ev::Applied(id) => {
                in_flight -= 1;
                done += 1;
                lat_sum += now - submitted_at[id as usize];
                makespan = now;
                if next_plan < p.plans as u64 {
                    push(&mut heap, now + p.sched_ns, Ev::Submitted(next_plan));
                    next_plan += 1;
                }
            }
        }
        // The applier loop: dispatch the evaluated plan when the pipeline has room, then evaluate the next.
        if let Some(id) = held {
            if in_flight < depth {
                held = None;
                in_flight += 1;
                max_in_flight = max_in_flight.max(in_flight);
                if let Some(t) = raft.append(now, id, p.entry_bytes, rng) {
                    push(&mut heap, t, Ev::LeaderWriteDone);
                }
            }
        }
        if !applier_busy && held.is_none() {
            if let Some(id) = plan_queue.pop_front() {
                sum_in_flight += in_flight as u64;
                dispatches += 1;
                applier_busy = true;
                push(&mut heap, now + p.applier_ns, Ev::Evaluated(id));
            }
        }
    }
    debug_assert_eq!(done, p.plans as u64);
    PlanStreamStats {
        makespan_ns: makespan,
        mean_in_flight: if dispatches == 0 {
            0.0
        } else {
            sum_in_flight as f64 / dispatches as f64
        },
        max_in_flight,
        mean_latency_ns: lat_sum.checked_div(done).unwrap_or(0),
        raft: raft.stats(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::storage::StorageClass;
    use crate::rng::stream;

    fn fixed(median_ns: u64) -> DiskProfile {
        DiskProfile {
            fsync_median_ns: median_ns,
            fsync_sigma: 0.0,
            write_bytes_per_s: u64::MAX / 4,
            iops_cap: 0,
        }
    }

    fn drain(r: &mut RaftCommit, mut next: Option<u64>) -> Vec<(u64, u64)> {
        let mut rng = stream(1, "raft");
        let mut out = Vec::new();
        while let Some(t) = next {
            next = r.on_leader_write_done(t, &mut rng, &mut out);
        }
        out
    }

    #[test]
    fn commit_is_leader_store_then_rtt_then_follower_store() {
        let s = RaftSetup::uniform(3, fixed(1_000_000), LogStoreKind::RaftWal, 400_000, 2);
        let mut r = RaftCommit::new(s);
        let mut rng = stream(1, "raft");
        let t = r.append(0, 7, 500, &mut rng).unwrap();
        assert_eq!(t, 1_000_000, "one fsync on the leader");
        let out = drain(&mut r, Some(t));
        assert_eq!(out, vec![(7, 1_000_000 + 400_000 + 1_000_000)]);
        // boltdb: two fsyncs on each side
        let s = RaftSetup::uniform(3, fixed(1_000_000), LogStoreKind::BoltDb, 400_000, 2);
        let mut r = RaftCommit::new(s);
        let t = r.append(0, 7, 500, &mut rng).unwrap();
        assert_eq!(
            drain(&mut r, Some(t)),
            vec![(7, 2_000_000 + 400_000 + 2_000_000)]
        );
        // a single server commits on its own write
        let s = RaftSetup::uniform(1, fixed(1_000_000), LogStoreKind::RaftWal, 400_000, 2);
        let mut r = RaftCommit::new(s);
        let t = r.append(0, 7, 500, &mut rng).unwrap();
        assert_eq!(drain(&mut r, Some(t)), vec![(7, 1_000_000)]);
    }

    #[test]
    fn group_commit_takes_up_to_65_entries() {
        let s = RaftSetup::uniform(3, fixed(500_000), LogStoreKind::RaftWal, 200_000, 2);
        let mut r = RaftCommit::new(s);
        let mut rng = stream(1, "raft");
        let first = r.append(0, 0, 100, &mut rng);
        for i in 1..200 {
            assert!(r.append(10, i, 100, &mut rng).is_none(), "disk busy");
        }
        let out = drain(&mut r, first);
        assert_eq!(out.len(), 200);
        let st = r.stats();
        assert_eq!(st.leader_writes, 5, "1 + 65 + 65 + 65 + 4");
        assert_eq!(st.max_group, 65);
        // 65-entry groups go out as 2 RPCs (64 + 1) to each of the 2 followers
        assert_eq!(st.follower_fsyncs, 2 * (1 + 2 + 2 + 2 + 1));
        // commit order is log order and commit times never go backwards
        assert!(out.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 <= w[1].1));
    }

    #[test]
    fn batching_amortises_the_fsync() {
        let disk = StorageClass::EbsGp3.profile();
        let s = RaftSetup::uniform(3, disk, LogStoreKind::BoltDb, 500_000, 2);
        // 64 entries one after another (each waits for the previous commit) vs all at once
        let mut serial = RaftCommit::new(s.clone());
        let mut rng = stream(3, "raft");
        let mut t = 0;
        for i in 0..64 {
            let w = serial.append(t, i, 600, &mut rng).unwrap();
            let mut out = Vec::new();
            assert!(serial.on_leader_write_done(w, &mut rng, &mut out).is_none());
            t = out[0].1;
        }
        let mut grouped = RaftCommit::new(s);
        let mut rng = stream(3, "raft");
        let first = grouped.append(0, 0, 600, &mut rng);
        for i in 1..64 {
            grouped.append(0, i, 600, &mut rng);
        }
        let out = drain(&mut grouped, first);
        let t_grouped = out.last().unwrap().1;
        assert!(t_grouped * 10 < t, "grouped {t_grouped} vs serial {t}");
        assert_eq!(grouped.stats().leader_writes, 2);
    }

    #[test]
    fn ebs_commits_slower_than_nvme() {
        let mean_commit = |c: StorageClass| {
            let s = RaftSetup::uniform(3, c.profile(), LogStoreKind::BoltDb, 500_000, 2);
            let mut r = RaftCommit::new(s);
            let mut rng = stream(9, "raft");
            let mut t = 0;
            let mut sum = 0;
            for i in 0..500 {
                let w = r.append(t, i, 2_000, &mut rng).unwrap();
                let mut out = Vec::new();
                r.on_leader_write_done(w, &mut rng, &mut out);
                sum += out[0].1 - t;
                t = out[0].1 + 1_000_000;
            }
            sum / 500
        };
        let nvme = mean_commit(StorageClass::InstanceNvmeI3);
        let gp3 = mean_commit(StorageClass::EbsGp3);
        let io2 = mean_commit(StorageClass::EbsIo2);
        assert!(nvme < io2 && io2 < gp3, "nvme {nvme} io2 {io2} gp3 {gp3}");
        assert!(gp3 > 3 * nvme);
    }

    #[test]
    fn quorum_waits_for_the_faster_follower() {
        let mut s = RaftSetup::uniform(3, fixed(100_000), LogStoreKind::RaftWal, 200_000, 2);
        s.follower_disks = vec![fixed(5_000_000), fixed(300_000)];
        let mut r = RaftCommit::new(s.clone());
        let mut rng = stream(1, "raft");
        let t = r.append(0, 1, 100, &mut rng).unwrap();
        assert_eq!(
            drain(&mut r, Some(t)),
            vec![(1, 100_000 + 200_000 + 300_000)]
        );
        // five servers need two followers: the second fastest
        s.servers = 5;
        s.follower_disks = vec![
            fixed(5_000_000),
            fixed(300_000),
            fixed(900_000),
            fixed(7_000_000),
        ];
        let mut r = RaftCommit::new(s);
        let t = r.append(0, 1, 100, &mut rng).unwrap();
        assert_eq!(
            drain(&mut r, Some(t)),
            vec![(1, 100_000 + 200_000 + 900_000)]
        );
    }

    #[test]
    fn a_slow_follower_queues_its_rpcs() {
        // Leader and fast follower keep up; the quorum follower's disk is serial.
        let mut s = RaftSetup::uniform(3, fixed(100_000), LogStoreKind::RaftWal, 0, 128);
        s.follower_disks = vec![fixed(1_000_000), fixed(1_000_000)];
        let mut r = RaftCommit::new(s);
        let mut rng = stream(1, "raft");
        let mut out = Vec::new();
        let mut next = r.append(0, 0, 10, &mut rng);
        let mut i = 1;
        while let Some(t) = next {
            if i < 5 {
                r.append(t, i, 10, &mut rng);
                i += 1;
            }
            next = r.on_leader_write_done(t, &mut rng, &mut out);
        }
        // leader writes end at 0.1, 0.2, … ms; followers store back to back: 1.1, 2.1, 3.1 … ms
        let times: Vec<u64> = out.iter().map(|c| c.1).collect();
        assert_eq!(
            times,
            vec![1_100_000, 2_100_000, 3_100_000, 4_100_000, 5_100_000]
        );
    }

    fn stream_cfg(depth: u32) -> PlanStream {
        PlanStream {
            plans: 2_000,
            schedulers: 64,
            sched_ns: 2_000_000,
            applier_ns: 150_000,
            entry_bytes: 1_500,
            fsm_ns: 100_000,
            depth,
        }
    }

    #[test]
    fn depth_one_keeps_one_plan_in_flight_and_is_commit_bound() {
        let disk = StorageClass::EbsGp3.profile();
        let mut r = RaftCommit::new(RaftSetup::uniform(
            3,
            disk,
            LogStoreKind::BoltDb,
            500_000,
            2,
        ));
        let st = simulate_plans(&stream_cfg(1), &mut r, &mut stream(5, "plans"));
        assert_eq!(st.max_in_flight, 1);
        assert_eq!(st.raft.entries, 2_000);
        assert_eq!(st.raft.max_group, 1, "no group commit of plans at depth 1");
        // per plan ≥ leader 2 fsyncs + rtt + follower 2 fsyncs + fsm ≈ 6.6 ms at the medians
        assert!(st.makespan_ns > 2_000 * 5_000_000, "{}", st.makespan_ns);
    }

    #[test]
    fn pipeline_depth_raises_small_plan_throughput() {
        let disk = StorageClass::EbsGp3.profile();
        let run = |depth| {
            let mut r = RaftCommit::new(RaftSetup::uniform(
                3,
                disk,
                LogStoreKind::BoltDb,
                500_000,
                2,
            ));
            simulate_plans(&stream_cfg(depth), &mut r, &mut stream(5, "plans"))
        };
        let d1 = run(1);
        let d8 = run(8);
        assert!(
            d8.makespan_ns * 3 < d1.makespan_ns,
            "depth 8 {} vs depth 1 {}",
            d8.makespan_ns,
            d1.makespan_ns
        );
        assert!(d8.raft.max_group > 1, "pipelined plans are group-committed");
        assert!(d8.raft.leader_writes < d1.raft.leader_writes / 2);
        assert!(d8.max_in_flight <= 8 && d8.max_in_flight >= 6);
    }

    #[test]
    fn heavy_load_fills_the_pipeline_like_pr_28249() {
        // PR #28249: "under heavy load the pipeline depth was 6-8 plans, maxing out at 10", with 144
        // scheduler goroutines. Here: depth cap 10, 144 schedulers, count-1 plans signed with RS256 (1 task:
        // ~1.2 ms + 0.15 ms evaluate, [est]), 3 servers on gp3 with boltdb [est]. The outstanding count is set by
        // commit + apply latency ÷ applier time; the parameters were set from their sources, not fitted to 6–8.
        let disk = StorageClass::EbsGp3.profile();
        let mut r = RaftCommit::new(RaftSetup::uniform(
            3,
            disk,
            LogStoreKind::BoltDb,
            500_000,
            2,
        ));
        let cfg = PlanStream {
            plans: 5_000,
            schedulers: 144,
            sched_ns: 3_000_000,
            applier_ns: 1_350_000,
            entry_bytes: 3_000,
            fsm_ns: 300_000,
            depth: 10,
        };
        let st = simulate_plans(&cfg, &mut r, &mut stream(11, "plans"));
        // Measured here: gp3 mean 8.9, max 10; i3 NVMe mean 2.0, max 3. The PR's 6–8 lies between: the depth
        // the pipeline reaches is commit latency ÷ applier time, so it depends on the disks.
        let mut nv = RaftCommit::new(RaftSetup::uniform(
            3,
            StorageClass::InstanceNvmeI3.profile(),
            LogStoreKind::BoltDb,
            500_000,
            2,
        ));
        let sn = simulate_plans(&cfg, &mut nv, &mut stream(11, "plans"));
        assert!(sn.mean_in_flight < 4.0, "nvme {}", sn.mean_in_flight);
        assert!(st.max_in_flight <= 10);
        assert!(
            (6.0..10.0).contains(&st.mean_in_flight),
            "mean outstanding {}",
            st.mean_in_flight
        );
        // the applier, not Raft, is now the bottleneck: ≈ 1.35 ms per plan, a little more when the cap of
        // 10 blocks it
        let per_plan = st.makespan_ns / 5_000;
        assert!((1_350_000..1_800_000).contains(&per_plan), "{per_plan}");
        assert!(st.raft.max_group > 1, "pipelined plans share group commits");
    }

    #[test]
    fn deterministic_for_a_seed() {
        let disk = StorageClass::EbsGp3.profile();
        let run = |seed| {
            let mut r = RaftCommit::new(RaftSetup::uniform(
                3,
                disk,
                LogStoreKind::BoltDb,
                500_000,
                2,
            ));
            simulate_plans(&stream_cfg(4), &mut r, &mut stream(seed, "plans"))
        };
        assert_eq!(run(1), run(1));
        assert_ne!(run(1).makespan_ns, run(2).makespan_ns);
    }
}
