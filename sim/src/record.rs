//! The **run record**: the shared language of the project.
//!
//! A real run (`source = "nomad"`), an emulated run (`"emulator"`) and a simulated run (`"sim"`) all produce
//! the same record, so reports, comparisons, cost models and capacity plans never care where it came from.
//!
//! On disk a record is a directory (`reports/<run-id>/`) holding:
//!
//! | file          | content                                                                       |
//! |---------------|-------------------------------------------------------------------------------|
//! | `run.json`    | [`RunMeta`]: identity, scenario, fleet, [`Summary`], notable [`RunEvent`]s     |
//! | `allocs.csv`  | one [`AllocRow`] per allocation ([`ALLOCS_CSV_HEADER`])                       |
//! | `metrics.csv` | one [`MetricRow`] per second per server ([`METRICS_CSV_HEADER`])              |
//! | `nodes.csv`   | one [`NodeRow`] per client node that was ever part of the fleet               |
//!
//! All times inside a record are **nanoseconds since t = 0** (`u64`), where t = 0 is the wall-clock instant
//! `RunMeta::start_unix_ns` (a fixed epoch for simulated runs, [`SIM_EPOCH_UNIX_NS`]). Latencies in the
//! summary are milliseconds (`f64`). This module only (de)serialises; the harness does the file IO.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde::{Deserialize, Serialize};

/// Version of the run-record format. Bump on any incompatible change to a field name, unit or meaning.
pub const SCHEMA_VERSION: u32 = 1;

/// The fixed wall-clock epoch of simulated runs: 2020-11-17T00:00:00Z (the C2M publication week), in Unix ns.
/// Simulated records never read the wall clock, so two runs with the same seed are byte-identical.
pub const SIM_EPOCH_UNIX_NS: u64 = 1_605_571_200_000_000_000;

/// Where a record came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// `stampede sim`: the discrete-event simulator, as fast as possible.
    Sim,
    /// `stampede run` against `stampede emulate` (the simulator behind Nomad's HTTP API, in real time).
    Emulator,
    /// `stampede run` against a real Nomad cluster.
    Nomad,
}

impl Source {
    /// The lowercase name used in `run.json`.
    pub fn as_str(self) -> &'static str {
        match self {
            Source::Sim => "sim",
            Source::Emulator => "emulator",
            Source::Nomad => "nomad",
        }
    }
}

/// How a run ended: whether its record holds everything that was asked for. Readers of older records that
/// lack the field get [`Outcome::Complete`] (the only outcome those writers could not tell apart).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Default)]
#[serde(rename_all = "kebab-case")]
pub enum Outcome {
    /// Every job was submitted and every desired allocation observed (simulated runs always).
    #[default]
    Complete,
    /// Stopped by a signal (SIGINT, SIGTERM, SIGHUP) before it finished.
    Interrupted,
    /// Ran to the end, but some submissions failed for good.
    Partial,
    /// `--timeout` (the whole run) or `--drain-timeout` (waiting for placements) ran out first.
    TimedOut,
}

impl Outcome {
    /// The name used in `run.json` and in headlines.
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Complete => "complete",
            Outcome::Interrupted => "interrupted",
            Outcome::Partial => "partial",
            Outcome::TimedOut => "timed-out",
        }
    }

    /// Whether the record holds everything the run was asked to do.
    pub fn is_complete(self) -> bool {
        self == Outcome::Complete
    }
}

/// `run.json`: everything about a run except the per-allocation and per-second tables.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunMeta {
    /// Format version of the record ([`SCHEMA_VERSION`]); readers refuse versions they don't know.
    pub schema_version: u32,
    /// Version of the stampede tool that wrote the record (Cargo package version).
    pub tool_version: String,
    /// Identifier of the run; also the default directory name under `reports/`.
    pub run_id: String,
    /// Where the record came from.
    pub source: Source,
    /// Root seed of the run (simulator seed, or the harness's jitter/ID seed). `null` when not applicable.
    pub seed: Option<u64>,
    /// Nomad version reported by `/v1/agent/self` on real runs; `"sim"` or `"emulator"` otherwise.
    pub nomad_version: String,
    /// Wall-clock instant of t = 0, Unix nanoseconds. Fixed ([`SIM_EPOCH_UNIX_NS`]) for simulated runs.
    pub start_unix_ns: u64,
    /// Length of the observed run, seconds from t = 0 to the end of observation.
    pub duration_s: f64,
    /// How the run ended (absent in older records: complete). Anything but `complete` means the figures
    /// below describe only part of what was asked; the notes say what is missing.
    #[serde(default)]
    pub outcome: Outcome,
    /// The scenario that ran.
    pub scenario: ScenarioInfo,
    /// The servers (control plane) of the run.
    pub servers: Vec<ServerInfo>,
    /// Client fleet by pool (instance type, region); per-node detail is in `nodes.csv`.
    pub fleet: Vec<FleetEntry>,
    /// Headline figures.
    pub summary: Summary,
    /// Notable events on the run's time axis (spot interruptions, leader changes, scaling), in time order.
    #[serde(default)]
    pub events: Vec<RunEvent>,
    /// Free-form notes (e.g. "event stream reconnected 3 times"), in the order they were made.
    #[serde(default)]
    pub notes: Vec<String>,
    /// What the control plane did (simulated runs: exact totals from the model; real and emulated runs:
    /// what Nomad's Prometheus counters give, see [`ControlPlane`]; absent when the servers were scraped in
    /// the JSON form or not at all).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub control_plane: Option<ControlPlane>,
    /// The calibration (`stampede calibrate` output, given with `--calibration`) whose parameter values a
    /// simulated run used. Absent (not written) when none was given, so uncalibrated records keep their
    /// bytes; absent on real and emulated runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration: Option<CalibrationRef>,
}

