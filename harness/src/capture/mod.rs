//! `stampede trace record`: records a real cluster's traffic from its event stream into a trace
//! (`stampede_sim::trace`, JSON Lines) that the simulator replays.
//!
//! The recorder reads the topics `Job`, `Evaluation` and `Allocation` with the reconnecting reader of
//! [`crate::nomad::stream`] (which resumes at `index = last + 1` and drops replayed batches). A job is
//! discovered by any event naming it; its shape is read once with `GET /v1/job/:id` (the event payloads
//! the reader decodes carry only the fields the load timeline needs). Jobs submitted before the recording
//! started (`SubmitTime` < t = 0) are ignored, as are the events of jobs outside `--prefix`.
//!
//! For every job it keeps its allocations' task states; an allocation's run time is the earliest task
//! `StartedAt` to the latest `FinishedAt` (RFC 3339), and its exit is `ok` for client status `complete`,
//! `failed` otherwise (`failed`, `lost`). First attempts come first in a group's outcome list, in
//! creation order, then replacements (allocations with a `PreviousAllocation` or a reschedule tracker).
//!
//! **Writing.** A batch job's line is appended (and flushed) to `FILE.partial` as soon as it is complete:
//! its shape is known, every group has at least `count` first attempts, every allocation seen is
//! terminal, and every failed allocation was either replaced or has been failed for longer than
//! [`RecordConfig::reschedule_grace`]. Service jobs, and batch jobs still running, are written when the
//! recording stops (duration elapsed, the stop token cancelled, or Ctrl-C in the CLI) with what is known:
//! an allocation still running is recorded with its run time so far as `ok` (counted as *truncated*), a
//! batch group with no outcome at all drops the job (counted). Then the header (with the exact job count)
//! and the job lines sorted by submit time are written to `FILE` through a temporary file and a rename,
//! and `FILE.partial` is removed. If the process dies, `FILE.partial` keeps the job lines recorded so far
//! (no header).

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde_json::Value;
use stampede_sim::scenario::JobType;
use stampede_sim::trace::format::{write_header_jsonl, write_job_jsonl};
use stampede_sim::trace::{
    Exit, TraceAlloc, TraceGroup, TraceHeader, TraceJob, TraceSource, TRACE_VERSION,
};
use tokio::sync::mpsc;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;

use crate::nomad::client::path_escape;
use crate::nomad::ndjson::Event;
use crate::nomad::stream::{read_event_stream, StreamOptions, StreamStats};
use crate::nomad::{NomadClient, NomadConnArgs, NomadError};

/// Reads of a job's shape before it is given up (and the job dropped at the stop, with the error).
const MAX_FETCH_ATTEMPTS: u32 = 5;

/// Settings of [`record`].
#[derive(Debug, Clone)]
pub struct RecordConfig {
    /// How to reach Nomad (address, token, namespace, TLS). A single namespace: `*` is rejected.
    pub conn: NomadConnArgs,
    /// How long to record.
    pub duration: Duration,
    /// Output trace (`.jsonl`). `FILE.partial` holds the job lines while recording.
    pub out: PathBuf,
    /// Record only jobs whose ID starts with this.
    pub prefix: Option<String>,
    /// Trace name (default: the output file stem).
    pub name: Option<String>,
    /// Cancel to stop the recording early (the trace is still written in full).
    pub stop: CancellationToken,
    /// How long a failed allocation of a batch job may wait for its replacement before the job is taken
    /// as finished.
    pub reschedule_grace: Duration,
    /// The stream reader reconnects when nothing (not even a heartbeat) arrived for this long.
    pub idle_timeout: Duration,
}

impl RecordConfig {
    /// A configuration with defaults: no prefix, reschedule grace 120 s, idle timeout 75 s.
    pub fn new(conn: NomadConnArgs, duration: Duration, out: PathBuf) -> RecordConfig {
        RecordConfig {
            conn,
            duration,
            out,
            prefix: None,
            name: None,
            stop: CancellationToken::new(),
            reschedule_grace: Duration::from_secs(120),
            idle_timeout: Duration::from_secs(75),
        }
    }
}

