//! The simulation core: one Nomad cluster — servers, eval broker, scheduler workers, plan applier, Raft,
//! clients and faults — driven by a `(time, seq)` event queue.
//!
//! The same core serves both drivers ([`crate::driver`]): [`crate::runner`] runs a scenario to completion as
//! fast as possible, and the emulator advances it in real time, submitting requests and reading the
//! [`ChangeBatch`]es it emits. The pipeline of one job follows `scheduler-model.md` §1:
//!
//! 1. a register request reaches the leader (½ API RTT), becomes a Raft entry, commits and is applied by
//!    the FSM, which creates the job and its evaluation;
//! 2. the broker hands evals to free workers (priority then FIFO, one per job in flight); a worker on a
//!    follower pays a dequeue RPC; it snapshots state *now*, ranks nodes ([`crate::ranking`]) and after its
//!    compute time submits a plan;
//! 3. the single plan applier verifies plans node by node against current state (partial commit; AllAtOnce
//!    drops the plan; stale eval tokens are rejected) while the previous plan's Raft apply is in flight
//!    (pipeline depth 1); the worker re-plans rejected placements (batch 2, service 5 attempts, reset on
//!    progress), then blocks the eval;
//! 4. clients notice new allocs, pull images (deduplicated, cached, collected after 3 min), start tasks and
//!    report status in 200 ms batches; the leader batches updates into Raft every 50 ms;
//! 5. faults (spot losses, leader changes) make allocations lost; the reconciler replaces them.

mod applier;
mod blocked;
mod client;
mod event;
mod fleet;
mod fsm;
mod metrics;
mod requests;
mod scheduler;
mod state;
mod views;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, StandardNormal};

use crate::broker::{BlockedEvals, EvalBroker};
use crate::clients::{detection_delay_ns, mean_heartbeat_ttl_ns, CachedImage, Node, NONE};
use crate::driver::*;
use crate::engine::EventQueue;
use crate::error::SimError;
use crate::params::ModelParams;
use crate::raft::{Committed, RaftModel};
use crate::ranking::{self, Candidate};
use crate::record::{MetricRow, RunEvent};
use crate::resources::{self, SecondSample, ServerRes, StateSize};
use crate::rng::{self, IdKind};
use crate::scenario::{Algorithm, FaultKind, JobType, PoolConfig, RunDuration, Scenario};

const US: u64 = 1_000;
const SEC: u64 = 1_000_000_000;

/// Options of a cluster that are not part of the scenario.
#[derive(Debug, Clone, Default)]
pub struct ClusterOptions {
    /// Emit [`ChangeBatch`]es (the emulator needs them; `stampede sim` does not).
    pub record_changes: bool,
    /// Permute same-time events with this seed (tie-shuffle mode).
    pub tie_shuffle_seed: Option<u64>,
}
use client::*;
use event::*;
use fleet::*;
use fsm::*;
use requests::*;
use scheduler::*;
use state::*;

/// Counters of a run.
#[derive(Debug, Clone, Default)]
pub struct Counters {
    /// Jobs registered.
    pub jobs_registered: u64,
    /// Allocations asked for.
    pub allocs_desired: u64,
    /// Placements committed.
    pub placements: u64,
    /// Plan node rejections.
    pub plan_node_rejections: u64,
    /// Plans applied.
    pub plans_applied: u64,
    /// Evaluations processed (deliveries).
    pub evals_processed: u64,
    /// Evaluations that got blocked.
    pub evals_blocked: u64,
    /// Evaluations that failed.
    pub evals_failed: u64,
    /// Nacks (delivery timeouts).
    pub nacks: u64,
    /// Events processed.
    pub events: u64,
    /// Nodes that joined after t = 0 (autoscaling).
    pub nodes_added: u64,
    /// Nodes lost to spot interruptions.
    pub spot_interruptions: u64,
}

/// The simulated cluster. See the module docs.
pub struct Cluster {
    p: ModelParams,
    seed: u64,
    algorithm: Algorithm,
    now: SimTime,
    q: EventQueue<Ev>,
    active_events: u64,
    max_events: u64,
    max_time: SimTime,
    heartbeats: bool,
    record_changes: bool,

    nodes: Vec<Node>,
    pools: Vec<PoolRt>,
    dcs: Vec<String>,
    jobs: Vec<Job>,
    job_by_id: BTreeMap<String, u32>,
    allocs: Vec<Alloc>,
    evals: Vec<Eval>,
    images: BTreeMap<String, u32>,
    image_bytes: Vec<u64>,
    node_allocs: Vec<Vec<u32>>,

