//! `stampede plan`: search fleet sizes per instance type for the cheapest fleet that meets an SLO.
//!
//! For each instance type the scenario's first pool is re-typed (CPU and memory from the instance table)
//! and replayed at candidate sizes (fixed fleets, or autoscaling maxima with `--autoscale`). Every candidate
//! runs with the same seeds (common random numbers: the same trace and the same random streams, so
//! differences between candidates come from the fleet, not from noise), one simulation per thread. A
//! candidate meets the SLO when every seed meets it; its confidence is the share of seeds that do. The
//! search evaluates a coarse grid, then bisects between the largest failing and the smallest passing size
//! (SLO attainment is monotone in fleet size up to noise; the grid guards against local non-monotonicity).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;
use stampede_sim::runner::{self, RunOptions};
use stampede_sim::scenario::Scenario;
use stampede_sim::summary::slo_measure;

use crate::prices::PriceTable;

/// Arguments of `stampede plan`.
#[derive(Debug, clap::Args)]
pub struct PlanArgs {
    /// Scenario giving the control plane and the pool to size (its first pool).
    #[arg(long, short = 's')]
    pub scenario: PathBuf,
    /// Trace to replay (default: the scenario's workload).
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// The objective, e.g. `queue_wait.p95 <= 60s`, `submit_to_running.p99 <= 5000ms`, `completion_s <= 3600`.
    #[arg(long)]
    pub slo: String,
    /// Instance types to consider (default: the pool's own type).
    #[arg(long, value_delimiter = ',')]
    pub instance_types: Vec<String>,
    /// Largest fleet to consider.
    #[arg(long, default_value_t = 200)]
    pub max_nodes: u32,
    /// Smallest fleet to consider.
    #[arg(long, default_value_t = 1)]
    pub min_nodes: u32,
    /// Sizes in the coarse grid per instance type.
    #[arg(long, default_value_t = 10)]
    pub grid: u32,
    /// Seeds (replications) per candidate.
    #[arg(long, default_value_t = 2)]
    pub seeds: u32,
    /// First seed (seeds are SEED, SEED+1, …).
    #[arg(long, default_value_t = 1)]
    pub seed: u64,
    /// Size the autoscaling maximum instead of a fixed fleet (the pool must have `[pools.autoscale]`).
    #[arg(long)]
    pub autoscale: bool,
    /// Price with on-demand instead of the pool's spot setting.
    #[arg(long)]
    pub on_demand: bool,
    /// Price table override (CSV, same columns as harness/data/prices.csv).
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Worker threads (default: available cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// Output directory for plan.json, plan.md and plan.html.
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Print plan.json on stdout.
    #[arg(long)]
    pub json: bool,
    /// No progress output.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// A parsed SLO: summary key and threshold (≤).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Slo {
    /// Text as given.
    pub text: String,
    /// Summary key (`queue_wait_p95_ms`, …).
    pub key: String,
    /// Threshold, in the key's unit (ms, or s for `completion_s`).
    pub threshold: f64,
}

/// Parses `interval.stat <= value` (value a duration like `60s`, or a number in the key's unit).
pub fn parse_slo(text: &str) -> Result<Slo> {
    let (lhs, rhs) = text.split_once("<=").with_context(|| {
        format!("SLO `{text}`: expected `METRIC <= VALUE`, e.g. `queue_wait.p95 <= 60s`")
    })?;
    let lhs = lhs.trim();
    let rhs = rhs.trim();
    let key = if lhs == "completion_s" || lhs == "completion" {
        "completion_s".to_string()
    } else {
        format!("{}_ms", lhs.replace('.', "_"))
    };
    if slo_measure(&key, &Default::default()).is_none() {
        bail!("SLO `{text}`: unknown metric `{lhs}` (use submit_to_placed|placed_to_running|submit_to_running|queue_wait . p50|p90|p95|p99|max|mean, or completion_s)");
    }
    let threshold = match rhs.parse::<f64>() {
        Ok(v) => v,
        Err(_) => {
            let ns = stampede_sim::duration::parse_duration_ns(rhs)
                .map_err(|e| anyhow::anyhow!("SLO `{text}`: {e}"))?;
            if key == "completion_s" {
                ns as f64 / 1e9
            } else {
                ns as f64 / 1e6
            }
        }
    };
    if !(threshold.is_finite() && threshold >= 0.0) {
        bail!("SLO `{text}`: threshold must be a non-negative number");
    }
    Ok(Slo {
        text: text.to_string(),
        key,
        threshold,
    })
}

/// One simulated replication of one candidate.
#[derive(Debug, Clone, Serialize)]
pub struct SeedResult {
    /// Seed.
    pub seed: u64,
    /// Measured SLO metric (ms, or s for completion).
    pub measured: f64,
    /// Met the SLO.
    pub met: bool,
    /// Node-hours used by the sized pool.
    pub node_hours: f64,
    /// Simulated span, hours.
    pub span_hours: f64,
    /// Allocations left unplaced at the end.
    pub unplaced: u64,
    /// The replay was stopped as soon as the SLO was provably missed.
    pub stopped_early: bool,
}

/// One evaluated fleet configuration.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Instance type.
    pub instance_type: String,
    /// Fleet size (or autoscaling maximum).
    pub nodes: u32,
    /// Per-seed results.
    pub seeds: Vec<SeedResult>,
    /// Mean of the measured metric over seeds.
    pub measured_mean: f64,
    /// Worst (max) measured metric over seeds.
    pub measured_max: f64,
    /// Share of seeds that met the SLO.
    pub confidence: f64,
    /// Whether every seed met the SLO.
    pub meets: bool,
    /// Mean node-hours per simulated day of the sized pool.
    pub node_hours_per_day: f64,
    /// Cost per day: pool node-hours × price + servers (on-demand, 24 h), USD.
    pub usd_per_day: f64,
}

