//! `stampede upgrade-check --scenario S --from 1.10 --to 2.0.5 [--set plan_apply_pipeline=8]`: both versions
//! simulated under common random numbers over several seeds, both records written, the comparison printed,
//! exit 1 on a regression beyond the thresholds (the `compare --fail-if` grammar).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::files;
use crate::report::compare::{self, Threshold};
use crate::upgrade::{self, UpgradeCheck, DEFAULT_THRESHOLDS};

/// Arguments of `stampede upgrade-check`.
#[derive(Debug, clap::Args)]
pub struct UpgradeArgs {
    /// Scenario file (TOML).
    #[arg(long, short = 's')]
    pub scenario: PathBuf,
    /// The Nomad version the cluster runs now, e.g. 1.10.
    #[arg(long)]
    pub from: String,
    /// The Nomad version considered, e.g. 2.0.5.
    #[arg(long)]
    pub to: String,
    /// Override on the new (`--to`) side, e.g. `plan_apply_pipeline=8`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = files::parse_set)]
    pub set: Vec<(String, String)>,
    /// Override on the current (`--from`) side. Repeatable.
    #[arg(long = "from-set", value_name = "KEY=VALUE", value_parser = files::parse_set)]
    pub from_set: Vec<(String, String)>,
    /// Override on both sides (e.g. `cluster.instance_type=m5.4xlarge`). Repeatable.
    #[arg(long = "set-both", value_name = "KEY=VALUE", value_parser = files::parse_set)]
    pub set_both: Vec<(String, String)>,
    /// Replay a recorded trace instead of the scenario's workload.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Shrink (or grow) nodes and jobs proportionally.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// First seed (default: the scenario's `seed`).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Seeds per side (common random numbers: seed k drives both sides).
    #[arg(long, default_value_t = 3)]
    pub seeds: u32,
    /// Regression condition (as `compare --fail-if`); default: p95 submit→running, p99 submit→placed or
    /// completion more than 10% worse, or placement rate more than 10% lower. Repeatable.
    #[arg(long = "fail-if", value_name = "COND")]
    pub fail_if: Vec<String>,
    /// Output directory (default reports/upgrade-<scenario>-<from>-to-<to>/).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Print the verdict as JSON.
    #[arg(long)]
    pub json: bool,
    /// Apply a calibration (`stampede calibrate` output) to both sides; the records say which.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: UpgradeArgs) -> Result<u8> {
    let sc = files::load_scenario(&args.scenario, args.scale)?;
    let conds: Vec<String> = if args.fail_if.is_empty() {
        DEFAULT_THRESHOLDS.iter().map(|s| s.to_string()).collect()
    } else {
        args.fail_if.clone()
    };
    let thresholds: Vec<Threshold> = conds
        .iter()
        .map(|t| compare::parse_threshold(t, "--fail-if"))
        .collect::<Result<_>>()?;
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!("upgrade-{}-{}-to-{}", sc.name, args.from, args.to))
    });
    let chk = UpgradeCheck {
        scenario: args.scenario.clone(),
        from: args.from.clone(),
        to: args.to.clone(),
        to_sets: args.set.clone(),
        from_sets: args.from_set.clone(),
        both_sets: args.set_both.clone(),
        trace: args.trace.clone(),
        scale: args.scale,
        first_seed: args.seed.unwrap_or(sc.seed),
        seeds: args.seeds,
        thresholds,
        out: out.clone(),
        calibration: args.calibration.clone(),
    };
    let total = 2 * args.seeds as u64;
    let bar = (!args.json && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new(total);
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} upgrade-check [{bar:30}] {pos}/{len} simulations {msg}",
            )
            .expect("template"),
        );
        b
    });
    let statement = match &args.calibration {
        Some(c) => crate::calibrate::load_calibration(c)?.statement(),
        None => stampede_sim::record::UNCALIBRATED_STATEMENT.to_string(),
    };
    if !args.json {
        eprintln!(
            "upgrade-check {}: Nomad {} → {} ({} seed{} each side, common random numbers)",
            sc.name,
            args.from,
            args.to,
            args.seeds,
            if args.seeds == 1 { "" } else { "s" }
        );
    }
    let c = upgrade::run(&chk, &|side, seed| {
        if let Some(b) = &bar {
            b.set_message(format!("{side} seed {seed}"));
            b.inc(1);
        }
    })?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    // The verdict stands on the model's parameters: say which, first.
    let text = format!("{statement}\n\n{}", compare::render_text(&c));
    let json = serde_json::to_string_pretty(&c).context("serialising the verdict")?;
    files::write_atomic(&out.join("compare.txt"), text.as_bytes())?;
    files::write_atomic(&out.join("compare.json"), json.as_bytes())?;
    if args.json {
        println!("{json}");
    } else {
        print!("{text}");
        eprintln!(
            "records: {}/from, {}/to; verdict: {}",
            out.display(),
            out.display(),
            if c.regression {
                "REGRESSION"
            } else {
                "no regression"
            }
        );
    }
    Ok(if c.regression { crate::EXIT_FAIL } else { 0 })
}