/// Control-plane totals of a run: what the schedulers, the plan applier, Raft and the FSM did.
///
/// Simulated runs fill every field from the model. Real (and emulated) runs fill what Nomad's Prometheus
/// metrics give, as differences of the cumulative counters between the first and the last scrape of each
/// server (`source = "prometheus"`); the fields Nomad has no metric for are absent, never zero.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ControlPlane {
    /// Where the figures come from: absent for the model, `prometheus` for a measured cluster.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
    /// Nomad version (modelled: `[cluster] nomad_version`; measured: the leader's `/v1/agent/self`).
    pub nomad_version: String,
    /// `plan_apply_pipeline` in force (absent when measured: not exposed by Nomad).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plan_apply_pipeline: Option<u32>,
    /// Raft log store: `boltdb`, `wal`, or (measured, no log-store metric seen) `unknown`.
    pub log_store: String,
    /// Storage class of the servers' disks (`unknown` when measured).
    pub storage: String,
    /// Plans the workers submitted to the plan applier (measured: `nomad.plan.submit` count).
    pub plans_submitted: u64,
    /// Plans with at least one node rejected by the applier (or refused for a stale token).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub plans_rejected: Option<u64>,
    /// Nodes rejected by the plan applier, summed over plans (measured: `nomad.plan.node_rejected`).
    pub plan_nodes_rejected: u64,
    /// Scheduler passes made again after a partially rejected plan (`RefreshIndex`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub replans: Option<u64>,
    /// `plans_rejected / plans_submitted`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conflict_fraction: Option<f64>,
    /// Evaluations created, by trigger (`job-register`, `node-update`, `alloc-failure`, …); measured: the
    /// run's evaluations still listed by `/v1/evaluations` at the end.
    pub evals_by_trigger: BTreeMap<String, u64>,
    /// Evaluations delivered to workers (scheduler passes, re-plans excluded; measured:
    /// `nomad.worker.invoke_scheduler.<type>` counts).
    pub evals_processed: u64,
    /// Most plans dispatched to Raft and not yet applied at once (the pipeline depth reached).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max_plans_in_flight: Option<u32>,
    /// Batch allocations stopped by their `max_run_duration` (Nomad ≥ 2.0.3); absent when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub allocs_timed_out: u64,
    /// Children launched by periodic jobs; absent when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub periodic_launches: u64,
    /// Periodic launches skipped because a child still ran (`prohibit_overlap`); absent when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub periodic_skipped: u64,
    /// Jobs reaped by the leader's job GC; absent when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub jobs_gc: u64,
    /// Evaluations reaped by the leader's job and evaluation GC; absent when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub evals_gc: u64,
    /// Allocations reaped by the leader's job and evaluation GC; absent when none.
    #[serde(default, skip_serializing_if = "is_zero_u64")]
    pub allocs_gc: u64,
    /// Workload-identity signatures made by the plan applier.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub identity_signatures: Option<u64>,
    /// Raft entries committed (measured: the leaders' `raft.apply` counts).
    pub raft_entries: u64,
    /// Leader log writes (group commits; measured: `raft.leader.dispatchLog` count).
    pub raft_leader_writes: u64,
    /// Most entries in one leader write.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raft_max_group: Option<u32>,
    /// fsyncs on the leader (measured: the log store's batch commits on the server that led).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raft_leader_fsyncs: Option<u64>,
    /// fsyncs on all followers.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raft_follower_fsyncs: Option<u64>,
    /// Mean commit latency (append → quorum), ms (measured: `raft.commitTime`).
    pub raft_commit_ms_mean: f64,
    /// Per server, seconds of CPU spent by each activity.
    pub servers: Vec<ServerBusy>,
}

/// Seconds one server spent per activity: CPU seconds in the model; measured, the wall time of Nomad's own
/// timers (a worker pass is `nomad.worker.invoke_scheduler` less `nomad.worker.submit_plan`, the applier
/// `nomad.plan.evaluate`, the FSM every `nomad.fsm.*` apply) and the process's CPU seconds as the total.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerBusy {
    /// Server name.
    pub name: String,
    /// Scheduler workers' passes.
    pub workers_s: f64,
    /// Plan applier: evaluate and sign.
    pub applier_s: f64,
    /// FSM applies on this server's critical path (the leader's; measured: every apply on the server).
    pub fsm_s: f64,
    /// Everything (the above, the followers' FSM, heartbeats, RPC, snapshots), before runtime overhead
    /// (measured: `process_cpu_seconds_total`).
    pub total_s: f64,
}

/// Which calibration a simulated run stands on: enough to find the file again and to tell two apart.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationRef {
    /// Path of the calibration file as given on the command line.
    pub path: String,
    /// SHA-256 of the calibration file's bytes, lowercase hex.
    pub sha256: String,
    /// When the calibration was made (RFC 3339 UTC, from the file; written by the harness).
    pub date: String,
    /// The run records it was fitted to.
    pub source_runs: Vec<CalibrationSource>,
    /// Parameters the calibration set (name → value), in name order.
    pub params: BTreeMap<String, f64>,
}

/// One run record a calibration was fitted to.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationSource {
    /// Run directory as given to `stampede calibrate`.
    pub path: String,
    /// `run_id` of that record.
    pub run_id: String,
    /// SHA-256 over the record's `run.json`, `allocs.csv`, `metrics.csv`, `nodes.csv` bytes in that order.
    pub sha256: String,
}

