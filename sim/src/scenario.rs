//! Scenarios: TOML files in `scenarios/` describing a cluster, a fleet, a workload, faults and SLOs.
//!
//! Parsing follows dslab's two-step config: an all-`Option` [`RawScenario`] with `deny_unknown_fields`, then
//! [`Scenario::from_raw`] applies the defaults documented on each field and validates. Every error names the
//! file, the line and the key.
//!
//! ```toml
//! name = "smoke"
//! [cluster]            # servers = 3, algorithm = "binpack", num_schedulers = cores
//! servers = 3
//! [[pools]]            # node pools: instance type, count, datacenter, region, spot
//! instance_type = "m5.xlarge"
//! count = 20
//! [workload]           # job shape and arrival model
//! jobs = 50
//! type = "batch"
//! count = 4
//! duration = "5s"
//! [workload.arrival]
//! mode = "closed_loop"
//! workers = 8
//! [[faults]]           # scripted faults
//! at = "30s"
//! kind = "spot_loss"
//! fraction = 0.15
//! [slo]
//! submit_to_running_p99_ms = 5000
//! [params]             # overrides of ModelParams (see params.rs)
//! raft_fsync_median_us = 2000
//! ```

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::duration::parse_duration_ns;
use crate::instances;
use crate::params::ModelParams;

/// A scenario error, naming the file, line and key.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{file}:{line}: {key}{sep}{msg}", line = line.map(|l| l.to_string()).unwrap_or_else(|| "?".into()), sep = if key.is_empty() { "" } else { ": " })]
pub struct ScenarioError {
    /// File the scenario came from.
    pub file: String,
    /// 1-based line, when it could be located.
    pub line: Option<usize>,
    /// Dotted key path (`workload.arrival.workers`), empty for syntax errors.
    pub key: String,
    /// What is wrong.
    pub msg: String,
}

/// Raw scenario, as written (every field optional).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawScenario {
    /// Scenario name (default: the file stem).
    pub name: Option<String>,
    /// One-line description.
    pub description: Option<String>,
    /// Default seed (default 1); `--seed` overrides.
    pub seed: Option<u64>,
    /// Control plane.
    pub cluster: Option<RawCluster>,
    /// Client node pools.
    pub pools: Option<Vec<RawPool>>,
    /// Workload.
    pub workload: Option<RawWorkload>,
    /// Scripted faults.
    pub faults: Option<Vec<RawFault>>,
    /// SLOs: key (a [`crate::metric::Metric`], e.g. `queue_wait_p95_ms`) → threshold.
    pub slo: Option<BTreeMap<String, f64>>,
    /// Model parameter overrides.
    pub params: Option<ModelParams>,
    /// Overrides of the Nomad version's settings (`plan_apply_pipeline = 8`, `log_store = "wal"`, …; keys in
    /// `sim/MECHANISMS.md` §1).
    pub nomad: Option<BTreeMap<String, toml::Value>>,
    /// Simulation budgets and switches.
    pub sim: Option<RawSimSection>,
}

/// Raw `[cluster]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawCluster {
    /// Number of servers (1, 3, 5 or 7; default 3).
    pub servers: Option<u32>,
    /// Server instance type (default `i3.16xlarge`... sets cores and memory defaults).
    pub instance_type: Option<String>,
    /// Server cores (default: from the instance type).
    pub cores: Option<u32>,
    /// Server memory, GiB (default: from the instance type).
    pub memory_gib: Option<f64>,
    /// Scheduler workers per server (default = cores, as Nomad).
    pub num_schedulers: Option<u32>,
    /// Cluster-wide scheduler algorithm, `binpack` (default) or `spread`.
    pub algorithm: Option<String>,
    /// Nomad version modelled, `major.minor[.patch]` (default `1.6`); selects the mechanisms and their defaults.
    pub nomad_version: Option<String>,
    /// Storage class of the servers' data dir: `nvme-i3`, `nvme-nitro`, `gp3`, `io2`, `gp2` (default: instance
    /// store NVMe if the server type has one, else gp3).
    pub storage: Option<String>,
    /// Per-core clock of the server, MHz (default: from the instance type; required for unknown types).
    pub mhz_per_core: Option<u32>,
}

/// Raw `[workload.restart]` (Nomad's `restart` block; absent keys keep the job type's default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawRestart {
    /// Restarts allowed within one interval.
    pub attempts: Option<u32>,
    /// Interval, e.g. `"24h"`.
    pub interval: Option<String>,
    /// Delay before a restart, e.g. `"15s"` (Nomad adds up to 25% jitter).
    pub delay: Option<String>,
    /// `fail` or `delay`.
    pub mode: Option<String>,
}

/// Raw `[workload.reschedule]` (Nomad's `reschedule` block; absent keys keep the job type's default).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawReschedule {
    /// Replacements allowed within one interval.
    pub attempts: Option<u32>,
    /// Interval, e.g. `"24h"`.
    pub interval: Option<String>,
    /// First delay, e.g. `"5s"`.
    pub delay: Option<String>,
    /// `constant`, `exponential` or `fibonacci`.
    pub delay_function: Option<String>,
    /// Cap on the delay, e.g. `"1h"`.
    pub max_delay: Option<String>,
    /// No limit on replacements.
    pub unlimited: Option<bool>,
}

/// Raw `[[pools]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPool {
    /// Pool name (default `<instance_type>-<datacenter>`).
    pub name: Option<String>,
    /// EC2 instance type (required).
    pub instance_type: Option<String>,
    /// Number of nodes at t = 0 (required unless `autoscale` gives `min`).
    pub count: Option<u32>,
    /// Nomad datacenter (default `dc1`).
    pub datacenter: Option<String>,
    /// Region (default `us-east-1`).
    pub region: Option<String>,
    /// Spot capacity (default true).
    pub spot: Option<bool>,
    /// Node class (default empty).
    pub node_class: Option<String>,
    /// Schedulable CPU per node, MHz (default from the instance type).
    pub cpu_mhz: Option<u32>,
    /// Schedulable memory per node, MB (default from the instance type).
    pub memory_mb: Option<u32>,
    /// CPU reserved for the OS and agent, MHz (default 0).
    pub reserved_cpu_mhz: Option<u32>,
    /// Memory reserved, MB (default 0).
    pub reserved_memory_mb: Option<u32>,
    /// Images present on every node at boot (default none).
    pub prepulled_images: Option<Vec<String>>,
    /// Spot interruptions per node per month (fraction; Spot-Advisor buckets: 0.05, 0.10, …; default 0).
    pub interruption_rate_per_month: Option<f64>,
    /// Autoscaling policy (default: fixed size).
    pub autoscale: Option<RawAutoscale>,
    /// Node attributes (`${attr.*}`) on top of the fingerprinted defaults (`kernel.name`, `cpu.arch`,
    /// `cpu.numcores`, `cpu.totalcompute`, `memory.totalbytes`, `platform.aws.instance-type`, …).
    pub attributes: Option<BTreeMap<String, String>>,
    /// Client `meta` (`${meta.*}`; default none).
    pub meta: Option<BTreeMap<String, String>>,
    /// Nomad node pool of the nodes (Nomad ≥ 1.6; default `default`).
    pub node_pool: Option<String>,
    /// Disk Nomad offers for allocations per node, MB (default 100 GiB: an estimate of a CI node's root
    /// volume, where Nomad's data dir lives).
    pub disk_mb: Option<u32>,
    /// Client `min_dynamic_port` (default 20000).
    pub min_dynamic_port: Option<u16>,
    /// Client `max_dynamic_port` (default 32000).
    pub max_dynamic_port: Option<u16>,
    /// CPU cores (vCPUs) of one client host, which the host's task starts share (default: the instance
    /// type's vCPUs; for an unknown type `ceil(cpu_mhz / 3000)`, reference-clock cores).
    pub cores: Option<u32>,
    /// Client nodes sharing one host and its `cores` (default 1; several Nomad clients on one machine, as on
    /// a loopback test cluster or a node simulator's host).
    pub nodes_per_host: Option<u32>,
}

/// Raw `[[workload.constraint]]` / `[[workload.affinity]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawConstraint {
    /// Left target, e.g. `${attr.kernel.name}`.
    pub attribute: Option<String>,
    /// Operator (default `=`).
    pub operator: Option<String>,
    /// Right target.
    pub value: Option<String>,
    /// Affinity weight, −100..=100, not 0 (affinities only).
    pub weight: Option<i32>,
}

/// Raw `[workload] ports = { static = [..], dynamic = N }`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPorts {
    /// Static host ports per allocation.
    #[serde(rename = "static")]
    pub static_ports: Option<Vec<u16>>,
    /// Dynamic host ports per allocation.
    pub dynamic: Option<u32>,
}

/// Raw `[pools.autoscale]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawAutoscale {
    /// Fewest nodes (default 1).
    pub min: Option<u32>,
    /// Most nodes (required).
    pub max: Option<u32>,
    /// Queued allocations per extra node wanted (default: allocations that fit on one node).
    pub queue_per_node: Option<u32>,
    /// How often the scaler looks, e.g. `30s` (default 30 s).
    pub interval: Option<String>,
    /// Boot to Nomad-ready, including the base-image pull done before the agent starts (default 5m).
    pub boot_time: Option<String>,
    /// Idle time before a node is scaled down (default 10m).
    pub scale_down_idle: Option<String>,
}

/// Raw `[workload]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawWorkload {
    /// Number of jobs (default 1).
    pub jobs: Option<u32>,
    /// `batch` (default) or `service`.
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    /// Task groups per job (default 1).
    pub groups: Option<u32>,
    /// Count per task group (default 1).
    pub count: Option<u32>,
    /// CPU per allocation, MHz (default 100).
    pub cpu_mhz: Option<u32>,
    /// Memory per allocation, MB (default 64).
    pub memory_mb: Option<u32>,
    /// Job priority 1–100 (default 50).
    pub priority: Option<u32>,
    /// Priorities to draw from uniformly instead of `priority` (seeded).
    pub priorities: Option<Vec<u32>>,
    /// Job-level `spread` block on `${node.datacenter}` (default false).
    pub spread_block: Option<bool>,
    /// `AllAtOnce` jobs: a partially rejected plan is dropped whole (default false).
    pub all_at_once: Option<bool>,
    /// Image name (default `alpine:3.12`).
    pub image: Option<String>,
    /// Image size, MB (default 3).
    pub image_size_mb: Option<u64>,
    /// Run duration: `forever`, a duration (`5s`), or `lognormal:MEDIAN:SIGMA` (default `forever` for
    /// service, `10s` for batch).
    pub duration: Option<String>,
    /// Fraction of batch allocations whose task fails (exit ≠ 0) on each attempt (default 0).
    pub fail_rate: Option<f64>,
    /// Fraction of jobs whose every attempt fails (a deterministically broken test; default 0).
    pub broken_rate: Option<f64>,
    /// Batch groups' `max_run_duration`, e.g. `"30m"` (Nomad ≥ 2.0.3).
    pub max_run_duration: Option<String>,
    /// `[workload.restart]`: the groups' restart policy (default: Nomad's for the job type).
    pub restart: Option<RawRestart>,
    /// `[workload.reschedule]`: the groups' reschedule policy (default: Nomad's for the job type).
    pub reschedule: Option<RawReschedule>,
    /// Tasks per task group (default 1): each task gets a signed workload identity on 1.4+.
    pub tasks: Option<u32>,
    /// Job ID prefix (default `<scenario>-`).
    pub id_prefix: Option<String>,
    /// Arrival model.
    pub arrival: Option<RawArrival>,
    /// A recorded trace to replay instead of the synthetic job shape (path relative to the scenario).
    pub trace: Option<String>,
    /// `[[workload.constraint]]`: constraints of every group.
    pub constraint: Option<Vec<RawConstraint>>,
    /// `[[workload.affinity]]`: affinities of every group.
    pub affinity: Option<Vec<RawConstraint>>,
    /// `distinct_hosts`: `true` or `"group"` (no two allocations of a group on one node), `"job"`.
    pub distinct_hosts: Option<toml::Value>,
    /// Host ports per allocation.
    pub ports: Option<RawPorts>,
    /// Ephemeral disk per allocation, MB (default 300, Nomad's).
    pub disk_mb: Option<u32>,
    /// Node pool of the jobs (Nomad ≥ 1.6; default `default`, `all` = every node).
    pub node_pool: Option<String>,
    /// `[[workload.system]]`: system and sysbatch jobs registered at t = 0 (agents on every node).
    pub system: Option<Vec<RawSystemJob>>,
    /// `[[workload.periodic]]`: periodic jobs registered at t = 0 (the nightly build).
    pub periodic: Option<Vec<RawPeriodicJob>>,
}

