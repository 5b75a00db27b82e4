//! `stampede cost`: what a run (or a scenario's fleet) costs, on spot and on demand.
//!
//! `stampede cost RUN_DIR` prices a run record and writes `cost.json` (into the run directory unless
//! `--out` says otherwise); `stampede cost --scenario FILE` prices a scenario's fleet per hour without a run.

use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use stampede_sim::scenario::Scenario;

use crate::cost::{run_cost, scenario_cost, CostOptions, RunCost, ScenarioCost};
use crate::prices::PriceTable;
use crate::record_io::{read_record, write_atomic};

/// Arguments of `stampede cost`.
#[derive(Debug, clap::Args)]
pub struct CostArgs {
    /// Run record directory.
    #[arg(required_unless_present = "scenario", conflicts_with = "scenario")]
    pub run_dir: Option<PathBuf>,
    /// Price a scenario's fleet per hour instead of a run.
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// Where to write the JSON (default: `RUN_DIR/cost.json`; none for `--scenario` unless given).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Price table overriding rows of the embedded one (CSV, same columns).
    #[arg(long)]
    pub prices: Option<PathBuf>,
    /// Print JSON instead of a table.
    #[arg(long)]
    pub json: bool,
    /// Replace the table's spot prices with live ones from DescribeSpotPriceHistory (feature `aws`).
    #[arg(long)]
    pub live_prices: bool,
    /// EC2 endpoint override for `--live-prices` (emulators such as moto).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// Interruption rate override, interruptions per instance per month: `TYPE=RATE` (repeatable).
    #[arg(long = "interruption-rate", value_name = "TYPE=RATE")]
    pub interruption_rate: Vec<String>,
}

fn parse_rates(items: &[String]) -> Result<CostOptions> {
    let mut o = CostOptions::default();
    for it in items {
        let (t, r) = it.split_once('=').with_context(|| {
            format!("--interruption-rate `{it}`: expected TYPE=RATE, e.g. m5.xlarge=0.1")
        })?;
        let rate: f64 = r.trim().parse().ok().filter(|x: &f64| (0.0..=1.0).contains(x)).with_context(|| {
            format!("--interruption-rate `{it}`: `{r}` is not a fraction within 0..=1 (interruptions per instance per month)")
        })?;
        if t.trim().is_empty() {
            bail!("--interruption-rate `{it}`: empty instance type");
        }
        o.interruption_rates.insert(t.trim().to_string(), rate);
    }
    Ok(o)
}

/// Runs the command.
pub fn run(args: CostArgs) -> Result<u8> {
    let opts = parse_rates(&args.interruption_rate)?;
    let mut prices = PriceTable::embedded_with_overrides(args.prices.as_deref())?;
    if let Some(path) = &args.scenario {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        let sc = Scenario::from_toml(&path.display().to_string(), &text)?;
        if args.live_prices {
            let pairs = sc
                .pools
                .iter()
                .map(|p| (p.instance_type.clone(), p.region.clone()))
                .collect::<Vec<_>>();
            apply_live_prices(&mut prices, &pairs, args.endpoint_url.as_deref())?;
        }
        let c = scenario_cost(&sc, &prices, &opts)
            .with_context(|| format!("pricing scenario {}", path.display()))?;
        let json = serde_json::to_string_pretty(&c)? + "\n";
        if let Some(out) = &args.out {
            write_atomic(out, json.as_bytes())?;
        }
        if args.json {
            print!("{json}");
        } else {
            print!("{}", render_scenario(&c));
        }
        return Ok(0);
    }
    let dir = args
        .run_dir
        .as_ref()
        .context("a run directory or --scenario is required")?;
    let rec = read_record(dir)?;
    if args.live_prices {
        let pairs = rec
            .meta
            .fleet
            .iter()
            .map(|f| (f.instance_type.clone(), f.region.clone()))
            .collect::<Vec<_>>();
        apply_live_prices(&mut prices, &pairs, args.endpoint_url.as_deref())?;
    }
    let c =
        run_cost(&rec, &prices, &opts).with_context(|| format!("pricing run {}", dir.display()))?;
    let json = serde_json::to_string_pretty(&c)? + "\n";
    let out = args.out.clone().unwrap_or_else(|| dir.join("cost.json"));
    write_atomic(&out, json.as_bytes())?;
    if args.json {
        print!("{json}");
    } else {
        print!("{}", render_run(&c));
        println!("wrote {}", out.display());
    }
    Ok(0)
}

