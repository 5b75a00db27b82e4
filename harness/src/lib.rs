//! # stampede: load-test and model HashiCorp Nomad clusters
//!
//! The harness crate: everything that touches the world (HTTP, the event stream, AWS, files, plots, the
//! CLI). It depends on `stampede-sim` for the data model (scenario, trace, run record) and the simulator.
//!
//! ## Module map
//! | module | what |
//! |---|---|
//! | [`cmd`] | one file per subcommand: argument structs and the command's top level |
//! | [`nomad`] | the Nomad HTTP client, event-stream reader, metrics parsers |
//! | [`load`] | `stampede run`: load generator, observer/timeline, reconciler, metrics scraper, record writer |
//! | [`jobspec`] | job JSON from a workload template, and HCL2 jobspec → job JSON conversion |
//! | [`emulator`] | `stampede emulate`: the simulator behind Nomad's HTTP API |
//! | [`report`] | summary.md, report.html, exports, compare |
//! | [`record_io`] | reading and (incrementally) writing run-record directories |
//! | [`prices`] | the committed, dated EC2 price table |
//! | [`cost`] | the cost model of a run record or a scenario fleet |
//! | [`aws`] | provisioning plan, journal, and (feature `aws`) EC2 provision/teardown |
#![deny(missing_docs)]

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub mod aws;
pub mod cmd;
pub mod cost;
pub mod embedded;
pub mod emulator;
pub mod jobspec;
pub mod load;
pub mod nomad;
pub mod prices;
pub mod record_io;
pub mod recorder;
pub mod report;

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
    Sim(cmd::sim::SimArgs),
    /// Flood a Nomad cluster (or the embedded emulator) with jobs and measure it.
    Run(Box<cmd::run::RunArgs>),
    /// Serve the simulator behind Nomad's HTTP API, in real time.
    Emulate(cmd::emulate::EmulateArgs),
    /// Write summary.md and report.html for a run record.
    Report(cmd::report::ReportArgs),
    /// Compare run records against thresholds (exit 1 on regression).
    Compare(cmd::compare::CompareArgs),
    /// Record, synthesise, import and inspect CI traffic traces.
    Trace(cmd::trace::TraceArgs),
    /// Search fleet sizes for the cheapest one that meets an SLO.
    Plan(cmd::plan::PlanArgs),
    /// Cost model of a run record or plan.
    Cost(cmd::cost::CostArgs),
    /// Create spot client capacity on EC2 (feature `aws`).
    Provision(cmd::provision::ProvisionArgs),
    /// Delete everything tagged with a run id (feature `aws`).
    Teardown(cmd::provision::TeardownArgs),
    /// Benchmarks of the harness's hot paths.
    Bench(cmd::bench::BenchArgs),
}

/// Exit code for "the command ran and found a regression / SLO breach" (compare, plan).
pub const EXIT_FAIL: u8 = 1;
/// Exit code for bad input or an error.
pub const EXIT_ERROR: u8 = 2;

/// Runs the parsed command. Returns the process exit code on success (0, or 1 for a detected regression).
pub fn run(opts: Opts) -> anyhow::Result<u8> {
    match opts.command {
        Command::Sim(a) => cmd::sim::run(a),
        Command::Run(a) => cmd::run::run(*a),
        Command::Emulate(a) => cmd::emulate::run(a),
        Command::Report(a) => cmd::report::run(a),
        Command::Compare(a) => cmd::compare::run(a),
        Command::Trace(a) => cmd::trace::run(a),
        Command::Plan(a) => cmd::plan::run(a),
        Command::Cost(a) => cmd::cost::run(a),
        Command::Provision(a) => cmd::provision::run_provision(a),
        Command::Teardown(a) => cmd::provision::run_teardown(a),
        Command::Bench(a) => cmd::bench::run(a),
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