/// Raw `[[workload.system]]`: a system job (one allocation per node, running until stopped: log shippers,
/// cache daemons) or a sysbatch job (one allocation per node, run to completion once).
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSystemJob {
    /// Job ID (required).
    pub name: Option<String>,
    /// `system` (default) or `sysbatch`.
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    /// CPU per allocation, MHz (default 100).
    pub cpu_mhz: Option<u32>,
    /// Memory per allocation, MB (default 64).
    pub memory_mb: Option<u32>,
    /// Sysbatch run time (default `10s`); system jobs run until stopped.
    pub duration: Option<String>,
    /// Priority 1–100 (default 50).
    pub priority: Option<u32>,
    /// Image (default `alpine:3.12`).
    pub image: Option<String>,
    /// Image size, MB (default 3).
    pub image_size_mb: Option<u64>,
    /// Refused: a system job has one allocation per node, not a count.
    pub count: Option<u32>,
}

/// Raw `[[workload.periodic]]`: a periodic batch (or sysbatch) job launched on a cron schedule.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawPeriodicJob {
    /// Parent job ID (required); children are `<name>/periodic-<unix seconds>`.
    pub name: Option<String>,
    /// Cron spec, 5 fields or a macro (`@daily`), read in UTC from 2020-11-17T00:00:00Z at t = 0 (required).
    pub cron: Option<String>,
    /// Skip a launch while a child still runs (default false).
    pub prohibit_overlap: Option<bool>,
    /// Time zone of the spec (only `UTC`).
    pub time_zone: Option<String>,
    /// `batch` (default) or `sysbatch`.
    #[serde(rename = "type")]
    pub job_type: Option<String>,
    /// Allocations per child (batch; default 1).
    pub count: Option<u32>,
    /// CPU per allocation, MHz (default 100).
    pub cpu_mhz: Option<u32>,
    /// Memory per allocation, MB (default 64).
    pub memory_mb: Option<u32>,
    /// Run time of each allocation: a duration or `lognormal:MEDIAN:SIGMA` (default `10s`).
    pub duration: Option<String>,
    /// Priority 1–100 (default 50).
    pub priority: Option<u32>,
    /// Image (default `alpine:3.12`).
    pub image: Option<String>,
    /// Image size, MB (default 3).
    pub image_size_mb: Option<u64>,
}

/// Raw `[workload.arrival]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawArrival {
    /// `all_at_once`, `closed_loop` (default) or `open_loop`.
    pub mode: Option<String>,
    /// Closed loop: concurrent submitters (default 20, Journey's default; C2M used 75).
    pub workers: Option<u32>,
    /// Open loop: jobs per second.
    pub rate_per_s: Option<f64>,
    /// Open loop: jobs sent back-to-back at each tick (default 1).
    pub burst: Option<u32>,
    /// Open loop: uniform jitter added to each intended send time, e.g. `500ms` (default 0).
    pub jitter: Option<String>,
}

/// Raw `[[faults]]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawFault {
    /// When, e.g. `600s`.
    pub at: Option<String>,
    /// `spot_loss` (lose a fraction of nodes) or `leader_change`.
    pub kind: Option<String>,
    /// Fraction of the (pool's) ready nodes lost, 0–1.
    pub fraction: Option<f64>,
    /// Restrict to one pool.
    pub pool: Option<String>,
    /// Whether the 2-minute notice arrives and nodes are drained on it (default false).
    pub notice: Option<bool>,
}

/// Raw `[sim]`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RawSimSection {
    /// Event budget (default 2,000,000,000).
    pub max_events: Option<u64>,
    /// Simulated-time budget (default `30d`).
    pub max_time: Option<String>,
    /// Model client heartbeats (default true).
    pub heartbeats: Option<bool>,
    /// Stop once every job's allocations are terminal or running and nothing is queued (default true).
    /// Service jobs never finish, so a run ends when all their allocations run.
    pub stop_when_idle: Option<bool>,
    /// Periodic jobs launch children up to this simulated time (default `24h`); a pending launch keeps the
    /// run going until then.
    pub periodic_until: Option<String>,
}

/// Cluster-wide scheduler algorithm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Algorithm {
    /// Best fit (Nomad's default).
    Binpack,
    /// Worst fit.
    Spread,
}

impl Algorithm {
    /// Nomad's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Algorithm::Binpack => "binpack",
            Algorithm::Spread => "spread",
        }
    }
    /// Parses Nomad's spelling (`""` means binpack, as in Nomad).
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "binpack" | "" => Some(Algorithm::Binpack),
            "spread" => Some(Algorithm::Spread),
            _ => None,
        }
    }
}

/// Job type.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, Deserialize, PartialOrd, Ord)]
#[serde(rename_all = "lowercase")]
pub enum JobType {
    /// Runs to completion.
    Batch,
    /// Runs until stopped.
    Service,
    /// One allocation per feasible node, running until stopped (agents: log shippers, cache daemons).
    System,
    /// One allocation per feasible node, run to completion once ([src] `scheduler/scheduler_sysbatch.go`).
    SysBatch,
}

impl JobType {
    /// Nomad's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            JobType::Batch => "batch",
            JobType::Service => "service",
            JobType::System => "system",
            JobType::SysBatch => "sysbatch",
        }
    }
    /// Parses Nomad's spelling.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "batch" => Some(JobType::Batch),
            "service" => Some(JobType::Service),
            "system" => Some(JobType::System),
            "sysbatch" => Some(JobType::SysBatch),
            _ => None,
        }
    }
}

/// How long a task runs.
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize, Deserialize)]
pub enum RunDuration {
    /// Until stopped (service jobs).
    Forever,
    /// A fixed time, ns.
    Fixed(u64),
    /// Log-normal with the given median (ns) and sigma.
    LogNormal {
        /// Median, ns.
        median_ns: u64,
        /// Sigma of the underlying normal.
        sigma: f64,
    },
}

impl RunDuration {
    /// Parses `forever`, `5s`, `lognormal:30s:0.8`.
    pub fn parse(s: &str) -> Result<Self, String> {
        if s == "forever" {
            return Ok(RunDuration::Forever);
        }
        if let Some(rest) = s.strip_prefix("lognormal:") {
            let (m, sg) = rest
                .split_once(':')
                .ok_or("expected `lognormal:MEDIAN:SIGMA`")?;
            let median_ns = parse_duration_ns(m)?;
            let sigma: f64 = sg.parse().map_err(|_| format!("bad sigma `{sg}`"))?;
            if !(0.0..=5.0).contains(&sigma) {
                return Err(format!("sigma {sigma} must be within 0..=5"));
            }
            return Ok(RunDuration::LogNormal { median_ns, sigma });
        }
        Ok(RunDuration::Fixed(parse_duration_ns(s)?))
    }
}

/// Arrival model of a synthetic workload.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Arrival {
    /// Every job submitted at t = 0 (registrations still serialise through Raft).
    AllAtOnce,
    /// `workers` submitters, each sending the next job when the previous register returns.
    ClosedLoop {
        /// Concurrent submitters.
        workers: u32,
    },
    /// Jobs at a fixed rate, `burst` at a time, with uniform jitter.
    OpenLoop {
        /// Jobs per second.
        rate_per_s: f64,
        /// Jobs per tick.
        burst: u32,
        /// Uniform jitter added to each intended time, ns.
        jitter_ns: u64,
    },
}

impl Arrival {
    /// Human description, as stored in the run record.
    pub fn describe(&self) -> String {
        match self {
            Arrival::AllAtOnce => "all-at-once".into(),
            Arrival::ClosedLoop { workers } => format!("closed-loop workers={workers}"),
            Arrival::OpenLoop {
                rate_per_s,
                burst,
                jitter_ns,
            } => {
                format!(
                    "open-loop rate={rate_per_s}/s burst={burst} jitter={}ms",
                    jitter_ns / 1_000_000
                )
            }
        }
    }
}

/// The job shape of a synthetic workload.
#[derive(Debug, Clone, PartialEq)]
pub struct JobTemplate {
    /// Number of jobs.
    pub jobs: u32,
    /// Job type.
    pub job_type: JobType,
    /// Task groups per job.
    pub groups: u32,
    /// Count per group.
    pub count: u32,
    /// CPU per allocation, MHz.
    pub cpu_mhz: u32,
    /// Memory per allocation, MB.
    pub memory_mb: u32,
    /// Priority (when `priorities` is empty).
    pub priority: u32,
    /// Priorities drawn uniformly per job (seeded), if non-empty.
    pub priorities: Vec<u32>,
    /// Job-level spread block.
    pub spread_block: bool,
    /// AllAtOnce.
    pub all_at_once: bool,
    /// Image.
    pub image: String,
    /// Image size, bytes.
    pub image_bytes: u64,
    /// Run duration.
    pub duration: RunDuration,
    /// Per-attempt failure probability (batch).
    pub fail_rate: f64,
    /// Fraction of jobs that are broken: every attempt of every allocation fails (a test that fails
    /// deterministically), so each costs what its restart and reschedule policies allow.
    pub broken_rate: f64,
    /// Restart policy (`None`: Nomad's default for the job type).
    pub restart: Option<crate::api::RestartPolicy>,
    /// Reschedule policy (`None`: Nomad's default for the job type).
    pub reschedule: Option<crate::api::ReschedulePolicy>,
    /// `max_run_duration` of the batch groups, ns (Nomad ≥ 2.0.3).
    pub max_run_ns: Option<u64>,
    /// Tasks per group.
    pub tasks: u32,
    /// Job ID prefix.
    pub id_prefix: String,
    /// Constraints, affinities, distinct_hosts, ports and disk of every group (`None`: none, 300 MB disk).
    pub placement: Option<std::sync::Arc<crate::placement::GroupPlacement>>,
    /// Node pool of the jobs (`None`: `default`).
    pub node_pool: Option<String>,
}

/// Where the jobs come from.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one per scenario, never in a hot path
pub enum WorkloadSource {
    /// Copies of one job shape, arriving by a model.
    Synthetic {
        /// Job shape.
        template: JobTemplate,
        /// Arrival model.
        arrival: Arrival,
    },
    /// A recorded trace (path as resolved against the scenario file).
    Trace {
        /// Path to the trace.
        path: String,
    },
}

