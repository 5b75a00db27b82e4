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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum SlotState {
    /// Needs a placement.
    Empty,
    /// In a plan that has not committed yet.
    Planned,
    /// Has a live allocation.
    Placed,
    /// Finished (batch success, or failed with no reschedule left), or stopped.
    Done,
    /// Failed; a replacement will be placed after the reschedule delay.
    WaitingReschedule,
}

#[derive(Debug, Clone)]
struct Slot {
    state: SlotState,
    /// Delivery token of the plan that holds this slot while `Planned`.
    plan_token: u64,
    alloc: u32,
    reschedules_left: u8,
}

#[derive(Debug, Clone)]
struct GroupRt {
    slots: Vec<Slot>,
    image: u32,
    /// Recorded replacement outcomes used so far (trace replay: entries at `count + k`).
    replacements_used: u32,
}

struct Job {
    spec: Arc<JobSpec>,
    submit_time: SimTime,
    intended_submit: SimTime,
    sent: SimTime,
    create_index: u64,
    modify_index: u64,
    job_modify_index: u64,
    version: u64,
    stopped: bool,
    purged: bool,
    groups: Vec<GroupRt>,
    allocs: Vec<u32>,
    parent: Option<u32>,
    dispatch_count: u64,
}

#[derive(Debug, Clone)]
struct Eval {
    job: u32,
    priority: u32,
    triggered_by: &'static str,
    status: EvalStatus,
    status_description: String,
    create_index: u64,
    modify_index: u64,
    create_time: SimTime,
    modify_time: SimTime,
    token: u64,
    nack_seq: u64,
    deliveries: u32,
    blocked_eval: u32,
    previous_eval: u32,
    node: u32,
    job_modify_index: u64,
    queued: u32,
    failed_tgs: Vec<u16>,
}

#[derive(Debug, Clone)]
struct Alloc {
    job: u32,
    group: u16,
    slot: u32,
    node: u32,
    eval: u32,
    cpu: u32,
    mem: u32,
    create_time: SimTime,
    modify_time: SimTime,
    received: SimTime,
    started: SimTime,
    finished: SimTime,
    create_index: u64,
    modify_index: u64,
    /// Truth on the node.
    client_side: ClientStatus,
    /// As the servers know it.
    server_status: ClientStatus,
    desired: DesiredStatus,
    prev: u32,
    next: u32,
    restarts: u32,
    rescheduled: bool,
    lost: bool,
    freed: bool,
    alloc_time_ns: u32,
    nodes_evaluated: u32,
    run_ns: u64,
    recorded_ok: Option<bool>,
    attempt: u32,
}

const TIME_NONE: SimTime = u64::MAX;

#[derive(Debug, Clone)]
struct Placement {
    group: u16,
    slot: u32,
    node: u32,
    alloc_time_ns: u32,
    nodes_evaluated: u32,
    prev: u32,
    /// Moves a live allocation off a draining node (the slot never entered the unplaced queue).
    migration: bool,
}

#[derive(Debug, Clone)]
struct Plan {
    eval: u32,
    job: u32,
    worker: u32,
    token: u64,
    priority: u32,
    all_at_once: bool,
    placements: Vec<Placement>,
    /// (alloc, mark lost)
    stops: Vec<(u32, bool)>,
    accepted: Vec<bool>,
    rejected_nodes: u32,
    create_time: SimTime,
    failed_tgs: Vec<u16>,
}

#[derive(Debug, Clone, Copy)]
struct Worker {
    server: u32,
    eval: u32,
    token: u64,
    attempts: u32,
}

#[derive(Debug, Clone)]
enum Entry {
    Register {
        req: u64,
        spec: Arc<JobSpec>,
        parent: Option<u32>,
        intended: SimTime,
        sent: SimTime,
    },
    Deregister {
        req: u64,
        job: u32,
        purge: bool,
    },
    Plan(u32),
    ClientUpdate(Vec<(u32, ClientStatus)>),
    EvalUpdate {
        eval: u32,
        worker: u32,
        token: u64,
        status: EvalStatus,
        block: bool,
        desc: String,
    },
    EvalCreate {
        job: u32,
        triggered_by: &'static str,
        node: u32,
    },
    NodeStatus {
        node: u32,
        status: NodeStatus,
    },
    NodeDrain {
        node: u32,
    },
}

#[derive(Debug, Clone, Copy)]
enum Ev {
    RequestArrive(u64),
    DiskDone,
    Applied(u32),
    WorkerDone(u32),
    VerifyDone(u32),
    AllocNotice(u32),
    TaskStarted(u32),
    TaskExited(u32, u32),
    ClientFlush(u32),
    ServerFlush,
    Second,
    NodeDeath(u32),
    NodeDetected(u32),
    SpotNotice(u32),
    Fault(u32),
    AutoscaleTick(u32),
    NodeReady(u32),
    NackTimeout(u32, u64),
    Redeliver(u32),
    Unblock,
    Reschedule(u32),
    ElectionDone,
    AllocKilled(u32),
}

impl Ev {
    /// Background events do not keep a run alive.
    fn background(&self) -> bool {
        matches!(
            self,
            Ev::Second | Ev::AutoscaleTick(_) | Ev::NodeDeath(_) | Ev::Fault(_)
        )
    }
}

#[derive(Debug, Clone)]
enum Request {
    Register {
        spec: Arc<JobSpec>,
        intended: SimTime,
        sent: SimTime,
    },
    Deregister {
        job: String,
        purge: bool,
    },
    Dispatch {
        parent: String,
        meta: BTreeMap<String, String>,
        intended: SimTime,
        sent: SimTime,
    },
}

struct PoolRt {
    cfg: PoolConfig,
    nodes: Vec<u32>,
    booting: u32,
}

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

