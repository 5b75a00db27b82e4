//! `stampede plan`: the capacity search as a library call (no clap) and through the CLI, with its files.

use std::path::{Path, PathBuf};

use clap::Parser;
use stampede::planner::{self, parse_slo, PlanRequest};
use stampede::Opts;

use crate::common::argv;

/// `jobs` one-minute jobs of 2 GHz arriving at once on m5 fleets: a fleet that holds them all at once has
/// no queue wait; a much smaller one makes the last jobs wait a whole run time or more. Written to
/// `dir/<name>.toml`.
pub fn write_scenario(dir: &Path, name: &str, jobs: u32) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    let text = format!(
        r#"name = "{name}"
seed = 1
[cluster]
servers = 1
instance_type = "m5.large"
[[pools]]
instance_type = "m5.xlarge"
count = 4
[workload]
jobs = {jobs}
type = "batch"
count = 1
cpu_mhz = 2000
memory_mb = 256
duration = "60s"
[workload.arrival]
mode = "all_at_once"
"#
    );
    std::fs::write(&p, text).unwrap();
    p
}

fn scenario(dir: &Path) -> PathBuf {
    write_scenario(dir, "plan-small", 40)
}

/// A small search (up to 24 nodes, 4 grid points, one seed, 2 threads).
pub fn request(scenario: PathBuf, slo: &str) -> PlanRequest {
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
        stampede::run(Opts::parse_from(argv!(
            "stampede plan --scenario",
            &sc,
            "--slo",
            slo,
            "--max-nodes",
            max,
            "--grid 3 --seeds 1 --threads 2 --quiet --out",
            &out
        )))
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
