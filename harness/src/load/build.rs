//! The workload of a run from a typed [`WorkloadRequest`]: read the scenario or jobspec (or shape an
//! ad-hoc job), convert it to job JSON (locally, or through the server's `/v1/jobs/parse`), and describe
//! the run for `run.json`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use stampede_sim::record::ScenarioInfo;
use stampede_sim::scenario::{Arrival, JobTemplate, JobType, RunDuration, WorkloadSource};

use super::{Pacing, WorkloadPlan};
use crate::files;
use crate::jobspec;
use crate::nomad::{NomadClient, NomadConnArgs};

/// Where the jobs of a run come from.
#[derive(Debug, Clone)]
pub enum WorkloadSpec {
    /// A scenario's `[workload]` section (its arrival overrides the request's pacing).
    Scenario(PathBuf),
    /// Copies of an HCL2 jobspec.
    Jobspec {
        /// The jobspec file.
        path: PathBuf,
        /// Jobspec variables.
        vars: BTreeMap<String, String>,
        /// Convert through the server's `/v1/jobs/parse` (default: when the target is a real Nomad).
        parse_remote: Option<bool>,
    },
    /// An ad-hoc job shaped by flags.
    Adhoc {
        /// Task groups per job.
        groups: u32,
        /// Count per task group.
        count: u32,
        /// Job type.
        job_type: JobType,
        /// CPU per allocation, MHz.
        cpu_mhz: u32,
        /// Memory per allocation, MB.
        memory_mb: u32,
        /// Task run time (batch).
        duration: Duration,
        /// Job priority.
        priority: u32,
        /// Add a job-level spread block.
        spread_block: bool,
    },
}

/// What to submit and how, as asked for; [`build_workload`] reads it into a [`BuiltWorkload`].
#[derive(Debug, Clone)]
pub struct WorkloadRequest {
    /// Where the jobs come from.
    pub spec: WorkloadSpec,
    /// Number of jobs (default [`DEFAULT_JOBS`]; a scenario's `jobs` when it is the source).
    pub jobs: Option<u32>,
    /// Whether the pacing was asked for explicitly (`--rate`/`--workers`): it then overrides a scenario's
    /// arrival.
    pub pacing_given: bool,
    /// Dispatch a parameterized job instead of registering copies.
    pub dispatch: bool,
    /// Task driver of generated jobs (see [`jobspec::with_driver`]).
    pub driver: String,
    /// Datacenters of generated jobs.
    pub datacenters: Vec<String>,
    /// Job-ID prefix of ad-hoc jobs.
    pub prefix: String,
    /// Scheduler algorithm for the run (for `run.json`).
    pub algorithm: Option<String>,
    /// Pacing (a scenario's arrival overrides it).
    pub pacing: Pacing,
}

/// ID prefix of a scenario's standing jobs on the cluster (`stampede-standing-<name>`): the same across runs,
/// so a second run updates them in place, as `nomad job run` would; never a user's own job ID.
pub const STANDING_PREFIX: &str = "stampede-standing-";

/// Jobs of a jobspec or ad-hoc run when `--jobs` is not given.
pub const DEFAULT_JOBS: u32 = 100;

/// The workload-dependent parts of a [`super::RunPlan`].
#[derive(Debug, Clone)]
pub struct BuiltWorkload {
    /// What to submit.
    pub workload: WorkloadPlan,
    /// How to pace it.
    pub pacing: Pacing,
    /// Scenario metadata for `run.json`.
    pub scenario: ScenarioInfo,
    /// SLOs stated by the scenario.
    pub slo: BTreeMap<String, f64>,
}

