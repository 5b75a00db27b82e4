//! `stampede plan`: the capacity search as a library call (no clap) and through the CLI, with its files.

use std::path::{Path, PathBuf};

use clap::Parser;
use stampede::planner::{self, parse_slo, PlanRequest};
use stampede::Opts;

/// 40 one-minute jobs of 2 GHz arriving at once: a fleet that holds them all at once has no queue wait; a
/// much smaller one makes the last jobs wait a whole run time or more.
const SCENARIO: &str = r#"name = "plan-small"
seed = 1
[cluster]
servers = 1
instance_type = "m5.large"
[[pools]]
instance_type = "m5.xlarge"
count = 4
[workload]
jobs = 40
type = "batch"
count = 1
cpu_mhz = 2000
memory_mb = 256
duration = "60s"
[workload.arrival]
mode = "all_at_once"
"#;

fn scenario(dir: &Path) -> PathBuf {
    let p = dir.join("plan-small.toml");
    std::fs::write(&p, SCENARIO).unwrap();
    p
}

fn request(scenario: PathBuf, slo: &str) -> PlanRequest {
    PlanRequest {
        scenario,
        trace: None,
        slo: parse_slo(slo).unwrap(),
        instance_types: Vec::new(),
        server_types: Vec::new(),
        server_counts: Vec::new(),
        max_nodes: 24,
        min_nodes: 1,
        grid: 4,
        seeds: 1,
        seed: 1,
        autoscale: false,
        on_demand: false,
        prices: None,
        threads: Some(2),
        calibration: None,
    }
}

#[test]
fn library_search_finds_the_smallest_fleet_that_meets_the_slo() {
    let d = tempfile::tempdir().unwrap();
    let req = request(scenario(d.path()), "queue_wait.p95 <= 30s");
    let mut progress = Vec::new();
    let p = planner::plan(&req, &mut |m| progress.push(m.to_string())).unwrap();
    assert!(!progress.is_empty(), "the search reports progress");
    assert_eq!(p.slo.key, "queue_wait_p95_ms");
    assert_eq!(p.slo.threshold, 30_000.0);
    let r = p
        .recommended
        .as_ref()
        .expect("24 nodes hold every job at once");
    assert_eq!(r.instance_type, "m5.xlarge");
    assert!(r.measured_max <= 30_000.0, "{r:?}");
    // The bisection closed the gap: the next smaller size was evaluated and missed.
    let smaller = p
        .candidates
        .iter()
        .find(|c| c.nodes + 1 == r.nodes)
        .unwrap_or_else(|| panic!("size {} − 1 was not evaluated: {:?}", r.nodes, p.candidates));
    assert!(!smaller.meets, "{smaller:?}");
    // One node cannot run 40 × 2 GHz at once: the last jobs wait at least one run time.
    let one = p.candidates.iter().find(|c| c.nodes == 1).unwrap();
    assert!(!one.meets && one.measured_max >= 60_000.0, "{one:?}");
    // Same request, same plan (common random numbers, deterministic simulator).
    let again = planner::plan(&req, &mut |_| {}).unwrap();
    assert_eq!(
        serde_json::to_value(&again.candidates).unwrap(),
        serde_json::to_value(&p.candidates).unwrap()
    );
}

#[test]
fn cli_writes_plan_files_and_exits_by_verdict() {
    let d = tempfile::tempdir().unwrap();
    let sc = scenario(d.path());
    let out = d.path().join("plan");
    let run = |slo: &str, max: &str| {
        stampede::run(Opts::parse_from([
            "stampede",
            "plan",
            "--scenario",
            sc.to_str().unwrap(),
            "--slo",
            slo,
            "--max-nodes",
            max,
            "--grid",
            "3",
            "--seeds",
            "1",
            "--threads",
            "2",
            "--quiet",
            "--out",
            out.to_str().unwrap(),
        ]))
    };
    assert_eq!(run("submit_to_running_p95_ms <= 30000", "24").unwrap(), 0);
    let json: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("plan.json")).unwrap()).unwrap();
    assert_eq!(json["slo"]["key"], "submit_to_running_p95_ms");
    assert!(json["recommended"]["nodes"].as_u64().unwrap() > 1);
    let md = std::fs::read_to_string(out.join("plan.md")).unwrap();
    assert!(md.contains("**Recommended: "), "{md}");
    let html = std::fs::read_to_string(out.join("plan.html")).unwrap();
    assert!(
        html.contains("<svg") && html.contains("&lt;= 30000"),
        "escaped objective and the chart: {html:.300}"
    );
    // Too small a fleet to meet the objective: exit 1, still a plan.
    assert_eq!(
        run("queue_wait.p95 <= 30s", "2").unwrap(),
        stampede::EXIT_FAIL
    );
    // Objectives in the shared metric vocabulary; errors name the objective.
    for (slo, msg) in [
        ("latency.p95 <= 60s", "unknown metric `latency.p95`"),
        ("placement_rate <= 5", "better when higher"),
        ("servers.cpu_pct_max <= 1h", "not a duration"),
        ("queue_wait.p95 < 60s", "expected `METRIC <= VALUE`"),
    ] {
        let e = format!("{:#}", run(slo, "4").unwrap_err());
        assert!(e.contains(msg), "{slo}: {e}");
    }
}
