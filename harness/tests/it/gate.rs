//! `stampede run` in a CI gate (issue 13, findings 1, 3 and 4): exit codes that tell the truth, `--timeout`
//! bounding the whole run, SIGTERM/SIGHUP handled like SIGINT, records that say how the run ended, and
//! `compare` refusing incomplete records. The real binary runs against the mock Nomad or the embedded
//! emulator, so exit codes and stderr are the ones a CI job sees.

use std::path::Path;
use std::time::{Duration, Instant};

use stampede_sim::record::{Outcome, RunMeta};

use crate::common::{argv, bin, bin_async, cli, read_record, repo, run_bin};
use crate::mock_nomad::{MockConfig, MockNomad};
use crate::report::{make_record, write, Shape};

fn outcome_of(dir: &Path) -> Outcome {
    stampede::files::record::read_meta(dir).unwrap().outcome
}

/// `stampede run` against the mock with `flags`, its record in `out`.
fn run_args(m: &MockNomad, flags: &str, out: &Path) -> Vec<String> {
    let mut v = argv!("run --addr", &m.addr);
    v.extend(flags.split_whitespace().map(String::from));
    v.extend(argv!("--out", out));
    v
}

/// The record in `dir` ended with `outcome` and has a note starting with `note`.
fn assert_outcome_and_note(dir: &Path, outcome: Outcome, note: &str) -> RunMeta {
    let meta = stampede::files::record::read_meta(dir).unwrap();
    assert_eq!(meta.outcome, outcome);
    assert!(
        meta.notes.iter().any(|n| n.starts_with(note)),
        "no note `{note}…`: {:?}",
        meta.notes
    );
    meta
}

