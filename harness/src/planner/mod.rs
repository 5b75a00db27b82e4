//! `stampede plan`: search server configurations and client fleet sizes per instance type for the cheapest
//! cluster that meets an SLO.
//!
//! For each server configuration (`--server-types` × `--server-counts`, default the scenario's own) and
//! each client instance type, the scenario's servers are set (through the scenario loader, so cores,
//! memory, clock, storage and schedulers follow the server type: [`servers`]), its first pool is re-typed
//! (CPU and memory from the instance table) and replayed at candidate sizes (fixed fleets, or autoscaling
//! maxima with `--autoscale`). Every candidate runs with the same seeds (common random numbers: the same
//! trace and the same random streams, so differences between candidates come from the cluster, not from
//! noise), one simulation per thread. A candidate meets the SLO when every seed meets it; its confidence is
//! the share of seeds that do. Per (server configuration, client type) the search evaluates a coarse grid,
//! then bisects between the largest failing and the smallest passing size (SLO attainment is monotone in
//! fleet size up to noise; the grid guards against local non-monotonicity). The recommendation is the
//! cheapest candidate meeting the SLO over every server configuration, servers (on demand × count) plus
//! client fleet.
//!
//! | file | what |
//! |---|---|
//! | [`slo`] | the objective: a [`stampede_sim::metric::Metric`] and a threshold |
//! | [`servers`] | the server configurations tried and the scenario of each |
//! | [`candidate`] | one candidate: its scenario, one simulated seed, prices |
//! | this file | the request, the search (grid then bisection) and the plan |
//!
//! The plan's Markdown, SVG and HTML are rendered by [`crate::report::plan`].

pub mod candidate;
pub mod servers;
pub mod slo;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use stampede_sim::scenario::Scenario;

use crate::cost::prices::PriceTable;
use crate::files;
use candidate::{price_per_hour, run_parallel, scenario_for, Ctx};
pub use servers::ServerConfig;
pub use slo::{parse_slo, Slo};

/// What to plan: the typed request behind `stampede plan`.
#[derive(Debug, Clone)]
pub struct PlanRequest {
    /// Scenario giving the control plane and the pool to size (its first pool).
    pub scenario: PathBuf,
    /// Trace to replay (default: the scenario's workload).
    pub trace: Option<PathBuf>,
    /// The objective (see [`parse_slo`]).
    pub slo: Slo,
    /// Instance types to consider (default: the pool's own type).
    pub instance_types: Vec<String>,
    /// Server instance types to consider (default: the scenario's own server type).
    pub server_types: Vec<String>,
    /// Server counts to consider (default: the scenario's own count).
    pub server_counts: Vec<u32>,
    /// Largest fleet to consider.
    pub max_nodes: u32,
    /// Smallest fleet to consider.
    pub min_nodes: u32,
    /// Sizes in the coarse grid per instance type.
    pub grid: u32,
    /// Seeds (replications) per candidate.
    pub seeds: u32,
    /// First seed (seeds are SEED, SEED+1, …).
    pub seed: u64,
    /// Size the autoscaling maximum instead of a fixed fleet (the pool must have `[pools.autoscale]`).
    pub autoscale: bool,
    /// Price with on-demand instead of the pool's spot setting.
    pub on_demand: bool,
    /// Price table override (CSV, same columns as harness/data/prices.csv).
    pub prices: Option<PathBuf>,
    /// Worker threads (default: available cores).
    pub threads: Option<usize>,
    /// Calibration applied on top of the scenario's `[params]` (`--calibration`).
    pub calibration: Option<PathBuf>,
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
    /// Highest per-second CPU use of any server, percent of all its cores (until the replay stopped).
    pub server_cpu_pct_max: f64,
}

