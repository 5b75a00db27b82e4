//! The simulation core: one Nomad cluster — servers, eval broker, scheduler workers, plan applier, Raft,
//! clients and faults — driven by a `(time, seq)` event queue.
//!
//! The same core serves both drivers ([`crate::api`]): [`crate::runner`] runs a scenario to completion as
//! fast as possible, and the emulator advances it in real time, submitting requests and reading the
//! [`ChangeBatch`]es it emits. The pipeline of one job follows Nomad's ([src] `nomad/job_endpoint.go`,
//! `nomad/eval_broker.go`, `nomad/worker.go`, `nomad/plan_apply.go`, `client/client.go`):
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
//!
//! ## Layout
//! [`Cluster`] is a facade: submit, advance/step, inject faults, read. The one event queue lives in
//! [`ctx::Ctx`] with the clock, the parameters, the Raft log and the outputs; the arenas live in
//! [`state::State`]; each subsystem owns its own part and reacts to the events of [`event::Ev`]:
//!
//! | file | part | reacts to |
//! |---|---|---|
//! | `requests.rs` | `Requests` | `RequestArrive` |
//! | `fsm.rs` | (the log in `Ctx`) | `DiskDone`, `Applied` (dispatches each entry to its subsystem) |
//! | `scheduler.rs` | `Scheduler` (broker, workers, planning overlay) | `WorkerDone`, `NackTimeout`, `Redeliver` |
//! | `applier.rs` | `Applier` (plan queue, pipeline) | `VerifyDone` |
//! | `blocked.rs` | `Blocked` | `Unblock` |
//! | `client.rs` | `Clients` (and the client hosts' CPUs) | `AllocNotice`, `TaskLaunch`, `HostCpuDone`, `TaskStarted`, `TaskExited`, `ClientFlush`, `ServerFlush`, `Reschedule`, `AllocKilled` |
//! | `fleet.rs` | `Fleet` (faults, autoscaling) | `NodeDeath`, `NodeDetected`, `SpotNotice`, `Fault`, `AutoscaleTick`, `NodeReady`, `ElectionDone` |
//! | `metrics.rs` | `Telemetry` | `Second` |
//! | `views.rs` | — | builds Nomad-shaped views and change batches from `State` |
//!
//! A reaction takes `(&mut State, &mut Ctx, &mut Own)` plus the other parts it crosses into, all disjoint
//! borrows of the facade's fields: no shared mutable aliasing, no dynamic dispatch.

mod applier;
mod blocked;
mod client;
mod cpu;
mod ctx;
mod event;
mod feasible;
mod fleet;
mod fsm;
mod gc;
mod metrics;
mod periodic;
mod requests;
mod scheduler;
mod state;
mod system;
#[cfg(test)]
mod testkit;
mod views;

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use rand::Rng;
use rand_chacha::ChaCha8Rng;
use rand_distr::{Distribution, Exp, StandardNormal};

use crate::api::*;
use crate::broker::{BlockedEvals, EvalBroker};
use crate::clients::{detection_delay_ns, mean_heartbeat_ttl_ns, CachedImage, Node};
use crate::engine::EventQueue;
use crate::error::SimError;
use crate::ids::{AllocIx, Arena, EvalIx, Idx, JobIx, Nanos, NodeIx, PlanIx, Stamp, WorkerIx};
use crate::model::versions::{Signing, VersionProfile};
use crate::params::ModelParams;
use crate::raft::{Committed, RaftModel};
use crate::ranking::{self, Candidate};
use crate::record::{MetricRow, RunEvent};
use crate::resources::{self, SecondSample, ServerRes, StateSize};
use crate::rng::{self, IdKind};
use crate::scenario::{Algorithm, FaultKind, JobType, PoolConfig, RunDuration, Scenario};

