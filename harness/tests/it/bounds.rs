//! Issue 13 findings 2, 5 and 6 at the command boundary: bounded durations, counts and speeds, refused
//! contradictions, special output files.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use clap::Parser;
use stampede::emulator::{self, EmulatorConfig};
use stampede::Opts;

use crate::common::argv;

fn repo(p: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("..").join(p)
}

fn parse_err<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> String {
    Opts::try_parse_from(args.iter().map(|a| a.as_ref()))
        .map(|_| String::new())
        .unwrap_or_else(|e| e.to_string())
}

#[test]
fn huge_durations_are_clear_errors_not_instant_overflow() {
    let smoke = repo("scenarios/smoke.toml");
    let smoke = smoke.to_str().unwrap();
    let huge = "18446744073709551615s";
    for args in [
        argv!("stampede run --scenario", smoke, "--timeout", huge),
        argv!("stampede run --scenario", smoke, "--drain-timeout", huge),
        argv!("stampede emulate --scenario", smoke, "--heartbeat", huge),
        argv!("stampede emulate --scenario", smoke, "--heartbeat 31days"),
    ] {
        let e = parse_err(&args);
        assert!(
            e.contains("beyond the bound of 2592000 s (30 days)"),
            "{args:?}: {e}"
        );
    }
    // 30 days itself is accepted.
    assert!(Opts::try_parse_from(argv!(
        "stampede emulate --scenario",
        smoke,
        "--heartbeat 30days"
    ))
    .is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn emulator_refuses_absurd_speeds_and_counts_and_stays_responsive() {
    let sc =
        stampede::files::load_scenario(&repo("harness/tests/fixtures/emulator-small.toml"), 1.0)
            .unwrap();
    for speed in [1e7, 1e12, f64::INFINITY, 0.0] {
        let mut c = EmulatorConfig::new(sc.clone());
        c.listen = "127.0.0.1:0".parse().unwrap();
        c.speed = speed;
        let e = emulator::start(c)
            .await
            .err()
            .expect("speed must be refused");
        assert!(format!("{e:#}").contains("--speed"), "{e:#}");
    }
    // At the highest speed allowed the emulator still answers, and refuses a billion allocations like
    // Nomad's job_max_count (no 16 GB allocation).
    let mut c = EmulatorConfig::new(sc);
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.speed = stampede_sim::limits::MAX_SPEED;
    let h = emulator::start(c).await.unwrap();
    let http = reqwest::Client::new();
    let job = serde_json::json!({"Job": {"ID": "huge", "Type": "batch", "Datacenters": ["dc1"],
        "TaskGroups": [{"Name": "g", "Count": 1_000_000_000u64,
            "Tasks": [{"Name": "t", "Driver": "docker", "Resources": {"CPU": 100, "MemoryMB": 64}}]}]}});
    let t0 = Instant::now();
    let r = http
        .put(format!("{}/v1/jobs", h.url()))
        .json(&job)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    let status = r.status().as_u16();
    let body = r.text().await.unwrap();
    assert_eq!(status, 500, "{body}");
    assert!(body.contains("job_max_count: 1000000000 > 50000"), "{body}");
    let r = http
        .get(format!("{}/v1/status/leader", h.url()))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert!(r.status().is_success());
    assert!(t0.elapsed() < Duration::from_secs(10));
    let t1 = Instant::now();
    h.shutdown().await;
    assert!(
        t1.elapsed() < Duration::from_secs(5),
        "shutdown took {:?}",
        t1.elapsed()
    );
}

#[test]
fn hcl_counts_are_bounded_naming_file_and_line() {
    let p = repo("jobs/c2m.nomad.hcl");
    let text = std::fs::read_to_string(&p).unwrap();
    let vars = BTreeMap::from([("count".to_string(), "1000000000".to_string())]);
    let e = stampede::jobspec::hcl_to_job("c2m.nomad.hcl", &text, &vars).unwrap_err();
    let msg = format!("{e:#}");
    assert!(msg.contains("c2m.nomad.hcl:25: `count`"), "{msg}");
    assert!(msg.contains("0..=50000"), "{msg}");
}

#[test]
fn plan_max_nodes_is_bounded() {
    let req = stampede::planner::PlanRequest {
        max_nodes: 4_000_000_000,
        threads: Some(1),
        ..crate::plan::request(repo("scenarios/smoke.toml"), "queue_wait.p95 <= 60s")
    };
    let e = stampede::planner::plan(&req, &mut |_| {}).unwrap_err();
    assert!(
        format!("{e:#}").contains("--max-nodes 4000000000 is beyond the bound of 100000"),
        "{e:#}"
    );
}

fn sim_record(dir: &Path) -> PathBuf {
    let out = dir.join("rec");
    let code = stampede::run(Opts::parse_from(argv!(
        "stampede sim --scenario",
        &repo("scenarios/smoke.toml"),
        "--out",
        &out,
        "--scale 0.05"
    )))
    .unwrap();
    assert_eq!(code, 0);
    out
}

#[test]
fn report_of_an_absurd_duration_is_an_error_not_an_allocation() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = sim_record(tmp.path());
    let run_json = rec.join("run.json");
    let text = std::fs::read_to_string(&run_json).unwrap();
    let mut v: serde_json::Value = serde_json::from_str(&text).unwrap();
    for d in ["1e308", "1e9", "-1"] {
        v["duration_s"] = serde_json::from_str(d).unwrap();
        std::fs::write(&run_json, serde_json::to_string(&v).unwrap()).unwrap();
        let t0 = Instant::now();
        let e = stampede::run(Opts::parse_from([
            "stampede",
            "report",
            rec.to_str().unwrap(),
        ]))
        .unwrap_err();
        let msg = format!("{e:#}");
        assert!(
            msg.contains("run.json") && msg.contains("duration_s"),
            "{msg}"
        );
        assert!(t0.elapsed() < Duration::from_secs(5));
    }
}

#[test]
fn trace_synth_format_must_match_the_extension() {
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path().join("x.jsonl");
    let e = stampede::run(Opts::parse_from(argv!(
        "stampede trace synth --format csv --out",
        &out
    )))
    .unwrap_err();
    assert!(
        format!("{e:#}").contains("--format csv contradicts the extension"),
        "{e:#}"
    );
    assert!(!out.exists());
}

#[test]
fn trace_synth_to_dev_null_and_dev_full_keeps_the_devices() {
    use std::os::unix::fs::FileTypeExt;
    let code = stampede::run(Opts::parse_from(argv!(
        "stampede trace synth --format csv --out /dev/null"
    )))
    .unwrap();
    assert_eq!(code, 0);
    let e = stampede::run(Opts::parse_from(argv!(
        "stampede trace synth --out /dev/full"
    )))
    .unwrap_err();
    assert!(format!("{e:#}").contains("/dev/full"), "{e:#}");
    for dev in ["/dev/null", "/dev/full"] {
        assert!(std::fs::symlink_metadata(dev)
            .unwrap()
            .file_type()
            .is_char_device());
    }
}
