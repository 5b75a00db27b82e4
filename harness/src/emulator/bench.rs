//! The emulator's throughput benchmark: start it on a scenario at speed 1, flood it over loopback with
//! registrations of count-`N` service jobs from concurrent submitters, and measure the placements per
//! second committed during a wall-clock window, from the ground truth (`/v1/stampede/ground-truth`).
//!
//! Entry point for a `stampede bench emulator` variant: [`run`] (sync) or [`measure`] (async).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use serde_json::{json, Value};
use stampede_sim::scenario::Scenario;

use super::{start, EmulatorConfig};

/// Benchmark settings.
#[derive(Debug, Clone)]
pub struct BenchConfig {
    /// Measurement window (wall clock).
    pub window: Duration,
    /// Allocations per job.
    pub count: u32,
    /// Concurrent submitters.
    pub submitters: usize,
    /// Jobs to register at most.
    pub max_jobs: u64,
    /// Simulated seconds per wall second.
    pub speed: f64,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig {
            window: Duration::from_secs(20),
            count: 1000,
            submitters: 16,
            max_jobs: 400,
            speed: 1.0,
        }
    }
}

/// Benchmark result.
#[derive(Debug, Clone, serde::Serialize)]
pub struct BenchReport {
    /// Scenario name.
    pub scenario: String,
    /// Client nodes in the fleet.
    pub nodes: usize,
    /// Measurement window, s.
    pub window_s: f64,
    /// Jobs registered (responses received) during the window.
    pub jobs_registered: u64,
    /// Placements committed (`CreateTime` within the window, in emulated time), from the ground truth.
    pub placements: u64,
    /// Placements per wall second.
    pub placements_per_s: f64,
    /// Simulated time that passed during the window divided by `window × speed` (1.0 = kept up), ratio.
    pub realtime_ratio: f64,
}

/// A job registration body for the benchmark.
pub fn bench_job(id: &str, count: u32) -> Value {
    json!({"Job": {"ID": id, "Name": id, "Type": "service", "Datacenters": ["*"],
        "TaskGroups": [{"Name": "g", "Count": count, "Tasks": [{"Name": "t", "Driver": "docker",
            "Config": {"image": "alpine:3.12", "command": "sleep", "args": ["360000"]},
            "Resources": {"CPU": 50, "MemoryMB": 30}}]}]}})
}

/// Runs the benchmark on a scenario (async).
pub async fn measure(scenario: Scenario, bc: BenchConfig) -> anyhow::Result<BenchReport> {
    let nodes: usize = scenario.pools.iter().map(|p| p.count as usize).sum();
    let name = scenario.name.clone();
    let mut cfg = EmulatorConfig::new(scenario);
    cfg.listen = "127.0.0.1:0".parse()?;
    cfg.speed = bc.speed;
    cfg.faults.max_conns_per_client = 0;
    let h = start(cfg).await?;
    let base = format!("{}/v1", h.url());
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(bc.submitters)
        .build()?;
    let sim_now = |h: &super::EmulatorHandle| h.shared.status.read().map(|s| s.now).unwrap_or(0);
    let t0 = Instant::now();
    // The window in emulated time: Nomad's Unix times run `speed` times faster than the wall clock.
    let sim0 = sim_now(&h);
    let deadline = t0 + bc.window;
    let next = Arc::new(AtomicU64::new(0));
    let done = Arc::new(AtomicU64::new(0));
    let mut tasks = Vec::new();
    for _ in 0..bc.submitters {
        let (client, base, next, done) = (client.clone(), base.clone(), next.clone(), done.clone());
        let (count, max_jobs) = (bc.count, bc.max_jobs);
        tasks.push(tokio::spawn(async move {
            loop {
                let i = next.fetch_add(1, Ordering::SeqCst);
                if i >= max_jobs || Instant::now() >= deadline {
                    return Ok::<(), anyhow::Error>(());
                }
                let id = format!("bench-{i:06}");
                let url = format!("{base}/jobs");
                let r = client
                    .post(&url)
                    .json(&bench_job(&id, count))
                    .send()
                    .await
                    .with_context(|| format!("POST {url}"))?;
                anyhow::ensure!(
                    r.status().is_success(),
                    "POST {url}: {} {}",
                    r.status(),
                    r.text().await.unwrap_or_default()
                );
                if Instant::now() < deadline {
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        }));
    }
    for t in tasks {
        t.await.context("submitter task")??;
    }
    tokio::time::sleep_until(deadline.into()).await;
    let wall = t0.elapsed();
    let sim1 = sim_now(&h);
    let (from, to) = (h.base_unix_ns + sim0, h.base_unix_ns + sim1);
    let url = format!("{base}/stampede/ground-truth");
    let rows: Vec<Value> = client
        .get(&url)
        .send()
        .await
        .with_context(|| format!("GET {url}"))?
        .json()
        .await
        .with_context(|| format!("GET {url}: decoding"))?;
    let placements = rows
        .iter()
        .filter_map(|r| r.get("placed_ns").and_then(Value::as_u64))
        .filter(|&t| t >= from && t <= to)
        .count() as u64;
    let failure = h.failure();
    h.shutdown().await;
    if let Some(f) = failure {
        anyhow::bail!("the simulator core failed during the benchmark: {f}");
    }
    let window_s = wall.as_secs_f64();
    Ok(BenchReport {
        scenario: name,
        nodes,
        window_s,
        jobs_registered: done.load(Ordering::SeqCst),
        placements,
        placements_per_s: placements as f64 / window_s,
        realtime_ratio: (sim1 - sim0) as f64 / 1e9 / (window_s * bc.speed),
    })
}

/// Runs the benchmark on a scenario file (builds its own runtime).
pub fn run(scenario_path: &std::path::Path, bc: BenchConfig) -> anyhow::Result<BenchReport> {
    let sc = crate::files::load_scenario(scenario_path, 1.0)?;
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    rt.block_on(measure(sc, bc))
}