/// Validated control-plane config.
#[derive(Debug, Clone, PartialEq)]
pub struct ClusterConfig {
    /// Number of servers.
    pub servers: u32,
    /// Server instance type.
    pub instance_type: String,
    /// Cores per server.
    pub cores: u32,
    /// Memory per server, GiB.
    pub memory_gib: f64,
    /// Scheduler workers per server.
    pub num_schedulers: u32,
    /// Cluster-wide algorithm.
    pub algorithm: Algorithm,
    /// Nomad version modelled, as written (`1.0`, `1.6`, `2.0.5`, …).
    pub nomad_version: String,
    /// Storage class of the servers' data dir (`sim/src/model/storage.rs` names).
    pub storage: String,
    /// Per-core clock of the server, MHz.
    pub mhz_per_core: u32,
    /// Overrides of the version's settings from `[nomad]`, `(key, value)` in key order.
    pub nomad: Vec<(String, String)>,
}

impl ClusterConfig {
    /// The mechanisms of the configured Nomad version with the `[nomad]` overrides applied.
    pub(crate) fn profile(&self) -> Result<crate::model::versions::VersionProfile, String> {
        let mut v = crate::model::versions::VersionProfile::parse(&self.nomad_version)
            .map_err(|e| e.to_string())?;
        for (k, val) in &self.nomad {
            v.set(k, val).map_err(|e| e.to_string())?;
        }
        Ok(v)
    }

    /// The server CPU: vCPUs, clock and micro-architecture (unknown families count as Skylake-SP).
    pub(crate) fn cpu_spec(&self) -> crate::model::cpu::CpuSpec {
        crate::model::cpu::CpuSpec::for_instance(&self.instance_type, self.cores, self.mhz_per_core)
            .unwrap_or(crate::model::cpu::CpuSpec {
                vcpus: self.cores,
                mhz: self.mhz_per_core,
                arch: crate::model::cpu::Microarch::Skylake,
                smt_yield_milli: 250,
            })
    }

    /// The servers' median fsync latency in force, µs: `raft_fsync_median_us` when set (non-zero), else the
    /// storage class's figure.
    pub fn fsync_median_us(&self, p: &ModelParams) -> u64 {
        if p.raft_fsync_median_us > 0 {
            p.raft_fsync_median_us
        } else {
            self.disk().profile().fsync_median_ns / 1_000
        }
    }

    /// The servers' disk.
    pub(crate) fn disk(&self) -> crate::model::storage::StorageClass {
        crate::model::storage::StorageClass::parse(&self.storage)
            .unwrap_or(crate::model::storage::StorageClass::EbsGp3)
    }
}

/// Validated autoscaling policy.
#[derive(Debug, Clone, PartialEq)]
pub struct AutoscaleConfig {
    /// Fewest nodes.
    pub min: u32,
    /// Most nodes.
    pub max: u32,
    /// Queued allocations per extra node wanted (0 = computed from node and job size).
    pub queue_per_node: u32,
    /// Evaluation interval, ns.
    pub interval_ns: u64,
    /// Boot-to-ready time including the base-image pull, ns.
    pub boot_ns: u64,
    /// Idle time before scale-down, ns.
    pub scale_down_idle_ns: u64,
}

/// Validated node pool.
#[derive(Debug, Clone, PartialEq)]
pub struct PoolConfig {
    /// Pool name.
    pub name: String,
    /// Instance type.
    pub instance_type: String,
    /// Nodes at t = 0.
    pub count: u32,
    /// Datacenter.
    pub datacenter: String,
    /// Region.
    pub region: String,
    /// Spot capacity.
    pub spot: bool,
    /// Node class.
    pub node_class: String,
    /// CPU per node, MHz.
    pub cpu_mhz: u32,
    /// Memory per node, MB.
    pub memory_mb: u32,
    /// Reserved CPU, MHz.
    pub reserved_cpu_mhz: u32,
    /// Reserved memory, MB.
    pub reserved_memory_mb: u32,
    /// Images present at boot.
    pub prepulled_images: Vec<String>,
    /// Spot interruptions per node per month.
    pub interruption_rate_per_month: f64,
    /// Autoscaling, if any.
    pub autoscale: Option<AutoscaleConfig>,
    /// Node attributes: the fingerprinted defaults with the scenario's own on top.
    pub attributes: BTreeMap<String, String>,
    /// Client meta.
    pub meta: BTreeMap<String, String>,
    /// Nomad node pool.
    pub node_pool: String,
    /// Disk for allocations per node, MB.
    pub disk_mb: u32,
    /// Dynamic host port range, inclusive.
    pub dynamic_ports: (u16, u16),
    /// CPU cores (vCPUs) of one host, shared by the task starts of every node on it.
    pub cores: u32,
    /// Client nodes per host (consecutive nodes of the pool share one host).
    pub nodes_per_host: u32,
}

impl PoolConfig {
    /// The CPU of one host of the pool: `cores` vCPUs at the instance type's clock and micro-architecture
    /// (hyperthreads at their yield, `model/cpu.rs`); for an unknown type, `cores` full cores at
    /// `cpu_mhz / cores` MHz each (Nomad fingerprints `cpu.totalcompute` = cores × MHz) of the reference
    /// micro-architecture.
    pub(crate) fn host_cpu_spec(&self) -> crate::model::cpu::CpuSpec {
        use crate::model::cpu::{CpuSpec, Microarch};
        let cores = self.cores.max(1);
        instances::lookup(&self.instance_type)
            .and_then(|t| CpuSpec::for_instance(&self.instance_type, cores, t.mhz_per_core))
            .unwrap_or(CpuSpec {
                vcpus: cores,
                mhz: (self.cpu_mhz / cores).max(1),
                arch: Microarch::Skylake,
                smt_yield_milli: 1_000,
            })
    }
}

/// Kind of scripted fault.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum FaultKind {
    /// Lose a fraction of the (pool's) ready nodes at once.
    SpotLoss {
        /// Fraction lost.
        fraction: f64,
        /// Whether the 2-minute notice arrives (and the nodes are drained on it).
        notice: bool,
    },
    /// The leader steps down; another server takes over and every node gets a 300 s TTL.
    LeaderChange,
}

/// A scripted fault.
#[derive(Debug, Clone, PartialEq)]
pub struct FaultConfig {
    /// When, ns.
    pub at_ns: u64,
    /// What.
    pub kind: FaultKind,
    /// Restrict to one pool.
    pub pool: Option<String>,
}

/// Budgets and switches of a simulation.
#[derive(Debug, Clone, PartialEq)]
pub struct SimSettings {
    /// Event budget: exceeding it is an error.
    pub max_events: u64,
    /// Simulated-time budget, ns: exceeding it is an error.
    pub max_time_ns: u64,
    /// Model heartbeats.
    pub heartbeats: bool,
    /// Stop when the workload is done.
    pub stop_when_idle: bool,
    /// Periodic launches are scheduled up to this simulated time, ns (`u64::MAX`: for ever).
    pub periodic_until_ns: u64,
}

/// A validated scenario.
#[derive(Debug, Clone, PartialEq)]
pub struct Scenario {
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// File it came from (as given), if any.
    pub path: Option<String>,
    /// Default seed.
    pub seed: u64,
    /// Control plane.
    pub cluster: ClusterConfig,
    /// Node pools.
    pub pools: Vec<PoolConfig>,
    /// Workload.
    pub workload: WorkloadSource,
    /// Jobs registered at t = 0 before the workload, whatever its source: the `[[workload.system]]` then
    /// the `[[workload.periodic]]` entries, in file order.
    pub standing_jobs: Vec<crate::api::JobSpec>,
    /// Scripted faults, by time.
    pub faults: Vec<FaultConfig>,
    /// SLOs.
    pub slo: BTreeMap<String, f64>,
    /// Model parameters.
    pub params: ModelParams,
    /// Budgets and switches.
    pub sim: SimSettings,
    /// Scale factor applied (`scale`).
    pub scale: f64,
}

/// Finds the line of `key` inside `[table]` (or `[[table]]` number `index`) in TOML source; best effort.
fn locate(src: &str, table: &str, index: Option<usize>, key: &str) -> Option<usize> {
    let mut in_table = table.is_empty();
    let mut seen = 0usize;
    let mut table_line = None;
    for (i, line) in src.lines().enumerate() {
        let t = line.trim();
        if t.starts_with('[') {
            let name = t.trim_start_matches('[').trim_end_matches(']').trim();
            let is_array = t.starts_with("[[");
            in_table = false;
            if name == table {
                if is_array {
                    if Some(seen) == index {
                        in_table = true;
                        table_line = Some(i + 1);
                    }
                    seen += 1;
                } else {
                    in_table = true;
                    table_line = Some(i + 1);
                }
            }
            continue;
        }
        if in_table {
            if key.is_empty() {
                return table_line;
            }
            if let Some((k, _)) = t.split_once('=') {
                if k.trim().trim_matches('"') == key {
                    return Some(i + 1);
                }
            }
        }
    }
    table_line
}

struct Ctx<'a> {
    file: &'a str,
    src: &'a str,
}

impl Ctx<'_> {
    fn err(
        &self,
        table: &str,
        index: Option<usize>,
        key: &str,
        msg: impl Into<String>,
    ) -> ScenarioError {
        let path = match (table.is_empty(), index) {
            (true, _) => key.to_string(),
            (false, Some(i)) => format!("{table}[{i}].{key}"),
            (false, None) => format!("{table}.{key}"),
        };
        ScenarioError {
            file: self.file.to_string(),
            line: locate(self.src, table, index, key),
            key: path,
            msg: msg.into(),
        }
    }
    fn dur(
        &self,
        table: &str,
        index: Option<usize>,
        key: &str,
        v: &Option<String>,
        default: u64,
    ) -> Result<u64, ScenarioError> {
        match v {
            None => Ok(default),
            Some(s) => parse_duration_ns(s).map_err(|e| self.err(table, index, key, e)),
        }
    }
}

impl Scenario {
    /// Parses and validates a scenario from TOML source. `file` is used in error messages only.
    pub fn from_toml(file: &str, src: &str) -> Result<Scenario, ScenarioError> {
        let raw: RawScenario = toml::from_str(src).map_err(|e| syntax_error(file, src, &e))?;
        let stem = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("scenario")
            .to_string();
        let stem = stem.trim_end_matches(".toml").to_string();
        Scenario::from_raw(raw, file, src, &stem)
    }