use applier::Applier;
use blocked::Blocked;
use client::Clients;
use cpu::CpuJob;
use ctx::{ControlPlaneTotals, Ctx};
use event::Ev;
use fleet::{Fleet, PoolRt};
use fsm::Entry;
use metrics::Telemetry;
use requests::{Request, Requests};
use scheduler::{Plan, Scheduler, Worker};
use state::{Alloc, GroupRt, Job, Slot, SlotState, State, TriggeredBy};
use views::ChangeSet;

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
    /// Batch allocations stopped by their `max_run_duration`.
    pub allocs_timed_out: u64,
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
///
/// A facade over the subsystems, each of which owns its state and is handed the shared [`State`] and
/// [`Ctx`] (and, where a reaction crosses subsystems, the other parts it touches) as disjoint borrows.
pub struct Cluster {
    st: State,
    cx: Ctx,
    rq: Requests,
    sched: Scheduler,
    ap: Applier,
    bl: Blocked,
    cl: Clients,
    fl: Fleet,
    tel: Telemetry,
    /// Storage class of the servers' disks (for the record).
    storage: String,
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
        let ver = sc.cluster.profile().map_err(SimError::Scenario)?;
        let spec = sc.cluster.cpu_spec();
        let cpus: Vec<cpu::ServerCpu> = (0..servers).map(|_| cpu::ServerCpu::new(spec)).collect();
        let res = (0..servers)
            .map(|i| ServerRes {
                name: format!("server-{}", i + 1),
                cores: (cpus[i as usize].capacity_milli().div_ceil(1_000)) as u32,
                // CPU % is of the vCPUs, as Nomad reports it (`resources` module docs).
                vcpus: spec.vcpus,
                physical: spec.physical(),
                capacity: cpus[i as usize].capacity_milli() as f64 / 1_000.0,
                ..Default::default()
            })
            .collect();
        let disk = crate::raft::disk_profile(sc.cluster.disk(), &sc.params);
        let mut workers: Arena<WorkerIx, Worker> = Arena::new();
        let mut free_workers = vec![Vec::new(); servers as usize];
        for s in 0..servers {
            for _ in 0..sc.cluster.num_schedulers {
                free_workers[s as usize].push(workers.next_ix());
                workers.push(Worker {
                    server: s,
                    eval: None,
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
            st: State {
                seed,
                algorithm: sc.cluster.algorithm,
                nodes: Arena::new(),
                pools: sc
                    .pools
                    .iter()
                    .map(|p| PoolRt {
                        cfg: p.clone(),
                        facts: Arc::new(feasible::pool_facts(p)),
                        nodes: Vec::new(),
                        booting: 0,
                    })
                    .collect(),
                dcs,
                jobs: Arena::new(),
                job_by_id: BTreeMap::new(),
                allocs: Arena::new(),
                evals: Arena::new(),
                images: BTreeMap::new(),
                image_bytes: Vec::new(),
                node_allocs: Arena::new(),
                plans: Arena::new(),
                free_plans: Vec::new(),
                gc: gc::JobGc::default(),
                ports: Vec::new(),
                alloc_ports: BTreeMap::new(),
                egc: gc::EvalGc::default(),
                system_jobs: Vec::new(),
                periodic: periodic::Periodic::new(sc.sim.periodic_until_ns),
                unplaced: 0,
                unplaced_cpu: 0,
                unplaced_mem: 0,
                running_now: 0,
            },
            cx: Ctx {
                p: sc.params.clone(),
                now: 0,
                q,
                active_events: 0,
                max_events: sc.sim.max_events,
                max_time: sc.sim.max_time_ns,
                record_changes: opts.record_changes,
                changes: Vec::new(),
                run_events: Vec::new(),
                completed: Vec::new(),
                counters: Counters::default(),
                res,
                leader: 0,
                election_until: 0,
                ttl_override_until: 0,
                raft: RaftModel::new(
                    servers,
                    disk,
                    ver.log_store,
                    ver.raft_max_rpcs_in_flight,
                    &sc.params,
                    rng::stream(seed, "raft"),
                ),
                ver,
                cpu: cpus,
                fsm_queue: Default::default(),
                fsm_busy: false,
                fsm_ref_ns_sec: 0,
                cpu_buf: Vec::new(),
                commit_ids: Default::default(),
                commit_counts: Default::default(),
                cp: ControlPlaneTotals {
                    busy_workers_ns: vec![0; servers as usize],
                    busy_applier_ns: vec![0; servers as usize],
                    busy_fsm_ns: vec![0; servers as usize],
                    ..Default::default()
                },
                entries: Vec::new(),
                entry_index: Vec::new(),
                free_entries: Vec::new(),
                raft_index: 0,
                committed_buf: Vec::new(),
                sec_placements: 0,
                sec_rejections: 0,
            },
            rq: Requests::new(),
            sched: Scheduler {
                broker: EvalBroker::new(),
                workers,
                free_workers,
                rng: rng::stream(seed, "scheduler"),
                order: Vec::new(),
                overlay: Default::default(),
            },
            ap: Applier::new(),
            bl: Blocked::new(),
            cl: Clients::new(rng::stream(seed, "clients")),
            fl: Fleet {
                faults: sc.faults.clone(),
                rng: rng::stream(seed, "faults"),
            },
            storage: sc.cluster.storage.clone(),
            tel: Telemetry {
                rows: Vec::new(),
                last_raft_bytes: 0,
                last_fsyncs: 0,
                next_second: SEC,
                heartbeats: sc.sim.heartbeats,
            },
        };
        let Cluster { st, cx, cl, fl, .. } = &mut c;
        for pi in 0..st.pools.len() {
            for _ in 0..st.pools[pi].cfg.count {
                let n = fl.add_node(st, cx, &mut cl.rng, pi as u32, 0);
                fleet::node_ready(st, cx, n);
            }
        }
        for (i, f) in fl.faults.iter().enumerate() {
            cx.q.push(f.at_ns, Ev::Fault { fault: i as u32 });
        }
        for pi in 0..st.pools.len() {
            if let Some(a) = &st.pools[pi].cfg.autoscale {
                cx.q.push(a.interval_ns, Ev::AutoscaleTick { pool: pi as u32 });
            }
        }
        cx.q.push(SEC, Ev::Second);
        Ok(c)
    }

    // ------------------------------------------------------------------ driving: submit

    /// Submits a job registration at the current time, intended (scheduled) at `intended`. The request
    /// reaches the leader after half an API round trip; its outcome appears in
    /// [`Cluster::take_completed`] when the response would reach the submitter.
    pub fn submit_register(
        &mut self,
        spec: JobSpec,
        intended: SimTime,
    ) -> Result<RequestId, SimError> {
        requests::validate_job(&spec)?;
        if let Some(np) = spec
            .node_pool
            .as_deref()
            .filter(|p| *p != crate::placement::NODE_POOL_DEFAULT)
        {
            if !self.cx.ver.node_pools {
                return Err(SimError::InvalidJob(format!(
                    "1 error occurred:\n\t* job {:?} names node pool {np:?}, but Nomad {} has no node pools (they came in 1.6.0)\n\n",
                    spec.id, self.cx.ver.version
                )));
            }
            // A pool exists once a client registers in it (or it is `all`):
            // nomad/job_endpoint_hook_node_pool.go, `jobNodePoolValidatingHook.Validate`.
            if np != crate::placement::NODE_POOL_ALL
                && !self.st.pools.iter().any(|p| p.cfg.node_pool == np)
            {
                return Err(SimError::InvalidJob(format!(
                    "1 error occurred:\n\t* job {:?} is in nonexistent node pool {np:?}\n\n",
                    spec.id
                )));
            }
        }
        let req = Request::Register {
            spec: Arc::new(spec),
            intended,
            sent: self.cx.now,
        };
        Ok(self.rq.submit(&mut self.cx, req))
    }

    /// Submits a job deregistration (`purge` removes it from state).
    pub fn submit_deregister(&mut self, job_id: &str, purge: bool) -> Result<RequestId, SimError> {
        if !self.st.job_by_id.contains_key(job_id) {
            return Err(SimError::NotFound("job not found".into()));
        }
        let req = Request::Deregister {
            job: job_id.to_string(),
            purge,
        };
        Ok(self.rq.submit(&mut self.cx, req))
    }

    /// Dispatches a parameterized job.
    pub fn submit_dispatch(
        &mut self,
        parent: &str,
        meta: BTreeMap<String, String>,
        intended: SimTime,
    ) -> Result<RequestId, SimError> {
        let j = *self
            .st
            .job_by_id
            .get(parent)
            .ok_or_else(|| SimError::NotFound("job not found".into()))?;
        if !self.st.jobs[j].spec.parameterized {
            return Err(SimError::InvalidJob(
                "Specified job is not a parameterized job".into(),
            ));
        }
        if self.st.jobs[j].stopped {
            return Err(SimError::InvalidJob("Job is stopped".into()));
        }
        let req = Request::Dispatch {
            parent: parent.to_string(),
            meta,
            intended,
            sent: self.cx.now,
        };
        Ok(self.rq.submit(&mut self.cx, req))
    }

    // ------------------------------------------------------------------ driving: advance

    /// Processes every event with time ≤ `t`, then sets the clock to `t`.
    pub fn advance_to(&mut self, t: SimTime) -> Result<(), SimError> {
        while let Some(et) = self.cx.q.peek_time() {
            if et > t {
                break;
            }
            self.step()?;
        }
        if t > self.cx.now {
            self.cx.now = t;
        }
        Ok(())
    }

    /// Processes events with time ≤ `t` until one completes a request (then stops at that event's time) or
    /// none is left before `t`. Returns true if a request completed.
    pub fn advance_until_completion(&mut self, t: SimTime) -> Result<bool, SimError> {
        while let Some(et) = self.cx.q.peek_time() {
            if et > t {
                break;
            }
            self.step()?;
            if !self.cx.completed.is_empty() {
                return Ok(true);
            }
        }
        if t > self.cx.now && t != SimTime::MAX {
            self.cx.now = t;
        }
        Ok(!self.cx.completed.is_empty())
    }

    /// Processes the next event. Returns false if none is pending.
    pub fn step(&mut self) -> Result<bool, SimError> {
        let cx = &mut self.cx;
        let Some((t, ev)) = cx.q.pop() else {
            return Ok(false);
        };
        if !ev.background() {
            cx.active_events -= 1;
        }
        cx.counters.events += 1;
        if cx.counters.events > cx.max_events {
            return Err(SimError::EventBudget {
                max: cx.max_events,
                t_ns: t,
            });
        }
        if t > cx.max_time {
            return Err(SimError::TimeBudget {
                max_ns: cx.max_time,
                detail: format!(
                    "{} allocations unplaced, {} events pending",
                    self.st.unplaced,
                    cx.q.len()
                ),
            });
        }
        debug_assert!(t >= cx.now);
        cx.now = t;
        self.handle(ev);
        Ok(true)
    }

    /// Routes one event to the subsystem that reacts to it.
    fn handle(&mut self, ev: Ev) {
        let Cluster {
            st,
            cx,
            rq,
            sched,
            ap,
            bl,
            cl,
            fl,
            tel,
            ..
        } = self;
        match ev {
            Ev::RequestArrive { req } => rq.arrive(st, cx, req),
            Ev::DiskDone => cx.disk_done(),
            Ev::Committed => cx.committed(),
            Ev::WorkerDone { plan } => sched.worker_done(st, cx, ap, plan),
            Ev::NackTimeout { eval, seq } => sched.nack_timeout(st, cx, eval, seq),
            Ev::Redeliver { eval } => sched.redeliver(st, cx, eval),
            Ev::Unblock => bl.on_unblock(st, cx, sched),
            Ev::ChurnDone => bl.churn_done(cx),
            Ev::AllocNotice { alloc } => cl.alloc_notice(st, cx, alloc),
            Ev::TaskLaunch { alloc } => cl.task_launch(st, cx, alloc),
            Ev::HostCpuDone { host, gen } => cl.host_cpu_done(st, cx, host, gen),
            Ev::TaskStarted { alloc } => cl.task_started(st, cx, alloc),
            Ev::TaskExited { alloc, attempt } => cl.task_exited(st, cx, alloc, attempt),
            Ev::ClientFlush { node } => cl.client_flush(st, cx, node),
            Ev::ServerFlush => cl.server_flush(st, cx),
            Ev::Reschedule { alloc } => cl.reschedule(st, cx, alloc),
            Ev::AllocKilled { alloc } => cl.alloc_killed(st, cx, alloc),
            Ev::MaxRunExpired { alloc } => cl.max_run_expired(st, cx, alloc),
            Ev::NodeDeath { node } => fl.on_node_death(st, cx, node),
            Ev::NodeDetected { node } => fl.node_detected(st, cx, node),
            Ev::SpotNotice { node } => fl.on_spot_notice_expired(st, cx, node),
            Ev::Fault { fault } => fl.fault(st, cx, fault),
            Ev::AutoscaleTick { pool } => fl.autoscale(st, cx, cl, pool),
            Ev::NodeReady { node } => fleet::on_node_ready(st, cx, bl, node),
            Ev::ElectionDone => fleet::election_done(st, cx, rq, sched, ap),
            Ev::PeriodicLaunch { job, gen, .. } => {
                let mut p = std::mem::take(&mut st.periodic);
                p.launch(st, cx, job, gen);
                st.periodic = p;
            }
            Ev::Second => {
                if cx.now % gc::JOB_GC_INTERVAL_NS == 0 {
                    let mut g = std::mem::take(&mut st.gc);
                    g.pass(st, cx);
                    st.gc = g;
                    // `eval_gc_interval` is 5 min too; the eval GC runs after the job GC.
                    let mut g = std::mem::take(&mut st.egc);
                    g.pass(st, cx);
                    st.egc = g;
                }
                tel.second(st, cx, sched, ap, bl)
            }
            Ev::CpuDone { server, gen } => {
                let mut done = std::mem::take(&mut cx.cpu_buf);
                done.clear();
                cx.cpu_done(server as usize, gen, &mut done);
                for &job in &done {
                    match job {
                        CpuJob::Worker(plan) => sched.pass_done(st, cx, plan),
                        CpuJob::Verify(plan) => ap.verify_done(st, cx, sched, plan),
                        CpuJob::Fsm(entry) => {
                            cx.fsm_busy = false;
                            fsm::applied(st, cx, rq, sched, ap, bl, cl, entry);
                            cx.fsm_next();
                        }
                    }
                }
                cx.cpu_buf = done;
            }
        }
    }

    // ------------------------------------------------------------------ faults

    /// Injects a spot loss of `fraction` of the ready nodes (optionally of one pool) now.
    pub fn inject_spot_loss(&mut self, fraction: f64, notice: bool, pool: Option<&str>) -> usize {
        self.fl
            .inject_spot_loss(&mut self.st, &mut self.cx, fraction, notice, pool)
    }

    /// Makes the leader step down now; another server is elected after `leader_election_us`.
    pub fn inject_leader_change(&mut self) {
        self.fl.inject_leader_change(&mut self.cx);
    }

    // ------------------------------------------------------------------ reading

    /// Current simulated time.
    pub fn now(&self) -> SimTime {
        self.cx.now
    }

    /// Current Raft index.
    pub fn raft_index(&self) -> u64 {
        self.cx.raft_index
    }

    /// Index of the leader server.
    pub fn leader(&self) -> usize {
        self.cx.leader
    }

    /// Whether a leader is currently elected.
    pub fn has_leader(&self) -> bool {
        self.cx.has_leader()
    }

    /// Server names.
    pub fn server_names(&self) -> Vec<String> {
        self.cx.res.iter().map(|r| r.name.clone()).collect()
    }

    /// The cluster-wide scheduler algorithm.
    pub fn algorithm(&self) -> Algorithm {
        self.st.algorithm
    }

    /// Changes the cluster-wide scheduler algorithm (Nomad's scheduler configuration).
    pub fn set_algorithm(&mut self, a: Algorithm) {
        self.st.algorithm = a;
    }

    /// Model parameters in force.
    pub fn params(&self) -> &ModelParams {
        &self.cx.p
    }

    /// Requests whose responses have reached the submitter: `(request, response time, outcome)`.
    pub fn take_completed(&mut self) -> Vec<(RequestId, SimTime, RequestOutcome)> {
        std::mem::take(&mut self.cx.completed)
    }

    /// Whether any completed request is waiting to be taken.
    pub fn has_completed(&self) -> bool {
        !self.cx.completed.is_empty()
    }

    /// Change batches emitted since the last call (only with `record_changes`).
    pub fn take_changes(&mut self) -> Vec<ChangeBatch> {
        std::mem::take(&mut self.cx.changes)
    }

    /// Time of the next pending event.
    pub fn next_event_time(&self) -> Option<SimTime> {
        self.cx.q.peek_time()
    }

    /// Whether nothing is in flight: no foreground event pending, nothing ready, unacked or queued for the
    /// plan applier. Blocked evaluations may remain (they wait for capacity).
    pub fn is_idle(&self) -> bool {
        self.cx.active_events == 0
            && self.ap.queue.is_empty()
            && self.sched.broker.ready_len() == 0
            && self.sched.broker.unacked_len() == 0
    }

    /// Whether an autoscaled pool could still add nodes for queued work.
    pub fn can_scale_up(&self) -> bool {
        let st = &self.st;
        st.unplaced > 0
            && st.pools.iter().any(|p| {
                p.cfg
                    .autoscale
                    .as_ref()
                    .is_some_and(|a| (st.live_pool_nodes(p) + p.booting as usize) < a.max as usize)
            })
    }

    /// Allocations wanted but not placed (queue depth).
    pub fn unplaced(&self) -> u64 {
        self.st.unplaced
    }

    /// Nodes ready now.
    pub fn nodes_ready(&self) -> usize {
        self.st.nodes_ready()
    }

    /// Per-second metric rows produced so far.
    pub fn metric_rows(&self) -> &[MetricRow] {
        &self.tel.rows
    }

    /// Takes the metric rows produced so far.
    pub fn take_metric_rows(&mut self) -> Vec<MetricRow> {
        std::mem::take(&mut self.tel.rows)
    }

    /// Closes the current (partial) second into a metric row; call once at the end of a run.
    pub fn close_metrics(&mut self) {
        let now = self.cx.now;
        if !now.is_multiple_of(SEC) || self.tel.rows.last().is_none_or(|m| (m.t_s + 1) * SEC < now)
        {
            self.cx.now = now.div_ceil(SEC).max(1) * SEC;
            self.tel
                .second(&mut self.st, &mut self.cx, &self.sched, &self.ap, &self.bl);
        }
    }

    /// Notable events so far.
    pub fn run_events(&self) -> &[RunEvent] {
        &self.cx.run_events
    }

    /// Counters so far.
    pub fn counters(&self) -> &Counters {
        &self.cx.counters
    }

    /// Control-plane totals so far (see [`crate::record::ControlPlane`]).
    pub fn control_plane(&self) -> crate::record::ControlPlane {
        let cx = &self.cx;
        let mut by_trigger: BTreeMap<String, u64> = BTreeMap::new();
        for e in self.st.evals.iter() {
            *by_trigger
                .entry(e.triggered_by.as_str().to_string())
                .or_default() += 1;
        }
        let cp = &cx.cp;
        let s = |ns: u64| ns as f64 / 1e9;
        crate::record::ControlPlane {
            nomad_version: cx.ver.version.to_string(),
            source: String::new(),
            plan_apply_pipeline: Some(cx.ver.plan_apply_pipeline),
            log_store: cx.ver.log_store.name().to_string(),
            storage: self.storage.clone(),
            plans_submitted: cp.plans_submitted,
            plans_rejected: Some(cp.plans_rejected),
            plan_nodes_rejected: cx.counters.plan_node_rejections,
            replans: Some(cp.replans),
            conflict_fraction: Some(if cp.plans_submitted == 0 {
                0.0
            } else {
                cp.plans_rejected as f64 / cp.plans_submitted as f64
            }),
            evals_by_trigger: by_trigger,
            evals_processed: cx.counters.evals_processed,
            max_plans_in_flight: Some(cp.max_plans_in_flight),
            allocs_timed_out: cx.counters.allocs_timed_out,
            periodic_launches: self.st.periodic.launches,
            periodic_skipped: self.st.periodic.skipped,
            jobs_gc: self.st.gc.jobs,
            evals_gc: self.st.gc.evals + self.st.egc.evals,
            allocs_gc: self.st.gc.allocs + self.st.egc.allocs,
            identity_signatures: Some(cp.signatures),
            raft_entries: cx.raft.entries,
            raft_leader_writes: cx.raft.leader_writes(),
            raft_max_group: Some(cx.raft.max_group()),
            raft_leader_fsyncs: Some(cx.raft.fsyncs),
            raft_follower_fsyncs: Some(cx.raft.follower_fsyncs()),
            raft_commit_ms_mean: cx.raft.commit_ns_sum as f64 / cx.raft.entries.max(1) as f64 / 1e6,
            servers: cx
                .res
                .iter()
                .enumerate()
                .map(|(i, r)| crate::record::ServerBusy {
                    name: r.name.clone(),
                    workers_s: s(cp.busy_workers_ns[i]),
                    applier_s: s(cp.busy_applier_ns[i]),
                    fsm_s: s(cp.busy_fsm_ns[i]),
                    total_s: s(r.busy_ns_total),
                })
                .collect(),
        }
    }
}
