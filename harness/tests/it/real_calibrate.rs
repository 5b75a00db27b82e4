//! Test (b) of issue 12 on the real loopback Nomad cluster (`tools/nomad/cluster.sh`, 3 servers, 3 raw_exec
//! clients): calibrate on count-1 jobs at two rates, then predict runs of other shapes (another rate, a
//! burst, a count-200 job) without refitting, and print the prediction errors of placement rate and
//! submit→running p50/p99. The model predicts the other rate; it has no mechanism for a client host that
//! starts raw_exec tasks more slowly the more it is asked to start at once (this 2-core machine), so the
//! burst and the large job miss by far: the table says so and the test pins only what the model can do.

use std::path::{Path, PathBuf};

use stampede::calibrate::{self, CalibrateRequest, FitOptions};

use super::real_cluster::{ClusterOpts, RealCluster};

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
        .args([
            "run",
            "--jobs",
            jobs,
            "--count",
            count,
            "--cpu",
            "10",
            "--memory",
            "16",
            "--duration",
            "2s",
            "--rate",
            rate,
            "--burst",
            burst,
            "--driver",
            "raw_exec",
            "--run-id",
            id,
            "--out",
        ])
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
    drop(c);
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
    // Another rate: within the issue's ±25 % bar.
    for fig in ["placement_rate", "submit_to_running.p50"] {
        assert!(
            err("p35", fig).abs() <= 0.25,
            "p35 {fig}: {:+.0}%",
            err("p35", fig) * 100.0
        );
    }
}