/// The recommendation.
#[derive(Debug, Clone, Serialize)]
pub struct Recommended {
    /// Instance type.
    pub instance_type: String,
    /// Fleet size (or autoscaling maximum).
    pub nodes: u32,
    /// Cost per day, USD.
    pub usd_per_day: f64,
    /// Share of seeds meeting the SLO.
    pub confidence: f64,
    /// Worst measured metric.
    pub measured_max: f64,
}

/// `plan.json`.
#[derive(Debug, Clone, Serialize)]
pub struct PlanResult {
    /// Scenario name.
    pub scenario: String,
    /// Trace replayed, if any.
    pub trace: Option<String>,
    /// The objective.
    pub slo: Slo,
    /// Seeds used for every candidate.
    pub seeds: Vec<u64>,
    /// Whether autoscaling maxima were sized.
    pub autoscale: bool,
    /// Pricing basis (`spot` or `on_demand`) and table.
    pub pricing: String,
    /// Cheapest configuration meeting the SLO, if any.
    pub recommended: Option<Recommended>,
    /// Every candidate evaluated, by instance type then size.
    pub candidates: Vec<Candidate>,
    /// Wall time of the search, s.
    pub wall_s: f64,
}

struct Ctx {
    base: Scenario,
    slo: Slo,
    seeds: Vec<u64>,
    autoscale: bool,
    trace: Option<PathBuf>,
    trace_cache: Mutex<Option<crate::cmd::TraceSourceFactory>>,
    /// (threshold ns, tolerated late fraction) for latency SLOs on submit → running.
    early_stop: Option<(u64, f64)>,
    /// Allocations the workload asks for, when known.
    total_allocs: Option<u64>,
}