/// What every report and plan built on a simulated run says in its first lines when no calibration was
/// given.
pub const UNCALIBRATED_STATEMENT: &str =
    "uncalibrated: model parameters are estimates, see sim/CALIBRATION.md";

impl RunMeta {
    /// The calibration statement of a simulated run (`None` for real and emulated runs, which measure
    /// rather than model): `calibrated with FILE (sha256 …, DATE, from runs A, B)` or
    /// [`UNCALIBRATED_STATEMENT`].
    pub fn calibration_statement(&self) -> Option<String> {
        if self.source != Source::Sim {
            return None;
        }
        Some(match &self.calibration {
            None => UNCALIBRATED_STATEMENT.to_string(),
            Some(c) => c.statement(),
        })
    }
}

impl CalibrationRef {
    /// One line: `calibrated with FILE (sha256 12ab34cd…, 2026-11-29T05:00:00Z; N parameters fitted to runs A, B)`.
    pub fn statement(&self) -> String {
        let runs: Vec<&str> = self.source_runs.iter().map(|r| r.run_id.as_str()).collect();
        format!(
            "calibrated with {} (sha256 {}…, {}; {} parameter{} fitted to run{} {})",
            self.path,
            &self.sha256[..self.sha256.len().min(12)],
            self.date,
            self.params.len(),
            if self.params.len() == 1 { "" } else { "s" },
            if runs.len() == 1 { "" } else { "s" },
            runs.join(", ")
        )
    }
}

/// What ran: enough to tell two records apart and to refuse comparing unlike runs.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioInfo {
    /// Scenario name (`name` in the scenario file, or `adhoc` for flag-built workloads).
    pub name: String,
    /// Path of the scenario file as given on the command line, if any.
    pub path: Option<String>,
    /// Scale factor applied to nodes and jobs (`--scale`), 1.0 when unscaled.
    pub scale: f64,
    /// Cluster-wide scheduler algorithm (`binpack` or `spread`).
    pub algorithm: String,
    /// Number of jobs submitted.
    pub jobs: u64,
    /// Job type (`batch`, `service`, or `mixed` for traces).
    pub job_type: String,
    /// Task groups per job (0 for traces with varying shapes).
    pub groups_per_job: u32,
    /// Count per task group (0 for traces with varying shapes).
    pub count_per_group: u32,
    /// CPU asked per allocation, MHz (0 when it varies).
    pub cpu_mhz: u32,
    /// Memory asked per allocation, MB (0 when it varies).
    pub memory_mb: u32,
    /// Whether jobs carry a job-level `spread` block (the expensive kind of spreading).
    pub spread_block: bool,
    /// Arrival model, e.g. `closed-loop workers=75`, `open-loop rate=100/s burst=10`, `trace FILE`.
    pub arrival: String,
    /// Service-level objectives stated by the scenario, e.g. `submit_to_running_p99_ms = 5000`.
    #[serde(default)]
    pub slo: BTreeMap<String, f64>,
}

/// One server of the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ServerInfo {
    /// Server name as used in `metrics.csv` (`server` column).
    pub name: String,
    /// Address (real runs) or a synthetic `10.0.0.N:4647` (simulated).
    pub address: String,
    /// Whether this server was the Raft leader at t = 0.
    pub leader: bool,
    /// Instance type, when known.
    pub instance_type: Option<String>,
    /// CPU cores of the server, when known.
    pub cores: Option<u32>,
}

/// A homogeneous part of the client fleet.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FleetEntry {
    /// Node pool name.
    pub pool: String,
    /// EC2 instance type (or `unknown`).
    pub instance_type: String,
    /// Cloud region.
    pub region: String,
    /// Nomad datacenter.
    pub datacenter: String,
    /// Whether the pool runs on spot capacity.
    pub spot: bool,
    /// Nodes in the pool at t = 0.
    pub nodes_initial: u32,
    /// Most nodes the pool had at any time.
    pub nodes_peak: u32,
    /// Node-hours the pool accumulated over the run (for cost models), hours.
    pub node_hours: f64,
    /// CPU per node, MHz.
    pub cpu_mhz: u32,
    /// Memory per node, MB.
    pub memory_mb: u32,
}

/// Latency percentiles of one interval, in milliseconds (HDR histogram, 3 significant digits).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Percentiles {
    /// Number of samples.
    pub count: u64,
    /// Mean, ms.
    pub mean: f64,
    /// Median, ms.
    pub p50: f64,
    /// 90th percentile, ms.
    pub p90: f64,
    /// 95th percentile, ms.
    pub p95: f64,
    /// 99th percentile, ms.
    pub p99: f64,
    /// Maximum, ms.
    pub max: f64,
}

/// Latency distributions between the allocation milestones, ms.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Latencies {
    /// Job submission (intended send time) → allocation placed (`CreateTime`).
    pub submit_to_placed: Percentiles,
    /// Placed → first task started (`TaskStates[*].StartedAt`).
    pub placed_to_running: Percentiles,
    /// Submission → first task started: the CI "queue wait" a developer feels.
    pub submit_to_running: Percentiles,
    /// First task started → last task finished (`FinishedAt`), allocations that finished (complete, failed
    /// or lost); absent in records written before it existed.
    #[serde(default)]
    pub running_to_done: Percentiles,
    /// Submission → last task finished: the time a CI job's allocation took end to end.
    #[serde(default)]
    pub submit_to_done: Percentiles,
}

