//! `stampede plan --server-types … --server-counts …`: server sizing. A small server that cannot keep up
//! with a flood of small jobs loses to a bigger one however many clients it gets; when both keep up, the
//! cheaper one wins; bad flags fail naming the flag; a work unit of `plan --on-nomad` carries the servers;
//! the calibration reaches every server configuration's simulations.

use std::path::{Path, PathBuf};
use std::process::Command;

use clap::Parser;
use serde_json::Value;
use stampede::cost::prices::PriceTable;
use stampede::Opts;

/// A flood of small batch jobs (5 s, 100 MHz) at `rate` per second onto one server: Nomad 2.0.5 with a
/// plan-apply pipeline of 8 on instance-store NVMe (pinned, so the servers' Raft commit is not what limits
/// and their CPU is), clients plentiful at the top of the searched range. Scaled down (a few thousand
/// jobs) to keep the test short.
fn flood(dir: &Path, name: &str, jobs: u32, rate: u32) -> PathBuf {
    let p = dir.join(format!("{name}.toml"));
    std::fs::write(
        &p,
        format!(
            r#"name = "{name}"
seed = 1
[cluster]
nomad_version = "2.0.5"
servers = 1
instance_type = "c5.xlarge"
storage = "nvme-nitro"
[nomad]
plan_apply_pipeline = 8
[[pools]]
instance_type = "m5.4xlarge"
count = 16
[workload]
jobs = {jobs}
type = "batch"
count = 1
cpu_mhz = 100
memory_mb = 64
duration = "5s"
[workload.arrival]
mode = "open_loop"
rate_per_s = {rate}
"#
        ),
    )
    .unwrap();
    p
}

/// `stampede plan` on `sc` for a 3 s p95 queue wait, fleets of 4 to 32 nodes, one seed, plus `extra`.
fn plan_args(sc: &Path, out: &Path, extra: &[&str]) -> Vec<String> {
    sized_plan_args(sc, out, ("4", "32", "3"), extra)
}

/// As [`plan_args`] with (min nodes, max nodes, grid) given.
fn sized_plan_args(
    sc: &Path,
    out: &Path,
    (min, max, grid): (&str, &str, &str),
    extra: &[&str],
) -> Vec<String> {
    let mut a: Vec<String> = [
        "stampede",
        "plan",
        "--scenario",
        sc.to_str().unwrap(),
        "--slo",
        "queue_wait.p95 <= 3s",
        "--min-nodes",
        min,
        "--max-nodes",
        max,
        "--grid",
        grid,
        "--seeds",
        "1",
        "--threads",
        "2",
        "--quiet",
        "--out",
        out.to_str().unwrap(),
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    a.extend(extra.iter().map(|s| s.to_string()));
    a
}

fn read_json(p: &Path) -> Value {
    serde_json::from_str(&std::fs::read_to_string(p).unwrap()).unwrap()
}

fn server_config<'a>(plan: &'a Value, ty: &str, n: u64) -> &'a Value {
    plan["server_configs"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["server_type"] == ty && c["servers"] == n)
        .unwrap_or_else(|| panic!("no server config {n} × {ty}: {}", plan["server_configs"]))
}

fn candidates<'a>(plan: &'a Value, ty: &str, n: u64) -> Vec<&'a Value> {
    plan["candidates"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["server_type"] == ty && c["servers"] == n)
        .collect()
}