fn lognormal(rng: &mut ChaCha8Rng, median_ns: u64, sigma: f64) -> u64 {
    if sigma <= 0.0 {
        return median_ns;
    }
    let z: f64 = StandardNormal.sample(rng);
    ((median_ns as f64) * (sigma * z).exp()) as u64
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

    // ------------------------------------------------------------------ public driving interface

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

    /// Submits a job registration at the current time, intended (scheduled) at `intended`. The request
    /// reaches the leader after half an API round trip; its outcome appears in
    /// [`Cluster::take_completed`] when the response would reach the submitter.
    pub fn submit_register(
        &mut self,
        spec: JobSpec,
        intended: SimTime,
    ) -> Result<RequestId, SimError> {
        validate_job(&spec)?;
        let id = self.next_req;
        self.next_req += 1;
        self.requests.insert(
            id,
            Request::Register {
                spec: Arc::new(spec),
                intended,
                sent: self.now,
            },
        );
        self.push(self.now + self.p.api_rtt_us * US / 2, Ev::RequestArrive(id));
        Ok(RequestId(id))
    }

    /// Submits a job deregistration (`purge` removes it from state).
    pub fn submit_deregister(&mut self, job_id: &str, purge: bool) -> Result<RequestId, SimError> {
        if !self.job_by_id.contains_key(job_id) {
            return Err(SimError::NotFound("job not found".into()));
        }
        let id = self.next_req;
        self.next_req += 1;
        self.requests.insert(
            id,
            Request::Deregister {
                job: job_id.to_string(),
                purge,
            },
        );
        self.push(self.now + self.p.api_rtt_us * US / 2, Ev::RequestArrive(id));
        Ok(RequestId(id))
    }

    /// Dispatches a parameterized job.
    pub fn submit_dispatch(
        &mut self,
        parent: &str,
        meta: BTreeMap<String, String>,
        intended: SimTime,
    ) -> Result<RequestId, SimError> {
        let j = *self
            .job_by_id
            .get(parent)
            .ok_or_else(|| SimError::NotFound("job not found".into()))?;
        if !self.jobs[j as usize].spec.parameterized {
            return Err(SimError::InvalidJob(
                "Specified job is not a parameterized job".into(),
            ));
        }
        if self.jobs[j as usize].stopped {
            return Err(SimError::InvalidJob("Job is stopped".into()));
        }
        let id = self.next_req;
        self.next_req += 1;
        self.requests.insert(
            id,
            Request::Dispatch {
                parent: parent.to_string(),
                meta,
                intended,
                sent: self.now,
            },
        );
        self.push(self.now + self.p.api_rtt_us * US / 2, Ev::RequestArrive(id));
        Ok(RequestId(id))
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

    /// Injects a spot loss of `fraction` of the ready nodes (optionally of one pool) now.
    pub fn inject_spot_loss(&mut self, fraction: f64, notice: bool, pool: Option<&str>) -> usize {
        let mut cands: Vec<u32> = (0..self.nodes.len() as u32)
            .filter(|&n| {
                let nd = &self.nodes[n as usize];
                !nd.dead
                    && nd.status == NodeStatus::Ready
                    && pool.is_none_or(|p| self.pools[nd.pool as usize].cfg.name == p)
            })
            .collect();
        let k = ((cands.len() as f64) * fraction).round() as usize;
        ranking::shuffle(&mut cands, &mut self.rng_fault);
        let victims: Vec<u32> = cands.into_iter().take(k).collect();
        for &n in &victims {
            if notice {
                self.spot_notice(n);
            } else {
                self.node_death(n, "spot_interruption");
            }
        }
        victims.len()
    }

    /// Makes the leader step down now; another server is elected after `leader_election_us`.
    pub fn inject_leader_change(&mut self) {
        let old = self.leader;
        self.leader = (self.leader + 1) % self.res.len();
        self.election_until = self.now + self.p.leader_election_us * US;
        self.ttl_override_until = self.election_until + self.p.failover_heartbeat_ttl_us * US;
        self.run_events.push(RunEvent {
            t_ns: self.now,
            kind: "leader_change".into(),
            node_id: Some(self.res[self.leader].name.clone()),
            detail: format!(
                "{} stepped down; {} elected",
                self.res[old].name, self.res[self.leader].name
            ),
        });
        self.push(self.election_until, Ev::ElectionDone);
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

    /// Live gauges of every server, as `/v1/metrics` would report them now.
    pub fn server_gauges(&self) -> Vec<ServerGauges> {
        let state = self.state_size();
        let rss = resources::rss_bytes(&self.p, state);
        let entries = self.raft.entries.max(1) as f64;
        self.res
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let leader = i == self.leader;
                ServerGauges {
                    name: r.name.clone(),
                    leader,
                    cpu_seconds_total: r.busy_ns_total as f64 * self.p.cpu_overhead_factor / 1e9,
                    rss_bytes: rss,
                    raft_bytes_written_total: self.raft.bytes_written as f64,
                    fsyncs_total: self.raft.fsyncs as f64,
                    raft_applied_total: self.raft.entries as f64,
                    raft_last_index: self.raft_index,
                    broker_ready: if leader {
                        self.broker.ready_len() as f64
                    } else {
                        0.0
                    },
                    broker_unacked: if leader {
                        self.broker.unacked_len() as f64
                    } else {
                        0.0
                    },
                    blocked_evals: if leader {
                        self.blocked.len() as f64
                    } else {
                        0.0
                    },
                    plan_queue_depth: if leader {
                        self.plan_queue.len() as f64
                    } else {
                        0.0
                    },
                    plan_node_rejected_total: if leader {
                        self.counters.plan_node_rejections as f64
                    } else {
                        0.0
                    },
                    heartbeats_total: if leader { r.heartbeats_total } else { 0.0 },
                    placements_total: if leader {
                        self.counters.placements as f64
                    } else {
                        0.0
                    },
                    raft_commit_time_ms: self.raft.commit_ns_sum as f64 / entries / 1e6,
                    plan_evaluate_ms: 0.0,
                    plan_apply_ms: 0.0,
                }
            })
            .collect()
    }

    // ------------------------------------------------------------------ ground truth readers

    /// Every node (including departed ones), as views.
    pub fn node_views(&self) -> Vec<NodeView> {
        (0..self.nodes.len() as u32)
            .map(|n| self.node_view(n))
            .collect()
    }

    /// Every allocation, as views.
    pub fn alloc_views(&self) -> Vec<AllocView> {
        (0..self.allocs.len() as u32)
            .map(|a| self.alloc_view(a))
            .collect()
    }

    /// Job view by ID.
    pub fn job_view_by_id(&self, id: &str) -> Option<JobView> {
        self.job_by_id.get(id).map(|&j| self.job_view(j))
    }

    /// Number of allocations.
    pub fn alloc_count(&self) -> usize {
        self.allocs.len()
    }

    /// Ground-truth timeline of allocation `i`: `(job id, alloc id, node id, group, intended submit, sent,
    /// placed, running, done, final status, lost, rescheduled, replaces)`; times in ns since t = 0.
    pub fn alloc_truth(&self, i: usize) -> crate::record::AllocRow {
        let a = &self.allocs[i];
        let j = &self.jobs[a.job as usize];
        let some = |t: SimTime| if t == TIME_NONE { None } else { Some(t) };
        let status = if a.lost {
            crate::record::AllocStatus::Lost
        } else {
            match a.client_side {
                ClientStatus::Complete => crate::record::AllocStatus::Complete,
                ClientStatus::Failed => crate::record::AllocStatus::Failed,
                ClientStatus::Lost => crate::record::AllocStatus::Lost,
                _ if a.desired != DesiredStatus::Run => crate::record::AllocStatus::Stopped,
                ClientStatus::Running => crate::record::AllocStatus::Running,
                ClientStatus::Pending => crate::record::AllocStatus::Pending,
            }
        };
        crate::record::AllocRow {
            job_id: j.spec.id.clone(),
            alloc_id: rng::uuid(self.seed, IdKind::Alloc, i as u64),
            node_id: self.nodes[a.node as usize].id.clone(),
            task_group: j.spec.groups[a.group as usize].name.clone(),
            submit_ns: Some(j.intended_submit),
            sent_ns: Some(j.sent),
            placed_ns: Some(a.create_time),
            running_ns: some(a.started),
            done_ns: some(a.finished),
            status,
            lost: a.lost,
            rescheduled: a.rescheduled,
            replaces: if a.prev == NONE {
                String::new()
            } else {
                rng::uuid(self.seed, IdKind::Alloc, a.prev as u64)
            },
        }
    }

    /// Per-node life in the run: `(node index, view, pool name, instance type, region, spot, joined, left,
    /// reason)`.
    pub fn node_rows(&self) -> Vec<crate::record::NodeRow> {
        self.nodes
            .iter()
            .map(|n| {
                let pc = &self.pools[n.pool as usize].cfg;
                crate::record::NodeRow {
                    node_id: n.id.clone(),
                    name: n.name.clone(),
                    pool: pc.name.clone(),
                    instance_type: pc.instance_type.clone(),
                    region: pc.region.clone(),
                    datacenter: pc.datacenter.clone(),
                    spot: pc.spot,
                    cpu_mhz: n.cpu_cap,
                    memory_mb: n.mem_cap,
                    joined_ns: n.joined,
                    left_ns: n.left,
                    left_reason: n.left_reason.to_string(),
                }
            })
            .collect()
    }

    /// Jobs submitted: `(id, intended submit, desired allocations)`.
    pub fn job_count(&self) -> usize {
        self.jobs.len()
    }

    /// Allocations desired by registered jobs.
    pub fn allocs_desired(&self) -> u64 {
        self.counters.allocs_desired
    }

    /// Blocked evaluations now.
    pub fn blocked_now(&self) -> usize {
        self.blocked.len()
    }

    /// Allocations running now (truth on the clients).
    pub fn running_now(&self) -> u64 {
        self.running_now
    }

    /// Nodes ready now.
    pub fn nodes_ready(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Ready && !n.dead)
            .count()
    }

    /// Pools: `(name, instance type, region, datacenter, spot, initial count, cpu, mem, peak, node-hours)`.
    pub fn pool_summaries(&self) -> Vec<crate::record::FleetEntry> {
        let end = self.now;
        self.pools
            .iter()
            .map(|p| {
                let mut hours = 0.0;
                let mut events: Vec<(SimTime, i32)> = Vec::new();
                for &n in &p.nodes {
                    let nd = &self.nodes[n as usize];
                    let left = nd.left.unwrap_or(end).min(end);
                    hours += left.saturating_sub(nd.joined) as f64 / 3.6e12;
                    events.push((nd.joined, 1));
                    events.push((left, -1));
                }
                events.sort();
                let (mut cur, mut peak) = (0i32, 0i32);
                for (_, d) in events {
                    cur += d;
                    peak = peak.max(cur);
                }
                crate::record::FleetEntry {
                    pool: p.cfg.name.clone(),
                    instance_type: p.cfg.instance_type.clone(),
                    region: p.cfg.region.clone(),
                    datacenter: p.cfg.datacenter.clone(),
                    spot: p.cfg.spot,
                    nodes_initial: p.cfg.count,
                    nodes_peak: peak.max(0) as u32,
                    node_hours: (hours * 1000.0).round() / 1000.0,
                    cpu_mhz: p.cfg.cpu_mhz,
                    memory_mb: p.cfg.memory_mb,
                }
            })
            .collect()
    }

    /// Consistency check for tests: describes every slot that still wants a placement while no evaluation
    /// of its job is ready, in flight or blocked (an allocation the cluster has forgotten). Empty when sound.
    pub fn orphaned_slots(&self) -> Vec<String> {
        let mut out = Vec::new();
        let blocked: BTreeSet<u32> = self.blocked.iter().map(|(j, _)| j).collect();
        let busy: BTreeSet<u32> = self
            .workers
            .iter()
            .filter(|w| w.eval != NONE)
            .map(|w| self.evals[w.eval as usize].job)
            .collect();
        let pending: BTreeSet<u32> = self
            .evals
            .iter()
            .filter(|e| e.status == EvalStatus::Pending)
            .map(|e| e.job)
            .collect();
        for (j, job) in self.jobs.iter().enumerate() {
            let j = j as u32;
            if job.stopped || blocked.contains(&j) || busy.contains(&j) || pending.contains(&j) {
                continue;
            }
            for (gi, g) in job.groups.iter().enumerate() {
                for (si, s) in g.slots.iter().enumerate() {
                    if matches!(s.state, SlotState::Empty | SlotState::Planned) {
                        let evs: Vec<String> = self
                            .evals
                            .iter()
                            .filter(|e| e.job == j)
                            .map(|e| {
                                format!(
                                    "{}:{:?}:d{}:t{}",
                                    e.triggered_by, e.status, e.deliveries, e.token
                                )
                            })
                            .collect();
                        out.push(format!(
                            "job {} group {gi} slot {si}: {:?} (plan token {}) evals {evs:?}",
                            job.spec.id, s.state, s.plan_token
                        ));
                    }
                }
            }
        }
        out
    }

    /// Allocations known to have waited (job submit → task start) longer than `threshold_ns` by now: those
    /// that started late, plus those of jobs submitted more than `threshold_ns` ago that have not started.
    /// Lets a caller stop a run early once a latency SLO is provably missed.
    pub fn late_allocs(&self, threshold_ns: u64) -> u64 {
        let mut late = 0u64;
        let horizon = self.now.saturating_sub(threshold_ns);
        for job in &self.jobs {
            if job.intended_submit > horizon || job.stopped {
                continue;
            }
            for g in &job.groups {
                for slot in &g.slots {
                    let started =
                        slot.alloc != NONE && self.allocs[slot.alloc as usize].started != TIME_NONE;
                    match slot.state {
                        SlotState::Empty | SlotState::Planned | SlotState::WaitingReschedule => {
                            late += 1
                        }
                        SlotState::Placed if !started => late += 1,
                        _ => {}
                    }
                }
            }
            for &a in &job.allocs {
                let al = &self.allocs[a as usize];
                if al.started != TIME_NONE
                    && al.started - job.intended_submit.min(al.started) > threshold_ns
                {
                    late += 1;
                }
            }
        }
        late
    }

    // ------------------------------------------------------------------ internals: events

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
            Ev::NodeDeath(n) => {
                if !self.nodes[n as usize].dead {
                    let notice = self.rng_fault.random::<f64>() < self.p.spot_notice_probability;
                    if notice {
                        self.spot_notice(n)
                    } else {
                        self.node_death(n, "spot_interruption")
                    }
                }
            }
            Ev::NodeDetected(n) => self.node_detected(n),
            Ev::SpotNotice(n) => {
                if !self.nodes[n as usize].dead {
                    self.node_death(n, "spot_interruption")
                }
            }
            Ev::Fault(i) => self.fault(i),
            Ev::AutoscaleTick(pi) => self.autoscale(pi),
            Ev::NodeReady(n) => {
                let pi = self.nodes[n as usize].pool as usize;
                self.pools[pi].booting = self.pools[pi].booting.saturating_sub(1);
                if !self.nodes[n as usize].dead {
                    self.node_ready(n);
                    self.capacity_changed();
                }
            }
            Ev::NackTimeout(e, tok) => self.nack_timeout(e, tok),
            Ev::Redeliver(e) => {
                let (pr, st) = (
                    self.evals[e as usize].priority,
                    self.evals[e as usize].status,
                );
                if st == EvalStatus::Pending {
                    self.broker.requeue(e, pr);
                    self.dispatch_workers();
                }
            }
            Ev::Unblock => {
                self.unblock_scheduled = false;
                self.unblock();
            }
            Ev::Reschedule(a) => {
                let job = self.allocs[a as usize].job;
                if !self.jobs[job as usize].stopped {
                    let (g, s) = (
                        self.allocs[a as usize].group as usize,
                        self.allocs[a as usize].slot as usize,
                    );
                    let slot = &mut self.jobs[job as usize].groups[g].slots[s];
                    if slot.state == SlotState::WaitingReschedule {
                        slot.state = SlotState::Empty;
                        self.add_unplaced(job, g, 1);
                        self.raft_append(Entry::EvalCreate {
                            job,
                            triggered_by: "alloc-failure",
                            node: NONE,
                        });
                    }
                }
            }
            Ev::ElectionDone => {
                let deferred = std::mem::take(&mut self.deferred_requests);
                for r in deferred {
                    self.request_arrive(r);
                }
                self.dispatch_workers();
                self.try_start_applier();
            }
            Ev::AllocKilled(a) => {
                let al = &mut self.allocs[a as usize];
                if !self.nodes[al.node as usize].dead
                    && !matches!(
                        al.client_side,
                        ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
                    )
                {
                    let was_running = al.client_side == ClientStatus::Running;
                    al.client_side = ClientStatus::Complete;
                    al.finished = self.now;
                    let (node, job, g) = (al.node, al.job, al.group);
                    if was_running {
                        self.running_now -= 1;
                    }
                    let img = self.jobs[job as usize].groups[g as usize].image;
                    self.nodes[node as usize].release_image(img, self.now);
                    self.queue_client_update(node, a);
                }
            }
        }
    }

    // ------------------------------------------------------------------ nodes

    fn add_node(&mut self, pool: u32, t: SimTime) -> u32 {
        let idx = self.nodes.len() as u32;
        let pc = self.pools[pool as usize].cfg.clone();
        let images = pc
            .prepulled_images
            .iter()
            .map(|im| {
                let id = self.intern_image(im, 0);
                CachedImage {
                    image: id,
                    in_use: 0,
                    released_at: 0,
                    pinned: true,
                    pulling_until: None,
                }
            })
            .collect();
        let dc = self.dcs.binary_search(&pc.datacenter).unwrap_or(0) as u32;
        let phase = self
            .rng_client
            .random_range(0..self.p.client_update_batch_us.max(1) * US);
        self.nodes.push(Node {
            id: rng::uuid(self.seed, IdKind::Node, idx as u64),
            name: format!("{}-{}", pc.name, self.pools[pool as usize].nodes.len()),
            pool,
            dc,
            cpu_cap: pc.cpu_mhz - pc.reserved_cpu_mhz,
            mem_cap: pc.memory_mb - pc.reserved_memory_mb,
            cpu_used: 0,
            mem_used: 0,
            status: NodeStatus::Initializing,
            eligible: true,
            drain: false,
            dead: false,
            live_allocs: 0,
            total_allocs: 0,
            images,
            flush_scheduled: false,
            pending_updates: Vec::new(),
            joined: t,
            left: None,
            left_reason: "",
            idle_since: t,
            create_index: 0,
            modify_index: 0,
            status_updated_at: t,
            tick_phase: phase,
        });
        self.node_allocs.push(Vec::new());
        self.job_on_node.push(0);
        self.pools[pool as usize].nodes.push(idx);
        if pc.interruption_rate_per_month > 0.0 {
            let rate_per_ns = pc.interruption_rate_per_month / (30.0 * 86_400.0 * 1e9);
            let dt = Exp::new(rate_per_ns)
                .map(|d| d.sample(&mut self.rng_fault))
                .unwrap_or(f64::INFINITY);
            if dt.is_finite() && (t as f64 + dt) < self.max_time as f64 {
                self.push(t + dt as u64, Ev::NodeDeath(idx));
            }
        }
        idx
    }

    fn node_ready(&mut self, n: u32) {
        self.raft_index += 1;
        let nd = &mut self.nodes[n as usize];
        nd.status = NodeStatus::Ready;
        nd.joined = self.now;
        nd.idle_since = self.now;
        nd.status_updated_at = self.now;
        nd.create_index = self.raft_index;
        nd.modify_index = self.raft_index;
        if self.now > 0 {
            self.run_events.push(RunEvent {
                t_ns: self.now,
                kind: "node_joined".into(),
                node_id: Some(nd.id.clone()),
                detail: nd.name.clone(),
            });
        }
        if self.record_changes {
            let v = self.node_view(n);
            self.changes.push(ChangeBatch {
                index: self.raft_index,
                time: self.now,
                kind: ChangeKind::NodeRegistration,
                jobs: vec![],
                evals: vec![],
                allocs: vec![],
                nodes: vec![v],
                purged_jobs: vec![],
            });
        }
    }

    fn live_pool_nodes(&self, p: &PoolRt) -> usize {
        p.nodes
            .iter()
            .filter(|&&n| {
                !self.nodes[n as usize].dead
                    && self.nodes[n as usize].status != NodeStatus::Initializing
            })
            .count()
    }

    fn spot_notice(&mut self, n: u32) {
        let id = self.nodes[n as usize].id.clone();
        self.run_events.push(RunEvent {
            t_ns: self.now,
            kind: "spot_notice".into(),
            node_id: Some(id),
            detail: "2-minute interruption notice; draining".into(),
        });
        self.raft_append(Entry::NodeDrain { node: n });
        self.push(self.now + self.p.spot_notice_us * US, Ev::SpotNotice(n));
    }

    fn node_death(&mut self, n: u32, reason: &'static str) {
        let now = self.now;
        let nd = &mut self.nodes[n as usize];
        nd.dead = true;
        nd.left = Some(now);
        nd.left_reason = reason;
        let id = nd.id.clone();
        let name = nd.name.clone();
        if reason == "spot_interruption" {
            self.counters.spot_interruptions += 1;
            self.run_events.push(RunEvent {
                t_ns: now,
                kind: "spot_interruption".into(),
                node_id: Some(id),
                detail: name,
            });
        }
        // Tasks on the node stop with it (truth); the servers find out at detection.
        for &a in &self.node_allocs[n as usize] {
            let al = &mut self.allocs[a as usize];
            if al.client_side == ClientStatus::Running {
                self.running_now -= 1;
            }
        }
        let ttl = if now < self.ttl_override_until {
            self.p.failover_heartbeat_ttl_us * US
        } else {
            self.p.heartbeat_ttl_base_us(self.nodes_ready()) * US
        };
        let d = detection_delay_ns(&mut self.rng_fault, ttl, self.p.heartbeat_grace_us * US);
        self.push(now + d, Ev::NodeDetected(n));
    }

    fn node_detected(&mut self, n: u32) {
        if self.nodes[n as usize].status != NodeStatus::Down {
            self.raft_append(Entry::NodeStatus {
                node: n,
                status: NodeStatus::Down,
            });
        }
    }

    fn fault(&mut self, i: u32) {
        let f = self.faults[i as usize].clone();
        match f.kind {
            FaultKind::SpotLoss { fraction, notice } => {
                let k = self.inject_spot_loss(fraction, notice, f.pool.as_deref());
                self.run_events.push(RunEvent {
                    t_ns: self.now,
                    kind: "fault".into(),
                    node_id: None,
                    detail: format!(
                        "scripted spot loss: {k} nodes ({:.0}%), notice={notice}",
                        fraction * 100.0
                    ),
                });
            }
            FaultKind::LeaderChange => self.inject_leader_change(),
        }
    }

    fn autoscale(&mut self, pi: u32) {
        let Some(a) = self.pools[pi as usize].cfg.autoscale.clone() else {
            return;
        };
        self.push(self.now + a.interval_ns, Ev::AutoscaleTick(pi));
        let pool = &self.pools[pi as usize];
        let live = self.live_pool_nodes(pool) as u32;
        let booting = pool.booting;
        let (cpu_cap, mem_cap) = (
            pool.cfg.cpu_mhz - pool.cfg.reserved_cpu_mhz,
            pool.cfg.memory_mb - pool.cfg.reserved_memory_mb,
        );
        let want_extra = if self.unplaced == 0 {
            0
        } else if a.queue_per_node > 0 {
            self.unplaced.div_ceil(a.queue_per_node as u64) as u32
        } else {
            let by_cpu = self.unplaced_cpu.div_ceil(cpu_cap.max(1) as u64);
            let by_mem = self.unplaced_mem.div_ceil(mem_cap.max(1) as u64);
            by_cpu.max(by_mem).max(1) as u32
        };
        let target = (live + want_extra).clamp(a.min, a.max);
        if target > live + booting {
            let add = target - live - booting;
            for _ in 0..add {
                let n = self.add_node(pi, self.now);
                self.pools[pi as usize].booting += 1;
                self.counters.nodes_added += 1;
                self.push(self.now + a.boot_ns, Ev::NodeReady(n));
            }
            self.run_events.push(RunEvent {
                t_ns: self.now,
                kind: "scale_up".into(),
                node_id: None,
                detail: format!(
                    "{}: +{add} nodes ({} queued allocs)",
                    self.pools[pi as usize].cfg.name, self.unplaced
                ),
            });
        } else if self.unplaced == 0 && booting == 0 {
            let mut removable = live.saturating_sub(a.min);
            let mut removed = 0;
            let list = self.pools[pi as usize].nodes.clone();
            for n in list {
                if removable == 0 {
                    break;
                }
                let nd = &self.nodes[n as usize];
                if !nd.dead
                    && nd.status == NodeStatus::Ready
                    && nd.live_allocs == 0
                    && self.now >= nd.idle_since + a.scale_down_idle_ns
                {
                    self.nodes[n as usize].dead = true;
                    self.nodes[n as usize].left = Some(self.now);
                    self.nodes[n as usize].left_reason = "scale_down";
                    self.raft_append(Entry::NodeStatus {
                        node: n,
                        status: NodeStatus::Down,
                    });
                    removable -= 1;
                    removed += 1;
                }
            }
            if removed > 0 {
                self.run_events.push(RunEvent {
                    t_ns: self.now,
                    kind: "scale_down".into(),
                    node_id: None,
                    detail: format!(
                        "{}: -{removed} idle nodes",
                        self.pools[pi as usize].cfg.name
                    ),
                });
            }
        }
    }

    fn intern_image(&mut self, name: &str, bytes: u64) -> u32 {
        if let Some(&i) = self.images.get(name) {
            let b = &mut self.image_bytes[i as usize];
            *b = (*b).max(bytes);
            return i;
        }
        let i = self.image_bytes.len() as u32;
        self.images.insert(name.to_string(), i);
        self.image_bytes.push(bytes);
        i
    }

    // ------------------------------------------------------------------ requests and raft

    fn request_arrive(&mut self, r: u64) {
        if self.now < self.election_until {
            self.deferred_requests.push(r);
            return;
        }
        let req = self.requests.get(&r).cloned();
        match req {
            Some(Request::Register {
                spec,
                intended,
                sent,
            }) => {
                self.raft_append(Entry::Register {
                    req: r,
                    spec,
                    parent: None,
                    intended,
                    sent,
                });
            }
            Some(Request::Deregister { job, purge }) => match self.job_by_id.get(&job) {
                Some(&j) => {
                    self.raft_append(Entry::Deregister {
                        req: r,
                        job: j,
                        purge,
                    });
                }
                None => self.complete(r, RequestOutcome::Failed("job not found".into())),
            },
            Some(Request::Dispatch {
                parent,
                meta,
                intended,
                sent,
            }) => {
                let Some(&pj) = self.job_by_id.get(&parent) else {
                    self.complete(r, RequestOutcome::Failed("job not found".into()));
                    return;
                };
                let pjob = &mut self.jobs[pj as usize];
                pjob.dispatch_count += 1;
                let n = pjob.dispatch_count;
                let mut spec = (*pjob.spec).clone();
                let suffix = &rng::uuid(self.seed, IdKind::Dispatch, (pj as u64) << 32 | n)[..8];
                spec.id = format!(
                    "{}/dispatch-{}-{}",
                    parent,
                    1_605_571_200 + self.now / SEC,
                    suffix
                );
                spec.parameterized = false;
                spec.meta.extend(meta);
                self.raft_append(Entry::Register {
                    req: r,
                    spec: Arc::new(spec),
                    parent: Some(pj),
                    intended,
                    sent,
                });
            }
            None => {}
        }
    }

    fn complete(&mut self, r: u64, outcome: RequestOutcome) {
        self.requests.remove(&r);
        // The response travels back half an RTT; the submitter sees it then.
        let t = self.now + self.p.api_rtt_us * US / 2;
        self.completed.push((RequestId(r), t, outcome));
    }

    fn entry_bytes(&self, e: &Entry) -> u64 {
        let p = &self.p;
        p.raft_entry_overhead_bytes
            + match e {
                Entry::Register { spec, .. } => {
                    p.raft_job_register_bytes + p.raft_job_group_bytes * spec.groups.len() as u64
                }
                Entry::Deregister { .. } => 200,
                Entry::Plan(pl) => {
                    let plan = self.plans[*pl as usize].as_ref().expect("plan");
                    let n = plan.accepted.iter().filter(|&&a| a).count() as u64
                        + plan.stops.len() as u64;
                    n * p.raft_plan_alloc_bytes
                }
                Entry::ClientUpdate(v) => v.len() as u64 * p.raft_client_update_alloc_bytes,
                Entry::EvalUpdate { .. } | Entry::EvalCreate { .. } => 600,
                Entry::NodeStatus { .. } | Entry::NodeDrain { .. } => 300,
            }
    }

    fn fsm_cost_ns(&self, e: &Entry) -> u64 {
        let p = &self.p;
        US * (p.fsm_entry_base_us
            + match e {
                Entry::Register { .. } => p.fsm_register_job_us,
                Entry::Plan(pl) => {
                    let plan = self.plans[*pl as usize].as_ref().expect("plan");
                    let n = plan.accepted.iter().filter(|&&a| a).count() as u64
                        + plan.stops.len() as u64;
                    n * p.fsm_plan_alloc_us
                }
                Entry::ClientUpdate(v) => v.len() as u64 * p.fsm_client_update_alloc_us,
                _ => 0,
            })
    }

    fn raft_append(&mut self, e: Entry) {
        let bytes = self.entry_bytes(&e);
        let id = match self.free_entries.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(e);
                i
            }
            None => {
                self.entries.push(Some(e));
                self.entry_index.push(0);
                (self.entries.len() - 1) as u32
            }
        };
        self.raft_index += 1;
        self.entry_index[id as usize] = self.raft_index;
        if let Some(done) = self.raft.append(self.now, id, bytes, &self.p) {
            self.push(done, Ev::DiskDone);
        }
    }

    fn disk_done(&mut self) {
        let mut buf = std::mem::take(&mut self.committed_buf);
        buf.clear();
        let next = self.raft.on_disk_done(self.now, &self.p, &mut buf);
        if let Some(t) = next {
            self.push(t, Ev::DiskDone);
        }
        for &(id, commit) in &buf {
            let cost = self.fsm_cost_ns(self.entries[id as usize].as_ref().expect("entry"));
            let done = self.raft.fsm_apply(commit, cost);
            // every server applies every entry
            for r in &mut self.res {
                r.busy_ns += cost;
                r.busy_ns_total += cost;
            }
            self.push(done, Ev::Applied(id));
        }
        self.committed_buf = buf;
    }

    fn applied(&mut self, id: u32) {
        let e = self.entries[id as usize]
            .take()
            .expect("entry applied once");
        let index = self.entry_index[id as usize];
        self.free_entries.push(id);
        match e {
            Entry::Register {
                req,
                spec,
                parent,
                intended,
                sent,
            } => self.apply_register(req, spec, parent, intended, sent, index),
            Entry::Deregister { req, job, purge } => self.apply_deregister(req, job, purge, index),
            Entry::Plan(pl) => self.apply_plan(pl, index),
            Entry::ClientUpdate(v) => self.apply_client_update(v, index),
            Entry::EvalUpdate {
                eval,
                worker,
                token,
                status,
                block,
                desc,
            } => self.apply_eval_update(eval, worker, token, status, block, desc, index),
            Entry::EvalCreate {
                job,
                triggered_by,
                node,
            } => {
                let e = self.create_eval(job, triggered_by, node, index);
                self.emit(index, ChangeKind::EvaluationUpdated, &[], &[e], &[], &[]);
                self.enqueue_eval(e);
            }
            Entry::NodeStatus { node, status } => self.apply_node_status(node, status, index),
            Entry::NodeDrain { node } => self.apply_node_drain(node, index),
        }
        if self.raft.snapshot_due(self.now, &self.p) {
            let b = self
                .raft
                .take_snapshot(self.now, resources::state_bytes(&self.p, self.state_size()));
            let cost = b * SEC / self.p.raft_disk_bytes_per_s.max(1) / 4;
            for r in &mut self.res {
                r.busy_ns += cost;
                r.busy_ns_total += cost;
            }
        }
    }

    fn apply_register(
        &mut self,
        req: u64,
        spec: Arc<JobSpec>,
        parent: Option<u32>,
        intended: SimTime,
        sent: SimTime,
        index: u64,
    ) {
        let id = spec.id.clone();
        let groups: Vec<GroupRt> = spec
            .groups
            .iter()
            .map(|g| GroupRt {
                slots: (0..g.count)
                    .map(|_| Slot {
                        state: SlotState::Empty,
                        plan_token: 0,
                        alloc: NONE,
                        reschedules_left: 1,
                    })
                    .collect(),
                image: 0,
                replacements_used: 0,
            })
            .collect();
        let images: Vec<u32> = spec
            .groups
            .iter()
            .map(|g| self.intern_image(&g.image, g.image_bytes))
            .collect();
        let j = match self.job_by_id.get(&id) {
            Some(&j) if !self.jobs[j as usize].purged => {
                // Re-register: a new version. Existing live allocations are kept by slot; extra slots empty.
                let job = &mut self.jobs[j as usize];
                job.version += 1;
                job.spec = spec.clone();
                job.modify_index = index;
                job.job_modify_index = index;
                job.stopped = false;
                for (gi, g) in groups.into_iter().enumerate() {
                    if gi < job.groups.len() {
                        let old = &mut job.groups[gi];
                        old.slots.resize(
                            g.slots.len(),
                            Slot {
                                state: SlotState::Empty,
                                plan_token: 0,
                                alloc: NONE,
                                reschedules_left: 1,
                            },
                        );
                    } else {
                        job.groups.push(g);
                    }
                }
                j
            }
            _ => {
                let j = self.jobs.len() as u32;
                self.jobs.push(Job {
                    spec: spec.clone(),
                    submit_time: self.now,
                    intended_submit: intended,
                    sent,
                    create_index: index,
                    modify_index: index,
                    job_modify_index: index,
                    version: 0,
                    stopped: false,
                    purged: false,
                    groups,
                    allocs: Vec::new(),
                    parent,
                    dispatch_count: 0,
                });
                self.job_by_id.insert(id.clone(), j);
                self.counters.jobs_registered += 1;
                j
            }
        };
        for (gi, im) in images.into_iter().enumerate() {
            self.jobs[j as usize].groups[gi].image = im;
        }
        let mut added = 0u64;
        for gi in 0..self.jobs[j as usize].groups.len() {
            let empty = self.jobs[j as usize].groups[gi]
                .slots
                .iter()
                .filter(|s| s.state == SlotState::Empty)
                .count() as u64;
            if !spec.parameterized {
                self.add_unplaced(j, gi, empty);
                added += empty;
            }
        }
        if !spec.parameterized {
            self.counters.allocs_desired += added;
        }
        if spec.parameterized {
            self.emit(index, ChangeKind::JobRegistered, &[j], &[], &[], &[]);
            self.complete(
                req,
                RequestOutcome::Registered {
                    eval_id: String::new(),
                    eval_create_index: 0,
                    job_modify_index: index,
                    index,
                },
            );
            return;
        }
        let e = self.create_eval(j, "job-register", NONE, index);
        self.emit(index, ChangeKind::JobRegistered, &[j], &[e], &[], &[]);
        let eval_id = self.eval_id(e);
        let outcome = match parent {
            Some(_) => RequestOutcome::Dispatched {
                dispatched_job_id: id,
                eval_id,
                eval_create_index: index,
                job_create_index: self.jobs[j as usize].create_index,
                index,
            },
            None => RequestOutcome::Registered {
                eval_id,
                eval_create_index: index,
                job_modify_index: index,
                index,
            },
        };
        if let Some(pj) = parent {
            self.jobs[pj as usize].modify_index = index;
        }
        self.complete(req, outcome);
        self.enqueue_eval(e);
    }

    fn apply_deregister(&mut self, req: u64, j: u32, purge: bool, index: u64) {
        let job = &mut self.jobs[j as usize];
        job.stopped = true;
        job.modify_index = index;
        if purge {
            job.purged = true;
        }
        // Empty slots no longer need placing.
        let mut removed = 0u64;
        for g in &mut job.groups {
            for s in &mut g.slots {
                if matches!(s.state, SlotState::Empty | SlotState::WaitingReschedule) {
                    if s.state == SlotState::Empty {
                        removed += 1;
                    }
                    s.state = SlotState::Done;
                }
            }
        }
        let (cpu, mem) = self.job_unit(j, 0);
        self.unplaced -= removed.min(self.unplaced);
        self.unplaced_cpu = self.unplaced_cpu.saturating_sub(removed * cpu as u64);
        self.unplaced_mem = self.unplaced_mem.saturating_sub(removed * mem as u64);
        if let Some(b) = self.blocked.remove_job(j) {
            self.evals[b as usize].status = EvalStatus::Canceled;
        }
        let e = self.create_eval(j, "job-deregister", NONE, index);
        self.emit(index, ChangeKind::JobDeregistered, &[j], &[e], &[], &[]);
        if purge {
            let id = self.jobs[j as usize].spec.id.clone();
            self.job_by_id.remove(&id);
            if self.record_changes {
                if let Some(last) = self.changes.last_mut() {
                    last.purged_jobs.push(id);
                }
            }
        }
        let eval_id = self.eval_id(e);
        self.complete(req, RequestOutcome::Deregistered { eval_id, index });
        self.enqueue_eval(e);
    }

    fn job_unit(&self, j: u32, g: usize) -> (u32, u32) {
        let s = &self.jobs[j as usize].spec;
        s.groups
            .get(g)
            .map(|g| (g.cpu_mhz, g.memory_mb))
            .unwrap_or((0, 0))
    }

    fn add_unplaced(&mut self, j: u32, g: usize, n: u64) {
        let (cpu, mem) = self.job_unit(j, g);
        self.unplaced += n;
        self.unplaced_cpu += n * cpu as u64;
        self.unplaced_mem += n * mem as u64;
    }

    fn sub_unplaced(&mut self, j: u32, g: usize, n: u64) {
        let (cpu, mem) = self.job_unit(j, g);
        self.unplaced = self.unplaced.saturating_sub(n);
        self.unplaced_cpu = self.unplaced_cpu.saturating_sub(n * cpu as u64);
        self.unplaced_mem = self.unplaced_mem.saturating_sub(n * mem as u64);
    }

    fn create_eval(&mut self, job: u32, triggered_by: &'static str, node: u32, index: u64) -> u32 {
        let e = self.evals.len() as u32;
        let pr = self.jobs[job as usize].spec.priority;
        let jmi = self.jobs[job as usize].job_modify_index;
        self.evals.push(Eval {
            job,
            priority: pr,
            triggered_by,
            status: EvalStatus::Pending,
            status_description: String::new(),
            create_index: index,
            modify_index: index,
            create_time: self.now,
            modify_time: self.now,
            token: 0,
            nack_seq: 0,
            deliveries: 0,
            blocked_eval: NONE,
            previous_eval: NONE,
            node,
            job_modify_index: jmi,
            queued: 0,
            failed_tgs: Vec::new(),
        });
        e
    }

    fn eval_id(&self, e: u32) -> String {
        rng::uuid(self.seed, IdKind::Eval, e as u64)
    }

    fn enqueue_eval(&mut self, e: u32) {
        let job = self.evals[e as usize].job;
        // A new evaluation supersedes the job's blocked one.
        if let Some(b) = self.blocked.remove_job(job) {
            if b != e {
                self.evals[b as usize].status = EvalStatus::Canceled;
            }
        }
        let pr = self.evals[e as usize].priority;
        self.broker.enqueue(e, job, pr);
        self.dispatch_workers();
    }

    // ------------------------------------------------------------------ workers

    fn dispatch_workers(&mut self) {
        if self.now < self.election_until {
            return;
        }
        while self.broker.ready_len() > 0 {
            // The server with the most free workers takes it (leader first on ties).
            let mut best: Option<usize> = None;
            for s in 0..self.free_workers.len() {
                let si = (self.leader + s) % self.free_workers.len();
                if !self.free_workers[si].is_empty()
                    && best.is_none_or(|b| self.free_workers[si].len() > self.free_workers[b].len())
                {
                    best = Some(si);
                }
            }
            let Some(s) = best else { break };
            let e = self.broker.dequeue().expect("ready eval");
            let w = self.free_workers[s].pop().expect("free worker");
            let ev = &mut self.evals[e as usize];
            ev.token += 1;
            ev.deliveries += 1;
            let tok = ev.token;
            self.workers[w as usize].eval = e;
            self.workers[w as usize].token = tok;
            self.workers[w as usize].attempts = 0;
            self.counters.evals_processed += 1;
            self.arm_nack(e);
            let rpc = if s == self.leader {
                0
            } else {
                self.p.worker_dequeue_rpc_us * US
            };
            self.schedule_eval(w, rpc);
        }
    }

    /// Runs the scheduler for worker `w`'s eval on the current state; submits the plan after its compute time.
    fn schedule_eval(&mut self, w: u32, extra_delay: u64) {
        let e = self.workers[w as usize].eval;
        let token = self.workers[w as usize].token;
        let (plan, cost) = self.compute_plan(e, w, token);
        let server = self.workers[w as usize].server as usize;
        self.res[server].busy_ns += cost;
        self.res[server].busy_ns_total += cost;
        let pid = match self.free_plans.pop() {
            Some(i) => {
                self.plans[i as usize] = Some(plan);
                i
            }
            None => {
                self.plans.push(Some(plan));
                (self.plans.len() - 1) as u32
            }
        };
        self.workers[w as usize].eval = e;
        // stash plan id in attempts' upper bits is ugly: keep a side table instead
        self.push(self.now + extra_delay + cost, Ev::WorkerDone(pid));
    }

    fn compute_plan(&mut self, e: u32, w: u32, token: u64) -> (Plan, u64) {
        let j = self.evals[e as usize].job;
        let p = &self.p;
        let mut cost = p.sched_eval_base_us * US;
        let spec = self.jobs[j as usize].spec.clone();
        let mut plan = Plan {
            eval: e,
            job: j,
            worker: w,
            token,
            priority: spec.priority,
            all_at_once: spec.all_at_once,
            placements: Vec::new(),
            stops: Vec::new(),
            accepted: Vec::new(),
            rejected_nodes: 0,
            create_time: 0,
            failed_tgs: Vec::new(),
        };
        let stopped = self.jobs[j as usize].stopped;
        // Stops: a stopped job stops everything live; draining or down nodes migrate their allocations.
        let mut replace: Vec<(u16, u32, u32, bool)> = Vec::new();
        for &a in &self.jobs[j as usize].allocs {
            let al = &self.allocs[a as usize];
            if al.desired != DesiredStatus::Run
                || matches!(
                    al.server_status,
                    ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
                )
            {
                continue;
            }
            if stopped {
                plan.stops.push((a, false));
            } else {
                let nd = &self.nodes[al.node as usize];
                if nd.drain && nd.status == NodeStatus::Ready {
                    plan.stops.push((a, false));
                    replace.push((al.group, al.slot, a, true));
                }
            }
        }
        if stopped {
            return (plan, cost);
        }
        // Placements: every empty slot, plus migrations.
        let mut wanted: Vec<(u16, u32, u32, bool)> = Vec::new();
        for (gi, g) in self.jobs[j as usize].groups.iter().enumerate() {
            for (si, s) in g.slots.iter().enumerate() {
                // A slot held by a plan of an earlier (timed-out) delivery is free for this one: that plan
                // will be rejected for its stale token.
                if s.state == SlotState::Empty
                    || (s.state == SlotState::Planned && s.plan_token != token)
                {
                    wanted.push((gi as u16, si as u32, s.alloc, false));
                }
            }
        }
        wanted.extend(replace);
        if wanted.is_empty() {
            return (plan, cost);
        }
        // Feasible nodes, shuffled once per evaluation.
        let dc_filter: Vec<u32> =
            if spec.datacenters.is_empty() || spec.datacenters.iter().any(|d| d == "*") {
                Vec::new()
            } else {
                spec.datacenters
                    .iter()
                    .filter_map(|d| self.dcs.binary_search(d).ok().map(|i| i as u32))
                    .collect()
            };
        self.order.clear();
        for (i, n) in self.nodes.iter().enumerate() {
            if n.schedulable() && !n.dead && (dc_filter.is_empty() || dc_filter.contains(&n.dc)) {
                self.order.push(i as u32);
            }
        }
        // Nodes the servers consider ready even if dead (not yet detected) are included: the scheduler
        // cannot know. (Dead nodes are filtered above only once they are down.)
        for (i, n) in self.nodes.iter().enumerate() {
            if n.dead
                && n.status == NodeStatus::Ready
                && n.eligible
                && !n.drain
                && (dc_filter.is_empty() || dc_filter.contains(&n.dc))
            {
                self.order.push(i as u32);
            }
        }
        let mut order = std::mem::take(&mut self.order);
        ranking::shuffle(&mut order, &mut self.rng_sched);
        let n = order.len();
        // Existing allocations of this job per node (anti-affinity collisions).
        let mut touched_nodes: Vec<u32> = Vec::new();
        for &a in &self.jobs[j as usize].allocs {
            let al = &self.allocs[a as usize];
            if al.desired == DesiredStatus::Run
                && !matches!(
                    al.server_status,
                    ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
                )
            {
                if self.job_on_node[al.node as usize] == 0 {
                    touched_nodes.push(al.node);
                }
                self.job_on_node[al.node as usize] += 1;
            }
        }
        let mut cursor = 0usize;
        let algorithm = self.algorithm;
        let mut failed_groups: Vec<u16> = Vec::new();
        for (gi, slot, prev, migration) in wanted {
            if failed_groups.contains(&gi) {
                continue;
            }
            let g = &spec.groups[gi as usize];
            let (cpu, mem) = (g.cpu_mhz, g.memory_mb);
            let lim = ranking::limit(
                spec.job_type,
                spec.spread_block,
                g.count,
                n,
                p.node_limit_for_feasibility_checks,
            );
            let class = g.node_class.as_deref();
            let count = g.count;
            let nodes = &self.nodes;
            let pools = &self.pools;
            let jon = &self.job_on_node;
            let dc_count = self.dcs.len().max(1) as f64;
            let spread_block = spec.spread_block;
            let placed_so_far = touched_nodes.len() as f64;
            let sel = ranking::select(n, &mut cursor, lim, |pos| {
                let ni = order[pos] as usize;
                let nd = &nodes[ni];
                if !nd.fits(cpu, mem)
                    || class.is_some_and(|c| pools[nd.pool as usize].cfg.node_class != c)
                {
                    return Candidate {
                        fits: false,
                        score: 0.0,
                    };
                }
                let (fc, fm) = nd.free_after(cpu, mem);
                let mut sum = ranking::fit_score(algorithm, fc, fm);
                let mut k = 1.0;
                if let Some(aa) = ranking::anti_affinity(jon[ni], count) {
                    sum += aa;
                    k += 1.0;
                }
                if spread_block {
                    // Even spread over datacenters: boost nodes in datacenters below the mean share.
                    let mean = placed_so_far / dc_count;
                    let here = if jon[ni] > 0 { 1.0 } else { 0.0 };
                    sum += ((mean - here) / mean.max(1.0)).clamp(-1.0, 1.0);
                    k += 1.0;
                }
                Candidate {
                    fits: true,
                    score: sum / k,
                }
            });
            let step_cost =
                p.sched_per_alloc_us * US + sel.examined as u64 * p.sched_per_node_scored_us * US;
            cost += step_cost;
            match sel.chosen {
                Some(pos) => {
                    let ni = order[pos];
                    let nd = &mut self.nodes[ni as usize];
                    nd.cpu_used += cpu;
                    nd.mem_used += mem;
                    self.touched.push((ni, cpu, mem));
                    if self.job_on_node[ni as usize] == 0 {
                        touched_nodes.push(ni);
                    }
                    self.job_on_node[ni as usize] += 1;
                    plan.placements.push(Placement {
                        group: gi,
                        slot,
                        node: ni,
                        alloc_time_ns: step_cost.min(u32::MAX as u64) as u32,
                        nodes_evaluated: sel.examined,
                        prev,
                        migration,
                    });
                }
                None => failed_groups.push(gi),
            }
        }
        // Undo the scheduler's scratch usage: the plan applier reserves for real.
        for (ni, cpu, mem) in self.touched.drain(..) {
            let nd = &mut self.nodes[ni as usize];
            nd.cpu_used -= cpu;
            nd.mem_used -= mem;
        }
        for ni in touched_nodes {
            self.job_on_node[ni as usize] = 0;
        }
        self.order = order;
        plan.failed_tgs = failed_groups;
        for pl in &plan.placements {
            let s = &mut self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize];
            if s.state == SlotState::Empty || s.state == SlotState::Planned {
                s.state = SlotState::Planned;
                s.plan_token = token;
            }
        }
        (plan, cost)
    }

    fn worker_done(&mut self, pid: u32) {
        let plan = self.plans[pid as usize].as_ref().expect("plan");
        let (e, tok) = (plan.eval, plan.token);
        if self.evals[e as usize].token != tok {
            self.abandon(pid);
            return;
        }
        if plan.placements.is_empty() && plan.stops.is_empty() {
            self.plan_result(pid);
            return;
        }
        let pr = plan.priority;
        self.pause_nack(e);
        self.plan_queue.insert((Reverse(pr), self.plan_seq, pid));
        self.plan_seq += 1;
        self.try_start_applier();
    }

    /// The worker's eval was redelivered elsewhere: its work is dropped and the worker freed.
    fn abandon(&mut self, pid: u32) {
        let plan = self.plans[pid as usize].take().expect("plan");
        self.free_plans.push(pid);
        for pl in &plan.placements {
            let s =
                &mut self.jobs[plan.job as usize].groups[pl.group as usize].slots[pl.slot as usize];
            if s.state == SlotState::Planned && s.plan_token == plan.token {
                s.state = SlotState::Empty;
            }
        }
        self.free_worker(plan.worker);
    }

    fn free_worker(&mut self, w: u32) {
        let s = self.workers[w as usize].server as usize;
        self.workers[w as usize].eval = NONE;
        self.free_workers[s].push(w);
        self.dispatch_workers();
    }

    // ------------------------------------------------------------------ plan applier

    fn try_start_applier(&mut self) {
        if self.applier_busy || self.apply_waiting.is_some() || self.now < self.election_until {
            return;
        }
        let Some((_, _, pid)) = self.plan_queue.pop_first() else {
            return;
        };
        let stale = {
            let plan = self.plans[pid as usize].as_ref().expect("plan");
            self.evals[plan.eval as usize].token != plan.token
        };
        let mut plan = self.plans[pid as usize].take().expect("plan");
        let mut nodes_in_plan: Vec<u32> = plan.placements.iter().map(|p| p.node).collect();
        nodes_in_plan.sort_unstable();
        nodes_in_plan.dedup();
        let t_verify = (self.p.plan_verify_base_us
            + self.p.plan_verify_per_node_us * nodes_in_plan.len() as u64)
            * US;
        plan.accepted = vec![false; plan.placements.len()];
        if !stale {
            // Verify node by node against current state (which includes verified in-flight plans).
            let mut reject_node: Vec<u32> = Vec::new();
            let spec = self.jobs[plan.job as usize].spec.clone();
            for (i, pl) in plan.placements.iter().enumerate() {
                let g = &spec.groups[pl.group as usize];
                let nd = &mut self.nodes[pl.node as usize];
                if reject_node.contains(&pl.node) {
                    continue;
                }
                if nd.status == NodeStatus::Ready
                    && nd.eligible
                    && !nd.drain
                    && nd.fits(g.cpu_mhz, g.memory_mb)
                {
                    nd.cpu_used += g.cpu_mhz;
                    nd.mem_used += g.memory_mb;
                    plan.accepted[i] = true;
                } else {
                    reject_node.push(pl.node);
                }
            }
            // A node rejected part-way rejects all its placements in this plan.
            if !reject_node.is_empty() {
                for (i, pl) in plan.placements.iter().enumerate() {
                    if plan.accepted[i] && reject_node.contains(&pl.node) {
                        let g = &spec.groups[pl.group as usize];
                        let nd = &mut self.nodes[pl.node as usize];
                        nd.cpu_used -= g.cpu_mhz;
                        nd.mem_used -= g.memory_mb;
                        plan.accepted[i] = false;
                    }
                }
                if plan.all_at_once {
                    for (i, pl) in plan.placements.iter().enumerate() {
                        if plan.accepted[i] {
                            let g = &spec.groups[pl.group as usize];
                            let nd = &mut self.nodes[pl.node as usize];
                            nd.cpu_used -= g.cpu_mhz;
                            nd.mem_used -= g.memory_mb;
                            plan.accepted[i] = false;
                        }
                    }
                    plan.stops.clear();
                }
                plan.rejected_nodes = reject_node.len() as u32;
                self.counters.plan_node_rejections += reject_node.len() as u64;
                self.sec_rejections += reject_node.len() as u64;
            }
        } else {
            plan.stops.clear();
            plan.rejected_nodes = nodes_in_plan.len() as u32;
        }
        let leader = self.leader;
        self.res[leader].busy_ns += t_verify;
        self.res[leader].busy_ns_total += t_verify;
        self.plans[pid as usize] = Some(plan);
        self.applier_busy = true;
        self.push(self.now + t_verify, Ev::VerifyDone(pid));
    }

    fn verify_done(&mut self, pid: u32) {
        self.applier_busy = false;
        if self.apply_inflight.is_some() {
            self.apply_waiting = Some(pid);
        } else {
            self.submit_plan(pid);
            self.try_start_applier();
        }
    }

    fn submit_plan(&mut self, pid: u32) {
        let plan = self.plans[pid as usize].as_mut().expect("plan");
        plan.create_time = self.now;
        let nothing = !plan.accepted.iter().any(|&a| a) && plan.stops.is_empty();
        if nothing {
            self.plan_result(pid);
            return;
        }
        self.apply_inflight = Some(pid);
        self.raft_append(Entry::Plan(pid));
    }

    fn apply_plan(&mut self, pid: u32, index: u64) {
        self.apply_inflight = None;
        if let Some(wp) = self.apply_waiting.take() {
            self.submit_plan(wp);
        }
        let plan = self.plans[pid as usize].take().expect("plan");
        let j = plan.job;
        let mut changed_allocs: Vec<u32> = Vec::new();
        // Stops (and lost marks) free resources at commit.
        for &(a, lost) in &plan.stops {
            let al = &mut self.allocs[a as usize];
            al.desired = DesiredStatus::Stop;
            al.modify_index = index;
            al.modify_time = plan.create_time;
            if lost {
                al.server_status = ClientStatus::Lost;
            }
            self.release_alloc(a);
            let (node, g, s) = {
                let al = &self.allocs[a as usize];
                (al.node, al.group as usize, al.slot as usize)
            };
            if !self.nodes[node as usize].dead {
                self.push(
                    self.now + (self.p.client_notice_us + self.p.client_kill_us) * US,
                    Ev::AllocKilled(a),
                );
            }
            let stopped = self.jobs[j as usize].stopped;
            let slot = &mut self.jobs[j as usize].groups[g].slots[s];
            if slot.alloc == a && slot.state == SlotState::Placed {
                slot.state = if stopped {
                    SlotState::Done
                } else {
                    SlotState::Empty
                };
            }
            changed_allocs.push(a);
        }
        let spec = self.jobs[j as usize].spec.clone();
        let mut placed = 0u64;
        for (i, pl) in plan.placements.iter().enumerate() {
            let slot_state =
                self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize].state;
            if !plan.accepted[i] {
                let sl =
                    &mut self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize];
                if slot_state == SlotState::Planned && sl.plan_token == plan.token {
                    sl.state = SlotState::Empty;
                }
                continue;
            }
            let g = &spec.groups[pl.group as usize];
            let a = self.allocs.len() as u32;
            let (run_ns, recorded_ok) = match &g.run {
                RunPlan::Model { duration, .. } => (
                    match *duration {
                        RunDuration::Forever => u64::MAX,
                        RunDuration::Fixed(d) => d,
                        RunDuration::LogNormal { median_ns, sigma } => {
                            lognormal(&mut self.rng_client, median_ns, sigma)
                        }
                    },
                    None,
                ),
                RunPlan::Recorded(v) => {
                    if v.is_empty() {
                        (0, Some(true))
                    } else {
                        // A replacement of a failed allocation replays the next recorded replacement
                        // outcome (entries at `count + k`); first attempts (and replacements of lost
                        // allocations, whose work restarts) replay entry `slot % len`.
                        let replacing_failed = pl.prev != NONE
                            && self.allocs[pl.prev as usize].server_status == ClientStatus::Failed;
                        let grt = &mut self.jobs[j as usize].groups[pl.group as usize];
                        let next = (g.count + grt.replacements_used) as usize;
                        let idx = if replacing_failed && next < v.len() {
                            grt.replacements_used += 1;
                            next
                        } else {
                            pl.slot as usize % v.len()
                        };
                        let (d, ok) = v[idx];
                        (d, Some(ok))
                    }
                }
            };
            let rescheduled = pl.prev != NONE;
            self.allocs.push(Alloc {
                job: j,
                group: pl.group,
                slot: pl.slot,
                node: pl.node,
                eval: plan.eval,
                cpu: g.cpu_mhz,
                mem: g.memory_mb,
                create_time: plan.create_time,
                modify_time: plan.create_time,
                received: TIME_NONE,
                started: TIME_NONE,
                finished: TIME_NONE,
                create_index: index,
                modify_index: index,
                client_side: ClientStatus::Pending,
                server_status: ClientStatus::Pending,
                desired: DesiredStatus::Run,
                prev: pl.prev,
                next: NONE,
                restarts: 0,
                rescheduled,
                lost: false,
                freed: false,
                alloc_time_ns: pl.alloc_time_ns,
                nodes_evaluated: pl.nodes_evaluated,
                run_ns,
                recorded_ok,
                attempt: 0,
            });
            if pl.prev != NONE {
                self.allocs[pl.prev as usize].next = a;
            }
            let slot = &mut self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize];
            slot.state = SlotState::Placed;
            slot.alloc = a;
            self.jobs[j as usize].allocs.push(a);
            self.node_allocs[pl.node as usize].push(a);
            let nd = &mut self.nodes[pl.node as usize];
            nd.live_allocs += 1;
            nd.total_allocs += 1;
            changed_allocs.push(a);
            placed += 1;
            let jitter = (self.rng_client.random::<f64>() * self.p.client_notice_us as f64 * 0.5)
                as u64
                * US;
            self.push(
                self.now + self.p.client_notice_us * US + jitter,
                Ev::AllocNotice(a),
            );
        }
        // Unplaced counts: placements leave the queue (migrations did not enter it).
        let mut by_group: BTreeMap<u16, u64> = BTreeMap::new();
        for (i, pl) in plan.placements.iter().enumerate() {
            if plan.accepted[i] && !pl.migration {
                *by_group.entry(pl.group).or_default() += 1;
            }
        }
        for (g, n) in by_group {
            self.sub_unplaced(j, g as usize, n);
        }
        self.counters.placements += placed;
        self.counters.plans_applied += 1;
        self.sec_placements += placed;
        self.jobs[j as usize].modify_index = index;
        let e = plan.eval;
        self.evals[e as usize].modify_index = index;
        if self.record_changes {
            self.emit(
                index,
                ChangeKind::PlanResult,
                &[j],
                &[e],
                &changed_allocs,
                &[],
            );
        }
        if !plan.stops.is_empty() {
            self.capacity_changed();
        }
        self.plans[pid as usize] = Some(plan);
        self.plan_result(pid);
        self.try_start_applier();
    }

    /// The worker learns its plan's result: re-plan, block, or complete the eval.
    fn plan_result(&mut self, pid: u32) {
        let plan = self.plans[pid as usize].take().expect("plan");
        self.free_plans.push(pid);
        let (e, w, tok, j) = (plan.eval, plan.worker, plan.token, plan.job);
        if self.evals[e as usize].token != tok {
            for pl in &plan.placements {
                let s =
                    &mut self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize];
                if s.state == SlotState::Planned && s.plan_token == tok {
                    s.state = SlotState::Empty;
                }
            }
            self.free_worker(w);
            return;
        }
        self.arm_nack(e);
        // Placements the applier rejected go back to wanting a placement.
        for (i, pl) in plan.placements.iter().enumerate() {
            if !plan.accepted.get(i).copied().unwrap_or(false) {
                let s =
                    &mut self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize];
                if s.state == SlotState::Planned && s.plan_token == tok {
                    s.state = SlotState::Empty;
                }
            }
        }
        let progress = plan.accepted.iter().any(|&a| a);
        let remaining = self.jobs[j as usize]
            .groups
            .iter()
            .map(|g| {
                g.slots
                    .iter()
                    .filter(|s| s.state == SlotState::Empty)
                    .count()
            })
            .sum::<usize>();
        let stopped = self.jobs[j as usize].stopped;
        if plan.rejected_nodes > 0 && remaining > 0 && !stopped {
            let wk = &mut self.workers[w as usize];
            if progress {
                wk.attempts = 0;
            } else {
                wk.attempts += 1;
            }
            let max = match self.jobs[j as usize].spec.job_type {
                JobType::Batch => self.p.batch_max_attempts,
                JobType::Service => self.p.service_max_attempts,
            };
            if wk.attempts < max {
                // RefreshIndex: re-plan on fresh state, on the same worker.
                self.schedule_eval(w, 0);
                return;
            }
        }
        let block = remaining > 0 && !stopped;
        self.evals[e as usize].queued = remaining as u32;
        self.evals[e as usize].failed_tgs = plan.failed_tgs.clone();
        let desc = if block {
            format!("{remaining} allocations could not be placed")
        } else {
            String::new()
        };
        self.raft_append(Entry::EvalUpdate {
            eval: e,
            worker: w,
            token: tok,
            status: EvalStatus::Complete,
            block,
            desc,
        });
    }

    #[allow(clippy::too_many_arguments)]
    fn apply_eval_update(
        &mut self,
        e: u32,
        w: u32,
        tok: u64,
        status: EvalStatus,
        block: bool,
        desc: String,
        index: u64,
    ) {
        if self.evals[e as usize].token != tok {
            self.free_worker(w);
            return;
        }
        let job = self.evals[e as usize].job;
        let ev = &mut self.evals[e as usize];
        ev.status = status;
        ev.status_description = desc;
        ev.modify_index = index;
        ev.modify_time = self.now;
        ev.token += 1;
        ev.nack_seq += 1; // disarms the nack timer
        let mut changed = vec![e];
        if block
            && status == EvalStatus::Complete
            && self.evals[e as usize].triggered_by == "queued-allocs"
        {
            // An unblocked eval that still cannot place is re-blocked as it is ([src] `Worker.ReblockEval`).
            let ev = &mut self.evals[e as usize];
            ev.status = EvalStatus::Blocked;
            let pr = self.evals[e as usize].priority;
            let ask = self.job_min_ask(job);
            if let Some(old) = self.blocked.reblock(job, e, pr, ask) {
                if old != e {
                    self.evals[old as usize].status = EvalStatus::Canceled;
                }
            }
            self.capacity_check_after_block();
        } else if block && status == EvalStatus::Complete {
            let b = self.create_eval(job, "queued-allocs", NONE, index);
            self.evals[b as usize].status = EvalStatus::Blocked;
            self.evals[b as usize].previous_eval = e;
            self.evals[e as usize].blocked_eval = b;
            let pr = self.evals[b as usize].priority;
            let ask = self.job_min_ask(job);
            if let Some(old) = self.blocked.block(job, b, pr, ask) {
                self.evals[old as usize].status = EvalStatus::Canceled;
            }
            self.counters.evals_blocked += 1;
            changed.push(b);
            self.capacity_check_after_block();
        }
        if status == EvalStatus::Failed {
            self.counters.evals_failed += 1;
        }
        self.emit(
            index,
            ChangeKind::EvaluationUpdated,
            &[],
            &changed,
            &[],
            &[],
        );
        self.broker.ack(job);
        self.free_worker(w);
    }

    /// Nomad re-checks capacity that changed while an eval was being scheduled (`missedUnblock`).
    fn capacity_check_after_block(&mut self) {
        if self.unblock_pending_since_block {
            self.capacity_changed();
        }
    }

    /// (Re)starts the eval's nack timer.
    fn arm_nack(&mut self, e: u32) {
        let ev = &mut self.evals[e as usize];
        ev.nack_seq += 1;
        let seq = ev.nack_seq;
        self.push(
            self.now + self.p.broker_nack_timeout_us * US,
            Ev::NackTimeout(e, seq),
        );
    }

    /// Nomad pauses the nack timer while the eval's plan sits in the plan queue (`PauseNackTimeout`).
    fn pause_nack(&mut self, e: u32) {
        self.evals[e as usize].nack_seq += 1;
    }

    fn nack_timeout(&mut self, e: u32, seq: u64) {
        let ev = &mut self.evals[e as usize];
        if ev.nack_seq != seq || ev.status != EvalStatus::Pending {
            return;
        }
        // The worker is too slow: the eval is redelivered; the worker's plan will be rejected.
        ev.token += 1;
        self.counters.nacks += 1;
        self.broker.nack();
        let job = ev.job;
        if ev.deliveries >= self.p.broker_delivery_limit {
            ev.status = EvalStatus::Failed;
            ev.status_description = "evaluation reached delivery limit (3)".into();
            self.counters.evals_failed += 1;
            self.broker.fail(job);
            self.dispatch_workers();
        } else {
            let delay = if ev.deliveries == 1 {
                self.p.broker_initial_nack_delay_us
            } else {
                self.p.broker_subsequent_nack_delay_us
            };
            self.push(self.now + delay * US, Ev::Redeliver(e));
        }
    }

    /// A capacity change releases blocked evaluations. Nomad releases all of them and lets the broker serve
    /// them by priority; those that still cannot place are re-blocked after a full scheduling pass. The
    /// model releases, in the same order, the evaluations for which a first-fit check over the current free
    /// capacity finds room for at least one allocation, and charges the scheduling passes the others would
    /// have made (`sched_eval_base_us` + a scan of every node) to the servers' workers without simulating
    /// them: same placements, same server CPU, none of the event storm (see CALIBRATION.md).
    fn unblock(&mut self) {
        let mut free: Vec<(u32, u32)> = self
            .nodes
            .iter()
            .filter(|n| n.schedulable() && !n.dead)
            .map(|n| (n.cpu_cap - n.cpu_used, n.mem_cap - n.mem_used))
            .collect();
        let scan_ns =
            (self.p.sched_eval_base_us + self.p.sched_per_node_scored_us * free.len() as u64) * US;
        let mut max_cpu = free.iter().map(|f| f.0).max().unwrap_or(0);
        let mut max_mem = free.iter().map(|f| f.1).max().unwrap_or(0);
        let list: Vec<(u32, u32)> = self.blocked.iter().collect();
        let total = list.len() as u64;
        let mut released = 0u64;
        for (job, e) in list {
            // Nothing left that any blocked job could use: the rest fail their pass and stay blocked.
            match self.blocked.min_ask() {
                Some((c, m)) if c <= max_cpu && m <= max_mem => {}
                _ => break,
            }
            if self.jobs[job as usize].stopped {
                self.blocked.remove_job(job);
                continue;
            }
            // First fit of the job's wanted allocations into the free capacity.
            let mut fits_any = false;
            let spec = self.jobs[job as usize].spec.clone();
            for (gi, g) in spec.groups.iter().enumerate() {
                if g.cpu_mhz > max_cpu || g.memory_mb > max_mem {
                    continue;
                }
                let wanted = self.jobs[job as usize].groups[gi]
                    .slots
                    .iter()
                    .filter(|s| s.state == SlotState::Empty)
                    .count();
                for _ in 0..wanted {
                    let Some(slot) = free
                        .iter_mut()
                        .find(|f| f.0 >= g.cpu_mhz && f.1 >= g.memory_mb)
                    else {
                        break;
                    };
                    slot.0 -= g.cpu_mhz;
                    slot.1 -= g.memory_mb;
                    fits_any = true;
                }
                if fits_any {
                    max_cpu = free.iter().map(|f| f.0).max().unwrap_or(0);
                    max_mem = free.iter().map(|f| f.1).max().unwrap_or(0);
                }
            }
            if fits_any {
                self.blocked.remove_job(job);
                self.evals[e as usize].status = EvalStatus::Pending;
                let pr = self.evals[e as usize].priority;
                self.broker.enqueue(e, job, pr);
                released += 1;
            }
        }
        let skipped = total - released;
        if skipped > 0 {
            let n = self.res.len() as u64;
            let per = skipped * scan_ns / n.max(1);
            for r in &mut self.res {
                r.busy_ns += per;
                r.busy_ns_total += per;
            }
            self.counters.evals_processed += skipped;
        }
        self.dispatch_workers();
    }

    /// The smallest (CPU, memory) allocation of a job's groups.
    fn job_min_ask(&self, job: u32) -> (u32, u32) {
        let g = &self.jobs[job as usize].spec.groups;
        (
            g.iter().map(|g| g.cpu_mhz).min().unwrap_or(0),
            g.iter().map(|g| g.memory_mb).min().unwrap_or(0),
        )
    }

    fn capacity_changed(&mut self) {
        self.unblock_pending_since_block = true;
        if !self.blocked.is_empty() && !self.unblock_scheduled {
            self.unblock_scheduled = true;
            self.unblock_pending_since_block = false;
            self.push(self.now + self.p.unblock_coalesce_us * US, Ev::Unblock);
        }
    }

    fn release_alloc(&mut self, a: u32) {
        let al = &mut self.allocs[a as usize];
        if al.freed {
            return;
        }
        al.freed = true;
        let nd = &mut self.nodes[al.node as usize];
        nd.cpu_used -= al.cpu;
        nd.mem_used -= al.mem;
        nd.live_allocs -= 1;
        if nd.live_allocs == 0 {
            nd.idle_since = self.now;
        }
    }

    // ------------------------------------------------------------------ clients

    fn alloc_notice(&mut self, a: u32) {
        let (node, desired, j, g) = {
            let al = &self.allocs[a as usize];
            (al.node, al.desired, al.job as usize, al.group as usize)
        };
        if self.nodes[node as usize].dead || desired != DesiredStatus::Run {
            return;
        }
        self.allocs[a as usize].received = self.now;
        let img = self.jobs[j].groups[g].image;
        let bytes = self.image_bytes[img as usize];
        let gc = self.p.image_gc_after_us * US;
        let ready_at = if bytes == 0 {
            self.now
        } else {
            match self.nodes[node as usize].image_state(img, self.now, gc) {
                Ok(()) => self.now,
                Err(Some(t)) => t,
                Err(None) => {
                    let dur = self.p.image_pull_base_us * US
                        + bytes * SEC / self.p.image_pull_bytes_per_s.max(1);
                    let until = self.now + dur;
                    self.nodes[node as usize].start_pull(img, self.now, until);
                    until
                }
            }
        };
        // Pin the image while the alloc waits for / uses it.
        if bytes > 0 {
            self.nodes[node as usize].use_image(img);
        }
        let start = lognormal(
            &mut self.rng_client,
            self.p.driver_start_median_us * US,
            self.p.driver_start_sigma,
        );
        self.push(ready_at + start, Ev::TaskStarted(a));
    }

    fn task_started(&mut self, a: u32) {
        let al = &mut self.allocs[a as usize];
        if self.nodes[al.node as usize].dead
            || al.desired != DesiredStatus::Run
            || al.client_side != ClientStatus::Pending && al.restarts == 0
        {
            return;
        }
        if al.started == TIME_NONE {
            al.started = self.now;
        }
        let first = al.client_side != ClientStatus::Running;
        al.client_side = ClientStatus::Running;
        let (node, run, attempt) = (al.node, al.run_ns, al.attempt);
        if first {
            self.running_now += 1;
            self.queue_client_update(node, a);
        }
        if run != u64::MAX {
            self.push(self.now + run, Ev::TaskExited(a, attempt));
        }
    }

    fn task_exited(&mut self, a: u32, attempt: u32) {
        let al = &self.allocs[a as usize];
        if self.nodes[al.node as usize].dead
            || al.desired != DesiredStatus::Run
            || al.attempt != attempt
            || al.client_side != ClientStatus::Running
        {
            return;
        }
        let (j, g) = (al.job as usize, al.group as usize);
        let ok = match al.recorded_ok {
            Some(ok) => ok,
            None => match &self.jobs[j].spec.groups[g].run {
                RunPlan::Model { fail_rate, .. } => {
                    !(*fail_rate > 0.0 && self.rng_client.random::<f64>() < *fail_rate)
                }
                RunPlan::Recorded(_) => true,
            },
        };
        let restartable = al.recorded_ok.is_none() && self.jobs[j].spec.job_type == JobType::Batch;
        if !ok && restartable && al.restarts < self.p.restart_attempts {
            let al = &mut self.allocs[a as usize];
            al.restarts += 1;
            al.attempt += 1;
            let att = al.attempt;
            let run = al.run_ns;
            let delay = self.p.restart_delay_us * US;
            let start = lognormal(
                &mut self.rng_client,
                self.p.driver_start_median_us * US,
                self.p.driver_start_sigma,
            );
            if run != u64::MAX {
                self.push(self.now + delay + start + run, Ev::TaskExited(a, att));
            }
            return;
        }
        let al = &mut self.allocs[a as usize];
        al.client_side = if ok {
            ClientStatus::Complete
        } else {
            ClientStatus::Failed
        };
        al.finished = self.now;
        let node = al.node;
        self.running_now -= 1;
        let img = self.jobs[j].groups[g].image;
        self.nodes[node as usize].release_image(img, self.now);
        self.queue_client_update(node, a);
    }

    fn queue_client_update(&mut self, node: u32, a: u32) {
        let nd = &mut self.nodes[node as usize];
        nd.pending_updates.push(a);
        if !nd.flush_scheduled {
            nd.flush_scheduled = true;
            let period = self.p.client_update_batch_us * US;
            let phase = nd.tick_phase;
            let since = (self.now + period - phase % period) % period;
            let t = self.now + (period - since);
            self.push(t, Ev::ClientFlush(node));
        }
    }

    fn client_flush(&mut self, node: u32) {
        let nd = &mut self.nodes[node as usize];
        nd.flush_scheduled = false;
        if nd.dead {
            nd.pending_updates.clear();
            return;
        }
        let mut ups = std::mem::take(&mut nd.pending_updates);
        ups.sort_unstable();
        ups.dedup();
        let leader = self.leader;
        let cost = ups.len() as u64 * self.p.rpc_client_update_alloc_us * US;
        self.res[leader].busy_ns += cost;
        self.res[leader].busy_ns_total += cost;
        for a in ups {
            let st = self.allocs[a as usize].client_side;
            self.server_batch.push((a, st));
        }
        if !self.server_flush_scheduled {
            self.server_flush_scheduled = true;
            self.push(
                self.now + self.p.server_update_batch_us * US,
                Ev::ServerFlush,
            );
        }
    }

    fn server_flush(&mut self) {
        self.server_flush_scheduled = false;
        let batch = std::mem::take(&mut self.server_batch);
        if !batch.is_empty() {
            self.raft_append(Entry::ClientUpdate(batch));
        }
    }

    fn apply_client_update(&mut self, v: Vec<(u32, ClientStatus)>, index: u64) {
        let mut freed = false;
        let mut changed = Vec::with_capacity(if self.record_changes { v.len() } else { 0 });
        for (a, st) in v {
            let al = &mut self.allocs[a as usize];
            if al.server_status == ClientStatus::Lost {
                continue;
            }
            al.server_status = st;
            al.modify_index = index;
            al.modify_time = self.now;
            if self.record_changes {
                changed.push(a);
            }
            if matches!(st, ClientStatus::Complete | ClientStatus::Failed) {
                let was_freed = al.freed;
                self.release_alloc(a);
                freed |= !was_freed;
                let al = &self.allocs[a as usize];
                let (j, g, s) = (al.job, al.group as usize, al.slot as usize);
                if al.desired == DesiredStatus::Run {
                    // Recorded failures are retried only as often as the trace recorded replacements.
                    let retry_allowed = match &self.jobs[j as usize].spec.groups[g].run {
                        RunPlan::Recorded(v) => {
                            let used = self.jobs[j as usize].groups[g].replacements_used;
                            ((self.jobs[j as usize].spec.groups[g].count + used) as usize) < v.len()
                        }
                        RunPlan::Model { .. } => true,
                    };
                    let slot = &mut self.jobs[j as usize].groups[g].slots[s];
                    if slot.alloc == a {
                        if st == ClientStatus::Failed && slot.reschedules_left > 0 && retry_allowed
                        {
                            slot.reschedules_left -= 1;
                            slot.state = SlotState::WaitingReschedule;
                            self.push(
                                self.now + self.p.reschedule_delay_us * US,
                                Ev::Reschedule(a),
                            );
                        } else {
                            slot.state = SlotState::Done;
                        }
                    }
                }
            }
        }
        if self.record_changes {
            let jobs: Vec<u32> = {
                let mut js: Vec<u32> = changed
                    .iter()
                    .map(|&a| self.allocs[a as usize].job)
                    .collect();
                js.sort_unstable();
                js.dedup();
                js
            };
            self.emit(
                index,
                ChangeKind::AllocationUpdated,
                &jobs,
                &[],
                &changed,
                &[],
            );
        }
        if freed {
            self.capacity_changed();
        }
    }

    fn apply_node_status(&mut self, n: u32, status: NodeStatus, index: u64) {
        let nd = &mut self.nodes[n as usize];
        if nd.status == status {
            return;
        }
        nd.status = status;
        nd.modify_index = index;
        nd.status_updated_at = self.now;
        let mut changed = Vec::new();
        let mut jobs: Vec<u32> = Vec::new();
        if status == NodeStatus::Down {
            let list = self.node_allocs[n as usize].clone();
            for a in list {
                let al = &self.allocs[a as usize];
                if al.freed
                    || matches!(
                        al.server_status,
                        ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
                    )
                {
                    continue;
                }
                let (j, g, s) = (al.job, al.group as usize, al.slot as usize);
                let al = &mut self.allocs[a as usize];
                al.server_status = ClientStatus::Lost;
                al.client_side = ClientStatus::Lost;
                al.lost = true;
                al.desired = DesiredStatus::Stop;
                al.modify_index = index;
                if al.finished == TIME_NONE {
                    al.finished = self.now;
                }
                self.release_alloc(a);
                changed.push(a);
                let stopped = self.jobs[j as usize].stopped;
                let slot = &mut self.jobs[j as usize].groups[g].slots[s];
                if slot.alloc == a && slot.state == SlotState::Placed && !stopped {
                    slot.state = SlotState::Empty;
                    self.add_unplaced(j, g, 1);
                }
                jobs.push(j);
            }
            let nd = &self.nodes[n as usize];
            self.run_events.push(RunEvent {
                t_ns: self.now,
                kind: "node_down".into(),
                node_id: Some(nd.id.clone()),
                detail: format!("{}: {} allocations lost", nd.name, changed.len()),
            });
        }
        jobs.sort_unstable();
        jobs.dedup();
        if self.record_changes {
            self.emit(
                index,
                ChangeKind::NodeStreamEvent,
                &jobs,
                &[],
                &changed,
                &[n],
            );
        }
        for j in jobs {
            let e = self.create_eval(j, "node-update", n, index);
            self.enqueue_eval(e);
        }
    }

    fn apply_node_drain(&mut self, n: u32, index: u64) {
        let nd = &mut self.nodes[n as usize];
        nd.drain = true;
        nd.eligible = false;
        nd.modify_index = index;
        let mut jobs: Vec<u32> = self.node_allocs[n as usize]
            .iter()
            .filter(|&&a| {
                let al = &self.allocs[a as usize];
                !al.freed && al.desired == DesiredStatus::Run
            })
            .map(|&a| self.allocs[a as usize].job)
            .collect();
        jobs.sort_unstable();
        jobs.dedup();
        if self.record_changes {
            self.emit(index, ChangeKind::NodeDrain, &[], &[], &[], &[n]);
        }
        for j in jobs {
            let e = self.create_eval(j, "node-drain", n, index);
            self.enqueue_eval(e);
        }
    }

    // ------------------------------------------------------------------ metrics

    fn state_size(&self) -> StateSize {
        StateSize {
            nodes: self
                .nodes
                .iter()
                .filter(|n| n.status != NodeStatus::Initializing)
                .count() as u64,
            jobs: self.jobs.len() as u64,
            allocs: self.allocs.len() as u64,
            evals: self.evals.len() as u64,
        }
    }

    fn second(&mut self) {
        let t_s = self.now / SEC - 1;
        let ready = self.nodes_ready();
        if self.heartbeats && ready > 0 {
            let rate = ready as f64 / (mean_heartbeat_ttl_ns(&self.p, ready) / 1e9);
            let leader = self.leader;
            self.res[leader].heartbeats += rate;
            self.res[leader].heartbeats_total += rate;
            let cost = (rate * self.p.heartbeat_cpu_us as f64 * 1_000.0) as u64;
            self.res[leader].busy_ns += cost;
            self.res[leader].busy_ns_total += cost;
        }
        let sample = SecondSample {
            leader: self.leader,
            state: self.state_size(),
            raft_bytes: (self.raft.bytes_written - self.last_raft_bytes) as f64,
            fsyncs: (self.raft.fsyncs - self.last_fsyncs) as f64,
            broker_ready: self.broker.ready_len() as f64,
            broker_unacked: self.broker.unacked_len() as f64,
            blocked: self.blocked.len() as f64,
            plan_queue: self.plan_queue.len() as f64,
            rejections: self.sec_rejections as f64,
            placements: self.sec_placements as f64,
            nodes_ready: ready as f64,
            allocs_running: self.running_now as f64,
        };
        self.last_raft_bytes = self.raft.bytes_written;
        self.last_fsyncs = self.raft.fsyncs;
        self.sec_placements = 0;
        self.sec_rejections = 0;
        resources::close_second(&self.p, &mut self.res, t_s, &sample, &mut self.metrics);
        self.next_second = self.now + SEC;
        self.q.push(self.next_second, Ev::Second);
    }

    // ------------------------------------------------------------------ views and change batches

    fn emit(
        &mut self,
        index: u64,
        kind: ChangeKind,
        jobs: &[u32],
        evals: &[u32],
        allocs: &[u32],
        nodes: &[u32],
    ) {
        if !self.record_changes {
            return;
        }
        let b = ChangeBatch {
            index,
            time: self.now,
            kind,
            jobs: jobs.iter().map(|&j| self.job_view(j)).collect(),
            evals: evals.iter().map(|&e| self.eval_view(e)).collect(),
            allocs: allocs.iter().map(|&a| self.alloc_view(a)).collect(),
            nodes: nodes.iter().map(|&n| self.node_view(n)).collect(),
            purged_jobs: vec![],
        };
        self.changes.push(b);
    }

    fn job_view(&self, j: u32) -> JobView {
        let job = &self.jobs[j as usize];
        let mut summary = BTreeMap::new();
        let mut any_live = false;
        let mut any_started = false;
        for (gi, g) in job.spec.groups.iter().enumerate() {
            let mut s = GroupSummary::default();
            for slot in &job.groups[gi].slots {
                if slot.state == SlotState::Empty || slot.state == SlotState::Planned {
                    s.queued += 1;
                }
            }
            for &a in &job.allocs {
                let al = &self.allocs[a as usize];
                if al.group as usize != gi {
                    continue;
                }
                match al.server_status {
                    ClientStatus::Pending => s.starting += 1,
                    ClientStatus::Running => s.running += 1,
                    ClientStatus::Complete => s.complete += 1,
                    ClientStatus::Failed => s.failed += 1,
                    ClientStatus::Lost => s.lost += 1,
                }
                if al.desired == DesiredStatus::Run
                    && matches!(
                        al.server_status,
                        ClientStatus::Pending | ClientStatus::Running
                    )
                {
                    any_live = true;
                }
                any_started = true;
            }
            summary.insert(g.name.clone(), s);
        }
        let queued: u32 = summary.values().map(|s: &GroupSummary| s.queued).sum();
        let status = if job.spec.parameterized {
            if job.stopped {
                JobStatus::Dead
            } else {
                JobStatus::Running
            }
        } else if any_live {
            JobStatus::Running
        } else if job.stopped || (any_started && queued == 0) {
            JobStatus::Dead
        } else {
            JobStatus::Pending
        };
        JobView {
            spec: job.spec.clone(),
            status,
            stop: job.stopped,
            submit_time: job.submit_time,
            create_index: job.create_index,
            modify_index: job.modify_index,
            job_modify_index: job.job_modify_index,
            version: job.version,
            summary,
            parent_id: job.parent.map(|p| self.jobs[p as usize].spec.id.clone()),
        }
    }

    fn eval_view(&self, e: u32) -> EvalView {
        let ev = &self.evals[e as usize];
        let job = &self.jobs[ev.job as usize];
        let mut queued = BTreeMap::new();
        for (gi, g) in job.spec.groups.iter().enumerate() {
            let q = job.groups[gi]
                .slots
                .iter()
                .filter(|s| s.state == SlotState::Empty)
                .count() as u32;
            queued.insert(g.name.clone(), q);
        }
        EvalView {
            id: self.eval_id(e),
            job_id: job.spec.id.clone(),
            priority: ev.priority,
            job_type: job.spec.job_type,
            triggered_by: ev.triggered_by,
            status: ev.status,
            status_description: ev.status_description.clone(),
            job_modify_index: ev.job_modify_index,
            node_id: if ev.node == NONE {
                String::new()
            } else {
                self.nodes[ev.node as usize].id.clone()
            },
            blocked_eval: if ev.blocked_eval == NONE {
                String::new()
            } else {
                self.eval_id(ev.blocked_eval)
            },
            previous_eval: if ev.previous_eval == NONE {
                String::new()
            } else {
                self.eval_id(ev.previous_eval)
            },
            queued_allocs: queued,
            failed_tg_allocs: ev
                .failed_tgs
                .iter()
                .map(|&g| job.spec.groups[g as usize].name.clone())
                .collect(),
            create_index: ev.create_index,
            modify_index: ev.modify_index,
            create_time: ev.create_time,
            modify_time: ev.modify_time,
        }
    }

    fn alloc_view(&self, a: u32) -> AllocView {
        let al = &self.allocs[a as usize];
        let job = &self.jobs[al.job as usize];
        let g = &job.spec.groups[al.group as usize];
        let nd = &self.nodes[al.node as usize];
        let known = al.server_status != ClientStatus::Pending;
        let some = |t: SimTime| if t == TIME_NONE { None } else { Some(t) };
        AllocView {
            id: rng::uuid(self.seed, IdKind::Alloc, a as u64),
            eval_id: self.eval_id(al.eval),
            name: format!("{}.{}[{}]", job.spec.id, g.name, al.slot),
            node_id: nd.id.clone(),
            node_name: nd.name.clone(),
            job_id: job.spec.id.clone(),
            job_type: job.spec.job_type,
            task_group: g.name.clone(),
            tasks: g.tasks.clone(),
            desired_status: al.desired,
            desired_description: String::new(),
            client_status: al.server_status,
            client_description: String::new(),
            cpu_mhz: al.cpu,
            memory_mb: al.mem,
            create_time: al.create_time,
            modify_time: al.modify_time,
            started_at: if known { some(al.started) } else { None },
            finished_at: if matches!(
                al.server_status,
                ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
            ) {
                some(al.finished)
            } else {
                None
            },
            received_at: if known { some(al.received) } else { None },
            restarts: al.restarts,
            previous_allocation: if al.prev == NONE {
                String::new()
            } else {
                rng::uuid(self.seed, IdKind::Alloc, al.prev as u64)
            },
            next_allocation: if al.next == NONE {
                String::new()
            } else {
                rng::uuid(self.seed, IdKind::Alloc, al.next as u64)
            },
            create_index: al.create_index,
            modify_index: al.modify_index,
            allocation_time_ns: al.alloc_time_ns as u64,
            nodes_evaluated: al.nodes_evaluated,
        }
    }

    fn node_view(&self, n: u32) -> NodeView {
        let nd = &self.nodes[n as usize];
        let pc = &self.pools[nd.pool as usize].cfg;
        NodeView {
            id: nd.id.clone(),
            name: nd.name.clone(),
            datacenter: pc.datacenter.clone(),
            node_class: pc.node_class.clone(),
            pool: pc.name.clone(),
            instance_type: pc.instance_type.clone(),
            region: pc.region.clone(),
            address: format!("10.{}.{}.{}", 1 + n / 65_536 % 200, n / 256 % 256, n % 256),
            status: nd.status,
            eligible: nd.eligible,
            drain: nd.drain,
            cores: crate::instances::lookup(&pc.instance_type)
                .map(|t| t.vcpus)
                .unwrap_or((pc.cpu_mhz / 2_500).max(1)),
            cpu_mhz: pc.cpu_mhz,
            memory_mb: pc.memory_mb,
            reserved_cpu_mhz: pc.reserved_cpu_mhz,
            reserved_memory_mb: pc.reserved_memory_mb,
            create_index: nd.create_index,
            modify_index: nd.modify_index,
            status_updated_at: nd.status_updated_at,
        }
    }
}

