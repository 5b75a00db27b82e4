//! Rebuilding a recorded run for re-simulation: its cluster (from `run.json` and `nodes.csv`, or a base
//! scenario when the record lacks node resources) and its workload (one trace job per recorded job: submit
//! time, task groups, counts, and each allocation's measured run time and exit, from `allocs.csv`; resources
//! from `run.json`'s scenario).

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use sha2::{Digest, Sha256};
use stampede_sim::record::{AllocStatus, RunRecord, Source};
use stampede_sim::scenario::{JobType, Scenario, WorkloadSource};
use stampede_sim::trace::{
    Exit, Trace, TraceAlloc, TraceGroup, TraceHeader, TraceJob, TraceSource, TRACE_VERSION,
};

use super::features::{self, Figure};
use crate::files;

/// One recorded run, ready to be re-simulated under candidate parameters.
#[derive(Debug, Clone)]
pub struct Replay {
    /// Run directory as given.
    pub dir: PathBuf,
    /// `run_id` of the record.
    pub run_id: String,
    /// Where the record came from.
    pub source: Source,
    /// SHA-256 over run.json, allocs.csv, metrics.csv, nodes.csv (in that order), hex.
    pub sha256: String,
    /// The cluster to simulate (its `params` are the starting point of the fit).
    pub scenario: Scenario,
    /// The recorded workload.
    pub trace: Arc<Trace>,
    /// The observed figures that enter the loss.
    pub observed: Vec<(Figure, f64)>,
    /// Allocations in the record.
    pub allocs: usize,
    /// What was assumed while rebuilding (said in the output).
    pub notes: Vec<String>,
}

/// SHA-256 over a record's four files, in the order run.json, allocs.csv, metrics.csv, nodes.csv (a
/// missing nodes.csv contributes nothing).
pub fn record_digest(dir: &Path) -> Result<String> {
    let mut h = Sha256::new();
    for name in [
        files::record::RUN_JSON,
        files::record::ALLOCS_CSV,
        files::record::METRICS_CSV,
        files::record::NODES_CSV,
    ] {
        let p = dir.join(name);
        if name == files::record::NODES_CSV && !p.exists() {
            continue;
        }
        let mut f = std::fs::File::open(&p).with_context(|| format!("opening {}", p.display()))?;
        let mut buf = vec![0u8; 1 << 16];
        loop {
            let n = f
                .read(&mut buf)
                .with_context(|| format!("reading {}", p.display()))?;
            if n == 0 {
                break;
            }
            h.update(&buf[..n]);
        }
    }
    Ok(hex(&h.finalize()))
}

/// Lowercase hex of bytes.
pub fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

/// Reads the record in `dir` and rebuilds it. `base`: the cluster to simulate (servers, pools, params);
/// when `None` it comes from the record, which then must carry node resources.
pub fn load(dir: &Path, base: Option<&Scenario>) -> Result<Replay> {
    let mut rec = files::record::read_record(dir)
        .with_context(|| format!("reading run record {}", dir.display()))?;
    let sha256 = record_digest(dir)?;
    let mut notes = Vec::new();
    if !rec.meta.outcome.is_complete() {
        bail!(
            "{}: the run's outcome is `{}`; calibrate only on complete runs (its figures describe part of what was asked)",
            dir.display(),
            rec.meta.outcome.as_str()
        );
    }
    if from_send(&mut rec) {
        notes.push(format!(
            "{}: latencies measured from each job's actual send (sent_ns), not its intended time: the fit describes the cluster, not the load generator's send lag",
            dir.display()
        ));
    }
    let trace = trace_of(&rec, dir, &mut notes)?;
    let scenario = match base {
        Some(b) => {
            let mut sc = b.clone();
            sc.workload = WorkloadSource::Trace {
                path: dir.join(files::record::ALLOCS_CSV).display().to_string(),
            };
            if let Some(a) = stampede_sim::scenario::Algorithm::parse(&rec.meta.scenario.algorithm)
            {
                if a != sc.cluster.algorithm && !rec.meta.scenario.algorithm.is_empty() {
                    notes.push(format!(
                        "{}: the run used scheduler algorithm `{}`; simulated with it instead of the base scenario's `{}`",
                        dir.display(),
                        a.as_str(),
                        sc.cluster.algorithm.as_str()
                    ));
                    sc.cluster.algorithm = a;
                }
            }
            sc
        }
        None => scenario_of(&rec, dir)?,
    };
    let observed = features::observed(&rec);
    if observed.is_empty() {
        bail!(
            "{}: the record has no placed allocations, so nothing to calibrate on",
            dir.display()
        );
    }
    Ok(Replay {
        dir: dir.to_path_buf(),
        run_id: rec.meta.run_id.clone(),
        source: rec.meta.source,
        sha256,
        scenario,
        trace: Arc::new(trace),
        observed,
        allocs: rec.allocs.len(),
        notes,
    })
}

