//! The cost model of a run record or of a scenario's fleet, priced with [`prices::PriceTable`].
//!
//! * **Clients**: instance-hours per (instance type, region, spot) from `nodes.csv` (each node from
//!   `joined_ns` to `left_ns`, or to the end of the run), or, when `nodes.csv` is empty, from run.json's
//!   `fleet[].node_hours`. Priced at the spot or on-demand price per the pool's `spot` flag; the report also
//!   gives what the same hours cost entirely on spot and entirely on demand.
//! * **Servers**: each of run.json's `servers[]` with a known `instance_type`, on demand, for the whole run,
//!   in the region of the first fleet entry (`us-east-1` if there is none). Servers of unknown type are
//!   listed as unpriced.
//! * **Interruptions**: run.json events of kind `spot_interruption`; the work they wasted is the
//!   compute time (`running_ns` → `done_ns`, or the end of the run) of every `allocs.csv` row with
//!   `lost = 1`.
//! * **Expected interruptions per day**: for each spot pool, average nodes × the monthly interruption rate
//!   (the price table's Spot-Advisor bucket midpoint, or an override per type) ÷ 30.44 days per month.
//! * **$ per 1,000 CI jobs**: total ÷ `summary.jobs_submitted` × 1,000.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use serde::Serialize;
use stampede_sim::record::RunRecord;
use stampede_sim::scenario::Scenario;

pub mod live;
pub mod prices;

use prices::PriceTable;

/// Days per month used to turn monthly interruption rates into daily ones (365.25 / 12).
pub const DAYS_PER_MONTH: f64 = 30.4375;

/// Inputs of the cost model beyond the record.
#[derive(Debug, Clone, Default)]
pub struct CostOptions {
    /// Interruption rate overrides by instance type, interruptions per instance per month (fraction).
    pub interruption_rates: BTreeMap<String, f64>,
}

impl CostOptions {
    fn rate(&self, prices: &PriceTable, ty: &str, region: &str) -> Result<f64> {
        match self.interruption_rates.get(ty) {
            Some(r) => Ok(*r),
            None => Ok(prices.require(ty, region)?.interruption_rate_per_month),
        }
    }
}

/// Hourly price pair, USD per hour.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Default)]
pub struct PerHour {
    /// Everything priced on spot (servers stay on demand), USD/h.
    pub spot: f64,
    /// Everything on demand, USD/h.
    pub on_demand: f64,
}

/// Cost of one (instance type, region, spot) part of the client fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TypeRegionCost {
    /// EC2 instance type.
    pub instance_type: String,
    /// Region.
    pub region: String,
    /// Whether these nodes ran on spot.
    pub spot: bool,
    /// Nodes (rows of nodes.csv, or the pool's peak when taken from run.json).
    pub nodes: u64,
    /// Instance-hours, h.
    pub instance_hours: f64,
    /// Spot price, USD per instance-hour.
    pub spot_usd_per_h: f64,
    /// On-demand price, USD per instance-hour.
    pub on_demand_usd_per_h: f64,
    /// What the hours cost as run (spot or on demand per `spot`), USD.
    pub usd: f64,
    /// What the same hours would cost on the other purchase option, USD.
    pub usd_other: f64,
    /// Monthly interruption rate used (fraction of instances per month).
    pub interruption_rate_per_month: f64,
    /// Expected spot interruptions per day for these nodes (0 for on-demand), 1/day.
    pub expected_interruptions_per_day: f64,
}

/// Cost of the control plane.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct ServersCost {
    /// Servers priced.
    pub count: u64,
    /// Instance types of the priced servers, by type.
    pub by_type: BTreeMap<String, u64>,
    /// Region priced in.
    pub region: String,
    /// Instance-hours, h.
    pub instance_hours: f64,
    /// On-demand cost, USD.
    pub usd: f64,
    /// On-demand cost per hour, USD/h.
    pub usd_per_hour: f64,
    /// Servers without a known instance type (not priced).
    pub unpriced: Vec<String>,
}

/// Spot interruptions of a run.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Interruptions {
    /// `spot_interruption` events in run.json.
    pub observed: u64,
    /// Allocations lost with their node (allocs.csv `lost = 1`).
    pub allocs_lost: u64,
    /// Expected interruptions per day of the fleet at the interruption rates used, 1/day.
    pub expected_per_day: f64,
}