    broker: EvalBroker,
    blocked: BlockedEvals,
    workers: Vec<Worker>,
    free_workers: Vec<Vec<u32>>,
    plans: Vec<Option<Plan>>,
    free_plans: Vec<u32>,
    plan_queue: BTreeSet<(Reverse<u32>, u64, u32)>,
    plan_seq: u64,
    applier_busy: bool,
    apply_inflight: Option<u32>,
    apply_waiting: Option<u32>,

    raft: RaftModel,
    entries: Vec<Option<Entry>>,
    entry_index: Vec<u64>,
    free_entries: Vec<u32>,
    raft_index: u64,
    committed_buf: Vec<Committed>,
    server_batch: Vec<(u32, ClientStatus)>,
    server_flush_scheduled: bool,
    unblock_scheduled: bool,
    unblock_pending_since_block: bool,

    leader: usize,
    election_until: SimTime,
    ttl_override_until: SimTime,
    deferred_requests: Vec<u64>,

    res: Vec<ServerRes>,
    metrics: Vec<MetricRow>,
    last_raft_bytes: u64,
    last_fsyncs: u64,
    sec_placements: u64,
    sec_rejections: u64,
    running_now: u64,
    unplaced: u64,
    unplaced_cpu: u64,
    unplaced_mem: u64,
    next_second: SimTime,

    requests: BTreeMap<u64, Request>,
    next_req: u64,
    completed: Vec<(RequestId, SimTime, RequestOutcome)>,
    changes: Vec<ChangeBatch>,
    run_events: Vec<RunEvent>,
    faults: Vec<crate::scenario::FaultConfig>,
    counters: Counters,

    rng_sched: ChaCha8Rng,
    rng_client: ChaCha8Rng,
    rng_fault: ChaCha8Rng,
    order: Vec<u32>,
    touched: Vec<(u32, u32, u32)>,
    job_on_node: Vec<u32>,
}

impl Cluster {
    /// Builds the cluster of a scenario at t = 0 with its initial fleet registered (Raft indexes 1..=N).
    pub fn new(sc: &Scenario, seed: u64, opts: ClusterOptions) -> Result<Cluster, SimError> {
        if sc
            .pools
            .iter()
            .all(|p| p.count == 0 && p.autoscale.as_ref().is_none_or(|a| a.max == 0))
        {
            return Err(SimError::Scenario("the fleet has no nodes".into()));
        }
        let q = match opts.tie_shuffle_seed {
            Some(s) => EventQueue::with_tie_shuffle(rng::stream(s, "tie-shuffle")),
            None => EventQueue::new(),
        };
        let servers = sc.cluster.servers;
        let res = (0..servers)
            .map(|i| ServerRes {
                name: format!("server-{}", i + 1),
                cores: sc.cluster.cores,
                ..Default::default()
            })
            .collect();
        let mut workers = Vec::new();
        let mut free_workers = vec![Vec::new(); servers as usize];
        for s in 0..servers {
            for _ in 0..sc.cluster.num_schedulers {
                free_workers[s as usize].push(workers.len() as u32);
                workers.push(Worker {
                    server: s,
                    eval: NONE,
                    token: 0,
                    attempts: 0,
                });
            }
            free_workers[s as usize].reverse();
        }
        let mut dcs: Vec<String> = sc.pools.iter().map(|p| p.datacenter.clone()).collect();
        dcs.sort();
        dcs.dedup();
        let mut c = Cluster {
            p: sc.params.clone(),
            seed,
            algorithm: sc.cluster.algorithm,
            now: 0,
            q,
            active_events: 0,
            max_events: sc.sim.max_events,
            max_time: sc.sim.max_time_ns,
            heartbeats: sc.sim.heartbeats,
            record_changes: opts.record_changes,
            nodes: Vec::new(),
            pools: sc
                .pools
                .iter()
                .map(|p| PoolRt {
                    cfg: p.clone(),
                    nodes: Vec::new(),
                    booting: 0,
                })
                .collect(),
            dcs,
            jobs: Vec::new(),
            job_by_id: BTreeMap::new(),
            allocs: Vec::new(),
            evals: Vec::new(),
            images: BTreeMap::new(),
            image_bytes: Vec::new(),
            node_allocs: Vec::new(),
            broker: EvalBroker::new(),
            blocked: BlockedEvals::default(),
            workers,
            free_workers,
            plans: Vec::new(),
            free_plans: Vec::new(),
            plan_queue: BTreeSet::new(),
            plan_seq: 0,
            applier_busy: false,
            apply_inflight: None,
            apply_waiting: None,
            raft: RaftModel::new(servers, rng::stream(seed, "raft")),
            entries: Vec::new(),
            entry_index: Vec::new(),
            free_entries: Vec::new(),
            raft_index: 0,
            committed_buf: Vec::new(),
            server_batch: Vec::new(),
            server_flush_scheduled: false,
            unblock_scheduled: false,
            unblock_pending_since_block: false,
            leader: 0,
            election_until: 0,
            ttl_override_until: 0,
            deferred_requests: Vec::new(),
            res,
            metrics: Vec::new(),
            last_raft_bytes: 0,
            last_fsyncs: 0,
            sec_placements: 0,
            sec_rejections: 0,
            running_now: 0,
            unplaced: 0,
            unplaced_cpu: 0,
            unplaced_mem: 0,
            next_second: SEC,
            requests: BTreeMap::new(),
            next_req: 1,
            completed: Vec::new(),
            changes: Vec::new(),
            run_events: Vec::new(),
            faults: sc.faults.clone(),
            counters: Counters::default(),
            rng_sched: rng::stream(seed, "scheduler"),
            rng_client: rng::stream(seed, "clients"),
            rng_fault: rng::stream(seed, "faults"),
            order: Vec::new(),
            touched: Vec::new(),
            job_on_node: Vec::new(),
        };
        for pi in 0..c.pools.len() {
            for _ in 0..c.pools[pi].cfg.count {
                let n = c.add_node(pi as u32, 0);
                c.node_ready(n);
            }
        }
        for (i, f) in c.faults.iter().enumerate() {
            c.q.push(f.at_ns, Ev::Fault(i as u32));
        }
        for pi in 0..c.pools.len() {
            if let Some(a) = &c.pools[pi].cfg.autoscale {
                c.q.push(a.interval_ns, Ev::AutoscaleTick(pi as u32));
            }
        }
        c.q.push(SEC, Ev::Second);
        Ok(c)
    }

