//! `stampede cost`: what a run (or a scenario's fleet) costs, on spot and on demand.
//!
//! `stampede cost RUN_DIR` prices a run record and writes `cost.json` (into the run directory unless
//! `--out` says otherwise); `stampede cost --scenario FILE` prices a scenario's fleet per hour without a run.

use std::path::PathBuf;

use anyhow::{bail, Context, Result};

use crate::cost::live::apply_live_prices;
use crate::cost::prices::PriceTable;
use crate::cost::{run_cost, scenario_cost, CostOptions};
use crate::files::read_scenario;
use crate::files::record::{read_record, write_atomic};
use crate::report::cost::{render_run, render_scenario};

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
    /// Calibration the priced simulation stands on (`stampede calibrate` output): stated in the first line.
    /// A simulated run's record already names its own; a different file here is an error.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
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
    let cal = match &args.calibration {
        Some(c) => Some(crate::calibrate::load_calibration(c)?),
        None => None,
    };
    if let Some(path) = &args.scenario {
        if !args.json {
            println!(
                "{} (a fleet's price does not depend on model parameters)",
                crate::calibrate::statement(cal.as_ref())
            );
        }
        let sc = read_scenario(path)?;
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
    if let (Some(c), Some(mine)) = (&cal, &rec.meta.calibration) {
        anyhow::ensure!(
            c.reference.sha256 == mine.sha256,
            "{} was simulated with calibration {} (sha256 {}), not {} (sha256 {})",
            dir.display(),
            mine.path,
            mine.sha256,
            c.reference.path,
            c.reference.sha256
        );
    }
    if let (Some(c), None, stampede_sim::record::Source::Sim) =
        (&cal, &rec.meta.calibration, rec.meta.source)
    {
        anyhow::bail!(
            "{} was simulated without a calibration; --calibration {} cannot change a finished run (re-run `stampede sim --calibration`)",
            dir.display(),
            c.reference.path
        );
    }
    if let (Some(c), false) = (rec.meta.calibration_statement(), args.json) {
        println!("{c}");
    }
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
