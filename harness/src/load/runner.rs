//! [`run_load`]: the library entry of `stampede run`.
//!
//! Order of work: connect (version, source) → set the scheduler algorithm (saved for restore) → open the
//! event stream and the metrics scraper → submit → drain (wait, bounded, for placements and starts) →
//! reconcile with a final paginated poll of allocations and evaluations → list nodes → optional cleanup →
//! write `allocs.csv`, `nodes.csv`, `metrics.csv`, `run.json` → restore the scheduler configuration (also
//! on error, timeout and Ctrl-C).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{Context, Result};
use stampede_sim::record::{self, NodeRow, RunMeta, Source, Summary, METRICS_CSV_HEADER};
use stampede_sim::summary::SummaryInputs;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::generator::{submit_all, SubmitStats};
use super::plan::RunPlan;
use super::scraper;
use super::timeline::{AllocUpdate, Progress, Timeline};
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
    /// Whether the run was interrupted (Ctrl-C or timeout) before finishing.
    pub interrupted: bool,
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
    let version = client.version().await.with_context(|| {
        format!(
            "asking {} for its version (is Nomad running there?)",
            client.base()
        )
    })?;
    let source = if version.contains("emulator") {
        Source::Emulator
    } else {
        Source::Nomad
    };

    let saved_sched = match &plan.algorithm {
        Some(alg) => Some(
            client
                .set_scheduler_algorithm(alg)
                .await
                .with_context(|| format!("setting the scheduler algorithm to `{alg}`"))?,
        ),
        None => None,
    };
    let res = run_inner(&plan, &conn, &client, version, source).await;
    if let Some(old) = saved_sched {
        let r = client
            .restore_scheduler_config(&old)
            .await
            .context("restoring the scheduler configuration");
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
) -> Result<RunOutcome> {
    let dir = plan.out_dir.clone();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let t0 = Instant::now();
    let start_unix_ns = unix_ns_now();
    let timeline = Arc::new(Mutex::new(Timeline::new(&plan.prefix, start_unix_ns)));
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

    // Metrics scraper.
    let stop_scrape = root.child_token();
    let targets = if plan.scrape_metrics {
        scraper::discover(client).await
    } else {
        Vec::new()
    };
    let leader = client.leader().await.unwrap_or_default();
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
        let jobs = plan.workload.jobs as u64;
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

    // Submit, bounded by the run timeout and Ctrl-C.
    let deadline = t0 + plan.timeout;
    let stop_submit = root.child_token();
    let mut interrupted = false;
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
    );
    tokio::pin!(submit_fut);
    let submit = loop {
        tokio::select! {
            r = &mut submit_fut => break r?,
            _ = tokio::signal::ctrl_c(), if !interrupted => { interrupted = true; stop_submit.cancel(); }
            _ = tokio::time::sleep_until(deadline), if !interrupted => { interrupted = true; stop_submit.cancel(); }
        }
    };

    // Drain: wait (bounded) until every desired allocation is placed and started.
    let drain_until = (Instant::now() + plan.drain_timeout)
        .min(deadline.max(Instant::now() + Duration::from_secs(1)));
    loop {
        if timeline.lock().unwrap_or_else(|p| p.into_inner()).settled() {
            break;
        }
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(100)) => {}
            _ = tokio::signal::ctrl_c() => { interrupted = true; break; }
        }
        if Instant::now() >= drain_until {
            break;
        }
    }
    let observed_until = t0.elapsed();
    stop_stream.cancel();
    let stream_stats = stream_task.await.context("event-stream task")?;

    // Reconcile with a final paginated poll. A failing poll does not throw away what the stream measured:
    // the record is written with a note saying it holds stream data only.
    let mut notes = Vec::new();
    let before = timeline.lock().unwrap_or_else(|p| p.into_inner()).len();
    let filter = format!("JobID matches \"^{}\"", regex_escape(&plan.prefix));
    let aq = ListQuery {
        filter: Some(filter.clone()),
        per_page: Some(plan.per_page),
        extra: vec![("task_states".into(), "true".into())],
        ..Default::default()
    };
    let allocs: Vec<AllocStub> = match list_filtered(client, "/v1/allocations", aq).await {
        Ok(a) => a,
        Err(e) => {
            notes.push(format!("reconcile poll of allocations failed ({e:#}); allocation rows come from the event stream only"));
            Vec::new()
        }
    };
    let eq = ListQuery {
        filter: Some(filter),
        per_page: Some(plan.per_page),
        ..Default::default()
    };
    let evals: Vec<Evaluation> = match list_filtered(client, "/v1/evaluations", eq).await {
        Ok(e) => e,
        Err(e) => {
            notes.push(format!("reconcile poll of evaluations failed ({e:#}); evaluation counts come from the event stream only"));
            Vec::new()
        }
    };
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
    let (metric_rows, appender, server_events) = scrape_task.await.context("metrics task")??;
    let _ = snap_task.await;
    if let Some(t) = progress_task {
        let _ = t.await;
    }

    // Nodes.
    let nq = ListQuery {
        per_page: Some(plan.per_page),
        ..Default::default()
    };
    let nodes: Vec<NodeStub> = match list_filtered(client, "/v1/nodes", nq).await {
        Ok(n) => n,
        Err(e) => {
            notes.push(format!("listing nodes failed ({e:#}); nodes.csv is empty"));
            Vec::new()
        }
    };
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
        let jobs = client
            .list_jobs(&plan.prefix)
            .await
            .context("listing jobs for cleanup")?;
        let mut n = 0;
        for j in jobs.iter().filter(|j| j.id.starts_with(&plan.prefix)) {
            client
                .deregister_job(&j.id, true)
                .await
                .with_context(|| format!("deregistering {}", j.id))?;
            n += 1;
        }
        notes.push(format!(
            "cleanup: deregistered and purged {n} jobs with prefix `{}`",
            plan.prefix
        ));
    }

    // Write the record.
    let (rows, bytes_per_alloc, (evals_blocked, evals_failed), progress) = {
        let tl = timeline.lock().unwrap_or_else(|p| p.into_inner());
        let per = if tl.is_empty() {
            0.0
        } else {
            tl.heap_bytes_estimate() as f64 / tl.len() as f64
        };
        (tl.rows(), per, tl.eval_counts(), tl.progress())
    };
    record_io::write_atomic_with(&dir.join(record_io::ALLOCS_CSV), |w| {
        record::write_allocs_csv(w, &rows)
    })?;
    let _ = std::fs::remove_file(dir.join(format!("{}.partial", record_io::ALLOCS_CSV)));
    record_io::write_atomic_with(&dir.join(record_io::NODES_CSV), |w| {
        record::write_nodes_csv(w, &node_rows)
    })?;
    appender.finish()?;
    let summary = Summary::compute(
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
    if interrupted {
        let unsent = (plan.workload.jobs as u64).saturating_sub(submit.submitted + submit.failed);
        notes.push(format!("run interrupted (Ctrl-C or --timeout): submission stopped early, {unsent} jobs never sent"));
    }
    let mut scenario = plan.scenario.clone();
    if let Some(a) = &plan.algorithm {
        scenario.algorithm = a.clone();
    }
    let meta = RunMeta {
        schema_version: record::SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id: plan.run_id.clone(),
        source,
        seed: Some(plan.seed),
        nomad_version: version,
        start_unix_ns: start_unix_ns as u64,
        duration_s: observed_until.as_secs_f64(),
        scenario,
        servers,
        fleet: Vec::new(),
        summary,
        events: server_events,
        notes,
    };
    record_io::write_run_json(&dir, &meta)?;
    Ok(RunOutcome {
        dir,
        meta,
        submit,
        stream: stream_stats,
        reconciled_new_allocs: reconciled_new,
        timeline_bytes_per_alloc: bytes_per_alloc,
        interrupted,
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
