//! Response shapes of the endpoints the harness uses. Every field is optional or defaulted and unknown
//! fields are ignored, because every Nomad release adds some.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Index headers of a read (`X-Nomad-Index`, `X-Nomad-NextToken`, `X-Nomad-KnownLeader`).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct QueryMeta {
    /// `X-Nomad-Index`: the table index the answer reflects (use as the next blocking `index`).
    pub index: u64,
    /// `X-Nomad-NextToken`: the next page's token, when there is one.
    pub next_token: Option<String>,
    /// `X-Nomad-KnownLeader`.
    pub known_leader: bool,
}

/// Response of `PUT /v1/jobs`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RegisterResponse {
    /// Evaluation created for the registration (empty for periodic/parameterized parents).
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// Raft index of the eval.
    pub eval_create_index: u64,
    /// Raft index of the job.
    pub job_modify_index: u64,
    /// Warnings.
    pub warnings: String,
}

/// Response of `POST /v1/job/:id/dispatch`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct DispatchResponse {
    /// ID of the dispatched child job.
    #[serde(rename = "DispatchedJobID")]
    pub dispatched_job_id: String,
    /// Evaluation created.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// Raft index of the eval.
    pub eval_create_index: u64,
}

/// A job list stub (`GET /v1/jobs`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct JobListStub {
    /// Job ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Namespace.
    pub namespace: String,
    /// `pending|running|dead`.
    pub status: String,
    /// Job type.
    #[serde(rename = "Type")]
    pub job_type: String,
    /// Registration time, Unix ns (leader clock).
    pub submit_time: i64,
    /// Raft index of the last job change.
    pub job_modify_index: u64,
}

/// One task's state (`TaskStates[name]`). Times are RFC 3339 strings on the client's clock.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq)]
#[serde(rename_all = "PascalCase", default)]
pub struct TaskState {
    /// `pending|running|dead`.
    pub state: String,
    /// Whether the task failed.
    pub failed: bool,
    /// When the task started (RFC 3339), `null` if never.
    pub started_at: Option<String>,
    /// When the task finished (RFC 3339), `null` if not yet.
    pub finished_at: Option<String>,
}

/// An allocation as listed by `GET /v1/allocations` (and, with more fields, in event payloads).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct AllocStub {
    /// Allocation ID (UUID).
    #[serde(rename = "ID")]
    pub id: String,
    /// Evaluation that placed it.
    #[serde(rename = "EvalID")]
    pub eval_id: String,
    /// Name `job.group[i]`.
    pub name: String,
    /// Namespace.
    pub namespace: String,
    /// Node ID.
    #[serde(rename = "NodeID")]
    pub node_id: String,
    /// Job ID.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// Task group.
    pub task_group: String,
    /// `run|stop|evict`.
    pub desired_status: String,
    /// `pending|running|complete|failed|lost|unknown`.
    pub client_status: String,
    /// Per-task state, when requested (`task_states=true`).
    pub task_states: Option<BTreeMap<String, TaskState>>,
    /// The allocation this one replaces (full allocations and event payloads).
    pub previous_allocation: Option<String>,
    /// The replacement allocation, if rescheduled.
    pub next_allocation: Option<String>,
    /// Reschedule history (non-null on replacements).
    pub reschedule_tracker: Option<serde_json::Value>,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Placement time, Unix ns (leader clock).
    pub create_time: i64,
    /// Last change, Unix ns.
    pub modify_time: i64,
}

/// An evaluation (`GET /v1/evaluations`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct Evaluation {
    /// Evaluation ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Job ID.
    #[serde(rename = "JobID")]
    pub job_id: String,
    /// `pending|blocked|complete|failed|canceled`.
    pub status: String,
    /// What created it.
    pub triggered_by: String,
    /// Blocked eval created by this one, if any.
    pub blocked_eval: String,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Creation time, Unix ns.
    pub create_time: i64,
}

/// A node list stub (`GET /v1/nodes`).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct NodeStub {
    /// Node ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Node name.
    pub name: String,
    /// Address.
    pub address: String,
    /// Datacenter.
    pub datacenter: String,
    /// Node class.
    pub node_class: String,
    /// Node pool.
    pub node_pool: String,
    /// `initializing|ready|down|disconnected`.
    pub status: String,
    /// `eligible|ineligible`.
    pub scheduling_eligibility: String,
    /// Nomad version of the client.
    pub version: String,
    /// Raft index of creation.
    pub create_index: u64,
}

/// `GET /v1/operator/raft/configuration`.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftConfiguration {
    /// Servers in the Raft configuration.
    pub servers: Vec<RaftServer>,
    /// Raft index.
    pub index: u64,
}

/// One Raft server.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct RaftServer {
    /// Raft ID.
    #[serde(rename = "ID")]
    pub id: String,
    /// Node name (`s1.global`).
    pub node: String,
    /// RPC address `ip:4647`.
    pub address: String,
    /// Whether it leads.
    pub leader: bool,
    /// Whether it votes.
    pub voter: bool,
}

/// The in-memory sink of `GET /v1/metrics` (JSON form).
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct MetricsSummary {
    /// Interval label.
    pub timestamp: String,
    /// Gauges.
    pub gauges: Vec<GaugeValue>,
    /// Counters (per interval).
    pub counters: Vec<SampledValue>,
    /// Timers and samples (ms for timers).
    pub samples: Vec<SampledValue>,
}

/// A gauge.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct GaugeValue {
    /// Dotted metric name (`nomad.nomad.broker.total_ready`).
    pub name: String,
    /// Value.
    pub value: f64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}

/// A counter or sample aggregated over one interval.
#[derive(Debug, Clone, Default, Deserialize, Serialize)]
#[serde(rename_all = "PascalCase", default)]
pub struct SampledValue {
    /// Dotted metric name.
    pub name: String,
    /// Observations in the interval.
    pub count: u64,
    /// Sum / interval seconds.
    pub rate: f64,
    /// Sum.
    pub sum: f64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Mean.
    pub mean: f64,
    /// Labels.
    pub labels: BTreeMap<String, String>,
}