fn scenario_for(
    base: &Scenario,
    instance_type: &str,
    nodes: u32,
    autoscale: bool,
) -> Result<Scenario> {
    let mut sc = base.clone();
    let p = sc
        .pools
        .first_mut()
        .context("the scenario has no pool to size")?;
    if p.instance_type != instance_type {
        let it = stampede_sim::instances::lookup(instance_type)
            .with_context(|| format!("unknown instance type `{instance_type}`"))?;
        p.instance_type = instance_type.to_string();
        p.cpu_mhz = it.cpu_mhz();
        p.memory_mb = it.memory_mb();
        p.name = format!("{}-{}", instance_type, p.datacenter);
    }
    if autoscale {
        let a = p
            .autoscale
            .as_mut()
            .context("--autoscale needs a pool with [pools.autoscale]")?;
        a.max = nodes.max(a.min);
        p.count = p.count.clamp(a.min, a.max);
    } else {
        p.autoscale = None;
        p.count = nodes;
    }
    Ok(sc)
}

fn evaluate(ctx: &Ctx, instance_type: &str, nodes: u32, seed: u64) -> Result<SeedResult> {
    let sc = scenario_for(&ctx.base, instance_type, nodes, ctx.autoscale)?;
    let source = match &ctx.trace {
        Some(_) => {
            let f = ctx
                .trace_cache
                .lock()
                .expect("lock")
                .clone()
                .expect("trace loaded");
            f()?
        }
        None => runner::synthetic_source(&sc, seed)?,
    };
    let early_stop = ctx.early_stop.map(|(threshold_ns, frac)| {
        let total = ctx.total_allocs.unwrap_or(u64::MAX / 4) as f64;
        runner::EarlyStop {
            threshold_ns,
            max_late: (total * frac * 1.05) as u64 + 10,
        }
    });
    let opts = RunOptions {
        seed,
        tool_version: env!("CARGO_PKG_VERSION").into(),
        early_stop,
        ..Default::default()
    };
    let (rec, stats) = runner::run_scenario(&sc, source, &opts, &mut |_| {})
        .with_context(|| format!("simulating {nodes} × {instance_type} (seed {seed})"))?;
    let s = &rec.meta.summary;
    let mut measured = slo_measure(&ctx.slo.key, s).unwrap_or(f64::INFINITY);
    // Work that never ran counts as an SLO miss.
    if stats.stopped_early
        || stats.unplaced > 0
        || s.allocs_running < s.allocs_desired.saturating_sub(s.allocs_lost)
    {
        measured = f64::INFINITY;
    }
    let pool = &sc.pools[0].name;
    let node_hours: f64 = rec
        .meta
        .fleet
        .iter()
        .filter(|f| &f.pool == pool)
        .map(|f| f.node_hours)
        .sum();
    Ok(SeedResult {
        seed,
        measured,
        met: measured <= ctx.slo.threshold,
        node_hours,
        span_hours: rec.meta.duration_s / 3600.0,
        unplaced: stats.unplaced,
        stopped_early: stats.stopped_early,
    })
}

/// Runs `jobs` (instance type, nodes, seed) on `threads` threads; results in input order.
fn run_parallel(ctx: &Ctx, jobs: &[(String, u32, u64)], threads: usize) -> Result<Vec<SeedResult>> {
    let next = AtomicUsize::new(0);
    let results: Mutex<Vec<Option<Result<SeedResult>>>> =
        Mutex::new((0..jobs.len()).map(|_| None).collect());
    std::thread::scope(|s| {
        for _ in 0..threads.max(1) {
            s.spawn(|| loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= jobs.len() {
                    break;
                }
                let (it, n, seed) = &jobs[i];
                let r = evaluate(ctx, it, *n, *seed);
                results.lock().expect("lock")[i] = Some(r);
            });
        }
    });
    results
        .into_inner()
        .expect("lock")
        .into_iter()
        .map(|r| r.expect("every job ran"))
        .collect()
}

fn price_per_hour(
    prices: &PriceTable,
    sc: &Scenario,
    it: &str,
    on_demand: bool,
) -> Result<(f64, f64)> {
    let region = &sc.pools[0].region;
    let p = prices.require(it, region)?;
    let node = if on_demand || !sc.pools[0].spot {
        p.on_demand
    } else {
        p.spot
    };
    let servers = match prices.get(&sc.cluster.instance_type, region) {
        Some(sp) => sp.on_demand * sc.cluster.servers as f64,
        None => 0.0,
    };
    Ok((node, servers))
}

