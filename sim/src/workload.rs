//! Workloads: where jobs come from and when. One interface ([`JobSource`]) serves synthetic arrival models
//! and recorded traces, so the runner never cares which it replays.

use std::collections::BTreeMap;
use std::sync::Arc;

use rand::Rng;

use crate::api::{GroupSpec, JobSpec, RunPlan, SimTime};
use crate::rng;
use crate::scenario::{Arrival, JobTemplate};

/// How a source paces its jobs.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pacing {
    /// Each job has an intended submit time (open loop, all-at-once, traces).
    Timed,
    /// `workers` submitters each send the next job when the previous register returns.
    ClosedLoop {
        /// Concurrent submitters.
        workers: u32,
    },
}

/// One job to submit.
#[derive(Debug, Clone)]
pub struct Submission {
    /// Intended submit time (Timed pacing; ignored in closed loop), ns.
    pub at: SimTime,
    /// The job.
    pub spec: JobSpec,
}

/// A source of jobs, in non-decreasing `at` order for timed sources (like dslab's `DatasetReader`).
pub trait JobSource {
    /// Pacing of the source.
    fn pacing(&self) -> Pacing;
    /// The next job, or None when exhausted.
    fn next_job(&mut self) -> Option<Submission>;
    /// Jobs in total, if known (for progress).
    fn len_hint(&self) -> Option<u64>;
    /// When the last job is submitted, if known: sizes the per-second metric storage once instead of
    /// growing it by doubling (a replayed day keeps ~260,000 rows). Changes no output.
    fn last_submit_hint(&self) -> Option<SimTime> {
        None
    }
    /// Allocations the jobs ask for, if known: sizes the allocation arena once (C2M's 2 M allocations
    /// otherwise grow it by doubling, copying and page-faulting ~450 MB on the way). Changes no output.
    fn allocs_hint(&self) -> Option<u64> {
        None
    }
    /// Human description (run record `scenario.arrival`).
    fn describe(&self) -> String;
}

/// Copies of one job shape arriving by a model.
pub struct SyntheticSource {
    template: JobTemplate,
    arrival: Arrival,
    times: Vec<SimTime>,
    next: u32,
    priorities: Vec<u32>,
    /// Jobs that are broken (every attempt fails); empty when `broken_rate` is 0.
    broken: Vec<bool>,
}

impl SyntheticSource {
    /// A source for `template` × `arrival`, with the seed's `workload` stream for jitter and priorities.
    pub fn new(template: JobTemplate, arrival: Arrival, seed: u64) -> Self {
        let mut r = rng::stream(seed, "workload");
        let n = template.jobs as usize;
        let priorities: Vec<u32> = (0..n)
            .map(|_| {
                if template.priorities.is_empty() {
                    template.priority
                } else {
                    template.priorities[r.random_range(0..template.priorities.len())]
                }
            })
            .collect();
        let times = match arrival {
            Arrival::AllAtOnce | Arrival::ClosedLoop { .. } => vec![0; n],
            Arrival::OpenLoop {
                rate_per_s,
                burst,
                jitter_ns,
            } => {
                let mut t: Vec<SimTime> = (0..n)
                    .map(|i| {
                        let tick = (i as u64 / burst as u64) as f64 * burst as f64 / rate_per_s;
                        let j = if jitter_ns > 0 {
                            r.random_range(0..jitter_ns)
                        } else {
                            0
                        };
                        (tick * 1e9) as u64 + j
                    })
                    .collect();
                t.sort_unstable();
                t
            }
        };
        // A stream of its own, so a broken rate of 0 leaves every other draw as it was.
        let broken = if template.broken_rate > 0.0 {
            let mut rb = rng::stream(seed, "broken");
            (0..n)
                .map(|_| rb.random::<f64>() < template.broken_rate)
                .collect()
        } else {
            Vec::new()
        };
        SyntheticSource {
            template,
            arrival,
            times,
            broken,
            next: 0,
            priorities,
        }
    }