/// Measures a record from each job's actual send: `submit_ns := sent_ns` where the record has it, and the
/// summary recomputed. A load generator that fell behind its schedule (connection set-up, a slow client)
/// otherwise makes the cluster look slower than it is. Returns whether anything changed.
pub fn from_send(rec: &mut RunRecord) -> bool {
    let mut changed = false;
    for a in &mut rec.allocs {
        if let (Some(sent), Some(sub)) = (a.sent_ns, a.submit_ns) {
            if sent != sub {
                a.submit_ns = Some(sent);
                changed = true;
            }
        }
    }
    if changed {
        let s = &rec.meta.summary;
        let slo = rec.meta.scenario.slo.clone();
        rec.meta.summary = stampede_sim::record::Summary::compute(
            &rec.allocs,
            &rec.metrics,
            &stampede_sim::summary::SummaryInputs {
                jobs_submitted: s.jobs_submitted,
                jobs_failed_to_submit: s.jobs_failed_to_submit,
                allocs_desired: s.allocs_desired,
                evals_blocked: s.evals_blocked,
                evals_failed: s.evals_failed,
                events: &rec.meta.events,
                slo: &slo,
            },
        );
    }
    changed
}

/// The workload of a record as a trace: one job per `job_id` (submit time = its earliest `submit_ns`), one
/// group per task group, count = its first-attempt rows, each allocation's run time = done − running
/// (replacements appended after the first attempts, as the trace format says).
pub fn trace_of(rec: &RunRecord, dir: &Path, notes: &mut Vec<String>) -> Result<Trace> {
    let info = &rec.meta.scenario;
    let (cpu, mem) = match (info.cpu_mhz, info.memory_mb) {
        (0, _) | (_, 0) => {
            notes.push(format!(
                "{}: run.json does not state one CPU/memory size per allocation (it varied); simulated with 100 MHz / 64 MB",
                dir.display()
            ));
            (
                if info.cpu_mhz == 0 { 100 } else { info.cpu_mhz },
                if info.memory_mb == 0 {
                    64
                } else {
                    info.memory_mb
                },
            )
        }
        (c, m) => (c, m),
    };
    // Observed run times of finished allocations: the fallback for allocations still running at the end.
    let mut finished: Vec<u64> = rec
        .allocs
        .iter()
        .filter_map(|a| Some(a.done_ns?.saturating_sub(a.running_ns?)))
        .collect();
    finished.sort_unstable();
    let median_run = finished.get(finished.len() / 2).copied();
    struct G {
        first: Vec<TraceAlloc>,
        extra: Vec<TraceAlloc>,
        service: bool,
    }
    let mut jobs: BTreeMap<&str, (u64, BTreeMap<&str, G>)> = BTreeMap::new();
    let mut unfinished = 0u64;
    for (i, a) in rec.allocs.iter().enumerate() {
        let Some(sub) = a.submit_ns else { continue };
        if a.job_id.is_empty() {
            bail!("{}: allocs.csv line {}: empty job_id", dir.display(), i + 2);
        }
        let job = jobs.entry(&a.job_id).or_insert((sub, BTreeMap::new()));
        job.0 = job.0.min(sub);
        let g = job.1.entry(&a.task_group).or_insert(G {
            first: Vec::new(),
            extra: Vec::new(),
            service: false,
        });
        let run_ns = match (a.running_ns, a.done_ns) {
            (Some(r), Some(d)) => Some(d.saturating_sub(r)),
            _ => None,
        };
        let exit = match a.status {
            AllocStatus::Failed => Exit::Failed,
            _ => Exit::Ok,
        };
        let outcome = match run_ns {
            Some(r) => Some(TraceAlloc { run_ns: r, exit }),
            None if info.job_type == "service" => {
                g.service = true;
                None
            }
            None => {
                unfinished += 1;
                Some(TraceAlloc {
                    run_ns: median_run.unwrap_or(1_000_000_000),
                    exit,
                })
            }
        };
        let is_replacement = !a.replaces.is_empty() || a.rescheduled;
        match (is_replacement, outcome) {
            (false, Some(o)) => g.first.push(o),
            (false, None) => g.first.push(TraceAlloc {
                run_ns: 0,
                exit: Exit::Ok,
            }),
            (true, Some(o)) => g.extra.push(o),
            (true, None) => {}
        }
    }
    notes.push(format!(
        "{}: images assumed present on every node (a record does not say which image ran or its size; runs made by `stampede run` pull none: raw_exec, or pre-pulled)",
        dir.display()
    ));
    if unfinished > 0 {
        notes.push(format!(
            "{}: {unfinished} batch allocations had not finished when observation ended; simulated with the median observed run time",
            dir.display()
        ));
    }
    if jobs.is_empty() {
        bail!(
            "{}: allocs.csv has no allocation with a submit time",
            dir.display()
        );
    }
    let mut out: Vec<TraceJob> = jobs
        .into_iter()
        .map(|(id, (submit_ns, groups))| {
            let service = groups.values().any(|g| g.service);
            TraceJob {
                submit_ns,
                id: id.to_string(),
                job_type: if service {
                    JobType::Service
                } else {
                    JobType::Batch
                },
                priority: 50,
                change: None,
                datacenters: Vec::new(),
                meta: BTreeMap::new(),
                node_pool: None,
                periodic: None,
                groups: groups
                    .into_iter()
                    .map(|(name, g)| {
                        let count = g.first.len().max(1) as u32;
                        let allocs = if service {
                            Vec::new()
                        } else {
                            g.first.into_iter().chain(g.extra).collect()
                        };
                        TraceGroup {
                            name: if name.is_empty() {
                                "g".into()
                            } else {
                                name.to_string()
                            },
                            count,
                            cpu_mhz: cpu,
                            memory_mb: mem,
                            tasks: vec!["main".into()],
                            image: "calibrate".into(),
                            image_bytes: 0,
                            node_class: None,
                            restart: None,
                            reschedule: None,
                            max_run_ns: None,
                            placement: None,
                            allocs,
                        }
                    })
                    .collect(),
            }
        })
        .collect();
    out.sort_by(|a, b| a.submit_ns.cmp(&b.submit_ns).then(a.id.cmp(&b.id)));
    Ok(Trace {
        header: TraceHeader {
            version: TRACE_VERSION,
            name: rec.meta.run_id.clone(),
            source: TraceSource::Record,
            seed: None,
            start_unix_ns: rec.meta.start_unix_ns,
            jobs: out.len() as u64,
            description: format!("rebuilt from {} for calibration", dir.display()),
            meta: BTreeMap::new(),
        },
        jobs: out,
    })
}