/// The cost of a run record.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunCost {
    /// Run id.
    pub run_id: String,
    /// Price table used.
    pub prices: String,
    /// Length of the run, h.
    pub duration_h: f64,
    /// Where instance-hours came from: `nodes.csv` or `run.json fleet`.
    pub hours_from: String,
    /// Total cost as run (clients per their spot flag, servers on demand), USD.
    pub usd_total: f64,
    /// Cost per hour of the run with all clients on spot vs all on demand (servers on demand in both),
    /// USD/h.
    pub usd_per_hour: PerHour,
    /// Client cost as run, USD.
    pub usd_clients: f64,
    /// Clients by (type, region, spot).
    pub by_type_region: Vec<TypeRegionCost>,
    /// Control plane.
    pub servers: ServersCost,
    /// Jobs submitted (`summary.jobs_submitted`).
    pub jobs: u64,
    /// Total cost per 1,000 jobs, USD (`null` when no job was submitted).
    pub usd_per_1000_jobs: Option<f64>,
    /// Spot interruptions.
    pub interruptions: Interruptions,
    /// Compute time of allocations lost with their node, h.
    pub wasted_compute_hours: f64,
}

fn servers_cost(
    types: &[(String, Option<String>)],
    region: &str,
    hours: f64,
    prices: &PriceTable,
) -> Result<ServersCost> {
    let mut s = ServersCost {
        region: region.to_string(),
        ..Default::default()
    };
    for (name, ty) in types {
        match ty {
            Some(t) => {
                let p = prices
                    .require(t, region)
                    .with_context(|| format!("pricing server {name}"))?;
                s.count += 1;
                *s.by_type.entry(t.clone()).or_default() += 1;
                s.instance_hours += hours;
                s.usd += hours * p.on_demand;
                s.usd_per_hour += p.on_demand;
            }
            None => s.unpriced.push(name.clone()),
        }
    }
    Ok(s)
}

/// Prices a run record.
pub fn run_cost(rec: &RunRecord, prices: &PriceTable, opts: &CostOptions) -> Result<RunCost> {
    let m = &rec.meta;
    let end_ns = (m.duration_s.max(0.0) * 1e9) as u64;
    let duration_h = m.duration_s.max(0.0) / 3600.0;
    // (type, region, spot) → (nodes, hours)
    let mut parts: BTreeMap<(String, String, bool), (u64, f64)> = BTreeMap::new();
    let hours_from = if !rec.nodes.is_empty() {
        for n in &rec.nodes {
            let left = n.left_ns.unwrap_or(end_ns).max(n.joined_ns);
            let e = parts
                .entry((n.instance_type.clone(), n.region.clone(), n.spot))
                .or_default();
            e.0 += 1;
            e.1 += (left - n.joined_ns) as f64 / 3.6e12;
        }
        "nodes.csv"
    } else {
        for f in &m.fleet {
            let e = parts
                .entry((f.instance_type.clone(), f.region.clone(), f.spot))
                .or_default();
            e.0 += f.nodes_peak as u64;
            e.1 += f.node_hours;
        }
        "run.json fleet"
    };
    let mut by = Vec::new();
    let (mut clients, mut all_spot, mut all_od, mut expected) = (0.0, 0.0, 0.0, 0.0);
    for ((ty, region, spot), (nodes, hours)) in parts {
        let p = prices.require(&ty, &region)?;
        let rate = opts.rate(prices, &ty, &region)?;
        let (usd, usd_other) = if spot {
            (hours * p.spot, hours * p.on_demand)
        } else {
            (hours * p.on_demand, hours * p.spot)
        };
        let exp = if spot && duration_h > 0.0 {
            hours / duration_h * rate / DAYS_PER_MONTH
        } else {
            0.0
        };
        clients += usd;
        all_spot += hours * p.spot;
        all_od += hours * p.on_demand;
        expected += exp;
        by.push(TypeRegionCost {
            instance_type: ty,
            region,
            spot,
            nodes,
            instance_hours: hours,
            spot_usd_per_h: p.spot,
            on_demand_usd_per_h: p.on_demand,
            usd,
            usd_other,
            interruption_rate_per_month: rate,
            expected_interruptions_per_day: exp,
        });
    }
    let region = m
        .fleet
        .first()
        .map(|f| f.region.clone())
        .unwrap_or_else(|| "us-east-1".into());
    let servers = servers_cost(
        &m.servers
            .iter()
            .map(|s| (s.name.clone(), s.instance_type.clone()))
            .collect::<Vec<_>>(),
        &region,
        duration_h,
        prices,
    )?;
    let usd_total = clients + servers.usd;
    let per_h = |x: f64| {
        if duration_h > 0.0 {
            (x + servers.usd) / duration_h
        } else {
            0.0
        }
    };
    let jobs = m.summary.jobs_submitted;
    let mut wasted_ns: u128 = 0;
    let mut lost = 0;
    for a in rec.allocs.iter().filter(|a| a.lost) {
        lost += 1;
        if let Some(r) = a.running_ns {
            wasted_ns += a.done_ns.unwrap_or(end_ns).saturating_sub(r) as u128;
        }
    }
    Ok(RunCost {
        run_id: m.run_id.clone(),
        prices: prices.source.clone(),
        duration_h,
        hours_from: hours_from.into(),
        usd_total,
        usd_per_hour: PerHour {
            spot: per_h(all_spot),
            on_demand: per_h(all_od),
        },
        usd_clients: clients,
        by_type_region: by,
        servers,
        jobs,
        usd_per_1000_jobs: (jobs > 0).then(|| usd_total / jobs as f64 * 1000.0),
        interruptions: Interruptions {
            observed: m
                .events
                .iter()
                .filter(|e| e.kind == "spot_interruption")
                .count() as u64,
            allocs_lost: lost,
            expected_per_day: expected,
        },
        wasted_compute_hours: wasted_ns as f64 / 3.6e12,
    })
}

