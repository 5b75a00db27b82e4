//! `stampede merge RUN_DIR… --out DIR`: the records of the N generators of one sharded run
//! (`stampede run --shard I/N`) as the one record a single generator would have written.
//!
//! **Checks.** Every record carries `shard.json`; together they must be generators `0..N` of one run, each
//! once (same N, prefix, seed, workload digest, job count, pacing, `--start-at`, source), and every
//! allocation row must belong to a job its generator owns. Anything else is an error naming the directory.
//!
//! **Time.** Each record counts time from its own t = 0, taken on its own wall clock (`start_unix_ns`).
//! Placement, start and finish times come from Nomad (server and client clocks) and are exact after
//! re-basing: `t' = t + start_k − base`. Submit and send times come from the generator's clock; when the
//! clock offset against the servers measured before the start ([`super::clock`]) is larger than its own
//! uncertainty, it is taken out first (`t' = t + start_k − offset_k − base`), so every latency is measured
//! on one clock; a smaller one is indistinguishable from zero and left alone (`--clock-correction always`
//! or `off` overrides). `base` is the earliest corrected start. The offsets, their uncertainties, the
//! wake-up lags and the corrections applied are stated in `run.json`'s notes and in `shards.json`.
//!
//! **Tables.** `allocs.csv`: every generator's rows, re-based, in placement order then unplaced rows by
//! job, as [`crate::load::timeline::Timeline::rows`] orders them. `metrics.csv`: per second and server,
//! the server's own figures from the lowest generator that scraped it that second; `placements` summed
//! over generators and `allocs_running` summed (a generator that already stopped counts with its last
//! value). `nodes.csv`: the union by node ID. `run.json`: counts summed, the summary recomputed from the
//! merged tables by the same [`Summary::compute`] as a one-generator run.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use stampede_sim::record::{
    self, AllocRow, MetricRow, NodeRow, Outcome, RunEvent, RunMeta, RunRecord, Summary,
};
use stampede_sim::summary::SummaryInputs;

use super::shard::{read_shard_info, ShardInfo};
use crate::files::record as record_io;

/// When to take a measured clock offset out of a generator's own times.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ClockCorrection {
    /// When the offset is larger than its measurement uncertainty.
    Auto,
    /// Always (when measured).
    Always,
    /// Never.
    Off,
}

/// What to merge.
#[derive(Debug, Clone)]
pub struct MergeRequest {
    /// The generators' record directories.
    pub dirs: Vec<PathBuf>,
    /// Run ID of the merged record (default: the generators' common run ID).
    pub run_id: Option<String>,
    /// Clock-offset policy.
    pub clock: ClockCorrection,
}

/// One generator as the merge treated it (`shards.json`).
#[derive(Debug, Clone, Serialize)]
pub struct MergedShard {
    /// Record directory.
    pub dir: String,
    /// `shard.json` of that record.
    pub info: ShardInfo,
    /// Correction taken out of its submit/send times, ns.
    pub correction_ns: i64,
    /// Its t = 0 on the merged time axis, ns.
    pub t0_in_merged_ns: i64,
    /// Allocation rows it contributed.
    pub alloc_rows: u64,
    /// Its outcome.
    pub outcome: Outcome,
}

fn worse(a: Outcome, b: Outcome) -> Outcome {
    let rank = |o: Outcome| match o {
        Outcome::Complete => 0,
        Outcome::Partial => 1,
        Outcome::TimedOut => 2,
        Outcome::Interrupted => 3,
    };
    if rank(b) > rank(a) {
        b
    } else {
        a
    }
}

fn shift(v: Option<u64>, by: i64) -> Option<u64> {
    v.map(|t| (t as i64 + by).max(0) as u64)
}