/// Peak and total figures of the control plane.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct ServerPeaks {
    /// Highest per-second CPU use of any server, percent of all its cores (100 = every core busy).
    pub cpu_pct_max: f64,
    /// Highest resident memory of any server, bytes.
    pub rss_bytes_max: f64,
    /// Raft log bytes written by the leader over the run, bytes.
    pub raft_bytes_written_total: f64,
    /// Leader fsyncs over the run.
    pub fsyncs_total: f64,
    /// Deepest plan queue seen.
    pub plan_queue_depth_max: f64,
    /// Most evaluations ready in the broker at once.
    pub broker_ready_max: f64,
    /// Most blocked evaluations at once.
    pub blocked_evals_max: f64,
}

/// Headline figures of a run. Every figure is computed from `allocs.csv` and `metrics.csv`
/// ([`Summary::compute`]), so records from any source summarise the same way.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    /// Jobs submitted (registered or dispatched successfully).
    pub jobs_submitted: u64,
    /// Jobs whose submission failed for good (after retries).
    pub jobs_failed_to_submit: u64,
    /// Allocations asked for (sum of group counts of submitted jobs).
    pub allocs_desired: u64,
    /// Allocation rows that were placed on a node (including replacements).
    pub allocs_placed: u64,
    /// Allocations that reached running.
    pub allocs_running: u64,
    /// Allocations that finished successfully.
    pub allocs_complete: u64,
    /// Allocations that failed.
    pub allocs_failed: u64,
    /// Allocations lost with their node (spot interruption, node down).
    pub allocs_lost: u64,
    /// Allocations that replace a lost or failed one.
    pub allocs_rescheduled: u64,
    /// Evaluations that were blocked for lack of capacity at some point.
    pub evals_blocked: u64,
    /// Evaluations that failed (delivery limit reached).
    pub evals_failed: u64,
    /// Seconds from t = 0 until the last allocation reached running (or was placed, if none ran).
    pub completion_s: f64,
    /// Allocations placed per second over the placement window (first submit → last placement), 1/s.
    pub placement_rate_per_s: f64,
    /// Seconds from the first submission to the last allocation that finished (0 when none finished): the
    /// makespan of a batch workload.
    #[serde(default)]
    pub makespan_s: f64,
    /// Task restarts in place (sum of `TaskStates[*].Restarts` of the run's allocations), when the source
    /// reports them (real and emulated runs); absent for simulated runs.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub task_restarts: Option<u64>,
    /// Latency percentiles, ms.
    pub latency_ms: Latencies,
    /// Control-plane peaks and totals.
    pub servers: ServerPeaks,
    /// Spot interruptions during the run.
    pub spot_interruptions: u64,
    /// Fraction of allocations whose submit→running latency met each scenario SLO; `slo_met` says pass/fail.
    #[serde(default)]
    pub slo: BTreeMap<String, SloResult>,
}

/// Outcome of one stated SLO.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SloResult {
    /// The threshold, in the SLO's unit (ms for latencies).
    pub threshold: f64,
    /// The measured value, same unit.
    pub measured: f64,
    /// Whether the run met the objective.
    pub met: bool,
}

/// A notable moment on the run's time axis.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEvent {
    /// When, ns since t = 0.
    pub t_ns: u64,
    /// What: `spot_interruption`, `spot_notice`, `node_down`, `node_joined`, `scale_up`, `scale_down`,
    /// `leader_change`, `fault`.
    pub kind: String,
    /// Node (or server) affected, if any.
    pub node_id: Option<String>,
    /// Human-readable detail.
    pub detail: String,
}

/// Final status of an allocation row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, PartialOrd, Ord, Hash)]
#[serde(rename_all = "lowercase")]
pub enum AllocStatus {
    /// Placed but never started (or not yet).
    Pending,
    /// Still running at the end of observation.
    Running,
    /// Finished successfully.
    Complete,
    /// Finished unsuccessfully.
    Failed,
    /// Lost with its node.
    Lost,
    /// Stopped by the server (job deregistered, preempted, or replaced).
    Stopped,
}

impl AllocStatus {
    /// Name as written in `allocs.csv` (Nomad's `ClientStatus` spelling where one exists).
    pub fn as_str(self) -> &'static str {
        match self {
            AllocStatus::Pending => "pending",
            AllocStatus::Running => "running",
            AllocStatus::Complete => "complete",
            AllocStatus::Failed => "failed",
            AllocStatus::Lost => "lost",
            AllocStatus::Stopped => "stopped",
        }
    }
    /// Parses [`AllocStatus::as_str`] names.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "pending" => AllocStatus::Pending,
            "running" => AllocStatus::Running,
            "complete" => AllocStatus::Complete,
            "failed" => AllocStatus::Failed,
            "lost" => AllocStatus::Lost,
            "stopped" => AllocStatus::Stopped,
            _ => return None,
        })
    }
}

/// Column header of `allocs.csv`.
pub const ALLOCS_CSV_HEADER: &str =
    "job_id,alloc_id,node_id,task_group,submit_ns,sent_ns,placed_ns,running_ns,done_ns,status,lost,rescheduled,replaces";

/// One row of `allocs.csv`: the timeline of one allocation. Times are ns since t = 0; `None` (an empty cell)
/// when the milestone was never reached.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocRow {
    /// Nomad job ID.
    pub job_id: String,
    /// Allocation ID (Nomad's UUID on real runs; seed-derived UUID-shaped in the simulator).
    pub alloc_id: String,
    /// Node the allocation was placed on (empty if never placed).
    pub node_id: String,
    /// Task group name.
    pub task_group: String,
    /// Intended submission time of the job (open-loop schedule), ns. Latencies are measured from here.
    pub submit_ns: Option<u64>,
    /// Actual send time of the register request, ns (≥ `submit_ns`; equal in the simulator).
    pub sent_ns: Option<u64>,
    /// Placement time (`CreateTime`), ns.
    pub placed_ns: Option<u64>,
    /// First task start (`StartedAt`), ns.
    pub running_ns: Option<u64>,
    /// Terminal time (last `FinishedAt`, or the terminal update), ns.
    pub done_ns: Option<u64>,
    /// Final status.
    pub status: AllocStatus,
    /// Whether the allocation was lost with its node.
    pub lost: bool,
    /// Whether this allocation replaces an earlier one (reconciler replacement or reschedule).
    pub rescheduled: bool,
    /// The allocation this one replaces, if any.
    pub replaces: String,
}

