//! `stampede plan … --on-nomad`: the candidate evaluations of a capacity plan as Nomad batch work.
//!
//! **Design.** One *parameterized batch job* (`stampede-plan-<digest>`) is registered per plan; every round
//! of the search (the coarse grid, then each bisection step) splits its (candidate, seed) evaluations into
//! at most `--parallel` contiguous *work units* and dispatches one child job per unit. The unit (the
//! request's inputs by absolute path with their SHA-256, the SLO text, the seeds and the list of
//! evaluations) travels as the dispatch payload (`local/unit.json`); the task runs the same stampede
//! binary with `raw_exec` (by default this binary's absolute path, which exists on loopback clients and on
//! clients whose image installs stampede at the same path; `--worker-binary` names another) as the hidden
//! subcommand `stampede plan-worker`, which evaluates its share with exactly the code of a local plan
//! ([`crate::planner::evaluate_work`]) and writes the results atomically to `alloc/data/result.json`.
//! The coordinator reads them back through Nomad's allocation filesystem API
//! (`GET /v1/client/fs/cat/:alloc_id?path=alloc/data/result.json`, forwarded by the servers to the client),
//! checks that they answer the unit (same evaluations, same version), and the search goes on exactly as
//! locally: same inputs and seeds give the same results bit for bit (floats travel as their IEEE-754 bits).
//!
//! **Failures.** A task that dies is restarted in place by the group's restart policy
//! ([`RESTART_ATTEMPTS`] attempts, [`RETRY_DELAY`] apart), an allocation that fails for good is rescheduled
//! ([`RESCHEDULE_ATTEMPTS`] more allocations after [`RESCHEDULE_DELAY`], possibly on another node). A unit whose job ends without a
//! complete allocation, whose result cannot be read, or that is still running when `--timeout` runs out,
//! is *absent*: the plan fails naming it, or with `--allow-partial` lists it in `plan.json` and decides
//! without it. Progress comes from the event stream (a bar on a TTY); a 1 s poll of each pending unit's
//! allocations is the authority, so a missed event costs at most a second.
//!
//! **Cleanup.** The dispatched children and the parent are deregistered and purged when the plan ends
//! (also on error and on SIGINT/SIGTERM/SIGHUP).

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use super::shard::sha256_hex;
use crate::nomad::client::path_escape;
use crate::nomad::stream::{read_event_stream, StreamOptions};
use crate::nomad::{NomadClient, NomadConnArgs};
use crate::planner::{parse_slo, Evaluator, PlanRequest, SeedResult, Work};

/// Restarts of a dead worker task in place before its allocation fails.
pub const RESTART_ATTEMPTS: u32 = 2;
/// Replacement allocations of a work unit after its allocation failed.
pub const RESCHEDULE_ATTEMPTS: u32 = 2;
/// Delay before a restart in place.
pub const RETRY_DELAY: Duration = Duration::from_secs(1);
/// Delay before a replacement allocation (Nomad's minimum for a reschedule policy is 5 s).
pub const RESCHEDULE_DELAY: Duration = Duration::from_secs(5);
/// Where a worker writes its result, relative to the allocation directory.
pub const RESULT_PATH: &str = "alloc/data/result.json";
/// Largest dispatch payload Nomad accepts (16 KiB).
pub const MAX_PAYLOAD: usize = 16 * 1024;

/// How to run a plan's evaluations on Nomad.
#[derive(Debug, Clone)]
pub struct OnNomad {
    /// Connection (address, token, TLS).
    pub conn: NomadConnArgs,
    /// Datacenters the work may run in.
    pub datacenters: Vec<String>,
    /// Most work units per round (one dispatched job each).
    pub parallel: u32,
    /// The stampede binary on the clients (absolute path).
    pub worker_binary: PathBuf,
    /// Threads per worker.
    pub worker_threads: u32,
    /// CPU reserved per worker, MHz.
    pub task_cpu: u32,
    /// Memory reserved per worker, MB.
    pub task_memory: u32,
    /// Bound on the whole plan.
    pub timeout: Duration,
    /// A progress bar on stderr (a TTY).
    pub progress_bar: bool,
    /// Cancelled on SIGINT/SIGTERM/SIGHUP: pending units become absent and the jobs are purged.
    pub stop: CancellationToken,
}