/// Runs the search and returns the plan (no files written).
pub fn plan(args: &PlanArgs, progress: &mut dyn FnMut(&str)) -> Result<PlanResult> {
    let wall = Instant::now();
    let base = crate::cmd::sim::load_scenario(&args.scenario, 1.0)?;
    let slo = parse_slo(&args.slo)?;
    if args.min_nodes == 0 || args.min_nodes > args.max_nodes {
        bail!(
            "--min-nodes {} must be at least 1 and ≤ --max-nodes {}",
            args.min_nodes,
            args.max_nodes
        );
    }
    if args.seeds == 0 {
        bail!("--seeds must be at least 1");
    }
    let types = if args.instance_types.is_empty() {
        vec![base.pools[0].instance_type.clone()]
    } else {
        args.instance_types.clone()
    };
    let prices = PriceTable::embedded_with_overrides(args.prices.as_deref())?;
    for it in &types {
        stampede_sim::instances::lookup(it)
            .with_context(|| format!("--instance-types: unknown instance type `{it}`"))?;
        price_per_hour(&prices, &base, it, args.on_demand)?;
    }
    let seeds: Vec<u64> = (0..args.seeds as u64).map(|k| args.seed + k).collect();
    let trace = args.trace.clone().or_else(|| match &base.workload {
        stampede_sim::scenario::WorkloadSource::Trace { path } => Some(PathBuf::from(path)),
        _ => None,
    });
    let ctx = Ctx {
        base: base.clone(),
        slo: slo.clone(),
        seeds: seeds.clone(),
        autoscale: args.autoscale,
        trace: trace.clone(),
        trace_cache: Mutex::new(None),
        early_stop: early_stop_rule(&slo),
        total_allocs: None,
    };
    let mut ctx = ctx;
    if let Some(t) = &trace {
        ctx.total_allocs = Some(crate::cmd::load_trace(t)?.total_allocs());
    } else if let stampede_sim::scenario::WorkloadSource::Synthetic { template, .. } =
        &base.workload
    {
        ctx.total_allocs =
            Some(template.jobs as u64 * template.groups as u64 * template.count as u64);
    }
    if let Some(t) = &trace {
        let loaded = crate::cmd::trace_source_factory(t)?;
        *ctx.trace_cache.lock().expect("lock") = Some(loaded);
    }
    let threads = args.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    });
    let mut evaluated: BTreeMap<(String, u32), Vec<SeedResult>> = BTreeMap::new();
    let mut eval_sizes = |sizes: Vec<(String, u32)>,
                          evaluated: &mut BTreeMap<(String, u32), Vec<SeedResult>>|
     -> Result<()> {
        let sizes: Vec<(String, u32)> = sizes
            .into_iter()
            .filter(|k| !evaluated.contains_key(k))
            .collect();
        if sizes.is_empty() {
            return Ok(());
        }
        let jobs: Vec<(String, u32, u64)> = sizes
            .iter()
            .flat_map(|(it, n)| ctx.seeds.iter().map(move |&s| (it.clone(), *n, s)))
            .collect();
        progress(&format!(
            "evaluating {} candidates × {} seeds on {threads} threads",
            sizes.len(),
            ctx.seeds.len()
        ));
        let res = run_parallel(&ctx, &jobs, threads)?;
        for (k, chunk) in sizes.into_iter().zip(res.chunks(ctx.seeds.len())) {
            evaluated.insert(k, chunk.to_vec());
        }
        Ok(())
    };
    // Coarse grid (geometric, always including min and max), per type, all in one parallel batch.
    let grid: Vec<u32> = {
        let (lo, hi) = (args.min_nodes as f64, args.max_nodes as f64);
        let k = args.grid.max(2);
        let mut g: Vec<u32> = (0..k)
            .map(|i| (lo * (hi / lo).powf(i as f64 / (k - 1) as f64)).round() as u32)
            .collect();
        g.dedup();
        g
    };
    eval_sizes(
        types
            .iter()
            .flat_map(|t| grid.iter().map(move |&n| (t.clone(), n)))
            .collect(),
        &mut evaluated,
    )?;
    // Bisect between the largest failing and the smallest passing grid size, per type, in lockstep.
    loop {
        let mut next = Vec::new();
        for t in &types {
            let meets = |n: u32, ev: &BTreeMap<(String, u32), Vec<SeedResult>>| {
                ev.get(&(t.clone(), n)).map(|r| r.iter().all(|s| s.met))
            };
            let sizes: Vec<u32> = evaluated
                .keys()
                .filter(|(it, _)| it == t)
                .map(|(_, n)| *n)
                .collect();
            let Some(&pass) = sizes.iter().find(|&&n| meets(n, &evaluated) == Some(true)) else {
                continue;
            };
            let fail = sizes
                .iter()
                .filter(|&&n| n < pass && meets(n, &evaluated) == Some(false))
                .max()
                .copied();
            if let Some(f) = fail {
                if pass - f > 1 {
                    next.push((t.clone(), f + (pass - f) / 2));
                }
            }
        }
        if next.is_empty() {
            break;
        }
        eval_sizes(next, &mut evaluated)?;
    }
    let mut candidates = Vec::new();
    for ((it, n), res) in &evaluated {
        let sc = scenario_for(&base, it, *n, args.autoscale)?;
        let (node_price, server_price) = price_per_hour(&prices, &sc, it, args.on_demand)?;
        let k = res.len() as f64;
        let node_hours_per_day = res
            .iter()
            .map(|r| {
                if r.span_hours > 0.0 {
                    r.node_hours / r.span_hours * 24.0
                } else {
                    0.0
                }
            })
            .sum::<f64>()
            / k;
        let finite: Vec<f64> = res.iter().map(|r| r.measured).collect();
        let mean = finite.iter().sum::<f64>() / k;
        let max = finite.iter().cloned().fold(f64::NEG_INFINITY, f64::max);
        let confidence = res.iter().filter(|r| r.met).count() as f64 / k;
        candidates.push(Candidate {
            instance_type: it.clone(),
            nodes: *n,
            seeds: res.clone(),
            measured_mean: mean,
            measured_max: max,
            confidence,
            meets: confidence == 1.0,
            node_hours_per_day: round2(node_hours_per_day),
            usd_per_day: round2(node_hours_per_day * node_price + server_price * 24.0),
        });
    }
    let recommended = candidates
        .iter()
        .filter(|c| c.meets)
        .min_by(|a, b| {
            a.usd_per_day
                .total_cmp(&b.usd_per_day)
                .then(a.nodes.cmp(&b.nodes))
        })
        .map(|c| Recommended {
            instance_type: c.instance_type.clone(),
            nodes: c.nodes,
            usd_per_day: c.usd_per_day,
            confidence: c.confidence,
            measured_max: c.measured_max,
        });
    Ok(PlanResult {
        scenario: base.name.clone(),
        trace: trace.map(|t| t.display().to_string()),
        slo,
        seeds,
        autoscale: args.autoscale,
        pricing: format!(
            "{} ({})",
            if args.on_demand || !base.pools[0].spot {
                "on_demand"
            } else {
                "spot"
            },
            prices.source
        ),
        recommended,
        candidates,
        wall_s: round2(wall.elapsed().as_secs_f64()),
    })
}

