//! `stampede bench ingest`: event-stream ingest throughput (NDJSON split + decode + timeline bookkeeping)
//! and timeline memory per tracked allocation, on synthetic Nomad-shaped events ([`crate::load::ingest`]).

use anyhow::Result;

use crate::load::ingest::measure;

/// Arguments of `stampede bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to benchmark (only `ingest`).
    #[arg(default_value = "ingest", value_parser = ["ingest"])]
    pub what: String,
    /// Allocations to simulate (each produces 3 events: placed, running, complete).
    #[arg(long, default_value_t = 200_000)]
    pub allocs: u32,
    /// Allocations per job (and per PlanResult batch).
    #[arg(long, default_value_t = 100)]
    pub per_job: u32,
}

/// Runs the command.
pub fn run(args: BenchArgs) -> Result<u8> {
    let m = measure(args.allocs, args.per_job)?;
    println!(
        "breakdown: framing {} lines in {:.3} s; framing+decode {} events in {:.3} s; bookkeeping ≈ {:.3} s",
        m.lines,
        m.split_s,
        m.decoded,
        m.decode_s,
        (m.secs - m.decode_s).max(0.0)
    );
    println!(
        "ingest: {} allocation events ({:.1} MiB NDJSON) in {:.3} s = {:.0} events/s, {:.1} MiB/s on one core",
        m.events,
        m.bytes as f64 / 1048576.0,
        m.secs,
        m.events as f64 / m.secs,
        m.bytes as f64 / 1048576.0 / m.secs
    );
    if let Some(c) = m.cpu_s {
        println!(
            "ingest CPU time: {c:.3} s = {:.0} events per CPU-second",
            m.events as f64 / c
        );
    }
    println!(
        "timeline memory: {} tracked allocations, {:.1} bytes per allocation (estimate of heap use incl. index and interners)",
        m.tracked,
        m.bytes_per_alloc
    );
    Ok(0)
}