/// Column header of `metrics.csv`.
pub const METRICS_CSV_HEADER: &str = "t_s,server,leader,cpu_pct,rss_bytes,raft_bytes_written,fsyncs,broker_ready,broker_unacked,broker_blocked,plan_queue_depth,plan_node_rejections,placements,heartbeats,gc_pause_ms_max,nodes_ready,allocs_running";

/// One row of `metrics.csv`: one server during one second. Per-second quantities are what happened in the
/// second `[t_s, t_s + 1)`; gauges are the value at the end of it. Empty cells are figures the source did
/// not provide (e.g. a Nomad without Prometheus has no CPU figure).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, Default)]
pub struct MetricRow {
    /// Second since t = 0.
    pub t_s: u64,
    /// Server name (matches `ServerInfo::name`).
    pub server: String,
    /// Whether the server was the leader during this second.
    pub leader: bool,
    /// CPU use, percent of all the server's cores (100 = every core busy).
    pub cpu_pct: Option<f64>,
    /// Resident memory, bytes.
    pub rss_bytes: Option<f64>,
    /// Raft log bytes written during the second, bytes.
    pub raft_bytes_written: Option<f64>,
    /// Raft log fsyncs (boltdb/WAL batch writes) during the second.
    pub fsyncs: Option<f64>,
    /// Eval broker: ready evaluations (gauge).
    pub broker_ready: Option<f64>,
    /// Eval broker: unacked (in-flight) evaluations (gauge).
    pub broker_unacked: Option<f64>,
    /// Blocked evaluations (gauge).
    pub broker_blocked: Option<f64>,
    /// Plan queue depth (gauge).
    pub plan_queue_depth: Option<f64>,
    /// Nodes rejected by the plan applier during the second.
    pub plan_node_rejections: Option<f64>,
    /// Allocations placed (committed) during the second, cluster-wide (leader row; 0 on followers).
    pub placements: Option<f64>,
    /// Client heartbeats this server handled during the second.
    pub heartbeats: Option<f64>,
    /// Longest GC pause during the second, ms (real Nomad only).
    pub gc_pause_ms_max: Option<f64>,
    /// Client nodes ready at the end of the second, cluster-wide (same on every server's row).
    pub nodes_ready: Option<f64>,
    /// Allocations running at the end of the second, cluster-wide (same on every server's row).
    pub allocs_running: Option<f64>,
}

/// Column header of `nodes.csv`.
pub const NODES_CSV_HEADER: &str =
    "node_id,name,pool,instance_type,region,datacenter,spot,cpu_mhz,memory_mb,joined_ns,left_ns,left_reason";

/// One row of `nodes.csv`: one client node's life in the run.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeRow {
    /// Node ID.
    pub node_id: String,
    /// Node name.
    pub name: String,
    /// Pool it belongs to.
    pub pool: String,
    /// EC2 instance type (or `unknown`).
    pub instance_type: String,
    /// Region.
    pub region: String,
    /// Nomad datacenter.
    pub datacenter: String,
    /// Whether it ran on spot capacity.
    pub spot: bool,
    /// Schedulable CPU, MHz.
    pub cpu_mhz: u32,
    /// Schedulable memory, MB.
    pub memory_mb: u32,
    /// When it became ready, ns since t = 0 (0 for the initial fleet).
    pub joined_ns: u64,
    /// When it left (interrupted, scaled down, failed), ns; empty if it stayed to the end.
    pub left_ns: Option<u64>,
    /// Why it left: `spot_interruption`, `scale_down`, `fault`; empty if it stayed.
    pub left_reason: String,
}

/// A complete run record in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct RunRecord {
    /// `run.json`.
    pub meta: RunMeta,
    /// `allocs.csv` rows, in placement order (then submit order for unplaced rows).
    pub allocs: Vec<AllocRow>,
    /// `metrics.csv` rows, by second then server.
    pub metrics: Vec<MetricRow>,
    /// `nodes.csv` rows.
    pub nodes: Vec<NodeRow>,
}

/// Errors reading a record's tables.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// A CSV line could not be parsed.
    #[error("{file}:{line}: {msg}")]
    Csv {
        /// File name (`allocs.csv`, …).
        file: &'static str,
        /// 1-based line number.
        line: usize,
        /// What was wrong.
        msg: String,
    },
    /// `run.json` was not valid.
    #[error("run.json: {0}")]
    Json(String),
    /// Unsupported schema version.
    #[error(
        "run.json: schema_version {found} is not supported (this build reads version {supported})"
    )]
    SchemaVersion {
        /// Version found.
        found: u32,
        /// Version this build reads.
        supported: u32,
    },
    /// Reading failed.
    #[error("{file}: {source}")]
    Io {
        /// File name.
        file: &'static str,
        /// Underlying error.
        source: std::io::Error,
    },
}

fn is_zero_u64(v: &u64) -> bool {
    *v == 0
}

