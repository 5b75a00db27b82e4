//! `stampede run --shard I/N --start-at TIME`: one of N load generators.
//!
//! **The split.** A run's jobs are numbered `0..jobs` and keep their global IDs (`<prefix><i:06>`) and their
//! global schedule whichever generator sends them. Generator `I` of `N` owns job `i` iff `i mod N == I`:
//! every job has exactly one owner (no job sent twice, none missed), and each generator gets every N-th job,
//! so an open-loop schedule is shared evenly over its whole length (a contiguous split would make one
//! generator send the first half of the run alone). Open loop: job `i` is due at `start + tick(i)` as in a
//! one-generator run (the jitter stream is drawn for every `i`, so job `i` gets the same jitter). Closed
//! loop: the concurrency is split, generator `I` gets `workers / N` workers (one more if `I < workers mod
//! N`), so the N generators together keep `workers` requests in flight.
//!
//! **The start.** Every generator sleeps until `--start-at` on its own wall clock, then takes t = 0; the
//! wake-up lag (its wall clock at t = 0 minus `--start-at`) is measured and written to `shard.json`.
//!
//! **The observer.** Each generator observes only the allocations of its own jobs (the job index in the
//! ID), drains and cleans up only those, so N records together hold every allocation once;
//! [`super::merge`] builds the one record.

use std::path::Path;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};

/// Largest number of generators of one run.
pub const MAX_SHARDS: u32 = 10_000;
/// Furthest `--start-at` may lie in the future.
pub const MAX_START_AHEAD: Duration = Duration::from_secs(24 * 3600);
/// File a sharded run writes beside its record.
pub const SHARD_JSON: &str = "shard.json";

/// Generator `index` of `count` (0-based).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    /// This generator, `0..count`.
    pub index: u32,
    /// Generators in all.
    pub count: u32,
}

impl Shard {
    /// Parses `I/N` (0 ≤ I < N ≤ [`MAX_SHARDS`]).
    pub fn parse(s: &str) -> Result<Shard> {
        let (i, n) = s
            .split_once('/')
            .with_context(|| format!("--shard `{s}`: expected I/N, e.g. 0/2 (0-based)"))?;
        let index: u32 = i
            .trim()
            .parse()
            .with_context(|| format!("--shard `{s}`: `{i}` is not a non-negative integer"))?;
        let count: u32 = n
            .trim()
            .parse()
            .with_context(|| format!("--shard `{s}`: `{n}` is not a positive integer"))?;
        if count == 0 || count > MAX_SHARDS {
            bail!("--shard `{s}`: N must be within 1..={MAX_SHARDS}");
        }
        if index >= count {
            bail!(
                "--shard `{s}`: I is 0-based and must be below N (0..={})",
                count - 1
            );
        }
        Ok(Shard { index, count })
    }

    /// Whether job number `i` is this generator's.
    pub fn owns_index(&self, i: u64) -> bool {
        i % self.count as u64 == self.index as u64
    }

    /// Whether the job `job_id` (`<prefix><digits>`) is this generator's. IDs without the prefix or whose
    /// rest is not a job number (e.g. another run's) are not.
    pub fn owns_job_id(&self, prefix: &str, job_id: &str) -> bool {
        job_id
            .strip_prefix(prefix)
            .filter(|rest| !rest.is_empty() && rest.bytes().all(|b| b.is_ascii_digit()))
            .and_then(|rest| rest.parse::<u64>().ok())
            .is_some_and(|i| self.owns_index(i))
    }

    /// Jobs of `0..jobs` this generator owns.
    pub fn owned_count(&self, jobs: u64) -> u64 {
        let (n, i) = (self.count as u64, self.index as u64);
        jobs / n + u64::from(i < jobs % n)
    }

    /// The `k`-th job number this generator owns.
    pub fn nth_owned(&self, k: u64) -> u64 {
        self.index as u64 + k * self.count as u64
    }

    /// This generator's share of `workers` closed-loop submitters (at least 1).
    pub fn workers(&self, workers: u32) -> u32 {
        (workers / self.count + u32::from(self.index < workers % self.count)).max(1)
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// Parses `--start-at`: RFC 3339 (`2026-11-29T05:00:00Z`) or Unix seconds (`1796274000`, `1796274000.5`).
/// Returns Unix ns.
pub fn parse_start_at(s: &str) -> Result<i64> {
    let t = s.trim();
    if let Ok(d) = chrono::DateTime::parse_from_rfc3339(t) {
        return d
            .timestamp_nanos_opt()
            .with_context(|| format!("--start-at `{s}`: out of range"));
    }
    let secs: f64 = t.parse().map_err(|_| {
        anyhow::anyhow!(
            "--start-at `{s}`: expected RFC 3339 (e.g. 2026-11-29T05:00:00Z) or Unix seconds"
        )
    })?;
    if !(secs.is_finite() && secs > 0.0 && secs < 1e11) {
        bail!("--start-at `{s}`: Unix seconds out of range");
    }
    Ok((secs * 1e9).round() as i64)
}

/// The wall clock, Unix ns.
pub fn unix_ns_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_nanos() as i64)
        .unwrap_or(0)
}