    /// Parses a scenario with `--set KEY=VALUE` overrides applied to its TOML before validation.
    ///
    /// `KEY` is a dotted path (`cluster.nomad_version`, `params.raft_rtt_us`, `nomad.plan_apply_pipeline`,
    /// `workload.arrival.rate_per_s`) or a bare name resolved in this order: a model parameter
    /// (`[params]`), a Nomad version setting (`[nomad]`), a `[cluster]` key, a `[workload]` key. `VALUE` is a
    /// TOML value (`8`, `0.5`, `true`, `"gp3"`), or taken as a string when it does not parse as one. An
    /// override that cannot apply (unknown key, a value of the wrong type, an array-of-tables path) is an
    /// error naming the `--set`; the file is named with the overrides in errors found later.
    pub fn from_toml_with_overrides(
        file: &str,
        src: &str,
        sets: &[(String, String)],
    ) -> Result<Scenario, ScenarioError> {
        if sets.is_empty() {
            return Scenario::from_toml(file, src);
        }
        let set_err = |k: &str, v: &str, msg: String| ScenarioError {
            file: file.to_string(),
            line: None,
            key: k.to_string(),
            msg: format!("--set {k}={v}: {msg}"),
        };
        let mut doc: toml::Table = toml::from_str(src).map_err(|e| syntax_error(file, src, &e))?;
        for (k, v) in sets {
            let path: Vec<String> = if k.contains('.') {
                k.split('.').map(str::to_string).collect()
            } else {
                let section = resolve_bare_key(k)
                    .ok_or_else(|| set_err(k, v, "unknown key: not a model parameter, a Nomad version setting, nor a [cluster] or [workload] key; use a dotted path (e.g. cluster.servers)".into()))?;
                vec![section.to_string(), k.clone()]
            };
            if path.iter().any(|p| p.is_empty()) {
                return Err(set_err(k, v, "empty path component".into()));
            }
            let last = path[path.len() - 1].as_str();
            let value = if STRING_KEYS.contains(&last) {
                // `1.10` is a version, not the float 1.1.
                toml::Value::String(v.trim_matches('"').to_string())
            } else {
                parse_set_value(v)
            };
            let mut t = &mut doc;
            for part in &path[..path.len() - 1] {
                let entry = t
                    .entry(part.clone())
                    .or_insert_with(|| toml::Value::Table(toml::Table::new()));
                t = match entry {
                    toml::Value::Table(t) => t,
                    _ => {
                        return Err(set_err(
                            k,
                            v,
                            format!("`{part}` is not a table (arrays of tables such as [[pools]] cannot be set)"),
                        ))
                    }
                };
            }
            t.insert(path[path.len() - 1].clone(), value);
        }
        let text = toml::to_string(&doc).map_err(|e| set_err("", "", e.to_string()))?;
        let label = format!(
            "{file} (with {})",
            sets.iter()
                .map(|(k, v)| format!("--set {k}={v}"))
                .collect::<Vec<_>>()
                .join(" ")
        );
        let stem = std::path::Path::new(file)
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("scenario")
            .trim_end_matches(".toml")
            .to_string();
        let raw: RawScenario = toml::from_str(&text).map_err(|e| ScenarioError {
            file: label.clone(),
            line: None,
            key: String::new(),
            msg: e.message().trim().to_string(),
        })?;
        let mut sc = Scenario::from_raw(raw, &label, &text, &stem)?;
        sc.path = Some(file.to_string());
        Ok(sc)
    }

    /// Validates a raw scenario. `src` is the TOML text (for line numbers), `stem` the default name.
    pub fn from_raw(
        raw: RawScenario,
        file: &str,
        src: &str,
        stem: &str,
    ) -> Result<Scenario, ScenarioError> {
        let cx = Ctx { file, src };
        let name = raw.name.clone().unwrap_or_else(|| stem.to_string());
        if name.is_empty()
            || !name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(cx.err(
                "",
                None,
                "name",
                format!("`{name}` must be non-empty letters, digits, `-` or `_`"),
            ));
        }

        // ---- cluster ----
        let rc = raw.cluster.unwrap_or_default();
        let servers = rc.servers.unwrap_or(3);
        if !(1..=7).contains(&servers) {
            return Err(cx.err(
                "cluster",
                None,
                "servers",
                format!("{servers} servers: use 1 to 7 (Nomad runs 3 or 5)"),
            ));
        }
        let sit = rc
            .instance_type
            .clone()
            .unwrap_or_else(|| "i3.16xlarge".into());
        let known = instances::lookup(&sit);
        let cores = match (rc.cores, known) {
            (Some(c), _) => c,
            (None, Some(t)) => t.vcpus,
            (None, None) => {
                return Err(cx.err(
                    "cluster",
                    None,
                    "instance_type",
                    format!("unknown instance type `{sit}`: give `cores` and `memory_gib`"),
                ))
            }
        };
        if cores == 0 {
            return Err(cx.err("cluster", None, "cores", "must be at least 1"));
        }
        let memory_gib = match (rc.memory_gib, known) {
            (Some(m), _) => m,
            (None, Some(t)) => t.memory_gib,
            (None, None) => {
                return Err(cx.err(
                    "cluster",
                    None,
                    "memory_gib",
                    "required for an unknown instance type",
                ))
            }
        };
        let num_schedulers = rc.num_schedulers.unwrap_or(cores);
        if num_schedulers == 0 || num_schedulers > 1024 {
            return Err(cx.err("cluster", None, "num_schedulers", "must be 1..=1024"));
        }
        let algorithm = match &rc.algorithm {
            None => Algorithm::Binpack,
            Some(a) => Algorithm::parse(a).ok_or_else(|| {
                cx.err(
                    "cluster",
                    None,
                    "algorithm",
                    format!("`{a}`: use `binpack` or `spread`"),
                )
            })?,
        };
        let mhz_per_core = match (rc.mhz_per_core, known) {
            (Some(m), _) if (500..=6_000).contains(&m) => m,
            (Some(m), _) => {
                return Err(cx.err(
                    "cluster",
                    None,
                    "mhz_per_core",
                    format!("{m} MHz: use 500..=6000"),
                ))
            }
            (None, Some(t)) => t.mhz_per_core,
            (None, None) => 3_000,
        };
        let storage = match &rc.storage {
            Some(st) => crate::model::storage::StorageClass::parse(st)
                .map_err(|e| cx.err("cluster", None, "storage", e))?,
            None => crate::model::storage::StorageClass::default_for_instance(
                &sit,
                known.map_or(0, |t| t.nvme_gb),
            ),
        }
        .name()
        .to_string();
        let nomad_version = rc.nomad_version.clone().unwrap_or_else(|| "1.6".into());
        let mut profile = crate::model::versions::VersionProfile::parse(&nomad_version)
            .map_err(|e| cx.err("cluster", None, "nomad_version", e.to_string()))?;
        let mut nomad = Vec::new();
        for (k, v) in raw.nomad.unwrap_or_default() {
            let val = match &v {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(i) => i.to_string(),
                toml::Value::Boolean(b) => b.to_string(),
                other => {
                    return Err(cx.err(
                        "nomad",
                        None,
                        &k,
                        format!("{other}: expected a string, an integer or a boolean"),
                    ))
                }
            };
            profile
                .set(&k, &val)
                .map_err(|e| cx.err("nomad", None, &k, e.to_string()))?;
            nomad.push((k, val));
        }
        let cluster = ClusterConfig {
            servers,
            instance_type: sit,
            cores,
            memory_gib,
            num_schedulers,
            algorithm,
            nomad_version,
            storage,
            mhz_per_core,
            nomad,
        };