/// One CSV line assembled in a byte buffer, cell by cell: integers through `itoa`, floats through
/// [`fmt_f64`]'s rules, fields quoted as [`csv_field`] does. The bytes are those `write!` gave; it skips
/// the formatting machinery per cell (a replayed CI day writes ~4.5 M cells; `perf` put ~9 % of the run in
/// `core::fmt`).
struct CsvLine(Vec<u8>, usize);

impl CsvLine {
    fn new() -> Self {
        CsvLine(Vec::with_capacity(256), 0)
    }
    /// Starts a cell: a separator before every cell but the first.
    fn sep(&mut self) -> &mut Self {
        if self.1 > 0 {
            self.0.push(b',');
        }
        self.1 += 1;
        self
    }
    fn u64(&mut self, x: u64) -> &mut Self {
        self.sep();
        self.0
            .extend_from_slice(itoa::Buffer::new().format(x).as_bytes());
        self
    }
    fn flag(&mut self, b: bool) -> &mut Self {
        self.sep();
        self.0.push(if b { b'1' } else { b'0' });
        self
    }
    /// Empty when absent.
    fn opt_u64(&mut self, x: Option<u64>) -> &mut Self {
        match x {
            Some(x) => self.u64(x),
            None => self.sep(),
        }
    }
    /// Empty when absent, else [`fmt_f64`]'s spelling.
    fn opt_f64(&mut self, x: Option<f64>) -> &mut Self {
        self.sep();
        if let Some(x) = x {
            // Writing into a Vec cannot fail.
            let _ = write_f64(&mut BytesW(&mut self.0), x);
        }
        self
    }
    fn field(&mut self, s: &str) -> &mut Self {
        self.sep();
        self.0.extend_from_slice(csv_field(s).as_bytes());
        self
    }
    fn end<W: Write>(&mut self, w: &mut W) -> std::io::Result<()> {
        self.0.push(b'\n');
        w.write_all(&self.0)
    }
}

/// `fmt::Write` into a byte vector.
struct BytesW<'a>(&'a mut Vec<u8>);

impl std::fmt::Write for BytesW<'_> {
    fn write_str(&mut self, s: &str) -> std::fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// Formats a float compactly and deterministically (integers without a fraction, else up to 6 decimals).
pub fn fmt_f64(x: f64) -> String {
    let mut s = String::new();
    let _ = write_f64(&mut s, x);
    s
}

/// [`fmt_f64`] into any writer, without allocating: the six-decimal form goes through a stack buffer and
/// loses its trailing zeros (and a bare `.`) there.
fn write_f64<W: std::fmt::Write>(w: &mut W, x: f64) -> std::fmt::Result {
    if x.is_finite() && x.fract() == 0.0 && x.abs() < 1e15 {
        return w.write_str(itoa::Buffer::new().format(x as i64));
    }
    /// Fixed buffer; `{:.6}` of the largest f64 is 316 bytes.
    struct Buf {
        b: [u8; 400],
        n: usize,
    }
    impl std::fmt::Write for Buf {
        fn write_str(&mut self, s: &str) -> std::fmt::Result {
            let end = self.n + s.len();
            if end > self.b.len() {
                return Err(std::fmt::Error);
            }
            self.b[self.n..end].copy_from_slice(s.as_bytes());
            self.n = end;
            Ok(())
        }
    }
    let mut buf = Buf { b: [0; 400], n: 0 };
    std::fmt::Write::write_fmt(&mut buf, format_args!("{x:.6}"))?;
    let s = std::str::from_utf8(&buf.b[..buf.n]).map_err(|_| std::fmt::Error)?;
    w.write_str(s.trim_end_matches('0').trim_end_matches('.'))
}

/// Quotes a CSV field when needed (RFC 4180).
pub fn csv_field(s: &str) -> std::borrow::Cow<'_, str> {
    if s.contains([',', '"', '\n', '\r']) {
        std::borrow::Cow::Owned(format!("\"{}\"", s.replace('"', "\"\"")))
    } else {
        std::borrow::Cow::Borrowed(s)
    }
}

/// Splits one CSV line (RFC 4180 quoting, no embedded newlines).
pub fn split_csv_line(line: &str) -> Result<Vec<String>, String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = line.chars().peekable();
    let mut in_quotes = false;
    let mut was_quoted = false;
    while let Some(c) = chars.next() {
        if in_quotes {
            if c == '"' {
                if chars.peek() == Some(&'"') {
                    cur.push('"');
                    chars.next();
                } else {
                    in_quotes = false;
                }
            } else {
                cur.push(c);
            }
        } else if c == '"' {
            if !cur.is_empty() || was_quoted {
                return Err("quote in the middle of an unquoted field".into());
            }
            in_quotes = true;
            was_quoted = true;
        } else if c == ',' {
            out.push(std::mem::take(&mut cur));
            was_quoted = false;
        } else {
            if was_quoted {
                return Err("text after a closing quote".into());
            }
            cur.push(c);
        }
    }
    if in_quotes {
        return Err("unterminated quoted field".into());
    }
    out.push(cur);
    Ok(out)
}

impl AllocRow {
    /// Writes the row as one CSV line (with `\n`).
    pub fn write_csv<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        CsvLine::new()
            .field(&self.job_id)
            .field(&self.alloc_id)
            .field(&self.node_id)
            .field(&self.task_group)
            .opt_u64(self.submit_ns)
            .opt_u64(self.sent_ns)
            .opt_u64(self.placed_ns)
            .opt_u64(self.running_ns)
            .opt_u64(self.done_ns)
            .field(self.status.as_str())
            .flag(self.lost)
            .flag(self.rescheduled)
            .field(&self.replaces)
            .end(w)
    }
}