/// One evaluated configuration: servers and client fleet.
#[derive(Debug, Clone, Serialize)]
pub struct Candidate {
    /// Client instance type.
    pub instance_type: String,
    /// Client fleet size (or autoscaling maximum).
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
    /// Server instance type.
    pub server_type: String,
    /// Number of servers.
    pub servers: u32,
    /// Cost per day of the servers alone (on demand × count × 24 h), USD.
    pub server_usd_per_day: f64,
    /// Highest per-second CPU use of any server over the seeds, percent of all its cores.
    pub server_cpu_pct_max: f64,
}

/// The recommendation.
#[derive(Debug, Clone, Serialize)]
pub struct Recommended {
    /// Client instance type.
    pub instance_type: String,
    /// Client fleet size (or autoscaling maximum).
    pub nodes: u32,
    /// Cost per day (servers and client fleet), USD.
    pub usd_per_day: f64,
    /// Share of seeds meeting the SLO.
    pub confidence: f64,
    /// Worst measured metric.
    pub measured_max: f64,
    /// Server instance type.
    pub server_type: String,
    /// Number of servers.
    pub servers: u32,
}

/// One server configuration of the plan: what it is, its cheapest client fleet meeting the SLO, and why it
/// was not recommended.
#[derive(Debug, Clone, Serialize)]
pub struct ServerPlan {
    /// Server instance type.
    pub server_type: String,
    /// Number of servers.
    pub servers: u32,
    /// vCPUs per server (GOMAXPROCS) as simulated.
    pub cores: u32,
    /// Memory per server, GiB.
    pub memory_gib: f64,
    /// Per-core clock, MHz.
    pub mhz_per_core: u32,
    /// Storage class of the servers' data dir.
    pub storage: String,
    /// Scheduler workers per server.
    pub num_schedulers: u32,
    /// Type-derived `[cluster]` keys the scenario pins (they did not follow this server type).
    pub pinned: Vec<String>,
    /// Cost per day of the servers alone (on demand × count × 24 h), USD.
    pub usd_per_day: f64,
    /// Whether some client fleet met the SLO with these servers.
    pub meets: bool,
    /// The cheapest client fleet meeting the SLO with these servers (instance type, nodes, total USD/day,
    /// worst measured), if any.
    pub best: Option<Recommended>,
    /// Whether this is the recommended configuration's server set.
    pub recommended: bool,
    /// Why it was or was not recommended, in words.
    pub verdict: String,
}

/// One (candidate, seed) evaluation whose result never came back (plans evaluated on Nomad with
/// `--allow-partial`).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct AbsentResult {
    /// Client instance type.
    pub instance_type: String,
    /// Client fleet size (or autoscaling maximum).
    pub nodes: u32,
    /// Seed.
    pub seed: u64,
    /// Why it is absent (the work unit and what became of it).
    pub reason: String,
    /// Server instance type.
    pub server_type: String,
    /// Number of servers.
    pub servers: u32,
}

/// One evaluation to run: servers, client instance type, nodes, seed. Work units of `plan --on-nomad`
/// carry these as they are.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
pub struct Work {
    /// Server instance type.
    pub server_type: String,
    /// Number of servers.
    pub servers: u32,
    /// Client instance type.
    pub instance_type: String,
    /// Client fleet size (or autoscaling maximum).
    pub nodes: u32,
    /// Seed.
    pub seed: u64,
}

impl Work {
    /// The server configuration of this evaluation.
    pub fn server(&self) -> ServerConfig {
        ServerConfig {
            instance_type: self.server_type.clone(),
            count: self.servers,
        }
    }
}

/// A candidate's identity: (servers, client instance type, nodes).
type Key = (ServerConfig, String, u32);

