//! Running the simulator on files: the job source of a scenario (its synthetic workload, or a trace file)
//! and a simulation whose errors name the scenario and seed. `stampede sim` and the planner use it.

use std::path::Path;

use anyhow::{Context, Result};
use stampede_sim::record::RunRecord;
use stampede_sim::runner::{self, Progress, RunOptions, RunStats};
use stampede_sim::scenario::{Scenario, WorkloadSource};
use stampede_sim::workload::JobSource;

use crate::files;

/// Runs a simulation and returns the record (no files written).
pub fn simulate(
    sc: &Scenario,
    source: Box<dyn JobSource>,
    opts: &RunOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(RunRecord, RunStats)> {
    runner::run_scenario(sc, source, opts, progress)
        .with_context(|| format!("simulating scenario `{}` with seed {}", sc.name, opts.seed))
}

/// The trace a run replays: `trace` if given, else the scenario's trace workload, else none.
pub fn trace_of(sc: &Scenario, trace: Option<&Path>) -> Option<std::path::PathBuf> {
    match (trace, &sc.workload) {
        (Some(t), _) => Some(t.to_path_buf()),
        (None, WorkloadSource::Trace { path }) => Some(path.into()),
        _ => None,
    }
}

/// The job source for a scenario: a trace file (`trace`, or the scenario's trace workload), or its
/// synthetic workload.
pub fn source_for(sc: &Scenario, seed: u64, trace: Option<&Path>) -> Result<Box<dyn JobSource>> {
    match trace_of(sc, trace) {
        Some(t) => files::trace_source(&t),
        None => Ok(runner::synthetic_source(sc, seed)?),
    }
}
