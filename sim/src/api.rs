//! The step-by-step driving interface of the simulated cluster, in Nomad's shapes.
//!
//! Two drivers share one core ([`crate::cluster::Cluster`]):
//! * `stampede sim` runs a whole scenario as fast as possible ([`crate::runner`]);
//! * `stampede emulate` serves the core behind Nomad's HTTP API in real time: it submits requests
//!   ([`JobSpec`] in), advances simulated time with the wall clock, and turns the [`ChangeBatch`]es the core
//!   emits into Nomad's event stream and state tables.
//!
//! Times are ns since the cluster's t = 0; the emulator adds its wall-clock start to get Nomad's Unix ns.
//! A [`ChangeBatch`] is one Raft index's worth of changes, exactly as Nomad's event broker publishes them:
//! the `kind` is the Raft message type that caused the change, every object changed by that entry is in it,
//! and each object is a snapshot as of that index.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::placement::GroupPlacement;
use crate::scenario::{JobType, RunDuration};

/// Simulated time: ns since t = 0.
pub type SimTime = u64;

/// What a client does when a task exits non-zero: Nomad's `restart` block
/// (client/allocrunner/taskrunner/restarts/restarts.go, `RestartTracker.GetState`): within `interval`,
/// up to `attempts` restarts, each after `delay` plus a uniform jitter of up to 25% of it; past that the
/// allocation fails (`fail`) or waits for the interval to end and starts counting again (`delay`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct RestartPolicy {
    /// Restarts allowed within one interval.
    pub attempts: u32,
    /// Interval, ns.
    pub interval_ns: u64,
    /// Delay before a restart, ns (jitter added).
    pub delay_ns: u64,
    /// What happens past `attempts`.
    pub mode: RestartMode,
}

/// `restart.mode`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum RestartMode {
    /// The allocation fails (and may be rescheduled).
    Fail,
    /// The task waits until the interval ends, then restarts.
    Delay,
}

/// What the servers do with a failed allocation: Nomad's `reschedule` block (nomad/structs/structs.go,
/// `RescheduleTracker.RescheduleEligible`; nomad/structs/alloc.go, `Allocation.NextDelay`): up to
/// `attempts` replacements within `interval` (or `unlimited`), the n-th after a delay by
/// `delay_function` (`constant`, `exponential` doubling, `fibonacci`), capped at `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct ReschedulePolicy {
    /// Replacements allowed within one interval (ignored when `unlimited`).
    pub attempts: u32,
    /// Interval, ns.
    pub interval_ns: u64,
    /// First delay, ns.
    pub delay_ns: u64,
    /// How the delay grows.
    pub delay_function: DelayFunction,
    /// Cap on the delay, ns (0 = none).
    pub max_delay_ns: u64,
    /// No limit on replacements.
    pub unlimited: bool,
}

/// `reschedule.delay_function`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum DelayFunction {
    /// Always `delay`.
    Constant,
    /// Twice the previous delay.
    Exponential,
    /// The sum of the two previous delays.
    Fibonacci,
}

const SEC_NS: u64 = 1_000_000_000;

impl RestartMode {
    /// Parses Nomad's spelling (`fail`, `delay`).
    pub fn parse(s: &str) -> Option<RestartMode> {
        match s {
            "fail" => Some(RestartMode::Fail),
            "delay" => Some(RestartMode::Delay),
            _ => None,
        }
    }
}

impl DelayFunction {
    /// Parses Nomad's spelling (`constant`, `exponential`, `fibonacci`).
    pub fn parse(s: &str) -> Option<DelayFunction> {
        match s {
            "constant" => Some(DelayFunction::Constant),
            "exponential" => Some(DelayFunction::Exponential),
            "fibonacci" => Some(DelayFunction::Fibonacci),
            _ => None,
        }
    }
}