/// Where the evaluations of a plan run: [`LocalEvaluator`] (threads on this machine) or
/// [`crate::distrib::plan::NomadEvaluator`] (batch jobs on a Nomad cluster).
pub trait Evaluator {
    /// Evaluates `jobs` (each the same request, [`PlanRequest`]); results in input order. `Err` for a
    /// result that never came back (with the reason); an error for the whole batch stops the plan.
    fn evaluate(
        &mut self,
        req: &PlanRequest,
        jobs: &[Work],
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<std::result::Result<SeedResult, String>>>;

    /// Describes where the work ran, for `plan.json` (`None`: locally, nothing added).
    fn describe(&self) -> Option<serde_json::Value> {
        None
    }
}

/// The evaluations on this machine, one simulation per thread.
pub struct LocalEvaluator {
    ctx: Option<Ctx>,
}

impl LocalEvaluator {
    /// A local evaluator (its context is built from the request on first use).
    pub fn new() -> LocalEvaluator {
        LocalEvaluator { ctx: None }
    }
}

impl Default for LocalEvaluator {
    fn default() -> Self {
        Self::new()
    }
}

impl Evaluator for LocalEvaluator {
    fn evaluate(
        &mut self,
        req: &PlanRequest,
        jobs: &[Work],
        _progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<std::result::Result<SeedResult, String>>> {
        if self.ctx.is_none() {
            self.ctx = Some(context(req)?);
        }
        let ctx = self.ctx.as_mut().expect("built above");
        add_servers(ctx, req, jobs)?;
        Ok(run_parallel(ctx, jobs, threads_of(req))?
            .into_iter()
            .map(Ok)
            .collect())
    }
}

fn threads_of(req: &PlanRequest) -> usize {
    req.threads.unwrap_or_else(|| {
        std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(1)
    })
}

/// Evaluates `jobs` of `req` on `threads` threads, exactly as [`plan`] does: what a plan worker on a
/// Nomad client runs (`stampede plan-worker`).
pub fn evaluate_work(req: &PlanRequest, jobs: &[Work], threads: usize) -> Result<Vec<SeedResult>> {
    let mut ctx = context(req)?;
    add_servers(&mut ctx, req, jobs)?;
    run_parallel(&ctx, jobs, threads)
}

/// The shared context of every evaluation of one request: SLO, seeds, trace (the scenarios per server
/// configuration are added by [`add_servers`]).
fn context(args: &PlanRequest) -> Result<Ctx> {
    let base = files::load_scenario(&args.scenario, 1.0)?;
    let slo = args.slo.clone();
    let trace = crate::simulate::trace_of(&base, args.trace.as_deref());
    let mut ctx = Ctx {
        bases: BTreeMap::new(),
        slo: slo.clone(),
        autoscale: args.autoscale,
        trace: trace.clone(),
        trace_cache: Mutex::new(None),
        early_stop: slo.early_stop_rule(),
        total_allocs: None,
    };
    if let Some(t) = &trace {
        ctx.total_allocs = Some(files::read_trace(t)?.total_allocs());
    } else if let stampede_sim::scenario::WorkloadSource::Synthetic { template, .. } =
        &base.workload
    {
        ctx.total_allocs =
            Some(template.jobs as u64 * template.groups as u64 * template.count as u64);
    }
    if let Some(t) = &trace {
        let loaded = files::trace_source_factory(t)?;
        *ctx.trace_cache.lock().expect("lock") = Some(loaded);
    }
    Ok(ctx)
}

/// Adds to `ctx` the scenario (calibration applied) of every server configuration in `jobs` it lacks.
fn add_servers(ctx: &mut Ctx, req: &PlanRequest, jobs: &[Work]) -> Result<()> {
    let mut missing: Vec<ServerConfig> = jobs
        .iter()
        .map(Work::server)
        .filter(|c| !ctx.bases.contains_key(c))
        .collect();
    missing.sort();
    missing.dedup();
    if missing.is_empty() {
        return Ok(());
    }
    let own = files::load_scenario(&req.scenario, 1.0)?;
    let cal = req
        .calibration
        .as_deref()
        .map(crate::calibrate::load_calibration)
        .transpose()?;
    for c in missing {
        let mut sc = servers::scenario_with_servers(&req.scenario, &own, &c)?;
        if let Some(cal) = &cal {
            // Its warnings were printed once when the plan loaded the calibration.
            crate::calibrate::apply_calibration(&mut sc, cal)?;
        }
        ctx.bases.insert(c, sc);
    }
    Ok(())
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
    /// Every candidate evaluated, by server type, server count, client instance type, then size.
    pub candidates: Vec<Candidate>,
    /// Wall time of the search, s.
    pub wall_s: f64,
    /// Evaluations whose result never came back (only with `--on-nomad --allow-partial`; candidates
    /// missing a seed are not in `candidates` and cannot be recommended).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub absent: Vec<AbsentResult>,
    /// Where the evaluations ran, when not on this machine (`--on-nomad`: job, work units, allocations).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub executor: Option<serde_json::Value>,
    /// Every server configuration tried, in the order given, with its best client fleet and verdict.
    pub server_configs: Vec<ServerPlan>,
    /// Warnings about the request (e.g. an even server count).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Runs the search on this machine and returns the plan (no files written).
pub fn plan(args: &PlanRequest, progress: &mut dyn FnMut(&str)) -> Result<PlanResult> {
    plan_with(args, &mut LocalEvaluator::new(), false, progress)
}

/// Runs the search with the evaluations done by `evaluator` and returns the plan (no files written). A
/// result that never came back stops the plan with an error naming it, unless `allow_partial`: then the
/// plan lists it under `absent` and decides with the rest.
pub fn plan_with(
    args: &PlanRequest,
    evaluator: &mut dyn Evaluator,
    allow_partial: bool,
    progress: &mut dyn FnMut(&str),
) -> Result<PlanResult> {
    let wall = Instant::now();
    let mut base = files::load_scenario(&args.scenario, 1.0)?;
    crate::calibrate::apply_flag(&mut base, args.calibration.as_deref())?;
    let slo = args.slo.clone();
    if args.max_nodes as u64 > stampede_sim::limits::MAX_NODES {
        bail!(
            "--max-nodes {} is beyond the bound of {} nodes",
            args.max_nodes,
            stampede_sim::limits::MAX_NODES
        );
    }
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
    let (configs, notes) = servers::server_configs(&base, &args.server_types, &args.server_counts)?;
    for n in &notes {
        progress(&format!("warning: {n}"));
    }
    // Server sizing compares server prices: each needs one (without sizing a missing one costs 0, as before).
    let sizing = configs.len() > 1 || !servers::is_own(&base, &configs[0]);
    let pinned = if sizing {
        servers::pinned_keys(&args.scenario)?
    } else {
        Vec::new()
    };
    let prices = PriceTable::embedded_with_overrides(args.prices.as_deref())?;
    let mut server_scenarios: BTreeMap<ServerConfig, Scenario> = BTreeMap::new();
    let mut server_usd_per_day: BTreeMap<ServerConfig, f64> = BTreeMap::new();
    for c in &configs {
        let sc = servers::scenario_with_servers(&args.scenario, &base, c)?;
        let (_, per_hour) = price_per_hour(
            &prices,
            &sc,
            &base.pools[0].instance_type,
            args.on_demand,
            sizing,
        )
        .with_context(|| format!("--server-types: pricing {c} servers"))?;
        server_usd_per_day.insert(c.clone(), round2(per_hour * 24.0));
        server_scenarios.insert(c.clone(), sc);
    }
    for it in &types {
        stampede_sim::instances::lookup(it)
            .with_context(|| format!("--instance-types: unknown instance type `{it}`"))?;
        price_per_hour(&prices, &base, it, args.on_demand, false)?;
    }
    if sizing && !pinned.is_empty() {
        progress(&format!(
            "note: the scenario pins {} in [cluster]: they stay as set for every server type",
            pinned.join(", ")
        ));
    }
    let seeds: Vec<u64> = (0..args.seeds as u64).map(|k| args.seed + k).collect();
    let trace = crate::simulate::trace_of(&base, args.trace.as_deref());
    let threads = threads_of(args);
    let mut evaluated: BTreeMap<Key, Vec<SeedResult>> = BTreeMap::new();
    let mut absent: Vec<AbsentResult> = Vec::new();
    let is_absent = |absent: &[AbsentResult], k: &Key| {
        absent.iter().any(|a| {
            a.server_type == k.0.instance_type
                && a.servers == k.0.count
                && a.instance_type == k.1
                && a.nodes == k.2
        })
    };
    let mut eval_sizes = |sizes: Vec<Key>,
                          evaluated: &mut BTreeMap<Key, Vec<SeedResult>>,
                          absent: &mut Vec<AbsentResult>|
     -> Result<()> {
        let sizes: Vec<Key> = sizes
            .into_iter()
            .filter(|k| !evaluated.contains_key(k) && !is_absent(absent, k))
            .collect();
        if sizes.is_empty() {
            return Ok(());
        }
        let jobs: Vec<Work> = sizes
            .iter()
            .flat_map(|(sv, it, n)| {
                seeds.iter().map(move |&s| Work {
                    server_type: sv.instance_type.clone(),
                    servers: sv.count,
                    instance_type: it.clone(),
                    nodes: *n,
                    seed: s,
                })
            })
            .collect();
        progress(&format!(
            "evaluating {} candidates × {} seeds {}",
            sizes.len(),
            seeds.len(),
            if evaluator.describe().is_some() {
                "as Nomad batch jobs".to_string()
            } else {
                format!("on {threads} threads")
            }
        ));
        let res = evaluator.evaluate(args, &jobs, progress)?;
        if res.len() != jobs.len() {
            bail!(
                "the evaluator returned {} results for {} evaluations",
                res.len(),
                jobs.len()
            );
        }
        let mut missing = Vec::new();
        for (k, chunk) in sizes.into_iter().zip(res.chunks(seeds.len())) {
            if chunk.iter().all(|r| r.is_ok()) {
                evaluated.insert(k, chunk.iter().filter_map(|r| r.clone().ok()).collect());
            } else {
                for (r, &seed) in chunk.iter().zip(&seeds) {
                    if let Err(reason) = r {
                        missing.push(AbsentResult {
                            instance_type: k.1.clone(),
                            nodes: k.2,
                            seed,
                            reason: reason.clone(),
                            server_type: k.0.instance_type.clone(),
                            servers: k.0.count,
                        });
                    }
                }
            }
        }
        if !missing.is_empty() && !allow_partial {
            let list: Vec<String> = missing
                .iter()
                .take(10)
                .map(|a| {
                    format!(
                        "{} × {} with {} × {} servers seed {}: {}",
                        a.nodes, a.instance_type, a.servers, a.server_type, a.seed, a.reason
                    )
                })
                .collect();
            bail!(
                "{} evaluation results never came back, so the plan would be missing candidates ({}{}); rerun, or pass --allow-partial to plan without them (plan.json then lists them under `absent`)",
                missing.len(),
                list.join("; "),
                if missing.len() > 10 { "; …" } else { "" }
            );
        }
        absent.extend(missing);
        Ok(())
    };
    // Coarse grid (geometric, always including min and max), per (servers, type), all in one batch.
    let grid: Vec<u32> = {
        let (lo, hi) = (args.min_nodes as f64, args.max_nodes as f64);
        let k = args.grid.max(2);
        let mut g: Vec<u32> = (0..k)
            .map(|i| (lo * (hi / lo).powf(i as f64 / (k - 1) as f64)).round() as u32)
            .collect();
        g.dedup();
        g
    };
    let groups: Vec<(ServerConfig, String)> = configs
        .iter()
        .flat_map(|c| types.iter().map(move |t| (c.clone(), t.clone())))
        .collect();
    eval_sizes(
        groups
            .iter()
            .flat_map(|(c, t)| grid.iter().map(move |&n| (c.clone(), t.clone(), n)))
            .collect(),
        &mut evaluated,
        &mut absent,
    )?;
    // Bisect between the largest failing and the smallest passing grid size, per (servers, type), in
    // lockstep.
    loop {
        let mut next = Vec::new();
        for (c, t) in &groups {
            let meets = |n: u32, ev: &BTreeMap<Key, Vec<SeedResult>>| {
                ev.get(&(c.clone(), t.clone(), n))
                    .map(|r| r.iter().all(|s| s.met))
            };
            let sizes: Vec<u32> = evaluated
                .keys()
                .filter(|(sc, it, _)| sc == c && it == t)
                .map(|(_, _, n)| *n)
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
                let mid = f + (pass - f) / 2;
                // A size whose result never came back ends the bisection of its group (the gap stays).
                let key = (c.clone(), t.clone(), mid);
                if pass - f > 1 && !is_absent(&absent, &key) {
                    next.push(key);
                }
            }
        }
        if next.is_empty() {
            break;
        }
        eval_sizes(next, &mut evaluated, &mut absent)?;
    }
    let mut candidates = Vec::new();
    for ((sv, it, n), res) in &evaluated {
        let server_sc = &server_scenarios[sv];
        let sc = scenario_for(server_sc, it, *n, args.autoscale)?;
        let (node_price, server_price) = price_per_hour(&prices, &sc, it, args.on_demand, sizing)?;
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
            server_type: sv.instance_type.clone(),
            servers: sv.count,
            server_usd_per_day: round2(server_price * 24.0),
            server_cpu_pct_max: res.iter().map(|r| r.server_cpu_pct_max).fold(0.0, f64::max),
        });
    }
    let recommended = cheapest(candidates.iter());
    let server_configs = configs
        .iter()
        .map(|c| {
            let sc = &server_scenarios[c];
            let mine = |x: &&Candidate| x.server_type == c.instance_type && x.servers == c.count;
            let best = cheapest(candidates.iter().filter(mine));
            let is_rec = recommended
                .as_ref()
                .is_some_and(|r| r.server_type == c.instance_type && r.servers == c.count);
            let verdict = server_verdict(c, &candidates, best.as_ref(), recommended.as_ref(), &slo);
            ServerPlan {
                server_type: c.instance_type.clone(),
                servers: c.count,
                cores: sc.cluster.cores,
                memory_gib: sc.cluster.memory_gib,
                mhz_per_core: sc.cluster.mhz_per_core,
                storage: sc.cluster.storage.clone(),
                num_schedulers: sc.cluster.num_schedulers,
                pinned: pinned.clone(),
                usd_per_day: server_usd_per_day[c],
                meets: best.is_some(),
                best,
                recommended: is_rec,
                verdict,
            }
        })
        .collect();
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
        absent,
        executor: evaluator.describe(),
        server_configs,
        notes,
    })
}

