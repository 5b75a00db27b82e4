//! The fit: re-simulate every recorded run under candidate parameters with common random numbers (the
//! same seeds for every candidate), and minimise
//!
//! ```text
//! loss(θ) = Σ_runs Σ_figures ((mean_seeds ln sim_f(θ) − ln obs_f) / σ_f)²
//! σ_f²    = s_f² (1 + 1/S) + τ²      s_f: seed-to-seed sd of ln sim_f at the start, S seeds, τ = 5 % model floor
//! ```
//!
//! over the figures of [`super::features`] the record has (placement rate; submit→placed, placed→running
//! p50/p90/p99; submit→running p50/p99; fsyncs per allocation and leader CPU when scraped).
//!
//! Steps: (1) **screen**: each parameter halved and doubled (linear ones ×0.5 / ×1.5) from its default; one
//! that moves the loss by less than 1 either way is *not constrained by these runs* and keeps its default.
//! (2) **optimise** the rest with Levenberg–Marquardt on coordinates normalised to the bounds (log or linear
//! per [`super::table::Scale`]), steps projected into the box. (3) **intervals**: the Fisher matrix from a
//! central-difference Jacobian at the optimum, scaled by the Birge ratio `max(1, loss/dof)`, gives each
//! parameter's profile direction (the others re-optimised to first order); the loss is then *evaluated*
//! along that direction on both sides and bisected to `Δloss = 3.84 × Birge` (95 % profile-likelihood
//! interval). A parameter whose interval reaches a bound on either side is not constrained: it keeps its
//! default and the rest are refitted without it.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use stampede_sim::params::ModelParams;
use stampede_sim::runner::{self, RunOptions};
use stampede_sim::workload::TraceSource;

use super::features::Figure;
use super::linalg;
use super::overrides;
use super::table::{FitParam, Scale};
use super::workload::Replay;

/// The model-error floor τ of the noise model (relative, as a log-ratio): 5 %.
pub const MODEL_FLOOR: f64 = 0.05;
/// Δloss of a 95 % interval for one parameter (χ²₁ quantile).
pub const CHI2_95: f64 = 3.841;

/// What the fit reports while it works.
#[derive(Debug, Clone)]
pub struct FitProgress {
    /// Phase: `baseline`, `screen`, `optimise`, `intervals`, `refit`.
    pub phase: &'static str,
    /// Loss evaluations so far.
    pub evals: u64,
    /// Simulations so far.
    pub sims: u64,
    /// Best loss so far.
    pub best_loss: f64,
    /// Free text (current parameter, iteration).
    pub detail: String,
}

/// Options of a fit.
#[derive(Debug, Clone)]
pub struct FitOptions {
    /// Seeds per candidate (common random numbers: seeds 1..=N for every candidate).
    pub seeds: u32,
    /// Worker threads (the simulations of one evaluation run in parallel).
    pub threads: usize,
    /// Most Levenberg–Marquardt iterations.
    pub max_iterations: u32,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            seeds: 3,
            threads: std::thread::available_parallelism().map_or(2, |n| n.get()),
            max_iterations: 20,
        }
    }
}

/// The result for one parameter.
#[derive(Debug, Clone)]
pub struct ParamFit {
    /// Table row.
    pub row: &'static FitParam,
    /// Value before the fit (the base scenario's, else the model default).
    pub default: f64,
    /// The value to use: fitted when constrained, else the default.
    pub value: f64,
    /// The best-fit value found (also for unconstrained parameters, for information).
    pub fitted: f64,
    /// Lower end of the 95 % interval (a table bound when unbounded below).
    pub lo: f64,
    /// Upper end of the 95 % interval (a table bound when unbounded above).
    pub hi: f64,
    /// Whether the runs constrain it on both sides within its bounds.
    pub constrained: bool,
    /// Largest loss change of the screen (halving/doubling from the default).
    pub screen_delta: f64,
    /// One sentence: how it was judged, and which run shape would pin it when it is not constrained.
    pub note: String,
}

