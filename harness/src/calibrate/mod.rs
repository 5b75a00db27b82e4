//! `stampede calibrate`: fit the model's parameters to recorded runs of the user's own cluster, say how
//! sure the fit is per parameter, and apply the result wherever a simulation runs (`--calibration FILE`).
//!
//! | module | what |
//! |---|---|
//! | [`table`] | the fittable parameters: name, bounds, scale, the figures that identify each, the run shape that pins it |
//! | [`overrides`] | parameter values by name through the `[params]` serde path |
//! | [`workload`] | a record → its cluster (scenario) and workload (trace) for re-simulation |
//! | [`features`] | the record figures the loss compares |
//! | [`fit`] | common-random-number re-simulation, the loss, screening, Levenberg–Marquardt, profile intervals |
//! | [`file`] | `calibration.toml`: writing, reading, applying, the run.json reference |

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Result};
use stampede_sim::scenario::Scenario;

pub mod features;
pub mod file;
pub mod fit;
pub mod linalg;
pub mod overrides;
pub mod table;
pub mod workload;

pub use file::{apply as apply_calibration, load as load_calibration, LoadedCalibration};
pub use fit::{FitOptions, FitProgress, FitResult};

/// One `stampede calibrate` request.
#[derive(Debug, Clone)]
pub struct CalibrateRequest {
    /// Run directories.
    pub runs: Vec<PathBuf>,
    /// Scenario describing the cluster (servers, pools, starting params); needed when the records lack
    /// node resources (real and emulated runs).
    pub scenario: Option<PathBuf>,
    /// Parameters to fit (default: the rows of [`table::TABLE`] marked `default`).
    pub params: Option<Vec<String>>,
    /// Fit options.
    pub fit: FitOptions,
}

/// The parameter rows a request names (every row by default). Unknown names and names the table has no
/// row for get an error that lists the table.
pub fn rows_for(names: Option<&[String]>) -> Result<Vec<&'static table::FitParam>> {
    let Some(names) = names else {
        return Ok(table::default_rows());
    };
    let mut out = Vec::new();
    for n in names {
        match table::row(n) {
            Some(r) if !out.iter().any(|x: &&table::FitParam| x.name == r.name) => out.push(r),
            Some(_) => {}
            None => bail!(
                "--params: `{n}` {}; fittable: {}",
                if overrides::exists(n) {
                    "is a model parameter without a row in the calibration table (harness/src/calibrate/table.rs)"
                } else {
                    "is not a model parameter"
                },
                table::all_names().join(", ")
            ),
        }
    }
    if out.is_empty() {
        bail!("--params names no parameter");
    }
    Ok(out)
}

/// Reads the records, fits, and returns the calibration file (not written) with the fit.
pub fn calibrate(
    req: &CalibrateRequest,
    progress: &(dyn Fn(&FitProgress) + Sync),
) -> Result<(file::CalibrationFile, FitResult)> {
    if req.runs.is_empty() {
        bail!("give at least one run directory");
    }
    let rows = rows_for(req.params.as_deref())?;
    let base: Option<Scenario> = match &req.scenario {
        Some(p) => Some(crate::files::load_scenario(p, 1.0)?),
        None => None,
    };
    let wall = Instant::now();
    let replays = req
        .runs
        .iter()
        .map(|d| workload::load(d, base.as_ref()))
        .collect::<Result<Vec<_>>>()?;
    let fit = fit::fit(&replays, &rows, &req.fit, progress)?;
    let wall_s = wall.elapsed().as_secs_f64();
    let out = file::CalibrationFile {
        calibration: file::Header {
            date: chrono::Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string(),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            seeds: fit.seeds,
            loss: format!(
                "sum over runs and figures of ((mean over seeds of ln simulated - ln observed) / sigma)^2; \
                 sigma^2 = (seed-to-seed variance of ln simulated at the start) * (1 + 1/seeds) + {}^2 (model floor); \
                 figures: placement rate, submit->placed p50/p90/p99, placed->running p50/p90/p99, \
                 submit->running p50/p99, fsyncs per allocation and mean leader CPU when the record has them",
                fit::MODEL_FLOOR
            ),
            intervals: "95% profile likelihood: loss evaluated along each parameter's first-order profile \
                        direction (the others re-optimised to first order) until it rises by 3.84 x Birge ratio; \
                        a parameter whose interval reaches a search bound, or spans more than a factor 16 (half the search range for linear ones), is not constrained and keeps its default"
                .into(),
            loss_start: round6(fit.loss_start),
            loss_fitted: round6(fit.loss_fitted),
            dof: fit.dof,
            birge_ratio: round6(fit.birge),
            evaluations: fit.evals,
            simulations: fit.sims,
            wall_s: round6(wall_s),
            scenario: req.scenario.as_ref().map(|p| p.display().to_string()),
        },
        runs: replays
            .iter()
            .map(|r| file::RunEntry {
                path: r.dir.display().to_string(),
                run_id: r.run_id.clone(),
                source: r.source.as_str().to_string(),
                sha256: r.sha256.clone(),
                allocs: r.allocs as u64,
            })
            .collect(),
        params: fit
            .params
            .iter()
            .map(|p| {
                (
                    p.row.name.to_string(),
                    file::ParamEntry {
                        value: round_sig(p.value),
                        default: p.default,
                        fitted: round_sig(p.fitted),
                        interval: [round_sig(p.lo), round_sig(p.hi)],
                        constrained: p.constrained,
                        scale: p.row.scale.as_str().to_string(),
                        bounds: [p.row.lo, p.row.hi],
                        figures: p.row.figures.iter().map(|f| f.name().to_string()).collect(),
                        note: p.note.clone(),
                    },
                )
            })
            .collect(),
        figures: fit
            .figures
            .iter()
            .map(|f| file::FigureEntry {
                run_id: f.run_id.clone(),
                figure: f.figure.name().to_string(),
                observed: round_sig(f.observed),
                start: round_sig(f.start),
                fitted: round_sig(f.fitted),
                sigma: round_sig(f.sigma),
            })
            .collect(),
        notes: replays.iter().flat_map(|r| r.notes.clone()).collect(),
    };
    Ok((out, fit))
}

fn round6(x: f64) -> f64 {
    (x * 1e6).round() / 1e6
}

/// Rounds to 5 significant digits (the fit is not more precise than that).
fn round_sig(x: f64) -> f64 {
    if x == 0.0 || !x.is_finite() {
        return x;
    }
    let mag = 10f64.powi(4 - x.abs().log10().floor() as i32);
    (x * mag).round() / mag
}

/// The shared `--calibration FILE` step of every command that simulates (`sim`, `plan`, `emulate`,
/// `upgrade-check`, …): loads the file (when given) and applies its constrained values to `sc` **after**
/// the scenario's `[params]` (see [`file::apply`] for why), printing on stderr any `[params]` value it
/// replaces. Returns the loaded calibration for run.json and the statement line.
pub fn apply_flag(
    sc: &mut Scenario,
    path: Option<&std::path::Path>,
) -> Result<Option<LoadedCalibration>> {
    let Some(path) = path else { return Ok(None) };
    let cal = file::load(path)?;
    for w in file::apply(sc, &cal)? {
        eprintln!("warning: {w}");
    }
    Ok(Some(cal))
}

/// The first line every simulated output states: the calibration it stands on, or
/// [`stampede_sim::record::UNCALIBRATED_STATEMENT`].
pub fn statement(cal: Option<&LoadedCalibration>) -> String {
    match cal {
        Some(c) => c.statement(),
        None => stampede_sim::record::UNCALIBRATED_STATEMENT.to_string(),
    }
}