/// The cheapest candidate meeting the SLO (ties: fewer client nodes, then fewer servers).
fn cheapest<'a>(of: impl Iterator<Item = &'a Candidate>) -> Option<Recommended> {
    of.filter(|c| c.meets)
        .min_by(|a, b| {
            a.usd_per_day
                .total_cmp(&b.usd_per_day)
                .then(a.nodes.cmp(&b.nodes))
                .then(a.servers.cmp(&b.servers))
        })
        .map(|c| Recommended {
            instance_type: c.instance_type.clone(),
            nodes: c.nodes,
            usd_per_day: c.usd_per_day,
            confidence: c.confidence,
            measured_max: c.measured_max,
            server_type: c.server_type.clone(),
            servers: c.servers,
        })
}

/// Why server configuration `c` was or was not recommended: the recommendation; a configuration that
/// meets the objective but costs more; or one that missed it with every client fleet tried — its best
/// measurement, its servers' CPU peak there, and whether other servers met the objective with no more
/// clients (then the servers are the bottleneck).
fn server_verdict(
    c: &ServerConfig,
    candidates: &[Candidate],
    best: Option<&Recommended>,
    recommended: Option<&Recommended>,
    slo: &Slo,
) -> String {
    let mine: Vec<&Candidate> = candidates
        .iter()
        .filter(|x| x.server_type == c.instance_type && x.servers == c.count)
        .collect();
    if let Some(b) = best {
        return match recommended {
            Some(r) if r.server_type == c.instance_type && r.servers == c.count => format!(
                "recommended: the cheapest configuration meeting the objective ({} × {} clients)",
                b.nodes, b.instance_type
            ),
            Some(r) => format!(
                "meets the objective with {} × {} clients at ${:.2}/day, ${:.2}/day more than the recommendation",
                b.nodes,
                b.instance_type,
                b.usd_per_day,
                b.usd_per_day - r.usd_per_day
            ),
            // A configuration with a fleet meeting the objective implies a recommendation.
            None => "meets the objective".into(),
        };
    }
    // Missed everywhere: the closest it came (lowest worst-seed measurement; ties → more clients).
    let Some(closest) = mine.iter().min_by(|a, b| {
        a.measured_max
            .total_cmp(&b.measured_max)
            .then(b.nodes.cmp(&a.nodes))
    }) else {
        return "no result: every evaluation of these servers is absent".into();
    };
    let (smallest, largest) = (
        mine.iter().map(|x| x.nodes).min().unwrap_or(0),
        mine.iter().map(|x| x.nodes).max().unwrap_or(0),
    );
    let fmt = |v: f64| crate::report::plan::fmt_measure(v, slo.metric);
    let at = format!("{} × {} clients", closest.nodes, closest.instance_type);
    let closest_text = if closest.measured_max.is_finite() {
        format!(
            "closest {} with {at} (objective ≤ {})",
            fmt(closest.measured_max),
            fmt(slo.threshold)
        )
    } else if closest.seeds.iter().any(|r| r.stopped_early) {
        format!(
            "even with {at} the replay was stopped early, once the objective (≤ {}) was out of reach",
            fmt(slo.threshold)
        )
    } else {
        format!("even with {at} work was left unplaced or unfinished")
    };
    let mut s = format!(
        "missed the objective with every client fleet tried ({smallest} to {largest} nodes): {closest_text}; server CPU peaked at {:.0}% of its cores",
        closest.server_cpu_pct_max,
    );
    // Other servers meeting it with the same client type and no more nodes: these servers are the limit.
    let other = candidates
        .iter()
        .filter(|x| {
            x.meets
                && !(x.server_type == c.instance_type && x.servers == c.count)
                && x.instance_type == closest.instance_type
                && x.nodes <= closest.nodes
        })
        .min_by(|a, b| {
            a.usd_per_day
                .total_cmp(&b.usd_per_day)
                .then(a.nodes.cmp(&b.nodes))
        });
    if let Some(o) = other {
        s.push_str(&format!(
            "; {} × {} servers met it with {} × {} clients (server CPU peak {:.0}%): the servers are the bottleneck",
            o.servers, o.server_type, o.nodes, o.instance_type, o.server_cpu_pct_max
        ));
    }
    s
}