/// Replaces the spot prices of `pairs` with live ones (feature `aws`); on-demand prices stay the table's.
fn apply_live_prices(
    prices: &mut PriceTable,
    pairs: &[(String, String)],
    endpoint: Option<&str>,
) -> Result<()> {
    #[cfg(not(feature = "aws"))]
    {
        let _ = (prices, pairs, endpoint);
        anyhow::bail!("--live-prices needs AWS: built without the `aws` feature; rebuild with `cargo build --features aws`")
    }
    #[cfg(feature = "aws")]
    {
        let target = crate::aws::AwsTarget {
            endpoint_url: endpoint.map(str::to_string),
        };
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .context("starting the tokio runtime")?;
        let live = rt.block_on(crate::aws::spot_prices::live_spot_prices(&target, pairs))?;
        for ((t, r), spot) in live {
            let base = prices.require(&t, &r)?;
            prices.set(&t, &r, crate::prices::Price { spot, ..base });
        }
        prices.source = format!(
            "{} with live spot prices (DescribeSpotPriceHistory)",
            prices.source
        );
        Ok(())
    }
}

/// The table printed for a run.
pub fn render_run(c: &RunCost) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "cost of run {} ({:.2} h, instance-hours from {}; prices: {})",
        c.run_id, c.duration_h, c.hours_from, c.prices
    );
    let _ = writeln!(
        o,
        "{:<14} {:<15} {:>5} {:>6} {:>11} {:>10} {:>12} {:>13}",
        "type", "region", "spot", "nodes", "inst-hours", "USD", "USD (other)", "interr./day"
    );
    for r in &c.by_type_region {
        let _ = writeln!(
            o,
            "{:<14} {:<15} {:>5} {:>6} {:>11.2} {:>10.2} {:>12.2} {:>13.3}",
            r.instance_type,
            r.region,
            if r.spot { "yes" } else { "no" },
            r.nodes,
            r.instance_hours,
            r.usd,
            r.usd_other,
            r.expected_interruptions_per_day
        );
    }
    let _ = writeln!(
        o,
        "servers: {} on demand in {} ({:.2} inst-hours) = {:.2} USD{}",
        c.servers.count,
        c.servers.region,
        c.servers.instance_hours,
        c.servers.usd,
        if c.servers.unpriced.is_empty() {
            String::new()
        } else {
            format!(
                " (unpriced, unknown type: {})",
                c.servers.unpriced.join(", ")
            )
        }
    );
    let _ = writeln!(
        o,
        "total: {:.2} USD (clients {:.2})",
        c.usd_total, c.usd_clients
    );
    let _ = writeln!(
        o,
        "per hour: {:.2} USD/h all spot, {:.2} USD/h all on demand",
        c.usd_per_hour.spot, c.usd_per_hour.on_demand
    );
    match c.usd_per_1000_jobs {
        Some(x) => {
            let _ = writeln!(o, "per 1,000 jobs: {x:.3} USD ({} jobs)", c.jobs);
        }
        None => o.push_str("per 1,000 jobs: n/a (no job submitted)\n"),
    }
    let _ = writeln!(
        o,
        "spot interruptions: {} observed ({} allocations lost, {:.2} compute-hours wasted); {:.3} expected per day at these rates",
        c.interruptions.observed, c.interruptions.allocs_lost, c.wasted_compute_hours, c.interruptions.expected_per_day
    );
    o
}

/// The table printed for a scenario.
pub fn render_scenario(c: &ScenarioCost) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "hourly cost of scenario `{}` ({} client nodes; prices: {})",
        c.scenario, c.nodes, c.prices
    );
    let _ = writeln!(
        o,
        "{:<24} {:<14} {:<15} {:>5} {:>6} {:>10} {:>10} {:>10} {:>12}",
        "pool", "type", "region", "spot", "nodes", "USD/h", "spot", "on-demand", "interr./day"
    );
    for p in &c.by_pool {
        let _ = writeln!(
            o,
            "{:<24} {:<14} {:<15} {:>5} {:>6} {:>10.2} {:>10.2} {:>10.2} {:>12.3}",
            p.pool,
            p.instance_type,
            p.region,
            if p.spot { "yes" } else { "no" },
            p.nodes,
            p.usd_per_hour,
            p.usd_per_hour_spot,
            p.usd_per_hour_on_demand,
            p.expected_interruptions_per_day
        );
    }
    let types: Vec<String> = c
        .servers
        .by_type
        .iter()
        .map(|(t, n)| format!("{n} × {t}"))
        .collect();
    let _ = writeln!(
        o,
        "servers: {} on demand in {} = {:.2} USD/h",
        types.join(", "),
        c.servers.region,
        c.servers.usd_per_hour
    );
    let _ = writeln!(
        o,
        "total: {:.2} USD/h as configured; {:.2} USD/h all spot vs {:.2} USD/h all on demand ({:.0}% saved on spot)",
        c.usd_per_hour_total,
        c.usd_per_hour.spot,
        c.usd_per_hour.on_demand,
        if c.usd_per_hour.on_demand > 0.0 { (1.0 - c.usd_per_hour.spot / c.usd_per_hour.on_demand) * 100.0 } else { 0.0 }
    );
    let _ = writeln!(
        o,
        "expected spot interruptions: {:.2} per day",
        c.expected_interruptions_per_day
    );
    o
}