/// Early stop applies to percentile objectives on submit → running (queue wait): `(threshold ns, 1 − q)`.
fn early_stop_rule(slo: &Slo) -> Option<(u64, f64)> {
    let rest = slo.key.strip_suffix("_ms")?;
    let (interval, stat) = rest.rsplit_once('_')?;
    if interval != "queue_wait" && interval != "submit_to_running" {
        return None;
    }
    let q: f64 = match stat {
        "p50" => 0.50,
        "p90" => 0.90,
        "p95" => 0.95,
        "p99" => 0.99,
        "max" => 1.0,
        _ => return None,
    };
    Some(((slo.threshold * 1e6) as u64, 1.0 - q))
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

/// Markdown summary of a plan.
pub fn plan_markdown(p: &PlanResult) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "# Capacity plan: {}\n", p.scenario);
    let _ = writeln!(
        s,
        "- objective: `{}` (≤ {} {})",
        p.slo.text,
        p.slo.threshold,
        if p.slo.key == "completion_s" {
            "s"
        } else {
            "ms"
        }
    );
    let _ = writeln!(
        s,
        "- trace: {}",
        p.trace.as_deref().unwrap_or("scenario workload")
    );
    let _ = writeln!(
        s,
        "- seeds per candidate: {:?} (common random numbers across candidates)",
        p.seeds
    );
    let _ = writeln!(
        s,
        "- sizing: {}; pricing: {}\n",
        if p.autoscale {
            "autoscaling maximum"
        } else {
            "fixed fleet"
        },
        p.pricing
    );
    match &p.recommended {
        Some(r) => {
            let _ = writeln!(
                s,
                "**Recommended: {} × {}, ${:.2}/day**, met by {:.0}% of seeds (worst measured {}).\n",
                r.nodes,
                r.instance_type,
                r.usd_per_day,
                r.confidence * 100.0,
                fmt_measure(r.measured_max, &p.slo.key)
            );
        }
        None => {
            let _ = writeln!(s, "**No candidate met the objective.** Raise `--max-nodes`, try other instance types, or relax the SLO.\n");
        }
    }
    let _ = writeln!(s, "| instance type | nodes | meets | confidence | measured mean | measured max | node-h/day | $/day |");
    let _ = writeln!(s, "|---|---:|:---:|---:|---:|---:|---:|---:|");
    for c in &p.candidates {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0}% | {} | {} | {:.1} | {:.2} |",
            c.instance_type,
            c.nodes,
            if c.meets { "yes" } else { "no" },
            c.confidence * 100.0,
            fmt_measure(c.measured_mean, &p.slo.key),
            fmt_measure(c.measured_max, &p.slo.key),
            c.node_hours_per_day,
            c.usd_per_day
        );
    }
    s
}

