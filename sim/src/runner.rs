//! Running a whole scenario as fast as possible and producing its [`RunRecord`].

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use crate::api::{RequestOutcome, SimTime};
use crate::cluster::{Cluster, ClusterOptions};
use crate::error::SimError;
use crate::record::{
    RunMeta, RunRecord, ScenarioInfo, ServerInfo, Source, SCHEMA_VERSION, SIM_EPOCH_UNIX_NS,
};
use crate::scenario::{Scenario, WorkloadSource};
use crate::summary::SummaryInputs;
use crate::workload::{JobSource, Pacing, Submission, SyntheticSource};

/// Options of one simulated run.
#[derive(Debug, Clone, Default)]
pub struct RunOptions {
    /// Root seed.
    pub seed: u64,
    /// Tie-shuffle seed (permute same-time events).
    pub tie_shuffle: Option<u64>,
    /// Run ID to put in the record (default `<scenario>-<seed>`).
    pub run_id: Option<String>,
    /// Tool version to put in the record.
    pub tool_version: String,
    /// Stop as soon as more than `max_late` allocations are known to have waited longer than
    /// `threshold_ns` (submit → running): a latency SLO is then provably missed (used by `plan`).
    pub early_stop: Option<EarlyStop>,
}

/// An early-stop rule for runs whose only purpose is an SLO verdict.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct EarlyStop {
    /// Latency threshold, ns.
    pub threshold_ns: u64,
    /// Most late allocations the SLO tolerates.
    pub max_late: u64,
}

/// Progress of a run, reported periodically.
#[derive(Debug, Clone, Copy, Default)]
pub struct Progress {
    /// Simulated time, ns.
    pub sim_time: SimTime,
    /// Jobs submitted.
    pub jobs_submitted: u64,
    /// Jobs in total, if known.
    pub jobs_total: Option<u64>,
    /// Allocations placed.
    pub placed: u64,
    /// Allocations running now.
    pub running: u64,
    /// Events processed.
    pub events: u64,
}

/// Figures about the simulation itself (not part of the record: they vary with nothing but the model, but
/// callers print them).
#[derive(Debug, Clone, Copy, Default)]
pub struct RunStats {
    /// Events processed.
    pub events: u64,
    /// Simulated time at the end, ns.
    pub sim_time: SimTime,
    /// Allocations that could not be placed when the run ended (no capacity and no way to add any).
    pub unplaced: u64,
    /// The run was stopped early because the early-stop rule's SLO was provably missed.
    pub stopped_early: bool,
}

/// The job source of a scenario with a synthetic workload. Trace workloads are built by the caller, which
/// reads the file (`sim` does no file IO).
pub fn synthetic_source(sc: &Scenario, seed: u64) -> Result<Box<dyn JobSource>, SimError> {
    match &sc.workload {
        WorkloadSource::Synthetic { template, arrival } => Ok(Box::new(SyntheticSource::new(
            template.clone(),
            *arrival,
            seed,
        ))),
        WorkloadSource::Trace { path } => Err(SimError::Scenario(format!(
            "the workload is a trace ({path}): load it and pass a trace source"
        ))),
    }
}

/// Submissions waiting for their time, earliest first (ties in arrival order).
#[derive(Default)]
struct Pending {
    heap: BinaryHeap<Reverse<(SimTime, u64)>>,
    waiting: std::collections::BTreeMap<u64, Submission>,
    seq: u64,
}

impl Pending {
    fn push(&mut self, t: SimTime, s: Submission) {
        self.heap.push(Reverse((t, self.seq)));
        self.waiting.insert(self.seq, s);
        self.seq += 1;
    }
    /// When the earliest waiting submission is due.
    fn next_time(&self) -> Option<SimTime> {
        self.heap.peek().map(|Reverse((t, _))| *t)
    }
    /// Takes the earliest waiting submission (there is one: [`Pending::next_time`] said so).
    fn pop(&mut self) -> Submission {
        let Reverse((_, id)) = self.heap.pop().expect("a waiting submission");
        self.waiting.remove(&id).expect("waiting submission")
    }
}

/// Register requests still unanswered, and those answered with a failure.
#[derive(Default)]
struct Responses {
    open: u64,
    failed: u64,
}

