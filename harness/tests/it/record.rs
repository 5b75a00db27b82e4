//! `stampede trace record` against the mock Nomad over loopback: shapes, run times against the mock's
//! ground truth, a stream that drops every 0.5 s, and a replay of the recording in the simulator.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use serde_json::{json, Value};
use stampede::capture::{record, RecordConfig, RecordSummary};
use stampede::nomad::{NomadClient, NomadConnArgs};
use stampede_sim::trace::{parse_jsonl, Exit, Trace};

use crate::common::argv;
use crate::mock_nomad::{MockConfig, MockNomad};

/// One submitted job, as the test expects to find it in the trace.
struct Want {
    json: Value,
}

fn task(name: &str, cpu: u64, mem: u64, image: &str) -> Value {
    json!({"Name": name, "Driver": "docker", "Config": {"image": image},
        "Resources": {"CPU": cpu, "MemoryMB": mem}})
}

/// A varied workload: batch jobs with one or two groups, sidecars, priorities, change ids, node classes,
/// and (when `service`) two service jobs.
fn workload(prefix: &str, n: usize, service: bool, node_class: bool) -> Vec<Want> {
    let mut out = Vec::new();
    for i in 0..n {
        let mut groups = vec![json!({"Name": "build", "Count": 1 + (i % 4) as u64,
            "Tasks": [task("test", 500 + 100 * i as u64, 256 + 64 * i as u64, &format!("ci:{i}")), task("log", 100, 64, "fluent:1")]})];
        if i % 3 == 0 {
            let mut g = json!({"Name": "lint", "Count": 2, "Tasks": [{"Name": "lint", "Driver": "exec",
                "Config": {"command": "/bin/lint"}, "Resources": {"CPU": 250, "MemoryMB": 128}}]});
            if node_class {
                g["Constraints"] =
                    json!([{"LTarget": "${node.class}", "RTarget": "large", "Operand": "="}]);
            }
            groups.push(g);
        }
        let mut j = json!({"ID": format!("{prefix}b{i:03}"), "Type": "batch", "Priority": 30 + i as u64,
            "Meta": {"change": format!("c{}", i / 3), "team": "core"}, "TaskGroups": groups});
        if i == 1 {
            // The mock ends this job's allocations `failed`.
            j["Meta"]["mock_fail"] = json!("true");
        }
        out.push(Want { json: j });
    }
    if service {
        for i in 0..2 {
            out.push(Want {
                json: json!({"ID": format!("{prefix}svc{i}"), "Type": "service", "Priority": 80,
                    "TaskGroups": [{"Name": "web", "Count": 2, "Tasks": [task("web", 1000, 512, "nginx:1")]}]}),
            });
        }
    }
    out
}

fn client(m: &MockNomad) -> NomadClient {
    NomadClient::new(&NomadConnArgs::for_address(&m.addr)).unwrap()
}

/// Records while submitting `jobs` `gap` apart; returns the summary and the parsed trace.
async fn record_workload(
    m: &MockNomad,
    jobs: &[Want],
    gap: Duration,
    duration: Duration,
    out: &Path,
    prefix: &str,
) -> (RecordSummary, Trace) {
    let mut cfg = RecordConfig::new(
        NomadConnArgs::for_address(&m.addr),
        duration,
        out.to_path_buf(),
    );
    cfg.prefix = Some(prefix.to_string());
    // The mock never reschedules: a failed job is finished once this has passed.
    cfg.reschedule_grace = Duration::from_millis(200);
    let rec = tokio::spawn(record(cfg));
    tokio::time::sleep(Duration::from_millis(150)).await;
    let c = client(m);
    for j in jobs {
        c.register_job(&j.json).await.unwrap();
        tokio::time::sleep(gap).await;
    }
    // A job outside the prefix is not recorded.
    c.register_job(&json!({"ID": "other-1", "Type": "batch", "TaskGroups": [{"Name": "g0", "Count": 1, "Tasks": [task("t", 100, 64, "x")]}]}))
        .await
        .unwrap();
    let sum = tokio::time::timeout(duration + Duration::from_secs(20), rec)
        .await
        .expect("record stopped in time")
        .unwrap()
        .unwrap();
    assert!(out.exists(), "{} written", out.display());
    let partial = out.with_file_name(format!(
        "{}.partial",
        out.file_name().unwrap().to_string_lossy()
    ));
    assert!(!partial.exists(), "{} removed", partial.display());
    let text = std::fs::read_to_string(out).unwrap();
    let trace = parse_jsonl(&text).unwrap();
    (sum, trace)
}

