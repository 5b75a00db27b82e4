//! `stampede compare`: key figures of two sets of run records side by side, thresholds, and a verdict.
//!
//! ## The regression rule
//! Each side is one or more repetitions of the same scenario. For every key figure we report, per side, the
//! mean, the range (min–max) and the sample standard deviation (n − 1). A threshold is *crossed* when:
//!
//! - **absolute** (`servers.cpu_pct_max > 80`): the new side's mean is beyond the number;
//! - **relative** (`submit_to_running.p99 > +10%`, `placement_rate < -5%`) or **delta** (`completion_s > +30`):
//!   the new side's mean is beyond the *edge of the base side's range* moved by the threshold, i.e. for `>`
//!   `new_mean > base_max + amount` and for `<` `new_mean < base_min + amount`, where `amount` is the delta, or
//!   the percentage of `|base_mean|`.
//!
//! With one run per side the range is the single value and the rule is the plain threshold; the output then
//! says that run-to-run variation was not measured. With several runs a change is only called when it exceeds
//! the base's observed spread *and* the threshold. This is a deliberately conservative, assumption-free
//! stand-in for the confidence-interval comparison recommended by Georges, Buytaert & Eeckhout, "Statistically
//! Rigorous Java Performance Evaluation" (OOPSLA 2007, §3: overlapping intervals mean no conclusion) and
//! Kalibera & Jones, "Rigorous Benchmarking in Reasonable Time" (ISMM 2013): with the 2–5 repetitions a
//! cluster load test affords, a t-interval leans on a normality assumption the data can't check, while the
//! range needs none.
//!
//! Threshold syntax: `FIGURE OP VALUE` with `OP` one of `>`, `>=`, `<`, `<=`; `VALUE` is `N%` / `+N%` /
//! `-N%` (relative), `+N` / `-N` (signed: delta in the figure's unit) or `N` (absolute). `FIGURE` is a
//! [`Metric`] in any of its spellings (`placement_rate`, `latency_ms.` prefix, `queue_wait` for
//! `submit_to_running`, `queue_wait_p95_ms`, …).

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use stampede_sim::metric::{Count, Interval, Metric, Server, Stat};
use stampede_sim::record::RunMeta;

use crate::files::record as record_io;
use crate::report::tables::num;

pub use stampede_sim::metric::Better;

/// Statistics of each latency interval shown in the table.
const TABLE_STATS: [&str; 4] = ["p50", "p90", "p99", "max"];
/// The key figures shown in the comparison table, in order.
pub fn figures() -> Vec<Metric> {
    let mut v = vec![Metric::PlacementRate, Metric::Completion];
    for i in Interval::ALL {
        for s in TABLE_STATS {
            v.push(Metric::latency(
                i,
                Stat::parse(s).expect("a statistic of STATS"),
            ));
        }
    }
    v.extend(Server::ALL.map(Metric::Server));
    v.extend(Count::failures().iter().map(|&c| Metric::Count(c)));
    v
}

/// The key figures shown in the comparison table, in order: `(key, unit, better)`.
pub fn figure_keys() -> Vec<(String, &'static str, Better)> {
    figures()
        .into_iter()
        .map(|m| (m.to_string(), m.unit().as_str(), m.better()))
        .collect()
}

/// A comparison operator.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum Op {
    /// `>`
    #[serde(rename = ">")]
    Gt,
    /// `>=`
    #[serde(rename = ">=")]
    Ge,
    /// `<`
    #[serde(rename = "<")]
    Lt,
    /// `<=`
    #[serde(rename = "<=")]
    Le,
}

impl Op {
    fn holds(self, a: f64, b: f64) -> bool {
        match self {
            Op::Gt => a > b,
            Op::Ge => a >= b,
            Op::Lt => a < b,
            Op::Le => a <= b,
        }
    }
    fn upward(self) -> bool {
        matches!(self, Op::Gt | Op::Ge)
    }
}