const MINUTE: Duration = Duration::from_secs(60);
const HALF_MINUTE: Duration = Duration::from_secs(30);

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exit_2_when_every_submission_is_refused_with_400_and_no_retries() {
    // The embedded emulator validates like Nomad: priority 1000 is an HTTP 400 for every job.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let args = argv!(
        "run --priority 1000 --jobs 4 --workers 2 --no-report --out",
        &out
    );
    run_bin(&args, MINUTE)
        .await
        .exits(2)
        .says(&["0 of 4 jobs submitted, 4 failed", "priority"]);
    // A 400 is never retried.
    assert_outcome_and_note(&out, Outcome::Partial, "submission: 0 retries");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exit_2_when_jobs_endpoint_answers_500_and_3_when_half_fail() {
    // /v1/agent/self is fine, every PUT /v1/jobs answers 500: retried, then counted; nothing worked → 2.
    let m = MockNomad::start(MockConfig {
        fail_register_every: 1,
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("all500");
    let args = run_args(
        &m,
        "--jobs 3 --workers 1 --max-attempts 2 --no-report --no-metrics",
        &out,
    );
    run_bin(&args, MINUTE)
        .await
        .exits(2)
        .says(&["0 of 3 jobs submitted, 3 failed", "HTTP 500"]);
    assert_eq!(m.state.lock().unwrap().register_calls, 6, "2 attempts each");

    // Every second register fails for good (no retries): the run is partial → 3.
    let m = MockNomad::start(MockConfig {
        fail_register_every: 2,
        ..Default::default()
    })
    .await;
    let out = dir.path().join("half");
    let args = run_args(
        &m,
        "--jobs 4 --workers 1 --max-attempts 1 --no-report --no-metrics --quiet",
        &out,
    );
    // Counts on stderr even with --quiet.
    run_bin(&args, MINUTE)
        .await
        .exits(3)
        .says(&["outcome partial: 2 of 4 jobs submitted, 2 failed, 0 never sent"]);
    assert_eq!(outcome_of(&out), Outcome::Partial);

    // A clean run of the same shape: 0 and outcome complete.
    let m = MockNomad::start(MockConfig::default()).await;
    let out = dir.path().join("ok");
    let args = run_args(
        &m,
        "--jobs 4 --workers 2 --no-report --no-metrics --quiet --drain-timeout 20s",
        &out,
    );
    run_bin(&args, MINUTE).await.exits(0);
    assert_eq!(outcome_of(&out), Outcome::Complete);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_timeout_bounds_the_whole_run_against_a_slow_server() {
    // Every job/alloc/eval/node request takes 3 s; 40 jobs by one worker would take 2 minutes plus the
    // reconcile. --timeout 5s must end the run within a few seconds of 5 s, say what ran out, exit 3.
    let m = MockNomad::start(MockConfig {
        slow: Some(Duration::from_secs(3)),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let args = run_args(
        &m,
        "--jobs 40 --workers 1 --timeout 5s --algorithm spread --no-report",
        &out,
    );
    let r = run_bin(&args, MINUTE).await;
    r.exits(3)
        .says(&["--timeout 5s ran out", "outcome timed-out"]);
    assert!(
        r.took < Duration::from_secs(12),
        "--timeout 5s ran {:?}: {}",
        r.took,
        r.stderr
    );
    let meta = stampede::files::record::read_meta(&out).unwrap();
    assert_eq!(meta.outcome, Outcome::TimedOut);
    assert!(meta.summary.jobs_submitted < 40);
    // Restored even though the deadline had passed.
    assert_eq!(
        m.state.lock().unwrap().sched["SchedulerAlgorithm"],
        "binpack"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_drain_timeout_is_reported_and_exits_3() {
    // Jobs are accepted but never placed within the drain timeout.
    let m = MockNomad::start(MockConfig {
        place_delay: Duration::from_secs(3600),
        ..Default::default()
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let args = run_args(
        &m,
        "--jobs 2 --drain-timeout 2s --no-report --no-metrics",
        &out,
    );
    run_bin(&args, MINUTE)
        .await
        .exits(3)
        .says(&["--drain-timeout ran out", "0 of 2 allocations placed"]);
    assert_outcome_and_note(&out, Outcome::TimedOut, "--drain-timeout 2s ran out");
}

fn kill(pid: u32, sig: &str) {
    let st = std::process::Command::new("kill")
        .args([sig, &pid.to_string()])
        .status()
        .unwrap();
    assert!(st.success(), "kill {sig} {pid}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_sigterm_and_sighup_restore_the_scheduler_and_write_an_interrupted_record() {
    for sig in ["-TERM", "-HUP", "-INT"] {
        let m = MockNomad::start(MockConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rec");
        let mut child = bin_async()
            .args(run_args(
                &m,
                "--jobs 1000 --rate 20 --algorithm spread",
                &out,
            ))
            .spawn()
            .unwrap();
        // Wait until the run has switched the algorithm and submitted something.
        let t = Instant::now();
        loop {
            let (alg, ok) = {
                let st = m.state.lock().unwrap();
                (st.sched["SchedulerAlgorithm"].clone(), st.registered_ok)
            };
            if alg == "spread" && ok >= 5 {
                break;
            }
            assert!(t.elapsed() < Duration::from_secs(30), "run never started");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let sent_at = Instant::now();
        kill(child.id().unwrap(), sig);
        let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
            .await
            .expect("run ends after the signal")
            .unwrap();
        let took = sent_at.elapsed();
        let mut stderr = String::new();
        tokio::io::AsyncReadExt::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr)
            .await
            .unwrap();
        assert_eq!(status.code(), Some(3), "{sig}: {stderr}");
        assert!(
            took < Duration::from_secs(15),
            "{sig}: stopping took {took:?}"
        );
        let name = format!("SIG{}", &sig[1..]);
        assert!(stderr.contains(&format!("{name} received")), "{stderr}");
        assert!(stderr.contains("outcome interrupted"), "{stderr}");
        assert_eq!(
            m.state.lock().unwrap().sched["SchedulerAlgorithm"],
            "binpack",
            "{sig}: --algorithm restored"
        );
        let rec = read_record(&out);
        assert_eq!(rec.meta.outcome, Outcome::Interrupted, "{sig}");
        assert!(rec.meta.summary.jobs_submitted >= 5 && rec.meta.summary.jobs_submitted < 1000);
        let md = std::fs::read_to_string(out.join("summary.md")).unwrap();
        assert!(
            md.contains("INCOMPLETE RUN (outcome: interrupted)"),
            "headline of summary.md"
        );
        let html = std::fs::read_to_string(out.join("report.html")).unwrap();
        assert!(
            html.contains("INCOMPLETE RUN (outcome: interrupted)"),
            "headline of report.html"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_starting_invalidates_the_previous_record_even_after_sigkill() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    // A complete previous record in the directory.
    write(&out, &make_record(&Shape::default()));
    assert!(stampede::files::record::read_record(&out).is_ok());
    std::fs::write(out.join("summary.md"), "old").unwrap();
    let mut child = bin_async()
        .args(run_args(&m, "--jobs 1000 --rate 20 --quiet", &out))
        .spawn()
        .unwrap();
    let t = Instant::now();
    while m.state.lock().unwrap().registered_ok < 3 {
        assert!(t.elapsed() < Duration::from_secs(30), "run never started");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(child.id().unwrap(), "-KILL");
    let _ = child.wait().await;
    for f in [
        "run.json",
        "allocs.csv",
        "nodes.csv",
        "summary.md",
        "report.html",
    ] {
        assert!(!out.join(f).exists(), "{f} of the previous run survived");
    }
    let e = cli(&argv!("report", &out));
    assert!(
        e.is_err(),
        "report of a killed run must not render the old record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_rejects_a_run_id_that_escapes_reports() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["../../x", "a/b", ".hidden", ""] {
        let args = argv!("run --run-id", id, "--jobs 1");
        run_bin(&args, HALF_MINUTE)
            .await
            .exits(2)
            .says(&["--run-id"]);
    }
    let _ = dir;
    assert!(stampede::cli::run::validate_run_id("20261129T033320Z").is_ok());
    assert!(stampede::cli::run::validate_run_id("nightly-1.9_a").is_ok());
}

#[test]
fn compare_refuses_an_incomplete_record_unless_allowed() {
    let tmp = tempfile::tempdir().unwrap();
    let base = write(&tmp.path().join("base"), &make_record(&Shape::default()));
    let mut rec = make_record(&Shape::default());
    rec.meta.outcome = Outcome::Interrupted;
    let new = write(&tmp.path().join("new"), &rec);
    let e = format!("{:#}", cli(&argv!("compare", &base, &new)).unwrap_err());
    assert!(
        e.contains("incomplete run (outcome `interrupted`") && e.contains("--allow-incomplete"),
        "{e}"
    );
    assert_eq!(
        cli(&argv!("compare", &base, &new, "--allow-incomplete")).unwrap(),
        0
    );
    // The binary maps the refusal to exit 2.
    let out = bin().args(argv!("compare", &base, &new)).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn record_without_outcome_reads_as_complete() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write(&tmp.path().join("old"), &make_record(&Shape::default()));
    let p = dir.join("run.json");
    let mut v: serde_json::Value = serde_json::from_slice(&std::fs::read(&p).unwrap()).unwrap();
    assert_eq!(v["outcome"], "complete", "new records state it");
    v.as_object_mut().unwrap().remove("outcome");
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    assert_eq!(outcome_of(&dir), Outcome::Complete);
    // Unknown outcomes are refused, not guessed.
    v["outcome"] = "mostly".into();
    std::fs::write(&p, serde_json::to_vec_pretty(&v).unwrap()).unwrap();
    assert!(stampede::files::record::read_meta(&dir).is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_no_peer_scrape_never_asks_for_peers() {
    for (flag, want_calls) in [(None, true), (Some("--no-peer-scrape"), false)] {
        let m = MockNomad::start(MockConfig::default()).await;
        let dir = tempfile::tempdir().unwrap();
        let out = dir.path().join("rec");
        let mut args = run_args(&m, "--jobs 1 --quiet --no-report", &out);
        args.extend(flag.map(String::from));
        run_bin(&args, MINUTE).await.exits(0);
        let calls = m.state.lock().unwrap().peer_calls;
        assert_eq!(
            calls > 0,
            want_calls,
            "{flag:?}: {calls} /v1/status/peers calls"
        );
        let meta = stampede::files::record::read_meta(&out).unwrap();
        assert_eq!(meta.servers.len(), 1, "{flag:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_record_writes_its_trace_on_sigterm() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jsonl");
    let mut child = bin_async()
        .args(argv!(
            "trace record --addr",
            &m.addr,
            "--duration 1h --out",
            &out
        ))
        .spawn()
        .unwrap();
    let t = Instant::now();
    while m.state.lock().unwrap().stream_connects == 0 {
        assert!(
            t.elapsed() < Duration::from_secs(30),
            "capture never connected"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    kill(child.id().unwrap(), "-TERM");
    let status = tokio::time::timeout(Duration::from_secs(30), child.wait())
        .await
        .expect("trace record ends after SIGTERM")
        .unwrap();
    assert_eq!(status.code(), Some(0));
    assert!(out.exists(), "the trace was written");
}

/// Issue 13 finding 6: `run --scenario S --jobs 5` used to run the scenario's 50 jobs; `--jobs` is honoured,
/// and job-shape flags a scenario would override are refused (exit 2) instead of ignored.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_scenario_honours_jobs_and_refuses_shape_flags() {
    let smoke = repo().join("scenarios/smoke.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let args = argv!(
        "run --scenario",
        &smoke,
        "--jobs 5 --quiet --no-report --timeout 90s --out",
        &out
    );
    let r = run_bin(&args, 2 * MINUTE).await;
    assert!(matches!(r.code, Some(0 | 3)), "{:?} {}", r.code, r.stderr);
    let meta = stampede::files::record::read_meta(&out).unwrap();
    assert_eq!(meta.summary.jobs_submitted, 5, "{}", r.stderr);
    assert_eq!(meta.scenario.jobs, 5);
    assert_eq!(
        meta.summary.allocs_desired, 20,
        "5 jobs × the scenario's count 4"
    );
    for flag in [["--count", "3"], ["--cpu", "200"], ["--type", "service"]] {
        let args = argv!("run --scenario", &smoke, flag[0], flag[1], "--quiet");
        run_bin(&args, HALF_MINUTE)
            .await
            .exits(2)
            .says(&[flag[0], "--scenario"]);
    }
    let args = argv!("run --scenario", &smoke, "--jobs 0 --quiet");
    run_bin(&args, HALF_MINUTE)
        .await
        .exits(2)
        .says(&["between 1 and"]);
}

/// Issue 13 finding 5: `trace synth --days` has a documented upper bound (30 days, the longest span
/// stampede accepts); beyond it is a clear error naming the flag, before anything is generated or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_synth_days_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jsonl");
    for days in ["31", "4294967295", "0"] {
        let r = run_bin(
            &argv!("trace synth --days", days, "--out", &out),
            HALF_MINUTE,
        )
        .await;
        r.exits(2)
            .says(&[&format!("--days {days}: must be between 1 and 30")]);
        assert!(r.took < Duration::from_secs(10));
        assert!(!out.exists(), "nothing written for --days {days}");
    }
    assert_eq!(stampede::cli::trace::MAX_SYNTH_DAYS, 30);
}

/// Issue 13 finding 9b: `--wait placed` ends the run once everything is placed (the tasks still run), and
/// `--wait done` (the batch default) once everything finished; both are complete runs (exit 0).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_wait_placed_and_done() {
    let dir = tempfile::tempdir().unwrap();
    let mut finished = Vec::new();
    for wait in ["placed", "done"] {
        let out = dir.path().join(wait);
        let args = argv!(
            "run --jobs 10 --count 2 --type batch --duration 20s --wait",
            wait,
            "--quiet --no-report --timeout 120s --out",
            &out
        );
        run_bin(&args, Duration::from_secs(150)).await.exits(0);
        let rec = read_record(&out);
        assert_eq!(rec.meta.outcome, Outcome::Complete);
        assert_eq!(rec.meta.summary.allocs_placed, 20);
        assert!(rec
            .meta
            .notes
            .iter()
            .any(|n| n.contains(&format!("--wait {wait}"))));
        finished.push(rec.allocs.iter().filter(|a| a.done_ns.is_some()).count());
    }
    assert_eq!(finished[0], 0, "--wait placed does not wait for 20 s tasks");
    assert_eq!(finished[1], 20, "--wait done waits for every task");
    // A bad value names the flag and the choices (exit 2).
    run_bin(&argv!("run --wait finished"), HALF_MINUTE)
        .await
        .exits(2)
        .says(&["--wait", "placed, running, done"]);
}

/// `stampede bench soak` (issue 13, "a soak benchmark command"): starts `stampede emulate` and a run as
/// children, samples both from /proc, writes soak.json with slopes and totals, and leaves no process behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_soak_samples_both_processes_and_stops_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("soak");
    let child = bin_async()
        .args(argv!(
            "bench soak --minutes 0.2 --rate 20 --sample-every 1s",
            "--run-arg=--duration=1s --out",
            &out
        ))
        .spawn()
        .unwrap();
    let o = tokio::time::timeout(Duration::from_secs(180), child.wait_with_output())
        .await
        .expect("soak ended in time")
        .unwrap();
    let stdout = String::from_utf8_lossy(&o.stdout);
    let stderr = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(0), "{stdout}\n{stderr}");
    assert!(
        stdout.contains("KiB/min") && stdout.contains("fds/min"),
        "{stdout}"
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("soak.json")).unwrap()).unwrap();
    assert_eq!(v["jobs"], 240);
    assert_eq!(v["run_exit"], 0);
    for p in ["emulator", "runner"] {
        let samples = v[p]["samples"].as_array().unwrap();
        assert!(samples.len() >= 5, "{p}: {} samples", samples.len());
        assert!(samples
            .iter()
            .all(|x| x["rss_kb"].as_u64().unwrap() > 0 && x["fds"].as_u64().unwrap() >= 3));
        assert!(v[p]["rss_kb_per_min"].is_number() && v[p]["fds_per_min"].is_number());
        // The child is gone.
        let pid = v[p]["pid"].as_u64().unwrap();
        assert!(
            !Path::new(&format!("/proc/{pid}/status")).exists() || {
                let st = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
                st.contains("zombie") || !st.contains("stampede")
            },
            "{p} (pid {pid}) still running"
        );
    }
    let meta = stampede::files::record::read_meta(&out.join("run")).unwrap();
    assert_eq!(meta.summary.jobs_submitted, 240);
    // Bad input: exit 2, naming the flag.
    run_bin(&argv!("bench soak --minutes 0 --out", &out), HALF_MINUTE)
        .await
        .exits(2)
        .says(&["--minutes 0"]);
}
