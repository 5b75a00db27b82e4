//! [`run_load`]: the library entry of `stampede run`.
//!
//! Order of work: connect (version, source) → set the scheduler algorithm (saved for restore) → open the
//! event stream and the metrics scraper → submit → drain (wait, bounded, for placements and starts) →
//! reconcile with a final paginated poll of allocations and evaluations → list nodes → optional cleanup →
//! write `allocs.csv`, `nodes.csv`, `metrics.csv`, `run.json` → restore the scheduler configuration (also
//! on error, timeout and interruption).
//!
//! ## Bounds and outcome
//! `plan.timeout` bounds the whole run: every network phase (version, scheduler config, discovery,
//! submission, drain, reconcile, node listing, cleanup) waits at most until `start + timeout`; a phase the
//! deadline cuts short is named in the notes and on stderr, and the record says `outcome: timed-out`. The one
//! step allowed past it is restoring the scheduler configuration ([`RESTORE_BOUND`]), because leaving the
//! cluster changed is worse than finishing late. `plan.stop` (SIGINT/SIGTERM/SIGHUP in the CLI) stops
//! submission and the drain at once; the reconcile poll then gets at most [`AFTER_STOP_BOUND`] so the record
//! still holds what the cluster did with the jobs already sent (`outcome: interrupted`). A run that ends
//! without either but with failed submissions is `partial`; [`RunOutcome::exit_code`] maps all of this to
//! the documented exit codes.

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use stampede_sim::record::{self, NodeRow, Outcome, RunMeta, Source, Summary, METRICS_CSV_HEADER};
use stampede_sim::summary::SummaryInputs;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::generator::{submit_all, SubmitStats};
use super::plan::RunPlan;
use super::scraper;
use super::timeline::{AllocUpdate, Progress, Timeline, WaitFor};
use crate::files::record::{self as record_io, CsvAppender};
use crate::nomad::stream::{read_event_stream, StreamOptions, StreamStats};
use crate::nomad::types::{AllocStub, Evaluation, NodeStub};
use crate::nomad::{ListQuery, NomadClient, NomadConnArgs};

/// A target started in-process when no address is given (the embedded emulator), handed to
/// [`run_load_with`]; it returns the HTTP address and a guard that stops the target on drop.
pub trait EmbeddedTarget: Send + Sync {
    /// Starts the target.
    fn start(&self) -> EmbeddedStart;
}

/// What [`EmbeddedTarget::start`] returns: the HTTP address and a guard that stops the target on drop.
pub type EmbeddedStart =
    Pin<Box<dyn Future<Output = Result<(String, Box<dyn std::any::Any + Send>)>> + Send>>;

/// What a run produced.
#[derive(Debug, Clone)]
pub struct RunOutcome {
    /// Record directory.
    pub dir: PathBuf,
    /// `run.json` as written.
    pub meta: RunMeta,
    /// Submission counters.
    pub submit: SubmitStats,
    /// Event-stream counters.
    pub stream: StreamStats,
    /// Allocations only the final poll knew about (the stream missed them).
    pub reconciled_new_allocs: u64,
    /// Estimated heap bytes per tracked allocation of the timeline.
    pub timeline_bytes_per_alloc: f64,
    /// Whether the run was stopped early (signal or `--timeout`) before submitting everything.
    pub interrupted: bool,
    /// How the run ended (also in `run.json`).
    pub outcome: Outcome,
}

/// Longest wait for restoring the scheduler configuration, also past `--timeout`.
pub const RESTORE_BOUND: Duration = Duration::from_secs(15);
/// Longest wait for the reconcile poll, node listing and cleanup after the run was interrupted.
pub const AFTER_STOP_BOUND: Duration = Duration::from_secs(10);

