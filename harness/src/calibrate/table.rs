//! The table of fitted parameters: one row per [`ModelParams`](stampede_sim::params::ModelParams) key that
//! `stampede calibrate` may fit. A parameter the lead adds to `sim/src/params.rs` becomes fittable by adding
//! one row here (name as in the scenario `[params]` table, bounds, scale, the record figures it moves, and
//! the run shape that pins it). Values are applied by name through the same serde path as `[params]`
//! ([`super::overrides`]), so nothing else changes.

use super::features::Figure;

/// How the optimiser moves a parameter between its bounds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scale {
    /// Multiplicative (µs costs, latencies): the optimiser works on `ln(value)`.
    Log,
    /// Additive (sigmas, factors): the optimiser works on the value.
    Linear,
}

impl Scale {
    /// `log` or `linear`.
    pub fn as_str(self) -> &'static str {
        match self {
            Scale::Log => "log",
            Scale::Linear => "linear",
        }
    }
}

/// One fittable parameter.
#[derive(Debug, Clone, Copy)]
pub struct FitParam {
    /// Key in `[params]` / `ModelParams`.
    pub name: &'static str,
    /// Lowest value the fit may take (inclusive), in the parameter's unit.
    pub lo: f64,
    /// Highest value the fit may take (inclusive).
    pub hi: f64,
    /// Coordinate the optimiser works in.
    pub scale: Scale,
    /// Record figures this parameter moves (the loss terms that can identify it).
    pub figures: &'static [Figure],
    /// Which extra run shape would pin it when the given runs do not.
    pub pins: &'static str,
    /// Fitted by default. Rows off by default are confounded with a default row in the figures a record
    /// has (e.g. the client's notice delay and the median task start both shift placed→running); fit
    /// them with `--params` when a run shape separates them.
    pub default: bool,
}

use Figure::*;

/// Every fittable parameter, in fitting order. Bounds are wide (the fit must not be steered by them) but
/// physical: within `ModelParams::validate`'s ranges.
pub const TABLE: &[FitParam] = &[
    FitParam {
        name: "raft_fsync_median_us",
        lo: 20.0,
        hi: 200_000.0,
        scale: Scale::Log,
        figures: &[SubmitToPlacedP50, SubmitToPlacedP90, PlacementRate, FsyncsPerAlloc],
        pins: "count-1 jobs at saturation (an open-loop rate above the placement rate) pin commit latency",
        default: true,
    },
    FitParam {
        name: "raft_rtt_us",
        lo: 20.0,
        hi: 200_000.0,
        scale: Scale::Log,
        figures: &[SubmitToPlacedP50, SubmitToPlacedP90],
        pins: "count-1 jobs at a low rate on a cluster with servers in different zones pin the replication round trip (it only adds to the commit when it exceeds the leader's fsync)",
        default: false,
    },
    FitParam {
        name: "fsm_plan_alloc_base_ns",
        lo: 2_000.0,
        hi: 50_000_000.0,
        scale: Scale::Log,
        figures: &[PlacementRate, SubmitToPlacedP90, SubmitToPlacedP99],
        pins: "one job of count 1,000 pins the per-allocation FSM cost of plan results",
        default: true,
    },
    FitParam {
        name: "fsm_client_alloc_base_ns",
        lo: 1_000.0,
        hi: 50_000_000.0,
        scale: Scale::Log,
        figures: &[PlacementRate, SubmitToPlacedP99],
        pins: "a burst of many short batch jobs (thousands of client updates competing with plans on the FSM) pins the per-allocation client-update cost",
        default: false,
    },
    FitParam {
        name: "fsm_register_job_us",
        lo: 5.0,
        hi: 100_000.0,
        scale: Scale::Log,
        figures: &[SubmitToPlacedP50, PlacementRate],
        pins: "count-1 jobs at saturation pin the job-register FSM cost together with commit latency",
        default: false,
    },
    FitParam {
        name: "sched_eval_base_us",
        lo: 10.0,
        hi: 500_000.0,
        scale: Scale::Log,
        figures: &[SubmitToPlacedP50, SubmitToPlacedP90],
        pins: "count-1 jobs at a low rate (no queueing) pin the per-eval scheduler cost",
        default: false,
    },
    FitParam {
        name: "sched_per_alloc_us",
        lo: 0.5,
        hi: 20_000.0,
        scale: Scale::Log,
        figures: &[SubmitToPlacedP90, SubmitToPlacedP99],
        pins: "one job of count 1,000 pins the per-placement scheduler cost",
        default: false,
    },
    FitParam {
        name: "client_notice_us",
        lo: 100.0,
        hi: 10_000_000.0,
        scale: Scale::Log,
        figures: &[PlacedToRunningP50],
        pins: "any run with tasks that start: placed→running pins the client's notice delay together with driver start",
        default: false,
    },
    FitParam {
        name: "driver_start_median_us",
        lo: 1_000.0,
        hi: 100_000_000.0,
        scale: Scale::Log,
        figures: &[PlacedToRunningP50, PlacedToRunningP90, SubmitToRunningP50],
        pins: "any run with tasks that start pins the median task start",
        default: true,
    },
    FitParam {
        name: "driver_start_sigma",
        lo: 0.02,
        hi: 2.5,
        scale: Scale::Linear,
        figures: &[PlacedToRunningP90, PlacedToRunningP99],
        pins: "a run with a few hundred task starts pins the spread of task start times",
        default: true,
    },
    FitParam {
        name: "client_task_start_cpu_us",
        lo: 1_000.0,
        hi: 5_000_000.0,
        scale: Scale::Log,
        figures: &[PlacedToRunningP90, PlacedToRunningP99, SubmitToRunningP99],
        pins: "runs with many task starts at once on one client host (a burst of jobs, or one job of count in the hundreds on a few nodes) pin the client host's CPU per task start; count-1 jobs at a modest rate start one task at a time per host and leave it at its measured default, confounded with the median task start",
        default: false,
    },
    FitParam {
        name: "heartbeat_cpu_us",
        lo: 1.0,
        hi: 20_000.0,
        scale: Scale::Log,
        figures: &[LeaderCpuMean],
        pins: "a run on hundreds of client nodes with server CPU scraped (e.g. `tools/nomad/cluster.sh start --nodesim 1000`) pins heartbeat load",
        default: true,
    },
    FitParam {
        name: "cpu_overhead_factor",
        lo: 1.0,
        hi: 20.0,
        scale: Scale::Linear,
        figures: &[LeaderCpuMean],
        pins: "any run with server CPU scraped (metrics.csv cpu_pct) pins the CPU overhead factor",
        default: true,
    },
];

/// The row of `name`.
pub fn row(name: &str) -> Option<&'static FitParam> {
    TABLE.iter().find(|r| r.name == name)
}

/// Every fittable name.
pub fn all_names() -> Vec<&'static str> {
    TABLE.iter().map(|r| r.name).collect()
}

/// The default fitted set.
pub fn default_rows() -> Vec<&'static FitParam> {
    TABLE.iter().filter(|r| r.default).collect()
}
