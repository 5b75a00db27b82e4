//! `stampede merge`: the records of the N generators of one sharded flood as one run record
//! ([`crate::distrib::merge`]).

use std::path::PathBuf;

use anyhow::{Context, Result};

use crate::distrib::{merge_into, ClockCorrection, MergeRequest};

/// Arguments of `stampede merge`.
#[derive(Debug, clap::Args)]
pub struct MergeArgs {
    /// Record directories written by `stampede run --shard I/N` (one per generator, all N of them).
    #[arg(required = true, value_name = "RUN_DIR")]
    pub dirs: Vec<PathBuf>,
    /// Directory of the merged record.
    #[arg(long, short = 'o')]
    pub out: PathBuf,
    /// Run ID of the merged record (default: the generators' common run ID).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Take each generator's measured clock offset out of its submit times: `auto` when the offset is
    /// larger than its measurement uncertainty, `always`, or `off`.
    #[arg(long, value_enum, default_value = "auto")]
    pub clock_correction: ClockCorrection,
    /// Don't write summary.md and report.html.
    #[arg(long)]
    pub no_report: bool,
    /// No output but errors.
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// Runs the command.
pub fn run(args: MergeArgs) -> Result<u8> {
    if let Some(id) = &args.run_id {
        super::run::validate_run_id(id)?;
    }
    let req = MergeRequest {
        dirs: args.dirs.clone(),
        run_id: args.run_id.clone(),
        clock: args.clock_correction,
    };
    let rec = merge_into(&req, &args.out)?;
    if !args.no_report {
        crate::report::write_reports(&args.out, &rec)
            .with_context(|| format!("writing reports into {}", args.out.display()))?;
    }
    if !args.quiet {
        let s = &rec.meta.summary;
        eprintln!(
            "merged {} records into {}: {} jobs submitted ({} failed), {} allocs placed, {} running; submit→running p50 {:.0} ms p99 {:.0} ms; outcome {}",
            args.dirs.len(),
            args.out.display(),
            s.jobs_submitted,
            s.jobs_failed_to_submit,
            s.allocs_placed,
            s.allocs_running,
            s.latency_ms.submit_to_running.p50,
            s.latency_ms.submit_to_running.p99,
            rec.meta.outcome.as_str()
        );
    }
    Ok(0)
}
