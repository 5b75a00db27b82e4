//! `stampede sim`: run a scenario in the deterministic simulator and write its run record.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use stampede_sim::duration::format_duration_ns;
use stampede_sim::record::RunRecord;
use stampede_sim::runner::{Progress, RunOptions, RunStats};

use crate::files;
use crate::simulate::{simulate, source_for};

/// Arguments of `stampede sim`.
#[derive(Debug, clap::Args)]
pub struct SimArgs {
    /// Scenario file (TOML), e.g. scenarios/c2m.toml.
    #[arg(long, short = 's')]
    pub scenario: PathBuf,
    /// Root seed (default: the scenario's `seed`). The seed used is printed and stored in run.json.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Shrink (or grow) nodes and jobs proportionally, e.g. 0.1 for a quick run.
    #[arg(long, default_value_t = 1.0)]
    pub scale: f64,
    /// Replay a recorded trace (JSON Lines or CSV) instead of the scenario's synthetic workload.
    #[arg(long)]
    pub trace: Option<PathBuf>,
    /// Output directory (default reports/<scenario>-<seed>/).
    #[arg(long, short = 'o')]
    pub out: Option<PathBuf>,
    /// Permute same-time events with this seed, to check a result doesn't hinge on tie order.
    #[arg(long)]
    pub tie_shuffle: Option<u64>,
    /// Don't write summary.md and report.html.
    #[arg(long)]
    pub no_report: bool,
    /// No progress bar or summary text.
    #[arg(long, short = 'q')]
    pub quiet: bool,
    /// Print the summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Override a scenario setting or model parameter without editing the file, e.g.
    /// `--set nomad_version=2.0.5 --set plan_apply_pipeline=8 --set params.raft_rtt_us=900`. Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = files::parse_set)]
    pub set: Vec<(String, String)>,
    /// Apply a calibration (`stampede calibrate` output) on top of the scenario's `[params]`; run.json
    /// records which (file digest, source runs, date).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
}

/// Runs the command.
pub fn run(args: SimArgs) -> Result<u8> {
    let mut sc = files::load_scenario_with(&args.scenario, args.scale, &args.set)?;
    let cal = crate::calibrate::apply_flag(&mut sc, args.calibration.as_deref())?;
    let seed = args.seed.unwrap_or(sc.seed);
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from("reports").join(format!("{}-{}", sc.name, seed)));
    let source = source_for(&sc, seed, args.trace.as_deref())?;
    let opts = RunOptions {
        seed,
        tie_shuffle: args.tie_shuffle,
        run_id: out.file_name().map(|n| n.to_string_lossy().into_owned()),
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        early_stop: None,
    };
    let loud = !args.quiet && !args.json;
    if loud {
        eprintln!("{}", crate::calibrate::statement(cal.as_ref()));
        eprintln!(
            "simulating {} (seed {seed}{}): {} nodes, {} servers",
            sc.name,
            if args.scale != 1.0 {
                format!(", scale {}", args.scale)
            } else {
                String::new()
            },
            sc.initial_nodes(),
            sc.cluster.servers
        );
    }
    let bar = if loud && std::io::stderr().is_terminal() {
        let b = indicatif::ProgressBar::new(source.len_hint().unwrap_or(0));
        b.set_style(
            indicatif::ProgressStyle::with_template(
                "{spinner} sim t={msg} [{bar:30}] {pos}/{len} jobs",
            )
            .expect("template"),
        );
        Some(b)
    } else {
        None
    };
    let wall = Instant::now();
    let (mut rec, stats) = simulate(&sc, source, &opts, &mut |p: &Progress| {
        if let Some(b) = &bar {
            b.set_position(p.jobs_submitted);
            b.set_message(format!(
                "{} placed={} running={}",
                format_duration_ns(p.sim_time),
                p.placed,
                p.running
            ));
        }
    })?;
    let elapsed = wall.elapsed();
    if let Some(b) = bar {
        b.finish_and_clear();
    }
    rec.meta.calibration = cal.map(|c| c.reference);
    files::record::write_record(&out, &rec)?;
    if !args.no_report {
        crate::report::write_reports(&out, &rec)
            .with_context(|| format!("writing reports into {}", out.display()))?;
    }
    if args.json {
        println!("{}", serde_json::to_string_pretty(&rec.meta.summary)?);
    } else if loud {
        print_summary(&rec, &stats, elapsed.as_secs_f64(), &out);
    }
    Ok(0)
}

fn print_summary(rec: &RunRecord, stats: &RunStats, wall_s: f64, out: &Path) {
    let s = &rec.meta.summary;
    let l = &s.latency_ms;
    println!(
        "run {} (seed {})",
        rec.meta.run_id,
        rec.meta.seed.unwrap_or(0)
    );
    if let Some(c) = rec.meta.calibration_statement() {
        println!("  {c}");
    }
    println!(
        "  placed {} / desired {}, running {}, complete {}, failed {}, lost {}, rescheduled {}",
        s.allocs_placed,
        s.allocs_desired,
        s.allocs_running,
        s.allocs_complete,
        s.allocs_failed,
        s.allocs_lost,
        s.allocs_rescheduled
    );
    println!(
        "  completion {} ({:.1} s), placement rate {:.1}/s",
        format_duration_ns((s.completion_s * 1e9) as u64),
        s.completion_s,
        s.placement_rate_per_s
    );
    for (name, p) in [
        ("submit→placed", &l.submit_to_placed),
        ("placed→running", &l.placed_to_running),
        ("submit→running", &l.submit_to_running),
    ] {
        println!(
            "  {name:<15} p50 {:>9.1} ms  p90 {:>9.1} ms  p99 {:>9.1} ms  max {:>9.1} ms",
            p.p50, p.p90, p.p99, p.max
        );
    }
    println!(
        "  servers: cpu max {:.1}%, rss max {:.2} GB, raft {:.1} MB written, {} fsyncs; evals blocked {}, failed {}",
        s.servers.cpu_pct_max,
        s.servers.rss_bytes_max / 1e9,
        s.servers.raft_bytes_written_total / 1e6,
        s.servers.fsyncs_total,
        s.evals_blocked,
        s.evals_failed
    );
    for (k, v) in &s.slo {
        println!(
            "  SLO {k} ≤ {}: measured {:.1} → {}",
            v.threshold,
            v.measured,
            if v.met { "MET" } else { "MISSED" }
        );
    }
    for n in &rec.meta.notes {
        println!("  note: {n}");
    }
    println!(
        "  simulated {} in {:.2} s wall ({} events, {:.2} M events/s)",
        format_duration_ns(stats.sim_time),
        wall_s,
        stats.events,
        stats.events as f64 / wall_s.max(1e-9) / 1e6
    );
    println!("  record: {}", out.display());
}