/// The right-hand side of a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
#[serde(tag = "kind", content = "value", rename_all = "snake_case")]
pub enum Limit {
    /// A plain number in the figure's unit, compared with the new side's mean.
    Absolute(f64),
    /// A signed change in percent of the base mean, beyond the base's range.
    RelativePct(f64),
    /// A signed change in the figure's unit, beyond the base's range.
    Delta(f64),
}

/// One `--fail-if` condition.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Threshold {
    /// As written.
    pub text: String,
    /// Where it came from: `--fail-if` or `FILE:LINE`.
    pub origin: String,
    /// The figure (serialised by its canonical name).
    #[serde(serialize_with = "metric_name")]
    pub key: Metric,
    /// Operator.
    pub op: Op,
    /// Limit.
    pub limit: Limit,
}

/// Parses `FIGURE OP VALUE`; `origin` names the flag or `file:line` for error messages.
pub fn parse_threshold(text: &str, origin: &str) -> Result<Threshold> {
    let t = text.trim();
    let (pos, op, len) = [(">=", Op::Ge), ("<=", Op::Le), (">", Op::Gt), ("<", Op::Lt)]
        .iter()
        .filter_map(|(s, op)| t.find(s).map(|p| (p, *op, s.len())))
        .min_by_key(|x| (x.0, std::cmp::Reverse(x.2)))
        .with_context(|| {
            format!("{origin}: threshold `{t}` has no operator; write e.g. `submit_to_running.p99 > +10%` (operators: > >= < <=)")
        })?;
    let lhs = t[..pos].trim();
    let rhs = t[pos + len..].trim();
    let key: Metric = lhs.parse().ok().with_context(|| {
        let keys: Vec<String> = figure_keys().into_iter().map(|f| f.0).collect();
        format!(
            "{origin}: unknown figure `{lhs}` in threshold `{t}`; known figures: {}",
            keys.join(", ")
        )
    })?;
    let bad_value = || {
        format!("{origin}: threshold `{t}`: `{rhs}` is not a number, a signed delta (+N/-N) or a percentage (+N%/-N%)")
    };
    let limit = if let Some(p) = rhs.strip_suffix('%') {
        Limit::RelativePct(
            p.trim()
                .parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .with_context(bad_value)?,
        )
    } else if rhs.starts_with('+') || rhs.starts_with('-') {
        Limit::Delta(
            rhs.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .with_context(bad_value)?,
        )
    } else {
        Limit::Absolute(
            rhs.parse::<f64>()
                .ok()
                .filter(|x| x.is_finite())
                .with_context(bad_value)?,
        )
    };
    Ok(Threshold {
        text: t.to_string(),
        origin: origin.to_string(),
        key,
        op,
        limit,
    })
}

fn metric_name<S: serde::Serializer>(m: &Metric, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.collect_str(m)
}

/// Reads a thresholds file: one threshold per line, `#` starts a comment, blank lines ignored.
pub fn read_thresholds(path: &Path) -> Result<Vec<Threshold>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading thresholds file {}", path.display()))?;
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        out.push(parse_threshold(
            line,
            &format!("{}:{}", path.display(), i + 1),
        )?);
    }
    Ok(out)
}

/// Mean, spread and count of one figure over one side's runs.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Stats {
    /// Runs.
    pub n: usize,
    /// Mean, figure's unit.
    pub mean: f64,
    /// Smallest value, figure's unit.
    pub min: f64,
    /// Largest value, figure's unit.
    pub max: f64,
    /// Sample standard deviation (n − 1); 0 for one run. Figure's unit.
    pub stddev: f64,
}

impl Stats {
    /// Stats of a non-empty sample.
    pub fn of(v: &[f64]) -> Stats {
        let n = v.len();
        let mean = v.iter().sum::<f64>() / n as f64;
        let stddev = if n > 1 {
            (v.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1) as f64).sqrt()
        } else {
            0.0
        };
        Stats {
            n,
            mean,
            min: v.iter().copied().fold(f64::INFINITY, f64::min),
            max: v.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            stddev,
        }
    }
}

