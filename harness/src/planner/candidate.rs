//! One candidate: the scenario with its servers set, its client pool re-typed and re-sized, one simulated
//! seed of it, and its prices.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Mutex;

use anyhow::{Context, Result};
use stampede_sim::runner::{self, RunOptions};
use stampede_sim::scenario::Scenario;

use super::servers::ServerConfig;
use super::{SeedResult, Slo, Work};
use crate::cost::prices::PriceTable;
use crate::files;

/// What every evaluation of one search shares.
pub(crate) struct Ctx {
    /// The scenario (calibration applied) per server configuration evaluated.
    pub(crate) bases: BTreeMap<ServerConfig, Scenario>,
    pub(crate) slo: Slo,
    pub(crate) autoscale: bool,
    pub(crate) trace: Option<PathBuf>,
    pub(crate) trace_cache: Mutex<Option<files::TraceSourceFactory>>,
    /// (threshold ns, tolerated late fraction) for latency SLOs on submit → running.
    pub(crate) early_stop: Option<(u64, f64)>,
    /// Allocations the workload asks for, when known.
    pub(crate) total_allocs: Option<u64>,
}

/// The scenario with its first pool re-typed to `instance_type` and sized to `nodes` (or the autoscaling
/// maximum).
pub(crate) fn scenario_for(
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

pub(crate) fn evaluate(ctx: &Ctx, w: &Work) -> Result<SeedResult> {
    let (instance_type, nodes, seed) = (w.instance_type.as_str(), w.nodes, w.seed);
    let base = ctx.bases.get(&w.server()).with_context(|| {
        format!(
            "no scenario prepared for {} servers (internal: the context lacks it)",
            w.server()
        )
    })?;
    let sc = scenario_for(base, instance_type, nodes, ctx.autoscale)?;
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
    let (rec, stats) =
        runner::run_scenario(&sc, source, &opts, &mut |_| {}).with_context(|| {
            format!(
                "simulating {nodes} × {instance_type} with {} servers (seed {seed})",
                w.server()
            )
        })?;
    let s = &rec.meta.summary;
    let mut measured = ctx.slo.metric.value(s);
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
        server_cpu_pct_max: s.servers.cpu_pct_max,
    })
}

/// Runs `jobs` on `threads` threads; results in input order.
pub(crate) fn run_parallel(ctx: &Ctx, jobs: &[Work], threads: usize) -> Result<Vec<SeedResult>> {
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
                let r = evaluate(ctx, &jobs[i]);
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

/// (price of one client node of type `it`, price of all the servers of `sc`), USD per hour, in the first
/// pool's region. Servers are priced on demand (they are never spot). A server type without a price costs
/// 0 unless `require_server` (server sizing compares server prices, so there a missing one is an error).
pub(crate) fn price_per_hour(
    prices: &PriceTable,
    sc: &Scenario,
    it: &str,
    on_demand: bool,
    require_server: bool,
) -> Result<(f64, f64)> {
    let region = &sc.pools[0].region;
    let p = prices.require(it, region)?;
    let node = if on_demand || !sc.pools[0].spot {
        p.on_demand
    } else {
        p.spot
    };
    let server = if require_server {
        Some(prices.require(&sc.cluster.instance_type, region)?)
    } else {
        prices.get(&sc.cluster.instance_type, region)
    };
    let servers = server.map_or(0.0, |sp| sp.on_demand * sc.cluster.servers as f64);
    Ok((node, servers))
}
