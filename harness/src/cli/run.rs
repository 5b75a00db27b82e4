//! `stampede run`: flood a Nomad cluster (or the embedded emulator) with jobs and measure it.
//! Flags become a typed [`RunPlan`] ([`RunArgs::plan`]: checked before any IO, then the workload read by
//! [`build_workload`]); the work is [`crate::load::run_load`].

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use stampede_sim::scenario::JobType;

use crate::files::record as record_io;
use crate::load::{build_workload, run_load_with, Pacing, RunPlan, WorkloadRequest, WorkloadSpec};
use crate::nomad::NomadConnArgs;

/// The exit codes of `stampede run` (shown by `stampede run --help`; the README has the same table).
pub const EXIT_CODES_HELP: &str = "\
Exit codes:
  0  the run did what was asked: every job submitted, every allocation placed and running, outcome complete
  1  it ran completely, but a scenario SLO failed
  2  bad input or could not run (bad flag or file, unreachable server, every submission refused, e.g. HTTP 400)
  3  partial: some submissions failed, placements were never observed (--drain-timeout), --timeout ran out,
     or SIGINT/SIGTERM/SIGHUP stopped it; the counts are on stderr, run.json's `outcome` says which
--timeout bounds the whole run (submission, drain, reconcile poll, node listing, cleanup, metric scrapes); only
restoring --algorithm may take up to 15 s more. HTTP 4xx answers (validation errors) are never retried.";

/// Checks a `--run-id`: it names a directory under `reports/` and goes into job IDs, so it must be one
/// plain path component: 1-64 characters of `A-Z`, `a-z`, `0-9`, `-`, `_`, `.`, starting with a letter or
/// digit (no `/`, no `..`). The default (a UTC timestamp such as `20261129T033320Z`) passes; `provision`
/// applies its stricter rule (lowercase, ≤ 40, it goes into AWS tags) on top with `--provision`.
pub fn validate_run_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id.len() <= 64
        && id.starts_with(|c: char| c.is_ascii_alphanumeric())
        && id
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if !ok {
        bail!("--run-id `{id}` is invalid: use 1-64 characters of A-Z, a-z, 0-9, `-`, `_`, `.`, starting with a letter or digit (it names a directory under reports/)");
    }
    Ok(())
}