        // ---- pools ----
        let raw_pools = raw.pools.unwrap_or_default();
        if raw_pools.is_empty() {
            return Err(cx.err(
                "",
                None,
                "pools",
                "at least one [[pools]] entry is required",
            ));
        }
        let mut pools = Vec::new();
        for (i, rp) in raw_pools.into_iter().enumerate() {
            let ix = Some(i);
            let it = rp
                .instance_type
                .clone()
                .ok_or_else(|| cx.err("pools", ix, "instance_type", "required"))?;
            let known = instances::lookup(&it);
            let cpu_mhz = match (rp.cpu_mhz, known) {
                (Some(c), _) => c,
                (None, Some(t)) => t.cpu_mhz(),
                (None, None) => {
                    return Err(cx.err(
                        "pools",
                        ix,
                        "instance_type",
                        format!("unknown instance type `{it}`: give `cpu_mhz` and `memory_mb`"),
                    ))
                }
            };
            let memory_mb = match (rp.memory_mb, known) {
                (Some(c), _) => c,
                (None, Some(t)) => t.memory_mb(),
                (None, None) => {
                    return Err(cx.err(
                        "pools",
                        ix,
                        "memory_mb",
                        "required for an unknown instance type",
                    ))
                }
            };
            let reserved_cpu_mhz = rp.reserved_cpu_mhz.unwrap_or(0);
            let reserved_memory_mb = rp.reserved_memory_mb.unwrap_or(0);
            if reserved_cpu_mhz >= cpu_mhz || reserved_memory_mb >= memory_mb {
                return Err(cx.err(
                    "pools",
                    ix,
                    "reserved_cpu_mhz",
                    "reserved resources must be below the node's capacity",
                ));
            }
            let datacenter = rp.datacenter.clone().unwrap_or_else(|| "dc1".into());
            let rate = rp.interruption_rate_per_month.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&rate) {
                return Err(cx.err(
                    "pools",
                    ix,
                    "interruption_rate_per_month",
                    format!("{rate} must be a fraction within 0..=1"),
                ));
            }
            let autoscale = match rp.autoscale {
                None => None,
                Some(a) => {
                    let max = a
                        .max
                        .ok_or_else(|| cx.err("pools.autoscale", None, "max", "required"))?;
                    let min = a.min.unwrap_or(1);
                    if min > max || max == 0 {
                        return Err(cx.err(
                            "pools.autoscale",
                            None,
                            "min",
                            format!("min {min} must be ≤ max {max}, and max ≥ 1"),
                        ));
                    }
                    Some(AutoscaleConfig {
                        min,
                        max,
                        queue_per_node: a.queue_per_node.unwrap_or(0),
                        interval_ns: cx.dur(
                            "pools.autoscale",
                            None,
                            "interval",
                            &a.interval,
                            30_000_000_000,
                        )?,
                        boot_ns: cx.dur(
                            "pools.autoscale",
                            None,
                            "boot_time",
                            &a.boot_time,
                            300_000_000_000,
                        )?,
                        scale_down_idle_ns: cx.dur(
                            "pools.autoscale",
                            None,
                            "scale_down_idle",
                            &a.scale_down_idle,
                            600_000_000_000,
                        )?,
                    })
                }
            };
            let count = match (rp.count, &autoscale) {
                (Some(c), Some(a)) if c < a.min || c > a.max => {
                    return Err(cx.err(
                        "pools",
                        ix,
                        "count",
                        format!("{c} is outside autoscale bounds {}..={}", a.min, a.max),
                    ))
                }
                (Some(c), _) => c,
                (None, Some(a)) => a.min,
                (None, None) => return Err(cx.err("pools", ix, "count", "required")),
            };
            if count as u64 > crate::limits::MAX_NODES {
                return Err(cx.err(
                    "pools",
                    ix,
                    "count",
                    format!(
                        "{count} nodes is beyond the bound of {}",
                        crate::limits::MAX_NODES
                    ),
                ));
            }
            if let Some(a) = &autoscale {
                if a.max as u64 > crate::limits::MAX_NODES {
                    return Err(cx.err(
                        "pools.autoscale",
                        None,
                        "max",
                        format!(
                            "{} nodes is beyond the bound of {}",
                            a.max,
                            crate::limits::MAX_NODES
                        ),
                    ));
                }
            }
            let disk_mb = rp.disk_mb.unwrap_or(crate::placement::DEFAULT_NODE_DISK_MB);
            if disk_mb == 0 {
                return Err(cx.err("pools", ix, "disk_mb", "must be at least 1"));
            }
            let (min_port, max_port) = (
                rp.min_dynamic_port
                    .unwrap_or(crate::placement::DEFAULT_MIN_DYNAMIC_PORT),
                rp.max_dynamic_port
                    .unwrap_or(crate::placement::DEFAULT_MAX_DYNAMIC_PORT),
            );
            if min_port == 0 || min_port > max_port {
                return Err(cx.err(
                    "pools",
                    ix,
                    "min_dynamic_port",
                    format!("{min_port}..={max_port} is not a port range"),
                ));
            }
            let node_pool = rp
                .node_pool
                .clone()
                .unwrap_or_else(|| crate::placement::NODE_POOL_DEFAULT.into());
            if rp.node_pool.is_some() && !profile.node_pools {
                return Err(cx.err(
                    "pools",
                    ix,
                    "node_pool",
                    format!(
                        "Nomad {} has no node pools (they came in 1.6.0): set [cluster] nomad_version",
                        cluster.nomad_version
                    ),
                ));
            }
            if node_pool.is_empty() || node_pool == crate::placement::NODE_POOL_ALL {
                return Err(cx.err(
                    "pools",
                    ix,
                    "node_pool",
                    format!(
                        "`{node_pool}` cannot hold nodes (Nomad's built-in `all` pool, or empty)"
                    ),
                ));
            }
            let cores = match (rp.cores, known) {
                (Some(0), _) => return Err(cx.err("pools", ix, "cores", "must be at least 1")),
                (Some(c), _) => c,
                (None, Some(t)) => t.vcpus,
                (None, None) => cpu_mhz
                    .div_ceil(crate::model::cpu::REFERENCE_MHZ as u32)
                    .max(1),
            };
            let nodes_per_host = rp.nodes_per_host.unwrap_or(1);
            if nodes_per_host == 0 || nodes_per_host as u64 > crate::limits::MAX_NODES {
                return Err(cx.err(
                    "pools",
                    ix,
                    "nodes_per_host",
                    format!(
                        "{nodes_per_host} must be within 1..={}",
                        crate::limits::MAX_NODES
                    ),
                ));
            }
            let mut attributes = crate::placement::default_attributes(
                &it,
                known.map_or(0, |t| t.vcpus),
                cpu_mhz,
                memory_mb,
                disk_mb,
                &cluster.nomad_version,
            );
            for (k, v) in rp.attributes.clone().unwrap_or_default() {
                attributes.insert(k, v);
            }
            pools.push(PoolConfig {
                name: rp
                    .name
                    .clone()
                    .unwrap_or_else(|| format!("{it}-{datacenter}")),
                instance_type: it,
                count,
                datacenter,
                region: rp.region.clone().unwrap_or_else(|| "us-east-1".into()),
                spot: rp.spot.unwrap_or(true),
                node_class: rp.node_class.clone().unwrap_or_default(),
                cpu_mhz,
                memory_mb,
                reserved_cpu_mhz,
                reserved_memory_mb,
                prepulled_images: rp.prepulled_images.clone().unwrap_or_default(),
                interruption_rate_per_month: rate,
                autoscale,
                attributes,
                meta: rp.meta.clone().unwrap_or_default(),
                node_pool,
                disk_mb,
                dynamic_ports: (min_port, max_port),
                cores,
                nodes_per_host,
            });
        }
        {
            let mut names: Vec<&str> = pools.iter().map(|p| p.name.as_str()).collect();
            names.sort();
            if let Some(w) = names.windows(2).find(|w| w[0] == w[1]) {
                return Err(cx.err(
                    "pools",
                    None,
                    "name",
                    format!("pool name `{}` is used twice", w[0]),
                ));
            }
        }

        {
            let total: u64 = pools
                .iter()
                .map(|p| p.autoscale.as_ref().map_or(p.count, |a| a.max.max(p.count)) as u64)
                .sum();
            if total > crate::limits::MAX_NODES {
                return Err(cx.err(
                    "pools",
                    None,
                    "count",
                    format!(
                        "{total} nodes in all pools is beyond the bound of {}",
                        crate::limits::MAX_NODES
                    ),
                ));
            }
        }

        // ---- workload ----
        let Some(rw) = raw.workload else {
            return Err(cx.err(
                "",
                None,
                "workload",
                "the scenario has no [workload] table (a truncated file?): give `[workload]` with \
                 `trace = \"…\"` or a synthetic job shape and `[workload.arrival]`",
            ));
        };
        let standing_jobs = standing_jobs(&cx, &rw, &pools)?;
        let workload = if let Some(trace) = &rw.trace {
            let base = std::path::Path::new(file)
                .parent()
                .unwrap_or(std::path::Path::new(""));
            WorkloadSource::Trace {
                path: base.join(trace).to_string_lossy().into_owned(),
            }
        } else {
            let t = "workload";
            let job_type = match &rw.job_type {
                None => JobType::Batch,
                Some(s) => match JobType::parse(s) {
                    Some(j @ (JobType::Batch | JobType::Service)) => j,
                    Some(_) => {
                        return Err(cx.err(
                            t,
                            None,
                            "type",
                            format!("`{s}`: system and sysbatch jobs go in [[workload.system]] entries (one allocation per node); use `batch` or `service` here"),
                        ))
                    }
                    None => {
                        return Err(cx.err(t, None, "type", format!("`{s}`: use `batch` or `service`")))
                    }
                },
            };
            let pos = |k: &str, v: Option<u32>, d: u32| -> Result<u32, ScenarioError> {
                let v = v.unwrap_or(d);
                if v == 0 {
                    Err(cx.err(t, None, k, "must be at least 1"))
                } else {
                    Ok(v)
                }
            };
            let priority = rw.priority.unwrap_or(50);
            if !(1..=100).contains(&priority) {
                return Err(cx.err(t, None, "priority", format!("{priority} must be 1..=100")));
            }
            let priorities = rw.priorities.clone().unwrap_or_default();
            if priorities.iter().any(|p| !(1..=100).contains(p)) {
                return Err(cx.err(t, None, "priorities", "every priority must be 1..=100"));
            }
            let duration = match &rw.duration {
                None if job_type == JobType::Service => RunDuration::Forever,
                None => RunDuration::Fixed(10_000_000_000),
                Some(s) => RunDuration::parse(s).map_err(|e| cx.err(t, None, "duration", e))?,
            };
            let fail_rate = rw.fail_rate.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&fail_rate) {
                return Err(cx.err(t, None, "fail_rate", "must be within 0..=1"));
            }
            let broken_rate = rw.broken_rate.unwrap_or(0.0);
            if !(0.0..=1.0).contains(&broken_rate) {
                return Err(cx.err(t, None, "broken_rate", "must be within 0..=1"));
            }
            let dur =
                |tab: &str, k: &str, v: &Option<String>, d: u64| -> Result<u64, ScenarioError> {
                    match v {
                        None => Ok(d),
                        Some(v) => crate::duration::parse_duration_ns(v)
                            .map_err(|e| cx.err(tab, None, k, e)),
                    }
                };
            let restart = match &rw.restart {
                None => None,
                Some(r) => {
                    let tr = "workload.restart";
                    let d = crate::api::RestartPolicy::default_for(job_type);
                    let mode = match r.mode.as_deref() {
                        None => d.mode,
                        Some(m) => crate::api::RestartMode::parse(m).ok_or_else(|| {
                            cx.err(tr, None, "mode", format!("`{m}`: use `fail` or `delay`"))
                        })?,
                    };
                    let p = crate::api::RestartPolicy {
                        attempts: r.attempts.unwrap_or(d.attempts),
                        interval_ns: dur(tr, "interval", &r.interval, d.interval_ns)?,
                        delay_ns: dur(tr, "delay", &r.delay, d.delay_ns)?,
                        mode,
                    };
                    p.validate().map_err(|e| cx.err(tr, None, "interval", e))?;
                    Some(p)
                }
            };
            let reschedule = match &rw.reschedule {
                None => None,
                Some(r) => {
                    let tr = "workload.reschedule";
                    let d = crate::api::ReschedulePolicy::default_for(job_type);
                    let delay_function = match r.delay_function.as_deref() {
                        None => d.delay_function,
                        Some(f) => crate::api::DelayFunction::parse(f).ok_or_else(|| {
                            cx.err(
                                tr,
                                None,
                                "delay_function",
                                format!("`{f}`: use `constant`, `exponential` or `fibonacci`"),
                            )
                        })?,
                    };
                    Some(crate::api::ReschedulePolicy {
                        attempts: r.attempts.unwrap_or(d.attempts),
                        interval_ns: dur(tr, "interval", &r.interval, d.interval_ns)?,
                        delay_ns: dur(tr, "delay", &r.delay, d.delay_ns)?,
                        delay_function,
                        max_delay_ns: dur(tr, "max_delay", &r.max_delay, d.max_delay_ns)?,
                        unlimited: r.unlimited.unwrap_or(d.unlimited),
                    })
                }
            };
            let max_run_ns = match &rw.max_run_duration {
                None => None,
                Some(v) => {
                    if job_type != JobType::Batch {
                        return Err(cx.err(
                            t,
                            None,
                            "max_run_duration",
                            "applies to batch jobs only (Nomad's max_run_duration)",
                        ));
                    }
                    let ns = crate::duration::parse_duration_ns(v)
                        .map_err(|e| cx.err(t, None, "max_run_duration", e))?;
                    if ns == 0 {
                        return Err(cx.err(t, None, "max_run_duration", "must be above 0"));
                    }
                    Some(ns)
                }
            };
            let tasks = rw.tasks.unwrap_or(1);
            if !(1..=64).contains(&tasks) {
                return Err(cx.err(t, None, "tasks", format!("{tasks}: use 1..=64")));
            }
            let ra = rw.arrival.clone().unwrap_or_default();
            let ta = "workload.arrival";
            let arrival = match ra.mode.as_deref().unwrap_or("closed_loop") {
                "all_at_once" => Arrival::AllAtOnce,
                "closed_loop" => {
                    let workers = ra.workers.unwrap_or(20);
                    if workers == 0 {
                        return Err(cx.err(ta, None, "workers", "must be at least 1"));
                    }
                    Arrival::ClosedLoop { workers }
                }
                "open_loop" => {
                    let rate_per_s = ra
                        .rate_per_s
                        .ok_or_else(|| cx.err(ta, None, "rate_per_s", "required for open_loop"))?;
                    if !(rate_per_s > 0.0 && rate_per_s.is_finite()) {
                        return Err(cx.err(ta, None, "rate_per_s", "must be a positive number"));
                    }
                    if !(crate::limits::MIN_RATE_PER_S..=crate::limits::MAX_RATE_PER_S)
                        .contains(&rate_per_s)
                    {
                        return Err(cx.err(
                            ta,
                            None,
                            "rate_per_s",
                            format!(
                                "{rate_per_s} jobs/s is outside {}..={}",
                                crate::limits::MIN_RATE_PER_S,
                                crate::limits::MAX_RATE_PER_S
                            ),
                        ));
                    }
                    let burst = ra.burst.unwrap_or(1).max(1);
                    let jitter_ns = cx.dur(ta, None, "jitter", &ra.jitter, 0)?;
                    Arrival::OpenLoop {
                        rate_per_s,
                        burst,
                        jitter_ns,
                    }
                }
                m => {
                    return Err(cx.err(
                        ta,
                        None,
                        "mode",
                        format!("`{m}`: use `all_at_once`, `closed_loop` or `open_loop`"),
                    ))
                }
            };
            let (placement, node_pool) = workload_placement(&cx, &rw, &pools, &cluster)?;
            let cpu_mhz = pos("cpu_mhz", rw.cpu_mhz, 100)?;
            let memory_mb = pos("memory_mb", rw.memory_mb, 64)?;
            if !pools.iter().any(|p| {
                p.cpu_mhz - p.reserved_cpu_mhz >= cpu_mhz
                    && p.memory_mb - p.reserved_memory_mb >= memory_mb
            }) {
                // Name the resource that does not fit: CPU if no pool has the CPU, else memory.
                let cpu_fits = pools
                    .iter()
                    .any(|p| p.cpu_mhz - p.reserved_cpu_mhz >= cpu_mhz);
                let (key, what) = if cpu_fits {
                    ("memory_mb", format!("{memory_mb} MB"))
                } else {
                    ("cpu_mhz", format!("{cpu_mhz} MHz"))
                };
                return Err(cx.err(
                    t,
                    None,
                    key,
                    format!("{what}: no pool's nodes are large enough for one allocation"),
                ));
            }
            let jobs = pos("jobs", rw.jobs, 1)?;
            if jobs as u64 > crate::limits::MAX_JOBS {
                return Err(cx.err(
                    t,
                    None,
                    "jobs",
                    format!(
                        "{jobs} jobs is beyond the bound of {}",
                        crate::limits::MAX_JOBS
                    ),
                ));
            }
            let (groups, count) = (pos("groups", rw.groups, 1)?, pos("count", rw.count, 1)?);
            if groups as u64 * count as u64 > crate::limits::MAX_JOB_COUNT {
                return Err(cx.err(
                    t,
                    None,
                    "count",
                    format!(
                        "{groups} groups × count {count} allocations per job is beyond Nomad's default \
                         job_max_count of {}",
                        crate::limits::MAX_JOB_COUNT
                    ),
                ));
            }
            WorkloadSource::Synthetic {
                template: JobTemplate {
                    jobs,
                    job_type,
                    groups,
                    count,
                    cpu_mhz,
                    memory_mb,
                    priority,
                    priorities,
                    spread_block: rw.spread_block.unwrap_or(false),
                    all_at_once: rw.all_at_once.unwrap_or(false),
                    image: rw.image.clone().unwrap_or_else(|| "alpine:3.12".into()),
                    image_bytes: rw.image_size_mb.unwrap_or(3) * 1_000_000,
                    duration,
                    fail_rate,
                    broken_rate,
                    restart,
                    reschedule,
                    max_run_ns,
                    tasks,
                    id_prefix: rw.id_prefix.clone().unwrap_or_else(|| format!("{name}-")),
                    placement,
                    node_pool,
                },
                arrival,
            }
        };

        // ---- faults ----
        let mut faults = Vec::new();
        for (i, rf) in raw.faults.unwrap_or_default().into_iter().enumerate() {
            let ix = Some(i);
            let at = rf
                .at
                .as_ref()
                .ok_or_else(|| cx.err("faults", ix, "at", "required"))?;
            let at_ns = parse_duration_ns(at).map_err(|e| cx.err("faults", ix, "at", e))?;
            let kind = match rf.kind.as_deref() {
                Some("spot_loss") => {
                    let fraction = rf.fraction.ok_or_else(|| {
                        cx.err("faults", ix, "fraction", "required for spot_loss")
                    })?;
                    if !(fraction > 0.0 && fraction <= 1.0) {
                        return Err(cx.err(
                            "faults",
                            ix,
                            "fraction",
                            format!("{fraction} must be within (0, 1]"),
                        ));
                    }
                    FaultKind::SpotLoss {
                        fraction,
                        notice: rf.notice.unwrap_or(false),
                    }
                }
                Some("leader_change") => FaultKind::LeaderChange,
                Some(k) => {
                    return Err(cx.err(
                        "faults",
                        ix,
                        "kind",
                        format!("`{k}`: use `spot_loss` or `leader_change`"),
                    ))
                }
                None => return Err(cx.err("faults", ix, "kind", "required")),
            };
            if let Some(p) = &rf.pool {
                if !pools.iter().any(|x| &x.name == p) {
                    return Err(cx.err("faults", ix, "pool", format!("no pool named `{p}`")));
                }
            }
            faults.push(FaultConfig {
                at_ns,
                kind,
                pool: rf.pool.clone(),
            });
        }
        faults.sort_by_key(|f| f.at_ns);

        // ---- slo ----
        let slo = raw.slo.unwrap_or_default();
        for (k, v) in &slo {
            if let Err(e) = k.parse::<crate::metric::Metric>() {
                return Err(cx.err("slo", None, k, format!("unknown SLO key: {e}")));
            }
            if !(v.is_finite() && *v >= 0.0) {
                return Err(cx.err("slo", None, k, "threshold must be a non-negative number"));
            }
        }

        // ---- sim ----
        let rs = raw.sim.unwrap_or_default();
        let sim = SimSettings {
            max_events: rs.max_events.unwrap_or(2_000_000_000),
            max_time_ns: cx.dur(
                "sim",
                None,
                "max_time",
                &rs.max_time,
                30 * 86_400_000_000_000,
            )?,
            heartbeats: rs.heartbeats.unwrap_or(true),
            stop_when_idle: rs.stop_when_idle.unwrap_or(true),
            periodic_until_ns: cx.dur(
                "sim",
                None,
                "periodic_until",
                &rs.periodic_until,
                86_400_000_000_000,
            )?,
        };

        if let WorkloadSource::Synthetic { template, .. } = &workload {
            if template.max_run_ns.is_some()
                && !cluster.profile().is_ok_and(|p| p.batch_max_run_duration)
            {
                return Err(cx.err(
                    "workload",
                    None,
                    "max_run_duration",
                    format!(
                        "Nomad {} has no max_run_duration (it came in 2.0.3): set [cluster] nomad_version",
                        cluster.nomad_version
                    ),
                ));
            }
        }

        let params = raw.params.unwrap_or_default();
        if let Err((key, msg)) = params.validate() {
            return Err(cx.err("params", None, key, msg));
        }

        Ok(Scenario {
            name,
            description: raw.description.unwrap_or_default(),
            path: Some(file.to_string()),
            seed: raw.seed.unwrap_or(1),
            cluster,
            pools,
            workload,
            standing_jobs,
            faults,
            slo,
            params,
            sim,
            scale: 1.0,
        })
    }

    /// Shrinks (or grows) nodes and jobs proportionally (`--scale`); at least one of each remains.
    pub fn scaled(mut self, f: f64) -> Result<Scenario, String> {
        if !(f > 0.0 && f.is_finite()) {
            return Err(format!("scale {f} must be a positive number"));
        }
        let s = |n: u32| ((n as f64 * f).round() as u32).max(1);
        for p in &mut self.pools {
            p.count = s(p.count);
            if let Some(a) = &mut p.autoscale {
                a.min = s(a.min).min(a.max);
                a.max = s(a.max).max(a.min);
                p.count = p.count.clamp(a.min, a.max);
            }
        }
        if let WorkloadSource::Synthetic { template, .. } = &mut self.workload {
            template.jobs = s(template.jobs);
        }
        self.scale *= f;
        Ok(self)
    }

    /// Total nodes at t = 0.
    pub fn initial_nodes(&self) -> u64 {
        self.pools.iter().map(|p| p.count as u64).sum()
    }
}

