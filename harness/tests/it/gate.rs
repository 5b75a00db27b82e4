//! `stampede run` in a CI gate (issue 13, findings 1, 3 and 4): exit codes that tell the truth, `--timeout`
//! bounding the whole run, SIGTERM/SIGHUP handled like SIGINT, records that say how the run ended, and
//! `compare` refusing incomplete records. The real binary runs against the mock Nomad or the embedded
//! emulator, so exit codes and stderr are the ones a CI job sees.

use std::path::Path;
use std::process::Stdio;
use std::time::{Duration, Instant};

use clap::Parser;
use stampede_sim::record::Outcome;

use crate::mock_nomad::{MockConfig, MockNomad};
use crate::report::{make_record, write, Shape};

/// The binary, killed if the test drops it (a failing assert must not leave it running).
fn bin() -> tokio::process::Command {
    let mut c = tokio::process::Command::new(env!("CARGO_BIN_EXE_stampede"));
    c.env_remove("NOMAD_ADDR")
        .env_remove("NOMAD_TOKEN")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    c
}

struct Ran {
    code: Option<i32>,
    stderr: String,
    took: Duration,
}

/// Runs the binary to the end, bounded (a hang fails the test instead of wedging it).
async fn run_bin(args: &[&str], bound: Duration) -> Ran {
    let t = Instant::now();
    let child = bin().args(args).spawn().unwrap();
    let out = tokio::time::timeout(bound, child.wait_with_output())
        .await
        .unwrap_or_else(|_| panic!("stampede {args:?} did not end within {bound:?}"))
        .unwrap();
    Ran {
        code: out.status.code(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        took: t.elapsed(),
    }
}

fn outcome_of(dir: &Path) -> Outcome {
    stampede::files::record::read_meta(dir).unwrap().outcome
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_exit_2_when_every_submission_is_refused_with_400_and_no_retries() {
    // The embedded emulator validates like Nomad: priority 1000 is an HTTP 400 for every job.
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let r = run_bin(
        &[
            "run",
            "--priority",
            "1000",
            "--jobs",
            "4",
            "--workers",
            "2",
            "--no-report",
            "--out",
            s(&out),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("0 of 4 jobs submitted, 4 failed"),
        "counts on stderr: {}",
        r.stderr
    );
    assert!(r.stderr.contains("priority"), "the reason: {}", r.stderr);
    let meta = stampede::files::record::read_meta(&out).unwrap();
    assert_eq!(meta.outcome, Outcome::Partial);
    assert!(
        meta.notes
            .iter()
            .any(|n| n.starts_with("submission: 0 retries")),
        "a 400 is never retried: {:?}",
        meta.notes
    );
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
    let r = run_bin(
        &[
            "run",
            "--addr",
            &m.addr,
            "--jobs",
            "3",
            "--workers",
            "1",
            "--max-attempts",
            "2",
            "--no-report",
            "--no-metrics",
            "--out",
            s(&out),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(
        r.stderr.contains("0 of 3 jobs submitted, 3 failed"),
        "{}",
        r.stderr
    );
    assert!(r.stderr.contains("HTTP 500"), "{}", r.stderr);
    assert_eq!(m.state.lock().unwrap().register_calls, 6, "2 attempts each");

    // Every second register fails for good (no retries): the run is partial → 3.
    let m = MockNomad::start(MockConfig {
        fail_register_every: 2,
        ..Default::default()
    })
    .await;
    let out = dir.path().join("half");
    let r = run_bin(
        &[
            "run",
            "--addr",
            &m.addr,
            "--jobs",
            "4",
            "--workers",
            "1",
            "--max-attempts",
            "1",
            "--no-report",
            "--no-metrics",
            "--quiet",
            "--out",
            s(&out),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.stderr
            .contains("outcome partial: 2 of 4 jobs submitted, 2 failed, 0 never sent"),
        "counts on stderr even with --quiet: {}",
        r.stderr
    );
    assert_eq!(outcome_of(&out), Outcome::Partial);

    // A clean run of the same shape: 0 and outcome complete.
    let m = MockNomad::start(MockConfig::default()).await;
    let out = dir.path().join("ok");
    let r = run_bin(
        &[
            "run",
            "--addr",
            &m.addr,
            "--jobs",
            "4",
            "--workers",
            "2",
            "--no-report",
            "--no-metrics",
            "--quiet",
            "--out",
            s(&out),
            "--drain-timeout",
            "20s",
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(r.code, Some(0), "{}", r.stderr);
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
    let r = run_bin(
        &[
            "run",
            "--addr",
            &m.addr,
            "--jobs",
            "40",
            "--workers",
            "1",
            "--timeout",
            "5s",
            "--algorithm",
            "spread",
            "--no-report",
            "--out",
            s(&out),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(
        r.took < Duration::from_secs(12),
        "--timeout 5s ran {:?}: {}",
        r.took,
        r.stderr
    );
    assert!(r.stderr.contains("--timeout 5s ran out"), "{}", r.stderr);
    assert!(r.stderr.contains("outcome timed-out"), "{}", r.stderr);
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
    let r = run_bin(
        &[
            "run",
            "--addr",
            &m.addr,
            "--jobs",
            "2",
            "--drain-timeout",
            "2s",
            "--no-report",
            "--no-metrics",
            "--out",
            s(&out),
        ],
        Duration::from_secs(60),
    )
    .await;
    assert_eq!(r.code, Some(3), "{}", r.stderr);
    assert!(r.stderr.contains("--drain-timeout ran out"), "{}", r.stderr);
    assert!(
        r.stderr.contains("0 of 2 allocations placed"),
        "{}",
        r.stderr
    );
    let meta = stampede::files::record::read_meta(&out).unwrap();
    assert_eq!(meta.outcome, Outcome::TimedOut);
    assert!(
        meta.notes
            .iter()
            .any(|n| n.starts_with("--drain-timeout 2s ran out")),
        "{:?}",
        meta.notes
    );
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
        let mut child = bin()
            .args([
                "run",
                "--addr",
                &m.addr,
                "--jobs",
                "1000",
                "--rate",
                "20",
                "--algorithm",
                "spread",
                "--out",
                s(&out),
            ])
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
        let rec = stampede::files::record::read_record(&out).unwrap();
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
    let mut child = bin()
        .args([
            "run",
            "--addr",
            &m.addr,
            "--jobs",
            "1000",
            "--rate",
            "20",
            "--quiet",
            "--out",
            s(&out),
        ])
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
    let e = stampede::run(stampede::Opts::parse_from(["stampede", "report", s(&out)]));
    assert!(
        e.is_err(),
        "report of a killed run must not render the old record"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn run_rejects_a_run_id_that_escapes_reports() {
    let dir = tempfile::tempdir().unwrap();
    for id in ["../../x", "a/b", ".hidden", ""] {
        let r = run_bin(
            &["run", "--run-id", id, "--jobs", "1"],
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(r.code, Some(2), "{id}: {}", r.stderr);
        assert!(r.stderr.contains("--run-id"), "{id}: {}", r.stderr);
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
    let cmp = |extra: &[&str]| {
        let mut v = vec!["stampede", "compare", s(&base), s(&new)];
        v.extend_from_slice(extra);
        stampede::run(stampede::Opts::parse_from(v))
    };
    let e = format!("{:#}", cmp(&[]).unwrap_err());
    assert!(
        e.contains("incomplete run (outcome `interrupted`") && e.contains("--allow-incomplete"),
        "{e}"
    );
    assert_eq!(cmp(&["--allow-incomplete"]).unwrap(), 0);
    // The binary maps the refusal to exit 2.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(["compare", s(&base), s(&new)])
        .output()
        .unwrap();
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
        let mut args = vec![
            "run",
            "--addr",
            &m.addr,
            "--jobs",
            "1",
            "--quiet",
            "--no-report",
            "--out",
            s(&out),
        ];
        args.extend(flag);
        let r = run_bin(&args, Duration::from_secs(60)).await;
        assert_eq!(r.code, Some(0), "{flag:?}: {}", r.stderr);
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
    let mut child = bin()
        .args([
            "trace",
            "record",
            "--addr",
            &m.addr,
            "--duration",
            "1h",
            "--out",
            s(&out),
        ])
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
    let smoke =
        std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../scenarios/smoke.toml");
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("r");
    let r = run_bin(
        &[
            "run",
            "--scenario",
            s(&smoke),
            "--jobs",
            "5",
            "--quiet",
            "--no-report",
            "--timeout",
            "90s",
            "--out",
            s(&out),
        ],
        Duration::from_secs(120),
    )
    .await;
    assert!(matches!(r.code, Some(0 | 3)), "{:?} {}", r.code, r.stderr);
    let meta = stampede::files::record::read_meta(&out).unwrap();
    assert_eq!(meta.summary.jobs_submitted, 5, "{}", r.stderr);
    assert_eq!(meta.scenario.jobs, 5);
    assert_eq!(
        meta.summary.allocs_desired, 20,
        "5 jobs × the scenario's count 4"
    );
    for flag in [["--count", "3"], ["--cpu", "200"], ["--type", "service"]] {
        let r = run_bin(
            &["run", "--scenario", s(&smoke), flag[0], flag[1], "--quiet"],
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(r.code, Some(2), "{flag:?}: {}", r.stderr);
        assert!(
            r.stderr.contains(flag[0]) && r.stderr.contains("--scenario"),
            "{flag:?}: {}",
            r.stderr
        );
    }
    let r = run_bin(
        &["run", "--scenario", s(&smoke), "--jobs", "0", "--quiet"],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("between 1 and"), "{}", r.stderr);
}

/// Issue 13 finding 5: `trace synth --days` has a documented upper bound (30 days, the longest span
/// stampede accepts); beyond it is a clear error naming the flag, before anything is generated or written.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trace_synth_days_is_bounded() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("t.jsonl");
    for days in ["31", "4294967295", "0"] {
        let r = run_bin(
            &["trace", "synth", "--days", days, "--out", s(&out)],
            Duration::from_secs(30),
        )
        .await;
        assert_eq!(r.code, Some(2), "--days {days}: {}", r.stderr);
        assert!(
            r.stderr
                .contains(&format!("--days {days}: must be between 1 and 30")),
            "{}",
            r.stderr
        );
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
        let r = run_bin(
            &[
                "run",
                "--jobs",
                "10",
                "--count",
                "2",
                "--type",
                "batch",
                "--duration",
                "20s",
                "--wait",
                wait,
                "--quiet",
                "--no-report",
                "--timeout",
                "120s",
                "--out",
                s(&out),
            ],
            Duration::from_secs(150),
        )
        .await;
        assert_eq!(r.code, Some(0), "--wait {wait}: {}", r.stderr);
        let rec = stampede::files::record::read_record(&out).unwrap();
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
    let r = run_bin(&["run", "--wait", "finished"], Duration::from_secs(30)).await;
    assert_eq!(r.code, Some(2));
    assert!(
        r.stderr.contains("--wait") && r.stderr.contains("placed, running, done"),
        "{}",
        r.stderr
    );
}

/// `stampede bench soak` (issue 13, "a soak benchmark command"): starts `stampede emulate` and a run as
/// children, samples both from /proc, writes soak.json with slopes and totals, and leaves no process behind.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bench_soak_samples_both_processes_and_stops_them() {
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("soak");
    let child = bin()
        .args([
            "bench",
            "soak",
            "--minutes",
            "0.2",
            "--rate",
            "20",
            "--sample-every",
            "1s",
            "--run-arg=--duration=1s",
            "--out",
            s(&out),
        ])
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
    let r = run_bin(
        &["bench", "soak", "--minutes", "0", "--out", s(&out)],
        Duration::from_secs(30),
    )
    .await;
    assert_eq!(r.code, Some(2), "{}", r.stderr);
    assert!(r.stderr.contains("--minutes 0"), "{}", r.stderr);
}