#[test]
fn a_small_server_misses_the_slo_and_the_plan_picks_the_bigger_one() {
    let d = tempfile::tempdir().unwrap();
    let sc = flood(d.path(), "flood-heavy", 6000, 1000);
    let out = d.path().join("plan");
    let code = stampede::run(Opts::parse_from(plan_args(
        &sc,
        &out,
        &["--server-types", "c5.xlarge,c5.4xlarge"],
    )))
    .unwrap();
    assert_eq!(code, 0, "a configuration meets the objective");
    let p = read_json(&out.join("plan.json"));
    // The recommendation: the bigger server, with its cheapest client fleet.
    let r = &p["recommended"];
    assert_eq!(r["server_type"], "c5.4xlarge", "{r}");
    assert_eq!(r["servers"], 1);
    assert_eq!(r["instance_type"], "m5.4xlarge", "existing fields stay");
    assert!(r["measured_max"].as_f64().unwrap() <= 3000.0, "{r}");
    // The small server missed at every client fleet, the largest included, with its CPU saturated …
    let small = candidates(&p, "c5.xlarge", 1);
    assert!(small.len() >= 3, "the whole grid was tried: {small:?}");
    assert!(small.iter().all(|c| c["meets"] == false), "{small:?}");
    let small_32 = small.iter().find(|c| c["nodes"] == 32).unwrap();
    let big_32 = candidates(&p, "c5.4xlarge", 1)
        .into_iter()
        .find(|c| c["nodes"] == 32)
        .unwrap();
    assert_eq!(big_32["meets"], true, "{big_32}");
    let cpu = |c: &Value| c["server_cpu_pct_max"].as_f64().unwrap();
    assert!(
        cpu(small_32) > 80.0 && cpu(big_32) < 50.0,
        "same clients, the small server saturated and the big one not: {} vs {}",
        cpu(small_32),
        cpu(big_32)
    );
    // … and the plan says so.
    let s = server_config(&p, "c5.xlarge", 1);
    assert_eq!(s["meets"], false);
    assert_eq!(s["recommended"], false);
    assert!(s["best"].is_null());
    let v = s["verdict"].as_str().unwrap();
    assert!(
        v.starts_with("missed the objective with every client fleet tried (4 to 32 nodes)"),
        "{v}"
    );
    assert!(v.contains("server CPU peaked at"), "{v}");
    assert!(
        v.contains("1 × c5.4xlarge servers met it with")
            && v.ends_with("the servers are the bottleneck"),
        "{v}"
    );
    // The server configurations as simulated: everything follows the type but the pinned storage.
    let b = server_config(&p, "c5.4xlarge", 1);
    assert_eq!(b["recommended"], true);
    assert_eq!(
        (b["cores"].as_u64(), b["num_schedulers"].as_u64()),
        (Some(16), Some(16))
    );
    assert_eq!(
        (b["mhz_per_core"].as_u64(), b["memory_gib"].as_f64()),
        (Some(3400), Some(32.0))
    );
    assert_eq!(b["storage"], "nvme-nitro");
    assert_eq!(b["pinned"], serde_json::json!(["storage"]));
    assert_eq!(s["cores"], 4);
    // Servers on demand (the clients are spot): 1 × 0.68 USD/h × 24 h.
    assert_eq!(b["usd_per_day"].as_f64(), Some(16.32));
    assert_eq!(s["usd_per_day"].as_f64(), Some(4.08));
    // plan.md and plan.html show the server dimension.
    let md = std::fs::read_to_string(out.join("plan.md")).unwrap();
    assert!(
        md.contains("**Recommended: ")
            && md.contains("with 1 × c5.4xlarge servers")
            && md.contains("## Client fleets with 1 × c5.xlarge servers")
            && md.contains("the servers are the bottleneck"),
        "{md}"
    );
    let html = std::fs::read_to_string(out.join("plan.html")).unwrap();
    assert!(
        html.contains("m5.4xlarge, 1 × c5.xlarge servers") && html.contains("## Servers"),
        "chart lines per server configuration: {html:.400}"
    );
}

#[test]
fn when_both_servers_meet_the_slo_the_cheaper_one_wins() {
    let d = tempfile::tempdir().unwrap();
    let sc = flood(d.path(), "flood-light", 1200, 200);
    let out = d.path().join("plan");
    // The expensive type first: the order given must not decide.
    let code = stampede::run(Opts::parse_from(plan_args(
        &sc,
        &out,
        &[
            "--server-types",
            "c5.4xlarge,c5.xlarge",
            "--server-counts",
            "3,1",
        ],
    )))
    .unwrap();
    assert_eq!(code, 0);
    let p = read_json(&out.join("plan.json"));
    let configs = p["server_configs"].as_array().unwrap();
    assert_eq!(configs.len(), 4);
    assert!(
        configs.iter().all(|c| c["meets"] == true),
        "a light load: every server configuration keeps up: {configs:?}"
    );
    let r = &p["recommended"];
    assert_eq!(
        (r["server_type"].as_str(), r["servers"].as_u64()),
        (Some("c5.xlarge"), Some(1)),
        "{r}"
    );
    // Every other configuration meets it too, at a higher price, and says by how much.
    for c in configs.iter().filter(|c| c["recommended"] == false) {
        let v = c["verdict"].as_str().unwrap();
        assert!(
            v.starts_with("meets the objective with")
                && v.ends_with("more than the recommendation"),
            "{v}"
        );
        assert!(
            c["best"]["usd_per_day"].as_f64() > r["usd_per_day"].as_f64(),
            "{c}"
        );
    }
    // Cost = client fleet + servers on demand × count; clients are the same for the same size.
    let prices = PriceTable::embedded();
    let od = |t: &str| prices.require(t, "us-east-1").unwrap().on_demand;
    for c in p["candidates"].as_array().unwrap() {
        let servers = c["servers"].as_f64().unwrap();
        let want =
            (od(c["server_type"].as_str().unwrap()) * servers * 24.0 * 100.0).round() / 100.0;
        assert_eq!(c["server_usd_per_day"].as_f64(), Some(want), "{c}");
    }
    // Same clients (32 nodes, on the grid of every configuration): the servers make the difference.
    let at32 = |t: &str, n: u64| {
        candidates(&p, t, n)
            .into_iter()
            .find(|c| c["nodes"] == 32)
            .unwrap()
            .clone()
    };
    let (big, small) = (at32("c5.4xlarge", 3), at32("c5.xlarge", 1));
    let f = |c: &Value, k: &str| c[k].as_f64().unwrap();
    let clients = |c: &Value| f(c, "usd_per_day") - f(c, "server_usd_per_day");
    assert!(
        (clients(&big) - clients(&small)).abs() <= 0.01 * clients(&small),
        "same client fleet, same client cost (up to node-hour rounding): {big} {small}"
    );
    let want = (od("c5.4xlarge") * 3.0 - od("c5.xlarge")) * 24.0;
    let diff = f(&big, "server_usd_per_day") - f(&small, "server_usd_per_day");
    assert!((diff - want).abs() < 0.011, "{diff} vs {want}");
}