impl RunOutcome {
    /// The process exit code of `stampede run` for this outcome: 2 when not one job could be submitted
    /// (the workload or the server refused every submission: bad input, could not run), 3 when the run is
    /// not `complete` (partial, timed out, interrupted), 1 when it is complete but a scenario SLO failed,
    /// else 0. See [`crate::EXIT_PARTIAL`].
    pub fn exit_code(&self) -> u8 {
        let s = &self.meta.summary;
        if s.jobs_submitted == 0 && s.jobs_failed_to_submit > 0 {
            crate::EXIT_ERROR
        } else if !self.outcome.is_complete() {
            crate::EXIT_PARTIAL
        } else if s.slo.values().any(|r| !r.met) {
            crate::EXIT_FAIL
        } else {
            0
        }
    }

    /// One line for stderr: the outcome with the counts that explain it.
    pub fn describe(&self) -> String {
        let s = &self.meta.summary;
        let asked = self.meta.scenario.jobs;
        let unsent = asked.saturating_sub(s.jobs_submitted + s.jobs_failed_to_submit);
        let mut line = format!(
            "outcome {}: {} of {asked} jobs submitted, {} failed, {unsent} never sent; {} of {} allocations placed, {} running",
            self.outcome.as_str(),
            s.jobs_submitted,
            s.jobs_failed_to_submit,
            s.allocs_placed,
            s.allocs_desired,
            s.allocs_running
        );
        if let Some((msg, n)) = self.submit.errors.iter().max_by_key(|(_, n)| **n) {
            line.push_str(&format!("; most common submit error (×{n}): {msg}"));
        }
        let failed: Vec<&String> = s
            .slo
            .iter()
            .filter(|(_, r)| !r.met)
            .map(|(k, _)| k)
            .collect();
        if !failed.is_empty() {
            line.push_str(&format!(
                "; SLO failed: {}",
                failed
                    .iter()
                    .map(|k| k.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ));
        }
        line
    }
}

/// Why a wait ended early.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Cut {
    /// `--timeout` ran out.
    Timeout,
    /// `plan.stop` was cancelled (a signal).
    Interrupt,
}

/// Awaits `fut` until `until` or `stop`, whichever first.
async fn within<T>(
    until: Instant,
    stop: &CancellationToken,
    fut: impl Future<Output = T>,
) -> Result<T, Cut> {
    tokio::select! {
        biased;
        v = fut => Ok(v),
        _ = stop.cancelled() => Err(Cut::Interrupt),
        _ = tokio::time::sleep_until(until) => Err(Cut::Timeout),
    }
}

/// The final polls (reconcile, nodes): a poll that fails or is cut off by the run's time bound gives no items and a
/// note saying what the record then holds, so what the stream measured is kept.
struct FinalPoll<'a> {
    client: &'a NomadClient,
    until: Instant,
    notes: &'a mut Vec<String>,
    /// A poll was cut off by the time bound.
    cut: bool,
}

impl FinalPoll<'_> {
    async fn poll<T: serde::de::DeserializeOwned>(
        &mut self,
        path: &str,
        q: ListQuery,
        what: &str,
        fallback: &str,
    ) -> Vec<T> {
        let never = CancellationToken::new();
        match within(self.until, &never, list_filtered(self.client, path, q)).await {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                self.notes
                    .push(format!("{what} failed ({e:#}); {fallback}"));
                Vec::new()
            }
            Err(_) => {
                self.cut = true;
                self.notes.push(format!(
                    "{what} cut off by the run's time bound; {fallback}"
                ));
                Vec::new()
            }
        }
    }
}

/// Files of a run record (and its reports) in a record directory; removed when a new run starts there, so
/// a run that dies (SIGKILL) cannot leave the previous run's record looking like its own.
const RECORD_FILES: [&str; 6] = [
    record_io::RUN_JSON,
    record_io::ALLOCS_CSV,
    record_io::NODES_CSV,
    record_io::METRICS_CSV,
    "summary.md",
    "report.html",
];