/// Merges the records (no files written): the record and the per-generator account.
pub fn merge(req: &MergeRequest) -> Result<(RunRecord, Vec<MergedShard>)> {
    if req.dirs.is_empty() {
        bail!("stampede merge: give the record directories of every generator");
    }
    let mut parts: Vec<(PathBuf, RunRecord, ShardInfo)> = Vec::new();
    for d in &req.dirs {
        let rec = record_io::read_record(d)?;
        let info = read_shard_info(d)?;
        parts.push((d.clone(), rec, info));
    }
    parts.sort_by_key(|p| p.2.shard.index);
    let (d0, r0, i0) = (&parts[0].0, &parts[0].1, &parts[0].2);
    let n = i0.shard.count;
    let mut seen: BTreeMap<u32, &Path> = BTreeMap::new();
    for (d, rec, info) in &parts {
        let ctx = || format!("{} against {}", d.display(), d0.display());
        let same = |what: &str, a: String, b: String| -> Result<()> {
            if a != b {
                bail!("{}: not the same run: {what} `{a}` vs `{b}`", ctx());
            }
            Ok(())
        };
        same("shard count", info.shard.count.to_string(), n.to_string())?;
        same("job prefix", info.prefix.clone(), i0.prefix.clone())?;
        same(
            "jitter seed",
            format!("{:?}", info.seed),
            format!("{:?}", i0.seed),
        )?;
        same(
            "workload digest",
            info.workload_sha256.clone(),
            i0.workload_sha256.clone(),
        )?;
        same(
            "jobs in the run",
            info.jobs_total.to_string(),
            i0.jobs_total.to_string(),
        )?;
        same("pacing", info.pacing.clone(), i0.pacing.clone())?;
        same(
            "--start-at",
            format!("{:?}", info.start_at_unix_ns),
            format!("{:?}", i0.start_at_unix_ns),
        )?;
        same(
            "source",
            rec.meta.source.as_str().into(),
            r0.meta.source.as_str().into(),
        )?;
        same(
            "Nomad version",
            rec.meta.nomad_version.clone(),
            r0.meta.nomad_version.clone(),
        )?;
        if rec.meta.start_unix_ns as i64 != info.start_unix_ns {
            bail!(
                "{}: run.json start_unix_ns {} differs from shard.json's {}",
                d.display(),
                rec.meta.start_unix_ns,
                info.start_unix_ns
            );
        }
        if let Some(other) = seen.insert(info.shard.index, d) {
            bail!(
                "shard {} appears twice: {} and {}",
                info.shard,
                other.display(),
                d.display()
            );
        }
        if let Some(row) = rec
            .allocs
            .iter()
            .find(|a| !info.shard.owns_job_id(&info.prefix, &a.job_id))
        {
            bail!(
                "{}: allocs.csv holds job `{}`, which shard {} does not own",
                d.display(),
                row.job_id,
                info.shard
            );
        }
    }
    let missing: Vec<String> = (0..n)
        .filter(|i| !seen.contains_key(i))
        .map(|i| format!("{i}/{n}"))
        .collect();
    if !missing.is_empty() {
        bail!(
            "the run had {n} generators; missing the record of shard {} (a merged record without them would not hold every job)",
            missing.join(", ")
        );
    }

    // Time axis.
    let correction = |info: &ShardInfo| -> i64 {
        match (req.clock, &info.clock) {
            (ClockCorrection::Off, _) | (_, None) => 0,
            (ClockCorrection::Always, Some(c)) => c.offset_ns,
            (ClockCorrection::Auto, Some(c)) => {
                if c.offset_ns.abs() > c.uncertainty_ns {
                    c.offset_ns
                } else {
                    0
                }
            }
        }
    };
    let base = parts
        .iter()
        .map(|(_, r, i)| r.meta.start_unix_ns as i64 - correction(i))
        .min()
        .unwrap_or(0);

    let mut allocs: Vec<AllocRow> = Vec::new();
    let mut shards_out = Vec::new();
    let mut notes = Vec::new();
    let mut outcome = Outcome::Complete;
    let mut end_ns = 0i64;
    let (mut submitted, mut failed, mut desired, mut blocked, mut evfailed) = (0, 0, 0, 0, 0);
    let mut events: Vec<RunEvent> = Vec::new();
    // (t_s, server) → row; per shard the last allocs_running seen.
    let mut metrics: BTreeMap<(u64, String), MetricRow> = BTreeMap::new();
    let mut running_by_shard: Vec<BTreeMap<u64, f64>> = Vec::new();
    let mut nodes: BTreeMap<String, NodeRow> = BTreeMap::new();
    for (d, rec, info) in &parts {
        let start = rec.meta.start_unix_ns as i64;
        let corr = correction(info);
        let local_shift = start - corr - base;
        let server_shift = start - base;
        for a in &rec.allocs {
            let mut a = a.clone();
            a.submit_ns = shift(a.submit_ns, local_shift);
            a.sent_ns = shift(a.sent_ns, local_shift);
            a.placed_ns = shift(a.placed_ns, server_shift);
            a.running_ns = shift(a.running_ns, server_shift);
            a.done_ns = shift(a.done_ns, server_shift);
            allocs.push(a);
        }
        let s = &rec.meta.summary;
        submitted += s.jobs_submitted;
        failed += s.jobs_failed_to_submit;
        desired += s.allocs_desired;
        blocked += s.evals_blocked;
        evfailed += s.evals_failed;
        outcome = worse(outcome, rec.meta.outcome);
        end_ns = end_ns.max(local_shift + (rec.meta.duration_s * 1e9) as i64);
        for e in &rec.meta.events {
            let mut e = e.clone();
            e.t_ns = (e.t_ns as i64 + local_shift).max(0) as u64;
            let dup = events.iter().any(|x| {
                x.kind == e.kind
                    && x.node_id == e.node_id
                    && x.detail == e.detail
                    && x.t_ns.abs_diff(e.t_ns) < 5_000_000_000
            });
            if !dup {
                events.push(e);
            }
        }
        let sec_shift = (local_shift as f64 / 1e9).round() as i64;
        let mut running = BTreeMap::new();
        for m in &rec.metrics {
            let t = (m.t_s as i64 + sec_shift).max(0) as u64;
            running.insert(t, m.allocs_running.unwrap_or(0.0));
            let e = metrics
                .entry((t, m.server.clone()))
                .or_insert_with(|| MetricRow {
                    t_s: t,
                    allocs_running: None,
                    placements: None,
                    ..m.clone()
                });
            if let Some(p) = m.placements {
                e.placements = Some(e.placements.unwrap_or(0.0) + p);
            }
        }
        running_by_shard.push(running);
        for nrow in &rec.nodes {
            nodes
                .entry(nrow.node_id.clone())
                .or_insert_with(|| nrow.clone());
        }
        let lag = info.start_lag_ns.map_or("no --start-at".to_string(), |l| {
            format!("started {:.3} ms after --start-at", l as f64 / 1e6)
        });
        let clock = match &info.clock {
            Some(c) => format!(
                "clock offset against the servers {:+.3} ms ± {:.3} ms ({} requests to {}); {}",
                c.offset_ns as f64 / 1e6,
                c.uncertainty_ns as f64 / 1e6,
                c.requests,
                c.server,
                if corr != 0 {
                    format!(
                        "{:+.3} ms taken out of its submit times",
                        -corr as f64 / 1e6
                    )
                } else {
                    "not corrected".to_string()
                }
            ),
            None => "clock offset not measured; not corrected".to_string(),
        };
        notes.push(format!(
            "shard {} ({} jobs, host {}, record {}): {lag}; {clock}; outcome {}",
            info.shard,
            info.jobs_owned,
            info.host,
            d.display(),
            rec.meta.outcome.as_str()
        ));
        for note in &rec.meta.notes {
            notes.push(format!("shard {}: {note}", info.shard));
        }
        shards_out.push(MergedShard {
            dir: d.display().to_string(),
            info: info.clone(),
            correction_ns: corr,
            t0_in_merged_ns: local_shift,
            alloc_rows: rec.allocs.len() as u64,
            outcome: rec.meta.outcome,
        });
    }
    // Cluster-wide allocs_running: the sum of every generator's own count that second (carried forward).
    for ((t, _), row) in metrics.iter_mut() {
        let sum: f64 = running_by_shard
            .iter()
            .map(|m| m.range(..=*t).next_back().map_or(0.0, |(_, v)| *v))
            .sum();
        row.allocs_running = Some(sum);
    }
    let metrics: Vec<MetricRow> = metrics.into_values().collect();
    events.sort_by_key(|e| e.t_ns);

    // Row order of a one-generator record: placed rows by placement time, then unplaced rows by job.
    allocs.sort_by(|a, b| match (a.placed_ns, b.placed_ns) {
        (Some(x), Some(y)) => x
            .cmp(&y)
            .then_with(|| a.job_id.cmp(&b.job_id))
            .then_with(|| a.alloc_id.cmp(&b.alloc_id)),
        (Some(_), None) => std::cmp::Ordering::Less,
        (None, Some(_)) => std::cmp::Ordering::Greater,
        (None, None) => a.job_id.cmp(&b.job_id),
    });
    let ids: BTreeSet<&str> = allocs
        .iter()
        .filter(|a| !a.alloc_id.is_empty())
        .map(|a| a.alloc_id.as_str())
        .collect();
    if ids.len() != allocs.iter().filter(|a| !a.alloc_id.is_empty()).count() {
        bail!("an allocation appears in more than one generator's record (were the same records given twice under different names?)");
    }

    let summary = Summary::compute(
        &allocs,
        &metrics,
        &SummaryInputs {
            jobs_submitted: submitted,
            jobs_failed_to_submit: failed,
            allocs_desired: desired,
            evals_blocked: blocked,
            evals_failed: evfailed,
            events: &events,
            slo: &r0.meta.scenario.slo,
        },
    );
    let mut scenario = r0.meta.scenario.clone();
    scenario.jobs = i0.jobs_total;
    scenario.arrival = i0.pacing.clone();
    let run_ids: BTreeSet<&str> = parts.iter().map(|p| p.1.meta.run_id.as_str()).collect();
    let run_id = match (&req.run_id, run_ids.len()) {
        (Some(id), _) => id.clone(),
        (None, 1) => r0.meta.run_id.clone(),
        (None, _) => format!("{}-merged", r0.meta.run_id),
    };
    let mut all_notes = vec![format!(
        "merged from {n} generators (stampede run --shard I/{n}); t = 0 is the earliest generator start on the servers' clock; clock correction: {:?}",
        req.clock
    )];
    all_notes.extend(notes);
    let meta = RunMeta {
        schema_version: record::SCHEMA_VERSION,
        tool_version: env!("CARGO_PKG_VERSION").to_string(),
        run_id,
        source: r0.meta.source,
        seed: i0.seed.or(r0.meta.seed),
        nomad_version: r0.meta.nomad_version.clone(),
        start_unix_ns: base.max(0) as u64,
        duration_s: end_ns.max(0) as f64 / 1e9,
        outcome,
        scenario,
        servers: r0.meta.servers.clone(),
        fleet: r0.meta.fleet.clone(),
        summary,
        events,
        notes: all_notes,
        control_plane: None,
        calibration: None,
    };
    Ok((
        RunRecord {
            meta,
            allocs,
            metrics,
            nodes: nodes.into_values().collect(),
        },
        shards_out,
    ))
}