/// What a recording produced.
#[derive(Debug, Clone, Default)]
pub struct RecordSummary {
    /// The trace written.
    pub out: PathBuf,
    /// Wall-clock instant of trace t = 0 (start of the recording), Unix ns.
    pub start_unix_ns: u64,
    /// How long the recording ran, seconds.
    pub elapsed_s: f64,
    /// Job lines in the trace.
    pub jobs: u64,
    /// Of those, jobs written complete while recording (batch jobs whose allocations all ended).
    pub jobs_complete: u64,
    /// Of those, jobs written at the stop with what was known (service jobs, batch jobs still running).
    pub jobs_at_stop: u64,
    /// Allocation outcomes in the trace.
    pub allocs: u64,
    /// Outcomes of allocations still running at the stop (run time so far, recorded as `ok`).
    pub truncated_allocs: u64,
    /// Jobs seen but not written, with the reason, e.g. `"ci-1": "batch group `g` has no outcome yet"`.
    pub dropped: BTreeMap<String, String>,
    /// Jobs ignored because they were submitted before the recording started.
    pub jobs_before_start: u64,
    /// Counters of the event-stream reader (connects, disconnects, duplicate batches, …).
    pub stream: StreamStats,
}

/// One event, owned, as the recorder needs it.
#[derive(Debug)]
enum Ev {
    Job {
        id: String,
        kind: String,
        submit_ns: i64,
        status: String,
    },
    Alloc(AllocObs),
    JobRef(String),
}

#[derive(Debug, Clone)]
struct AllocObs {
    id: String,
    job: String,
    group: String,
    client_status: String,
    started: Option<i64>,
    finished: Option<i64>,
    replacement: bool,
    create_time: i64,
    previous: Option<String>,
}

#[derive(Debug, Clone, Default)]
struct AllocRec {
    group: String,
    client_status: String,
    started: Option<i64>,
    finished: Option<i64>,
    replacement: bool,
    create_time: i64,
    /// Order of first sighting.
    seq: u64,
    previous: Option<String>,
}

impl AllocRec {
    fn terminal(&self) -> bool {
        matches!(self.client_status.as_str(), "complete" | "failed" | "lost")
    }
}

#[derive(Debug, Clone)]
struct GroupShape {
    name: String,
    count: u32,
    cpu_mhz: u32,
    memory_mb: u32,
    tasks: Vec<String>,
    image: String,
    node_class: Option<String>,
    /// Constraints, affinities, distinct_hosts, ports and disk, as the emulator's job reader finds them.
    placement: Option<stampede_sim::placement::GroupPlacement>,
}

#[derive(Debug, Clone)]
struct JobShape {
    job_type: JobType,
    priority: u32,
    submit_ns: i64,
    datacenters: Vec<String>,
    meta: BTreeMap<String, String>,
    node_pool: Option<String>,
    groups: Vec<GroupShape>,
}

#[derive(Debug, Default)]
struct JobRec {
    submit_ns: Option<i64>,
    shape: Option<JobShape>,
    fetching: bool,
    /// The last error reading the shape (no token in it).
    fetch_error: Option<String>,
    fetch_attempts: u32,
    dead: bool,
    allocs: BTreeMap<String, AllocRec>,
}

/// Parses an RFC 3339 time into Unix ns.
fn rfc3339_ns(s: &str) -> Option<i64> {
    let t = chrono::DateTime::parse_from_rfc3339(s).ok()?;
    t.timestamp_nanos_opt()
}

fn owned_event(ev: &Event<'_>, prefix: &str) -> Option<Ev> {
    let keep = |id: &str| !id.is_empty() && id.starts_with(prefix);
    match ev.topic.as_ref() {
        "Job" => {
            let j = ev.payload.job.as_ref()?;
            let id = if j.id.is_empty() { &ev.key } else { &j.id };
            keep(id).then(|| Ev::Job {
                id: id.to_string(),
                kind: ev.event_type.to_string(),
                submit_ns: j.submit_time,
                status: j.status.to_string(),
            })
        }
        "Allocation" => {
            let a = ev.payload.allocation.as_ref()?;
            if !keep(&a.job_id) {
                return None;
            }
            let (mut started, mut finished) = (None::<i64>, None::<i64>);
            for ts in &a.task_states {
                if let Some(s) = ts.started_at.as_deref().and_then(rfc3339_ns) {
                    started = Some(started.map_or(s, |x| x.min(s)));
                }
                if let Some(f) = ts.finished_at.as_deref().and_then(rfc3339_ns) {
                    finished = Some(finished.map_or(f, |x| x.max(f)));
                }
            }
            Some(Ev::Alloc(AllocObs {
                id: a.id.to_string(),
                job: a.job_id.to_string(),
                group: a.task_group.to_string(),
                client_status: a.client_status.to_string(),
                started,
                finished,
                replacement: a
                    .previous_allocation
                    .as_deref()
                    .is_some_and(|p| !p.is_empty())
                    || a.reschedule_tracker.is_some(),
                create_time: a.create_time,
                previous: a
                    .previous_allocation
                    .as_deref()
                    .filter(|p| !p.is_empty())
                    .map(str::to_string),
            }))
        }
        "Evaluation" => {
            let e = ev.payload.evaluation.as_ref()?;
            keep(&e.job_id).then(|| Ev::JobRef(e.job_id.to_string()))
        }
        _ => None,
    }
}