/// A tiny scenario (one server) for the flag checks.
fn tiny(dir: &Path) -> PathBuf {
    let p = dir.join("tiny.toml");
    std::fs::write(
        &p,
        r#"name = "tiny"
[cluster]
servers = 1
instance_type = "m5.large"
[[pools]]
instance_type = "m5.xlarge"
count = 2
[workload]
jobs = 10
type = "batch"
count = 1
cpu_mhz = 500
memory_mb = 256
duration = "10s"
[workload.arrival]
mode = "all_at_once"
"#,
    )
    .unwrap();
    p
}

fn plan_bin(sc: &Path, out: &Path, extra: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(&sized_plan_args(sc, out, ("1", "2", "2"), extra)[1..])
        .output()
        .unwrap()
}

#[test]
fn bad_server_flags_fail_naming_the_flag() {
    let d = tempfile::tempdir().unwrap();
    let sc = tiny(d.path());
    let out = d.path().join("plan");
    for (extra, msg) in [
        (
            vec!["--server-types", "c5.xlarge,c5.huge"],
            "--server-types: unknown instance type `c5.huge` (the instance table knows",
        ),
        (
            vec!["--server-types", "c5.xlarge,"],
            "--server-types: an empty instance type",
        ),
        (
            vec!["--server-counts", "0"],
            "--server-counts 0: use 1 to 7 servers (Nomad runs 3 or 5)",
        ),
        (
            vec!["--server-counts", "3,9"],
            "--server-counts 9: use 1 to 7 servers (Nomad runs 3 or 5)",
        ),
        (
            vec!["--server-counts", "three"],
            "invalid value 'three' for '--server-counts",
        ),
    ] {
        let o = plan_bin(&sc, &out, &extra);
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(!o.status.success(), "{extra:?} must fail");
        assert_ne!(
            o.status.code(),
            Some(1),
            "an error, not an SLO miss: {extra:?}"
        );
        assert!(err.contains(msg), "{extra:?}: {err}");
        assert!(!err.contains("panicked"), "{err}");
        assert!(
            !out.join("plan.json").exists(),
            "no plan written for {extra:?}"
        );
    }
    // An even count is accepted (as the scenario accepts 1 to 7) with a warning in the plan.
    let o = plan_bin(&sc, &out, &["--server-counts", "4"]);
    assert!(
        o.status.code() == Some(0) || o.status.code() == Some(1),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    let p = read_json(&out.join("plan.json"));
    assert_eq!(p["server_configs"][0]["servers"], 4);
    assert_eq!(p["server_configs"][0]["server_type"], "m5.large");
    let notes = p["notes"].to_string();
    assert!(
        notes.contains("--server-counts 4") && notes.contains("Nomad runs 3 or 5"),
        "{notes}"
    );
}

/// `plan --on-nomad` ships `Work` items in its units: a worker given units with two server types answers
/// exactly what the local plan measured for those servers.
#[test]
fn a_work_unit_carries_the_servers_to_the_worker() {
    use stampede::distrib::plan::{run_worker, WorkUnit};
    use stampede::planner::{SeedResult, Work};
    let d = tempfile::tempdir().unwrap();
    let sc = flood(d.path(), "flood-unit", 6000, 1000);
    let out = d.path().join("plan");
    stampede::run(Opts::parse_from(sized_plan_args(
        &sc,
        &out,
        ("16", "16", "2"),
        &["--server-types", "c5.xlarge,c5.4xlarge"],
    )))
    .unwrap();
    let p = read_json(&out.join("plan.json"));
    let sc_abs = std::fs::canonicalize(&sc).unwrap();
    let work: Vec<Work> = ["c5.xlarge", "c5.4xlarge"]
        .iter()
        .map(|t| Work {
            server_type: t.to_string(),
            servers: 1,
            instance_type: "m5.4xlarge".into(),
            nodes: 16,
            seed: 1,
        })
        .collect();
    let unit = WorkUnit {
        version: env!("CARGO_PKG_VERSION").into(),
        unit: "r0-u0".into(),
        scenario_sha256: stampede::distrib::shard::sha256_hex(&std::fs::read(&sc_abs).unwrap()),
        scenario: sc_abs,
        trace: None,
        trace_sha256: None,
        slo: "queue_wait.p95 <= 3s".into(),
        seeds: 1,
        seed: 1,
        autoscale: false,
        threads: 2,
        work: work.clone(),
    };
    let unit_path = d.path().join("unit.json");
    std::fs::write(&unit_path, serde_json::to_string(&unit).unwrap()).unwrap();
    let text = std::fs::read_to_string(&unit_path).unwrap();
    assert!(text.contains("\"server_type\":\"c5.4xlarge\""), "{text}");
    let res = run_worker(&unit_path, &d.path().join("result.json")).unwrap();
    assert_eq!(res.work, work);
    let got: Vec<SeedResult> = res.results.iter().map(SeedResult::from).collect();
    for (w, g) in work.iter().zip(&got) {
        let local = candidates(&p, &w.server_type, 1)
            .into_iter()
            .find(|c| c["nodes"] == 16)
            .unwrap();
        let seed = &local["seeds"][0];
        assert_eq!(
            serde_json::to_value(g).unwrap(),
            *seed,
            "{} servers",
            w.server_type
        );
    }
    assert_ne!(
        got[0].server_cpu_pct_max, got[1].server_cpu_pct_max,
        "the two server types were simulated as such"
    );
}

/// `plan --calibration` simulates the candidates with the calibrated parameters (it once reached only the
/// scenario used for pricing): a calibration with a 20 s driver start delays every start by about that much.
#[test]
fn plan_calibration_reaches_the_simulated_candidates() {
    let d = tempfile::tempdir().unwrap();
    let sc = tiny(d.path());
    let cal = d.path().join("calibration.toml");
    std::fs::write(
        &cal,
        r#"[calibration]
date = "2026-11-29T00:00:00Z"
tool_version = "test"
seeds = 1
loss = "hand-written for a test"
intervals = "none"
loss_start = 1.0
loss_fitted = 0.5
dof = 1
birge_ratio = 1.0
evaluations = 1
simulations = 1
wall_s = 0.0

[[runs]]
path = "runs/a"
run_id = "a"
source = "nomad"
sha256 = "00"
allocs = 10

[params.driver_start_median_us]
value = 20000000.0
default = 0.0
fitted = 20000000.0
interval = [19000000.0, 21000000.0]
constrained = true
scale = "log"
bounds = [1000.0, 60000000.0]
figures = ["placed_to_running.p50"]
note = "test"
"#,
    )
    .unwrap();
    let plan = |extra: &[&str]| {
        let out = d.path().join(format!("plan{}", extra.len()));
        let mut a = sized_plan_args(&sc, &out, ("2", "2", "2"), extra);
        a[5] = "submit_to_running.p95 <= 600s".into();
        assert_eq!(a[4], "--slo");
        stampede::run(Opts::parse_from(a)).unwrap();
        let p = read_json(&out.join("plan.json"));
        p["candidates"][0]["measured_max"].as_f64().unwrap()
    };
    let plain = plan(&[]);
    let calibrated = plan(&["--calibration", cal.to_str().unwrap()]);
    assert!(
        calibrated >= plain + 15_000.0,
        "p95 submit → running: {plain} ms uncalibrated, {calibrated} ms with a 20 s driver start"
    );
}
