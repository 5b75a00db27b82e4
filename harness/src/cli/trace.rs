//! `stampede trace`: record, synthesise, import, inspect and convert CI traffic traces.
//!
//! Formats follow [`crate::files::trace`]'s one extension rule (`.jsonl` or `.csv`); outputs are written
//! atomically, so a failed command never leaves a partial trace behind. Capture is [`crate::capture`].

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use clap::{Subcommand, ValueEnum};
use stampede_sim::trace::fit::trace_stats;
use stampede_sim::trace::swf::{import_swf, ProcsAs, SwfOptions};
use stampede_sim::trace::synth::{synth_monorepo, SynthProfile};

use crate::files::{read_trace, write_trace, TraceFormat};
use crate::report::trace::render_stats;

/// Arguments of `stampede trace`.
#[derive(Debug, clap::Args)]
pub struct TraceArgs {
    /// What to do.
    #[command(subcommand)]
    pub command: TraceCommand,
}

/// How SWF processors map to Nomad resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SwfProcs {
    /// One allocation per processor.
    Count,
    /// One allocation with all processors' CPU.
    Cpu,
}

/// Most days `trace synth` generates: the longest span stampede accepts anywhere
/// ([`stampede_sim::limits::MAX_DURATION_S`], 30 days). The monorepo profile makes ≈ 62,000 jobs a day, so
/// 30 days are ≈ 1.9 M jobs (≈ 560 MB of JSON Lines, ≈ 1.2 GB of memory while writing, ≈ 10 s), within
/// [`stampede_sim::limits::MAX_JOBS`].
pub const MAX_SYNTH_DAYS: u32 = (stampede_sim::limits::MAX_DURATION_S / 86_400) as u32;

/// `stampede trace` subcommands.
#[derive(Debug, Subcommand)]
pub enum TraceCommand {
    /// Generate synthetic monorepo CI traffic.
    Synth {
        /// Profile (`monorepo`).
        #[arg(long, default_value = "monorepo")]
        profile: String,
        /// Days of traffic, 1 to 30 ([`MAX_SYNTH_DAYS`]).
        #[arg(long, default_value_t = 1)]
        days: u32,
        /// Seed (default 1); the seed used is printed.
        #[arg(long, default_value_t = 1)]
        seed: u64,
        /// Output file.
        #[arg(long)]
        out: PathBuf,
        /// Output format (default: from the extension, else jsonl).
        #[arg(long, value_enum)]
        format: Option<TraceFormat>,
    },
    /// Import a Standard Workload Format (SWF) log.
    Import {
        /// SWF file.
        #[arg(long)]
        swf: PathBuf,
        /// Output file (`.jsonl` or `.csv`).
        #[arg(long)]
        out: PathBuf,
        /// Processor mapping.
        #[arg(long, value_enum, default_value = "count")]
        procs_as: SwfProcs,
        /// MHz per processor.
        #[arg(long, default_value_t = 2500)]
        mhz_per_proc: u32,
        /// Keep cancelled jobs (status 5) as failed allocations instead of skipping them.
        #[arg(long)]
        keep_cancelled: bool,
        /// Trace name (default: the SWF file stem).
        #[arg(long)]
        name: Option<String>,
    },
    /// Statistics of a trace: arrival rate, fan-out, durations with lognormal/Pareto fits, totals.
    Inspect {
        /// Trace file (`.jsonl` or `.csv`).
        file: PathBuf,
        /// Print JSON instead of text.
        #[arg(long)]
        json: bool,
        /// Quantile of run times above which the Pareto tail is fitted (default: the threshold with the
        /// smallest KS statistic, after Clauset, Shalizi & Newman 2009).
        #[arg(long)]
        tail_quantile: Option<f64>,
    },
    /// Convert between JSON Lines and CSV (by extension).
    Convert {
        /// Input trace.
        input: PathBuf,
        /// Output trace.
        output: PathBuf,
    },
    /// Record a cluster's traffic from its event stream (topics Job, Evaluation, Allocation) into a
    /// `.jsonl` trace. Stops after `--duration` or on Ctrl-C, and writes the trace in full either way.
    Record {
        /// How to reach Nomad: `--addr` (default `http://127.0.0.1:4646`), `--token`, `--namespace`,
        /// `--region`, TLS.
        #[command(flatten)]
        conn: Box<crate::nomad::NomadConnArgs>,
        /// How long to record, e.g. `24h`.
        #[arg(long, value_parser = super::parse_duration)]
        duration: std::time::Duration,
        /// Output file (`.jsonl`); `FILE.partial` holds the job lines while recording.
        #[arg(long)]
        out: PathBuf,
        /// Record only jobs whose ID starts with this.
        #[arg(long)]
        prefix: Option<String>,
        /// Trace name (default: the output file stem).
        #[arg(long)]
        name: Option<String>,
        /// How long a failed allocation may wait for its replacement before its batch job is written.
        #[arg(long, value_parser = super::parse_duration, default_value = "2m")]
        reschedule_grace: std::time::Duration,
    },
}