    /// Current simulated time.
    pub fn now(&self) -> SimTime {
        self.now
    }

    /// Current Raft index.
    pub fn raft_index(&self) -> u64 {
        self.raft_index
    }

    /// Index of the leader server.
    pub fn leader(&self) -> usize {
        self.leader
    }

    /// Server names.
    pub fn server_names(&self) -> Vec<String> {
        self.res.iter().map(|r| r.name.clone()).collect()
    }

    /// The cluster-wide scheduler algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    /// Changes the cluster-wide scheduler algorithm (Nomad's scheduler configuration).
    pub fn set_algorithm(&mut self, a: Algorithm) {
        self.algorithm = a;
    }

    /// Model parameters in force.
    pub fn params(&self) -> &ModelParams {
        &self.p
    }

    /// Requests whose responses have reached the submitter: `(request, response time, outcome)`.
    pub fn take_completed(&mut self) -> Vec<(RequestId, SimTime, RequestOutcome)> {
        std::mem::take(&mut self.completed)
    }

    /// Whether any completed request is waiting to be taken.
    pub fn has_completed(&self) -> bool {
        !self.completed.is_empty()
    }

    /// Change batches emitted since the last call (only with `record_changes`).
    pub fn take_changes(&mut self) -> Vec<ChangeBatch> {
        std::mem::take(&mut self.changes)
    }