impl RestartPolicy {
    /// Nomad's checks ([src] nomad/structs/structs.go, `RestartPolicy.Validate`): an interval of at least
    /// 5 s (`RestartPolicyMinInterval`), room for `attempts` delays in it, and no `delay` mode without
    /// attempts. The error says which, in Nomad's words.
    pub fn validate(&self) -> Result<(), String> {
        if self.attempts == 0 && self.mode == RestartMode::Delay {
            return Err("restart policy \"delay\" with 0 attempts is ambiguous".into());
        }
        if self.interval_ns < 5 * SEC_NS {
            return Err(format!(
                "interval can not be less than 5s (got {} ns)",
                self.interval_ns
            ));
        }
        if (self.attempts as u64).saturating_mul(self.delay_ns) > self.interval_ns {
            return Err(format!(
                "Nomad can't restart the task group {} times in an interval of {} ns with a delay of {} ns",
                self.attempts, self.interval_ns, self.delay_ns
            ));
        }
        Ok(())
    }

    /// Nomad's default for a job type (nomad/structs/structs.go, `DefaultBatchJobRestartPolicy`,
    /// `DefaultServiceJobRestartPolicy`; system jobs take the service one, sysbatch the batch one:
    /// `NewRestartPolicy`, api/tasks.go `TaskGroup.Canonicalize`).
    pub fn default_for(t: JobType) -> RestartPolicy {
        match t {
            JobType::Batch | JobType::SysBatch => RestartPolicy {
                attempts: 3,
                interval_ns: 24 * 3600 * SEC_NS,
                delay_ns: 15 * SEC_NS,
                mode: RestartMode::Fail,
            },
            JobType::Service | JobType::System => RestartPolicy {
                attempts: 2,
                interval_ns: 30 * 60 * SEC_NS,
                delay_ns: 15 * SEC_NS,
                mode: RestartMode::Fail,
            },
        }
    }
}

impl ReschedulePolicy {
    /// Nomad's default for a job type (nomad/structs/structs.go, `DefaultBatchJobReschedulePolicy`,
    /// `DefaultServiceJobReschedulePolicy`). System and sysbatch jobs have none (`NewReschedulePolicy`
    /// returns nil; api/tasks.go `NewDefaultReschedulePolicy("system")` is all zero): a failed allocation
    /// of theirs is not replaced.
    pub fn default_for(t: JobType) -> ReschedulePolicy {
        match t {
            JobType::System | JobType::SysBatch => ReschedulePolicy {
                attempts: 0,
                interval_ns: 0,
                delay_ns: 0,
                delay_function: DelayFunction::Constant,
                max_delay_ns: 0,
                unlimited: false,
            },
            JobType::Batch => ReschedulePolicy {
                attempts: 1,
                interval_ns: 24 * 3600 * SEC_NS,
                delay_ns: 5 * SEC_NS,
                delay_function: DelayFunction::Constant,
                max_delay_ns: 0,
                unlimited: false,
            },
            JobType::Service => ReschedulePolicy {
                attempts: 0,
                interval_ns: 0,
                delay_ns: 30 * SEC_NS,
                delay_function: DelayFunction::Exponential,
                max_delay_ns: 3600 * SEC_NS,
                unlimited: true,
            },
        }
    }

    /// The delay before replacement number `n + 1`, given the delays of the `n` before it (most recent
    /// last) — `Allocation.NextDelay` without its reset-after-a-quiet-period rule.
    pub fn next_delay_ns(&self, previous: &[u64]) -> u64 {
        let d = match (self.delay_function, previous) {
            (_, []) => return self.delay_ns,
            (DelayFunction::Constant, _) => return self.delay_ns,
            (DelayFunction::Exponential, [.., last]) => last.saturating_mul(2),
            (DelayFunction::Fibonacci, [only]) => *only,
            (DelayFunction::Fibonacci, [.., a, b]) => {
                if *a == self.max_delay_ns && *b == self.delay_ns {
                    *b
                } else {
                    a.saturating_add(*b)
                }
            }
        };
        if self.max_delay_ns > 0 {
            d.min(self.max_delay_ns)
        } else {
            d
        }
    }

    /// Whether another replacement is allowed at `now`, given the times of the earlier ones.
    pub fn eligible(&self, now: u64, earlier: &[u64]) -> bool {
        if self.unlimited {
            return true;
        }
        if self.attempts == 0 {
            return false;
        }
        let within = earlier
            .iter()
            .filter(|&&t| now.saturating_sub(t) < self.interval_ns)
            .count();
        (within as u32) < self.attempts
    }
}

