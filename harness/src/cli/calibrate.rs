//! `stampede calibrate RUN_DIR… --out calibration.toml`: fit the model's parameters to recorded runs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};

use crate::calibrate::{self, CalibrateRequest, FitOptions, FitProgress};

/// Arguments of `stampede calibrate`.
#[derive(Debug, clap::Args)]
pub struct CalibrateArgs {
    /// Run records (directories written by `stampede run`, `sim` or against `emulate`) to fit to.
    #[arg(required = true, value_name = "RUN_DIR")]
    pub runs: Vec<PathBuf>,
    /// Where to write the calibration (TOML).
    #[arg(long, short = 'o', required_unless_present = "check")]
    pub out: Option<PathBuf>,
    /// Fit nothing: re-simulate the runs under this calibration and print each figure observed vs
    /// predicted (how well it predicts runs it was not fitted to).
    #[arg(long, value_name = "CALIBRATION", conflicts_with_all = ["out", "params"])]
    pub check: Option<PathBuf>,
    /// Seeds per candidate (common random numbers: seeds 1..=N for every candidate), 2–16.
    #[arg(long, default_value_t = 3)]
    pub seeds: u32,
    /// Parameters to fit, comma-separated (default: the table's default set: raft_fsync_median_us,
    /// fsm_plan_alloc_base_ns, driver_start_median_us, driver_start_sigma, heartbeat_cpu_us,
    /// cpu_overhead_factor; any other row of harness/src/calibrate/table.rs on request).
    #[arg(long, value_delimiter = ',')]
    pub params: Option<Vec<String>>,
    /// Scenario describing the cluster the runs were made on (servers, cores, pools, starting params).
    /// Required for records without node resources (real and emulated runs); its workload is not used.
    #[arg(long, short = 's')]
    pub scenario: Option<PathBuf>,
    /// Worker threads (default: the machine's cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// No progress bar or summary text.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Runs the command.
pub fn run(args: CalibrateArgs) -> Result<u8> {
    if !(2..=16).contains(&args.seeds) {
        bail!("--seeds {}: use 2 to 16", args.seeds);
    }
    if args.threads == Some(0) {
        bail!("--threads must be at least 1");
    }
    let mut fit = FitOptions {
        seeds: args.seeds,
        ..Default::default()
    };
    if let Some(t) = args.threads {
        fit.threads = t;
    }
    if let Some(cal) = &args.check {
        let loaded = calibrate::load_calibration(cal)?;
        let base = match &args.scenario {
            Some(p) => Some(crate::files::load_scenario(p, 1.0)?),
            None => None,
        };
        let replays = args
            .runs
            .iter()
            .map(|d| calibrate::workload::load(d, base.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        let preds =
            calibrate::fit::predict(&replays, &loaded.file.applied(), args.seeds, fit.threads)?;
        println!("{}", loaded.statement());
        println!("| run | figure | observed | predicted | error |\n|---|---|---|---|---|");
        for p in &preds {
            println!(
                "| {} | {} | {:.4} | {:.4} | {:+.1}% |",
                p.run_id,
                p.figure.name(),
                p.observed,
                p.predicted,
                p.error() * 100.0
            );
        }
        return Ok(0);
    }
    let out_path = args.out.clone().context("--out is required")?;
    let req = CalibrateRequest {
        runs: args.runs.clone(),
        scenario: args.scenario.clone(),
        params: args.params.clone(),
        fit,
    };
    let bar = (!args.quiet && std::io::stderr().is_terminal()).then(|| {
        let b = indicatif::ProgressBar::new_spinner();
        b.set_style(
            indicatif::ProgressStyle::with_template("{spinner} calibrate {elapsed} {msg}")
                .expect("template"),
        );
        b.enable_steady_tick(std::time::Duration::from_millis(200));
        b
    });
    let wall = Instant::now();
    let progress = |p: &FitProgress| {
        if let Some(b) = &bar {
            b.set_message(format!(
                "{}: {} · {} evaluations, {} simulations, loss {:.2}",
                p.phase, p.detail, p.evals, p.sims, p.best_loss
            ));
        }
    };
    let (file, fit) = calibrate::calibrate(&req, &progress)?;
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    let text = file.to_toml()?;
    crate::files::atomic::write_atomic(&out_path, text.as_bytes())
        .with_context(|| format!("writing {}", out_path.display()))?;
    if !args.quiet {
        println!(
            "calibrated on {} run{} ({} evaluations, {} simulations, {:.1} s): loss {:.2} → {:.2} ({} figures − fitted parameters = {} dof, Birge ratio {:.2})",
            file.runs.len(),
            if file.runs.len() == 1 { "" } else { "s" },
            fit.evals,
            fit.sims,
            wall.elapsed().as_secs_f64(),
            fit.loss_start,
            fit.loss_fitted,
            fit.figures.len(),
            fit.dof,
            fit.birge
        );
        for p in &fit.params {
            println!(
                "  {:<28} {:>12} {:<13} 95% {} .. {}   (default {})",
                p.row.name,
                calibrate::fit::fmt_value(p.value),
                if p.constrained {
                    "constrained"
                } else {
                    "NOT constrained"
                },
                calibrate::fit::fmt_value(p.lo),
                calibrate::fit::fmt_value(p.hi),
                calibrate::fit::fmt_value(p.default)
            );
            if !p.constrained {
                println!("      {}", p.note);
            }
        }
        for n in &file.notes {
            println!("  note: {n}");
        }
        println!("  wrote {}", out_path.display());
    }
    Ok(0)
}