/// Observed vs simulated value of one figure of one run.
#[derive(Debug, Clone)]
pub struct FigureFit {
    /// Run ID.
    pub run_id: String,
    /// Figure.
    pub figure: Figure,
    /// Observed value.
    pub observed: f64,
    /// Simulated with the starting parameters (geometric mean over seeds).
    pub start: f64,
    /// Simulated with the calibrated parameters (geometric mean over seeds).
    pub fitted: f64,
    /// Noise scale σ of the log-ratio.
    pub sigma: f64,
}

/// A whole fit.
#[derive(Debug, Clone)]
pub struct FitResult {
    /// Per parameter, in table order.
    pub params: Vec<ParamFit>,
    /// Per run and figure.
    pub figures: Vec<FigureFit>,
    /// Loss at the starting parameters.
    pub loss_start: f64,
    /// Loss at the calibrated parameters.
    pub loss_fitted: f64,
    /// Figures minus fitted parameters.
    pub dof: i64,
    /// `max(1, loss/dof)`: how much worse than the noise model the best fit is (scales the intervals).
    pub birge: f64,
    /// Loss evaluations.
    pub evals: u64,
    /// Simulations run.
    pub sims: u64,
    /// Seeds per candidate.
    pub seeds: u32,
}

impl FitResult {
    /// The values to apply: constrained parameters only (name → value).
    pub fn applied(&self) -> BTreeMap<String, f64> {
        self.params
            .iter()
            .filter(|p| p.constrained)
            .map(|p| (p.row.name.to_string(), p.value))
            .collect()
    }
}

/// Natural coordinate of a value: `ln v` (log) or `v` (linear).
fn to_z(row: &FitParam, v: f64) -> f64 {
    match row.scale {
        Scale::Log => v.max(1e-12).ln(),
        Scale::Linear => v,
    }
}

fn from_z(row: &FitParam, z: f64) -> f64 {
    match row.scale {
        Scale::Log => z.exp(),
        Scale::Linear => z,
    }
}

fn z_bounds(row: &FitParam) -> (f64, f64) {
    (to_z(row, row.lo), to_z(row, row.hi))
}

/// Simulated log-figures of one candidate: replay → figure → seed.
type SimLogs = Vec<Vec<Vec<f64>>>;

struct Evaluator<'a> {
    replays: &'a [Replay],
    rows: &'a [&'static FitParam],
    seeds: Vec<u64>,
    threads: usize,
    sims: AtomicU64,
    evals: AtomicU64,
}