/// How one allocation of a group runs on its node.
#[derive(Debug, Clone, PartialEq)]
pub enum RunPlan {
    /// Durations from a model, and a per-attempt failure probability (batch).
    Model {
        /// Run duration.
        duration: RunDuration,
        /// Probability that an attempt exits non-zero.
        fail_rate: f64,
    },
    /// Recorded per-allocation outcomes (trace replay): index `i` is allocation `i` of the group (the list
    /// repeats cyclically if the count is larger). `(run_ns, succeeded)`.
    Recorded(Arc<Vec<(u64, bool)>>),
}

/// One task group of a submitted job.
#[derive(Debug, Clone, PartialEq)]
pub struct GroupSpec {
    /// Group name.
    pub name: String,
    /// Allocations wanted.
    pub count: u32,
    /// CPU per allocation (sum over tasks), MHz.
    pub cpu_mhz: u32,
    /// Memory per allocation (sum over tasks), MB.
    pub memory_mb: u32,
    /// Task names (for `TaskStates`), at least one.
    pub tasks: Vec<String>,
    /// Image the main task runs.
    pub image: String,
    /// Image size, bytes (0 = already present everywhere).
    pub image_bytes: u64,
    /// How allocations run.
    pub run: RunPlan,
    /// Node class constraint (`${node.class} = X`), if any.
    pub node_class: Option<String>,
    /// Restart policy (`None`: the job type's default).
    pub restart: Option<RestartPolicy>,
    /// Reschedule policy (`None`: the job type's default).
    pub reschedule: Option<ReschedulePolicy>,
    /// `max_run_duration` (Nomad ≥ 2.0.3, batch): the client stops the allocation this long after its alloc
    /// runner started, whatever its tasks' state, and reports it complete
    /// (client/allocrunner/max_run_duration_hook.go; PR #27803), ns.
    pub max_run_ns: Option<u64>,
    /// Constraints, affinities, `distinct_hosts`, ports and ephemeral disk (`None`: none, 300 MB disk).
    pub placement: Option<Arc<GroupPlacement>>,
}

/// The placement of a group that asks for nothing beyond CPU and memory.
static NO_PLACEMENT: GroupPlacement = GroupPlacement {
    constraints: Vec::new(),
    affinities: Vec::new(),
    distinct_hosts: crate::placement::DistinctHosts::Off,
    ports: crate::placement::Ports {
        static_ports: Vec::new(),
        dynamic: 0,
    },
    disk_mb: None,
};

impl GroupSpec {
    /// The group's placement requirements (defaults when it has none).
    pub fn placement(&self) -> &GroupPlacement {
        self.placement.as_deref().unwrap_or(&NO_PLACEMENT)
    }

    /// The restart policy in force for a job of type `t`.
    pub fn restart_policy(&self, t: JobType) -> RestartPolicy {
        self.restart
            .unwrap_or_else(|| RestartPolicy::default_for(t))
    }
    /// The reschedule policy in force for a job of type `t`.
    pub fn reschedule_policy(&self, t: JobType) -> ReschedulePolicy {
        self.reschedule
            .unwrap_or_else(|| ReschedulePolicy::default_for(t))
    }
}

/// A job submitted to the cluster.
#[derive(Debug, Clone, PartialEq)]
pub struct JobSpec {
    /// Job ID (also its name).
    pub id: String,
    /// Type.
    pub job_type: JobType,
    /// Priority 1–100.
    pub priority: u32,
    /// Datacenters it may run in (`*` or empty = all).
    pub datacenters: Vec<String>,
    /// `AllAtOnce`.
    pub all_at_once: bool,
    /// Job-level `spread` block (raises the node limit to `max(count, 100)`).
    pub spread_block: bool,
    /// Parameterized parent: registering creates no evaluation; `dispatch` creates children.
    pub parameterized: bool,
    /// Periodic parent: registering creates no evaluation; the leader launches children on its schedule
    /// (`cluster/periodic.rs`).
    pub periodic: Option<PeriodicSpec>,
    /// Groups.
    pub groups: Vec<GroupSpec>,
    /// Job meta.
    pub meta: BTreeMap<String, String>,
    /// The original Nomad JSON job, if the submitter sent one (echoed back by the emulator).
    pub source_json: Option<Arc<String>>,
    /// Node pool (Nomad ≥ 1.6; `None`: `default`, `all`: every node).
    pub node_pool: Option<String>,
}