/// Reads the scenario or jobspec (may call `/v1/jobs/parse` on `conn`) into the job JSON, pacing and
/// description of a run.
pub async fn build_workload(a: &WorkloadRequest, conn: &NomadConnArgs) -> Result<BuiltWorkload> {
    let mut slo = BTreeMap::new();
    let mut standing = Vec::new();
    let mut pacing = a.pacing.clone();
    let jobs_flag = a.jobs.unwrap_or(DEFAULT_JOBS);
    let (job, jobs, info_name, path) = match &a.spec {
        WorkloadSpec::Scenario(p) => {
            let sc = files::read_scenario(p)?;
            slo = sc.slo.clone();
            for spec in &sc.standing_jobs {
                let id = format!("{STANDING_PREFIX}{}", spec.id);
                if id.starts_with(&a.prefix) {
                    bail!(
                        "{}: the job-ID prefix `{}` would also match the standing job `{id}` (its allocations would count as the flood's): choose another --prefix",
                        p.display(),
                        a.prefix
                    )
                }
                standing.push(jobspec::with_driver(
                    jobspec::job_from_spec(&id, spec, &a.datacenters),
                    &a.driver,
                ));
            }
            let WorkloadSource::Synthetic { template, arrival } = &sc.workload else {
                bail!(
                    "{}: trace workloads are replayed with `stampede trace`, not `run`",
                    p.display()
                )
            };
            pacing = match arrival {
                _ if a.pacing_given => pacing,
                Arrival::AllAtOnce => Pacing::Closed { workers: 64 },
                Arrival::ClosedLoop { workers } => Pacing::Closed { workers: *workers },
                Arrival::OpenLoop {
                    rate_per_s,
                    burst,
                    jitter_ns,
                } => Pacing::Open {
                    rate_per_s: *rate_per_s,
                    burst: *burst,
                    jitter: Duration::from_nanos(*jitter_ns),
                    max_in_flight: 64,
                },
            };
            (
                jobspec::with_driver(
                    jobspec::job_from_template("x", template, &a.datacenters),
                    &a.driver,
                ),
                a.jobs.unwrap_or(template.jobs),
                sc.name.clone(),
                Some(p.display().to_string()),
            )
        }
        WorkloadSpec::Jobspec {
            path: p,
            vars,
            parse_remote,
        } => {
            let text =
                std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            let remote = match parse_remote {
                Some(r) => *r,
                None => match NomadClient::new(conn) {
                    Ok(c) => c
                        .version()
                        .await
                        .map(|v| !v.contains("emulator"))
                        .unwrap_or(false),
                    Err(_) => false,
                },
            };
            let job = if remote {
                let c = NomadClient::new(conn)?;
                let hclvars: String = vars
                    .iter()
                    .map(|(k, v)| format!("{k} = \"{}\"\n", v.replace('"', "\\\"")))
                    .collect();
                c.parse_job(&text, &hclvars).await.with_context(|| {
                    format!("parsing {} with the server's /v1/jobs/parse", p.display())
                })?
            } else {
                jobspec::hcl_to_job(&p.display().to_string(), &text, vars)?
            };
            (
                job,
                jobs_flag,
                "jobspec".to_string(),
                Some(p.display().to_string()),
            )
        }
        WorkloadSpec::Adhoc {
            groups,
            count,
            job_type,
            cpu_mhz,
            memory_mb,
            duration,
            priority,
            spread_block,
        } => {
            let job_type = *job_type;
            let t = JobTemplate {
                jobs: jobs_flag,
                job_type,
                groups: (*groups).max(1),
                count: *count,
                cpu_mhz: *cpu_mhz,
                memory_mb: *memory_mb,
                priority: *priority,
                priorities: Vec::new(),
                spread_block: *spread_block,
                all_at_once: false,
                image: "alpine:3.12".into(),
                image_bytes: 0,
                duration: if job_type == JobType::Service {
                    RunDuration::Forever
                } else {
                    RunDuration::Fixed(duration.as_nanos() as u64)
                },
                fail_rate: 0.0,
                broken_rate: 0.0,
                restart: None,
                reschedule: None,
                max_run_ns: None,
                tasks: 1,
                id_prefix: a.prefix.clone(),
                placement: None,
                node_pool: None,
            };
            (
                jobspec::with_driver(
                    jobspec::job_from_template("x", &t, &a.datacenters),
                    &a.driver,
                ),
                jobs_flag,
                "adhoc".to_string(),
                None,
            )
        }
    };
    let max = stampede_sim::limits::MAX_JOBS;
    if jobs == 0 || u64::from(jobs) > max {
        bail!(
            "{jobs} jobs{}: must be between 1 and {max}",
            if a.jobs.is_some() { " (--jobs)" } else { "" }
        );
    }
    let parameterized = job.get("ParameterizedJob").is_some_and(|p| !p.is_null());
    if parameterized && !a.dispatch {
        bail!(
            "{}: the job is parameterized (it has a `parameterized` block), so registering copies would place nothing; pass --dispatch to dispatch it --jobs times",
            match &a.spec {
                WorkloadSpec::Jobspec { path, .. } => path.display().to_string(),
                _ => "the workload".to_string(),
            }
        );
    }
    let g = job["TaskGroups"].as_array().map_or(0, |g| g.len()) as u32;
    let first_task = &job["TaskGroups"][0]["Tasks"][0]["Resources"];
    let scenario = ScenarioInfo {
        name: info_name,
        path,
        scale: 1.0,
        algorithm: a
            .algorithm
            .clone()
            .unwrap_or_else(|| "cluster-default".into()),
        jobs: jobs as u64,
        job_type: job["Type"].as_str().unwrap_or("service").to_string(),
        groups_per_job: g,
        count_per_group: job["TaskGroups"][0]["Count"].as_u64().unwrap_or(1) as u32,
        cpu_mhz: first_task["CPU"].as_u64().unwrap_or(0) as u32,
        memory_mb: first_task["MemoryMB"].as_u64().unwrap_or(0) as u32,
        spread_block: job
            .get("Spreads")
            .is_some_and(|s| s.as_array().is_some_and(|a| !a.is_empty())),
        arrival: pacing.describe(),
        slo: slo.clone(),
    };
    Ok(BuiltWorkload {
        workload: WorkloadPlan {
            job,
            jobs,
            dispatch: a.dispatch,
            standing,
        },
        pacing,
        scenario,
        slo,
    })
}