fn round2(x: f64) -> f64 {
    (x * 100.0).round() / 100.0
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cand(server: (&str, u32), nodes: u32, measured: f64, usd: f64, cpu: f64) -> Candidate {
        let met = measured <= 3000.0;
        Candidate {
            instance_type: "m5.4xlarge".into(),
            nodes,
            seeds: vec![SeedResult {
                seed: 1,
                measured,
                met,
                node_hours: 1.0,
                span_hours: 1.0,
                unplaced: 0,
                stopped_early: !measured.is_finite(),
                server_cpu_pct_max: cpu,
            }],
            measured_mean: measured,
            measured_max: measured,
            confidence: if met { 1.0 } else { 0.0 },
            meets: met,
            node_hours_per_day: 24.0,
            usd_per_day: usd,
            server_type: server.0.into(),
            servers: server.1,
            server_usd_per_day: 0.0,
            server_cpu_pct_max: cpu,
        }
    }

    fn cfg(t: &str, n: u32) -> ServerConfig {
        ServerConfig {
            instance_type: t.into(),
            count: n,
        }
    }

    #[test]
    fn the_cheapest_configuration_wins_over_every_server_configuration() {
        let cs = [
            cand(("c5.4xlarge", 3), 10, 2000.0, 150.0, 30.0),
            cand(("c5.xlarge", 3), 10, 2500.0, 113.0, 70.0),
            cand(("c5.xlarge", 3), 8, 3500.0, 100.0, 90.0),
            cand(("c5.xlarge", 5), 10, 2400.0, 121.0, 60.0),
        ];
        let r = cheapest(cs.iter()).unwrap();
        assert_eq!(
            (r.server_type.as_str(), r.servers, r.nodes),
            ("c5.xlarge", 3, 10)
        );
        // Equal cost: fewer client nodes, then fewer servers.
        let tie = [
            cand(("c5.xlarge", 5), 10, 2000.0, 100.0, 30.0),
            cand(("c5.xlarge", 3), 10, 2000.0, 100.0, 30.0),
        ];
        assert_eq!(cheapest(tie.iter()).unwrap().servers, 3);
        assert!(cheapest(cs.iter().filter(|c| !c.meets)).is_none());
    }

    #[test]
    fn verdicts_say_why_a_server_configuration_was_not_recommended() {
        let slo = parse_slo("queue_wait.p95 <= 3s").unwrap();
        let cs = vec![
            cand(("c5.xlarge", 1), 8, f64::INFINITY, 60.0, 93.0),
            cand(("c5.xlarge", 1), 32, 3900.0, 200.0, 94.0),
            cand(("c5.4xlarge", 1), 8, 3100.0, 70.0, 40.0),
            cand(("c5.4xlarge", 1), 11, 2700.0, 97.0, 36.0),
            cand(("c6i.8xlarge", 1), 11, 2500.0, 130.0, 20.0),
        ];
        let rec = cheapest(cs.iter());
        let small = cfg("c5.xlarge", 1);
        let v = server_verdict(&small, &cs, None, rec.as_ref(), &slo);
        assert_eq!(
            v,
            "missed the objective with every client fleet tried (8 to 32 nodes): closest 3.9 s with 32 × \
             m5.4xlarge clients (objective ≤ 3.0 s); server CPU peaked at 94% of its cores; 1 × c5.4xlarge \
             servers met it with 11 × m5.4xlarge clients (server CPU peak 36%): the servers are the bottleneck"
        );
        let big = cfg("c5.4xlarge", 1);
        let best = cheapest(cs.iter().filter(|c| c.server_type == "c5.4xlarge"));
        let v = server_verdict(&big, &cs, best.as_ref(), rec.as_ref(), &slo);
        assert!(v.starts_with("recommended"), "{v}");
        let huge = cfg("c6i.8xlarge", 1);
        let best = cheapest(cs.iter().filter(|c| c.server_type == "c6i.8xlarge"));
        let v = server_verdict(&huge, &cs, best.as_ref(), rec.as_ref(), &slo);
        assert_eq!(
            v,
            "meets the objective with 11 × m5.4xlarge clients at $130.00/day, $33.00/day more than the \
             recommendation"
        );
        // Every replay stopped early: no measurement to quote, and said so.
        let only_early = vec![cs[0].clone()];
        let v = server_verdict(&small, &only_early, None, None, &slo);
        assert!(
            v.contains(
                "the replay was stopped early, once the objective (≤ 3.0 s) was out of reach"
            ),
            "{v}"
        );
        assert!(
            !v.contains("bottleneck"),
            "no other servers to compare: {v}"
        );
    }
}