impl Evaluator<'_> {
    fn values(&self, z: &[f64]) -> BTreeMap<String, f64> {
        self.rows
            .iter()
            .zip(z)
            .map(|(r, &z)| (r.name.to_string(), from_z(r, z).clamp(r.lo, r.hi)))
            .collect()
    }

    /// Simulates every candidate on every replay and seed, in parallel.
    fn run(&self, cands: &[Vec<f64>]) -> Result<Vec<SimLogs>> {
        let params: Vec<Vec<ModelParams>> = cands
            .iter()
            .map(|z| {
                let v = self.values(z);
                self.replays
                    .iter()
                    .map(|r| overrides::apply(&r.scenario.params, &v))
                    .collect::<Result<Vec<_>>>()
            })
            .collect::<Result<_>>()?;
        let (nr, ns) = (self.replays.len(), self.seeds.len());
        let tasks = cands.len() * nr * ns;
        let next = AtomicUsize::new(0);
        let out: Mutex<Vec<Option<Vec<f64>>>> = Mutex::new(vec![None; tasks]);
        let failure: Mutex<Option<anyhow::Error>> = Mutex::new(None);
        std::thread::scope(|s| {
            for _ in 0..self.threads.clamp(1, tasks.max(1)) {
                s.spawn(|| loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= tasks || failure.lock().map(|f| f.is_some()).unwrap_or(true) {
                        break;
                    }
                    let (c, rest) = (i / (nr * ns), i % (nr * ns));
                    let (r, k) = (rest / ns, rest % ns);
                    match self.one(&self.replays[r], &params[c][r], self.seeds[k]) {
                        Ok(v) => {
                            if let Ok(mut o) = out.lock() {
                                o[i] = Some(v);
                            }
                        }
                        Err(e) => {
                            if let Ok(mut f) = failure.lock() {
                                f.get_or_insert(e);
                            }
                        }
                    }
                });
            }
        });
        if let Some(e) = failure.into_inner().unwrap_or(None) {
            return Err(e);
        }
        self.evals.fetch_add(cands.len() as u64, Ordering::Relaxed);
        let out = out.into_inner().unwrap_or_default();
        let mut res = Vec::with_capacity(cands.len());
        for c in 0..cands.len() {
            let mut per_replay = Vec::with_capacity(nr);
            for (r, rep) in self.replays.iter().enumerate() {
                let mut per_fig = vec![Vec::with_capacity(ns); rep.observed.len()];
                for k in 0..ns {
                    let v = out[c * nr * ns + r * ns + k]
                        .as_ref()
                        .context("a simulation produced no result")?;
                    for (f, x) in v.iter().enumerate() {
                        per_fig[f].push(*x);
                    }
                }
                per_replay.push(per_fig);
            }
            res.push(per_replay);
        }
        Ok(res)
    }

    fn one(&self, rep: &Replay, params: &ModelParams, seed: u64) -> Result<Vec<f64>> {
        let mut sc = rep.scenario.clone();
        sc.params = params.clone();
        let source = Box::new(TraceSource::new(rep.trace.clone(), "record"));
        let opts = RunOptions {
            seed,
            run_id: Some(rep.run_id.clone()),
            tool_version: env!("CARGO_PKG_VERSION").to_string(),
            ..Default::default()
        };
        let (rec, _) = runner::run_scenario(&sc, source, &opts, &mut |_| {})
            .with_context(|| format!("re-simulating {} with seed {seed}", rep.dir.display()))?;
        self.sims.fetch_add(1, Ordering::Relaxed);
        Ok(rep
            .observed
            .iter()
            .map(|(f, _)| f.of(&rec).unwrap_or(f.floor()).ln())
            .collect())
    }
}

fn mean(v: &[f64]) -> f64 {
    v.iter().sum::<f64>() / v.len().max(1) as f64
}

/// The residual vector of a candidate's simulated logs.
fn residuals(replays: &[Replay], sigma: &[Vec<f64>], logs: &SimLogs) -> Vec<f64> {
    let mut r = Vec::new();
    for (i, rep) in replays.iter().enumerate() {
        for (j, (_, obs)) in rep.observed.iter().enumerate() {
            r.push((mean(&logs[i][j]) - obs.ln()) / sigma[i][j]);
        }
    }
    r
}

fn loss(r: &[f64]) -> f64 {
    r.iter().map(|x| x * x).sum()
}