/// One row of the comparison table.
#[derive(Debug, Clone, Serialize)]
pub struct FigureRow {
    /// The figure (serialised by its canonical name).
    #[serde(serialize_with = "metric_name")]
    pub key: Metric,
    /// Unit of the values.
    pub unit: &'static str,
    /// Which direction is better.
    pub better: Better,
    /// Base side.
    pub base: Stats,
    /// New side.
    pub new: Stats,
    /// `new.mean − base.mean`, figure's unit.
    pub delta: f64,
    /// Delta in percent of `|base.mean|`; `null` when the base mean is 0.
    pub delta_pct: Option<f64>,
    /// `same` (equal or within 1 % of the base mean), `within spread` (inside the base's min–max with several
    /// base runs), else `better` or `worse` by the figure's direction. Informative only: exit codes come from
    /// thresholds.
    pub verdict: &'static str,
}

/// Outcome of one threshold.
#[derive(Debug, Clone, Serialize)]
pub struct ThresholdResult {
    /// The threshold.
    pub threshold: Threshold,
    /// The value the new mean was compared with, figure's unit.
    pub bound: f64,
    /// Base mean, figure's unit.
    pub base_mean: f64,
    /// New mean, figure's unit.
    pub new_mean: f64,
    /// Whether the threshold was crossed (a regression).
    pub crossed: bool,
}

/// One side: the record directories and their metas.
#[derive(Debug, Clone)]
pub struct Side {
    /// Record directories, in the order given (directories of records expand sorted by name).
    pub dirs: Vec<PathBuf>,
    /// Their `run.json`.
    pub metas: Vec<RunMeta>,
}

/// The whole comparison.
#[derive(Debug, Clone, Serialize)]
pub struct Comparison {
    /// Scenario name(s), `base` side first.
    pub scenarios: Vec<String>,
    /// Base record directories.
    pub base_records: Vec<PathBuf>,
    /// New record directories.
    pub new_records: Vec<PathBuf>,
    /// Whether either side has one run only (no spread measured).
    pub single_run: bool,
    /// The rule used, in words.
    pub rule: String,
    /// The key figures.
    pub figures: Vec<FigureRow>,
    /// Threshold outcomes.
    pub thresholds: Vec<ThresholdResult>,
    /// Whether any threshold was crossed.
    pub regression: bool,
}

/// Expands command-line paths into record directories: a directory with `run.json` is a record; otherwise
/// its immediate subdirectories holding a `run.json` (sorted by name).
pub fn expand(paths: &[PathBuf]) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for p in paths {
        if !p.exists() {
            bail!("{} does not exist", p.display());
        }
        if p.join(record_io::RUN_JSON).is_file() {
            out.push(p.clone());
            continue;
        }
        if !p.is_dir() {
            bail!(
                "{} is not a run record directory (a directory holding run.json)",
                p.display()
            );
        }
        let mut subs: Vec<PathBuf> = std::fs::read_dir(p)
            .with_context(|| format!("listing {}", p.display()))?
            .filter_map(|e| e.ok().map(|e| e.path()))
            .filter(|d| d.join(record_io::RUN_JSON).is_file())
            .collect();
        if subs.is_empty() {
            bail!(
                "{} is neither a run record (no run.json) nor a directory of run records",
                p.display()
            );
        }
        subs.sort();
        out.extend(subs);
    }
    Ok(out)
}

fn schema_version(dir: &Path) -> Result<u64> {
    let p = dir.join(record_io::RUN_JSON);
    let text = std::fs::read_to_string(&p).with_context(|| format!("reading {}", p.display()))?;
    let v: serde_json::Value =
        serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))?;
    v.get("schema_version")
        .and_then(|x| x.as_u64())
        .with_context(|| format!("{}: missing or non-integer `schema_version`", p.display()))
}

/// Loads both sides, refusing mixed schema versions and (unless `allow_different`) mixed scenarios.
pub fn load_sides(
    base: &[PathBuf],
    new: &[PathBuf],
    allow_different: bool,
) -> Result<(Side, Side)> {
    load_sides_with(base, new, allow_different, false)
}