/// How long until `start_at` (Unix ns) on this machine's wall clock; errors when it is more than
/// [`MAX_START_AHEAD`] away, and when it passed more than `late_ok` ago (a generator that starts late
/// would shift its share of the schedule).
pub fn wait_for(start_at: i64, late_ok: Duration) -> Result<Duration> {
    let now = unix_ns_now();
    let ahead = start_at - now;
    if ahead > MAX_START_AHEAD.as_nanos() as i64 {
        bail!(
            "--start-at is {:.0} s ahead, beyond the bound of {} s",
            ahead as f64 / 1e9,
            MAX_START_AHEAD.as_secs()
        );
    }
    if ahead < -(late_ok.as_nanos() as i64) {
        bail!(
            "--start-at passed {:.3} s ago on this machine's clock: every generator must start together; pick a time far enough ahead for all of them to be ready",
            -ahead as f64 / 1e9
        );
    }
    Ok(Duration::from_nanos(ahead.max(0) as u64))
}

/// Sleeps until `start_at` (Unix ns) on the wall clock: coarse sleep, then a short spin of the last
/// millisecond, so the wake-up lag stays well under a millisecond on an idle machine.
pub async fn sleep_until_unix(start_at: i64) {
    loop {
        let left = start_at - unix_ns_now();
        if left <= 0 {
            return;
        }
        if left > 2_000_000 {
            tokio::time::sleep(Duration::from_nanos((left - 1_000_000) as u64)).await;
        } else {
            tokio::task::yield_now().await;
        }
    }
}

/// `shard.json`: what a sharded run wrote beside its record, read by `stampede merge`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ShardInfo {
    /// Which generator.
    pub shard: Shard,
    /// Jobs of the whole run (all generators).
    pub jobs_total: u64,
    /// Jobs this generator owned.
    pub jobs_owned: u64,
    /// Job-ID prefix shared by every generator.
    pub prefix: String,
    /// Seed of the jitter stream (the same for every generator); `None` without jitter, where the seed
    /// plays no part.
    pub seed: Option<u64>,
    /// SHA-256 of the job JSON every generator submits copies of (equal across generators).
    pub workload_sha256: String,
    /// Pacing as described in `run.json`.
    pub pacing: String,
    /// `--start-at`, Unix ns (`None`: started when ready).
    pub start_at_unix_ns: Option<i64>,
    /// This generator's wall clock at t = 0, Unix ns (= `run.json`'s `start_unix_ns`).
    pub start_unix_ns: i64,
    /// Wake-up lag: `start_unix_ns − start_at_unix_ns`, ns.
    pub start_lag_ns: Option<i64>,
    /// Clock offset against the servers, measured before the start.
    pub clock: Option<super::clock::ClockOffset>,
    /// Host name of the generator (for the merged record's notes).
    pub host: String,
}

/// SHA-256 hex of a byte string.
pub fn sha256_hex(b: &[u8]) -> String {
    use sha2::Digest;
    let d = sha2::Sha256::digest(b);
    d.iter().map(|b| format!("{b:02x}")).collect()
}

/// Writes `shard.json` into a record directory (atomically).
pub fn write_shard_info(dir: &Path, info: &ShardInfo) -> Result<()> {
    let text = serde_json::to_string_pretty(info)? + "\n";
    crate::files::write_atomic(&dir.join(SHARD_JSON), text.as_bytes())
}

/// Reads `shard.json` from a record directory.
pub fn read_shard_info(dir: &Path) -> Result<ShardInfo> {
    let p = dir.join(SHARD_JSON);
    let text = std::fs::read_to_string(&p).with_context(|| {
        format!(
            "reading {} (was {} written by `stampede run --shard`?)",
            p.display(),
            dir.display()
        )
    })?;
    serde_json::from_str(&text).with_context(|| format!("parsing {}", p.display()))
}