impl JobSpec {
    /// Whether the job is a template that launches children (parameterized or periodic): registering it
    /// creates no evaluation and no allocation.
    pub fn launches_children(&self) -> bool {
        self.parameterized || self.periodic.is_some()
    }

    /// Allocations the job asks for.
    pub fn total_count(&self) -> u64 {
        self.groups.iter().map(|g| g.count as u64).sum()
    }
}

/// A periodic job's `periodic` block ([src] nomad/structs/structs.go `PeriodicConfig`): a cron `spec`,
/// `prohibit_overlap` (skip a launch while a child still runs) and the `time_zone` the spec is read in.
#[derive(Debug, Clone, PartialEq)]
pub struct PeriodicSpec {
    /// The cron spec as written (`SpecType` is always `cron`).
    pub spec: String,
    /// The parsed spec.
    pub cron: crate::cron::Cron,
    /// `ProhibitOverlap`.
    pub prohibit_overlap: bool,
    /// `TimeZone` (only UTC is modelled).
    pub time_zone: String,
}

impl PeriodicSpec {
    /// Checks and parses a `periodic` block: the spec must parse and the time zone be UTC (the simulator
    /// carries no time-zone database). The error says which, in words a user can act on.
    pub fn new(
        spec: &str,
        prohibit_overlap: bool,
        time_zone: &str,
    ) -> Result<PeriodicSpec, String> {
        if !matches!(time_zone, "" | "UTC" | "Etc/UTC") {
            return Err(format!(
                "time_zone {time_zone:?}: only UTC is modelled (the simulated clock starts at 2020-11-17T00:00:00Z)"
            ));
        }
        let cron = crate::cron::Cron::parse(spec).map_err(|e| format!("cron {spec:?}: {e}"))?;
        Ok(PeriodicSpec {
            spec: spec.trim().to_string(),
            cron,
            prohibit_overlap,
            time_zone: if time_zone.is_empty() {
                "UTC".to_string()
            } else {
                time_zone.to_string()
            },
        })
    }
}

/// Handle of a write request whose Raft entry has not committed yet.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct RequestId(pub u64);

/// Outcome of a committed write request, in the shape of Nomad's replies.
#[derive(Debug, Clone, PartialEq)]
pub enum RequestOutcome {
    /// `POST /v1/jobs`.
    Registered {
        /// New eval ID (empty for parameterized parents).
        eval_id: String,
        /// Raft index of the eval (0 when none).
        eval_create_index: u64,
        /// Job modify index.
        job_modify_index: u64,
        /// Raft index of the entry.
        index: u64,
    },
    /// `DELETE /v1/job/:id`.
    Deregistered {
        /// Eval created to stop the allocs.
        eval_id: String,
        /// Raft index.
        index: u64,
    },
    /// `POST /v1/job/:id/dispatch`.
    Dispatched {
        /// ID of the child job.
        dispatched_job_id: String,
        /// Eval ID.
        eval_id: String,
        /// Eval create index.
        eval_create_index: u64,
        /// Job create index.
        job_create_index: u64,
        /// Raft index.
        index: u64,
    },
    /// The request failed after being accepted (e.g. leader lost): Nomad answers 500 with this text.
    Failed(String),
}

/// Nomad's event `Type`: the Raft message that caused a change.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ChangeKind {
    /// `Job.Register` (Job and Evaluation topics).
    JobRegistered,
    /// `Job.Deregister`.
    JobDeregistered,
    /// Plan apply (Allocation, Evaluation, Job topics).
    PlanResult,
    /// Client alloc updates (Allocation, Job, Evaluation topics).
    AllocationUpdated,
    /// Eval updates by workers (complete, blocked, failed).
    EvaluationUpdated,
    /// Desired-transition update (drain, stop).
    AllocationUpdateDesiredStatus,
    /// Node register.
    NodeRegistration,
    /// Node deregister.
    NodeDeregistration,
    /// Node status change (down, ready).
    NodeStreamEvent,
    /// Node drain.
    NodeDrain,
}