fn as_u32(v: &Value, default: u32) -> u32 {
    v.as_u64()
        .map(|x| x.min(u32::MAX as u64) as u32)
        .unwrap_or(default)
}

fn string_map(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| v.as_str().map(|s| (k.clone(), s.to_string())))
                .collect()
        })
        .unwrap_or_default()
}

fn node_class_of(constraints: &Value) -> Option<String> {
    constraints.as_array()?.iter().find_map(|c| {
        let l = c["LTarget"].as_str()?;
        let op = c["Operand"].as_str().unwrap_or("=");
        (l == "${node.class}" && matches!(op, "=" | "==" | "is"))
            .then(|| c["RTarget"].as_str().map(str::to_string))
            .flatten()
    })
}

/// The shape of a job from its `GET /v1/job/:id` JSON. `Err` names what is unsupported.
fn job_shape(job: &Value) -> std::result::Result<JobShape, String> {
    let ty = job["Type"].as_str().unwrap_or("service");
    // System and sysbatch jobs (one allocation per node) are not recorded: a replay places them from the
    // scenario's `[[workload.system]]` entries on its own fleet.
    let job_type = JobType::parse(ty)
        .filter(|t| matches!(t, JobType::Batch | JobType::Service))
        .ok_or_else(|| format!("job type `{ty}` is not recorded (only batch and service)"))?;
    if !job["ParameterizedJob"].is_null() || !job["Periodic"].is_null() {
        return Err("a parameterized or periodic parent job (its children are recorded)".into());
    }
    let priority = as_u32(&job["Priority"], 50).clamp(1, 100);
    let job_class = node_class_of(&job["Constraints"]);
    // Placement rules as the emulator reads them (job, group and task levels merged); a job it cannot
    // read records none rather than failing the capture.
    let parsed = crate::emulator::jobspec::from_job(job).ok();
    let mut groups = Vec::new();
    for g in job["TaskGroups"].as_array().into_iter().flatten() {
        let name = g["Name"].as_str().unwrap_or("").to_string();
        let count = as_u32(&g["Count"], 1);
        if name.is_empty() || count == 0 {
            continue;
        }
        let tasks = g["Tasks"].as_array().cloned().unwrap_or_default();
        if tasks.is_empty() {
            continue;
        }
        let (mut cpu, mut mem) = (0u64, 0u64);
        let mut task_names = Vec::new();
        let mut task_class = None;
        for t in &tasks {
            let r = &t["Resources"];
            cpu += r["CPU"].as_u64().unwrap_or(100);
            mem += r["MemoryMB"].as_u64().unwrap_or(300);
            let n = t["Name"].as_str().unwrap_or("").to_string();
            task_names.push(if n.is_empty() { "task".into() } else { n });
            task_class = task_class.or_else(|| node_class_of(&t["Constraints"]));
        }
        let cfg = &tasks[0]["Config"];
        let image = cfg["image"]
            .as_str()
            .or_else(|| cfg["command"].as_str())
            .unwrap_or("")
            .to_string();
        let placement = parsed
            .as_ref()
            .and_then(|p| p.groups.iter().find(|pg| pg.name == name))
            .and_then(|pg| pg.placement.as_deref().cloned());
        groups.push(GroupShape {
            name,
            count,
            cpu_mhz: cpu.clamp(1, u32::MAX as u64) as u32,
            memory_mb: mem.clamp(1, u32::MAX as u64) as u32,
            tasks: task_names,
            image,
            node_class: node_class_of(&g["Constraints"])
                .or(task_class)
                .or_else(|| job_class.clone()),
            placement,
        });
    }
    if groups.is_empty() {
        return Err("no task group with a count of at least 1".into());
    }
    Ok(JobShape {
        job_type,
        priority,
        submit_ns: job["SubmitTime"].as_i64().unwrap_or(0),
        datacenters: job["Datacenters"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d.as_str().map(str::to_string))
                    .filter(|d| d != "*")
                    .collect()
            })
            .unwrap_or_default(),
        meta: string_map(&job["Meta"]),
        node_pool: parsed.and_then(|p| p.node_pool),
        groups,
    })
}