/// Arguments of `stampede run`.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Provision spot client capacity before the run and tear it down after it (on success, error and
    /// Ctrl-C; feature `aws`). Needs `--run-id`, `--regions`, `--capacity-gib`, `--instance-types`.
    #[arg(long, requires_all = ["run_id", "regions", "capacity_gib", "instance_types"])]
    pub provision: bool,
    /// `--provision`: regions to create capacity in.
    #[arg(long, value_delimiter = ',')]
    pub regions: Vec<String>,
    /// `--provision`: client capacity per region, GiB.
    #[arg(long)]
    pub capacity_gib: Option<u32>,
    /// `--provision`: instance types (weighted by GiB).
    #[arg(long, value_delimiter = ',')]
    pub instance_types: Vec<String>,
    /// `--provision`: EC2 endpoint override (emulators such as moto).
    #[arg(long, env = "AWS_ENDPOINT_URL")]
    pub endpoint_url: Option<String>,
    /// `--provision`: refuse plans with more instances than this.
    #[arg(long)]
    pub max_instances: Option<u32>,
    /// `--provision`: refuse plans costing more than this, USD per hour.
    #[arg(long)]
    pub max_hourly_cost: Option<f64>,
    /// `--provision`: scale this Terraform-made ASG (`{region}` is replaced) instead of an EC2 Fleet.
    #[arg(long)]
    pub asg: Option<String>,
    /// `--provision`: client AMI per region (`ami-…` or `REGION=ami-…`; default: the newest own
    /// `stampede-nomad-client-*`).
    #[arg(long, value_delimiter = ',')]
    pub ami: Vec<String>,
    /// `--provision`: where the provisioning journal and manifest live.
    #[arg(long, default_value = ".stampede")]
    pub state_dir: std::path::PathBuf,
    /// Don't write summary.md and report.html at the end.
    #[arg(long)]
    pub no_report: bool,
    /// Connection (address, token, TLS).
    #[command(flatten)]
    pub conn: NomadConnArgs,
    /// Take the workload from this scenario's `[workload]` section (its job shape and arrival; `--jobs`,
    /// `--rate` and `--workers` override the scenario's, the job-shape flags are refused).
    #[arg(long, value_name = "FILE", conflicts_with_all = ["jobspec"])]
    pub scenario: Option<PathBuf>,
    /// Submit copies of this HCL2 jobspec.
    #[arg(long, value_name = "FILE")]
    pub jobspec: Option<PathBuf>,
    /// Convert the jobspec through the server's /v1/jobs/parse (default against a real Nomad).
    #[arg(long)]
    pub parse_remote: Option<bool>,
    /// Jobspec variable `NAME=VALUE` (repeatable).
    #[arg(long = "var", value_name = "NAME=VALUE")]
    pub vars: Vec<String>,
    /// Number of jobs [default: 100; with --scenario: the scenario's `jobs`].
    #[arg(long)]
    pub jobs: Option<u32>,
    /// Count per task group.
    #[arg(long, default_value_t = 1, conflicts_with = "scenario")]
    pub count: u32,
    /// Task groups per job.
    #[arg(long, default_value_t = 1, conflicts_with = "scenario")]
    pub groups: u32,
    /// Job type.
    #[arg(long = "type", default_value = "batch", value_parser = ["batch", "service"], conflicts_with = "scenario")]
    pub job_type: String,
    /// CPU per allocation, MHz.
    #[arg(long, default_value_t = 100, conflicts_with = "scenario")]
    pub cpu: u32,
    /// Memory per allocation, MB.
    #[arg(long, default_value_t = 64, conflicts_with = "scenario")]
    pub memory: u32,
    /// Task run time (batch), e.g. `5s`.
    #[arg(long, default_value = "5s", value_parser = super::parse_duration, conflicts_with = "scenario")]
    pub duration: Duration,
    /// Job priority.
    #[arg(long, default_value_t = 50, conflicts_with = "scenario")]
    pub priority: u32,
    /// Add a job-level spread block.
    #[arg(long, conflicts_with = "scenario")]
    pub spread_block: bool,
    /// Task driver of generated jobs (`--scenario` and ad-hoc): `docker` runs `/bin/sleep` in the image,
    /// `raw_exec`/`exec` run the host's `/bin/sleep` (clusters without Docker), `mock_driver` uses Nomad's
    /// mock driver (`run_for`; simulated nodes such as tools/nomad's nodesim, Nomad dev builds).
    #[arg(long, default_value = "docker", value_parser = ["docker", "raw_exec", "exec", "mock_driver"], conflicts_with = "jobspec")]
    pub driver: String,
    /// Dispatch a parameterized job instead of registering copies.
    #[arg(long)]
    pub dispatch: bool,
    /// Datacenters of generated jobs.
    #[arg(long, value_delimiter = ',', default_value = "*")]
    pub datacenters: Vec<String>,
    /// Open loop: jobs per second.
    #[arg(long, conflicts_with = "workers")]
    pub rate: Option<f64>,
    /// Open loop: jobs released together.
    #[arg(long, default_value_t = 1, requires = "rate")]
    pub burst: u32,
    /// Open loop: uniform jitter added to each intended send time.
    #[arg(long, default_value = "0s", value_parser = super::parse_duration)]
    pub jitter: Duration,
    /// Closed loop: concurrent submitters (default 20 when no --rate).
    #[arg(long)]
    pub workers: Option<u32>,
    /// Seed of the jitter RNG (printed).
    #[arg(long)]
    pub seed: Option<u64>,
    /// Job-ID prefix (default `stampede-<run-id>-`).
    #[arg(long)]
    pub prefix: Option<String>,
    /// Run ID (default: UTC timestamp).
    #[arg(long)]
    pub run_id: Option<String>,
    /// Output directory (default `reports/<run-id>/`).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Set the cluster scheduler algorithm for the run (restored afterwards).
    #[arg(long, value_parser = ["spread", "binpack"])]
    pub algorithm: Option<String>,
    /// Deregister and purge the run's own jobs at the end.
    #[arg(long)]
    pub cleanup: bool,
    /// Bound on the whole run.
    #[arg(long, default_value = "30m", value_parser = super::parse_duration)]
    pub timeout: Duration,
    /// Bound on waiting for placements after the last submission.
    #[arg(long, default_value = "5m", value_parser = super::parse_duration)]
    pub drain_timeout: Duration,
    /// What to wait for after the last submission: every allocation `placed`, `running` (placed and
    /// started), or `done` (finished, no replacement pending) [default: done for batch jobs, running for
    /// service jobs].
    #[arg(long, value_enum)]
    pub wait: Option<crate::load::WaitFor>,
    /// Attempts per submission for retryable errors.
    #[arg(long, default_value_t = 5)]
    pub max_attempts: u32,
    /// Don't scrape /v1/metrics.
    #[arg(long)]
    pub no_metrics: bool,
    /// Scrape /v1/metrics of the --addr server only. By default stampede reads /v1/status/peers and scrapes
    /// every server on the HTTP port of --addr, sending each the X-Nomad-Token (by design: per-server CPU and
    /// Raft figures); use this when the token must reach no other address.
    #[arg(long)]
    pub no_peer_scrape: bool,
    /// No progress output.
    #[arg(long)]
    pub quiet: bool,
    /// Print the final summary as JSON on stdout.
    #[arg(long)]
    pub json: bool,
    /// Be generator I of N (0-based) of one flood: submit, observe and clean up only jobs whose number is
    /// I mod N; every generator needs the same flags (and --run-id or --prefix); `stampede merge` joins
    /// their records.
    #[arg(long, value_name = "I/N", conflicts_with = "provision")]
    pub shard: Option<String>,
    /// Take t = 0 at this wall-clock time (RFC 3339 or Unix seconds), so the generators start together;
    /// --timeout counts from then.
    #[arg(long, value_name = "TIME", conflicts_with = "provision")]
    pub start_at: Option<String>,
    /// Let Nomad place N generators (a batch job running this binary with raw_exec, `--shard I/N` each);
    /// their records are read back and merged into --out.
    #[arg(long, value_name = "N", conflicts_with_all = ["shard", "provision"])]
    pub as_nomad_job: Option<u32>,
    /// --as-nomad-job: the stampede binary on the clients, an absolute path (default: this binary's).
    #[arg(long, requires = "as_nomad_job")]
    pub worker_binary: Option<PathBuf>,
}