/// Removes a previous record from `dir` (see [`RECORD_FILES`]); returns how many files it removed.
fn invalidate_previous_record(dir: &std::path::Path) -> Result<usize> {
    let mut n = 0;
    for f in RECORD_FILES {
        let p = dir.join(f);
        match std::fs::remove_file(&p) {
            Ok(()) => n += 1,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(e).with_context(|| {
                    format!(
                        "removing the previous record's {} before a new run",
                        p.display()
                    )
                })
            }
        }
    }
    Ok(n)
}

fn unix_ns_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// Executes a plan against a Nomad (or emulator) and writes the run record into `plan.out_dir`. The plan
/// must name an address.
pub async fn run_load(plan: RunPlan) -> Result<RunOutcome> {
    run_load_with(plan, None).await
}

/// [`run_load`], starting `embedded` when the plan names no address.
pub async fn run_load_with(
    plan: RunPlan,
    embedded: Option<&dyn EmbeddedTarget>,
) -> Result<RunOutcome> {
    let deadline = Instant::now() + plan.timeout;
    let timeout_s = plan.timeout.as_secs_f64();
    let mut conn = plan.conn.clone();
    let _guard = if conn.address.is_none() {
        match embedded {
            Some(t) => {
                let (addr, guard) = t.start().await.context("starting the embedded emulator")?;
                conn.address = Some(addr);
                Some(guard)
            }
            None => anyhow::bail!("no Nomad address: pass --addr or set NOMAD_ADDR"),
        }
    } else {
        None
    };
    let client = NomadClient::new(&conn)?;
    let version = match within(deadline, &plan.stop, client.version()).await {
        Ok(v) => v.with_context(|| {
            format!(
                "asking {} for its version (is Nomad running there?)",
                client.base()
            )
        })?,
        Err(Cut::Timeout) => bail!(
            "--timeout {timeout_s}s ran out while asking {} for its version (is Nomad running there?)",
            client.base()
        ),
        Err(Cut::Interrupt) => bail!(
            "interrupted while asking {} for its version; nothing was submitted",
            client.base()
        ),
    };
    let source = if version.contains("emulator") {
        Source::Emulator
    } else {
        Source::Nomad
    };

    let saved_sched = match &plan.algorithm {
        Some(alg) => match within(deadline, &plan.stop, client.set_scheduler_algorithm(alg)).await {
            Ok(r) => {
                Some(r.with_context(|| format!("setting the scheduler algorithm to `{alg}`"))?)
            }
            // The PUT may have landed: put back what the GET before it read is not known here, so say so.
            Err(c) => bail!(
                "{} while setting the scheduler algorithm to `{alg}`; check the cluster's scheduler configuration",
                if c == Cut::Timeout { format!("--timeout {timeout_s}s ran out") } else { "interrupted".to_string() }
            ),
        },
        None => None,
    };
    let res = run_inner(&plan, &conn, &client, version, source, deadline).await;
    if let Some(old) = saved_sched {
        let r = match tokio::time::timeout(RESTORE_BOUND, client.restore_scheduler_config(&old)).await {
            Ok(r) => r.context("restoring the scheduler configuration"),
            Err(_) => Err(anyhow::anyhow!(
                "restoring the scheduler configuration: no answer within {}s; the cluster keeps the run's algorithm, restore it by hand",
                RESTORE_BOUND.as_secs()
            )),
        };
        if let Err(e) = r {
            return Err(match res {
                Ok(_) => e,
                Err(run_err) => run_err.context(format!("also failed: {e:#}")),
            });
        }
    }
    res
}

