//! Pre-upgrade regression check in the simulator: the same scenario (or trace) under the Nomad version a
//! cluster runs now and the one it would run, several seeds each under common random numbers (each seed
//! drives both sides: the same arrivals, run times and failures wherever the mechanisms let them coincide),
//! both sides' records written, then `compare`'s verdict with its thresholds.

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use stampede_sim::runner::RunOptions;

use crate::files;
use crate::report::compare::{self, Comparison, Threshold};
use crate::simulate::{simulate, source_for};

/// What to check.
#[derive(Debug, Clone)]
pub struct UpgradeCheck {
    /// Scenario file.
    pub scenario: PathBuf,
    /// Nomad version now (`--from`).
    pub from: String,
    /// Nomad version considered (`--to`).
    pub to: String,
    /// Overrides of the new side (`--set`), e.g. `plan_apply_pipeline=8`.
    pub to_sets: Vec<(String, String)>,
    /// Overrides of the current side (`--from-set`).
    pub from_sets: Vec<(String, String)>,
    /// Overrides of both sides (`--set-both`).
    pub both_sets: Vec<(String, String)>,
    /// Replay this trace instead of the scenario's workload.
    pub trace: Option<PathBuf>,
    /// Scale of nodes and jobs.
    pub scale: f64,
    /// Seeds: `first_seed .. first_seed + seeds`.
    pub first_seed: u64,
    /// Number of seeds per side.
    pub seeds: u32,
    /// Regression thresholds (`compare --fail-if` grammar).
    pub thresholds: Vec<Threshold>,
    /// Output directory: `from/seed-N/`, `to/seed-N/`, `compare.txt`, `compare.json`.
    pub out: PathBuf,
    /// Calibration applied to both sides (`stampede calibrate` output).
    pub calibration: Option<PathBuf>,
}

/// The thresholds used when none is given: a slower or less productive control plane by more than 10%.
pub const DEFAULT_THRESHOLDS: &[&str] = &[
    "submit_to_running.p95 > +10%",
    "submit_to_placed.p99 > +10%",
    "placement_rate < -10%",
    "completion_s > +10%",
];

/// Runs both sides and compares them. `progress` is told each finished simulation (`side`, `seed`).
pub fn run(chk: &UpgradeCheck, progress: &(dyn Fn(&str, u64) + Sync)) -> Result<Comparison> {
    if chk.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let side_sets = |version: &str, own: &[(String, String)]| {
        let mut v = vec![("cluster.nomad_version".to_string(), version.to_string())];
        v.extend(chk.both_sets.iter().cloned());
        v.extend(own.iter().cloned());
        v
    };
    let from_sets = side_sets(&chk.from, &chk.from_sets);
    let to_sets = side_sets(&chk.to, &chk.to_sets);
    // Validate both sides before any work.
    let mut from_sc = files::load_scenario_with(&chk.scenario, chk.scale, &from_sets)
        .with_context(|| format!("the --from {} side", chk.from))?;
    let mut to_sc = files::load_scenario_with(&chk.scenario, chk.scale, &to_sets)
        .with_context(|| format!("the --to {} side", chk.to))?;
    let cal = crate::calibrate::apply_flag(&mut from_sc, chk.calibration.as_deref())?;
    crate::calibrate::apply_flag(&mut to_sc, chk.calibration.as_deref())?;
    let cal_ref = cal.map(|c| c.reference);
    let (from_sc, to_sc) = (&from_sc, &to_sc);
    let mut jobs: Vec<(&str, &stampede_sim::scenario::Scenario, u64)> = Vec::new();
    for k in 0..chk.seeds as u64 {
        let seed = chk.first_seed + k;
        jobs.push(("from", from_sc, seed));
        jobs.push(("to", to_sc, seed));
    }
    let workers = std::thread::available_parallelism()
        .map(|n| n.get())
        .unwrap_or(1)
        .min(jobs.len());
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<Result<()>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..workers)
            .map(|_| {
                s.spawn(|| -> Result<()> {
                    loop {
                        let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        let Some(&(side, sc, seed)) = jobs.get(i) else {
                            return Ok(());
                        };
                        let dir = side_dir(&chk.out, side, seed);
                        let source = source_for(sc, seed, chk.trace.as_deref())?;
                        let opts = RunOptions {
                            seed,
                            tie_shuffle: None,
                            run_id: Some(format!("{side}-seed-{seed}")),
                            tool_version: env!("CARGO_PKG_VERSION").to_string(),
                            early_stop: None,
                        };
                        let (mut rec, _) = simulate(sc, source, &opts, &mut |_| {})
                            .with_context(|| format!("simulating the {side} side, seed {seed}"))?;
                        rec.meta.calibration = cal_ref.clone();
                        files::record::write_record(&dir, &rec)?;
                        progress(side, seed);
                    }
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join()
                    .unwrap_or_else(|_| Err(anyhow::anyhow!("a simulation thread panicked")))
            })
            .collect()
    });
    for r in results {
        r?;
    }
    let dirs = |side: &str| -> Vec<PathBuf> {
        (0..chk.seeds as u64)
            .map(|k| side_dir(&chk.out, side, chk.first_seed + k))
            .collect()
    };
    let (b, n) = compare::load_sides_with(&dirs("from"), &dirs("to"), false, false)?;
    Ok(compare::compare(&b, &n, &chk.thresholds))
}

/// Directory of one side's record for one seed.
pub fn side_dir(out: &Path, side: &str, seed: u64) -> PathBuf {
    out.join(side).join(format!("seed-{seed}"))
}