impl MetricRow {
    /// Writes the row as one CSV line (with `\n`).
    pub fn write_csv<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        CsvLine::new()
            .u64(self.t_s)
            .field(&self.server)
            .flag(self.leader)
            .opt_f64(self.cpu_pct)
            .opt_f64(self.rss_bytes)
            .opt_f64(self.raft_bytes_written)
            .opt_f64(self.fsyncs)
            .opt_f64(self.broker_ready)
            .opt_f64(self.broker_unacked)
            .opt_f64(self.broker_blocked)
            .opt_f64(self.plan_queue_depth)
            .opt_f64(self.plan_node_rejections)
            .opt_f64(self.placements)
            .opt_f64(self.heartbeats)
            .opt_f64(self.gc_pause_ms_max)
            .opt_f64(self.nodes_ready)
            .opt_f64(self.allocs_running)
            .end(w)
    }
}

impl NodeRow {
    /// Writes the row as one CSV line (with `\n`).
    pub fn write_csv<W: Write>(&self, w: &mut W) -> std::io::Result<()> {
        CsvLine::new()
            .field(&self.node_id)
            .field(&self.name)
            .field(&self.pool)
            .field(&self.instance_type)
            .field(&self.region)
            .field(&self.datacenter)
            .flag(self.spot)
            .u64(self.cpu_mhz.into())
            .u64(self.memory_mb.into())
            .u64(self.joined_ns)
            .opt_u64(self.left_ns)
            .field(&self.left_reason)
            .end(w)
    }
}

struct CsvCursor<'a> {
    file: &'static str,
    line: usize,
    fields: Vec<String>,
    names: &'a [&'a str],
}

impl CsvCursor<'_> {
    fn err(&self, msg: String) -> RecordError {
        RecordError::Csv {
            file: self.file,
            line: self.line,
            msg,
        }
    }
    fn s(&self, i: usize) -> String {
        self.fields[i].clone()
    }
    fn opt_u64(&self, i: usize) -> Result<Option<u64>, RecordError> {
        let v = &self.fields[i];
        if v.is_empty() {
            return Ok(None);
        }
        v.parse().map(Some).map_err(|_| {
            self.err(format!(
                "column `{}`: `{v}` is not a non-negative integer",
                self.names[i]
            ))
        })
    }
    fn u64(&self, i: usize) -> Result<u64, RecordError> {
        self.opt_u64(i)?
            .ok_or_else(|| self.err(format!("column `{}` is empty", self.names[i])))
    }
    fn u32(&self, i: usize) -> Result<u32, RecordError> {
        let v = self.u64(i)?;
        u32::try_from(v)
            .map_err(|_| self.err(format!("column `{}`: {v} is too large", self.names[i])))
    }
    fn opt_f64(&self, i: usize) -> Result<Option<f64>, RecordError> {
        let v = &self.fields[i];
        if v.is_empty() {
            return Ok(None);
        }
        match v.parse::<f64>() {
            Ok(x) if x.is_finite() => Ok(Some(x)),
            _ => Err(self.err(format!(
                "column `{}`: `{v}` is not a finite number",
                self.names[i]
            ))),
        }
    }
    fn bool(&self, i: usize) -> Result<bool, RecordError> {
        match self.fields[i].as_str() {
            "1" | "true" => Ok(true),
            "0" | "false" | "" => Ok(false),
            v => Err(self.err(format!("column `{}`: `{v}` is not 0 or 1", self.names[i]))),
        }
    }
}

fn read_table<R: BufRead, T>(
    r: R,
    file: &'static str,
    header: &'static str,
    mut row: impl FnMut(&CsvCursor) -> Result<T, RecordError>,
) -> Result<Vec<T>, RecordError> {
    let names: Vec<&str> = header.split(',').collect();
    let mut out = Vec::new();
    let mut saw_header = false;
    for (i, line) in r.lines().enumerate() {
        let line = line.map_err(|source| RecordError::Io { file, source })?;
        let lineno = i + 1;
        if !saw_header {
            if line.trim_end() != header {
                return Err(RecordError::Csv {
                    file,
                    line: lineno,
                    msg: format!("expected header `{header}`, found `{line}`"),
                });
            }
            saw_header = true;
            continue;
        }
        if line.is_empty() {
            continue;
        }
        let fields = split_csv_line(&line).map_err(|msg| RecordError::Csv {
            file,
            line: lineno,
            msg,
        })?;
        if fields.len() != names.len() {
            return Err(RecordError::Csv {
                file,
                line: lineno,
                msg: format!("expected {} columns, found {}", names.len(), fields.len()),
            });
        }
        let cur = CsvCursor {
            file,
            line: lineno,
            fields,
            names: &names,
        };
        out.push(row(&cur)?);
    }
    if !saw_header {
        return Err(RecordError::Csv {
            file,
            line: 1,
            msg: "file is empty (no header)".into(),
        });
    }
    Ok(out)
}

/// Reads `allocs.csv`.
pub fn read_allocs_csv<R: BufRead>(r: R) -> Result<Vec<AllocRow>, RecordError> {
    read_table(r, "allocs.csv", ALLOCS_CSV_HEADER, |c| {
        let status = AllocStatus::parse(&c.fields[9])
            .ok_or_else(|| c.err(format!("column `status`: unknown status `{}`", c.fields[9])))?;
        Ok(AllocRow {
            job_id: c.s(0),
            alloc_id: c.s(1),
            node_id: c.s(2),
            task_group: c.s(3),
            submit_ns: c.opt_u64(4)?,
            sent_ns: c.opt_u64(5)?,
            placed_ns: c.opt_u64(6)?,
            running_ns: c.opt_u64(7)?,
            done_ns: c.opt_u64(8)?,
            status,
            lost: c.bool(10)?,
            rescheduled: c.bool(11)?,
            replaces: c.s(12),
        })
    })
}