fn parse_vars(v: &[String]) -> Result<BTreeMap<String, String>> {
    v.iter()
        .map(|s| {
            s.split_once('=')
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .with_context(|| format!("--var `{s}`: expected NAME=VALUE"))
        })
        .collect()
}

impl RunArgs {
    /// The typed plan: defaults resolved (run ID, prefix, seed, output directory) and flags checked before
    /// any IO, then the workload read by [`build_workload`] (may call `/v1/jobs/parse`).
    pub async fn plan(&self) -> Result<RunPlan> {
        let a = self;
        if let Some(id) = &a.run_id {
            validate_run_id(id)?;
        }
        let shard = a
            .shard
            .as_deref()
            .map(crate::distrib::Shard::parse)
            .transpose()?;
        let start_at_unix_ns = a
            .start_at
            .as_deref()
            .map(crate::distrib::shard::parse_start_at)
            .transpose()?;
        let run_id = a
            .run_id
            .clone()
            .unwrap_or_else(|| chrono::Utc::now().format("%Y%m%dT%H%M%SZ").to_string());
        let prefix = a
            .prefix
            .clone()
            .unwrap_or_else(|| format!("stampede-{run_id}-"));
        let seed = a.seed.unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64)
                ^ u64::from(std::process::id())
        });
        let pacing = match (a.rate, a.workers) {
            (Some(r), _) if !(r.is_finite() && r > 0.0) => {
                bail!("--rate {r}: must be a positive number of jobs per second")
            }
            (Some(rate_per_s), _) => Pacing::Open {
                rate_per_s,
                burst: a.burst.max(1),
                jitter: a.jitter,
                max_in_flight: 64,
            },
            (None, w) => Pacing::Closed {
                workers: w.unwrap_or(20).max(1),
            },
        };
        let spec = if let Some(p) = &a.scenario {
            WorkloadSpec::Scenario(p.clone())
        } else if let Some(p) = &a.jobspec {
            WorkloadSpec::Jobspec {
                path: p.clone(),
                vars: parse_vars(&a.vars)?,
                parse_remote: a.parse_remote,
            }
        } else {
            let job_type =
                JobType::parse(&a.job_type).with_context(|| format!("--type {}", a.job_type))?;
            WorkloadSpec::Adhoc {
                groups: a.groups,
                count: a.count,
                job_type,
                cpu_mhz: a.cpu,
                memory_mb: a.memory,
                duration: a.duration,
                priority: a.priority,
                spread_block: a.spread_block,
            }
        };
        let request = WorkloadRequest {
            spec,
            jobs: a.jobs,
            pacing_given: a.rate.is_some() || a.workers.is_some(),
            dispatch: a.dispatch,
            driver: a.driver.clone(),
            datacenters: a.datacenters.clone(),
            prefix: prefix.clone(),
            algorithm: a.algorithm.clone(),
            pacing,
        };
        let built = build_workload(&request, &a.conn).await?;
        let wait = a.wait.unwrap_or_else(|| default_wait(&built.workload.job));
        Ok(RunPlan {
            conn: a.conn.clone(),
            out_dir: a
                .out
                .clone()
                .unwrap_or_else(|| PathBuf::from("reports").join(&run_id)),
            run_id,
            prefix,
            seed,
            workload: built.workload,
            pacing: built.pacing,
            algorithm: a.algorithm.clone(),
            cleanup: a.cleanup,
            timeout: a.timeout,
            drain_timeout: a.drain_timeout,
            wait,
            max_attempts: a.max_attempts,
            scrape_metrics: !a.no_metrics,
            peer_scrape: !a.no_peer_scrape,
            progress: !a.quiet && !a.json && std::io::stderr().is_terminal(),
            scenario: built.scenario,
            slo: built.slo,
            per_page: 500,
            announce: !a.quiet && !a.json,
            stop: tokio_util::sync::CancellationToken::new(),
            shard,
            start_at_unix_ns,
        })
    }
}