/// Checks shapes against what was submitted and run times against the mock's ground truth.
fn check(m: &MockNomad, jobs: &[Want], sum: &RecordSummary, trace: &Trace, duration: Duration) {
    assert_eq!(trace.jobs.len(), jobs.len(), "one line per submitted job");
    assert_eq!(trace.header.jobs, jobs.len() as u64);
    assert_eq!(sum.jobs, jobs.len() as u64);
    assert!(sum.dropped.is_empty(), "dropped: {:?}", sum.dropped);
    let truth = m.truth();
    let by_id: BTreeMap<&str, &stampede_sim::trace::TraceJob> =
        trace.jobs.iter().map(|j| (j.id.as_str(), j)).collect();
    for w in jobs {
        let id = w.json["ID"].as_str().unwrap();
        let got = by_id.get(id).unwrap_or_else(|| panic!("{id} missing"));
        assert_eq!(
            got.job_type.as_str(),
            w.json["Type"].as_str().unwrap(),
            "{id}"
        );
        assert_eq!(
            got.priority as u64,
            w.json["Priority"].as_u64().unwrap(),
            "{id}"
        );
        assert_eq!(
            got.change.as_deref(),
            w.json["Meta"]["change"].as_str(),
            "{id}"
        );
        assert!(got.submit_ns < duration.as_nanos() as u64, "{id} submit");
        let wg = w.json["TaskGroups"].as_array().unwrap();
        assert_eq!(got.groups.len(), wg.len(), "{id} groups");
        let mut durations = Vec::new();
        for (g, wg) in got.groups.iter().zip(wg) {
            assert_eq!(g.name, wg["Name"].as_str().unwrap());
            assert_eq!(g.count as u64, wg["Count"].as_u64().unwrap(), "{id} count");
            let tasks = wg["Tasks"].as_array().unwrap();
            let cpu: u64 = tasks
                .iter()
                .map(|t| t["Resources"]["CPU"].as_u64().unwrap())
                .sum();
            let mem: u64 = tasks
                .iter()
                .map(|t| t["Resources"]["MemoryMB"].as_u64().unwrap())
                .sum();
            assert_eq!(g.cpu_mhz as u64, cpu, "{id} cpu");
            assert_eq!(g.memory_mb as u64, mem, "{id} memory");
            assert_eq!(g.tasks.len(), tasks.len());
            let cfg = &tasks[0]["Config"];
            assert_eq!(
                g.image,
                cfg["image"].as_str().or(cfg["command"].as_str()).unwrap()
            );
            assert_eq!(
                g.node_class.as_deref(),
                wg["Constraints"][0]["RTarget"].as_str(),
                "{id} node class"
            );
            if got.job_type.as_str() == "batch" {
                // Nothing lost, nothing doubled: one outcome per allocation.
                assert_eq!(g.allocs.len() as u32, g.count, "{id}/{} outcomes", g.name);
                let want = if w.json["Meta"]["mock_fail"] == "true" {
                    Exit::Failed
                } else {
                    Exit::Ok
                };
                assert!(g.allocs.iter().all(|a| a.exit == want), "{id} exit");
                durations.extend(g.allocs.iter().map(|a| a.run_ns as i64));
            } else {
                assert!(g.allocs.is_empty(), "a running service has no outcome");
            }
        }
        if got.job_type.as_str() == "batch" {
            let mut want: Vec<i64> = truth
                .values()
                .filter(|t| t.job == id)
                .map(|t| t.finished_ns.unwrap() - t.started_ns.unwrap())
                .collect();
            want.sort();
            durations.sort();
            assert_eq!(durations.len(), want.len(), "{id}");
            for (a, b) in durations.iter().zip(&want) {
                assert!(
                    (a - b).abs() <= 1_000_000,
                    "{id}: run {a} ns vs truth {b} ns"
                );
            }
        }
    }
    let batch = jobs.iter().filter(|w| w.json["Type"] == "batch").count() as u64;
    assert_eq!(
        sum.jobs_complete, batch,
        "batch jobs written as they finished"
    );
}