/// [`load_sides`]; a record whose `outcome` is not `complete` (interrupted, partial, timed out) is refused
/// unless `allow_incomplete`, and then warned about on stderr: its figures cover only part of the run, so a
/// comparison with it can pass or fail for the wrong reason.
pub fn load_sides_with(
    base: &[PathBuf],
    new: &[PathBuf],
    allow_different: bool,
    allow_incomplete: bool,
) -> Result<(Side, Side)> {
    let base = expand(base)?;
    let new = expand(new)?;
    let mut versions = Vec::new();
    for d in base.iter().chain(&new) {
        versions.push((d, schema_version(d)?));
    }
    if let Some((d0, v0)) = versions.first() {
        if let Some((d, v)) = versions.iter().find(|(_, v)| v != v0) {
            bail!(
                "records have different schema versions: {} is version {v0}, {} is version {v}; re-create the older \
                 record with this stampede (or compare with the stampede that wrote it)",
                d0.display(),
                d.display()
            );
        }
    }
    let load = |dirs: Vec<PathBuf>| -> Result<Side> {
        let metas = dirs
            .iter()
            .map(|d| record_io::read_meta(d))
            .collect::<Result<Vec<_>>>()?;
        Ok(Side { dirs, metas })
    };
    let (b, n) = (load(base)?, load(new)?);
    for (d, m) in b
        .dirs
        .iter()
        .zip(&b.metas)
        .chain(n.dirs.iter().zip(&n.metas))
    {
        if m.outcome.is_complete() {
            continue;
        }
        let what = format!(
            "{} is an incomplete run (outcome `{}`: {} of {} jobs submitted, {} failed)",
            d.display(),
            m.outcome.as_str(),
            m.summary.jobs_submitted,
            m.scenario.jobs,
            m.summary.jobs_failed_to_submit
        );
        if !allow_incomplete {
            bail!("{what}; its figures cover only part of the run. Re-run it, or pass --allow-incomplete to compare anyway");
        }
        eprintln!("warning: {what}; comparing anyway (--allow-incomplete): its figures cover only part of the run");
    }
    if !allow_different {
        let first = &b.metas[0].scenario.name;
        for (d, m) in b
            .dirs
            .iter()
            .zip(&b.metas)
            .chain(n.dirs.iter().zip(&n.metas))
        {
            if &m.scenario.name != first {
                bail!(
                    "records are of different scenarios: {} ran `{first}`, {} ran `{}`; pass \
                     --allow-different-scenarios to compare them anyway",
                    b.dirs[0].display(),
                    d.display(),
                    m.scenario.name
                );
            }
        }
    }
    Ok((b, n))
}

fn side_stats(side: &Side, key: Metric) -> Stats {
    let v: Vec<f64> = side.metas.iter().map(|m| key.value(&m.summary)).collect();
    Stats::of(&v)
}

fn verdict(base: &Stats, new: &Stats, better: Better) -> &'static str {
    // Changes under 1 % of the base are not worth a colour, whatever the spread.
    if new.mean == base.mean
        || (base.mean != 0.0 && ((new.mean - base.mean) / base.mean).abs() < 0.01)
    {
        return "same";
    }
    if base.n > 1 && new.mean >= base.min && new.mean <= base.max {
        return "within spread";
    }
    let up = new.mean > base.mean;
    if up == (better == Better::Higher) {
        "better"
    } else {
        "worse"
    }
}

/// Evaluates one threshold (see the module docs for the rule).
pub fn evaluate(t: &Threshold, base: &Stats, new: &Stats) -> ThresholdResult {
    let bound = match t.limit {
        Limit::Absolute(x) => x,
        Limit::RelativePct(p) | Limit::Delta(p) => {
            let amount = if let Limit::RelativePct(_) = t.limit {
                base.mean.abs() * p / 100.0
            } else {
                p
            };
            if t.op.upward() {
                base.max + amount
            } else {
                base.min + amount
            }
        }
    };
    ThresholdResult {
        threshold: t.clone(),
        bound,
        base_mean: base.mean,
        new_mean: new.mean,
        crossed: t.op.holds(new.mean, bound),
    }
}