/// The synthetic workload's placement keys (`[[workload.constraint]]`, `[[workload.affinity]]`,
/// `distinct_hosts`, `ports`, `disk_mb`, `node_pool`), checked as Nomad's job validation checks them.
#[allow(clippy::type_complexity)]
fn workload_placement(
    cx: &Ctx,
    rw: &RawWorkload,
    pools: &[PoolConfig],
    cluster: &ClusterConfig,
) -> Result<
    (
        Option<std::sync::Arc<crate::placement::GroupPlacement>>,
        Option<String>,
    ),
    ScenarioError,
> {
    use crate::placement::{Affinity, Constraint, DistinctHosts, GroupPlacement, Ports};
    let t = "workload";
    let mut p = GroupPlacement::default();
    for (i, c) in rw.constraint.iter().flatten().enumerate() {
        let tc = "workload.constraint";
        if c.weight.is_some() {
            return Err(cx.err(
                tc,
                Some(i),
                "weight",
                "constraints have no weight (affinities do)",
            ));
        }
        let op = c.operator.as_deref().unwrap_or("=");
        let k = if c.operator.is_some() {
            "operator"
        } else {
            "attribute"
        };
        let con = Constraint::new(
            c.attribute.as_deref().unwrap_or(""),
            op,
            c.value.as_deref().unwrap_or(""),
        )
        .map_err(|e| cx.err(tc, Some(i), k, e))?;
        if con.operator == crate::placement::Operator::DistinctHosts {
            if con.value != "false" {
                p.distinct_hosts = DistinctHosts::Group;
            }
        } else {
            p.constraints.push(con);
        }
    }
    for (i, a) in rw.affinity.iter().flatten().enumerate() {
        let ta = "workload.affinity";
        let w = a
            .weight
            .ok_or_else(|| cx.err(ta, Some(i), "weight", "required (−100..=100, not 0)"))?;
        let k = if a.operator.is_some() {
            "operator"
        } else {
            "attribute"
        };
        let af = Affinity::new(
            a.attribute.as_deref().unwrap_or(""),
            a.operator.as_deref().unwrap_or("="),
            a.value.as_deref().unwrap_or(""),
            w,
        )
        .map_err(|e| {
            cx.err(
                ta,
                Some(i),
                if e.contains("weight") { "weight" } else { k },
                e,
            )
        })?;
        p.affinities.push(af);
    }
    match &rw.distinct_hosts {
        None | Some(toml::Value::Boolean(false)) => {}
        Some(toml::Value::Boolean(true)) => p.distinct_hosts = DistinctHosts::Group,
        Some(toml::Value::String(s)) if s == "group" => p.distinct_hosts = DistinctHosts::Group,
        Some(toml::Value::String(s)) if s == "job" => p.distinct_hosts = DistinctHosts::Job,
        Some(v) => {
            return Err(cx.err(
                t,
                None,
                "distinct_hosts",
                format!("{v}: use true, false, \"group\" or \"job\""),
            ))
        }
    }
    if let Some(rp) = &rw.ports {
        let ports = Ports {
            static_ports: rp.static_ports.clone().unwrap_or_default(),
            dynamic: rp.dynamic.unwrap_or(0),
        };
        ports.validate().map_err(|e| cx.err(t, None, "ports", e))?;
        p.ports = ports;
    }
    if let Some(d) = rw.disk_mb {
        if d == 0 {
            return Err(cx.err(t, None, "disk_mb", "must be at least 1"));
        }
        if !pools.iter().any(|pc| pc.disk_mb >= d) {
            return Err(cx.err(
                t,
                None,
                "disk_mb",
                format!("{d} MB: no pool's nodes have that much disk (pools' disk_mb)"),
            ));
        }
        p.disk_mb = Some(d);
    }
    let node_pool = match &rw.node_pool {
        None => None,
        Some(np) => {
            if !cluster.profile().is_ok_and(|v| v.node_pools) {
                return Err(cx.err(
                    t,
                    None,
                    "node_pool",
                    format!(
                        "Nomad {} has no node pools (they came in 1.6.0): set [cluster] nomad_version",
                        cluster.nomad_version
                    ),
                ));
            }
            if np != crate::placement::NODE_POOL_ALL
                && np != crate::placement::NODE_POOL_DEFAULT
                && !pools.iter().any(|pc| &pc.node_pool == np)
            {
                return Err(cx.err(
                    t,
                    None,
                    "node_pool",
                    format!("node pool `{np}` doesn't exist: no [[pools]] entry has node_pool = \"{np}\""),
                ));
            }
            Some(np.clone())
        }
    };
    let trivial = p.is_trivial() && p.disk_mb.is_none();
    Ok(((!trivial).then(|| std::sync::Arc::new(p)), node_pool))
}

