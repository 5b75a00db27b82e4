//! `calibration.toml`: what `stampede calibrate` writes and `--calibration FILE` reads.
//!
//! ```toml
//! [calibration]            # when, with what, how good
//! date = "2026-11-29T05:40:00Z"
//! loss = "…"               # the loss, stated
//! [[runs]]                 # the records it was fitted to (path, run_id, source, sha256)
//! [params.raft_fsync_median_us]
//! value = 1480.0           # applied only when constrained = true
//! default = 350.0
//! interval = [1210.0, 1790.0]
//! constrained = true
//! [[figures]]              # observed vs simulated, per run and figure
//! ```
//!
//! Only parameters with `constrained = true` are applied; the others are listed (with why and which run
//! shape would pin them) and keep the value the scenario gives them.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use stampede_sim::record::{CalibrationRef, CalibrationSource};
use stampede_sim::scenario::Scenario;

use super::overrides;
use super::workload::hex;

/// The whole file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CalibrationFile {
    /// When, with what, how good.
    pub calibration: Header,
    /// Records fitted to.
    pub runs: Vec<RunEntry>,
    /// Per parameter (name as in `[params]`).
    pub params: BTreeMap<String, ParamEntry>,
    /// Observed vs simulated figures.
    #[serde(default)]
    pub figures: Vec<FigureEntry>,
    /// What was assumed while rebuilding the runs.
    #[serde(default)]
    pub notes: Vec<String>,
}

/// `[calibration]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Header {
    /// RFC 3339 UTC time the calibration was made (by the harness's clock).
    pub date: String,
    /// stampede version that made it.
    pub tool_version: String,
    /// Seeds per candidate (common random numbers).
    pub seeds: u32,
    /// The loss, stated.
    pub loss: String,
    /// Method of the intervals, stated.
    pub intervals: String,
    /// Loss at the starting parameters.
    pub loss_start: f64,
    /// Loss at the calibrated parameters.
    pub loss_fitted: f64,
    /// Figures minus fitted parameters.
    pub dof: i64,
    /// `max(1, loss/dof)`, the factor the intervals were widened by.
    pub birge_ratio: f64,
    /// Loss evaluations.
    pub evaluations: u64,
    /// Simulations.
    pub simulations: u64,
    /// Wall-clock seconds the fit took.
    pub wall_s: f64,
    /// Base scenario (cluster description), if one was given.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<String>,
}

/// `[[runs]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunEntry {
    /// Run directory as given.
    pub path: String,
    /// Its run_id.
    pub run_id: String,
    /// sim, emulator or nomad.
    pub source: String,
    /// SHA-256 over run.json, allocs.csv, metrics.csv, nodes.csv.
    pub sha256: String,
    /// Allocation rows.
    pub allocs: u64,
}

/// `[params.NAME]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParamEntry {
    /// The value to use (the fitted one when constrained, else the default).
    pub value: f64,
    /// Value before the fit.
    pub default: f64,
    /// Best fit found (for information when not constrained).
    pub fitted: f64,
    /// 95 % interval `[lo, hi]` (a bound of the search when the loss is flat up to it).
    pub interval: [f64; 2],
    /// Whether these runs constrain it (only then is `value` applied).
    pub constrained: bool,
    /// `log` or `linear`.
    pub scale: String,
    /// Search bounds.
    pub bounds: [f64; 2],
    /// Record figures that can identify it.
    pub figures: Vec<String>,
    /// How it was judged; which run shape would pin it.
    pub note: String,
}

/// `[[figures]]`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FigureEntry {
    /// Run ID.
    pub run_id: String,
    /// Figure name.
    pub figure: String,
    /// Observed.
    pub observed: f64,
    /// Simulated with the starting parameters.
    pub start: f64,
    /// Simulated with the calibrated parameters.
    pub fitted: f64,
    /// Noise scale of its log-ratio.
    pub sigma: f64,
}

impl CalibrationFile {
    /// The values applied by `--calibration`: constrained parameters only.
    pub fn applied(&self) -> BTreeMap<String, f64> {
        self.params
            .iter()
            .filter(|(_, p)| p.constrained)
            .map(|(k, p)| (k.clone(), p.value))
            .collect()
    }