/// Builds the trace line of a job. `now_ns` is the stop time for allocations still running (`None`
/// while recording: a job is only built complete then). Returns the job and the truncated outcomes.
fn build_job(
    id: &str,
    rec: &JobRec,
    t0: i64,
    now_ns: Option<i64>,
) -> std::result::Result<(TraceJob, u64), String> {
    let shape = rec.shape.as_ref().ok_or_else(|| match &rec.fetch_error {
        Some(e) => format!("its shape could not be read: {e}"),
        None => "its shape was not read before the stop (GET /v1/job/:id)".to_string(),
    })?;
    let mut truncated = 0;
    let mut groups = Vec::new();
    for g in &shape.groups {
        let mut allocs: Vec<&AllocRec> =
            rec.allocs.values().filter(|a| a.group == g.name).collect();
        allocs.sort_by_key(|a| (a.replacement, a.create_time, a.seq));
        let mut out = Vec::new();
        for a in allocs {
            if a.terminal() {
                let run = match (a.started, a.finished) {
                    (Some(s), Some(f)) => (f - s).max(0) as u64,
                    _ => 0,
                };
                let exit = if a.client_status == "complete" {
                    Exit::Ok
                } else {
                    Exit::Failed
                };
                out.push(TraceAlloc { run_ns: run, exit });
            } else if let (Some(now), Some(s), JobType::Batch) = (now_ns, a.started, shape.job_type)
            {
                truncated += 1;
                out.push(TraceAlloc {
                    run_ns: (now - s).max(0) as u64,
                    exit: Exit::Ok,
                });
            }
        }
        if out.is_empty() && shape.job_type == JobType::Batch {
            return Err(format!("batch group `{}` has no outcome yet", g.name));
        }
        groups.push(TraceGroup {
            name: g.name.clone(),
            count: g.count,
            cpu_mhz: g.cpu_mhz,
            memory_mb: g.memory_mb,
            tasks: g.tasks.clone(),
            image: g.image.clone(),
            image_bytes: 0,
            node_class: g.node_class.clone(),
            restart: None,
            reschedule: None,
            max_run_ns: None,
            placement: g.placement.clone(),
            allocs: out,
        });
    }
    let submit = rec.submit_ns.unwrap_or(shape.submit_ns);
    Ok((
        TraceJob {
            submit_ns: (submit - t0).max(0) as u64,
            id: id.to_string(),
            job_type: shape.job_type,
            priority: shape.priority,
            change: shape.meta.get("change").cloned(),
            datacenters: shape.datacenters.clone(),
            meta: shape.meta.clone(),
            node_pool: shape.node_pool.clone(),
            periodic: None,
            groups,
        },
        truncated,
    ))
}

/// Whether a batch job is finished: see the module docs.
fn batch_done(rec: &JobRec, now_ns: i64, grace_ns: i64) -> bool {
    let Some(shape) = &rec.shape else {
        return false;
    };
    if shape.job_type != JobType::Batch || rec.allocs.is_empty() {
        return false;
    }
    if rec.allocs.values().any(|a| !a.terminal()) {
        return false;
    }
    for g in &shape.groups {
        let first = rec
            .allocs
            .values()
            .filter(|a| a.group == g.name && !a.replacement)
            .count();
        if first < g.count as usize {
            return false;
        }
    }
    if rec.dead {
        return true;
    }
    let replaced: BTreeSet<&str> = rec
        .allocs
        .values()
        .filter_map(|a| a.previous.as_deref())
        .collect();
    rec.allocs.iter().all(|(id, a)| {
        a.client_status == "complete"
            || replaced.contains(id.as_str())
            || now_ns - a.finished.unwrap_or(a.create_time) >= grace_ns
    })
}

fn now_unix_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

fn partial_path(out: &Path) -> PathBuf {
    let mut name = out
        .file_name()
        .map(|n| n.to_os_string())
        .unwrap_or_default();
    name.push(".partial");
    out.with_file_name(name)
}

struct Writer {
    path: PathBuf,
    file: std::io::BufWriter<std::fs::File>,
    lines: Vec<(u64, u64, String)>,
    allocs: u64,
}

impl Writer {
    fn push(&mut self, job: &TraceJob) -> Result<()> {
        let mut buf = Vec::new();
        write_job_jsonl(&mut buf, job).context("serialising a job line")?;
        self.file
            .write_all(&buf)
            .and_then(|_| self.file.flush())
            .with_context(|| format!("writing {}", self.path.display()))?;
        let seq = self.lines.len() as u64;
        self.allocs += job
            .groups
            .iter()
            .map(|g| g.allocs.len() as u64)
            .sum::<u64>();
        self.lines.push((
            job.submit_ns,
            seq,
            String::from_utf8(buf).context("job line is not UTF-8")?,
        ));
        Ok(())
    }
}