/// A TOML syntax error of `file` with its line.
/// The `[[workload.system]]` and `[[workload.periodic]]` entries as jobs (see [`Scenario::standing_jobs`]).
fn standing_jobs(
    cx: &Ctx,
    rw: &RawWorkload,
    pools: &[PoolConfig],
) -> Result<Vec<crate::api::JobSpec>, ScenarioError> {
    use crate::api::{GroupSpec, JobSpec, PeriodicSpec, RunPlan};
    struct Shape<'a> {
        table: &'a str,
        i: usize,
        cpu: Option<u32>,
        mem: Option<u32>,
        priority: Option<u32>,
        image: &'a Option<String>,
        image_mb: Option<u64>,
    }
    let mut ids: BTreeMap<String, (String, usize)> = BTreeMap::new();
    let name = |table: &str, i: usize, n: &Option<String>| -> Result<String, ScenarioError> {
        match n.as_deref().map(str::trim) {
            None | Some("") => Err(cx.err(table, Some(i), "name", "required (the job ID)")),
            Some(n) if n.contains(' ') || n.contains('/') => Err(cx.err(
                table,
                Some(i),
                "name",
                format!("{n:?}: a job ID has no spaces or slashes"),
            )),
            Some(n) => Ok(n.to_string()),
        }
    };
    let job = |sh: &Shape, id: String, t: JobType, count: u32, duration: RunDuration| {
        let cpu = sh.cpu.unwrap_or(100);
        let mem = sh.mem.unwrap_or(64);
        for (k, v) in [("cpu_mhz", cpu), ("memory_mb", mem)] {
            if v == 0 {
                return Err(cx.err(sh.table, Some(sh.i), k, "must be at least 1"));
            }
        }
        if !pools.iter().any(|p| {
            p.cpu_mhz - p.reserved_cpu_mhz >= cpu && p.memory_mb - p.reserved_memory_mb >= mem
        }) {
            return Err(cx.err(
                sh.table,
                Some(sh.i),
                "cpu_mhz",
                format!(
                    "{cpu} MHz / {mem} MB: no pool's nodes are large enough for one allocation"
                ),
            ));
        }
        let priority = sh.priority.unwrap_or(50);
        if !(1..=100).contains(&priority) {
            return Err(cx.err(
                sh.table,
                Some(sh.i),
                "priority",
                format!("{priority} must be 1..=100"),
            ));
        }
        Ok(JobSpec {
            id,
            job_type: t,
            priority,
            datacenters: vec!["*".to_string()],
            all_at_once: false,
            spread_block: false,
            parameterized: false,
            periodic: None,
            node_pool: None,
            groups: vec![GroupSpec {
                name: "g".to_string(),
                count,
                cpu_mhz: cpu,
                memory_mb: mem,
                tasks: vec!["t".to_string()],
                image: sh
                    .image
                    .clone()
                    .unwrap_or_else(|| "alpine:3.12".to_string()),
                image_bytes: sh.image_mb.unwrap_or(3) * 1_000_000,
                run: RunPlan::Model {
                    duration,
                    fail_rate: 0.0,
                },
                node_class: None,
                restart: None,
                reschedule: None,
                max_run_ns: None,
                placement: None,
            }],
            meta: BTreeMap::new(),
            source_json: None,
        })
    };
    let duration = |table: &str, i: usize, v: &Option<String>| match v {
        None => Ok(RunDuration::Fixed(10_000_000_000)),
        Some(s) => match RunDuration::parse(s) {
            Ok(RunDuration::Forever) => Err(cx.err(
                table,
                Some(i),
                "duration",
                "a run-to-completion job needs a finite duration",
            )),
            Ok(d) => Ok(d),
            Err(e) => Err(cx.err(table, Some(i), "duration", e)),
        },
    };
    let mut out = Vec::new();
    let mut unique = |table: &str, i: usize, id: &str| -> Result<(), ScenarioError> {
        if let Some((t, j)) = ids.insert(id.to_string(), (table.to_string(), i)) {
            return Err(cx.err(
                table,
                Some(i),
                "name",
                format!("{id:?} is already the name of {t}[{j}]"),
            ));
        }
        Ok(())
    };
    let t = "workload.system";
    for (i, r) in rw.system.iter().flatten().enumerate() {
        let id = name(t, i, &r.name)?;
        unique(t, i, &id)?;
        if r.count.is_some() {
            return Err(cx.err(
                t,
                Some(i),
                "count",
                "a system job runs one allocation on every eligible node; it has no count",
            ));
        }
        let ty = match r.job_type.as_deref().unwrap_or("system") {
            "system" => JobType::System,
            "sysbatch" => JobType::SysBatch,
            s => {
                return Err(cx.err(
                    t,
                    Some(i),
                    "type",
                    format!("`{s}`: use `system` or `sysbatch`"),
                ))
            }
        };
        let run = match ty {
            JobType::System => {
                if r.duration.is_some() {
                    return Err(cx.err(
                        t,
                        Some(i),
                        "duration",
                        "a system job runs until stopped; only sysbatch jobs take a duration",
                    ));
                }
                RunDuration::Forever
            }
            _ => duration(t, i, &r.duration)?,
        };
        let sh = Shape {
            table: t,
            i,
            cpu: r.cpu_mhz,
            mem: r.memory_mb,
            priority: r.priority,
            image: &r.image,
            image_mb: r.image_size_mb,
        };
        out.push(job(&sh, id, ty, 1, run)?);
    }
    let t = "workload.periodic";
    for (i, r) in rw.periodic.iter().flatten().enumerate() {
        let id = name(t, i, &r.name)?;
        unique(t, i, &id)?;
        let Some(spec) = r.cron.as_deref() else {
            return Err(cx.err(
                t,
                Some(i),
                "cron",
                "required (e.g. \"0 2 * * *\" or \"@daily\")",
            ));
        };
        let periodic = PeriodicSpec::new(
            spec,
            r.prohibit_overlap.unwrap_or(false),
            r.time_zone.as_deref().unwrap_or("UTC"),
        )
        .map_err(|e| {
            let key = if e.starts_with("time_zone") {
                "time_zone"
            } else {
                "cron"
            };
            cx.err(t, Some(i), key, e)
        })?;
        let ty = match r.job_type.as_deref().unwrap_or("batch") {
            "batch" => JobType::Batch,
            "sysbatch" => JobType::SysBatch,
            s => {
                return Err(cx.err(
                    t,
                    Some(i),
                    "type",
                    format!("`{s}`: a periodic job is `batch` or `sysbatch`"),
                ))
            }
        };
        let count =
            match (ty, r.count) {
                (JobType::SysBatch, Some(_)) => return Err(cx.err(
                    t,
                    Some(i),
                    "count",
                    "a sysbatch job runs one allocation on every eligible node; it has no count",
                )),
                (_, Some(0)) => return Err(cx.err(t, Some(i), "count", "must be at least 1")),
                (_, c) => c.unwrap_or(1),
            };
        if count as u64 > crate::limits::MAX_JOB_COUNT {
            return Err(cx.err(
                t,
                Some(i),
                "count",
                format!(
                    "{count} is beyond the bound of {}",
                    crate::limits::MAX_JOB_COUNT
                ),
            ));
        }
        let sh = Shape {
            table: t,
            i,
            cpu: r.cpu_mhz,
            mem: r.memory_mb,
            priority: r.priority,
            image: &r.image,
            image_mb: r.image_size_mb,
        };
        let mut j = job(&sh, id, ty, count, duration(t, i, &r.duration)?)?;
        j.periodic = Some(periodic);
        out.push(j);
    }
    Ok(out)
}

fn syntax_error(file: &str, src: &str, e: &toml::de::Error) -> ScenarioError {
    let line = e
        .span()
        .map(|s| src[..s.start.min(src.len())].matches('\n').count() + 1);
    ScenarioError {
        file: file.to_string(),
        line,
        key: String::new(),
        msg: e.message().trim().to_string(),
    }
}

/// The section a bare `--set` key belongs to (see [`Scenario::from_toml_with_overrides`]).
fn resolve_bare_key(k: &str) -> Option<&'static str> {
    const CLUSTER: &[&str] = &[
        "servers",
        "instance_type",
        "cores",
        "memory_gib",
        "num_schedulers",
        "algorithm",
        "nomad_version",
        "storage",
        "mhz_per_core",
    ];
    const WORKLOAD: &[&str] = &[
        "jobs",
        "type",
        "groups",
        "count",
        "cpu_mhz",
        "memory_mb",
        "priority",
        "spread_block",
        "all_at_once",
        "image",
        "image_size_mb",
        "duration",
        "fail_rate",
        "broken_rate",
        "max_run_duration",
        "tasks",
        "id_prefix",
        "trace",
        "disk_mb",
        "node_pool",
        "distinct_hosts",
    ];
    if ModelParams::NAMES.contains(&k) {
        Some("params")
    } else if crate::model::versions::VersionProfile::KEYS.contains(&k) {
        Some("nomad")
    } else if CLUSTER.contains(&k) {
        Some("cluster")
    } else if WORKLOAD.contains(&k) {
        Some("workload")
    } else {
        None
    }
}

/// Keys whose `--set` value is always a string (versions like `1.10` would otherwise read as floats).
const STRING_KEYS: &[&str] = &[
    "nomad_version",
    "storage",
    "instance_type",
    "algorithm",
    "log_store",
    "signing",
    "duration",
    "type",
    "image",
    "id_prefix",
    "trace",
    "mode",
    "name",
    "description",
    "jitter",
    "node_pool",
];