/// Runs the command.
pub fn run(args: TraceArgs) -> Result<u8> {
    match args.command {
        TraceCommand::Synth {
            profile,
            days,
            seed,
            out,
            format,
        } => {
            let p = SynthProfile::by_name(&profile)
                .with_context(|| format!("unknown profile `{profile}` (known: monorepo)"))?;
            p.validate()
                .map_err(|e| anyhow::anyhow!("profile `{profile}`: {e}"))?;
            if days == 0 || days > MAX_SYNTH_DAYS {
                bail!(
                    "--days {days}: must be between 1 and {MAX_SYNTH_DAYS} (the longest span stampede accepts; generate longer traffic as several traces)"
                );
            }
            // The extension decides when it names a format; --format only for names without one
            // (`/dev/stdout`, `-`-less pipes) or to confirm it.
            let format = match (format, TraceFormat::of(&out)) {
                (Some(f), Some(ext)) if f != ext => bail!(
                    "--format {} contradicts the extension of {} ({}): rename the file or drop --format",
                    f.name(),
                    out.display(),
                    ext.name()
                ),
                (Some(f), _) => f,
                (None, ext) => ext.unwrap_or(TraceFormat::Jsonl),
            };
            let t0 = Instant::now();
            let trace = synth_monorepo(&p, days, seed);
            let gen = t0.elapsed();
            write_trace(&trace, &out, format)?;
            println!(
                "seed {seed}: wrote {} jobs ({} allocations, {:.1} compute-hours) over {days} day(s) to {} (generated in {:.0} ms)",
                trace.jobs.len(),
                trace.total_allocs(),
                trace.compute_hours(),
                out.display(),
                gen.as_secs_f64() * 1e3
            );
            Ok(0)
        }
        TraceCommand::Import {
            swf,
            out,
            procs_as,
            mhz_per_proc,
            keep_cancelled,
            name,
        } => {
            let text = std::fs::read_to_string(&swf)
                .with_context(|| format!("reading {}", swf.display()))?;
            let name = name.unwrap_or_else(|| {
                swf.file_stem()
                    .map(|s| s.to_string_lossy().into_owned())
                    .unwrap_or_else(|| "swf".into())
            });
            if mhz_per_proc == 0 {
                bail!("--mhz-per-proc must be at least 1");
            }
            let opts = SwfOptions {
                name,
                procs_as: match procs_as {
                    SwfProcs::Count => ProcsAs::Count,
                    SwfProcs::Cpu => ProcsAs::Cpu,
                },
                mhz_per_proc,
                keep_cancelled,
                ..SwfOptions::default()
            };
            let (trace, st) = import_swf(&text, &swf.display().to_string(), &opts)?;
            let format = TraceFormat::require(&out)?;
            write_trace(&trace, &out, format)?;
            println!(
                "imported {} of {} jobs from {} into {} (skipped: {} cancelled, {} with unknown run time, {} partial executions)",
                st.imported,
                st.lines,
                swf.display(),
                out.display(),
                st.skipped_cancelled,
                st.skipped_unknown_runtime,
                st.skipped_partial
            );
            Ok(0)
        }
        TraceCommand::Inspect {
            file,
            json,
            tail_quantile,
        } => {
            if let Some(q) = tail_quantile.filter(|q| !(0.0..1.0).contains(q)) {
                bail!("--tail-quantile {q} must be within [0, 1)");
            }
            let trace = read_trace(&file)?;
            let st = trace_stats(&trace, tail_quantile);
            if json {
                println!("{}", serde_json::to_string_pretty(&st)?);
            } else {
                print!("{}", render_stats(&st));
            }
            Ok(0)
        }
        TraceCommand::Convert { input, output } => {
            let out_format = TraceFormat::require(&output)?;
            let trace = read_trace(&input)?;
            write_trace(&trace, &output, out_format)?;
            println!(
                "converted {} jobs from {} to {}",
                trace.jobs.len(),
                input.display(),
                output.display()
            );
            Ok(0)
        }
        TraceCommand::Record {
            mut conn,
            duration,
            out,
            prefix,
            name,
            reschedule_grace,
        } => {
            if conn.address.as_deref().is_none_or(str::is_empty) {
                conn.address = Some("http://127.0.0.1:4646".into());
            }
            let rt = tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
                .context("starting the tokio runtime")?;
            rt.block_on(async {
                let mut cfg = crate::capture::RecordConfig::new(*conn, duration, out);
                cfg.prefix = prefix;
                cfg.name = name;
                cfg.reschedule_grace = reschedule_grace;
                // SIGINT, SIGTERM and SIGHUP all end the capture and write what was recorded.
                let (stop, signals) = (cfg.stop.clone(), super::signals::stop_on_signals()?);
                let ctrl_c = tokio::spawn(async move {
                    signals.cancelled().await;
                    eprintln!("interrupted: writing what was recorded");
                    stop.cancel();
                });
                let r = crate::capture::record(cfg).await;
                ctrl_c.abort();
                let s = r?;
                println!(
                    "recorded {} jobs ({} allocation outcomes, {} still running at the stop, {} jobs dropped) over {:.1} s into {} (stream: {} connects, {} disconnects, {} duplicate batches dropped)",
                    s.jobs,
                    s.allocs,
                    s.truncated_allocs,
                    s.dropped.len(),
                    s.elapsed_s,
                    s.out.display(),
                    s.stream.connects,
                    s.stream.disconnects,
                    s.stream.duplicate_batches
                );
                for (id, why) in s.dropped.iter().take(20) {
                    eprintln!("  dropped {id}: {why}");
                }
                Ok(0)
            })
        }
    }
}
