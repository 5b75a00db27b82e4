//! End to end over real loopback sockets: `stampede run` against `stampede emulate`. The run's measured
//! per-allocation timeline must equal the emulator's ground truth for every allocation — with no faults,
//! and with the event stream dropped every couple of seconds and 3% of writes failing (nothing lost,
//! nothing double-counted).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use clap::Parser;
use stampede::emulator::{self, EmulatorConfig, Faults};
use stampede::{Command, Opts};
use stampede_sim::record::AllocStatus;
use stampede_sim::scenario::Scenario;

use crate::common::argv;

fn fixture() -> Scenario {
    let p = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/tests/fixtures/emulator-small.toml"
    );
    Scenario::from_toml(p, &std::fs::read_to_string(p).unwrap()).unwrap()
}

async fn run_against_emulator(
    faults: Faults,
    jobs: u32,
    rate: &str,
    out: &Path,
) -> (
    stampede_sim::record::RunRecord,
    Vec<serde_json::Value>,
    stampede::load::RunOutcome,
) {
    let mut cfg = EmulatorConfig::new(fixture());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.speed = 4.0;
    cfg.faults = faults;
    let h = emulator::start(cfg).await.unwrap();
    let url = format!("http://{}", h.addr);
    let opts = Opts::parse_from(argv!(
        "stampede run --addr",
        &url,
        "--jobs",
        &jobs.to_string(),
        "--count 3 --type batch --cpu 200 --memory 128 --duration 2s",
        "--rate",
        rate,
        "--burst 4 --seed 5 --max-attempts 8 --timeout 60s",
        "--drain-timeout 40s --quiet --no-report --out",
        &out
    ));
    let Command::Run(args) = opts.command else {
        panic!()
    };
    let plan = stampede::cli::run::plan_from_args(&args).await.unwrap();
    let outcome = tokio::time::timeout(Duration::from_secs(90), stampede::load::run_load(plan))
        .await
        .expect("run finished in time")
        .unwrap();
    let rec = stampede::files::record::read_record(&outcome.dir).unwrap();
    let truth: Vec<serde_json::Value> = reqwest::get(format!("{url}/v1/stampede/ground-truth"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    h.shutdown().await;
    (rec, truth, outcome)
}

fn check_equal(rec: &stampede_sim::record::RunRecord, truth: &[serde_json::Value], jobs: u32) {
    let base = rec.meta.start_unix_ns as i128;
    let measured: BTreeMap<&str, _> = rec
        .allocs
        .iter()
        .filter(|a| !a.alloc_id.is_empty())
        .map(|a| (a.alloc_id.as_str(), a))
        .collect();
    assert_eq!(
        measured.len(),
        rec.allocs.iter().filter(|a| !a.alloc_id.is_empty()).count(),
        "an allocation was recorded twice"
    );
    assert_eq!(
        truth.len(),
        jobs as usize * 3,
        "ground truth: every desired allocation placed once"
    );
    assert_eq!(
        measured.len(),
        truth.len(),
        "every allocation the emulator placed was measured"
    );
    let t = |v: &serde_json::Value, k: &str| {
        v.get(k).and_then(|x| x.as_u64()).map(|x| x as i128 - base)
    };
    for tr in truth {
        let id = tr["alloc_id"].as_str().unwrap();
        let m = measured
            .get(id)
            .unwrap_or_else(|| panic!("allocation {id} missing from allocs.csv"));
        assert_eq!(m.job_id, tr["job_id"].as_str().unwrap());
        assert_eq!(m.node_id, tr["node_id"].as_str().unwrap());
        assert_eq!(
            m.placed_ns.map(|x| x as i128),
            t(tr, "placed_ns"),
            "placed time of {id}"
        );
        assert_eq!(
            m.running_ns.map(|x| x as i128),
            t(tr, "running_ns"),
            "running time of {id}"
        );
        if let (Some(md), Some(td)) = (m.done_ns, t(tr, "done_ns")) {
            assert_eq!(md as i128, td, "done time of {id}");
        }
        assert!(m.status != AllocStatus::Pending, "{id} never ran");
    }
    assert_eq!(rec.meta.source, stampede_sim::record::Source::Emulator);
    assert_eq!(rec.meta.summary.jobs_submitted, jobs as u64);
    assert!(!rec.metrics.is_empty(), "server metrics were scraped");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_against_emulator_matches_ground_truth() {
    let dir = tempfile::tempdir().unwrap();
    let (rec, truth, _) = run_against_emulator(Faults::default(), 40, "40", dir.path()).await;
    check_equal(&rec, &truth, 40);
    // Latency is measured from the intended (open-loop) send time.
    assert!(rec.allocs.iter().all(|a| a.submit_ns <= a.sent_ns));
    // Issue 13 finding 9b: batch jobs wait for completion by default (`--wait done`): every allocation
    // finished, and the record has the makespan and the done percentiles.
    let s = &rec.meta.summary;
    assert!(
        rec.allocs.iter().all(|a| a.done_ns.is_some()),
        "every allocation finished before the run ended"
    );
    assert_eq!(s.latency_ms.submit_to_done.count, 120);
    assert_eq!(s.latency_ms.running_to_done.count, 120);
    // Each task sleeps 2 s (simulated; the emulator runs 4× faster, times are the server's).
    assert!(
        s.latency_ms.running_to_done.p50 >= 1_900.0,
        "{:?}",
        s.latency_ms.running_to_done
    );
    let first_submit = rec.allocs.iter().filter_map(|a| a.submit_ns).min().unwrap();
    let last_done = rec.allocs.iter().filter_map(|a| a.done_ns).max().unwrap();
    assert!((s.makespan_s - (last_done - first_submit) as f64 / 1e9).abs() < 1e-6);
    assert_eq!(s.task_restarts, Some(0));
    assert!(
        rec.meta.notes.iter().any(|n| n.contains("--wait done")),
        "{:?}",
        rec.meta.notes
    );
    // Issue 13 finding 9a: Raft IO is in every emulated record (the emulator serves raft-boltdb's names,
    // the scraper reads them): every row after a server's first has both figures, and they add up.
    let mut seen = std::collections::BTreeSet::new();
    for m in &rec.metrics {
        if !seen.insert(m.server.clone()) {
            assert!(
                m.raft_bytes_written.is_some() && m.fsyncs.is_some(),
                "metrics.csv row without Raft IO: {m:?}"
            );
        }
    }
    let bytes: f64 = rec
        .metrics
        .iter()
        .filter_map(|m| m.raft_bytes_written)
        .sum();
    let fsyncs: f64 = rec.metrics.iter().filter_map(|m| m.fsyncs).sum();
    assert!(
        bytes > 0.0 && fsyncs > 0.0,
        "raft bytes {bytes}, fsyncs {fsyncs}"
    );
    let csv = std::fs::read_to_string(dir.path().join("metrics.csv")).unwrap();
    let header: Vec<&str> = csv.lines().next().unwrap().split(',').collect();
    let col = |n: &str| header.iter().position(|h| *h == n).unwrap();
    let (cb, cf) = (col("raft_bytes_written"), col("fsyncs"));
    assert!(
        csv.lines().skip(1).any(|l| {
            let f: Vec<&str> = l.split(',').collect();
            !f[cb].is_empty() && !f[cf].is_empty() && f[cb] != "0" && f[cf] != "0"
        }),
        "metrics.csv has Raft bytes and fsyncs"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_against_faulty_emulator_loses_and_doubles_nothing() {
    let dir = tempfile::tempdir().unwrap();
    // At speed 4 a 500 ms wall-clock drop interval is a drop every 2 simulated seconds.
    let faults = Faults {
        drop_streams_every: Some(Duration::from_millis(500)),
        write_error_share: 0.03,
        ..Default::default()
    };
    let (rec, truth, outcome) = run_against_emulator(faults, 150, "30", dir.path()).await;
    check_equal(&rec, &truth, 150);
    assert!(
        outcome.submit.retries > 0,
        "3% of 150 writes failed and were retried: {:?}",
        outcome.submit.errors
    );
    assert_eq!(outcome.submit.failed, 0);
}

/// `stampede trace record` against the emulator while `stampede run` floods it: the recorded trace has the
/// jobs and shapes that were submitted, and replaying it in the simulator places the same allocations.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_against_emulator_then_replay() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = EmulatorConfig::new(fixture());
    cfg.listen = "127.0.0.1:0".parse().unwrap();
    cfg.speed = 4.0;
    let h = emulator::start(cfg).await.unwrap();
    let url = format!("http://{}", h.addr);
    let trace_path = dir.path().join("recorded.jsonl");
    let mut rc = stampede::capture::RecordConfig::new(
        stampede::nomad::NomadConnArgs::for_address(&url),
        Duration::from_secs(60),
        trace_path.clone(),
    );
    rc.prefix = Some("rec-".into());
    rc.reschedule_grace = Duration::from_secs(1);
    let stop = rc.stop.clone();
    let recorder = tokio::spawn(stampede::capture::record(rc));
    tokio::time::sleep(Duration::from_millis(300)).await;
    let out = dir.path().join("run");
    let opts = Opts::parse_from(argv!(
        "stampede run --addr",
        &url,
        "--jobs 25 --count 2 --groups 2 --type batch --cpu 300 --memory 256",
        "--duration 1s --priority 70 --rate 25 --seed 9 --prefix rec-",
        "--timeout 60s --quiet --no-report --out",
        &out
    ));
    let Command::Run(args) = opts.command else {
        panic!()
    };
    let plan = stampede::cli::run::plan_from_args(&args).await.unwrap();
    tokio::time::timeout(Duration::from_secs(90), stampede::load::run_load(plan))
        .await
        .expect("run finished")
        .unwrap();
    // Let the last allocations finish (1 s tasks at speed 4) and reach the recorder, then stop it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    stop.cancel();
    let summary = tokio::time::timeout(Duration::from_secs(30), recorder)
        .await
        .expect("recorder stopped")
        .unwrap()
        .unwrap();
    h.shutdown().await;
    assert_eq!(summary.jobs, 25);
    let trace =
        stampede_sim::trace::parse_jsonl(&std::fs::read_to_string(&trace_path).unwrap()).unwrap();
    assert_eq!(trace.jobs.len(), 25);
    for j in &trace.jobs {
        assert!(j.id.starts_with("rec-"));
        assert_eq!(j.priority, 70);
        assert_eq!(j.groups.len(), 2, "{}", j.id);
        for g in &j.groups {
            assert_eq!((g.count, g.cpu_mhz, g.memory_mb), (2, 300, 256), "{}", j.id);
            assert_eq!(g.allocs.len(), 2, "one outcome per allocation of {}", j.id);
            for a in &g.allocs {
                let run_s = a.run_ns as f64 / 1e9;
                assert!(
                    (0.9..1.6).contains(&run_s),
                    "recorded run time {run_s}s of a 1 s task"
                );
            }
        }
    }
    // Replay: same jobs, same allocations.
    let sc = fixture();
    let src = Box::new(stampede_sim::workload::TraceSource::new(
        std::sync::Arc::new(trace),
        "recorded",
    ));
    let opts = stampede_sim::runner::RunOptions {
        seed: 1,
        ..Default::default()
    };
    let (rec, stats) = stampede_sim::runner::run_scenario(&sc, src, &opts, &mut |_| {}).unwrap();
    assert_eq!(rec.meta.summary.jobs_submitted, 25);
    assert_eq!(rec.meta.summary.allocs_desired, 100);
    assert_eq!(rec.meta.summary.allocs_placed, 100);
    assert_eq!(stats.unplaced, 0);
}

/// synth → replay → report: a synthetic monorepo day (scaled down) replays on the monorepo fleet with
/// autoscaling, and the record renders into summary.md and report.html with its scaling events.
#[test]
fn synth_replay_report_round_trip() {
    let mut profile = stampede_sim::trace::synth::SynthProfile::monorepo();
    profile.jobs_per_day = 3_000;
    let trace = stampede_sim::trace::synth::synth_monorepo(&profile, 1, 3);
    let jobs = trace.jobs.len() as u64;
    let allocs = trace.total_allocs();
    let p = concat!(env!("CARGO_MANIFEST_DIR"), "/../scenarios/monorepo.toml");
    let sc = Scenario::from_toml(p, &std::fs::read_to_string(p).unwrap()).unwrap();
    let src = Box::new(stampede_sim::workload::TraceSource::new(
        std::sync::Arc::new(trace),
        "synth",
    ));
    let opts = stampede_sim::runner::RunOptions {
        seed: 3,
        ..Default::default()
    };
    let (rec, stats) = stampede_sim::runner::run_scenario(&sc, src, &opts, &mut |_| {}).unwrap();
    let s = &rec.meta.summary;
    assert_eq!(s.jobs_submitted, jobs);
    assert_eq!(s.allocs_desired, allocs);
    assert_eq!(stats.unplaced, 0);
    assert!(
        s.allocs_placed >= allocs,
        "every allocation (and recorded replacement) placed"
    );
    assert!(
        rec.meta.events.iter().any(|e| e.kind == "scale_up"),
        "the fleet autoscaled"
    );
    assert!(rec.meta.fleet[0].nodes_peak > 2);
    let dir = tempfile::tempdir().unwrap();
    stampede::files::record::write_record(dir.path(), &rec).unwrap();
    let back = stampede::files::record::read_record(dir.path()).unwrap();
    stampede::report::write_reports(dir.path(), &back).unwrap();
    let md = std::fs::read_to_string(dir.path().join("summary.md")).unwrap();
    assert!(md.contains("monorepo"));
    let html = std::fs::read_to_string(dir.path().join("report.html")).unwrap();
    assert!(html.matches("<svg").count() >= 5);
}