/// One work unit: what a worker evaluates (the dispatch payload).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkUnit {
    /// stampede version of the coordinator; a worker of another version refuses the unit.
    pub version: String,
    /// Unit name (`r<round>-u<k>`).
    pub unit: String,
    /// Scenario (absolute path on the clients).
    pub scenario: PathBuf,
    /// Its SHA-256 as the coordinator read it.
    pub scenario_sha256: String,
    /// Trace (absolute path), if any.
    pub trace: Option<PathBuf>,
    /// Its SHA-256.
    pub trace_sha256: Option<String>,
    /// The SLO as given (`queue_wait.p95 <= 60s`).
    pub slo: String,
    /// Seeds per candidate and the first seed (the seeds travel with the work).
    pub seeds: u32,
    /// First seed.
    pub seed: u64,
    /// Size autoscaling maxima.
    pub autoscale: bool,
    /// Worker threads.
    pub threads: u32,
    /// The evaluations: (server type, server count, client instance type, nodes, seed).
    pub work: Vec<Work>,
}

/// A [`SeedResult`] with its floats as IEEE-754 bits, so it crosses machines unchanged.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WireSeedResult {
    seed: u64,
    measured_bits: u64,
    met: bool,
    node_hours_bits: u64,
    span_hours_bits: u64,
    unplaced: u64,
    stopped_early: bool,
    server_cpu_pct_max_bits: u64,
}

impl From<&SeedResult> for WireSeedResult {
    fn from(r: &SeedResult) -> Self {
        WireSeedResult {
            seed: r.seed,
            measured_bits: r.measured.to_bits(),
            met: r.met,
            node_hours_bits: r.node_hours.to_bits(),
            span_hours_bits: r.span_hours.to_bits(),
            unplaced: r.unplaced,
            stopped_early: r.stopped_early,
            server_cpu_pct_max_bits: r.server_cpu_pct_max.to_bits(),
        }
    }
}

impl From<&WireSeedResult> for SeedResult {
    fn from(r: &WireSeedResult) -> Self {
        SeedResult {
            seed: r.seed,
            measured: f64::from_bits(r.measured_bits),
            met: r.met,
            node_hours: f64::from_bits(r.node_hours_bits),
            span_hours: f64::from_bits(r.span_hours_bits),
            unplaced: r.unplaced,
            stopped_early: r.stopped_early,
            server_cpu_pct_max: f64::from_bits(r.server_cpu_pct_max_bits),
        }
    }
}

/// What a worker writes to [`RESULT_PATH`].
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct WorkResult {
    /// The worker's stampede version.
    pub version: String,
    /// The unit answered.
    pub unit: String,
    /// The evaluations answered, in order.
    pub work: Vec<Work>,
    /// Their results, in the same order.
    pub results: Vec<WireSeedResult>,
    /// Worker wall time, s.
    pub wall_s: f64,
    /// Host the worker ran on.
    pub host: String,
}