/// Takes the answered register requests: counts them, and in a closed loop submits the next job for
/// each workload answer (the standing jobs' answers pace nothing).
fn settle(
    cluster: &mut Cluster,
    standing: &mut std::collections::BTreeSet<crate::api::RequestId>,
    done: &mut Responses,
    pacing: Pacing,
    source: &mut dyn JobSource,
    pending: &mut Pending,
) {
    for (rid, t_resp, outcome) in cluster.take_completed() {
        done.open -= 1;
        if let RequestOutcome::Failed(_) = outcome {
            done.failed += 1;
        }
        if standing.remove(&rid) {
            continue;
        }
        if let Pacing::ClosedLoop { .. } = pacing {
            if let Some(s) = source.next_job() {
                pending.push(t_resp, s);
            }
        }
    }
}

/// Runs `sc` with jobs from `source` to completion and returns the record.
pub fn run_scenario(
    sc: &Scenario,
    source: Box<dyn JobSource>,
    opts: &RunOptions,
    progress: &mut dyn FnMut(&Progress),
) -> Result<(RunRecord, RunStats), SimError> {
    let mut cluster = Cluster::new(
        sc,
        opts.seed,
        ClusterOptions {
            record_changes: false,
            tie_shuffle_seed: opts.tie_shuffle,
        },
    )?;
    let mut source = source;
    let pacing = source.pacing();
    let total = source.len_hint();
    let describe = source.describe();
    if let Some(last) = source.last_submit_hint() {
        cluster.reserve_metric_seconds(last / 1_000_000_000);
    }
    if let Some(n) = source.allocs_hint() {
        cluster.reserve_allocs(n);
    }
    let mut pending = Pending::default();
    match pacing {
        Pacing::Timed => {
            if let Some(s) = source.next_job() {
                let t = s.at;
                pending.push(t, s);
            }
        }
        Pacing::ClosedLoop { workers } => {
            for _ in 0..workers {
                match source.next_job() {
                    Some(s) => pending.push(0, s),
                    None => break,
                }
            }
        }
    }
    let mut submitted = 0u64;
    let mut done = Responses::default();
    // The scenario's standing jobs (system, sysbatch, periodic) register at t = 0, before the workload;
    // their responses do not pace a closed loop.
    let mut standing = std::collections::BTreeSet::new();
    for spec in &sc.standing_jobs {
        let id = cluster.submit_register(spec.clone(), 0).map_err(|e| {
            SimError::InvalidJob(format!(
                "job `{}` rejected by the simulated cluster: {e}",
                spec.id
            ))
        })?;
        standing.insert(id);
        submitted += 1;
        done.open += 1;
    }
    let mut last_report = 0u64;
    let mut last_check = 0u64;
    let mut stopped_early = false;
    let mut report = |c: &Cluster, submitted: u64, force: bool| {
        let ev = c.counters().events;
        if force || ev >= last_report + (1 << 18) {
            last_report = ev;
            progress(&Progress {
                sim_time: c.now(),
                jobs_submitted: submitted,
                jobs_total: total,
                placed: c.counters().placements,
                running: c.running_now(),
                events: ev,
            });
        }
    };
    loop {
        if let Some(es) = opts.early_stop {
            let ev = cluster.counters().events;
            if ev >= last_check + (1 << 16) {
                last_check = ev;
                if cluster.late_allocs(es.threshold_ns) > es.max_late {
                    stopped_early = true;
                    break;
                }
            }
        }
        if let Some(ts) = pending.next_time() {
            let completed = cluster.advance_until_completion(ts)?;
            if completed {
                settle(
                    &mut cluster,
                    &mut standing,
                    &mut done,
                    pacing,
                    &mut *source,
                    &mut pending,
                );
                report(&cluster, submitted, false);
                continue;
            }
            let s = pending.pop();
            cluster.advance_to(ts)?;
            let intended = if matches!(pacing, Pacing::Timed) {
                s.at
            } else {
                ts
            };
            match cluster.submit_register(s.spec, intended) {
                Ok(_) => {
                    submitted += 1;
                    done.open += 1;
                }
                Err(e) => {
                    return Err(SimError::InvalidJob(format!(
                        "job rejected by the simulated cluster: {e}"
                    )))
                }
            }
            if let Pacing::Timed = pacing {
                if let Some(n) = source.next_job() {
                    if n.at < ts {
                        return Err(SimError::Trace(format!("job `{}` is submitted at {} ns, before the previous job ({} ns): arrivals must be in time order", n.spec.id, n.at, ts)));
                    }
                    let t = n.at;
                    pending.push(t, n);
                }
            }
            report(&cluster, submitted, false);
            continue;
        }
        // Everything submitted: run until the cluster is idle.
        if done.open > 0 || !cluster.is_idle() || cluster.can_scale_up() {
            if !cluster.step()? {
                break;
            }
            settle(
                &mut cluster,
                &mut standing,
                &mut done,
                pacing,
                &mut *source,
                &mut pending,
            );
            report(&cluster, submitted, false);
            continue;
        }
        if !sc.sim.stop_when_idle {
            if !cluster.step()? {
                break;
            }
            continue;
        }
        break;
    }
    // Let in-flight client updates settle so the record's last second is complete.
    let end = cluster.now();
    cluster.close_metrics();
    report(&cluster, submitted, true);
    let stats = RunStats {
        events: cluster.counters().events,
        sim_time: end,
        unplaced: cluster.unplaced(),
        stopped_early,
    };
    let mut rec = build_record(
        sc,
        &mut cluster,
        opts,
        &describe,
        submitted,
        done.failed,
        Source::Sim,
    );
    if stopped_early {
        rec.meta
            .notes
            .push("stopped early: the latency objective was provably missed".into());
    }
    // Freeing a day-long cluster (millions of small objects) takes a tenth of the run: do it off the
    // caller's thread. Nothing observable depends on when it is freed.
    std::thread::spawn(move || drop(cluster));
    Ok((rec, stats))
}