/// A `--set` value as TOML (`8`, `0.5`, `true`, `"x"`, `[1, 2]`), else the text as a string.
fn parse_set_value(v: &str) -> toml::Value {
    let doc = format!("v = {v}");
    match toml::from_str::<toml::Table>(&doc) {
        Ok(mut t) => t
            .remove("v")
            .unwrap_or_else(|| toml::Value::String(v.to_string())),
        Err(_) => toml::Value::String(v.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OK: &str = r#"
name = "t"
[cluster]
servers = 3
algorithm = "spread"
[[pools]]
instance_type = "m5.xlarge"
count = 10
[workload]
jobs = 5
count = 3
"#;

    #[test]
    fn parses_with_defaults() {
        let s = Scenario::from_toml("t.toml", OK).unwrap();
        assert_eq!(s.cluster.cores, 64);
        assert_eq!(s.cluster.num_schedulers, 64);
        assert_eq!(s.cluster.algorithm, Algorithm::Spread);
        assert_eq!(s.pools[0].cpu_mhz, 4 * 3100);
        assert_eq!(s.pools[0].name, "m5.xlarge-dc1");
        match &s.workload {
            WorkloadSource::Synthetic { template, arrival } => {
                assert_eq!(template.jobs, 5);
                assert_eq!(template.job_type, JobType::Batch);
                assert_eq!(*arrival, Arrival::ClosedLoop { workers: 20 });
            }
            _ => panic!(),
        }
    }

    #[test]
    fn versions_storage_and_overrides() {
        let s = Scenario::from_toml("t.toml", OK).unwrap();
        assert_eq!(s.cluster.nomad_version, "1.6", "default version");
        assert_eq!(
            s.cluster.storage, "nvme-i3",
            "i3.16xlarge has instance-store NVMe"
        );
        let set = |pairs: &[(&str, &str)]| {
            let v: Vec<(String, String)> = pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            Scenario::from_toml_with_overrides("t.toml", OK, &v)
        };
        let s = set(&[
            ("nomad_version", "2.0.5"),
            ("plan_apply_pipeline", "8"),
            ("cluster.instance_type", "m5.large"),
            ("raft_rtt_us", "900"),
            ("workload.arrival.rate_per_s", "50"),
            ("workload.arrival.mode", "open_loop"),
        ])
        .unwrap();
        assert_eq!(s.cluster.nomad_version, "2.0.5");
        assert_eq!(
            s.cluster.nomad,
            vec![("plan_apply_pipeline".into(), "8".into())]
        );
        assert_eq!(s.cluster.profile().unwrap().plan_apply_pipeline, 8);
        assert_eq!(s.cluster.storage, "gp3", "m5 has no instance store");
        assert_eq!(s.cluster.cores, 2);
        assert_eq!(s.params.raft_rtt_us, 900);
        assert_eq!(s.path.as_deref(), Some("t.toml"));
        // The version lacks the feature: an error naming the key and the override.
        let e = set(&[("plan_apply_pipeline", "8")]).unwrap_err();
        assert!(e.key.contains("plan_apply_pipeline"), "{e}");
        assert!(e.to_string().contains("--set plan_apply_pipeline=8"), "{e}");
        let e = set(&[("no_such_knob", "1")]).unwrap_err();
        assert!(e.to_string().contains("unknown key"), "{e}");
        let e = set(&[("pools.count", "3")]).unwrap_err();
        assert!(e.to_string().contains("not a table"), "{e}");
        assert_eq!(
            set(&[("nomad_version", "1.10")])
                .unwrap()
                .cluster
                .nomad_version,
            "1.10",
            "not the float 1.1"
        );
        let e = set(&[("nomad_version", "0.12")]).unwrap_err();
        assert!(e.to_string().contains("before 1.0"), "{e}");
        let e = Scenario::from_toml(
            "t.toml",
            &OK.replace("servers = 3", "servers = 3\nstorage = \"floppy\""),
        )
        .unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.line),
            ("cluster.storage", Some(5)),
            "{e}"
        );
    }

    #[test]
    fn workload_policies_parse_with_the_job_types_defaults_and_bad_ones_are_named() {
        let wl = |extra: &str| {
            format!(
                "name = \"p\"\n[[pools]]\ninstance_type = \"m5.xlarge\"\ncount = 2\n[workload]\njobs = 1\nbroken_rate = 0.25\n{extra}"
            )
        };
        let sc = Scenario::from_toml(
            "p.toml",
            &wl("[workload.restart]\nattempts = 1\n[workload.reschedule]\ndelay_function = \"fibonacci\"\nmax_delay = \"2m\"\n"),
        )
        .unwrap();
        let WorkloadSource::Synthetic { template: t, .. } = &sc.workload else {
            panic!("synthetic")
        };
        assert_eq!(t.broken_rate, 0.25);
        let r = t.restart.unwrap();
        assert_eq!(
            (r.attempts, r.delay_ns),
            (1, 15_000_000_000),
            "unset keys keep the batch default"
        );
        let rs = t.reschedule.unwrap();
        assert_eq!(rs.delay_function, crate::api::DelayFunction::Fibonacci);
        assert_eq!((rs.attempts, rs.max_delay_ns), (1, 120_000_000_000));
        let e = Scenario::from_toml("p.toml", &wl("[workload.restart]\nmode = \"sometimes\"\n"))
            .unwrap_err();
        assert!(
            e.to_string().contains("workload.restart.mode") && e.to_string().contains("sometimes"),
            "{e}"
        );
        let e = Scenario::from_toml("p.toml", &wl("[workload.restart]\ninterval = \"1s\"\n"))
            .unwrap_err();
        assert!(
            e.to_string().contains("less than 5s"),
            "Nomad's minimum interval: {e}"
        );
        let e = Scenario::from_toml(
            "p.toml",
            &wl("[workload.restart]\nattempts = 9\ndelay = \"1h\"\ninterval = \"2h\"\n"),
        )
        .unwrap_err();
        assert!(e.to_string().contains("can't restart"), "{e}");
        let e = Scenario::from_toml("p.toml", &wl("[workload.reschedule]\ndelay = \"soon\"\n"))
            .unwrap_err();
        assert!(e.to_string().contains("workload.reschedule.delay"), "{e}");
        let e = Scenario::from_toml("p.toml", &wl("").replace("0.25", "1.5")).unwrap_err();
        assert!(e.to_string().contains("workload.broken_rate"), "{e}");
    }

    #[test]
    fn errors_name_file_line_and_key() {
        let bad = OK.replace("algorithm = \"spread\"", "algorithm = \"fastest\"");
        let e = Scenario::from_toml("x/t.toml", &bad).unwrap_err();
        assert_eq!(e.line, Some(5));
        assert_eq!(e.key, "cluster.algorithm");
        assert!(
            e.to_string()
                .starts_with("x/t.toml:5: cluster.algorithm: `fastest`"),
            "{e}"
        );

        let unknown = OK.replace("count = 10", "count = 10\ncolour = 3");
        let e = Scenario::from_toml("t.toml", &unknown).unwrap_err();
        assert_eq!(e.line, Some(9), "{e}");
        assert!(e.msg.contains("colour"), "{e}");

        let bad = OK.replace("count = 3", "count = 3\nduration = \"5 parsecs\"");
        let e = Scenario::from_toml("t.toml", &bad).unwrap_err();
        assert_eq!(e.key, "workload.duration");
        assert_eq!(e.line, Some(12));

        let bad = OK.replace(
            "count = 10",
            "count = 10\n[pools.autoscale]\nmin = 5\nmax = 2",
        );
        assert!(Scenario::from_toml("t.toml", &bad).is_err());
    }

    #[test]
    fn pools_carry_fingerprinted_attributes_meta_node_pool_and_disk() {
        let s = Scenario::from_toml(
            "t.toml",
            r#"
[[pools]]
instance_type = "m5.xlarge"
count = 1
meta = { "ci.tier" = "large" }
attributes = { "kernel.name" = "darwin" }
node_pool = "ci"
disk_mb = 5000
[[pools]]
instance_type = "c7g.xlarge"
cpu_mhz = 10000
memory_mb = 8192
count = 1
[workload]
jobs = 1
disk_mb = 400
node_pool = "ci"
[[workload.constraint]]
attribute = "${attr.cpu.arch}"
value = "amd64"
"#,
        )
        .unwrap();
        let a = &s.pools[0].attributes;
        assert_eq!(a["kernel.name"], "darwin", "the scenario's own win");
        assert_eq!(a["cpu.arch"], "amd64");
        assert_eq!(a["cpu.numcores"], "4");
        assert_eq!(a["platform.aws.instance-type"], "m5.xlarge");
        assert_eq!(a["nomad.version"], "1.6");
        assert_eq!(s.pools[0].meta["ci.tier"], "large");
        assert_eq!(
            (s.pools[0].node_pool.as_str(), s.pools[0].disk_mb),
            ("ci", 5000)
        );
        assert_eq!(s.pools[1].attributes["cpu.arch"], "arm64", "Graviton");
        assert_eq!(s.pools[1].node_pool, "default");
        assert_eq!(s.pools[1].disk_mb, 102_400);
        assert_eq!(s.pools[1].dynamic_ports, (20_000, 32_000));
        let WorkloadSource::Synthetic { template, .. } = &s.workload else {
            panic!("synthetic")
        };
        let p = template.placement.as_ref().unwrap();
        assert_eq!((p.disk_mb, p.constraints.len()), (Some(400), 1));
        assert_eq!(template.node_pool.as_deref(), Some("ci"));
    }

    #[test]
    fn silent_acceptance_is_gone() {
        // Out-of-range [params] name the file, the line and the key.
        for (line, key) in [
            ("raft_fsync_sigma = -1.0", "raft_fsync_sigma"),
            ("raft_fsync_sigma = nan", "raft_fsync_sigma"),
            ("broker_delivery_limit = 0", "broker_delivery_limit"),
            (
                "max_heartbeats_per_second = 0.0",
                "max_heartbeats_per_second",
            ),
        ] {
            let bad = format!("{OK}[params]\n{line}\n");
            let e = Scenario::from_toml("p.toml", &bad).unwrap_err();
            assert_eq!(e.key, format!("params.{key}"), "{e}");
            assert_eq!(e.line, Some(13), "{e}");
            assert!(e.to_string().starts_with("p.toml:13: params."), "{e}");
        }
        // A file truncated before [workload].
        let cut = &OK[..OK.find("[workload]").unwrap()];
        let e = Scenario::from_toml("cut.toml", cut).unwrap_err();
        assert!(e.to_string().contains("no [workload] table"), "{e}");
        // An arrival rate that would wrap the arrival clock.
        let bad = format!("{OK}[workload.arrival]\nmode = \"open_loop\"\nrate_per_s = 1e-300\n");
        let e = Scenario::from_toml("r.toml", &bad).unwrap_err();
        assert_eq!(e.key, "workload.arrival.rate_per_s", "{e}");
        assert_eq!(e.line, Some(14), "{e}");
        // memory_mb too large names memory_mb and its line, not cpu_mhz.
        let bad = OK.replace("count = 3", "count = 3\nmemory_mb = 900000");
        let e = Scenario::from_toml("m.toml", &bad).unwrap_err();
        assert_eq!(e.key, "workload.memory_mb", "{e}");
        assert_eq!(e.line, Some(12), "{e}");
        let bad = OK.replace("count = 3", "count = 3\ncpu_mhz = 900000");
        let e = Scenario::from_toml("m.toml", &bad).unwrap_err();
        assert_eq!(e.key, "workload.cpu_mhz", "{e}");
    }

    #[test]
    fn counts_are_bounded() {
        let bad = OK.replace("count = 10", "count = 1000000000");
        let e = Scenario::from_toml("b.toml", &bad).unwrap_err();
        assert_eq!((e.key.as_str(), e.line), ("pools[0].count", Some(8)), "{e}");
        let bad = OK.replace("count = 3", "count = 1000000000");
        let e = Scenario::from_toml("b.toml", &bad).unwrap_err();
        assert_eq!(
            (e.key.as_str(), e.line),
            ("workload.count", Some(11)),
            "{e}"
        );
        let bad = OK.replace("jobs = 5", "jobs = 4000000000");
        let e = Scenario::from_toml("b.toml", &bad).unwrap_err();
        assert_eq!(e.key, "workload.jobs", "{e}");
        let bad = OK.replace(
            "count = 10",
            "count = 10\n[pools.autoscale]\nmin = 1\nmax = 4000000000",
        );
        let e = Scenario::from_toml("b.toml", &bad).unwrap_err();
        assert_eq!(e.key, "pools.autoscale.max", "{e}");
    }

    #[test]
    fn scale_shrinks() {
        let s = Scenario::from_toml("t.toml", OK)
            .unwrap()
            .scaled(0.1)
            .unwrap();
        assert_eq!(s.pools[0].count, 1);
        assert!(Scenario::from_toml("t.toml", OK)
            .unwrap()
            .scaled(-1.0)
            .is_err());
    }
}
