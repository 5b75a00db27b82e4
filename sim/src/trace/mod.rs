//! Recorded CI traffic: the **trace** format, its readers and writers, a synthetic monorepo generator, an
//! SWF importer and distribution fits.
//!
//! A trace is what a replay submits: a list of jobs in submit order, each with the outcome of every one of
//! its allocations. It comes from a recording of real CI traffic (`source = "record"`), the synthetic
//! generator ([`synth`], `source = "synth"`), or an HPC archive in the Standard Workload Format ([`swf`],
//! `source = "swf"`). This module is pure: it parses from `&str`/[`std::io::BufRead`] and writes to
//! [`std::io::Write`]; the harness does the file IO.
//!
//! | submodule  | what |
//! |------------|------|
//! | [`format`](mod@format) | JSON Lines: [`parse_jsonl`], the streaming [`TraceReader`], [`Trace::write_jsonl`] |
//! | [`csv`]    | the spreadsheet flavour, one row per task group |
//! | [`swf`]    | import of the Standard Workload Format |
//! | [`synth`]  | [`synth::synth_monorepo`]: a synthetic monorepo CI day, calibrated to published figures |
//! | [`fit`]    | arrival rate, fan-out and duration statistics with lognormal/Pareto fits and KS statistics |
//!
//! # The JSON Lines format, version 1
//!
//! UTF-8, one JSON object per line (`\n`; a trailing `\r` is tolerated). Blank lines are ignored. Unknown
//! fields are rejected, so a typo never silently changes a replay.
//!
//! **Line 1, the header** ([`TraceHeader`]):
//!
//! | field            | type            | meaning |
//! |------------------|-----------------|---------|
//! | `stampede_trace` | integer         | format version: `3` is written ([`TRACE_VERSION`]); `2` (no placement fields, no system, sysbatch or periodic jobs) and `1` (no policies either) are still read |
//! | `name`           | string          | name of the trace |
//! | `source`         | string          | `synth`, `record` or `swf` |
//! | `seed`           | integer or null | seed of a synthetic trace (`null`/absent otherwise) |
//! | `start_unix_ns`  | integer         | wall-clock instant of trace t = 0, Unix **nanoseconds** |
//! | `jobs`           | integer         | number of job lines that follow; a file with fewer or more is rejected (so a truncated file is never taken for a whole one) |
//! | `description`    | string          | optional, free text |
//! | `meta`           | object          | optional, string → string (generator knobs, import options) |
//!
//! **Every further line, one job** ([`TraceJob`]), in non-decreasing `submit_ns` (an error otherwise):
//!
//! | field        | type    | meaning |
//! |--------------|---------|---------|
//! | `submit_ns`  | integer | submit time, **ns since trace t = 0** |
//! | `id`         | string  | job ID (non-empty, unique within the trace is advised, not enforced) |
//! | `type`       | string  | `batch`, `service`, or (version 3) `system` / `sysbatch`: one allocation per eligible node, each group's `count` must be 1 |
//! | `priority`   | integer | Nomad job priority, 1–100 |
//! | `change`     | string  | optional: the change (commit/patch set, or nightly batch) the job belongs to; jobs of one change form a fan-out burst |
//! | `datacenters`| array   | optional: datacenters the job may run in (absent or empty = all) |
//! | `meta`       | object  | optional: job meta, string → string |
//! | `node_pool`  | string  | optional (version 3): Nomad ≥ 1.6 node pool (`all`: every node; absent: `default`) |
//! | `periodic`   | object  | optional (version 3): the job is a periodic parent (Nomad's `periodic` block): `cron` (5-field spec or macro such as `@daily`, read in UTC), `prohibit_overlap` (bool), optional `time_zone` (only `UTC`). The leader launches a child `<id>/periodic-<unix seconds>` at each cron time, each replaying the groups' recorded outcomes ([`TracePeriodic`]) |
//! | `groups`     | array   | task groups, at least one ([`TraceGroup`]) |
//!
//! Each element of `groups`:
//!
//! | field        | type    | meaning |
//! |--------------|---------|---------|
//! | `name`       | string  | group name (non-empty) |
//! | `count`      | integer | allocations wanted, ≥ 1 |
//! | `cpu_mhz`    | integer | CPU per allocation, summed over its tasks, **MHz**, ≥ 1 |
//! | `memory_mb`  | integer | memory per allocation, summed over its tasks, **MB** (MiB as Nomad counts), ≥ 1 |
//! | `tasks`      | array   | task names, at least one (the first is the main task) |
//! | `image`      | string  | image the main task runs |
//! | `image_bytes`| integer | image size, **bytes** (0 = present on every node) |
//! | `node_class` | string  | optional: `${node.class}` constraint |
//! | `restart`    | object  | optional (version 2): Nomad's `restart` block: `attempts`, `interval_ns`, `delay_ns`, `mode` (`fail`/`delay`); absent = the job type's default. Applies to modelled runs; recorded outcomes already include the task's restarts |
//! | `max_run_ns` | integer | optional (version 2): Nomad ≥ 2.0.3 `max_run_duration` of a batch group, **ns**: the allocation is stopped (and reported complete) this long after its client started it |
//! | `constraints` | array | optional (version 3): `{"attribute": "${attr.kernel.name}", "operator": "=", "value": "linux"}` (job-level ones merged in); operators as Nomad's (`=`, `!=`, `<`…, `regexp`, `set_contains`, `set_contains_any`, `is_set`, `is_not_set`, `version`, `semver`) |
//! | `affinities` | array  | optional (version 3): as `constraints` plus `weight` (−100..=100, not 0) |
//! | `distinct_hosts` | string | optional (version 3): `group` or `job` (Nomad's `distinct_hosts` at group or job level) |
//! | `ports`      | object  | optional (version 3): `{"static": [8080], "dynamic": 2}` host ports per allocation |
//! | `disk_mb`    | integer | optional (version 3): ephemeral disk per allocation, MB (absent: Nomad's 300) |
//! | `reschedule` | object  | optional (version 2): Nomad's `reschedule` block: `attempts`, `interval_ns`, `delay_ns`, `delay_function` (`constant`/`exponential`/`fibonacci`), `max_delay_ns`, `unlimited`; absent = the job type's default. Replacements also stop when the recorded ones run out |
//! | `allocs`     | array   | recorded outcomes `{"run_ns": integer, "exit": "ok"|"failed"}` ([`TraceAlloc`]): `run_ns` is the run time of the task, **ns**. Allocation `i` (`0 ≤ i < count`) ran as entry `i % len`; entries at index `≥ count` are, in order, the outcomes of replacement allocations (reschedules after a failure or a lost node). At least one entry for `batch`; a `service` group may have none (it runs until stopped). |
//!
//! Example (the header and one job):
//!
//! ```text
//! {"stampede_trace":1,"name":"monorepo","source":"synth","seed":7,"start_unix_ns":1605571200000000000,"jobs":1}
//! {"submit_ns":1500000000,"id":"d0-c000001-t0042","type":"batch","priority":70,"change":"d0-c000001","groups":[{"name":"ci","count":1,"cpu_mhz":2800,"memory_mb":3584,"tasks":["test","log-collector"],"image":"ci-patch:d0-c000001","image_bytes":3000000,"allocs":[{"run_ns":41000000000,"exit":"ok"}]}]}
//! ```

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::Serialize;