async fn run_inner(
    plan: &RunPlan,
    conn: &NomadConnArgs,
    client: &NomadClient,
    version: String,
    source: Source,
    deadline: Instant,
) -> Result<RunOutcome> {
    let dir = plan.out_dir.clone();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let removed = invalidate_previous_record(&dir)?;
    if removed > 0 && plan.announce {
        eprintln!(
            "removed the previous record in {} ({removed} files)",
            dir.display()
        );
    }
    let say = |msg: String| {
        if plan.announce {
            eprintln!("{msg}");
        }
    };
    if let Some(at) = plan.start_at_unix_ns {
        // `--start-at`: every generator of a sharded run takes t = 0 at the same wall-clock instant.
        tokio::select! {
            _ = crate::distrib::shard::sleep_until_unix(at) => {}
            _ = plan.stop.cancelled() => bail!("interrupted while waiting for --start-at; nothing was submitted"),
            _ = tokio::time::sleep_until(deadline) => bail!("--timeout ran out while waiting for --start-at"),
        }
    }
    let t0 = Instant::now();
    let start_unix_ns = unix_ns_now();
    let timeline = Arc::new(Mutex::new(
        Timeline::new(&plan.prefix, start_unix_ns).with_shard(plan.shard),
    ));
    let lock = |t: &Arc<Mutex<Timeline>>| -> Progress {
        t.lock().unwrap_or_else(|p| p.into_inner()).progress()
    };

    // Observer: the event stream, filtered to our jobs.
    // Every background task stops when this function returns, also on an early `?` error.
    let root = CancellationToken::new();
    let _stop_all = root.clone().drop_guard();
    let stop_stream = root.child_token();
    let stream_task = {
        let (c, tl, stop) = (client.clone(), timeline.clone(), stop_stream.clone());
        let opts = StreamOptions::default();
        tokio::spawn(async move {
            read_event_stream(&c, &opts, stop, |_, ev| {
                tl.lock().unwrap_or_else(|p| p.into_inner()).apply_event(ev);
            })
            .await
        })
    };

    // The scenario's standing jobs (system, sysbatch, periodic) go in before the flood and before the
    // counters' baseline: they hold their capacity as on the user's cluster, and their own registration is
    // not counted as the flood's control-plane work. Their allocations are not the flood's (other IDs).
    let mut standing_ids: Vec<String> = Vec::new();
    for job in &plan.workload.standing {
        let id = job["ID"].as_str().unwrap_or_default().to_string();
        match within(deadline, &plan.stop, client.register_job(job)).await {
            Ok(r) => {
                r.with_context(|| format!("registering the standing job {id}"))?;
            }
            Err(c) => bail!(
                "{} while registering the standing job {id}; registered before it: {standing_ids:?}",
                if c == Cut::Timeout {
                    format!("--timeout {}s ran out", plan.timeout.as_secs())
                } else {
                    "interrupted".to_string()
                }
            ),
        }
        standing_ids.push(id);
    }

    // Metrics scraper.
    let stop_scrape = root.child_token();
    let mut targets = if plan.scrape_metrics {
        within(
            deadline,
            &plan.stop,
            scraper::discover_with(client, plan.peer_scrape),
        )
        .await
        .unwrap_or_default()
    } else {
        Vec::new()
    };
    // The counters' baseline before anything is submitted (the control-plane totals are differences).
    let _ = within(deadline, &plan.stop, scraper::baseline(&mut targets)).await;
    let leader = within(deadline, &plan.stop, client.leader())
        .await
        .ok()
        .and_then(|r| r.ok())
        .unwrap_or_default();
    let servers = scraper::server_infos(&targets, &leader);
    let appender = CsvAppender::create(&dir, record_io::METRICS_CSV, METRICS_CSV_HEADER)?;
    let scrape_task = tokio::spawn(scraper::run_scraper(
        targets,
        t0,
        timeline.clone(),
        appender,
        stop_scrape.clone(),
    ));

    // Progress bar.
    let stop_progress = root.child_token();
    let progress_task = plan.progress.then(|| {
        let (tl, stop) = (timeline.clone(), stop_progress.clone());
        let jobs = plan.jobs_to_submit();
        tokio::spawn(async move {
            let pb = indicatif::ProgressBar::new(jobs);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} jobs  {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            loop {
                let p = lock(&tl);
                let secs = t0.elapsed().as_secs_f64().max(1e-3);
                pb.set_position(p.submitted + p.submit_failed);
                pb.set_message(format!(
                    "placed {}/{} running {}  ({:.0} placed/s)",
                    p.placed,
                    p.desired,
                    p.running,
                    p.placed as f64 / secs
                ));
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_millis(200)) => {}
                }
            }
            pb.finish_and_clear();
        })
    });

    // Partial allocs snapshots every 10 s, so an interrupted run keeps what it measured.
    let stop_snap = root.child_token();
    let snap_task = {
        let (tl, stop, dir) = (timeline.clone(), stop_snap.clone(), dir.clone());
        tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep(Duration::from_secs(10)) => {}
                }
                let rows = tl.lock().unwrap_or_else(|p| p.into_inner()).rows();
                let _ = record_io::write_atomic_with(
                    &dir.join(format!("{}.partial", record_io::ALLOCS_CSV)),
                    |w| record::write_allocs_csv(w, &rows),
                );
            }
        })
    };

    // Submit, bounded by the run timeout and `plan.stop`.
    let stop_submit = root.child_token();
    let mut cut: Option<Cut> = None;
    let submit_fut = submit_all(
        client.clone(),
        &plan.workload,
        &plan.pacing,
        &plan.prefix,
        plan.seed,
        plan.max_attempts,
        t0,
        timeline.clone(),
        stop_submit.clone(),
        plan.shard,
    );
    tokio::pin!(submit_fut);
    let submit = loop {
        tokio::select! {
            r = &mut submit_fut => break r?,
            _ = plan.stop.cancelled(), if cut.is_none() => {
                cut = Some(Cut::Interrupt);
                say("stopping submission (interrupted)".into());
                stop_submit.cancel();
            }
            _ = tokio::time::sleep_until(deadline), if cut.is_none() => {
                cut = Some(Cut::Timeout);
                say(format!("--timeout {}s ran out during submission; stopping it", plan.timeout.as_secs_f64()));
                stop_submit.cancel();
            }
        }
    };

    // Drain: wait (bounded by --drain-timeout and --timeout) until every desired allocation is placed, or
    // placed and started, or finished (`plan.wait`). Skipped once the run was cut short.
    let waiting_for = match plan.wait {
        WaitFor::Placed => "placed",
        WaitFor::Running => "placed and running",
        WaitFor::Done => "finished (--wait done)",
    };
    let drain_start = Instant::now();
    let drain_until = (drain_start + plan.drain_timeout).min(deadline);
    let mut drain_timed_out = false;
    let mut next_say = drain_start;
    while cut.is_none() {
        let p = {
            let tl = timeline.lock().unwrap_or_else(|p| p.into_inner());
            if tl.reached(plan.wait) {
                break;
            }
            tl.progress()
        };
        let now = Instant::now();
        if now >= drain_until {
            if now >= deadline {
                cut = Some(Cut::Timeout);
            } else {
                drain_timed_out = true;
            }
            say(format!(
                "{} ran out after {:.0}s of waiting for allocations to be {waiting_for}: {} of {} allocations placed, {} running, {} finished",
                if cut.is_some() { "--timeout" } else { "--drain-timeout" },
                now.duration_since(drain_start).as_secs_f64(),
                p.placed,
                p.desired,
                p.running,
                p.done
            ));
            break;
        }
        if now >= next_say {
            say(format!(
                "waiting up to {:.0}s (--drain-timeout/--timeout) for allocations to be {waiting_for}: {} of {} placed, {} running, {} finished",
                drain_until.duration_since(now).as_secs_f64(),
                p.placed,
                p.desired,
                p.running,
                p.done
            ));
            next_say = now + Duration::from_secs(15);
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = plan.stop.cancelled() => { cut = Some(Cut::Interrupt); }
        }
    }
    let observed_until = t0.elapsed();
    stop_stream.cancel();
    let mut stream_task = stream_task;
    let stream_stats = match tokio::time::timeout(Duration::from_secs(5), &mut stream_task).await {
        Ok(r) => r.context("event-stream task")?,
        Err(_) => {
            stream_task.abort();
            StreamStats {
                last_error: Some("the event-stream reader did not stop within 5 s".into()),
                ..Default::default()
            }
        }
    };

    // What is left of the time: the rest of --timeout; after an interruption at most AFTER_STOP_BOUND.
    let post_until = match cut {
        Some(Cut::Interrupt) => deadline.min(Instant::now() + AFTER_STOP_BOUND),
        _ => deadline,
    };
    let never = CancellationToken::new();
    let mut post_cut = false;

    // FinalPoll with a final paginated poll. A failing poll does not throw away what the stream measured:
    // the record is written with a note saying it holds stream data only.
    let mut notes = Vec::new();
    if !standing_ids.is_empty() {
        notes.push(format!(
            "standing jobs registered before the flood (not in allocs.csv): {}",
            standing_ids.join(", ")
        ));
    }
    let before = timeline.lock().unwrap_or_else(|p| p.into_inner()).len();
    let filter = format!("JobID matches \"^{}\"", regex_escape(&plan.prefix));
    let aq = ListQuery {
        filter: Some(filter.clone()),
        per_page: Some(plan.per_page),
        extra: vec![("task_states".into(), "true".into())],
        ..Default::default()
    };
    if Instant::now() < post_until {
        say(format!(
            "reconciling: final poll of /v1/allocations and /v1/evaluations (at most {:.0}s more)",
            post_until.duration_since(Instant::now()).as_secs_f64()
        ));
    }
    let mut reconcile = FinalPoll {
        client,
        until: post_until,
        notes: &mut notes,
        cut: false,
    };
    let allocs: Vec<AllocStub> = reconcile
        .poll(
            "/v1/allocations",
            aq,
            "reconcile poll of allocations",
            "allocation rows come from the event stream only",
        )
        .await;
    let eq = ListQuery {
        filter: Some(filter),
        per_page: Some(plan.per_page),
        ..Default::default()
    };
    let evals: Vec<Evaluation> = reconcile
        .poll(
            "/v1/evaluations",
            eq,
            "reconcile poll of evaluations",
            "evaluation counts come from the event stream only",
        )
        .await;
    post_cut |= reconcile.cut;
    {
        let mut tl = timeline.lock().unwrap_or_else(|p| p.into_inner());
        for a in &allocs {
            tl.apply_alloc(&AllocUpdate::from_alloc(a));
        }
        for e in &evals {
            tl.apply_eval(&e.id, &e.job_id, &e.status);
        }
    }
    let reconciled_new = (timeline.lock().unwrap_or_else(|p| p.into_inner()).len() - before) as u64;

    stop_scrape.cancel();
    stop_snap.cancel();
    stop_progress.cancel();
    let mut scrape_task = scrape_task;
    let scraped = match tokio::time::timeout(Duration::from_secs(10), &mut scrape_task).await {
        Ok(r) => r.context("metrics task")??,
        Err(_) => {
            scrape_task.abort();
            bail!("the metrics scraper did not stop within 10 s (a /v1/metrics target hangs); rerun with --no-metrics");
        }
    };
    let crate::load::scraper::ScrapeOutput {
        rows: metric_rows,
        appender,
        events: server_events,
        spans: server_spans,
    } = scraped;
    let _ = snap_task.await;
    if let Some(t) = progress_task {
        let _ = t.await;
    }

    // Nodes.
    let nq = ListQuery {
        per_page: Some(plan.per_page),
        ..Default::default()
    };
    let mut poll = FinalPoll {
        client,
        until: post_until,
        notes: &mut notes,
        cut: false,
    };
    let nodes: Vec<NodeStub> = poll
        .poll("/v1/nodes", nq, "listing nodes", "nodes.csv is empty")
        .await;
    post_cut |= poll.cut;
    let node_rows: Vec<NodeRow> = nodes
        .iter()
        .map(|n| NodeRow {
            node_id: n.id.clone(),
            name: n.name.clone(),
            pool: if n.node_pool.is_empty() {
                "default".into()
            } else {
                n.node_pool.clone()
            },
            instance_type: "unknown".into(),
            region: conn.region.clone().unwrap_or_else(|| "global".into()),
            datacenter: n.datacenter.clone(),
            spot: false,
            cpu_mhz: 0,
            memory_mb: 0,
            joined_ns: 0,
            left_ns: None,
            left_reason: if n.status == "down" {
                "down".into()
            } else {
                String::new()
            },
        })
        .collect();

    // Cleanup: only our own jobs.
    if plan.cleanup {
        let n = std::sync::atomic::AtomicU64::new(0);
        let work = async {
            let jobs = client
                .list_jobs(&plan.prefix)
                .await
                .context("listing jobs for cleanup")?;
            for j in jobs.iter().filter(|j| plan.owns_job(&j.id)) {
                client
                    .deregister_job(&j.id, true)
                    .await
                    .with_context(|| format!("deregistering {}", j.id))?;
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            for id in &standing_ids {
                client
                    .deregister_job(id, true)
                    .await
                    .with_context(|| format!("deregistering the standing job {id}"))?;
                n.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            }
            anyhow::Ok(())
        };
        let r = within(post_until, &never, work).await;
        let n = n.load(std::sync::atomic::Ordering::Relaxed);
        match r {
            Ok(r) => {
                r?;
                notes.push(format!(
                    "cleanup: deregistered and purged {n} jobs with prefix `{}`{}",
                    plan.prefix,
                    if standing_ids.is_empty() {
                        String::new()
                    } else {
                        format!(" and the standing jobs {}", standing_ids.join(", "))
                    }
                ));
            }
            Err(_) => {
                post_cut = true;
                notes.push(format!(
                    "cleanup cut off by the run's time bound after {n} jobs; jobs with prefix `{}` remain on the cluster",
                    plan.prefix
                ));
            }
        }
    }

    // Write the record.
    let (rows, bytes_per_alloc, (evals_blocked, evals_failed), progress, task_restarts) = {
        let tl = timeline.lock().unwrap_or_else(|p| p.into_inner());
        let per = if tl.is_empty() {
            0.0
        } else {
            tl.heap_bytes_estimate() as f64 / tl.len() as f64
        };
        (
            tl.rows(),
            per,
            tl.eval_counts(),
            tl.progress(),
            tl.task_restarts(),
        )
    };
    record_io::write_atomic_with(&dir.join(record_io::ALLOCS_CSV), |w| {
        record::write_allocs_csv(w, &rows)
    })?;
    let _ = std::fs::remove_file(dir.join(format!("{}.partial", record_io::ALLOCS_CSV)));
    record_io::write_atomic_with(&dir.join(record_io::NODES_CSV), |w| {
        record::write_nodes_csv(w, &node_rows)
    })?;
    appender.finish()?;
    let mut summary = Summary::compute(
        &rows,
        &metric_rows,
        &SummaryInputs {
            jobs_submitted: submit.submitted,
            jobs_failed_to_submit: submit.failed,
            allocs_desired: progress.desired,
            evals_blocked,
            evals_failed,
            events: &server_events,
            slo: &plan.slo,
        },
    );
    summary.task_restarts = Some(task_restarts);
    notes.push(format!(
        "waited for every allocation to be {waiting_for} (--wait {})",
        plan.wait.as_str()
    ));
    notes.push(format!(
        "event stream: {} connections, {} batches, {} duplicate batches dropped, {} bad lines; reconcile poll found {} allocations the stream missed",
        stream_stats.connects, stream_stats.batches, stream_stats.duplicate_batches, stream_stats.bad_lines, reconciled_new
    ));
    notes.push(format!(
        "submission: {} retries; largest send lag behind schedule {:.1} ms",
        submit.retries,
        submit.max_send_lag_ns as f64 / 1e6
    ));
    for (msg, n) in &submit.errors {
        notes.push(format!("submit error ×{n}: {msg}"));
    }
    let unsent = plan
        .jobs_to_submit()
        .saturating_sub(submit.submitted + submit.failed);
    match cut {
        Some(Cut::Interrupt) => notes.push(format!(
            "run interrupted (SIGINT/SIGTERM/SIGHUP): stopped early, {unsent} jobs never sent"
        )),
        Some(Cut::Timeout) => notes.push(format!(
            "--timeout {}s ran out: {unsent} jobs never sent; {} of {} allocations placed, {} running",
            plan.timeout.as_secs_f64(),
            progress.placed,
            progress.desired,
            progress.running
        )),
        None => {}
    }
    if drain_timed_out {
        notes.push(format!(
            "--drain-timeout {}s ran out before every allocation was {waiting_for}: {} of {} placed, {} running, {} finished",
            plan.drain_timeout.as_secs_f64(),
            progress.placed,
            progress.desired,
            progress.running,
            progress.done
        ));
    }
    if submit.abandoned > 0 {
        notes.push(format!(
            "{} submissions were in flight when the run stopped; the cluster may or may not hold those jobs",
            submit.abandoned
        ));
    }
    let outcome = match cut {
        Some(Cut::Interrupt) => Outcome::Interrupted,
        Some(Cut::Timeout) => Outcome::TimedOut,
        None if drain_timed_out || post_cut => Outcome::TimedOut,
        None if submit.failed > 0 || unsent > 0 => Outcome::Partial,
        None => Outcome::Complete,
    };
    let mut scenario = plan.scenario.clone();
    if plan.shard.is_some() {
        scenario.jobs = plan.jobs_to_submit();
    }
    if let Some(a) = &plan.algorithm {
        scenario.algorithm = a.clone();
    }
    // Control-plane totals from the servers' cumulative metrics; evaluations per trigger from the listing.
    let mut by_trigger: std::collections::BTreeMap<String, u64> = Default::default();
    for e in &evals {
        *by_trigger.entry(e.triggered_by.clone()).or_default() += 1;
    }
    for s in server_spans.iter().filter(|s| !s.complete) {
        notes.push(format!(
            "control_plane: the final metrics scrape of server {} failed; its counters stop at its last good scrape",
            s.name
        ));
    }
    let control_plane =
        crate::nomad::metrics::control_plane(&server_spans, &metric_rows, &version, by_trigger);
    let meta = RunMeta {
        schema_version: record::SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: plan.run_id.clone(),
        source,
        seed: Some(plan.seed),
        nomad_version: version,
        start_unix_ns: start_unix_ns as u64,
        duration_s: observed_until.as_secs_f64(),
        outcome,
        scenario,
        servers,
        fleet: Vec::new(),
        summary,
        events: server_events,
        notes,
        control_plane,
        calibration: None,
    };
    record_io::write_run_json(&dir, &meta)?;
    Ok(RunOutcome {
        dir,
        meta,
        submit,
        stream: stream_stats,
        reconciled_new_allocs: reconciled_new,
        timeline_bytes_per_alloc: bytes_per_alloc,
        interrupted: cut.is_some(),
        outcome,
    })
}

/// A paginated list with a `filter`, retried on retryable errors; a server that rejects the filter (400)
/// is asked again without it (the timeline ignores other jobs anyway).
async fn list_filtered<T: serde::de::DeserializeOwned>(
    client: &NomadClient,
    path: &str,
    mut q: ListQuery,
) -> Result<Vec<T>> {
    let mut delay = Duration::from_millis(100);
    let mut attempt = 0u32;
    loop {
        attempt += 1;
        match client.list_all(path, &q).await {
            Ok((v, _)) => return Ok(v),
            Err(e) if e.status() == Some(400) && q.filter.is_some() => q.filter = None,
            Err(e) if e.is_retryable() && attempt < 5 => {
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Escapes regex metacharacters for a go-bexpr `matches` filter.
pub fn regex_escape(s: &str) -> String {
    let mut o = String::with_capacity(s.len());
    for c in s.chars() {
        if "\\.+*?()|[]{}^$".contains(c) {
            o.push('\\');
        }
        if c == '"' {
            o.push('\\');
        }
        o.push(c);
    }
    o
}