async fn fetch_job(
    client: NomadClient,
    id: String,
) -> (String, std::result::Result<Value, NomadError>) {
    let q = vec![("namespace".to_string(), client.namespace().to_string())];
    let r = client
        .get::<Value>(&format!("/v1/job/{}", path_escape(&id)), &q)
        .await
        .map(|(v, _)| v);
    (id, r)
}

/// Records the cluster's traffic for `cfg.duration` (or until `cfg.stop` is cancelled) into `cfg.out`.
pub async fn record(cfg: RecordConfig) -> Result<RecordSummary> {
    if cfg.conn.namespace.as_deref() == Some("*") {
        bail!("--namespace '*' is not supported: record one namespace at a time");
    }
    if cfg.out.extension().and_then(|e| e.to_str()) != Some("jsonl") {
        bail!(
            "{}: the recorded trace is JSON Lines; use a .jsonl file name",
            cfg.out.display()
        );
    }
    let client = NomadClient::new(&cfg.conn)?.with_timeout(Duration::from_secs(30));
    // Fail fast on an unreachable address or a bad token.
    client.version().await.with_context(|| {
        format!(
            "asking {} for its version (is Nomad running there?)",
            client.base()
        )
    })?;
    if let Some(dir) = cfg.out.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let partial = partial_path(&cfg.out);
    let file = std::fs::File::create(&partial)
        .with_context(|| format!("creating {}", partial.display()))?;
    let mut w = Writer {
        path: partial.clone(),
        file: std::io::BufWriter::new(file),
        lines: Vec::new(),
        allocs: 0,
    };

    let t0 = now_unix_ns();
    let started = tokio::time::Instant::now();
    let deadline = started + cfg.duration;
    let prefix = cfg.prefix.clone().unwrap_or_default();
    let (tx, mut rx) = mpsc::unbounded_channel::<Ev>();
    let stream_stop = CancellationToken::new();
    let reader = {
        let client = client.clone();
        let stop = stream_stop.clone();
        let opts = StreamOptions {
            topics: vec!["Job:*".into(), "Evaluation:*".into(), "Allocation:*".into()],
            start_index: 0,
            idle_timeout: cfg.idle_timeout,
            ..StreamOptions::default()
        };
        let prefix = prefix.clone();
        tokio::spawn(async move {
            read_event_stream(&client, &opts, stop, |_, ev| {
                if let Some(e) = owned_event(ev, &prefix) {
                    let _ = tx.send(e);
                }
            })
            .await
        })
    };

    let mut sum = RecordSummary {
        out: cfg.out.clone(),
        start_unix_ns: t0.max(0) as u64,
        ..Default::default()
    };
    let mut jobs: BTreeMap<String, JobRec> = BTreeMap::new();
    let mut finished: BTreeSet<String> = BTreeSet::new();
    let mut fetches: JoinSet<(String, std::result::Result<Value, NomadError>)> = JoinSet::new();
    let grace_ns = cfg.reschedule_grace.as_nanos() as i64;
    let mut tick = tokio::time::interval(Duration::from_millis(500));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);

    let result: Result<()> = async {
        loop {
            let mut touched: Option<String> = None;
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => break,
                _ = cfg.stop.cancelled() => break,
                ev = rx.recv() => {
                    let Some(ev) = ev else { break };
                    let Some(id) = apply(ev, &mut jobs, &mut finished, t0, &mut sum) else { continue };
                    let rec = jobs.get_mut(&id).expect("apply keeps the job");
                    if !rec.fetching && rec.shape.is_none() && rec.fetch_attempts < MAX_FETCH_ATTEMPTS {
                        rec.fetching = true;
                        rec.fetch_attempts += 1;
                        fetches.spawn(fetch_job(client.clone(), id.clone()));
                    }
                    touched = Some(id);
                }
                Some(done) = fetches.join_next(), if !fetches.is_empty() => {
                    let (id, r) = done.context("a job fetch task failed")?;
                    let Some(rec) = jobs.get_mut(&id) else { continue };
                    match r {
                        Ok(v) => match job_shape(&v) {
                            Ok(shape) => {
                                if rec.submit_ns.is_none() && shape.submit_ns > 0 {
                                    rec.submit_ns = Some(shape.submit_ns);
                                }
                                rec.shape = Some(shape);
                                if rec.submit_ns.is_some_and(|s| s < t0) {
                                    jobs.remove(&id);
                                    finished.insert(id);
                                    sum.jobs_before_start += 1;
                                    continue;
                                }
                                touched = Some(id);
                            }
                            Err(why) => {
                                jobs.remove(&id);
                                sum.dropped.insert(id.clone(), why);
                                finished.insert(id);
                            }
                        },
                        Err(e) if e.status() == Some(404) => {
                            // Purged before we asked: nothing to record its shape from.
                            jobs.remove(&id);
                            sum.dropped.insert(id.clone(), format!("the job was gone before its shape was read: {e}"));
                            finished.insert(id);
                        }
                        Err(e) => {
                            // Retried on the next event or tick.
                            rec.fetching = false;
                            rec.fetch_error = Some(e.to_string());
                        }
                    }
                }
                _ = tick.tick() => {
                    let now = now_unix_ns();
                    let done: Vec<String> = jobs
                        .iter()
                        .filter(|(_, r)| batch_done(r, now, grace_ns))
                        .map(|(k, _)| k.clone())
                        .collect();
                    for id in done {
                        emit(&mut w, &mut jobs, &mut finished, &id, t0, &mut sum)?;
                    }
                    for (id, r) in jobs.iter_mut() {
                        if r.shape.is_none() && !r.fetching && r.fetch_attempts < MAX_FETCH_ATTEMPTS {
                            r.fetching = true;
                            r.fetch_attempts += 1;
                            fetches.spawn(fetch_job(client.clone(), id.clone()));
                        }
                    }
                }
            }
            if let Some(id) = touched {
                if jobs
                    .get(&id)
                    .is_some_and(|r| batch_done(r, now_unix_ns(), grace_ns))
                {
                    emit(&mut w, &mut jobs, &mut finished, &id, t0, &mut sum)?;
                }
            }
        }
        Ok(())
    }
    .await;
    stream_stop.cancel();
    sum.stream = reader.await.unwrap_or_default();
    result?;
    // Events read before the stop but not merged yet.
    while let Ok(ev) = rx.try_recv() {
        if let Some(id) = apply(ev, &mut jobs, &mut finished, t0, &mut sum) {
            let rec = jobs.get_mut(&id).expect("apply keeps the job");
            if !rec.fetching && rec.shape.is_none() && rec.fetch_attempts < MAX_FETCH_ATTEMPTS {
                rec.fetching = true;
                rec.fetch_attempts += 1;
                fetches.spawn(fetch_job(client.clone(), id));
            }
        }
    }

    // Jobs whose shape is still being read get a last chance (bounded).
    let _ = tokio::time::timeout(Duration::from_secs(10), async {
        while let Some(Ok((id, Ok(v)))) = fetches.join_next().await {
            if let (Some(rec), Ok(shape)) = (jobs.get_mut(&id), job_shape(&v)) {
                if rec.submit_ns.is_none() && shape.submit_ns > 0 {
                    rec.submit_ns = Some(shape.submit_ns);
                }
                rec.shape = Some(shape);
            }
        }
    })
    .await;
    fetches.abort_all();

    // The stop: everything else, with what is known.
    let now = now_unix_ns();
    let rest: Vec<String> = jobs.keys().cloned().collect();
    for id in rest {
        let rec = &jobs[&id];
        if rec.submit_ns.is_some_and(|s| s < t0) {
            sum.jobs_before_start += 1;
            continue;
        }
        match build_job(&id, rec, t0, Some(now)) {
            Ok((job, truncated)) => {
                w.push(&job)?;
                sum.jobs_at_stop += 1;
                sum.truncated_allocs += truncated;
            }
            Err(why) => {
                sum.dropped.insert(id.clone(), why);
            }
        }
    }
    w.file
        .flush()
        .with_context(|| format!("writing {}", partial.display()))?;

    // The final file: header with the exact count, then the lines in submit order.
    let mut lines = std::mem::take(&mut w.lines);
    lines.sort_by_key(|(s, seq, _)| (*s, *seq));
    let name = cfg.name.clone().unwrap_or_else(|| {
        cfg.out
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "recording".into())
    });
    let mut meta = BTreeMap::new();
    meta.insert("addr".to_string(), client.base().to_string());
    meta.insert("namespace".to_string(), client.namespace().to_string());
    if !prefix.is_empty() {
        meta.insert("prefix".to_string(), prefix.clone());
    }
    meta.insert(
        "duration_s".to_string(),
        format!("{:.3}", started.elapsed().as_secs_f64()),
    );
    meta.insert("jobs_at_stop".to_string(), sum.jobs_at_stop.to_string());
    meta.insert(
        "truncated_allocs".to_string(),
        sum.truncated_allocs.to_string(),
    );
    meta.insert("dropped_jobs".to_string(), sum.dropped.len().to_string());
    let header = TraceHeader {
        version: TRACE_VERSION,
        name,
        source: TraceSource::Record,
        seed: None,
        start_unix_ns: sum.start_unix_ns,
        jobs: lines.len() as u64,
        description: format!("recorded from the event stream of {}", client.base()),
        meta,
    };
    crate::files::record::write_atomic_with(&cfg.out, |f| {
        write_header_jsonl(&mut *f, &header)?;
        for (_, _, l) in &lines {
            f.write_all(l.as_bytes())?;
        }
        Ok(())
    })?;
    let w_allocs = w.allocs;
    drop(w);
    std::fs::remove_file(&partial).with_context(|| format!("removing {}", partial.display()))?;
    sum.jobs = lines.len() as u64;
    sum.allocs = w_allocs;
    sum.elapsed_s = started.elapsed().as_secs_f64();
    Ok(sum)
}