use crate::api::{GroupSpec, JobSpec, ReschedulePolicy, RestartPolicy, RunPlan};
use crate::placement::GroupPlacement;
use crate::scenario::{JobType, RunDuration};

pub mod csv;
pub mod fit;
pub mod format;
pub mod swf;
pub mod synth;

pub use format::{parse_jsonl, parse_jsonl_named, TraceReader};

/// Version of the trace format this build reads and writes (3: placement fields; system, sysbatch and
/// periodic jobs).
pub const TRACE_VERSION: u32 = 3;

/// Oldest trace format version still read (version 1 lacks the groups' `restart` and `reschedule`).
pub const TRACE_VERSION_MIN: u32 = 1;

/// Where a trace came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TraceSource {
    /// The synthetic generator ([`synth`]).
    Synth,
    /// A recording of a real cluster's traffic.
    Record,
    /// An import of a Standard Workload Format log ([`swf`]).
    Swf,
}

impl TraceSource {
    /// Spelling in the header.
    pub fn as_str(self) -> &'static str {
        match self {
            TraceSource::Synth => "synth",
            TraceSource::Record => "record",
            TraceSource::Swf => "swf",
        }
    }
    /// Parses [`TraceSource::as_str`] names.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "synth" => TraceSource::Synth,
            "record" => TraceSource::Record,
            "swf" => TraceSource::Swf,
            _ => return None,
        })
    }
}

/// Exit status of one recorded allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Exit {
    /// The task exited 0.
    Ok,
    /// The task exited non-zero (or was killed).
    Failed,
}

impl Exit {
    /// Spelling in the trace.
    pub fn as_str(self) -> &'static str {
        match self {
            Exit::Ok => "ok",
            Exit::Failed => "failed",
        }
    }
    /// Parses [`Exit::as_str`] names.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "ok" => Some(Exit::Ok),
            "failed" => Some(Exit::Failed),
            _ => None,
        }
    }
}