impl ChangeKind {
    /// The event `Type` string Nomad uses.
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::JobRegistered => "JobRegistered",
            ChangeKind::JobDeregistered => "JobDeregistered",
            ChangeKind::PlanResult => "PlanResult",
            ChangeKind::AllocationUpdated => "AllocationUpdated",
            ChangeKind::EvaluationUpdated => "EvaluationUpdated",
            ChangeKind::AllocationUpdateDesiredStatus => "AllocationUpdateDesiredStatus",
            ChangeKind::NodeRegistration => "NodeRegistration",
            ChangeKind::NodeDeregistration => "NodeDeregistration",
            ChangeKind::NodeStreamEvent => "NodeStreamEvent",
            ChangeKind::NodeDrain => "NodeDrain",
        }
    }
}

/// Job status as Nomad reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// No allocation running yet.
    Pending,
    /// Some allocation placed and not terminal.
    Running,
    /// Every allocation terminal (or stopped).
    Dead,
}

impl JobStatus {
    /// Nomad's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobStatus::Pending => "pending",
            JobStatus::Running => "running",
            JobStatus::Dead => "dead",
        }
    }
}

/// Per-group allocation counts (`JobSummary.Summary[tg]`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupSummary {
    /// Not yet placed.
    pub queued: u32,
    /// Placed, not yet running.
    pub starting: u32,
    /// Running.
    pub running: u32,
    /// Complete.
    pub complete: u32,
    /// Failed.
    pub failed: u32,
    /// Lost.
    pub lost: u32,
}

/// A job as of some Raft index.
#[derive(Debug, Clone, PartialEq)]
pub struct JobView {
    /// The submitted spec.
    pub spec: Arc<JobSpec>,
    /// Status.
    pub status: JobStatus,
    /// Whether the job was deregistered (stopped).
    pub stop: bool,
    /// Submit time (leader clock), ns since t = 0.
    pub submit_time: SimTime,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Raft index of the last spec change.
    pub job_modify_index: u64,
    /// Version, incremented by each re-register.
    pub version: u64,
    /// Per-group counts, by group name.
    pub summary: BTreeMap<String, GroupSummary>,
    /// Parent job for dispatched children.
    pub parent_id: Option<String>,
}

/// Evaluation status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EvalStatus {
    /// Waiting in the broker or being processed.
    Pending,
    /// Waiting for capacity.
    Blocked,
    /// Done.
    Complete,
    /// Delivery limit reached.
    Failed,
    /// Superseded.
    Canceled,
}

impl EvalStatus {
    /// Nomad's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            EvalStatus::Pending => "pending",
            EvalStatus::Blocked => "blocked",
            EvalStatus::Complete => "complete",
            EvalStatus::Failed => "failed",
            EvalStatus::Canceled => "canceled",
        }
    }
}

/// An evaluation as of some Raft index.
#[derive(Debug, Clone, PartialEq)]
pub struct EvalView {
    /// UUID.
    pub id: String,
    /// Job.
    pub job_id: String,
    /// Priority.
    pub priority: u32,
    /// Job type.
    pub job_type: JobType,
    /// `job-register`, `job-deregister`, `node-update`, `alloc-failure`, `queued-allocs`, …
    pub triggered_by: &'static str,
    /// Status.
    pub status: EvalStatus,
    /// Status description.
    pub status_description: String,
    /// Job modify index that triggered it.
    pub job_modify_index: u64,
    /// Node that triggered it (node-update evals).
    pub node_id: String,
    /// Blocked eval created by this one, if any.
    pub blocked_eval: String,
    /// Eval this one was created from (blocked/follow-up evals).
    pub previous_eval: String,
    /// Allocations still queued per group after this eval.
    pub queued_allocs: BTreeMap<String, u32>,
    /// Groups that could not be placed (`FailedTGAllocs` keys).
    pub failed_tg_allocs: Vec<String>,
    /// Raft indexes.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Create time, ns since t = 0.
    pub create_time: SimTime,
    /// Modify time, ns since t = 0.
    pub modify_time: SimTime,
}

/// Client status of an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientStatus {
    /// Placed, not yet running.
    Pending,
    /// Running.
    Running,
    /// Finished successfully.
    Complete,
    /// Failed.
    Failed,
    /// Lost with its node.
    Lost,
}

impl ClientStatus {
    /// Nomad's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            ClientStatus::Pending => "pending",
            ClientStatus::Running => "running",
            ClientStatus::Complete => "complete",
            ClientStatus::Failed => "failed",
            ClientStatus::Lost => "lost",
        }
    }
}