/// Builds the run record of a cluster's ground truth (the cluster's metric rows move into the record).
pub fn build_record(
    sc: &Scenario,
    c: &mut Cluster,
    opts: &RunOptions,
    arrival: &str,
    submitted: u64,
    failed_submit: u64,
    source: Source,
) -> RunRecord {
    let allocs: Vec<_> = (0..c.alloc_count()).map(|i| c.alloc_truth(i)).collect();
    let metrics = c.take_metric_rows();
    let nodes = c.node_rows();
    let events = c.run_events().to_vec();
    let inputs = SummaryInputs {
        jobs_submitted: submitted,
        jobs_failed_to_submit: failed_submit,
        allocs_desired: c.allocs_desired(),
        evals_blocked: c.counters().evals_blocked,
        evals_failed: c.counters().evals_failed,
        events: &events,
        slo: &sc.slo,
    };
    let summary = crate::record::Summary::compute(&allocs, &metrics, &inputs);
    let (job_type, groups, count, cpu, mem, spread, jobs) = match &sc.workload {
        WorkloadSource::Synthetic { template: t, .. } => (
            t.job_type.as_str().to_string(),
            t.groups,
            t.count,
            t.cpu_mhz,
            t.memory_mb,
            t.spread_block,
            t.jobs as u64,
        ),
        WorkloadSource::Trace { .. } => ("mixed".to_string(), 0, 0, 0, 0, false, submitted),
    };
    let mut notes = Vec::new();
    if c.unplaced() > 0 {
        notes.push(format!("{} allocations were still unplaced when the run ended (no capacity left and no way to add any)", c.unplaced()));
    }
    if let Some(t) = opts.tie_shuffle {
        notes.push(format!(
            "tie-shuffle mode: same-time events permuted with seed {t}"
        ));
    }
    let names = c.server_names();
    let meta = RunMeta {
        schema_version: SCHEMA_VERSION,
        tool_version: opts.tool_version.clone(),
        run_id: opts
            .run_id
            .clone()
            .unwrap_or_else(|| format!("{}-{}", sc.name, opts.seed)),
        source,
        seed: Some(opts.seed),
        nomad_version: "sim".to_string(),
        start_unix_ns: SIM_EPOCH_UNIX_NS,
        duration_s: c.now() as f64 / 1e9,
        outcome: crate::record::Outcome::Complete,
        scenario: ScenarioInfo {
            name: sc.name.clone(),
            path: sc.path.clone(),
            scale: sc.scale,
            algorithm: c.algorithm().as_str().to_string(),
            jobs,
            job_type,
            groups_per_job: groups,
            count_per_group: count,
            cpu_mhz: cpu,
            memory_mb: mem,
            spread_block: spread,
            arrival: arrival.to_string(),
            slo: sc.slo.clone(),
        },
        servers: names
            .iter()
            .enumerate()
            .map(|(i, n)| ServerInfo {
                name: n.clone(),
                address: format!("10.0.0.{}:4647", i + 1),
                leader: i == 0,
                instance_type: Some(sc.cluster.instance_type.clone()),
                cores: Some(sc.cluster.cores),
            })
            .collect(),
        fleet: c.pool_summaries(),
        summary,
        events,
        notes,
        control_plane: Some(c.control_plane()),
        calibration: None,
    };
    RunRecord {
        meta,
        allocs,
        metrics,
        nodes,
    }
}