/// The first line of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceHeader {
    /// Format version ([`TRACE_VERSION`]); written as `stampede_trace`.
    #[serde(rename = "stampede_trace")]
    pub version: u32,
    /// Name of the trace.
    pub name: String,
    /// Where it came from.
    pub source: TraceSource,
    /// Seed of a synthetic trace.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    /// Wall-clock instant of trace t = 0, Unix ns.
    pub start_unix_ns: u64,
    /// Number of jobs in the trace.
    pub jobs: u64,
    /// Free text.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub description: String,
    /// Free-form facts (generator knobs, import options).
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
}

/// One recorded allocation outcome.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct TraceAlloc {
    /// Run time of the task, ns.
    pub run_ns: u64,
    /// Exit status.
    pub exit: Exit,
}

/// One task group of a trace job.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceGroup {
    /// Group name.
    pub name: String,
    /// Allocations wanted, ≥ 1.
    pub count: u32,
    /// CPU per allocation (sum over tasks), MHz.
    pub cpu_mhz: u32,
    /// Memory per allocation (sum over tasks), MB.
    pub memory_mb: u32,
    /// Task names; the first is the main task.
    pub tasks: Vec<String>,
    /// Image of the main task.
    pub image: String,
    /// Image size, bytes (0 = present on every node).
    pub image_bytes: u64,
    /// `${node.class}` constraint, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_class: Option<String>,
    /// Restart policy (version 2; absent: the job type's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub restart: Option<RestartPolicy>,
    /// Reschedule policy (version 2; absent: the job type's default).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reschedule: Option<ReschedulePolicy>,
    /// `max_run_duration` (version 2), ns.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub max_run_ns: Option<u64>,
    /// Constraints, affinities, `distinct_hosts`, ports, `disk_mb` (version 3; absent: none, 300 MB disk).
    #[serde(flatten)]
    pub placement: Option<GroupPlacement>,
    /// Recorded outcomes: allocation `i < count` ran as entry `i % len`; entries at `≥ count` are the
    /// outcomes of replacement allocations, in order.
    pub allocs: Vec<TraceAlloc>,
}

impl TraceGroup {
    /// Outcomes of the `count` first-attempt allocations followed by the replacements, as
    /// `(run_ns, first_attempt)` pairs.
    pub fn attempts(&self) -> impl Iterator<Item = (&TraceAlloc, bool)> + '_ {
        let n = self.allocs.len();
        let first = (0..self.count as usize)
            .filter(move |_| n > 0)
            .map(move |i| (&self.allocs[i % n], true));
        let extra = self
            .allocs
            .iter()
            .skip(self.count as usize)
            .map(|a| (a, false));
        first.chain(extra)
    }

    /// Compute time of the group: the run times of every allocation including replacements, ns.
    pub fn compute_ns(&self) -> u128 {
        let n = self.allocs.len();
        if n == 0 {
            return 0;
        }
        let count = self.count as usize;
        // Whole cycles of the list, then the remainder, then replacements: O(len), not O(count).
        let cycle: u128 = self.allocs.iter().map(|a| a.run_ns as u128).sum();
        let full = (count / n) as u128;
        let rem: u128 = self.allocs[..count % n]
            .iter()
            .map(|a| a.run_ns as u128)
            .sum();
        let extra: u128 = self
            .allocs
            .iter()
            .skip(count)
            .map(|a| a.run_ns as u128)
            .sum();
        full * cycle + rem + extra
    }

    /// Replacement allocations recorded (entries beyond `count`).
    pub fn replacements(&self) -> usize {
        self.allocs.len().saturating_sub(self.count as usize)
    }
}

/// One job of a trace.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceJob {
    /// Submit time, ns since trace t = 0.
    pub submit_ns: u64,
    /// Job ID.
    pub id: String,
    /// Job type.
    #[serde(rename = "type")]
    pub job_type: JobType,
    /// Priority 1–100.
    pub priority: u32,
    /// The change (or nightly batch) the job belongs to.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub change: Option<String>,
    /// Datacenters the job may run in (empty = all).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub datacenters: Vec<String>,
    /// Job meta.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub meta: BTreeMap<String, String>,
    /// Node pool (version 3; absent: `default`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node_pool: Option<String>,
    /// The periodic schedule of a periodic parent (version 3).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub periodic: Option<TracePeriodic>,
    /// Task groups.
    pub groups: Vec<TraceGroup>,
}

/// A periodic parent's schedule in a trace (Nomad's `periodic` block).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TracePeriodic {
    /// Cron spec (5 fields or a macro), UTC.
    pub cron: String,
    /// Skip a launch while a child still runs.
    pub prohibit_overlap: bool,
}