/// Desired status of an allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DesiredStatus {
    /// Should run.
    Run,
    /// Should stop.
    Stop,
    /// Preempted.
    Evict,
}

impl DesiredStatus {
    /// Nomad's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            DesiredStatus::Run => "run",
            DesiredStatus::Stop => "stop",
            DesiredStatus::Evict => "evict",
        }
    }
}

/// An allocation as of some Raft index.
#[derive(Debug, Clone, PartialEq)]
pub struct AllocView {
    /// UUID.
    pub id: String,
    /// Eval that placed it.
    pub eval_id: String,
    /// `job.group[i]`.
    pub name: String,
    /// Node UUID.
    pub node_id: String,
    /// Node name.
    pub node_name: String,
    /// Job.
    pub job_id: String,
    /// Job type.
    pub job_type: JobType,
    /// Group.
    pub task_group: String,
    /// Task names of the group.
    pub tasks: Vec<String>,
    /// Desired status.
    pub desired_status: DesiredStatus,
    /// Desired description.
    pub desired_description: String,
    /// Client status.
    pub client_status: ClientStatus,
    /// Client description.
    pub client_description: String,
    /// CPU, MHz.
    pub cpu_mhz: u32,
    /// Memory, MB.
    pub memory_mb: u32,
    /// `CreateTime`, ns since t = 0 (set by the plan applier).
    pub create_time: SimTime,
    /// `ModifyTime`.
    pub modify_time: SimTime,
    /// When the task started on the client (`StartedAt`), if it did.
    pub started_at: Option<SimTime>,
    /// When the task finished (`FinishedAt`), if it did.
    pub finished_at: Option<SimTime>,
    /// When the client received it (`Received` task event).
    pub received_at: Option<SimTime>,
    /// Restarts so far.
    pub restarts: u32,
    /// Allocation this one replaces.
    pub previous_allocation: String,
    /// Allocation that replaced this one.
    pub next_allocation: String,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Scheduler compute time for this placement, ns (`Metrics.AllocationTime`).
    pub allocation_time_ns: u64,
    /// Nodes evaluated for this placement (`Metrics.NodesEvaluated`).
    pub nodes_evaluated: u32,
}

/// Node status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum NodeStatus {
    /// Booting.
    Initializing,
    /// Ready.
    Ready,
    /// Down (missed heartbeats, or gone).
    Down,
}

impl NodeStatus {
    /// Nomad's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            NodeStatus::Initializing => "initializing",
            NodeStatus::Ready => "ready",
            NodeStatus::Down => "down",
        }
    }
}

/// A client node as of some Raft index.
#[derive(Debug, Clone, PartialEq)]
pub struct NodeView {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Datacenter.
    pub datacenter: String,
    /// Node class.
    pub node_class: String,
    /// Fleet pool (the scenario's `[[pools]]` entry).
    pub pool: String,
    /// Nomad node pool (`default` unless the fleet pool sets one).
    pub node_pool: String,
    /// Attributes, meta and class as constraints see them (shared by the fleet pool's nodes).
    pub facts: Arc<crate::placement::NodeFacts>,
    /// Disk for allocations, MB.
    pub disk_mb: u32,
    /// Instance type.
    pub instance_type: String,
    /// Region.
    pub region: String,
    /// Synthetic address.
    pub address: String,
    /// Status.
    pub status: NodeStatus,
    /// Scheduling eligibility.
    pub eligible: bool,
    /// Draining.
    pub drain: bool,
    /// CPU cores.
    pub cores: u32,
    /// Total CPU, MHz.
    pub cpu_mhz: u32,
    /// Memory, MB.
    pub memory_mb: u32,
    /// Reserved CPU, MHz.
    pub reserved_cpu_mhz: u32,
    /// Reserved memory, MB.
    pub reserved_memory_mb: u32,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Last status change, ns since t = 0.
    pub status_updated_at: SimTime,
}

/// One Raft index's worth of changes.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangeBatch {
    /// Raft index.
    pub index: u64,
    /// Commit time, ns since t = 0.
    pub time: SimTime,
    /// Event type.
    pub kind: ChangeKind,
    /// Jobs changed.
    pub jobs: Vec<JobView>,
    /// Evaluations changed.
    pub evals: Vec<EvalView>,
    /// Allocations changed.
    pub allocs: Vec<AllocView>,
    /// Nodes changed.
    pub nodes: Vec<NodeView>,
    /// Jobs deregistered with purge (removed from state).
    pub purged_jobs: Vec<String>,
}