/// `stampede plan-worker`: evaluates the unit in `unit_path` and writes the result to `out`
/// (atomically; the directory is created).
pub fn run_worker(unit_path: &Path, out: &Path) -> Result<WorkResult> {
    let t = Instant::now();
    let text = std::fs::read_to_string(unit_path)
        .with_context(|| format!("reading the work unit {}", unit_path.display()))?;
    let unit: WorkUnit = serde_json::from_str(&text)
        .with_context(|| format!("parsing the work unit {}", unit_path.display()))?;
    let version = env!("CARGO_PKG_VERSION");
    if unit.version != version {
        bail!(
            "work unit {} was made by stampede {}, this worker is {version}: results could differ; install the same version on the clients",
            unit.unit,
            unit.version
        );
    }
    check_digest(&unit.scenario, &unit.scenario_sha256)?;
    if let (Some(p), Some(d)) = (&unit.trace, &unit.trace_sha256) {
        check_digest(p, d)?;
    }
    let req = PlanRequest {
        scenario: unit.scenario.clone(),
        trace: unit.trace.clone(),
        slo: parse_slo(&unit.slo)?,
        instance_types: Vec::new(),
        // The servers of each evaluation travel in its `Work`.
        server_types: Vec::new(),
        server_counts: Vec::new(),
        max_nodes: 1,
        min_nodes: 1,
        grid: 2,
        seeds: unit.seeds,
        seed: unit.seed,
        autoscale: unit.autoscale,
        on_demand: false,
        prices: None,
        threads: Some(unit.threads.max(1) as usize),
        // --on-nomad with --calibration is refused in cli/plan.rs: work units do not carry one yet.
        calibration: None,
    };
    let results = crate::planner::evaluate_work(&req, &unit.work, unit.threads.max(1) as usize)?;
    let res = WorkResult {
        version: version.to_string(),
        unit: unit.unit.clone(),
        work: unit.work.clone(),
        results: results.iter().map(WireSeedResult::from).collect(),
        wall_s: t.elapsed().as_secs_f64(),
        host: super::shard::host_name(),
    };
    if let Some(d) = out.parent() {
        std::fs::create_dir_all(d).with_context(|| format!("creating {}", d.display()))?;
    }
    crate::files::write_atomic(out, (serde_json::to_string(&res)? + "\n").as_bytes())?;
    Ok(res)
}

fn check_digest(p: &Path, want: &str) -> Result<()> {
    let b = std::fs::read(p).with_context(|| {
        format!(
            "reading {} on this client (plan --on-nomad needs the inputs at the same absolute path on every client)",
            p.display()
        )
    })?;
    let got = sha256_hex(&b);
    if got != want {
        bail!(
            "{}: SHA-256 {got} on this client, {want} on the coordinator: not the same file",
            p.display()
        );
    }
    Ok(())
}

/// One allocation of a unit, as `plan.json` reports it.
#[derive(Debug, Clone, Serialize, Default)]
pub struct UnitAlloc {
    /// Allocation ID.
    pub id: String,
    /// Node name.
    pub node: String,
    /// Client status.
    pub status: String,
    /// In-place restarts of the worker task.
    pub restarts: u64,
}

/// One dispatched work unit, as `plan.json` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct UnitReport {
    /// Unit name.
    pub unit: String,
    /// Dispatched job ID.
    pub job: String,
    /// Evaluations in it.
    pub evaluations: usize,
    /// Its allocations (more than one: rescheduled).
    pub allocations: Vec<UnitAlloc>,
    /// `ok` or why its results are absent.
    pub result: String,
    /// Worker wall time, s.
    pub worker_wall_s: Option<f64>,
    /// Seconds from dispatch to result.
    pub turnaround_s: f64,
}

#[derive(Debug, Default)]
struct Live {
    /// Dispatched job → allocation → client status, from the event stream.
    allocs: BTreeMap<String, BTreeMap<String, String>>,
}

/// The Nomad side of `plan --on-nomad` (an [`Evaluator`]).
pub struct NomadEvaluator {
    opts: OnNomad,
    rt: tokio::runtime::Runtime,
    client: NomadClient,
    parent: Option<String>,
    round: u32,
    dispatched: Vec<String>,
    units: Vec<UnitReport>,
    deadline: Instant,
    started: Instant,
}