/// The machine's host name (`/etc/hostname`, `HOSTNAME`), or `unknown`.
pub fn host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .or_else(|| std::env::var("HOSTNAME").ok())
        .unwrap_or_else(|| "unknown".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_job_has_exactly_one_owner() {
        for n in 1..=7u32 {
            for jobs in [0u64, 1, 5, 13, 100] {
                let shards: Vec<Shard> = (0..n).map(|i| Shard { index: i, count: n }).collect();
                let total: u64 = shards.iter().map(|s| s.owned_count(jobs)).sum();
                assert_eq!(total, jobs);
                for i in 0..jobs {
                    let owners = shards.iter().filter(|s| s.owns_index(i)).count();
                    assert_eq!(owners, 1, "job {i} of {jobs}, {n} shards");
                    let id = format!("p-{i:06}");
                    assert_eq!(
                        shards.iter().filter(|s| s.owns_job_id("p-", &id)).count(),
                        1
                    );
                }
                for s in &shards {
                    for k in 0..s.owned_count(jobs) {
                        assert!(s.owns_index(s.nth_owned(k)) && s.nth_owned(k) < jobs);
                    }
                }
            }
            let w: u32 = (0..n)
                .map(|i| Shard { index: i, count: n }.workers(20))
                .sum();
            assert_eq!(w, 20u32.max(n));
        }
        let s = Shard { index: 1, count: 2 };
        assert!(!s.owns_job_id("p-", "p-parent"));
        assert!(!s.owns_job_id("p-", "q-000001"));
        assert!(s.owns_job_id("p-", "p-000001"));
    }

    #[test]
    fn parses_and_refuses() {
        assert_eq!(Shard::parse("1/3").unwrap(), Shard { index: 1, count: 3 });
        for bad in ["3/3", "1", "a/2", "0/0", "-1/2", "0/20000"] {
            assert!(Shard::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            parse_start_at("2026-11-29T05:00:00Z").unwrap(),
            1_795_928_400 * 1_000_000_000
        );
        assert_eq!(
            parse_start_at("1795928400.5").unwrap(),
            1_795_928_400_500_000_000
        );
        assert!(parse_start_at("tomorrow").is_err());
        assert!(parse_start_at("-5").is_err());
    }
}

/// What a sharded run keeps between its start and its `shard.json` ([`prepare`], [`ShardRun::write`]).
#[derive(Debug, Clone)]
pub struct ShardRun {
    shard: Shard,
    jobs_total: u64,
    jobs_owned: u64,
    prefix: String,
    seed: Option<u64>,
    workload_sha256: String,
    pacing: String,
    start_at: Option<i64>,
    clock: Option<super::clock::ClockOffset>,
}

/// How late (past `--start-at`) a generator may still start.
pub const LATE_OK: Duration = Duration::from_millis(250);

/// Checks a sharded plan, measures the clock offset against the servers and lengthens the plan's
/// `--timeout` by the wait for `--start-at` (the bound counts from the start). `prefix_given`: whether
/// `--prefix` or `--run-id` was given (every generator must use the same job IDs); `seed_given`: whether
/// `--seed` was. Returns `None` for a run without `--shard` (only `--start-at` then waits).
pub async fn prepare(
    plan: &mut crate::load::RunPlan,
    prefix_given: bool,
    seed_given: bool,
) -> Result<Option<ShardRun>> {
    let Some(shard) = plan.shard else {
        if let Some(at) = plan.start_at_unix_ns {
            plan.timeout += wait_for(at, LATE_OK)?;
        }
        return Ok(None);
    };
    if plan.conn.address.is_none() {
        bail!("--shard needs --addr (or NOMAD_ADDR): the generators of one run share one cluster, not each its own embedded emulator");
    }
    if !prefix_given {
        bail!("--shard needs --run-id or --prefix, the same on every generator: the job IDs are `<prefix><job number>` across all of them");
    }
    if plan.workload.dispatch {
        bail!("--shard with --dispatch is not supported: dispatched job IDs are chosen by Nomad, so a generator cannot tell its jobs from the others' by ID; register copies (the default) instead");
    }
    if plan.algorithm.is_some() {
        bail!("--shard with --algorithm: N generators would each set and restore the scheduler algorithm and race; set it once before the generators start (PUT /v1/operator/scheduler/configuration)");
    }
    if let crate::load::Pacing::Open { jitter, .. } = &plan.pacing {
        if !jitter.is_zero() && !seed_given {
            bail!("--shard with jitter needs --seed, the same on every generator (job i's jitter comes from the seeded stream)");
        }
    }
    let client = crate::nomad::NomadClient::new(&plan.conn)?;
    let clock = super::clock::measure(&client).await?;
    if let Some(at) = plan.start_at_unix_ns {
        plan.timeout += wait_for(at, LATE_OK)?;
    }
    let n = plan.workload.jobs as u64;
    let jitter =
        matches!(&plan.pacing, crate::load::Pacing::Open { jitter, .. } if !jitter.is_zero());
    Ok(Some(ShardRun {
        shard,
        jobs_total: n,
        jobs_owned: shard.owned_count(n),
        prefix: plan.prefix.clone(),
        seed: jitter.then_some(plan.seed),
        workload_sha256: sha256_hex(&serde_json::to_vec(&plan.workload.job)?),
        pacing: plan.pacing.describe(),
        start_at: plan.start_at_unix_ns,
        clock: Some(clock),
    }))
}

impl ShardRun {
    /// The measured clock offset.
    pub fn clock(&self) -> Option<&super::clock::ClockOffset> {
        self.clock.as_ref()
    }

    /// Writes `shard.json` beside the record the run wrote (`start_unix_ns`: its `run.json` value).
    pub fn write(&self, dir: &Path, start_unix_ns: u64) -> Result<ShardInfo> {
        let info = ShardInfo {
            shard: self.shard,
            jobs_total: self.jobs_total,
            jobs_owned: self.jobs_owned,
            prefix: self.prefix.clone(),
            seed: self.seed,
            workload_sha256: self.workload_sha256.clone(),
            pacing: self.pacing.clone(),
            start_at_unix_ns: self.start_at,
            start_unix_ns: start_unix_ns as i64,
            start_lag_ns: self.start_at.map(|a| start_unix_ns as i64 - a),
            clock: self.clock.clone(),
            host: host_name(),
        };
        write_shard_info(dir, &info)?;
        Ok(info)
    }
}