#[tokio::test]
async fn record_matches_submitted_workload() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec.jsonl");
    // Submitted before the recording starts: replayed from the event backlog, but not recorded.
    client(&m)
        .register_job(&workload("rec-old-", 1, false, false)[0].json)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let jobs = workload("rec-", 12, true, true);
    let d = Duration::from_secs(3);
    let (sum, trace) = record_workload(&m, &jobs, Duration::from_millis(20), d, &out, "rec-").await;
    check(&m, &jobs, &sum, &trace, d);
    assert_eq!(
        sum.jobs_at_stop, 2,
        "the service jobs are written at the stop"
    );
    assert_eq!(sum.jobs_before_start, 1, "rec-old-b000 is not recorded");
    assert_eq!(trace.header.source.as_str(), "record");
}

#[tokio::test]
async fn record_survives_stream_drops() {
    let m = MockNomad::start(MockConfig {
        drop_stream_every: Some(Duration::from_millis(500)),
        ..MockConfig::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("drops.jsonl");
    let jobs = workload("drop-", 24, false, true);
    let d = Duration::from_millis(3500);
    let (sum, trace) =
        record_workload(&m, &jobs, Duration::from_millis(100), d, &out, "drop-").await;
    assert!(
        m.state.lock().unwrap().stream_connects >= 4,
        "the stream was dropped and reopened"
    );
    assert!(sum.stream.connects >= 4, "{:?}", sum.stream);
    check(&m, &jobs, &sum, &trace, d);
}

#[tokio::test]
async fn recorded_trace_replays_in_the_simulator() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("replay.jsonl");
    let jobs = workload("rp-", 10, false, false);
    let d = Duration::from_secs(2);
    let (_, trace) = record_workload(&m, &jobs, Duration::from_millis(20), d, &out, "rp-").await;
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml");
    let sc = stampede::files::load_scenario(&root, 1.0).unwrap();
    let src = stampede_sim::workload::TraceSource::new(Arc::new(trace.clone()), "replay.jsonl");
    let opts = stampede_sim::runner::RunOptions {
        seed: 1,
        ..Default::default()
    };
    let (rec, stats) =
        stampede_sim::runner::run_scenario(&sc, Box::new(src), &opts, &mut |_| {}).unwrap();
    let s = &rec.meta.summary;
    assert_eq!(stats.unplaced, 0);
    assert_eq!(s.jobs_submitted, trace.jobs.len() as u64);
    assert_eq!(s.jobs_submitted, jobs.len() as u64);
    assert_eq!(s.allocs_desired, trace.total_allocs());
    assert_eq!(s.allocs_placed, trace.total_allocs());
}

/// Starts `stampede trace record` against the mock; waits until it has opened the event stream.
async fn spawn_cli(m: &MockNomad, out: &Path, prefix: &str) -> std::process::Child {
    let child = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["trace", "record", "--addr", &m.addr, "--duration", "60s"])
        .arg("--out")
        .arg(out)
        .args(["--prefix", prefix, "--reschedule-grace", "200ms"])
        .env("NOMAD_TOKEN", "cli-secret-token")
        .env_remove("NOMAD_ADDR")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let t = tokio::time::Instant::now();
    while m.state.lock().unwrap().stream_connects == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(20),
            "recorder never connected"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    child
}