/// Live gauges of one server, as its `/v1/metrics` would show them.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServerGauges {
    /// Server name.
    pub name: String,
    /// Leader now.
    pub leader: bool,
    /// Cumulative CPU seconds (like `process_cpu_seconds_total`).
    pub cpu_seconds_total: f64,
    /// RSS bytes now.
    pub rss_bytes: f64,
    /// Cumulative Raft bytes written.
    pub raft_bytes_written_total: f64,
    /// Cumulative fsyncs.
    pub fsyncs_total: f64,
    /// Cumulative Raft entries applied.
    pub raft_applied_total: f64,
    /// Last Raft index.
    pub raft_last_index: u64,
    /// Broker ready.
    pub broker_ready: f64,
    /// Broker unacked.
    pub broker_unacked: f64,
    /// Blocked evals.
    pub blocked_evals: f64,
    /// Plan queue depth.
    pub plan_queue_depth: f64,
    /// Cumulative plan node rejections.
    pub plan_node_rejected_total: f64,
    /// Cumulative heartbeats handled.
    pub heartbeats_total: f64,
    /// Cumulative placements (leader).
    pub placements_total: f64,
    /// Mean Raft commit time over the last second, ms.
    pub raft_commit_time_ms: f64,
    /// Mean plan evaluate time over the last second, ms.
    pub plan_evaluate_ms: f64,
    /// Mean plan apply (submit→applied) time over the last second, ms.
    pub plan_apply_ms: f64,
    /// Cumulative plans submitted to the applier (leader; 0 on followers).
    pub plans_submitted_total: f64,
    /// Cumulative evaluations processed by workers (all servers', on the leader; 0 on followers).
    pub evals_processed_total: f64,
    /// Cumulative leader log writes (group commits; leader; 0 on followers).
    pub raft_leader_writes_total: f64,
    /// Cumulative CPU seconds of this server's scheduler workers.
    pub workers_busy_s: f64,
    /// Cumulative CPU seconds of this server's plan applier.
    pub applier_busy_s: f64,
    /// Cumulative CPU seconds of this server's FSM applies on the critical path.
    pub fsm_busy_s: f64,
}

#[cfg(test)]
mod policy_tests {
    use super::*;

    const S: u64 = SEC_NS;

    #[test]
    fn reschedule_delays_follow_nomads_delay_functions() {
        let mut p = ReschedulePolicy::default_for(JobType::Service);
        assert_eq!(p.next_delay_ns(&[]), 30 * S);
        assert_eq!(p.next_delay_ns(&[30 * S]), 60 * S, "exponential doubles");
        assert_eq!(
            p.next_delay_ns(&[2400 * S]),
            3600 * S,
            "capped at max_delay"
        );
        p.delay_function = DelayFunction::Fibonacci;
        assert_eq!(p.next_delay_ns(&[30 * S]), 30 * S);
        assert_eq!(p.next_delay_ns(&[30 * S, 30 * S]), 60 * S);
        assert_eq!(p.next_delay_ns(&[30 * S, 60 * S]), 90 * S);
        assert_eq!(
            p.next_delay_ns(&[3600 * S, 30 * S]),
            30 * S,
            "a series reset at the ceiling starts again"
        );
        let b = ReschedulePolicy::default_for(JobType::Batch);
        assert_eq!(b.next_delay_ns(&[5 * S, 5 * S]), 5 * S, "constant");
    }

    #[test]
    fn reschedule_attempts_count_within_the_interval() {
        let b = ReschedulePolicy::default_for(JobType::Batch); // 1 per 24 h
        assert!(b.eligible(100 * S, &[]));
        assert!(!b.eligible(100 * S, &[50 * S]), "the one attempt is used");
        assert!(
            b.eligible(25 * 3600 * S, &[50 * S]),
            "an attempt older than the interval no longer counts"
        );
        let none = ReschedulePolicy {
            attempts: 0,
            unlimited: false,
            ..b
        };
        assert!(!none.eligible(0, &[]));
        assert!(ReschedulePolicy::default_for(JobType::Service).eligible(0, &[1; 50]));
    }
}
