//! The typed plan of a `stampede run`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use serde_json::Value;

use crate::nomad::NomadConnArgs;

/// How jobs are paced.
#[derive(Debug, Clone, PartialEq)]
pub enum Pacing {
    /// Open loop: job `i` is due at `start + (i / burst) * burst / rate + jitter`; latency is measured
    /// from that intended time, so a slow server cannot slow the schedule (no coordinated omission).
    Open {
        /// Jobs per second.
        rate_per_s: f64,
        /// Jobs released together.
        burst: u32,
        /// Uniform jitter added to each intended time.
        jitter: Duration,
        /// Concurrent in-flight requests (kept below Nomad's 100 connections per IP).
        max_in_flight: u32,
    },
    /// Closed loop: `workers` submitters, each sending its next job when the previous returns.
    Closed {
        /// Concurrent submitters.
        workers: u32,
    },
}

impl Pacing {
    /// Description stored in the run record.
    pub fn describe(&self) -> String {
        match self {
            Pacing::Open {
                rate_per_s,
                burst,
                jitter,
                ..
            } => format!(
                "open-loop rate={rate_per_s}/s burst={burst} jitter={}ms",
                jitter.as_millis()
            ),
            Pacing::Closed { workers } => format!("closed-loop workers={workers}"),
        }
    }
}

/// What to submit.
#[derive(Debug, Clone)]
pub struct WorkloadPlan {
    /// The job JSON copied for every submission (its ID is replaced per copy).
    pub job: Value,
    /// Number of jobs.
    pub jobs: u32,
    /// Register the job once as a parameterized parent and dispatch it `jobs` times.
    pub dispatch: bool,
    /// Jobs registered once before the flood and deregistered by `--cleanup`: a scenario's system,
    /// sysbatch and periodic jobs (IDs `stampede-standing-<name>`; see [`super::build`]).
    pub standing: Vec<Value>,
}

/// Everything `run_load` needs; no IO has happened yet when it is built.
#[derive(Debug, Clone)]
pub struct RunPlan {
    /// How to reach Nomad (address `None` → the embedded target, if one is installed).
    pub conn: NomadConnArgs,
    /// Run identifier.
    pub run_id: String,
    /// Job-ID prefix; only jobs with this prefix are observed and cleaned up.
    pub prefix: String,
    /// Output directory.
    pub out_dir: PathBuf,
    /// Seed of the jitter RNG.
    pub seed: u64,
    /// What to submit.
    pub workload: WorkloadPlan,
    /// How to pace it.
    pub pacing: Pacing,
    /// Set the cluster's scheduler algorithm for the run (restored afterwards).
    pub algorithm: Option<String>,
    /// Deregister and purge the run's jobs at the end.
    pub cleanup: bool,
    /// Bound on the whole run.
    pub timeout: Duration,
    /// Bound on waiting for placements/starts after the last submission.
    pub drain_timeout: Duration,
    /// What the drain waits for: every allocation placed, running, or finished (`--wait`).
    pub wait: super::timeline::WaitFor,
    /// Attempts per register call (1 = no retry) for retryable errors.
    pub max_attempts: u32,
    /// Scrape `/v1/metrics` every second.
    pub scrape_metrics: bool,
    /// Scrape every server in `/v1/status/peers` (each gets the ACL token), not only the given address.
    pub peer_scrape: bool,
    /// Show a progress bar (only on a TTY).
    pub progress: bool,
    /// Scenario metadata for `run.json`.
    pub scenario: stampede_sim::record::ScenarioInfo,
    /// SLOs stated by the scenario.
    pub slo: BTreeMap<String, f64>,
    /// Page size of the reconciling poll.
    pub per_page: u32,
    /// Say on stderr what the run is waiting for (drain, reconcile, outcome). Off for `--quiet`/`--json`.
    pub announce: bool,
    /// Cancelled to interrupt the run (the CLI cancels it on SIGINT, SIGTERM and SIGHUP): submission stops,
    /// the scheduler configuration is restored and the record is written with outcome `interrupted`.
    pub stop: tokio_util::sync::CancellationToken,
    /// `--shard I/N`: submit, observe and clean up only this generator's share of the jobs
    /// ([`crate::distrib::shard`]); `None`: all of them.
    pub shard: Option<crate::distrib::Shard>,
    /// `--start-at`: take t = 0 at this wall-clock instant (Unix ns), after connecting.
    pub start_at_unix_ns: Option<i64>,
}

impl RunPlan {
    /// Jobs this generator submits (its share with `--shard`).
    pub fn jobs_to_submit(&self) -> u64 {
        let n = self.workload.jobs as u64;
        self.shard.map_or(n, |s| s.owned_count(n))
    }

    /// Whether the job `id` is this generator's to observe and clean up.
    pub fn owns_job(&self, id: &str) -> bool {
        id.starts_with(&self.prefix) && self.shard.is_none_or(|s| s.owns_job_id(&self.prefix, id))
    }
}