fn fmt_measure(v: f64, key: &str) -> String {
    if !v.is_finite() {
        "missed (work left over)".into()
    } else if key == "completion_s" {
        format!("{v:.0} s")
    } else {
        format!("{:.1} s", v / 1000.0)
    }
}

/// SVG chart: SLO metric (worst over seeds) and cost per day vs fleet size, one line per instance type.
pub fn plan_svg(p: &PlanResult) -> Result<String> {
    use plotters::prelude::*;
    let mut svg = String::new();
    {
        let root = SVGBackend::with_string(&mut svg, (1000, 700)).into_drawing_area();
        root.fill(&WHITE)?;
        let (top, bottom) = root.split_vertically(350);
        let max_n = p.candidates.iter().map(|c| c.nodes).max().unwrap_or(1) as f64;
        let unit = if p.slo.key == "completion_s" {
            1.0
        } else {
            1000.0
        };
        let finite_max = p
            .candidates
            .iter()
            .map(|c| c.measured_max / unit)
            .filter(|v| v.is_finite())
            .fold(p.slo.threshold / unit, f64::max);
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        let types: Vec<String> = {
            let mut t: Vec<String> = p
                .candidates
                .iter()
                .map(|c| c.instance_type.clone())
                .collect();
            t.dedup();
            t
        };
        let mut c1 = ChartBuilder::on(&top)
            .caption(
                format!(
                    "SLO metric ({}) vs fleet size — worst of {} seeds",
                    p.slo.text,
                    p.seeds.len()
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..max_n * 1.05, 0f64..finite_max * 1.1)?;
        c1.configure_mesh()
            .x_desc("nodes")
            .y_desc(if unit == 1.0 {
                "seconds"
            } else {
                "seconds (latency)"
            })
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        c1.draw_series(LineSeries::new(
            [
                (0.0, p.slo.threshold / unit),
                (max_n * 1.05, p.slo.threshold / unit),
            ],
            RED.stroke_width(1),
        ))?
        .label("objective")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], RED));
        for (i, t) in types.iter().enumerate() {
            let col = colors[i % colors.len()];
            let pts: Vec<(f64, f64)> = p
                .candidates
                .iter()
                .filter(|c| &c.instance_type == t)
                .map(|c| {
                    (
                        c.nodes as f64,
                        if c.measured_max.is_finite() {
                            c.measured_max / unit
                        } else {
                            finite_max * 1.1
                        },
                    )
                })
                .collect();
            c1.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?
                .label(t.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], col));
            c1.draw_series(
                pts.into_iter()
                    .map(|(x, y)| Circle::new((x, y), 3, col.filled())),
            )?;
        }
        c1.configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
        let max_usd = p
            .candidates
            .iter()
            .map(|c| c.usd_per_day)
            .fold(1.0, f64::max);
        let mut c2 = ChartBuilder::on(&bottom)
            .caption(
                "Cost per day vs fleet size (pool + servers)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..max_n * 1.05, 0f64..max_usd * 1.1)?;
        c2.configure_mesh()
            .x_desc("nodes")
            .y_desc("USD per day")
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (i, t) in types.iter().enumerate() {
            let col = colors[i % colors.len()];
            let pts: Vec<(f64, f64)> = p
                .candidates
                .iter()
                .filter(|c| &c.instance_type == t)
                .map(|c| (c.nodes as f64, c.usd_per_day))
                .collect();
            c2.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?
                .label(t.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], col));
            c2.draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, col.filled())),
            )?;
        }
        if let Some(r) = &p.recommended {
            c2.draw_series(std::iter::once(Circle::new(
                (r.nodes as f64, r.usd_per_day),
                7,
                GREEN.stroke_width(3),
            )))?
            .label(format!("recommended: {} × {}", r.nodes, r.instance_type))
            .legend(|(x, y)| Circle::new((x + 7, y), 5, GREEN.stroke_width(2)));
        }
        c2.configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
        root.present()?;
    }
    Ok(svg)
}