impl NomadEvaluator {
    /// Connects (nothing is registered before the first round).
    pub fn new(opts: OnNomad) -> Result<NomadEvaluator> {
        if !opts.worker_binary.is_absolute() {
            bail!(
                "--worker-binary {}: must be an absolute path (raw_exec runs it on the clients)",
                opts.worker_binary.display()
            );
        }
        if opts.parallel == 0 {
            bail!("--parallel must be at least 1");
        }
        if opts.conn.address.is_none() {
            bail!("--on-nomad needs --addr (or NOMAD_ADDR)");
        }
        let client = NomadClient::new(&opts.conn)?;
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .context("starting the tokio runtime")?;
        Ok(NomadEvaluator {
            deadline: Instant::now() + opts.timeout,
            started: Instant::now(),
            opts,
            rt,
            client,
            parent: None,
            round: 0,
            dispatched: Vec::new(),
            units: Vec::new(),
        })
    }

    /// The parent job's JSON.
    pub fn parent_job(&self, id: &str) -> Value {
        let o = &self.opts;
        let ns = |d: Duration| d.as_nanos() as u64;
        json!({
            "ID": id,
            "Name": id,
            "Type": "batch",
            "Datacenters": o.datacenters,
            "Priority": 50,
            "Meta": {"stampede": "plan-worker"},
            "ParameterizedJob": {"Payload": "required", "MetaRequired": ["unit"]},
            "TaskGroups": [{
                "Name": "eval",
                "Count": 1,
                "RestartPolicy": {"Attempts": RESTART_ATTEMPTS, "Interval": ns(Duration::from_secs(3600)),
                                  "Delay": ns(RETRY_DELAY), "Mode": "fail"},
                "ReschedulePolicy": {"Attempts": RESCHEDULE_ATTEMPTS, "Interval": ns(Duration::from_secs(3600)),
                                     "Delay": ns(RESCHEDULE_DELAY), "DelayFunction": "constant",
                                     "MaxDelay": ns(RESCHEDULE_DELAY), "Unlimited": false},
                "EphemeralDisk": {"SizeMB": 50},
                "Tasks": [{
                    "Name": "worker",
                    "Driver": "raw_exec",
                    "Config": {
                        "command": o.worker_binary.display().to_string(),
                        "args": ["plan-worker", "--unit", "${NOMAD_TASK_DIR}/unit.json",
                                 "--out", format!("${{NOMAD_ALLOC_DIR}}/data/result.json")]
                    },
                    "DispatchPayload": {"File": "unit.json"},
                    "Resources": {"CPU": o.task_cpu, "MemoryMB": o.task_memory},
                    "LogConfig": {"MaxFiles": 2, "MaxFileSizeMB": 5}
                }]
            }]
        })
    }

    async fn ensure_parent(&mut self, req: &PlanRequest) -> Result<String> {
        if let Some(p) = &self.parent {
            return Ok(p.clone());
        }
        let id = format!(
            "stampede-plan-{}",
            &sha256_hex(
                format!(
                    "{:?}{}{}",
                    req.scenario,
                    super::shard::unix_ns_now(),
                    std::process::id()
                )
                .as_bytes()
            )[..12]
        );
        let job = self.parent_job(&id);
        self.client.register_job(&job).await.with_context(|| {
            format!("registering the plan job `{id}` on {}", self.client.base())
        })?;
        self.parent = Some(id.clone());
        Ok(id)
    }

    fn unit_of(&self, req: &PlanRequest, name: String, work: Vec<Work>) -> Result<WorkUnit> {
        let abs = |p: &Path| {
            std::fs::canonicalize(p).with_context(|| format!("resolving {}", p.display()))
        };
        let scenario = abs(&req.scenario)?;
        let trace = req.trace.as_deref().map(abs).transpose()?;
        let digest = |p: &Path| -> Result<String> {
            Ok(sha256_hex(
                &std::fs::read(p).with_context(|| format!("reading {}", p.display()))?,
            ))
        };
        Ok(WorkUnit {
            version: env!("CARGO_PKG_VERSION").to_string(),
            unit: name,
            scenario_sha256: digest(&scenario)?,
            scenario,
            trace_sha256: trace.as_deref().map(digest).transpose()?,
            trace,
            slo: req.slo.text.clone(),
            seeds: req.seeds,
            seed: req.seed,
            autoscale: req.autoscale,
            threads: self.opts.worker_threads,
            work,
        })
    }