/// The cluster of a record as a scenario: servers (count, cores) from run.json, one pool per distinct
/// (pool, datacenter, CPU, memory) of nodes.csv. Records without node resources (real and emulated runs
/// list nodes without them) need a base scenario.
pub fn scenario_of(rec: &RunRecord, dir: &Path) -> Result<Scenario> {
    let m = &rec.meta;
    let need = |what: &str| {
        anyhow::anyhow!(
            "{}: {what}; pass --scenario FILE describing the cluster (servers, pools; its workload and params are not used for the workload)",
            dir.display()
        )
    };
    if m.servers.is_empty() {
        return Err(need("run.json lists no servers"));
    }
    let cores = m
        .servers
        .iter()
        .filter_map(|s| s.cores)
        .max()
        .ok_or_else(|| need("run.json does not give the servers' cores"))?;
    // Keyed by instance type too: a known type gives the pool's hosts their cores (task starts share them,
    // `client_task_start_cpu_us`); a type the table does not know (a real run's `unknown`) stays
    // `recorded`, whose cores follow the node's CPU.
    let mut pools: BTreeMap<(String, String, u32, u32, &'static str), u32> = BTreeMap::new();
    for n in rec.nodes.iter().filter(|n| n.joined_ns == 0) {
        if n.cpu_mhz == 0 || n.memory_mb == 0 {
            return Err(need(&format!(
                "nodes.csv gives no CPU/memory for node {} (records of real and emulated runs do not carry node resources)",
                n.node_id
            )));
        }
        let itype =
            stampede_sim::instances::lookup(&n.instance_type).map_or("recorded", |t| t.name);
        *pools
            .entry((
                n.pool.clone(),
                n.datacenter.clone(),
                n.cpu_mhz,
                n.memory_mb,
                itype,
            ))
            .or_default() += 1;
    }
    if pools.is_empty() {
        return Err(need("nodes.csv lists no nodes present at t = 0"));
    }
    let q = |s: &str| toml::Value::String(s.to_string()).to_string();
    let mut t = format!(
        "name = \"calibrate\"\nseed = 1\n[cluster]\nservers = {}\ninstance_type = \"recorded\"\ncores = {cores}\nmemory_gib = 64\nalgorithm = {}\n",
        m.servers.len().min(7),
        q(if m.scenario.algorithm.is_empty() {
            "binpack"
        } else {
            &m.scenario.algorithm
        })
    );
    for (i, ((pool, dc, cpu, mem, itype), count)) in pools.into_iter().enumerate() {
        t.push_str(&format!(
            "[[pools]]\nname = {}\ninstance_type = {}\ncount = {count}\ndatacenter = {}\ncpu_mhz = {cpu}\nmemory_mb = {mem}\nspot = false\n",
            q(&format!("{pool}-{i}")),
            q(itype),
            q(&dc)
        ));
    }
    t.push_str(&format!(
        "[workload]\ntrace = {}\n",
        q(&dir.join(files::record::ALLOCS_CSV).display().to_string())
    ));
    Scenario::from_toml(&format!("{} (rebuilt)", dir.display()), &t)
        .map_err(|e| anyhow::anyhow!("rebuilding the cluster of {}: {e}", dir.display()))
}