/// Runs the command.
pub fn run(args: PlanArgs) -> Result<u8> {
    let quiet = args.quiet || args.json;
    let p = plan(&args, &mut |m| {
        if !quiet {
            eprintln!("{m}");
        }
    })?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let json = serde_json::to_string_pretty(&p)? + "\n";
        crate::record_io::write_atomic(&out.join("plan.json"), json.as_bytes())?;
        let md = plan_markdown(&p);
        crate::record_io::write_atomic(&out.join("plan.md"), md.as_bytes())?;
        let svg = plan_svg(&p)?;
        let html = format!(
            "<!doctype html><html><head><meta charset=\"utf-8\"><title>Capacity plan: {}</title><style>body{{font-family:sans-serif;max-width:1050px;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px}}</style></head><body><pre style=\"white-space:pre-wrap\">{}</pre>{}</body></html>\n",
            p.scenario,
            html_escape(&md),
            svg
        );
        crate::record_io::write_atomic(&out.join("plan.html"), html.as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else if !args.quiet {
        print!("{}", plan_markdown(&p));
        println!(
            "\nsearched {} candidates in {:.1} s",
            p.candidates.len(),
            p.wall_s
        );
    }
    Ok(if p.recommended.is_some() {
        0
    } else {
        crate::EXIT_FAIL
    })
}

fn html_escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_parsing() {
        let s = parse_slo("queue_wait.p95 <= 60s").unwrap();
        assert_eq!(s.key, "queue_wait_p95_ms");
        assert_eq!(s.threshold, 60_000.0);
        assert_eq!(
            parse_slo("submit_to_running.p99 <= 5000")
                .unwrap()
                .threshold,
            5000.0
        );
        assert_eq!(parse_slo("completion_s <= 1h").unwrap().threshold, 3600.0);
        assert!(parse_slo("queue_wait.p95 < 60s").is_err());
        assert!(parse_slo("latency.p95 <= 60s").is_err());
        assert!(parse_slo("queue_wait.p95 <= soon").is_err());
    }
}