    async fn dispatch(&mut self, parent: &str, unit: &WorkUnit) -> Result<String> {
        let payload = serde_json::to_vec(unit)?;
        if payload.len() > MAX_PAYLOAD {
            bail!(
                "work unit {} is {} bytes, above Nomad's dispatch payload limit of {MAX_PAYLOAD}: raise --parallel",
                unit.unit,
                payload.len()
            );
        }
        let body = json!({
            "Payload": base64::engine::general_purpose::STANDARD.encode(&payload),
            "Meta": {"unit": unit.unit},
            "IdempotencyToken": format!("{parent}-{}", unit.unit),
        });
        let path = format!("/v1/job/{}/dispatch", path_escape(parent));
        let mut delay = Duration::from_millis(200);
        let mut attempt = 0;
        loop {
            attempt += 1;
            let r: Result<crate::nomad::types::DispatchResponse, _> = self
                .client
                .write(
                    reqwest::Method::POST,
                    &path,
                    &[("namespace".into(), self.client.namespace().to_string())],
                    &body,
                )
                .await;
            match r {
                Ok(d) => {
                    self.dispatched.push(d.dispatched_job_id.clone());
                    return Ok(d.dispatched_job_id);
                }
                Err(e) if e.is_retryable() && attempt < 5 => {
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
                Err(e) => {
                    return Err(e).with_context(|| format!("dispatching work unit {}", unit.unit))
                }
            }
        }
    }

    /// Deregisters and purges every job this plan registered or dispatched (bounded; errors reported).
    pub fn cleanup(&mut self) -> Result<()> {
        let mut ids: Vec<String> = self.dispatched.drain(..).collect();
        ids.extend(self.parent.take());
        let client = self.client.clone();
        self.rt.block_on(async move {
            let mut errs = Vec::new();
            for id in ids {
                let r =
                    tokio::time::timeout(Duration::from_secs(10), client.deregister_job(&id, true))
                        .await;
                match r {
                    Ok(Ok(())) => {}
                    Ok(Err(e)) if e.status() == Some(404) => {}
                    Ok(Err(e)) => errs.push(format!("{id}: {e}")),
                    Err(_) => errs.push(format!("{id}: no answer within 10 s")),
                }
            }
            if errs.is_empty() {
                Ok(())
            } else {
                bail!(
                    "could not purge every plan job ({}); remove them with `nomad job stop -purge`",
                    errs.join("; ")
                )
            }
        })
    }
}

/// An allocation of a dispatched job, as `GET /v1/job/:id/allocations` lists it.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "PascalCase")]
struct JobAlloc {
    #[serde(rename = "ID")]
    id: String,
    #[serde(default)]
    node_name: String,
    client_status: String,
    #[serde(default)]
    task_states: Option<BTreeMap<String, TaskRestarts>>,
}

#[derive(Debug, Deserialize, Default)]
#[serde(rename_all = "PascalCase", default)]
struct TaskRestarts {
    restarts: u64,
}

fn restarts_of(a: &JobAlloc) -> u64 {
    a.task_states
        .as_ref()
        .map_or(0, |t| t.values().map(|s| s.restarts).sum())
}

enum UnitState {
    Pending,
    Done(WorkResult),
    Absent(String),
}

impl Evaluator for NomadEvaluator {
    fn evaluate(
        &mut self,
        req: &PlanRequest,
        jobs: &[Work],
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<std::result::Result<SeedResult, String>>> {
        self.round += 1;
        let round = self.round;
        // Contiguous units whose sizes differ by at most one.
        let k = (self.opts.parallel as usize).min(jobs.len()).max(1);
        let mut units = Vec::new();
        let mut at = 0;
        for u in 0..k {
            let len = jobs.len() / k + usize::from(u < jobs.len() % k);
            units.push(self.unit_of(req, format!("r{round}-u{u}"), jobs[at..at + len].to_vec())?);
            at += len;
        }
        let rt = tokio::runtime::Handle::clone(self.rt.handle());
        let states = rt.block_on(self.run_round(req, &units, progress))?;
        let mut out = Vec::with_capacity(jobs.len());
        for (unit, st) in units.iter().zip(states) {
            match st {
                UnitState::Done(r) => out.extend(r.results.iter().map(|w| Ok(SeedResult::from(w)))),
                UnitState::Absent(why) => out.extend(
                    unit.work
                        .iter()
                        .map(|_| Err(format!("work unit {}: {why}", unit.unit))),
                ),
                UnitState::Pending => unreachable!("run_round resolves every unit"),
            }
        }
        Ok(out)
    }

    fn describe(&self) -> Option<Value> {
        Some(json!({
            "kind": "nomad",
            "address": self.client.base(),
            "job": self.parent,
            "worker_binary": self.opts.worker_binary.display().to_string(),
            "parallel": self.opts.parallel,
            "restart_attempts": RESTART_ATTEMPTS,
            "reschedule_attempts": RESCHEDULE_ATTEMPTS,
            "units": self.units,
            "elapsed_s": (self.started.elapsed().as_secs_f64() * 100.0).round() / 100.0,
        }))
    }
}

impl NomadEvaluator {
    async fn run_round(
        &mut self,
        req: &PlanRequest,
        units: &[WorkUnit],
        progress: &mut dyn FnMut(&str),
    ) -> Result<Vec<UnitState>> {
        let parent = self.ensure_parent(req).await?;
        // The event stream: progress and an early wake-up of the poll.
        let live = Arc::new(Mutex::new(Live::default()));
        let wake = Arc::new(tokio::sync::Notify::new());
        let stop_stream = CancellationToken::new();
        let _guard = stop_stream.clone().drop_guard();
        {
            let (c, live, wake, stop) = (
                self.client.clone(),
                live.clone(),
                wake.clone(),
                stop_stream.clone(),
            );
            let prefix = format!("{parent}/dispatch-");
            let opts = StreamOptions {
                topics: vec!["Allocation:*".into()],
                ..Default::default()
            };
            tokio::spawn(async move {
                read_event_stream(&c, &opts, stop, |_, ev| {
                    if let Some(a) = &ev.payload.allocation {
                        if a.job_id.starts_with(&prefix) {
                            let mut l = live.lock().unwrap_or_else(|p| p.into_inner());
                            l.allocs
                                .entry(a.job_id.to_string())
                                .or_default()
                                .insert(a.id.to_string(), a.client_status.to_string());
                            wake.notify_one();
                        }
                    }
                })
                .await
            });
        }
        let mut jobs = Vec::new();
        let mut sent = Vec::new();
        for u in units {
            let id = self.dispatch(&parent, u).await?;
            jobs.push(id);
            sent.push(Instant::now());
        }
        progress(&format!(
            "round {}: dispatched {} work units of {} as children of Nomad job `{parent}`",
            self.round,
            units.len(),
            units.iter().map(|u| u.work.len()).sum::<usize>()
        ));
        let bar = self.opts.progress_bar.then(|| {
            let pb = indicatif::ProgressBar::new(units.len() as u64);
            pb.set_style(
                indicatif::ProgressStyle::with_template(
                    "{elapsed_precise} [{bar:30}] {pos}/{len} work units  {msg}",
                )
                .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
            );
            pb
        });
        let mut states: Vec<UnitState> = units.iter().map(|_| UnitState::Pending).collect();
        let mut allocs: Vec<Vec<UnitAlloc>> = vec![Vec::new(); units.len()];
        let mut done_at: Vec<Option<Instant>> = vec![None; units.len()];
        let mut failures: Vec<u32> = vec![0; units.len()];
        loop {
            let mut pending = 0;
            for i in 0..units.len() {
                if !matches!(states[i], UnitState::Pending) {
                    continue;
                }
                match self.poll_unit(&jobs[i], &units[i]).await {
                    Ok((st, al)) => {
                        failures[i] = 0;
                        allocs[i] = al;
                        if !matches!(st, UnitState::Pending) {
                            done_at[i] = Some(Instant::now());
                            let line = match &st {
                                UnitState::Done(r) => format!(
                                    "work unit {} done on {} ({} evaluations, {:.1} s)",
                                    units[i].unit,
                                    r.host,
                                    r.work.len(),
                                    r.wall_s
                                ),
                                UnitState::Absent(why) => {
                                    format!("work unit {} absent: {why}", units[i].unit)
                                }
                                UnitState::Pending => String::new(),
                            };
                            // Above the bar when there is one, so the two don't interleave.
                            match &bar {
                                Some(pb) => pb.println(line),
                                None => progress(&line),
                            }
                        } else {
                            pending += 1;
                        }
                        states[i] = st;
                    }
                    // A failed poll (leader election, a busy server) is retried on the next round;
                    // one that keeps failing (the job purged by someone, the token revoked) ends the unit.
                    Err(e) => {
                        failures[i] += 1;
                        if failures[i] >= MAX_POLL_FAILURES {
                            progress(&format!("work unit {} absent: {e:#}", units[i].unit));
                            states[i] = UnitState::Absent(format!(
                                "its state could not be read {MAX_POLL_FAILURES} times in a row: {e:#}"
                            ));
                            done_at[i] = Some(Instant::now());
                        } else {
                            pending += 1;
                        }
                    }
                }
            }
            if let Some(pb) = &bar {
                let l = live.lock().unwrap_or_else(|p| p.into_inner());
                let running = jobs
                    .iter()
                    .filter_map(|j| l.allocs.get(j))
                    .flat_map(|m| m.values())
                    .filter(|s| *s == "running")
                    .count();
                let restarts: u64 = allocs.iter().flatten().map(|a| a.restarts).sum();
                let extra: usize = allocs.iter().map(|a| a.len().saturating_sub(1)).sum();
                pb.set_position((units.len() - pending) as u64);
                pb.set_message(format!(
                    "running {running}, restarts {restarts}, rescheduled {extra}"
                ));
            }
            if pending == 0 {
                break;
            }
            let why = if self.opts.stop.is_cancelled() {
                Some("interrupted (SIGINT/SIGTERM/SIGHUP) before it finished".to_string())
            } else if Instant::now() >= self.deadline {
                Some(format!(
                    "--timeout {:.0}s ran out before it finished",
                    self.opts.timeout.as_secs_f64()
                ))
            } else {
                None
            };
            if let Some(why) = why {
                for s in states.iter_mut() {
                    if matches!(s, UnitState::Pending) {
                        *s = UnitState::Absent(why.clone());
                    }
                }
                break;
            }
            tokio::select! {
                _ = wake.notified() => tokio::time::sleep(Duration::from_millis(100)).await,
                _ = tokio::time::sleep(Duration::from_secs(1)) => {}
                _ = self.opts.stop.cancelled() => {}
            }
        }
        if let Some(pb) = bar {
            pb.finish_and_clear();
        }
        for i in 0..units.len() {
            self.units.push(UnitReport {
                unit: units[i].unit.clone(),
                job: jobs[i].clone(),
                evaluations: units[i].work.len(),
                allocations: allocs[i].clone(),
                result: match &states[i] {
                    UnitState::Done(_) => "ok".into(),
                    UnitState::Absent(w) => format!("absent: {w}"),
                    UnitState::Pending => "pending".into(),
                },
                worker_wall_s: match &states[i] {
                    UnitState::Done(r) => Some((r.wall_s * 1000.0).round() / 1000.0),
                    _ => None,
                },
                turnaround_s: done_at[i].map_or(0.0, |d| {
                    (d.duration_since(sent[i]).as_secs_f64() * 1000.0).round() / 1000.0
                }),
            });
        }
        Ok(states)
    }