/// Reads `metrics.csv`.
pub fn read_metrics_csv<R: BufRead>(r: R) -> Result<Vec<MetricRow>, RecordError> {
    read_table(r, "metrics.csv", METRICS_CSV_HEADER, |c| {
        Ok(MetricRow {
            t_s: c.u64(0)?,
            server: c.s(1),
            leader: c.bool(2)?,
            cpu_pct: c.opt_f64(3)?,
            rss_bytes: c.opt_f64(4)?,
            raft_bytes_written: c.opt_f64(5)?,
            fsyncs: c.opt_f64(6)?,
            broker_ready: c.opt_f64(7)?,
            broker_unacked: c.opt_f64(8)?,
            broker_blocked: c.opt_f64(9)?,
            plan_queue_depth: c.opt_f64(10)?,
            plan_node_rejections: c.opt_f64(11)?,
            placements: c.opt_f64(12)?,
            heartbeats: c.opt_f64(13)?,
            gc_pause_ms_max: c.opt_f64(14)?,
            nodes_ready: c.opt_f64(15)?,
            allocs_running: c.opt_f64(16)?,
        })
    })
}

/// Reads `nodes.csv`.
pub fn read_nodes_csv<R: BufRead>(r: R) -> Result<Vec<NodeRow>, RecordError> {
    read_table(r, "nodes.csv", NODES_CSV_HEADER, |c| {
        Ok(NodeRow {
            node_id: c.s(0),
            name: c.s(1),
            pool: c.s(2),
            instance_type: c.s(3),
            region: c.s(4),
            datacenter: c.s(5),
            spot: c.bool(6)?,
            cpu_mhz: c.u32(7)?,
            memory_mb: c.u32(8)?,
            joined_ns: c.u64(9)?,
            left_ns: c.opt_u64(10)?,
            left_reason: c.s(11),
        })
    })
}

/// Parses `run.json`, checking the schema version first so an old or new record gets a clear error.
pub fn parse_run_json(text: &str) -> Result<RunMeta, RecordError> {
    let v: serde_json::Value =
        serde_json::from_str(text).map_err(|e| RecordError::Json(e.to_string()))?;
    let found = v
        .get("schema_version")
        .and_then(|x| x.as_u64())
        .ok_or_else(|| RecordError::Json("missing or non-integer `schema_version`".into()))?;
    if found != SCHEMA_VERSION as u64 {
        return Err(RecordError::SchemaVersion {
            found: found as u32,
            supported: SCHEMA_VERSION,
        });
    }
    serde_json::from_value(v).map_err(|e| RecordError::Json(e.to_string()))
}

/// Serialises `run.json` (pretty, stable key order, trailing newline).
pub fn run_json_string(meta: &RunMeta) -> String {
    let mut s = serde_json::to_string_pretty(meta).expect("RunMeta serialises");
    s.push('\n');
    s
}

/// Writes a whole table with its header.
pub fn write_allocs_csv<W: Write>(w: &mut W, rows: &[AllocRow]) -> std::io::Result<()> {
    writeln!(w, "{ALLOCS_CSV_HEADER}")?;
    rows.iter().try_for_each(|r| r.write_csv(w))
}

/// Writes a whole table with its header.
pub fn write_metrics_csv<W: Write>(w: &mut W, rows: &[MetricRow]) -> std::io::Result<()> {
    writeln!(w, "{METRICS_CSV_HEADER}")?;
    rows.iter().try_for_each(|r| r.write_csv(w))
}

/// Writes a whole table with its header.
pub fn write_nodes_csv<W: Write>(w: &mut W, rows: &[NodeRow]) -> std::io::Result<()> {
    writeln!(w, "{NODES_CSV_HEADER}")?;
    rows.iter().try_for_each(|r| r.write_csv(w))
}

#[cfg(test)]
mod csv_line_tests {
    use super::*;

    /// The byte-buffer writers spell cells exactly as `write!` did: empty absent cells, integral floats
    /// without a fraction, six decimals without trailing zeros, RFC 4180 quoting.
    #[test]
    fn rows_are_spelled_as_before() {
        let m = MetricRow {
            t_s: 7,
            server: "srv,1".into(),
            leader: true,
            cpu_pct: Some(12.5),
            rss_bytes: Some(1024.0),
            raft_bytes_written: Some(-3.0),
            fsyncs: Some(1.0 / 3.0),
            broker_ready: Some(0.0),
            broker_unacked: Some(2e15),
            broker_blocked: Some(1e-9),
            ..Default::default()
        };
        let mut b = Vec::new();
        m.write_csv(&mut b).unwrap();
        assert_eq!(
            String::from_utf8(b).unwrap(),
            "7,\"srv,1\",1,12.5,1024,-3,0.333333,0,2000000000000000,0,,,,,,,\n"
        );
        let a = AllocRow {
            job_id: "j\"x".into(),
            alloc_id: String::new(),
            node_id: "n".into(),
            task_group: "g".into(),
            submit_ns: Some(0),
            sent_ns: None,
            placed_ns: Some(u64::MAX),
            running_ns: None,
            done_ns: None,
            status: AllocStatus::Failed,
            lost: false,
            rescheduled: true,
            replaces: String::new(),
        };
        let mut b = Vec::new();
        a.write_csv(&mut b).unwrap();
        assert_eq!(
            String::from_utf8(b).unwrap(),
            format!("\"j\"\"x\",,n,g,0,,{},,,failed,0,1,\n", u64::MAX)
        );
    }
}