/// `--wait`'s default for a job: `done` for batch and sysbatch jobs (CI work that ends), `running` for the
/// rest (services never finish).
pub fn default_wait(job: &serde_json::Value) -> crate::load::WaitFor {
    match job["Type"].as_str() {
        Some("batch" | "sysbatch") => crate::load::WaitFor::Done,
        _ => crate::load::WaitFor::Running,
    }
}

/// [`RunArgs::plan`].
pub async fn plan_from_args(a: &RunArgs) -> Result<RunPlan> {
    a.plan().await
}

/// Runs the command.
pub fn run(args: RunArgs) -> Result<u8> {
    let stop = super::signals::stop_on_signals()?;
    if args.provision {
        return run_provisioned(args, stop);
    }
    run_plain(args, stop)
}

/// Prints the outcome line (always when not complete, even with `--quiet`) and returns the exit code.
fn finish(out: &crate::load::RunOutcome, quiet: bool) -> u8 {
    let code = out.exit_code();
    if code != 0 || !quiet {
        eprintln!(
            "stampede run: {} (exit {code}); record in {}",
            out.describe(),
            out.dir.display()
        );
    }
    code
}

/// `run --provision`: provision, run (polling spot interruptions into the record), then always tear down.
fn run_provisioned(args: RunArgs, stop: tokio_util::sync::CancellationToken) -> Result<u8> {
    #[cfg(not(feature = "aws"))]
    {
        let _ = (args, stop);
        anyhow::bail!("`stampede run --provision` needs AWS: built without the `aws` feature; rebuild with `cargo build --features aws`")
    }
    #[cfg(feature = "aws")]
    {
        use crate::cli::provision::{run_provision, run_teardown, ProvisionArgs, TeardownArgs};
        let run_id = args.run_id.clone().expect("clap requires --run-id");
        let prov = ProvisionArgs {
            run_id: run_id.clone(),
            regions: args.regions.clone(),
            capacity_gib: args.capacity_gib.expect("clap requires --capacity-gib"),
            instance_types: args.instance_types.clone(),
            endpoint_url: args.endpoint_url.clone(),
            ami: args.ami.clone(),
            user_data: None,
            asg: args.asg.clone(),
            max_instances: args.max_instances,
            max_hourly_cost: args.max_hourly_cost,
            dry_run: false,
            prices: None,
            no_wait: args.conn.address.is_none(),
            nomad_addr: args.conn.address.clone(),
            wait_timeout: std::time::Duration::from_secs(15 * 60),
            state_dir: args.state_dir.clone(),
            json: false,
        };
        let teardown = || {
            run_teardown(TeardownArgs {
                run_id: run_id.clone(),
                regions: args.regions.clone(),
                endpoint_url: args.endpoint_url.clone(),
                state_dir: args.state_dir.clone(),
                json: false,
            })
        };
        // Guardrail refusals and provisioning errors still tear down whatever was created.
        if let Err(e) = run_provision(prov) {
            let _ = teardown();
            return Err(e.context("provisioning the client fleet (torn down again)"));
        }
        if stop.is_cancelled() {
            let td = teardown();
            td.context("tearing down the provisioned fleet after a signal")?;
            anyhow::bail!(
                "interrupted while provisioning; the fleet was torn down and nothing ran"
            );
        }
        let result = run_with_interruptions(&args, &run_id, stop);
        let td = teardown();
        let code = result?;
        td.context("tearing down the provisioned fleet")?;
        Ok(code)
    }
}

