//! The command line: one file per subcommand holding its clap struct, the conversion into a typed request,
//! one library call and the printing. Nothing outside this module (and the crate root's re-exports) uses it.

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::EXIT_ERROR;

pub mod bench;
pub mod calibrate;
pub mod compare;
pub mod cost;
pub mod emulate;
pub mod merge;
pub mod plan;
pub mod provision;
pub mod report;
pub mod run;
pub mod run_worker;
pub mod signals;
pub mod sim;
pub mod trace;
pub mod upgrade;

/// Parses a duration flag (humantime syntax: `30s`, `5m`, `2h 30m`) and bounds it by
/// [`stampede_sim::limits::MAX_DURATION_S`] (30 days): every duration flag ends up added to an `Instant`,
/// which panics on overflow, and no run is meant to last longer.
pub fn parse_duration(s: &str) -> Result<std::time::Duration, String> {
    let d = humantime::parse_duration(s).map_err(|e| e.to_string())?;
    let max = stampede_sim::limits::MAX_DURATION_S;
    if d.as_secs() > max || (d.as_secs() == max && d.subsec_nanos() > 0) {
        return Err(format!("{s} is beyond the bound of {max} s (30 days)"));
    }
    Ok(d)
}

/// Command-line options.
#[derive(Debug, Parser)]
#[command(name = "stampede", version, about = "Load-test and model HashiCorp Nomad clusters", long_about = None)]
pub struct Opts {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run a scenario in the deterministic simulator and write a run record.
    Sim(sim::SimArgs),
    /// Flood a Nomad cluster (or the embedded emulator) with jobs and measure it.
    #[command(after_help = run::EXIT_CODES_HELP)]
    Run(Box<run::RunArgs>),
    /// Serve the simulator behind Nomad's HTTP API, in real time.
    Emulate(emulate::EmulateArgs),
    /// Join the records of the generators of one sharded flood (`run --shard I/N`) into one record.
    Merge(merge::MergeArgs),
    /// Write summary.md and report.html for a run record.
    Report(report::ReportArgs),
    /// Compare run records against thresholds (exit 1 on regression).
    Compare(compare::CompareArgs),
    /// Record, synthesise, import and inspect CI traffic traces.
    Trace(trace::TraceArgs),
    /// Search server configurations and client fleet sizes for the cheapest cluster that meets an SLO.
    Plan(Box<plan::PlanArgs>),
    /// One work unit of `plan --on-nomad` (the task Nomad runs; not for direct use).
    #[command(hide = true)]
    PlanWorker(plan::PlanWorkerArgs),
    /// One generator of `run --as-nomad-job` (the task Nomad runs; not for direct use).
    #[command(hide = true)]
    RunWorker(run_worker::RunWorkerArgs),
    /// Cost model of a run record or plan.
    Cost(cost::CostArgs),
    /// Create spot client capacity on EC2 (feature `aws`).
    Provision(provision::ProvisionArgs),
    /// Delete everything tagged with a run id (feature `aws`).
    Teardown(provision::TeardownArgs),
    /// Benchmarks of the harness's hot paths.
    Bench(bench::BenchArgs),
    /// Simulate a Nomad upgrade (both versions, several seeds) and fail on a regression.
    #[command(name = "upgrade-check")]
    UpgradeCheck(upgrade::UpgradeArgs),
    /// Fit model parameters to recorded runs; write calibration.toml for --calibration.
    Calibrate(calibrate::CalibrateArgs),
}

/// Runs the parsed command. Returns the process exit code on success (0, or 1 for a detected regression).
pub fn run(opts: Opts) -> anyhow::Result<u8> {
    match opts.command {
        Command::Sim(a) => sim::run(a),
        Command::Run(a) => run::run(*a),
        Command::Emulate(a) => emulate::run(a),
        Command::Merge(a) => merge::run(a),
        Command::Report(a) => report::run(a),
        Command::Compare(a) => compare::run(a),
        Command::Trace(a) => trace::run(a),
        Command::Plan(a) => plan::run(*a),
        Command::UpgradeCheck(a) => upgrade::run(a),
        Command::PlanWorker(a) => plan::run_worker(a),
        Command::RunWorker(a) => run_worker::run(a),
        Command::Cost(a) => cost::run(a),
        Command::Provision(a) => provision::run_provision(a),
        Command::Teardown(a) => provision::run_teardown(a),
        Command::Bench(a) => bench::run(a),
        Command::Calibrate(a) => calibrate::run(a),
    }
}

/// The binary's entry: parse, run, print the error chain, map to an exit code.
pub fn main_entry() -> ExitCode {
    let opts = match Opts::try_parse() {
        Ok(o) => o,
        Err(e) => {
            let code = if e.use_stderr() { EXIT_ERROR } else { 0 };
            let _ = e.print();
            return ExitCode::from(code);
        }
    };
    match run(opts) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            if is_broken_pipe(&e) {
                return ExitCode::SUCCESS;
            }
            eprintln!("error: {e:#}");
            ExitCode::from(EXIT_ERROR)
        }
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
    })
}