/// Waits until `path` has `n` lines (bounded).
async fn wait_lines(path: &Path, n: usize) {
    let t = tokio::time::Instant::now();
    loop {
        let got = std::fs::read_to_string(path)
            .map(|s| s.lines().count())
            .unwrap_or(0);
        if got >= n {
            assert_eq!(got, n, "{}", path.display());
            return;
        }
        assert!(
            t.elapsed() < Duration::from_secs(15),
            "{} has {got} of {n} lines",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

fn signal(child: &std::process::Child, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &child.id().to_string()])
        .status()
        .unwrap();
    assert!(st.success());
}

fn wait_exit(mut child: std::process::Child) -> std::process::Output {
    let t = std::time::Instant::now();
    while child.try_wait().unwrap().is_none() {
        if t.elapsed() > Duration::from_secs(20) {
            let _ = child.kill();
            panic!("recorder did not stop");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    child.wait_with_output().unwrap()
}

#[tokio::test]
async fn cli_writes_incrementally_and_finishes_on_ctrl_c() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cli.jsonl");
    let partial = dir.path().join("cli.jsonl.partial");
    let child = spawn_cli(&m, &out, "cli-").await;
    let c = client(&m);
    let jobs = workload("cli-", 4, true, false);
    for j in &jobs {
        c.register_job(&j.json).await.unwrap();
    }
    // The 4 batch jobs reach the partial file while recording; the services wait for the stop.
    wait_lines(&partial, 4).await;
    assert!(!out.exists());
    signal(&child, "-INT");
    let o = wait_exit(child);
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert!(o.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("recorded 6 jobs"), "{stdout}");
    assert!(!format!("{stdout}{stderr}").contains("cli-secret-token"));
    assert!(!partial.exists());
    let text = std::fs::read_to_string(&out).unwrap();
    assert!(!text.contains("cli-secret-token"));
    let trace = parse_jsonl(&text).unwrap();
    assert_eq!(trace.jobs.len(), 6);
    assert_eq!(
        trace
            .jobs
            .iter()
            .filter(|j| j.job_type.as_str() == "service")
            .count(),
        2
    );
}

#[tokio::test]
async fn cli_killed_keeps_the_partial_file() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("killed.jsonl");
    let partial = dir.path().join("killed.jsonl.partial");
    let child = spawn_cli(&m, &out, "k-").await;
    let c = client(&m);
    for j in workload("k-", 3, false, false) {
        c.register_job(&j.json).await.unwrap();
    }
    wait_lines(&partial, 3).await;
    signal(&child, "-KILL");
    let o = wait_exit(child);
    assert!(!o.status.success());
    assert!(!out.exists(), "no trace passed off as whole");
    let kept = std::fs::read_to_string(&partial).unwrap();
    for l in kept.lines() {
        let v: Value = serde_json::from_str(l).unwrap();
        assert!(v["id"].as_str().unwrap().starts_with("k-b"), "{l}");
    }
}

#[test]
fn cli_bad_input_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let run = |args: &[String]| {
        crate::common::bin()
            .args(["trace", "record"])
            .args(args)
            .output()
            .unwrap()
    };
    let csv = dir.path().join("x.csv");
    let o = run(&argv!(
        "--addr http://127.0.0.1:9 --duration 1s --out",
        &csv
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("x.csv: the recorded trace is JSON Lines"));
    let out = dir.path().join("x.jsonl");
    // Port 9 (discard) on loopback: nothing listens.
    let o = run(&argv!(
        "--addr http://127.0.0.1:9 --duration 1s --out",
        &out
    ));
    assert_eq!(o.status.code(), Some(2));
    let e = String::from_utf8_lossy(&o.stderr);
    assert!(
        e.contains("asking http://127.0.0.1:9 for its version"),
        "{e}"
    );
    assert!(!out.exists());
    let o = run(&argv!(
        "--addr http://127.0.0.1:9 --namespace * --duration 1s --out",
        &out
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--namespace '*' is not supported"));
    let o = run(&argv!("--duration soon --out", &out));
    assert_eq!(o.status.code(), Some(2));
}
