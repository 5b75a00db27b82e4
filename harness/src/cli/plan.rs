//! `stampede plan`: search server configurations and client fleet sizes per instance type for the
//! cheapest cluster that meets an SLO. The search is [`crate::planner`]; its files are rendered by
//! [`crate::report::plan`].

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::distrib::plan::{stderr_is_tty, NomadEvaluator, OnNomad};
use crate::files;
use crate::nomad::NomadConnArgs;
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
    /// Server instance types to consider, e.g. `c5.xlarge,c5.4xlarge` (default: the scenario's own server
    /// type). Cores, memory, clock, storage and scheduler workers follow each type unless the scenario pins
    /// them in `[cluster]`; servers are priced on demand.
    #[arg(long, value_delimiter = ',')]
    pub server_types: Vec<String>,
    /// Server counts to consider, e.g. `3,5` (default: the scenario's own count; 1 to 7, Nomad runs 3 or 5).
    #[arg(long, value_delimiter = ',')]
    pub server_counts: Vec<u32>,
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
    /// Run the evaluations as Nomad batch jobs (a parameterized job dispatched per work unit, each task
    /// running this stampede binary with raw_exec) instead of threads here.
    #[arg(long)]
    pub on_nomad: bool,
    /// Connection (address, token, TLS) for --on-nomad.
    #[command(flatten)]
    pub conn: NomadConnArgs,
    /// --on-nomad: datacenters the work may run in.
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "*",
        requires = "on_nomad"
    )]
    pub datacenters: Vec<String>,
    /// --on-nomad: most work units (dispatched jobs) per round of the search.
    #[arg(long, default_value_t = 8, requires = "on_nomad")]
    pub parallel: u32,
    /// --on-nomad: plan without the results that never came back (listed under `absent` in plan.json)
    /// instead of failing.
    #[arg(long, requires = "on_nomad")]
    pub allow_partial: bool,
    /// --on-nomad: the stampede binary on the clients, an absolute path (default: this binary's path).
    #[arg(long, requires = "on_nomad")]
    pub worker_binary: Option<PathBuf>,
    /// --on-nomad: threads per worker task.
    #[arg(long, default_value_t = 1, requires = "on_nomad")]
    pub worker_threads: u32,
    /// --on-nomad: CPU reserved per worker task, MHz.
    #[arg(long, default_value_t = 1000, requires = "on_nomad")]
    pub task_cpu: u32,
    /// --on-nomad: memory reserved per worker task, MB.
    #[arg(long, default_value_t = 512, requires = "on_nomad")]
    pub task_memory: u32,
    /// --on-nomad: bound on the whole plan.
    #[arg(long, default_value = "2h", value_parser = super::parse_duration, requires = "on_nomad")]
    pub timeout: std::time::Duration,
    /// Apply a calibration (`stampede calibrate` output) on top of the scenario's `[params]`.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
}

/// Arguments of the hidden `stampede plan-worker` (the task of `plan --on-nomad`).
#[derive(Debug, clap::Args)]
pub struct PlanWorkerArgs {
    /// The work unit (the dispatch payload).
    #[arg(long)]
    pub unit: PathBuf,
    /// Where to write the result (atomically).
    #[arg(long)]
    pub out: PathBuf,
}

/// Runs `stampede plan-worker`.
pub fn run_worker(args: PlanWorkerArgs) -> Result<u8> {
    let r = crate::distrib::plan::run_worker(&args.unit, &args.out)?;
    eprintln!(
        "work unit {}: {} evaluations in {:.2} s, result in {}",
        r.unit,
        r.results.len(),
        r.wall_s,
        args.out.display()
    );
    Ok(0)
}

impl PlanArgs {
    /// The typed request.
    pub fn request(&self) -> Result<PlanRequest> {
        Ok(PlanRequest {
            scenario: self.scenario.clone(),
            trace: self.trace.clone(),
            slo: parse_slo(&self.slo)?,
            instance_types: self.instance_types.clone(),
            server_types: self.server_types.clone(),
            server_counts: self.server_counts.clone(),
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
    if args.on_nomad && args.calibration.is_some() {
        anyhow::bail!(
            "--calibration with --on-nomad is not supported yet (work units do not carry the calibration); \
             run the plan locally"
        );
    }
    let mut say = |m: &str| {
        if !quiet {
            eprintln!("{m}");
        }
    };
    let req = args.request()?;
    let p = if args.on_nomad {
        let worker_binary = match &args.worker_binary {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("finding this binary's path for --on-nomad")?,
        };
        let opts = OnNomad {
            conn: args.conn.clone(),
            datacenters: args.datacenters.clone(),
            parallel: args.parallel,
            worker_binary,
            worker_threads: args.worker_threads.max(1),
            task_cpu: args.task_cpu,
            task_memory: args.task_memory,
            timeout: args.timeout,
            progress_bar: !quiet && stderr_is_tty(),
            stop: super::signals::stop_on_signals()?,
        };
        let mut ev = NomadEvaluator::new(opts)?;
        let r = planner::plan_with(&req, &mut ev, args.allow_partial, &mut say);
        let c = ev.cleanup();
        let p = r?;
        c?;
        p
    } else {
        planner::plan(&req, &mut say)?
    };
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
