//! `stampede plan`: search fleet sizes per instance type for the cheapest fleet that meets an SLO. The
//! search is [`crate::planner`]; its files are rendered by [`crate::report::plan`].

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::files;
use crate::planner::{self, parse_slo, PlanRequest};
use crate::report::plan::{plan_html, plan_markdown};
use crate::EXIT_FAIL;

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
    /// Apply a calibration (`stampede calibrate` output) on top of the scenario's `[params]`.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
}

impl PlanArgs {
    /// The typed request.
    pub fn request(&self) -> Result<PlanRequest> {
        Ok(PlanRequest {
            scenario: self.scenario.clone(),
            trace: self.trace.clone(),
            slo: parse_slo(&self.slo)?,
            instance_types: self.instance_types.clone(),
            max_nodes: self.max_nodes,
            min_nodes: self.min_nodes,
            grid: self.grid,
            seeds: self.seeds,
            seed: self.seed,
            autoscale: self.autoscale,
            on_demand: self.on_demand,
            prices: self.prices.clone(),
            threads: self.threads,
            calibration: self.calibration.clone(),
        })
    }
}

/// Runs the command.
pub fn run(args: PlanArgs) -> Result<u8> {
    let quiet = args.quiet || args.json;
    // The calibration statement heads plan.md and the printed plan (checked here before the search).
    let statement = match &args.calibration {
        Some(c) => crate::calibrate::load_calibration(c)?.statement(),
        None => stampede_sim::record::UNCALIBRATED_STATEMENT.to_string(),
    };
    let p = planner::plan(&args.request()?, &mut |m| {
        if !quiet {
            eprintln!("{m}");
        }
    })?;
    if let Some(out) = &args.out {
        std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
        let json = serde_json::to_string_pretty(&p)? + "\n";
        files::write_atomic(&out.join("plan.json"), json.as_bytes())?;
        files::write_atomic(
            &out.join("plan.md"),
            format!("_{statement}_\n\n{}", plan_markdown(&p)).as_bytes(),
        )?;
        files::write_atomic(&out.join("plan.html"), plan_html(&p)?.as_bytes())?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&p)?);
    } else if !args.quiet {
        println!("{statement}\n");
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
        EXIT_FAIL
    })
}