/// Merges one event into the job table. Returns the job's ID when it is (still) a job to record.
fn apply(
    ev: Ev,
    jobs: &mut BTreeMap<String, JobRec>,
    finished: &mut BTreeSet<String>,
    t0: i64,
    sum: &mut RecordSummary,
) -> Option<String> {
    let id = match &ev {
        Ev::Job { id, .. } | Ev::JobRef(id) => id.clone(),
        Ev::Alloc(a) => a.job.clone(),
    };
    if finished.contains(&id) {
        return None;
    }
    let rec = jobs.entry(id.clone()).or_default();
    match ev {
        Ev::Job {
            kind,
            submit_ns,
            status,
            ..
        } => {
            if kind != "JobRegistered"
                && rec.submit_ns.is_none()
                && rec.allocs.is_empty()
                && submit_ns <= 0
            {
                // A deregistration of a job we know nothing about: not ours to record.
                jobs.remove(&id);
                return None;
            }
            // Any Job event carries the current version's submit time.
            if rec.submit_ns.is_none() && submit_ns > 0 {
                rec.submit_ns = Some(submit_ns);
            }
            if status == "dead" {
                rec.dead = true;
            }
        }
        Ev::Alloc(a) => {
            let seq = rec.allocs.len() as u64;
            let e = rec.allocs.entry(a.id.clone()).or_insert_with(|| AllocRec {
                seq,
                ..Default::default()
            });
            e.group = a.group;
            e.client_status = a.client_status;
            e.started = a.started.or(e.started);
            e.finished = a.finished.or(e.finished);
            e.replacement |= a.replacement;
            if a.create_time != 0 {
                e.create_time = a.create_time;
            }
            if a.previous.is_some() {
                e.previous = a.previous;
            }
        }
        Ev::JobRef(_) => {}
    }
    if rec.submit_ns.is_some_and(|s| s < t0) {
        jobs.remove(&id);
        finished.insert(id);
        sum.jobs_before_start += 1;
        return None;
    }
    Some(id)
}

