//! Test (b) of issue 12 on the real loopback Nomad cluster (`tools/nomad/cluster.sh`, 3 servers, 3 raw_exec
//! clients): calibrate on count-1 jobs at two rates, then predict runs of other shapes (another rate, a
//! burst, a count-200 job) without refitting, and print the prediction errors of placement rate and
//! submit→running p50/p99 (`cargo test -p stampede --test it real_calibrate -- --nocapture`). The model
//! has no mechanism for a client host that starts raw_exec tasks more slowly the more it is asked to start
//! at once (this 2-core machine, shared with the servers and the harness), so submit→running of the burst
//! and the large job miss by far (−50 %, −96 %): the table says so and the test pins only what holds.

use std::path::{Path, PathBuf};

use stampede::calibrate::{self, CalibrateRequest, FitOptions};

use super::real_cluster::{ClusterOpts, RealCluster};

use crate::common::argv;

fn run(
    c: &RealCluster,
    dir: &Path,
    id: &str,
    jobs: &str,
    count: &str,
    rate: &str,
    burst: &str,
) -> PathBuf {
    let out = dir.join(id);
    let st = c
        .stampede(true)
        .args(argv!(
            "run --jobs",
            jobs,
            "--count",
            count,
            "--cpu 10 --memory 16 --duration 2s --rate",
            rate,
            "--burst",
            burst,
            "--driver raw_exec --run-id",
            id,
            "--out"
        ))
        .arg(&out)
        .args(["--no-report", "--quiet", "--cleanup", "--timeout", "300s"])
        .status()
        .unwrap();
    assert_eq!(st.code(), Some(0), "stampede run {id}");
    out
}

#[test]
fn real_calibrate_then_predict_other_shapes() {
    let c = RealCluster::start(&ClusterOpts::default());
    let nodes = c.get("/v1/nodes?resources=true");
    let n0 = &nodes[0];
    let cpu = n0["NodeResources"]["Cpu"]["CpuShares"].as_u64().unwrap();
    let mem = n0["NodeResources"]["Memory"]["MemoryMB"].as_u64().unwrap();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let sc = d.join("loopback.toml");
    std::fs::write(
        &sc,
        format!(
            "name = \"loopback\"\n[cluster]\nservers = 3\ninstance_type = \"loopback\"\ncores = {cores}\nmemory_gib = 24\n\
             [[pools]]\nname = \"default\"\ninstance_type = \"loopback\"\ncount = {}\ncpu_mhz = {cpu}\nmemory_mb = {mem}\nspot = false\n\
             [workload]\njobs = 1\n",
            nodes.as_array().unwrap().len()
        ),
    )
    .unwrap();
    let fit_runs = vec![
        run(&c, d, "c2", "120", "1", "2", "1"),
        run(&c, d, "c5", "300", "1", "5", "1"),
    ];
    let predict_runs = [
        (
            "another rate (3.5/s)",
            run(&c, d, "p35", "120", "1", "3.5", "1"),
        ),
        (
            "burst (3 × 20 jobs)",
            run(&c, d, "pburst", "60", "1", "20", "20"),
        ),
        (
            "one count-200 job",
            run(&c, d, "pbig", "1", "200", "1", "1"),
        ),
    ];
    // The cluster (and the real-time tests' lock it holds) stays until the fit and predictions are done.
    let req = CalibrateRequest {
        runs: fit_runs,
        scenario: Some(sc.clone()),
        params: None,
        fit: FitOptions::default(),
    };
    let (file, fit) = calibrate::calibrate(&req, &|_| {}).unwrap();
    assert!(
        fit.params.iter().any(|p| p.constrained),
        "some parameter is pinned by real runs"
    );
    assert!(fit.loss_fitted < fit.loss_start);
    let base = stampede::files::load_scenario(&sc, 1.0).unwrap();
    let replays: Vec<_> = predict_runs
        .iter()
        .map(|(_, p)| calibrate::workload::load(p, Some(&base)).unwrap())
        .collect();
    let preds = calibrate::fit::predict(&replays, &file.applied(), 3, 2).unwrap();
    println!("calibration: {:?}", file.applied());
    println!("| run | figure | observed | predicted | error |\n|---|---|---|---|---|");
    for p in &preds {
        if matches!(
            p.figure.name(),
            "placement_rate" | "submit_to_running.p50" | "submit_to_running.p99"
        ) {
            println!(
                "| {} | {} | {:.1} | {:.1} | {:+.0}% |",
                p.run_id,
                p.figure.name(),
                p.observed,
                p.predicted,
                p.error() * 100.0
            );
        }
    }
    let err = |run: &str, fig: &str| {
        preds
            .iter()
            .find(|p| p.run_id == run && p.figure.name() == fig)
            .unwrap()
            .error()
    };
    // Another rate: its placement rate within the issue's ±25 % bar. Its submit→running is printed, not
    // pinned: on this shared 2-core machine raw_exec task starts slow down with the machine's load (two
    // runs of this test: +14 % and −36 % at p50), which no server-side parameter can absorb.
    assert!(
        err("p35", "placement_rate").abs() <= 0.25,
        "p35 placement rate: {:+.0}%",
        err("p35", "placement_rate") * 100.0
    );
    // The large job and the burst are printed as the known misses (see the module docs).
    assert!(preds
        .iter()
        .all(|p| p.predicted.is_finite() && p.predicted > 0.0));
    drop(c);
}