    /// The file's text (TOML, with a comment header).
    pub fn to_toml(&self) -> Result<String> {
        let body = toml::to_string_pretty(self).context("serialising the calibration")?;
        Ok(format!(
            "# stampede calibration: model parameters fitted to recorded runs (`stampede calibrate`).\n\
             # Use it with --calibration FILE on sim, plan, emulate, cost. Only [params.*] with\n\
             # constrained = true are applied; the others keep their defaults (see each note).\n\n{body}"
        ))
    }
}

/// A calibration read from a file, with its identity for run.json.
#[derive(Debug, Clone)]
pub struct LoadedCalibration {
    /// The parsed file.
    pub file: CalibrationFile,
    /// What run.json records.
    pub reference: CalibrationRef,
}

impl LoadedCalibration {
    /// One line for reports and stderr.
    pub fn statement(&self) -> String {
        self.reference.statement()
    }
}

/// Reads and checks a calibration file. Errors name the file, and the line for syntax errors and unknown
/// parameters.
pub fn load(path: &Path) -> Result<LoadedCalibration> {
    let bytes =
        std::fs::read(path).with_context(|| format!("reading calibration {}", path.display()))?;
    let text = std::str::from_utf8(&bytes)
        .map_err(|e| anyhow::anyhow!("calibration {}: not UTF-8 ({e})", path.display()))?;
    let file: CalibrationFile = toml::from_str(text).map_err(|e| {
        let line = e
            .span()
            .map(|s| text[..s.start.min(text.len())].matches('\n').count() + 1);
        anyhow::anyhow!(
            "{}:{}: {}",
            path.display(),
            line.map_or("?".into(), |l| l.to_string()),
            e.message().trim()
        )
    })?;
    let line_of = |name: &str| {
        text.lines()
            .position(|l| l.trim() == format!("[params.{name}]"))
            .map_or("?".into(), |i| (i + 1).to_string())
    };
    for (name, p) in &file.params {
        if !overrides::exists(name) {
            bail!(
                "{}:{}: `{name}` is not a model parameter of this stampede (see sim/CALIBRATION.md); was the calibration made by another version?",
                path.display(),
                line_of(name)
            );
        }
        if !p.value.is_finite() {
            bail!(
                "{}:{}: params.{name}.value is not a finite number",
                path.display(),
                line_of(name)
            );
        }
    }
    // The values must be acceptable to the model (range checks of params.rs).
    overrides::apply(
        &stampede_sim::params::ModelParams::default(),
        &file.applied(),
    )
    .with_context(|| format!("calibration {}", path.display()))?;
    let sha256 = hex(&Sha256::digest(&bytes));
    let reference = CalibrationRef {
        path: path.display().to_string(),
        sha256,
        date: file.calibration.date.clone(),
        source_runs: file
            .runs
            .iter()
            .map(|r| CalibrationSource {
                path: r.path.clone(),
                run_id: r.run_id.clone(),
                sha256: r.sha256.clone(),
            })
            .collect(),
        params: file.applied(),
    };
    Ok(LoadedCalibration { file, reference })
}

/// Applies a calibration to a scenario's parameters, **after** its `[params]`: the calibration describes
/// the measured cluster, so it wins; a `[params]` value it replaces (one that differs from the model
/// default, i.e. was set on purpose) is returned as a warning naming both values. Drop `--calibration` to
/// run a what-if on `[params]` alone.
pub fn apply(sc: &mut Scenario, cal: &LoadedCalibration) -> Result<Vec<String>> {
    let defaults = stampede_sim::params::ModelParams::default();
    let mut warnings = Vec::new();
    let values = cal.file.applied();
    for (name, v) in &values {
        let mine = overrides::get(&sc.params, name);
        let def = overrides::get(&defaults, name);
        if let (Some(m), Some(d)) = (mine, def) {
            if m != d {
                warnings.push(format!(
                    "scenario `{}` sets {name} = {m} in [params]; the calibration {} replaces it with {v}",
                    sc.name, cal.reference.path
                ));
            }
        }
    }
    sc.params = overrides::apply(&sc.params, &values)
        .with_context(|| format!("applying calibration {}", cal.reference.path))?;
    Ok(warnings)
}
