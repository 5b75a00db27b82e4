//! Job submission: open-loop pacing (intended vs actual send time of every request) or closed-loop
//! workers, with retries of retryable errors (429, 5xx, connection) and exponential backoff.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use rand::{Rng, SeedableRng};
use serde_json::Value;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::plan::{Pacing, WorkloadPlan};
use super::timeline::Timeline;
use crate::jobspec::{desired_allocs, with_id};
use crate::nomad::{NomadClient, NomadError};

/// What submission did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SubmitStats {
    /// Jobs registered or dispatched.
    pub submitted: u64,
    /// Jobs that failed for good.
    pub failed: u64,
    /// Retried attempts (each retry counts once).
    pub retries: u64,
    /// Final errors by message (first 200 chars), for the run notes.
    pub errors: BTreeMap<String, u64>,
    /// Largest lag of an actual send behind its intended time, ns (open loop).
    pub max_send_lag_ns: u64,
    /// Requests abandoned in flight when the run was stopped (the server may or may not have the job).
    pub abandoned: u64,
}

/// The job ID of copy `i`.
pub fn job_id(prefix: &str, i: u32) -> String {
    format!("{prefix}{i:06}")
}

async fn with_retries<T, F, Fut>(
    max_attempts: u32,
    stop: &CancellationToken,
    retries: &mut u64,
    mut f: F,
) -> Result<T, NomadError>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, NomadError>>,
{
    let mut delay = Duration::from_millis(50);
    let mut attempt = 1;
    loop {
        match f().await {
            Ok(v) => return Ok(v),
            Err(e) if e.is_retryable() && attempt < max_attempts && !stop.is_cancelled() => {
                *retries += 1;
                attempt += 1;
                tokio::time::sleep(delay).await;
                delay = (delay * 2).min(Duration::from_secs(5));
            }
            Err(e) => return Err(e),
        }
    }
}

struct Shared {
    client: NomadClient,
    timeline: Arc<Mutex<Timeline>>,
    stats: Mutex<SubmitStats>,
    t0: Instant,
    prefix: String,
    job: Value,
    desired: u32,
    dispatch_parent: Option<String>,
    max_attempts: u32,
    stop: CancellationToken,
}

impl Shared {
    async fn submit_one(&self, i: u32, intended: Instant) {
        let sent = Instant::now();
        let mut retries = 0;
        let request = async {
            match &self.dispatch_parent {
                Some(parent) => {
                    let mut meta = serde_json::Map::new();
                    meta.insert("shard".into(), Value::String(i.to_string()));
                    with_retries(self.max_attempts, &self.stop, &mut retries, || {
                        self.client.dispatch_job(parent, &meta)
                    })
                    .await
                    .map(|r| r.dispatched_job_id)
                }
                None => {
                    let id = job_id(&self.prefix, i);
                    let job = with_id(&self.job, &id);
                    with_retries(self.max_attempts, &self.stop, &mut retries, || {
                        self.client.register_job(&job)
                    })
                    .await
                    .map(|_| id)
                }
            }
        };
        // A stopped run (signal, --timeout) does not wait for a slow server to answer.
        let res = tokio::select! {
            r = request => r,
            _ = self.stop.cancelled() => {
                self.stats.lock().unwrap_or_else(|p| p.into_inner()).abandoned += 1;
                return;
            }
        };
        let submit_ns = intended.saturating_duration_since(self.t0).as_nanos() as u64;
        let sent_ns = sent.saturating_duration_since(self.t0).as_nanos() as u64;
        let mut st = self.stats.lock().unwrap_or_else(|p| p.into_inner());
        st.retries += retries;
        st.max_send_lag_ns = st.max_send_lag_ns.max(sent_ns.saturating_sub(submit_ns));
        match res {
            Ok(id) => {
                st.submitted += 1;
                drop(st);
                self.timeline
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record_submit(&id, submit_ns, sent_ns.max(submit_ns), self.desired);
            }
            Err(e) => {
                st.failed += 1;
                let msg: String = e.to_string().chars().take(200).collect();
                *st.errors.entry(msg).or_insert(0) += 1;
                drop(st);
                self.timeline
                    .lock()
                    .unwrap_or_else(|p| p.into_inner())
                    .record_submit_failure();
            }
        }
    }
}