impl TraceJob {
    /// The job in the simulator's submission shape. Batch groups (and service groups with recorded
    /// outcomes) run [`RunPlan::Recorded`] with the per-allocation `(run_ns, succeeded)` list; a service
    /// group without outcomes runs until stopped. The `change` id is kept in the job meta as `change`.
    pub fn to_job_spec(&self) -> JobSpec {
        let groups = self
            .groups
            .iter()
            .map(|g| {
                let run = if g.allocs.is_empty() {
                    RunPlan::Model {
                        duration: RunDuration::Forever,
                        fail_rate: 0.0,
                    }
                } else {
                    RunPlan::Recorded(Arc::new(
                        g.allocs
                            .iter()
                            .map(|a| (a.run_ns, a.exit == Exit::Ok))
                            .collect(),
                    ))
                };
                GroupSpec {
                    name: g.name.clone(),
                    count: g.count,
                    cpu_mhz: g.cpu_mhz,
                    memory_mb: g.memory_mb,
                    tasks: g.tasks.clone(),
                    image: g.image.clone(),
                    image_bytes: g.image_bytes,
                    run,
                    node_class: g.node_class.clone(),
                    restart: g.restart,
                    reschedule: g.reschedule,
                    max_run_ns: g.max_run_ns,
                    placement: g.placement.clone().map(Arc::new),
                }
            })
            .collect();
        let mut meta = self.meta.clone();
        if let Some(c) = &self.change {
            meta.insert("change".into(), c.clone());
        }
        JobSpec {
            id: self.id.clone(),
            job_type: self.job_type,
            priority: self.priority,
            datacenters: self.datacenters.clone(),
            all_at_once: false,
            spread_block: false,
            parameterized: false,
            // Checked when the trace was read (`format.rs`), so this cannot fail.
            periodic: self.periodic.as_ref().and_then(|p| {
                crate::api::PeriodicSpec::new(&p.cron, p.prohibit_overlap, "UTC").ok()
            }),
            groups,
            meta,
            source_json: None,
            node_pool: self.node_pool.clone(),
        }
    }

    /// Allocations the job asks for (sum of group counts).
    pub fn total_count(&self) -> u64 {
        self.groups.iter().map(|g| g.count as u64).sum()
    }

    /// Compute time of the job over all groups, including replacements, ns.
    pub fn compute_ns(&self) -> u128 {
        self.groups.iter().map(TraceGroup::compute_ns).sum()
    }
}

/// A whole trace in memory.
#[derive(Debug, Clone, PartialEq)]
pub struct Trace {
    /// The header (its `jobs` equals `jobs.len()` for a trace read from a file).
    pub header: TraceHeader,
    /// Jobs in non-decreasing submit order.
    pub jobs: Vec<TraceJob>,
}

impl Trace {
    /// Total allocations asked for (sum of group counts).
    pub fn total_allocs(&self) -> u64 {
        self.jobs.iter().map(TraceJob::total_count).sum()
    }
    /// Total compute, hours (run time of every allocation including replacements).
    pub fn compute_hours(&self) -> f64 {
        self.jobs.iter().map(|j| j.compute_ns() as f64).sum::<f64>() / 3.6e12
    }
    /// Span from t = 0 to the last submission, ns.
    pub fn span_ns(&self) -> u64 {
        self.jobs.last().map(|j| j.submit_ns).unwrap_or(0)
    }
}

/// Errors reading a trace. Every variant names the input (`origin`) and, where there is one, the line.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TraceError {
    /// A field of a line is missing or invalid.
    #[error("{origin}:{line}: field `{field}`: {msg}")]
    Field {
        /// Input name (file name, or `trace` for in-memory text).
        origin: String,
        /// 1-based line number.
        line: usize,
        /// Field path, e.g. `groups[0].count`.
        field: String,
        /// What is wrong.
        msg: String,
    },
    /// A line is malformed as a whole (not JSON, wrong column count, out of order).
    #[error("{origin}:{line}: {msg}")]
    Line {
        /// Input name.
        origin: String,
        /// 1-based line number.
        line: usize,
        /// What is wrong.
        msg: String,
    },
    /// The input as a whole is wrong (empty, job count does not match the header).
    #[error("{origin}: {msg}")]
    Input {
        /// Input name.
        origin: String,
        /// What is wrong.
        msg: String,
    },
    /// Reading failed.
    #[error("{origin}:{line}: {source}")]
    Io {
        /// Input name.
        origin: String,
        /// 1-based line number being read.
        line: usize,
        /// Underlying error.
        source: std::io::Error,
    },
}

impl TraceError {
    /// The 1-based line the error is on, if it is about one line.
    pub fn line(&self) -> Option<usize> {
        match self {
            TraceError::Field { line, .. }
            | TraceError::Line { line, .. }
            | TraceError::Io { line, .. } => Some(*line),
            TraceError::Input { .. } => None,
        }
    }
}