#[cfg(feature = "aws")]
fn run_with_interruptions(
    args: &RunArgs,
    run_id: &str,
    stop: tokio_util::sync::CancellationToken,
) -> Result<u8> {
    use crate::aws::{poll_interruptions, AwsTarget, InterruptionPoller};
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        let mut plan = plan_from_args(args).await?;
        plan.stop = stop;
        let target = AwsTarget {
            endpoint_url: args.endpoint_url.clone(),
        };
        let mut poller =
            InterruptionPoller::new(run_id, &args.regions, target, std::time::Instant::now());
        let (stop_tx, mut stop_rx) = tokio::sync::watch::channel(false);
        let polling = tokio::spawn(async move {
            let mut events = Vec::new();
            loop {
                if let Ok(mut ev) = poll_interruptions(&mut poller).await {
                    events.append(&mut ev);
                }
                tokio::select! {
                    _ = tokio::time::sleep(std::time::Duration::from_secs(5)) => {}
                    _ = stop_rx.changed() => break,
                }
            }
            poller.stop();
            events
        });
        let out = crate::load::run_load(plan).await;
        let _ = stop_tx.send(true);
        let events = polling.await.unwrap_or_default();
        let out = out?;
        let rec = record_io::add_events(&out.dir, events)?;
        if !args.no_report {
            crate::report::write_reports(&out.dir, &rec)?;
        }
        Ok(finish(&out, args.quiet))
    })
}

fn run_plain(args: RunArgs, stop: tokio_util::sync::CancellationToken) -> Result<u8> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the tokio runtime")?;
    rt.block_on(async {
        let mut plan = plan_from_args(&args).await?;
        plan.stop = stop;
        if let Some(count) = args.as_nomad_job {
            return run_as_nomad_job(&args, plan, count).await;
        }
        let shard_run = crate::distrib::shard::prepare(
            &mut plan,
            args.run_id.is_some() || args.prefix.is_some(),
            args.seed.is_some(),
        )
        .await?;
        if let (Some(s), false) = (&shard_run, args.quiet || args.json) {
            if let Some(c) = s.clock() {
                eprintln!("shard {}: clock offset against the servers {:+.3} ms ± {:.3} ms", args.shard.as_deref().unwrap_or(""), c.offset_ns as f64 / 1e6, c.uncertainty_ns as f64 / 1e6);
            }
        }
        if !args.quiet && !args.json {
            eprintln!("stampede run {}: seed {}, prefix `{}`, writing {}", plan.run_id, plan.seed, plan.prefix, plan.out_dir.display());
        }
        let embedded = match plan.conn.address {
            Some(_) => None,
            None => Some(crate::embedded::EmbeddedEmulator::for_scenario(
                args.scenario.as_deref(),
                plan.seed,
                !args.quiet && !args.json,
            )?),
        };
        let out = run_load_with(plan, embedded.as_ref().map(|e| e as _)).await?;
        if let Some(s) = &shard_run {
            s.write(&out.dir, out.meta.start_unix_ns)?;
        }
        if !args.no_report {
            let rec = record_io::read_record(&out.dir)?;
            crate::report::write_reports(&out.dir, &rec)
                .with_context(|| format!("writing reports into {}", out.dir.display()))?;
        }
        let s = &out.meta.summary;
        if args.json {
            println!("{}", serde_json::to_string_pretty(s)?);
        } else if !args.quiet {
            eprintln!(
                "{} jobs submitted ({} failed), {} allocs placed, {} running; submit→running p50 {:.0} ms p99 {:.0} ms",
                s.jobs_submitted, s.jobs_failed_to_submit, s.allocs_placed, s.allocs_running, s.latency_ms.submit_to_running.p50, s.latency_ms.submit_to_running.p99
            );
        }
        Ok(finish(&out, args.quiet || args.json))
    })
}

/// `run --as-nomad-job N` ([`crate::distrib::flood`]).
async fn run_as_nomad_job(args: &RunArgs, plan: crate::load::RunPlan, count: u32) -> Result<u8> {
    if args.run_id.is_none() && args.prefix.is_none() {
        bail!("--as-nomad-job needs --run-id or --prefix (the generators share the job IDs)");
    }
    let o = crate::distrib::flood::AsNomadJob {
        count,
        worker_binary: match &args.worker_binary {
            Some(p) => p.clone(),
            None => std::env::current_exe().context("finding this binary's path")?,
        },
        start_at: plan.start_at_unix_ns,
        datacenters: vec!["*".into()],
        announce: !args.quiet && !args.json,
    };
    let out = plan.out_dir.clone();
    let code = crate::distrib::flood::run_as_nomad_job(plan, &o).await?;
    if !args.no_report {
        let rec = record_io::read_record(&out)?;
        crate::report::write_reports(&out, &rec)
            .with_context(|| format!("writing reports into {}", out.display()))?;
    }
    Ok(code)
}