/// Fits `rows` to `replays`. Starting values are the first replay's scenario parameters.
pub fn fit(
    replays: &[Replay],
    rows: &[&'static FitParam],
    opts: &FitOptions,
    progress: &(dyn Fn(&FitProgress) + Sync),
) -> Result<FitResult> {
    anyhow::ensure!(!replays.is_empty(), "no run records to calibrate on");
    anyhow::ensure!(!rows.is_empty(), "no parameters to fit");
    anyhow::ensure!(
        opts.seeds >= 2,
        "--seeds must be at least 2 (the noise model needs seed-to-seed spread)"
    );
    let start_params = &replays[0].scenario.params;
    let defaults: Vec<f64> = rows
        .iter()
        .map(|r| {
            let v = overrides::get(start_params, r.name)
                .with_context(|| format!("`{}` is not a model parameter", r.name))?;
            // 0 = "from the storage class": start from the figure in force.
            Ok(if r.name == "raft_fsync_median_us" && v == 0.0 {
                replays[0].scenario.cluster.fsync_median_us(start_params) as f64
            } else {
                v
            })
        })
        .collect::<Result<_>>()?;
    let ev = Evaluator {
        replays,
        rows,
        seeds: (1..=opts.seeds as u64).collect(),
        threads: opts.threads.max(1),
        sims: AtomicU64::new(0),
        evals: AtomicU64::new(0),
    };
    let p = rows.len();
    let z0: Vec<f64> = rows
        .iter()
        .zip(&defaults)
        .map(|(r, &d)| to_z(r, d.clamp(r.lo, r.hi)))
        .collect();
    let report = |phase: &'static str, best: f64, detail: String| {
        progress(&FitProgress {
            phase,
            evals: ev.evals.load(Ordering::Relaxed),
            sims: ev.sims.load(Ordering::Relaxed),
            best_loss: best,
            detail,
        })
    };

    // ---- baseline and the noise model ----
    report(
        "baseline",
        f64::NAN,
        "simulating the starting parameters".into(),
    );
    let base_logs = ev.run(std::slice::from_ref(&z0))?.remove(0);
    let s = opts.seeds as f64;
    let sigma: Vec<Vec<f64>> = base_logs
        .iter()
        .map(|per_fig| {
            per_fig
                .iter()
                .map(|xs| {
                    let m = mean(xs);
                    let var = xs.iter().map(|x| (x - m).powi(2)).sum::<f64>() / (s - 1.0);
                    (var * (1.0 + 1.0 / s) + MODEL_FLOOR * MODEL_FLOOR).sqrt()
                })
                .collect()
        })
        .collect();
    let eval_loss = |cands: &[Vec<f64>]| -> Result<Vec<(f64, Vec<f64>, SimLogs)>> {
        Ok(ev
            .run(cands)?
            .into_iter()
            .map(|logs| {
                let r = residuals(replays, &sigma, &logs);
                (loss(&r), r, logs)
            })
            .collect())
    };
    let r0 = residuals(replays, &sigma, &base_logs);
    let loss0 = loss(&r0);

    // ---- screen ----
    report(
        "screen",
        loss0,
        format!("{p} parameters, halved and doubled"),
    );
    let mut screen_cands = Vec::with_capacity(2 * p);
    for (j, r) in rows.iter().enumerate() {
        let (down, up) = match r.scale {
            Scale::Log => (defaults[j] / 2.0, defaults[j] * 2.0),
            Scale::Linear => (defaults[j] * 0.5, defaults[j] * 1.5),
        };
        for v in [down, up] {
            let mut z = z0.clone();
            z[j] = to_z(r, v.clamp(r.lo, r.hi));
            screen_cands.push(z);
        }
    }
    let screened = eval_loss(&screen_cands)?;
    let screen_delta: Vec<f64> = (0..p)
        .map(|j| {
            (screened[2 * j].0 - loss0)
                .abs()
                .max((screened[2 * j + 1].0 - loss0).abs())
        })
        .collect();
    let mut active: Vec<usize> = (0..p).filter(|&j| screen_delta[j] >= 1.0).collect();

    // ---- optimise ----
    let mut z = z0.clone();
    let mut cur = (loss0, r0.clone());
    if !active.is_empty() {
        cur = lm(
            &eval_loss,
            rows,
            &active,
            &mut z,
            cur,
            opts.max_iterations,
            &|it, l| report("optimise", l, format!("iteration {it}")),
        )?;
    }

    let z_best = z.clone();

    // ---- intervals (again after a refit without the parameters found unconstrained) ----
    let mut intervals: Vec<Option<(f64, f64, bool, bool)>> = vec![None; p];
    let mut birge = 1.0;
    let n_fig: usize = replays.iter().map(|r| r.observed.len()).sum();
    for _round in 0..3 {
        if active.is_empty() {
            break;
        }
        report("intervals", cur.0, "Jacobian at the optimum".into());
        let (jac, _) = jacobian(&eval_loss, rows, &active, &z, true)?;
        let dof = n_fig as i64 - active.len() as i64;
        birge = if dof > 0 {
            (cur.0 / dof as f64).max(1.0)
        } else {
            1.0
        };
        let fisher = gram(&jac, active.len());
        let cov = linalg::pinv_psd(&fisher, 1e-10);
        let target = cur.0 + CHI2_95 * birge;
        for (a, &j) in active.iter().enumerate() {
            report("intervals", cur.0, format!("profile of {}", rows[j].name));
            let var = cov[a][a] * birge;
            let dir: Vec<f64> = if var.is_finite() && var > 0.0 {
                (0..active.len()).map(|b| cov[b][a] / cov[a][a]).collect()
            } else {
                (0..active.len())
                    .map(|b| if b == a { 1.0 } else { 0.0 })
                    .collect()
            };
            let guess = if var.is_finite() {
                1.96 * var.sqrt()
            } else {
                f64::INFINITY
            };
            let mut ends = [0.0f64; 2];
            let mut bounded = [false; 2];
            for (side, sign) in [(0usize, -1.0f64), (1, 1.0)] {
                let (end, ok) =
                    profile_side(&eval_loss, rows, &active, &z, &dir, a, sign, guess, target)?;
                ends[side] = end;
                bounded[side] = ok;
            }
            intervals[j] = Some((
                from_z(rows[j], ends[0]),
                from_z(rows[j], ends[1]),
                bounded[0],
                bounded[1],
            ));
        }
        // Parameters the profile cannot bound on both sides keep their default; refit the rest and
        // recompute their intervals at the new optimum.
        let keep: Vec<usize> = active
            .iter()
            .copied()
            .filter(|&j| {
                intervals[j].is_some_and(|(lo, hi, a, b)| a && b && narrow(rows[j], lo, hi))
            })
            .collect();
        if keep.len() == active.len() {
            break;
        }
        for &j in &active {
            if !keep.contains(&j) {
                z[j] = z0[j];
            }
        }
        let (l, r, _) = eval_loss(std::slice::from_ref(&z))?.remove(0);
        cur = (l, r);
        if !keep.is_empty() {
            cur = lm(
                &eval_loss,
                rows,
                &keep,
                &mut z,
                cur,
                opts.max_iterations,
                &|it, l| report("refit", l, format!("iteration {it}")),
            )?;
        }
        active.retain(|j| keep.contains(j));
    }
    let final_logs = eval_loss(std::slice::from_ref(&z))?.remove(0);
    let loss_fitted = final_logs.0;

    // ---- results ----
    let mut params = Vec::with_capacity(p);
    for (j, r) in rows.iter().enumerate() {
        let d = defaults[j];
        let fitted = if active.contains(&j) {
            from_z(r, z[j])
        } else {
            from_z(r, z_best[j])
        };
        let pf = match intervals[j] {
            None => ParamFit {
                row: r,
                default: d,
                value: d,
                fitted: d,
                lo: r.lo,
                hi: r.hi,
                constrained: false,
                screen_delta: screen_delta[j],
                note: format!(
                    "not constrained by these runs: halving or doubling it from {} moves the loss by {:.2} (< 1); keeps its default. To pin it: {}.",
                    fmt_value(d),
                    screen_delta[j],
                    r.pins
                ),
            },
            Some((lo, hi, true, true)) if active.contains(&j) && narrow(r, lo, hi) => ParamFit {
                row: r,
                default: d,
                value: fitted,
                fitted,
                lo: lo.min(fitted),
                hi: hi.max(fitted),
                constrained: true,
                screen_delta: screen_delta[j],
                note: format!(
                    "constrained: 95% profile interval {}..{} (default {})",
                    fmt_value(lo.min(fitted)),
                    fmt_value(hi.max(fitted)),
                    fmt_value(d)
                ),
            },
            Some((lo, hi, a, b)) => ParamFit {
                row: r,
                default: d,
                value: d,
                fitted,
                lo,
                hi,
                constrained: false,
                screen_delta: screen_delta[j],
                note: format!(
                    "not constrained by these runs: the loss stays within the 95% threshold {} (interval {}..{}); keeps its default. To pin it: {}.",
                    match (a, b) {
                        (false, false) => "up to both bounds",
                        (false, true) => "down to the lower bound",
                        (true, false) => "up to the upper bound",
                        (true, true) => "over more than a factor 16 (or half the linear range)",
                    },
                    fmt_value(lo),
                    fmt_value(hi),
                    r.pins
                ),
            },
        };
        params.push(pf);
    }
    let mut figures = Vec::new();
    for (i, rep) in replays.iter().enumerate() {
        for (k, (f, obs)) in rep.observed.iter().enumerate() {
            figures.push(FigureFit {
                run_id: rep.run_id.clone(),
                figure: *f,
                observed: *obs,
                start: mean(&base_logs[i][k]).exp(),
                fitted: mean(&final_logs.2[i][k]).exp(),
                sigma: sigma[i][k],
            });
        }
    }
    let fitted_count = params.iter().filter(|p| p.constrained).count() as i64;
    Ok(FitResult {
        params,
        figures,
        loss_start: loss0,
        loss_fitted,
        dof: n_fig as i64 - fitted_count,
        birge,
        evals: ev.evals.load(Ordering::Relaxed),
        sims: ev.sims.load(Ordering::Relaxed),
        seeds: opts.seeds,
    })
}