fn emit(
    w: &mut Writer,
    jobs: &mut BTreeMap<String, JobRec>,
    finished: &mut BTreeSet<String>,
    id: &str,
    t0: i64,
    sum: &mut RecordSummary,
) -> Result<()> {
    let Some(rec) = jobs.remove(id) else {
        return Ok(());
    };
    finished.insert(id.to_string());
    match build_job(id, &rec, t0, None) {
        Ok((job, _)) => {
            w.push(&job)?;
            sum.jobs_complete += 1;
        }
        Err(why) => {
            sum.dropped.insert(id.to_string(), why);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn alloc(group: &str, status: &str, s: Option<i64>, f: Option<i64>, seq: u64) -> AllocRec {
        AllocRec {
            group: group.into(),
            client_status: status.into(),
            started: s,
            finished: f,
            create_time: 1000 + seq as i64,
            seq,
            ..Default::default()
        }
    }

    fn batch_job() -> JobRec {
        let job = json!({"ID": "j", "Type": "batch", "Priority": 70, "SubmitTime": 5_000,
            "Constraints": [{"LTarget": "${node.class}", "RTarget": "big", "Operand": "="}],
            "Meta": {"change": "c1", "n": 3},
            "TaskGroups": [{"Name": "g", "Count": 2, "Tasks": [
                {"Name": "test", "Config": {"command": "/bin/t"}, "Resources": {"CPU": 300, "MemoryMB": 100}},
                {"Name": "log"}]}]});
        JobRec {
            submit_ns: Some(5_000),
            shape: Some(job_shape(&job).unwrap()),
            ..Default::default()
        }
    }

    #[test]
    fn shape_from_job_json() {
        let r = batch_job();
        let s = r.shape.as_ref().unwrap();
        assert_eq!(s.priority, 70);
        let g = &s.groups[0];
        // The sidecar without resources gets Nomad's defaults (100 MHz, 300 MB).
        assert_eq!((g.cpu_mhz, g.memory_mb), (400, 400));
        assert_eq!(g.image, "/bin/t");
        assert_eq!(g.node_class.as_deref(), Some("big"), "job-level constraint");
        assert_eq!(g.tasks, vec!["test", "log"]);
        assert_eq!(s.meta.get("change").map(String::as_str), Some("c1"));
        assert!(!s.meta.contains_key("n"), "non-string meta is skipped");
        // Placement rules are recorded (trace format 3).
        let placed = json!({"ID": "p", "Type": "batch", "NodePool": "ci", "TaskGroups": [{"Name": "g",
            "Count": 1, "EphemeralDisk": {"SizeMB": 100},
            "Constraints": [{"LTarget": "${attr.cpu.arch}", "RTarget": "amd64", "Operand": "="}],
            "Tasks": [{"Name": "t"}]}]});
        let ps = job_shape(&placed).unwrap();
        assert_eq!(ps.node_pool.as_deref(), Some("ci"));
        let p = ps.groups[0].placement.as_ref().unwrap();
        assert_eq!((p.constraints.len(), p.disk_mb), (1, Some(100)));
        let sys =
            json!({"Type": "system", "TaskGroups": [{"Name": "g", "Tasks": [{"Name": "t"}]}]});
        assert!(job_shape(&sys).unwrap_err().contains("system"));
        let zero = json!({"Type": "batch", "TaskGroups": [{"Name": "g", "Count": 0, "Tasks": [{"Name": "t"}]}]});
        assert!(job_shape(&zero).is_err());
    }

    #[test]
    fn outcomes_replacements_and_completion() {
        let mut r = batch_job();
        r.allocs
            .insert("a".into(), alloc("g", "complete", Some(10), Some(40), 0));
        assert!(!batch_done(&r, 100, 50), "one of two allocations seen");
        r.allocs
            .insert("b".into(), alloc("g", "failed", Some(12), Some(20), 1));
        assert!(
            !batch_done(&r, 30, 50),
            "the failure may still be rescheduled"
        );
        assert!(batch_done(&r, 80, 50), "grace over");
        let mut rep = alloc("g", "running", Some(50), None, 2);
        rep.replacement = true;
        rep.previous = Some("b".into());
        rep.create_time = 1;
        r.allocs.insert("c".into(), rep);
        assert!(!batch_done(&r, 80, 50), "replacement still running");
        // At the stop, the running replacement is recorded with its run time so far, after the first
        // attempts although it was created earliest.
        let (j, trunc) = build_job("j", &r, 1_000, Some(75)).unwrap();
        assert_eq!(trunc, 1);
        assert_eq!(j.submit_ns, 4_000);
        assert_eq!(j.change.as_deref(), Some("c1"));
        let a: Vec<(u64, Exit)> = j.groups[0]
            .allocs
            .iter()
            .map(|a| (a.run_ns, a.exit))
            .collect();
        assert_eq!(a, vec![(30, Exit::Ok), (8, Exit::Failed), (25, Exit::Ok)]);
        r.allocs.get_mut("c").unwrap().client_status = "complete".into();
        r.allocs.get_mut("c").unwrap().finished = Some(90);
        assert!(
            batch_done(&r, 80, 1_000_000),
            "failure replaced, all terminal"
        );
        let (j, trunc) = build_job("j", &r, 1_000, None).unwrap();
        assert_eq!(trunc, 0);
        assert_eq!(j.groups[0].allocs[2].run_ns, 40);
    }

    #[test]
    fn batch_without_outcome_is_dropped() {
        let mut r = batch_job();
        r.allocs
            .insert("a".into(), alloc("g", "pending", None, None, 0));
        let e = build_job("j", &r, 0, Some(10)).unwrap_err();
        assert!(e.contains("no outcome"), "{e}");
        r.shape = None;
        r.fetch_error = Some("GET http://x/v1/job/j: HTTP 403: Permission denied".into());
        assert!(build_job("j", &r, 0, Some(10)).unwrap_err().contains("403"));
    }

    #[test]
    fn rfc3339_keeps_nanoseconds() {
        assert_eq!(
            rfc3339_ns("2024-01-01T00:00:01.000000123Z"),
            Some(1_704_067_201_000_000_123)
        );
        assert_eq!(
            rfc3339_ns("2024-01-01T01:00:01.5+01:00"),
            Some(1_704_067_201_500_000_000)
        );
        assert_eq!(rfc3339_ns("0001-01-01T00:00:00Z").map(|x| x > 0), None);
        assert_eq!(rfc3339_ns("yesterday"), None);
    }
}