/// The rule in one sentence, for the output.
pub const RULE: &str = "A threshold is crossed when the new mean is beyond the base's range (min–max) moved by the \
     threshold (relative/delta thresholds), or beyond the number (absolute thresholds). Georges et al. OOPSLA 2007; \
     Kalibera & Jones ISMM 2013.";

/// Compares two loaded sides against `thresholds`.
pub fn compare(base: &Side, new: &Side, thresholds: &[Threshold]) -> Comparison {
    let figures = figures()
        .into_iter()
        .map(|key| {
            let (unit, better) = (key.unit().as_str(), key.better());
            let b = side_stats(base, key);
            let n = side_stats(new, key);
            let delta = n.mean - b.mean;
            FigureRow {
                verdict: verdict(&b, &n, better),
                delta_pct: (b.mean != 0.0).then(|| delta / b.mean.abs() * 100.0),
                key,
                unit,
                better,
                base: b,
                new: n,
                delta,
            }
        })
        .collect();
    let results: Vec<ThresholdResult> = thresholds
        .iter()
        .map(|t| evaluate(t, &side_stats(base, t.key), &side_stats(new, t.key)))
        .collect();
    let mut scenarios: Vec<String> = Vec::new();
    for m in base.metas.iter().chain(&new.metas) {
        if !scenarios.contains(&m.scenario.name) {
            scenarios.push(m.scenario.name.clone());
        }
    }
    Comparison {
        scenarios,
        base_records: base.dirs.clone(),
        new_records: new.dirs.clone(),
        single_run: base.metas.len() == 1 || new.metas.len() == 1,
        rule: RULE.into(),
        regression: results.iter().any(|r| r.crossed),
        figures,
        thresholds: results,
    }
}

fn cell(s: &Stats) -> String {
    if s.n == 1 {
        num(s.mean)
    } else {
        format!(
            "{} ({}–{}, sd {})",
            num(s.mean),
            num(s.min),
            num(s.max),
            num(s.stddev)
        )
    }
}

fn signed(x: f64) -> String {
    if x > 0.0 {
        format!("+{}", num(x))
    } else {
        num(x)
    }
}

/// The comparison as a Markdown table for the terminal (and CI logs).
pub fn render_text(c: &Comparison) -> String {
    let mut o = format!(
        "stampede compare: scenario {}; base: {} run(s), new: {} run(s)\n\n",
        c.scenarios
            .iter()
            .map(|s| format!("`{s}`"))
            .collect::<Vec<_>>()
            .join(" vs "),
        c.base_records.len(),
        c.new_records.len()
    );
    if c.single_run {
        o.push_str(
            "NOTE: one run on at least one side: run-to-run variation was not measured, so a difference may be noise. \
             Repeat each side (3+ runs) for a verdict that accounts for spread.\n\n",
        );
    } else {
        o.push_str("Values are mean (min–max, sd) over the runs of each side.\n\n");
    }
    o.push_str("| figure | unit | base | new | Δ | Δ % | verdict |\n|:---|:---|---:|---:|---:|---:|:---|\n");
    for f in &c.figures {
        o.push_str(&format!(
            "| {} | {} | {} | {} | {} | {} | {} |\n",
            f.key,
            f.unit,
            cell(&f.base),
            cell(&f.new),
            signed(f.delta),
            f.delta_pct
                .map(|p| format!("{}%", signed(p)))
                .unwrap_or_else(|| "n/a".into()),
            f.verdict
        ));
    }
    if c.thresholds.is_empty() {
        o.push_str("\nNo thresholds given (--fail-if, --thresholds): exit code 0.\n");
        return o;
    }
    o.push_str("\n| threshold | from | bound | base mean | new mean | result |\n|:---|:---|---:|---:|---:|:---|\n");
    for r in &c.thresholds {
        o.push_str(&format!(
            "| `{}` | {} | {} {} | {} | {} | {} |\n",
            r.threshold.text,
            r.threshold.origin,
            match r.threshold.op {
                Op::Gt => ">",
                Op::Ge => "≥",
                Op::Lt => "<",
                Op::Le => "≤",
            },
            num(r.bound),
            num(r.base_mean),
            num(r.new_mean),
            if r.crossed { "CROSSED" } else { "ok" }
        ));
    }
    let crossed = c.thresholds.iter().filter(|r| r.crossed).count();
    o.push_str(&format!("\nRule: {}\n", c.rule));
    if c.regression {
        o.push_str(&format!(
            "\nVERDICT: REGRESSION ({crossed} of {} thresholds crossed)\n",
            c.thresholds.len()
        ));
    } else {
        o.push_str(&format!(
            "\nVERDICT: OK (none of {} thresholds crossed)\n",
            c.thresholds.len()
        ));
    }
    o
}