/// Submits the workload; returns when every job was tried or `stop` was cancelled.
#[allow(clippy::too_many_arguments)]
pub async fn submit_all(
    client: NomadClient,
    workload: &WorkloadPlan,
    pacing: &Pacing,
    prefix: &str,
    seed: u64,
    max_attempts: u32,
    t0: Instant,
    timeline: Arc<Mutex<Timeline>>,
    stop: CancellationToken,
    shard: Option<crate::distrib::Shard>,
) -> anyhow::Result<SubmitStats> {
    let mut dispatch_parent = None;
    if workload.dispatch {
        let parent = format!("{prefix}parent");
        let mut job = with_id(&workload.job, &parent);
        if job.get("ParameterizedJob").is_none_or(Value::is_null) {
            job["ParameterizedJob"] =
                serde_json::json!({"Payload": "optional", "MetaOptional": ["shard"]});
        }
        let mut r = 0;
        with_retries(max_attempts.max(3), &stop, &mut r, || {
            client.register_job(&job)
        })
        .await
        .map_err(|e| anyhow::anyhow!("registering the parameterized parent job `{parent}`: {e}"))?;
        dispatch_parent = Some(parent);
    }
    let shared = Arc::new(Shared {
        client,
        timeline,
        stats: Mutex::new(SubmitStats::default()),
        t0,
        prefix: prefix.to_string(),
        desired: desired_allocs(&workload.job),
        job: workload.job.clone(),
        dispatch_parent,
        max_attempts: max_attempts.max(1),
        stop: stop.clone(),
    });
    let n = workload.jobs;
    // With `--shard I/N` this generator sends only its jobs (global numbers, global schedule).
    let owned = shard.map_or(n, |s| s.owned_count(n as u64) as u32);
    let nth = move |k: u32| shard.map_or(k, |s| s.nth_owned(k as u64) as u32);
    match pacing {
        Pacing::Closed { workers } => {
            let next = Arc::new(AtomicU32::new(0));
            let mut tasks = Vec::new();
            let workers = shard.map_or(*workers, |s| s.workers(*workers));
            for _ in 0..workers.clamp(1, 1024) {
                let (sh, next, stop) = (shared.clone(), next.clone(), stop.clone());
                tasks.push(tokio::spawn(async move {
                    while !stop.is_cancelled() {
                        let k = next.fetch_add(1, Ordering::Relaxed);
                        if k >= owned {
                            break;
                        }
                        sh.submit_one(nth(k), Instant::now()).await;
                    }
                }));
            }
            for t in tasks {
                t.await?;
            }
        }
        Pacing::Open {
            rate_per_s,
            burst,
            jitter,
            max_in_flight,
        } => {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let sem = Arc::new(tokio::sync::Semaphore::new((*max_in_flight).max(1) as usize));
            let burst = (*burst).max(1);
            let mut tasks = tokio::task::JoinSet::new();
            for i in 0..n {
                // Integer ns, rounded: the schedule is exact and reproducible (tick k at round(k·burst·1e9/rate)).
                let tick_ns = ((i / burst) as f64 * burst as f64 * 1e9 / rate_per_s.max(1e-9))
                    .round()
                    .min(u64::MAX as f64 / 2.0) as u64;
                let j = if jitter.is_zero() {
                    0
                } else {
                    rng.random_range(0..jitter.as_nanos() as u64)
                };
                if shard.is_some_and(|s| !s.owns_index(i as u64)) {
                    continue; // another generator's job (its jitter was drawn all the same)
                }
                let intended = t0 + Duration::from_nanos(tick_ns.saturating_add(j));
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = tokio::time::sleep_until(intended) => {}
                }
                let permit = tokio::select! {
                    _ = stop.cancelled() => break,
                    p = sem.clone().acquire_owned() => p?,
                };
                let sh = shared.clone();
                tasks.spawn(async move {
                    sh.submit_one(i, intended).await;
                    drop(permit);
                });
                while tasks.try_join_next().is_some() {}
            }
            while let Some(r) = tasks.join_next().await {
                r?;
            }
        }
    }
    let st = shared
        .stats
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    Ok(st)
}