    /// Time of the next pending event.
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.q.peek_time()
    }

    /// Whether nothing is in flight: no foreground event pending, nothing ready, unacked or queued for the
    /// plan applier. Blocked evaluations may remain (they wait for capacity).
    pub fn is_idle(&self) -> bool {
        self.active_events == 0
            && self.plan_queue.is_empty()
            && self.broker.ready_len() == 0
            && self.broker.unacked_len() == 0
    }

    /// Whether an autoscaled pool could still add nodes for queued work.
    pub fn can_scale_up(&self) -> bool {
        self.unplaced > 0
            && self.pools.iter().any(|p| {
                p.cfg.autoscale.as_ref().is_some_and(|a| {
                    (self.live_pool_nodes(p) + p.booting as usize) < a.max as usize
                })
            })
    }

    /// Allocations wanted but not placed (queue depth).
    pub fn unplaced(&self) -> u64 {
        self.unplaced
    }

    /// Processes every event with time ≤ `t`, then sets the clock to `t`.
    pub fn advance_to(&mut self, t: SimTime) -> Result<(), SimError> {
        while let Some(et) = self.q.peek_time() {
            if et > t {
                break;
            }
            self.step()?;
        }
        if t > self.now {
            self.now = t;
        }
        Ok(())
    }

    /// Processes events with time ≤ `t` until one completes a request (then stops at that event's time) or
    /// none is left before `t`. Returns true if a request completed.
    pub fn advance_until_completion(&mut self, t: SimTime) -> Result<bool, SimError> {
        while let Some(et) = self.q.peek_time() {
            if et > t {
                break;
            }
            self.step()?;
            if !self.completed.is_empty() {
                return Ok(true);
            }
        }
        if t > self.now && t != SimTime::MAX {
            self.now = t;
        }
        Ok(!self.completed.is_empty())
    }

    /// Processes the next event. Returns false if none is pending.
    pub fn step(&mut self) -> Result<bool, SimError> {
        let Some((t, ev)) = self.q.pop() else {
            return Ok(false);
        };
        if !ev.background() {
            self.active_events -= 1;
        }
        self.counters.events += 1;
        if self.counters.events > self.max_events {
            return Err(SimError::EventBudget {
                max: self.max_events,
                t_ns: t,
            });
        }
        if t > self.max_time {
            return Err(SimError::TimeBudget {
                max_ns: self.max_time,
                detail: format!(
                    "{} allocations unplaced, {} events pending",
                    self.unplaced,
                    self.q.len()
                ),
            });
        }
        debug_assert!(t >= self.now);
        self.now = t;
        self.handle(ev);
        Ok(true)
    }

    /// Whether a leader is currently elected.
    pub fn has_leader(&self) -> bool {
        self.now >= self.election_until
    }

    /// Per-second metric rows produced so far.
    pub fn metric_rows(&self) -> &[MetricRow] {
        &self.metrics
    }

    /// Takes the metric rows produced so far.
    pub fn take_metric_rows(&mut self) -> Vec<MetricRow> {
        std::mem::take(&mut self.metrics)
    }

    /// Closes the current (partial) second into a metric row; call once at the end of a run.
    pub fn close_metrics(&mut self) {
        if !self.now.is_multiple_of(SEC)
            || self
                .metrics
                .last()
                .is_none_or(|m| (m.t_s + 1) * SEC < self.now)
        {
            self.now = self.now.div_ceil(SEC).max(1) * SEC;
            self.second();
        }
    }

    /// Notable events so far.
    pub fn run_events(&self) -> &[RunEvent] {
        &self.run_events
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    #[inline]
    fn push(&mut self, t: SimTime, ev: Ev) {
        if !ev.background() {
            self.active_events += 1;
        }
        self.q.push(t, ev);
    }

    fn handle(&mut self, ev: Ev) {
        match ev {
            Ev::RequestArrive(r) => self.request_arrive(r),
            Ev::DiskDone => self.disk_done(),
            Ev::Applied(e) => self.applied(e),
            Ev::WorkerDone(w) => self.worker_done(w),
            Ev::VerifyDone(p) => self.verify_done(p),
            Ev::AllocNotice(a) => self.alloc_notice(a),
            Ev::TaskStarted(a) => self.task_started(a),
            Ev::TaskExited(a, attempt) => self.task_exited(a, attempt),
            Ev::ClientFlush(n) => self.client_flush(n),
            Ev::ServerFlush => self.server_flush(),
            Ev::Second => self.second(),
            Ev::NodeDeath(n) => self.on_node_death(n),
            Ev::NodeDetected(n) => self.node_detected(n),
            Ev::SpotNotice(n) => self.on_spot_notice_expired(n),
            Ev::Fault(i) => self.fault(i),
            Ev::AutoscaleTick(pi) => self.autoscale(pi),
            Ev::NodeReady(n) => self.on_node_ready(n),
            Ev::NackTimeout(e, tok) => self.nack_timeout(e, tok),
            Ev::Redeliver(e) => self.redeliver(e),
            Ev::Unblock => self.on_unblock(),
            Ev::Reschedule(a) => self.reschedule(a),
            Ev::ElectionDone => self.election_done(),
            Ev::AllocKilled(a) => self.alloc_killed(a),
        }
    }
}