fn validate_job(spec: &JobSpec) -> Result<(), SimError> {
    if spec.id.is_empty() {
        return Err(SimError::InvalidJob("Job ID hasn't been provided".into()));
    }
    if spec.id.contains(' ') || spec.id.contains('\0') {
        return Err(SimError::InvalidJob(
            "1 error occurred:\n\t* Job ID contains a space or null character\n\n".into(),
        ));
    }
    if spec.groups.is_empty() {
        return Err(SimError::InvalidJob(
            "1 error occurred:\n\t* Missing job task groups\n\n".into(),
        ));
    }
    if !(1..=100).contains(&spec.priority) {
        return Err(SimError::InvalidJob(format!(
            "1 error occurred:\n\t* Job priority must be between [1, 100]; got {}\n\n",
            spec.priority
        )));
    }
    for g in &spec.groups {
        if g.tasks.is_empty() {
            return Err(SimError::InvalidJob(format!("1 error occurred:\n\t* Task group {} validation failed: Missing tasks for task group\n\n", g.name)));
        }
        if g.cpu_mhz == 0 || g.memory_mb == 0 {
            return Err(SimError::InvalidJob(format!("1 error occurred:\n\t* Task group {} validation failed: resources must be positive\n\n", g.name)));
        }
    }
    Ok(())
}