/// Whether an interval pins a parameter: within a factor 16 end to end (log scale), or within half the
/// search range (linear scale).
pub fn narrow(row: &FitParam, lo: f64, hi: f64) -> bool {
    match row.scale {
        Scale::Log => hi / lo.max(1e-300) <= 16.0,
        Scale::Linear => hi - lo <= 0.5 * (row.hi - row.lo),
    }
}

/// Formats a parameter value compactly.
pub fn fmt_value(v: f64) -> String {
    if v.abs() >= 100.0 {
        format!("{v:.0}")
    } else if v.abs() >= 1.0 {
        format!("{v:.2}")
    } else {
        format!("{v:.3}")
    }
}

type LossFn<'a> = dyn Fn(&[Vec<f64>]) -> Result<Vec<(f64, Vec<f64>, SimLogs)>> + 'a;

/// Normalised coordinate step for finite differences.
const H: f64 = 0.012;

fn span(row: &FitParam) -> f64 {
    let (a, b) = z_bounds(row);
    b - a
}

/// Jacobian of the residuals with respect to the natural coordinates of `active` (forward or central
/// differences with a step of `H` of each parameter's span, kept inside the bounds). Returns the Jacobian
/// (residual × active) and the steps used.
fn jacobian(
    f: &LossFn<'_>,
    rows: &[&'static FitParam],
    active: &[usize],
    z: &[f64],
    central: bool,
) -> Result<(Vec<Vec<f64>>, Vec<f64>)> {
    let mut cands = Vec::new();
    let mut steps = Vec::new();
    for &j in active {
        let (lo, hi) = z_bounds(rows[j]);
        let h = H * span(rows[j]);
        let (mut a, mut b) = if central {
            (z[j] - h, z[j] + h)
        } else {
            (z[j], z[j] + h)
        };
        if b > hi {
            let d = b - hi;
            a -= d;
            b -= d;
        }
        if a < lo {
            let d = lo - a;
            a += d;
            b += d;
        }
        let mut za = z.to_vec();
        za[j] = a;
        let mut zb = z.to_vec();
        zb[j] = b;
        if central || a != z[j] {
            cands.push(za);
        }
        cands.push(zb);
        steps.push((a, b));
    }
    let res = f(&cands)?;
    // Forward differences need the residuals at z itself.
    let base = if central {
        None
    } else {
        Some(f(&[z.to_vec()])?.remove(0).1)
    };
    let mut cols = Vec::with_capacity(active.len());
    let mut k = 0;
    let mut hs = Vec::new();
    for (i, &j) in active.iter().enumerate() {
        let (a, b) = steps[i];
        let (ra, rb) = if central || a != z[j] {
            let ra = res[k].1.clone();
            let rb = res[k + 1].1.clone();
            k += 2;
            (ra, rb)
        } else {
            let rb = res[k].1.clone();
            k += 1;
            (base.clone().unwrap_or_default(), rb)
        };
        let h = b - a;
        cols.push(
            ra.iter()
                .zip(&rb)
                .map(|(x, y)| (y - x) / h)
                .collect::<Vec<f64>>(),
        );
        hs.push(h);
    }
    // Residual-major.
    let n = cols.first().map_or(0, |c| c.len());
    let jac = (0..n)
        .map(|r| cols.iter().map(|c| c[r]).collect())
        .collect();
    Ok((jac, hs))
}

fn gram(jac: &[Vec<f64>], p: usize) -> linalg::Mat {
    let mut a = vec![vec![0.0; p]; p];
    for row in jac {
        for i in 0..p {
            for k in 0..p {
                a[i][k] += row[i] * row[k];
            }
        }
    }
    a
}

fn clamp_z(rows: &[&'static FitParam], j: usize, v: f64) -> f64 {
    let (lo, hi) = z_bounds(rows[j]);
    v.clamp(lo, hi)
}

/// Levenberg–Marquardt over `active` (projected onto the bounds). Updates `z`; returns (loss, residuals).
#[allow(clippy::too_many_arguments)]
fn lm(
    f: &LossFn<'_>,
    rows: &[&'static FitParam],
    active: &[usize],
    z: &mut [f64],
    start: (f64, Vec<f64>),
    max_iter: u32,
    tick: &dyn Fn(u32, f64),
) -> Result<(f64, Vec<f64>)> {
    let mut cur = start;
    let mut lambda = 1e-2;
    let p = active.len();
    for it in 1..=max_iter.max(1) {
        tick(it, cur.0);
        let (jac, _) = jacobian(f, rows, active, z, false)?;
        let a = gram(&jac, p);
        let g: Vec<f64> = (0..p)
            .map(|i| jac.iter().zip(&cur.1).map(|(row, r)| row[i] * r).sum())
            .collect();
        let mut improved = false;
        for _try in 0..6 {
            let mut m = a.clone();
            for i in 0..p {
                m[i][i] += lambda * a[i][i].max(1e-9) + 1e-12;
            }
            let Some(step) = linalg::solve(&m, &g.iter().map(|x| -x).collect::<Vec<_>>()) else {
                lambda *= 10.0;
                continue;
            };
            let mut zn = z.to_vec();
            for (i, &j) in active.iter().enumerate() {
                // Never more than half the span in one step.
                let lim = 0.5 * span(rows[j]);
                zn[j] = clamp_z(rows, j, z[j] + step[i].clamp(-lim, lim));
            }
            let (l, r, _) = f(std::slice::from_ref(&zn))?.remove(0);
            if l < cur.0 {
                let rel = (cur.0 - l) / cur.0.max(1e-12);
                z.copy_from_slice(&zn);
                cur = (l, r);
                lambda = (lambda / 3.0).max(1e-7);
                improved = true;
                if rel < 1e-3 {
                    return Ok(cur);
                }
                break;
            }
            lambda *= 5.0;
        }
        if !improved {
            break;
        }
    }
    Ok(cur)
}

/// One side of a parameter's 95 % interval: starts at the Laplace half-width `guess` along the profile
/// direction `dir` (the other active parameters re-optimised to first order; `a` is the profiled
/// parameter's index in `active`) and *evaluates* the loss there; while it stays below `target` the step
/// grows (×2, up to the bound), then the crossing is bisected. The interval never shrinks below the
/// Laplace width (a curved valley makes the straight path overshoot). Returns the profiled parameter's
/// natural coordinate at the end and whether the crossing lies inside the bounds.
#[allow(clippy::too_many_arguments)]
fn profile_side(
    f: &LossFn<'_>,
    rows: &[&'static FitParam],
    active: &[usize],
    z: &[f64],
    dir: &[f64],
    a: usize,
    sign: f64,
    guess: f64,
    target: f64,
) -> Result<(f64, bool)> {
    let j = active[a];
    let (lo, hi) = z_bounds(rows[j]);
    let t_max = if sign < 0.0 { z[j] - lo } else { hi - z[j] };
    let bound = if sign < 0.0 { lo } else { hi };
    if !guess.is_finite() || guess >= t_max || t_max <= 1e-12 {
        return Ok((bound, false));
    }
    let at = |t: f64| -> Vec<f64> {
        let mut zn = z.to_vec();
        for (b, &k) in active.iter().enumerate() {
            zn[k] = clamp_z(rows, k, z[k] + sign * t * dir[b]);
        }
        zn
    };
    let loss_at = |t: f64| -> Result<f64> { Ok(f(&[at(t)])?.remove(0).0) };
    let mut t = guess;
    if loss_at(t)? >= target {
        return Ok((z[j] + sign * t, true));
    }
    let mut inside = t;
    let mut outside = None;
    for _ in 0..4 {
        if t >= t_max {
            break;
        }
        t = (t * 2.0).min(t_max);
        if loss_at(t)? >= target {
            outside = Some(t);
            break;
        }
        inside = t;
    }
    let Some(mut out) = outside else {
        return Ok((bound, false));
    };
    for _ in 0..2 {
        let mid = 0.5 * (inside + out);
        if loss_at(mid)? >= target {
            out = mid;
        } else {
            inside = mid;
        }
    }
    Ok((z[j] + sign * out, true))
}

/// One figure predicted for a recorded run under given parameters (no fitting).
#[derive(Debug, Clone)]
pub struct Prediction {
    /// Run ID.
    pub run_id: String,
    /// Figure.
    pub figure: Figure,
    /// Observed.
    pub observed: f64,
    /// Simulated (geometric mean over seeds).
    pub predicted: f64,
}

impl Prediction {
    /// `predicted / observed − 1`.
    pub fn error(&self) -> f64 {
        self.predicted / self.observed - 1.0
    }
}

/// Re-simulates each replay under `values` (applied by name after its scenario's parameters) and returns
/// every observed figure beside its prediction: how well a calibration predicts runs it was not fitted to.
pub fn predict(
    replays: &[Replay],
    values: &BTreeMap<String, f64>,
    seeds: u32,
    threads: usize,
) -> Result<Vec<Prediction>> {
    let mut reps = replays.to_vec();
    for r in &mut reps {
        r.scenario.params = overrides::apply(&r.scenario.params, values)?;
    }
    let ev = Evaluator {
        replays: &reps,
        rows: &[],
        seeds: (1..=seeds.max(1) as u64).collect(),
        threads: threads.max(1),
        sims: AtomicU64::new(0),
        evals: AtomicU64::new(0),
    };
    let logs = ev.run(&[Vec::new()])?.remove(0);
    let mut out = Vec::new();
    for (i, rep) in reps.iter().enumerate() {
        for (k, (f, obs)) in rep.observed.iter().enumerate() {
            out.push(Prediction {
                run_id: rep.run_id.clone(),
                figure: *f,
                observed: *obs,
                predicted: mean(&logs[i][k]).exp(),
            });
        }
    }
    Ok(out)
}
