//! `stampede bench ingest`: event-stream ingest throughput (NDJSON split + decode + timeline bookkeeping)
//! and timeline memory per tracked allocation, on synthetic Nomad-shaped events ([`crate::load::ingest`]).
//!
//! `stampede bench soak`: `stampede emulate` and an open-loop `stampede run` against it as child
//! processes, their RSS and open fds sampled from `/proc`, slopes and totals reported
//! ([`crate::load::soak`]).

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result};

use crate::load::ingest::measure;
use crate::load::soak::{run_soak, Series, SoakConfig};

/// Arguments of `stampede bench`.
#[derive(Debug, clap::Args)]
pub struct BenchArgs {
    /// What to benchmark: `ingest` (event-stream ingest, in process) or `soak` (emulator + run as child
    /// processes, RSS and fd slopes).
    #[arg(default_value = "ingest", value_parser = ["ingest", "soak"])]
    pub what: String,
    /// `ingest`: allocations to simulate (each produces 3 events: placed, running, complete).
    #[arg(long, default_value_t = 200_000)]
    pub allocs: u32,
    /// `ingest`: allocations per job (and per PlanResult batch).
    #[arg(long, default_value_t = 100)]
    pub per_job: u32,
    /// `soak`: minutes of submission (the run then drains and reconciles).
    #[arg(long, default_value_t = 10.0)]
    pub minutes: f64,
    /// `soak`: jobs per second (open loop; batch jobs of one 5 s allocation unless `--run-arg` says else).
    #[arg(long, default_value_t = 200.0)]
    pub rate: f64,
    /// `soak`: how often to sample /proc.
    #[arg(long, default_value = "5s", value_parser = super::parse_duration)]
    pub sample_every: Duration,
    /// `soak`: the emulated cluster (default: the embedded smoke fleet, 20 nodes).
    #[arg(long)]
    pub scenario: Option<PathBuf>,
    /// `soak`: extra `stampede emulate` argument, e.g. `--emulate-arg=--job-gc-threshold=5m` (repeatable).
    #[arg(long = "emulate-arg", allow_hyphen_values = true)]
    pub emulate_args: Vec<String>,
    /// `soak`: extra `stampede run` argument, e.g. `--run-arg=--duration=2s` (repeatable).
    #[arg(long = "run-arg", allow_hyphen_values = true)]
    pub run_args: Vec<String>,
    /// `soak`: output directory (run record, children's logs, soak.json) [default: reports/soak-<UTC>].
    #[arg(long)]
    pub out: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: BenchArgs) -> Result<u8> {
    if args.what == "soak" {
        return soak(args);
    }
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

fn soak(args: BenchArgs) -> Result<u8> {
    let out = args.out.clone().unwrap_or_else(|| {
        PathBuf::from("reports").join(format!(
            "soak-{}",
            chrono::Utc::now().format("%Y%m%dT%H%M%SZ")
        ))
    });
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let scenario = match &args.scenario {
        Some(p) => p.clone(),
        None => {
            let p = out.join("fleet.toml");
            std::fs::write(&p, crate::embedded::DEFAULT_FLEET)
                .with_context(|| format!("writing {}", p.display()))?;
            p
        }
    };
    let cfg = SoakConfig {
        exe: std::env::current_exe().context("locating the stampede binary")?,
        scenario,
        minutes: args.minutes,
        rate: args.rate,
        sample_every: args.sample_every,
        emulate_args: args.emulate_args,
        run_args: args.run_args,
        out: out.clone(),
    };
    let r = run_soak(&cfg, |m| eprintln!("bench soak: {m}"))?;
    let line = |name: &str, s: &Series| {
        println!(
            "{name:<9} pid {:>7}: RSS {:>8} → {:>8} KiB (max {:>8}); slope {:>9.1} KiB/min ({:>9.1} in the second half); \
             fds {:>4} → {:>4} (max {:>4}); slope {:>6.2} fds/min ({:>6.2} in the second half); {} samples",
            s.pid,
            s.rss_kb_first,
            s.rss_kb_last,
            s.rss_kb_max,
            s.rss_kb_per_min,
            s.rss_kb_per_min_second_half,
            s.fds_first,
            s.fds_last,
            s.fds_max,
            s.fds_per_min,
            s.fds_per_min_second_half,
            s.samples.len()
        );
    };
    println!(
        "soak: {} jobs at {}/s, run took {:.0} s (exit {}); record in {}",
        r.jobs,
        r.rate,
        r.run_s,
        r.run_exit.map_or("killed".to_string(), |c| c.to_string()),
        r.record.display()
    );
    line("emulator", &r.emulator);
    line("run", &r.runner);
    println!("samples and figures: {}", out.join("soak.json").display());
    Ok(match r.run_exit {
        Some(0) => 0,
        _ => crate::EXIT_PARTIAL,
    })
}