/// The side-by-side HTML page of `--html`: verdict, table, overlaid C2M chart and latency CDFs.
pub fn render_html(
    c: &Comparison,
    base: &[stampede_sim::record::RunRecord],
    new: &[stampede_sim::record::RunRecord],
) -> Result<String> {
    use crate::report::html::{esc, CSS};
    let c2m = crate::report::charts::overlay::c2m(base, new)?;
    let cdfs = crate::report::charts::overlay::cdfs(base, new)?;
    let title = format!("stampede compare: {}", c.scenarios.join(" vs "));
    let mut o = format!(
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\"><title>{}</title><style>{CSS}</style></head>\n<body>\n<h1>{}</h1>\n",
        esc(&title),
        esc(&title)
    );
    let verdict = if c.thresholds.is_empty() {
        "No thresholds given.".to_string()
    } else if c.regression {
        format!(
            "REGRESSION: {} of {} thresholds crossed.",
            c.thresholds.iter().filter(|r| r.crossed).count(),
            c.thresholds.len()
        )
    } else {
        format!("OK: none of {} thresholds crossed.", c.thresholds.len())
    };
    o.push_str(&format!(
        "<p class=\"headline\">{} Base: {} run(s), new: {} run(s).{}</p>\n",
        esc(&verdict),
        c.base_records.len(),
        c.new_records.len(),
        if c.single_run {
            " One run on at least one side: run-to-run variation was not measured."
        } else {
            ""
        }
    ));
    if !c.thresholds.is_empty() {
        o.push_str("<h2>Thresholds</h2><table><thead><tr><th>threshold</th><th>from</th><th>bound</th><th>base mean</th><th>new mean</th><th>result</th></tr></thead><tbody>");
        for r in &c.thresholds {
            o.push_str(&format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td class=\"{}\">{}</td></tr>",
                esc(&r.threshold.text),
                esc(&r.threshold.origin),
                num(r.bound),
                num(r.base_mean),
                num(r.new_mean),
                if r.crossed { "missed" } else { "met" },
                if r.crossed { "CROSSED" } else { "ok" }
            ));
        }
        o.push_str(&format!(
            "</tbody></table><p class=\"note\">{}</p>\n",
            esc(&c.rule)
        ));
    }
    o.push_str("<h2>Key figures</h2><table><thead><tr><th>figure</th><th>unit</th><th>base</th><th>new</th><th>Δ</th><th>Δ %</th><th>verdict</th></tr></thead><tbody>");
    for f in &c.figures {
        let class = match f.verdict {
            "worse" => " class=\"missed\"",
            "better" => " class=\"met\"",
            _ => "",
        };
        o.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td{class}>{}</td></tr>",
            esc(&f.key.to_string()),
            f.unit,
            esc(&cell(&f.base)),
            esc(&cell(&f.new)),
            esc(&signed(f.delta)),
            f.delta_pct.map(|p| format!("{}%", signed(p))).unwrap_or_else(|| "n/a".into()),
            f.verdict
        ));
    }
    o.push_str("</tbody></table>\n");
    o.push_str(&format!("<figure id=\"chart-c2m-overlay\"><h2>Allocations over time</h2>{c2m}<figcaption>Base records in blue, new in orange.</figcaption></figure>\n"));
    o.push_str(&format!("<figure id=\"chart-latency-overlay\"><h2>Latency distributions</h2>{cdfs}<figcaption>Base records in blue, new in orange; dots mark p50, p90, p99 and max.</figcaption></figure>\n"));
    o.push_str("</body></html>\n");
    Ok(o)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st(v: &[f64]) -> Stats {
        Stats::of(v)
    }

    #[test]
    fn parses_threshold_forms() {
        let t = parse_threshold("submit_to_running.p99 > +10%", "--fail-if").unwrap();
        assert_eq!(
            (t.key.to_string().as_str(), t.op, t.limit),
            ("submit_to_running.p99", Op::Gt, Limit::RelativePct(10.0))
        );
        let t = parse_threshold("placement_rate < -5%", "x").unwrap();
        assert_eq!(
            (t.key.to_string().as_str(), t.op, t.limit),
            ("placement_rate_per_s", Op::Lt, Limit::RelativePct(-5.0))
        );
        let t = parse_threshold("servers.cpu_pct_max>=80", "x").unwrap();
        assert_eq!((t.op, t.limit), (Op::Ge, Limit::Absolute(80.0)));
        let t = parse_threshold("completion_s > +30", "x").unwrap();
        assert_eq!(t.limit, Limit::Delta(30.0));
        let t = parse_threshold("latency_ms.queue_wait.p50 <= 200", "x").unwrap();
        assert_eq!(t.key.to_string(), "submit_to_running.p50");
        for bad in [
            "p99 > 10%",
            "submit_to_running.p99 10%",
            "submit_to_running.p99 > ten",
            "completion_s > +x%",
        ] {
            let e = parse_threshold(bad, "f.txt:3").unwrap_err().to_string();
            assert!(e.starts_with("f.txt:3: "), "{e}");
        }
    }

    #[test]
    fn rule_needs_change_beyond_spread_and_threshold() {
        let t = parse_threshold("submit_to_running.p99 > +10%", "x").unwrap();
        // single run: plain threshold
        assert!(evaluate(&t, &st(&[100.0]), &st(&[111.0])).crossed);
        assert!(!evaluate(&t, &st(&[100.0]), &st(&[109.0])).crossed);
        // base spread 90..130, mean 110: bound = 130 + 11 = 141
        let b = st(&[90.0, 110.0, 130.0]);
        assert!(
            !evaluate(&t, &b, &st(&[135.0, 140.0, 145.0])).crossed,
            "140 is within spread + 10%"
        );
        assert!(evaluate(&t, &b, &st(&[150.0, 150.0, 151.0])).crossed);
        let r = parse_threshold("placement_rate < -5%", "x").unwrap();
        let b = st(&[1000.0, 1100.0]);
        // bound = 1000 − 52.5 = 947.5
        assert!(!evaluate(&r, &b, &st(&[950.0])).crossed);
        assert!(evaluate(&r, &b, &st(&[940.0])).crossed);
        let a = parse_threshold("servers.cpu_pct_max > 80", "x").unwrap();
        assert!(evaluate(&a, &st(&[10.0]), &st(&[81.0])).crossed);
    }

    #[test]
    fn stats_and_verdicts() {
        let s = st(&[2.0, 4.0, 6.0]);
        assert_eq!((s.mean, s.min, s.max, s.stddev), (4.0, 2.0, 6.0, 2.0));
        assert_eq!(verdict(&s, &st(&[5.0]), Better::Lower), "within spread");
        assert_eq!(verdict(&s, &st(&[7.0]), Better::Lower), "worse");
        assert_eq!(verdict(&s, &st(&[7.0]), Better::Higher), "better");
        assert_eq!(verdict(&st(&[3.0]), &st(&[3.0]), Better::Lower), "same");
        assert_eq!(
            verdict(&st(&[1000.0]), &st(&[1005.0]), Better::Lower),
            "same"
        );
        assert_eq!(
            verdict(&st(&[1000.0]), &st(&[1020.0]), Better::Lower),
            "worse"
        );
    }
}