    /// The job spec of job `i`.
    pub fn job(&self, i: u32) -> JobSpec {
        let t = &self.template;
        let groups = (0..t.groups)
            .map(|g| GroupSpec {
                name: if t.groups == 1 {
                    "g".to_string()
                } else {
                    format!("g{g}")
                },
                count: t.count,
                cpu_mhz: t.cpu_mhz,
                memory_mb: t.memory_mb,
                tasks: if t.tasks <= 1 {
                    vec!["t".to_string()]
                } else {
                    (1..=t.tasks).map(|k| format!("t{k}")).collect()
                },
                image: t.image.clone(),
                image_bytes: t.image_bytes,
                run: RunPlan::Model {
                    duration: t.duration,
                    fail_rate: if self.broken.get(i as usize) == Some(&true) {
                        1.0
                    } else {
                        t.fail_rate
                    },
                },
                node_class: None,
                restart: t.restart,
                reschedule: t.reschedule,
                max_run_ns: t.max_run_ns,
                placement: t.placement.clone(),
            })
            .collect();
        JobSpec {
            id: format!("{}{:06}", t.id_prefix, i),
            job_type: t.job_type,
            priority: self.priorities[i as usize],
            datacenters: vec!["*".to_string()],
            all_at_once: t.all_at_once,
            spread_block: t.spread_block,
            parameterized: false,
            periodic: None,
            groups,
            meta: BTreeMap::new(),
            source_json: None::<Arc<String>>,
            node_pool: t.node_pool.clone(),
        }
    }
}

impl JobSource for SyntheticSource {
    fn pacing(&self) -> Pacing {
        match self.arrival {
            Arrival::ClosedLoop { workers } => Pacing::ClosedLoop { workers },
            _ => Pacing::Timed,
        }
    }
    fn next_job(&mut self) -> Option<Submission> {
        if self.next >= self.template.jobs {
            return None;
        }
        let i = self.next;
        self.next += 1;
        Some(Submission {
            at: self.times[i as usize],
            spec: self.job(i),
        })
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.template.jobs as u64)
    }
    fn last_submit_hint(&self) -> Option<SimTime> {
        self.times.iter().copied().max()
    }
    fn allocs_hint(&self) -> Option<u64> {
        Some(
            self.template.jobs as u64
                * self.template.groups.max(1) as u64
                * self.template.count as u64,
        )
    }
    fn describe(&self) -> String {
        self.arrival.describe()
    }
}

/// Replays a recorded trace: each job at its recorded submit time, with its recorded shape and outcomes.
pub struct TraceSource {
    trace: std::sync::Arc<crate::trace::Trace>,
    next: usize,
    label: String,
}

impl TraceSource {
    /// A source over `trace`; `label` names it in the run record (e.g. the file name).
    pub fn new(trace: std::sync::Arc<crate::trace::Trace>, label: &str) -> Self {
        TraceSource {
            trace,
            next: 0,
            label: label.to_string(),
        }
    }
}

impl JobSource for TraceSource {
    fn pacing(&self) -> Pacing {
        Pacing::Timed
    }
    fn next_job(&mut self) -> Option<Submission> {
        let j = self.trace.jobs.get(self.next)?;
        self.next += 1;
        Some(Submission {
            at: j.submit_ns,
            spec: j.to_job_spec(),
        })
    }
    fn len_hint(&self) -> Option<u64> {
        Some(self.trace.jobs.len() as u64)
    }
    fn last_submit_hint(&self) -> Option<SimTime> {
        self.trace.jobs.iter().map(|j| j.submit_ns).max()
    }
    fn allocs_hint(&self) -> Option<u64> {
        Some(
            self.trace
                .jobs
                .iter()
                .flat_map(|j| &j.groups)
                .map(|g| g.count as u64)
                .sum(),
        )
    }
    fn describe(&self) -> String {
        format!("trace {} ({} jobs)", self.label, self.trace.jobs.len())
    }
}