/// Hourly cost of one pool of a scenario.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct PoolCost {
    /// Pool name.
    pub pool: String,
    /// Instance type.
    pub instance_type: String,
    /// Region.
    pub region: String,
    /// Whether the pool is spot.
    pub spot: bool,
    /// Nodes at t = 0.
    pub nodes: u32,
    /// Autoscaling maximum, if the pool autoscales.
    pub nodes_max: Option<u32>,
    /// Cost per hour as configured (spot or on demand), USD/h.
    pub usd_per_hour: f64,
    /// Cost per hour on spot, USD/h.
    pub usd_per_hour_spot: f64,
    /// Cost per hour on demand, USD/h.
    pub usd_per_hour_on_demand: f64,
    /// Expected interruptions per day (spot pools), 1/day.
    pub expected_interruptions_per_day: f64,
}

/// Hourly cost of a scenario's fleet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ScenarioCost {
    /// Scenario name.
    pub scenario: String,
    /// Price table used.
    pub prices: String,
    /// Client nodes at t = 0.
    pub nodes: u64,
    /// Cost per hour as configured (each pool's spot flag; servers on demand), USD/h.
    pub usd_per_hour_total: f64,
    /// Cost per hour with every pool on spot vs on demand (servers on demand in both), USD/h.
    pub usd_per_hour: PerHour,
    /// Pools.
    pub by_pool: Vec<PoolCost>,
    /// Control plane (hours = 1).
    pub servers: ServersCost,
    /// Expected spot interruptions per day of the fleet, 1/day.
    pub expected_interruptions_per_day: f64,
}

/// Prices a scenario's fleet per hour (pools × their t = 0 counts, plus the servers).
pub fn scenario_cost(
    s: &Scenario,
    prices: &PriceTable,
    opts: &CostOptions,
) -> Result<ScenarioCost> {
    let mut by_pool = Vec::new();
    let (mut total, mut spot, mut od, mut exp) = (0.0, 0.0, 0.0, 0.0);
    for p in &s.pools {
        let pr = prices
            .require(&p.instance_type, &p.region)
            .with_context(|| format!("pricing pool `{}`", p.name))?;
        let rate = opts.rate(prices, &p.instance_type, &p.region)?;
        let n = p.count as f64;
        let c = PoolCost {
            pool: p.name.clone(),
            instance_type: p.instance_type.clone(),
            region: p.region.clone(),
            spot: p.spot,
            nodes: p.count,
            nodes_max: p.autoscale.as_ref().map(|a| a.max),
            usd_per_hour: n * if p.spot { pr.spot } else { pr.on_demand },
            usd_per_hour_spot: n * pr.spot,
            usd_per_hour_on_demand: n * pr.on_demand,
            expected_interruptions_per_day: if p.spot {
                n * rate / DAYS_PER_MONTH
            } else {
                0.0
            },
        };
        total += c.usd_per_hour;
        spot += c.usd_per_hour_spot;
        od += c.usd_per_hour_on_demand;
        exp += c.expected_interruptions_per_day;
        by_pool.push(c);
    }
    let region = s
        .pools
        .first()
        .map(|p| p.region.clone())
        .unwrap_or_else(|| "us-east-1".into());
    let names: Vec<(String, Option<String>)> = (0..s.cluster.servers)
        .map(|i| {
            (
                format!("server-{}", i + 1),
                Some(s.cluster.instance_type.clone()),
            )
        })
        .collect();
    let servers = servers_cost(&names, &region, 1.0, prices)?;
    Ok(ScenarioCost {
        scenario: s.name.clone(),
        prices: prices.source.clone(),
        nodes: s.initial_nodes(),
        usd_per_hour_total: total + servers.usd_per_hour,
        usd_per_hour: PerHour {
            spot: spot + servers.usd_per_hour,
            on_demand: od + servers.usd_per_hour,
        },
        by_pool,
        servers,
        expected_interruptions_per_day: exp,
    })
}