/// File of the merged record listing its generators.
pub const SHARDS_JSON: &str = "shards.json";

/// Merges and writes the record (and `shards.json`) into `out`.
pub fn merge_into(req: &MergeRequest, out: &Path) -> Result<RunRecord> {
    let (rec, shards) = merge(req)?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let text = serde_json::to_string_pretty(&shards)? + "\n";
    crate::files::write_atomic(&out.join(SHARDS_JSON), text.as_bytes())?;
    record_io::write_record(out, &rec)?;
    Ok(rec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::distrib::clock::ClockOffset;
    use crate::distrib::shard::{write_shard_info, Shard};
    use stampede_sim::record::{AllocStatus, ScenarioInfo, Source};

    const T0: i64 = 1_800_000_000_000_000_000;

    fn row(job: &str, alloc: &str, submit: u64, placed: u64) -> AllocRow {
        AllocRow {
            job_id: job.into(),
            alloc_id: alloc.into(),
            node_id: "n1".into(),
            task_group: "g0".into(),
            submit_ns: Some(submit),
            sent_ns: Some(submit),
            placed_ns: Some(placed),
            running_ns: Some(placed + 1_000_000),
            done_ns: None,
            status: AllocStatus::Running,
            lost: false,
            rescheduled: false,
            replaces: String::new(),
        }
    }

    /// A generator's record: t = 0 at `start` (its wall clock), `offset` its clock against the servers.
    fn shard_dir(root: &Path, i: u32, start: i64, offset: i64, rows: Vec<AllocRow>) -> PathBuf {
        let d = root.join(format!("s{i}"));
        let n = rows.len() as u64;
        let meta = RunMeta {
            schema_version: record::SCHEMA_VERSION,
            tool_version: "t".into(),
            run_id: "r".into(),
            source: Source::Nomad,
            seed: Some(1),
            nomad_version: "1.6.3".into(),
            start_unix_ns: start as u64,
            duration_s: 1.0,
            outcome: Outcome::Complete,
            scenario: ScenarioInfo {
                name: "adhoc".into(),
                path: None,
                scale: 1.0,
                algorithm: "binpack".into(),
                jobs: n,
                job_type: "batch".into(),
                groups_per_job: 1,
                count_per_group: 1,
                cpu_mhz: 100,
                memory_mb: 64,
                spread_block: false,
                arrival: "x".into(),
                slo: BTreeMap::new(),
            },
            servers: Vec::new(),
            fleet: Vec::new(),
            summary: Summary {
                jobs_submitted: n,
                allocs_desired: n,
                ..Summary::default()
            },
            events: Vec::new(),
            notes: Vec::new(),
            control_plane: None,
            calibration: None,
        };
        let rec = RunRecord {
            meta,
            allocs: rows,
            metrics: Vec::new(),
            nodes: Vec::new(),
        };
        record_io::write_record(&d, &rec).unwrap();
        write_shard_info(
            &d,
            &ShardInfo {
                shard: Shard { index: i, count: 2 },
                jobs_total: 4,
                jobs_owned: n,
                prefix: "p-".into(),
                seed: None,
                workload_sha256: "w".into(),
                pacing: "open-loop rate=1/s".into(),
                start_at_unix_ns: Some(T0),
                start_unix_ns: start,
                start_lag_ns: Some(start - T0),
                clock: Some(ClockOffset {
                    offset_ns: offset,
                    uncertainty_ns: 500_000,
                    requests: 10,
                    server: "http://s".into(),
                }),
                host: "h".into(),
            },
        )
        .unwrap();
        d
    }

    #[test]
    fn merges_onto_one_time_axis_and_refuses_incomplete_sets() {
        let tmp = tempfile::tempdir().unwrap();
        let r = tmp.path();
        // Shard 0 woke 1 ms late, its clock agrees with the servers. Shard 1 woke on time by its clock,
        // which runs 20 ms ahead of the servers: it really started 20 ms before --start-at.
        // Job i is due i s after each generator's t = 0; placed 100 ms after the real submit.
        let ms = 1_000_000i64;
        let s0 = shard_dir(
            r,
            0,
            T0 + ms,
            0,
            vec![
                row("p-000000", "a0", 0, 100 * ms as u64),
                row("p-000002", "a2", 2000 * ms as u64, 2100 * ms as u64),
            ],
        );
        // Its placement times are server time − its own (fast) start: real submit at T0 − 20 ms + 1 s.
        let s1 = shard_dir(
            r,
            1,
            T0,
            20 * ms,
            vec![
                row(
                    "p-000001",
                    "a1",
                    1000 * ms as u64,
                    (1000 * ms + 100 * ms - 20 * ms) as u64,
                ),
                row(
                    "p-000003",
                    "a3",
                    3000 * ms as u64,
                    (3000 * ms + 100 * ms - 20 * ms) as u64,
                ),
            ],
        );
        let req = MergeRequest {
            dirs: vec![s1.clone(), s0.clone()],
            run_id: None,
            clock: ClockCorrection::Auto,
        };
        let (rec, shards) = merge(&req).unwrap();
        assert_eq!(rec.meta.summary.jobs_submitted, 4);
        assert_eq!(rec.meta.scenario.jobs, 4);
        let jobs: Vec<&str> = rec.allocs.iter().map(|a| a.job_id.as_str()).collect();
        assert_eq!(jobs, ["p-000000", "p-000001", "p-000002", "p-000003"]);
        // On one axis every allocation is placed 100 ms after its submission.
        for a in &rec.allocs {
            assert_eq!(
                a.placed_ns.unwrap() - a.submit_ns.unwrap(),
                100 * ms as u64,
                "{a:?}"
            );
        }
        assert_eq!(
            rec.meta.summary.latency_ms.submit_to_placed.max.round(),
            100.0
        );
        assert_eq!(shards[1].correction_ns, 20 * ms);
        assert!(rec
            .meta
            .notes
            .iter()
            .any(|n| n.contains("+20.000 ms ± 0.500 ms")));
        // Without the correction, shard 1's latencies come out 20 ms short.
        let (raw, _) = merge(&MergeRequest {
            clock: ClockCorrection::Off,
            ..req.clone()
        })
        .unwrap();
        let l: Vec<u64> = raw
            .allocs
            .iter()
            .map(|a| (a.placed_ns.unwrap() - a.submit_ns.unwrap()) / ms as u64)
            .collect();
        assert_eq!(l, [100, 80, 100, 80]);

        // One shard only, the same shard twice, a record of another run: errors naming the problem.
        let e = merge(&MergeRequest {
            dirs: vec![s0.clone()],
            ..req.clone()
        })
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("missing the record of shard 1/2"),
            "{e:#}"
        );
        let e = merge(&MergeRequest {
            dirs: vec![s0.clone(), s0.clone()],
            ..req.clone()
        })
        .unwrap_err();
        assert!(format!("{e:#}").contains("appears twice"), "{e:#}");
        let mut info = read_shard_info(&s1).unwrap();
        info.workload_sha256 = "other".into();
        write_shard_info(&s1, &info).unwrap();
        let e = merge(&req).unwrap_err();
        assert!(format!("{e:#}").contains("workload digest"), "{e:#}");
    }
}