    /// One look at a unit: its allocations; the result once one completed; absent once the job is dead
    /// without a complete allocation.
    async fn poll_unit(&self, job: &str, unit: &WorkUnit) -> Result<(UnitState, Vec<UnitAlloc>)> {
        let q = vec![("namespace".to_string(), self.client.namespace().to_string())];
        let (list, _): (Vec<JobAlloc>, _) = self
            .client
            .get(&format!("/v1/job/{}/allocations", path_escape(job)), &q)
            .await?;
        let report: Vec<UnitAlloc> = list
            .iter()
            .map(|a| UnitAlloc {
                id: a.id.clone(),
                node: a.node_name.clone(),
                status: a.client_status.clone(),
                restarts: restarts_of(a),
            })
            .collect();
        if let Some(a) = list.iter().find(|a| a.client_status == "complete") {
            let text = self
                .client
                .get_text(
                    &format!("/v1/client/fs/cat/{}", path_escape(&a.id)),
                    &[("path".to_string(), RESULT_PATH.to_string())],
                )
                .await;
            let st = match text {
                Err(e) => UnitState::Absent(format!(
                    "allocation {} completed but its result could not be read: {e}",
                    a.id
                )),
                Ok(t) => match serde_json::from_str::<WorkResult>(&t) {
                    Err(e) => UnitState::Absent(format!(
                        "allocation {}: {RESULT_PATH} is not a work result: {e}",
                        a.id
                    )),
                    Ok(r) if r.unit != unit.unit || r.work != unit.work => {
                        UnitState::Absent(format!(
                            "allocation {} answered unit {} with other evaluations",
                            a.id, r.unit
                        ))
                    }
                    Ok(r) if r.results.len() != unit.work.len() => UnitState::Absent(format!(
                        "allocation {}: {} results for {} evaluations",
                        a.id,
                        r.results.len(),
                        unit.work.len()
                    )),
                    Ok(r) => UnitState::Done(r),
                },
            };
            return Ok((st, report));
        }
        let all_terminal = !list.is_empty()
            && list
                .iter()
                .all(|a| matches!(a.client_status.as_str(), "failed" | "lost"));
        if all_terminal {
            let (j, _): (Value, _) = self
                .client
                .get(&format!("/v1/job/{}", path_escape(job)), &q)
                .await?;
            if j["Status"] == "dead" {
                let restarts: u64 = report.iter().map(|a| a.restarts).sum();
                let last = list.last().map(|a| a.id.clone()).unwrap_or_default();
                let tail = stderr_tail(&self.client, &last, "worker").await;
                return Ok((
                    UnitState::Absent(format!(
                        "every allocation failed ({} allocations, {restarts} restarts; Nomad's restart and reschedule policies are exhausted){}",
                        list.len(),
                        if tail.is_empty() { String::new() } else { format!("; the worker's last stderr: {tail}") }
                    )),
                    report,
                ));
            }
        }
        Ok((UnitState::Pending, report))
    }
}

/// The last lines (at most 600 bytes) of a task's stderr, through `/v1/client/fs/logs`; empty when
/// there are none or they cannot be read.
pub async fn stderr_tail(client: &NomadClient, alloc: &str, task: &str) -> String {
    if alloc.is_empty() {
        return String::new();
    }
    let q: Vec<(String, String)> = [
        ("task", task),
        ("type", "stderr"),
        ("plain", "true"),
        ("origin", "end"),
        ("offset", "600"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    let r = tokio::time::timeout(
        Duration::from_secs(10),
        client.get_text(&format!("/v1/client/fs/logs/{}", path_escape(alloc)), &q),
    )
    .await;
    match r {
        Ok(Ok(t)) => t.trim().lines().collect::<Vec<_>>().join(" / "),
        _ => String::new(),
    }
}

/// Polls of one unit that may fail in a row before it counts as absent (about a minute).
pub const MAX_POLL_FAILURES: u32 = 60;

/// Whether stderr is a terminal (for the progress bar).
pub fn stderr_is_tty() -> bool {
    std::io::stderr().is_terminal()
}
