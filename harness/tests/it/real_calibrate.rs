//! Test (b) of issue 12 on the real loopback Nomad cluster (`tools/nomad/cluster.sh`, 3 servers, 3 raw_exec
//! clients): calibrate on count-1 jobs at two rates, then predict runs of other shapes (another rate, a
//! burst, a count-200 job) without refitting, and print the prediction errors of placement rate and
//! submit→running p50/p99 (`cargo test -p stampede --test it real_calibrate -- --nocapture`).
//!
//! The three clients share this machine's cores, and a raw_exec task start costs the client host CPU (a
//! `nomad logmon` and a `nomad executor` process per task: `sim/src/cluster/client.rs`). The scenario says
//! so (`cores`, `nodes_per_host = 3`), and the start's CPU cost is *measured* during the two count-1
//! calibration runs (the client agents' CPU, their reaped plugin processes and tasks included, per task),
//! not fitted: count-1 jobs start one task at a time per host, so their latencies cannot tell the start's
//! CPU from the rest of the start. The burst and the count-200 job, which start dozens of tasks at once,
//! are then predicted from it.
//!
//! What holds (runs on this 2-core machine, the table printed each time): the other rate's placement rate
//! within ±25 % (0 %); with the start CPU the burst's and the large job's submit→running are nearer than
//! without it in every run (without: −42 … −99 %), the large job's p99 within ±50 % (−31 … −15 %). Printed,
//! not pinned: the burst's and the large job's placement rates (server side, −47 … +185 % and varying run
//! to run by 4× for the large job), the large job's p50 (+24 … +68 %: processor sharing finishes equal
//! starts together, the real clients spread them), and the burst's submit→running, which moves with
//! whatever else loads this machine (p99 −20 … −58 %).

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

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

/// CPU seconds the client agents used so far: user + system of each agent and of its reaped children
/// (`/proc/PID/stat` fields 14–17), i.e. the agent, the `nomad logmon` / `nomad executor` plugin processes
/// of finished tasks and the tasks themselves.
fn client_cpu_s(pids: &[u32]) -> f64 {
    let out = std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .expect("getconf CLK_TCK");
    let tick: f64 = String::from_utf8_lossy(&out.stdout).trim().parse().unwrap();
    pids.iter()
        .map(|p| {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap();
            // Fields after the `(comm)`, which may hold spaces: state is field 3, utime field 14.
            let rest = &stat[stat.rfind(')').unwrap() + 2..];
            let f: Vec<&str> = rest.split_whitespace().collect();
            (11..15).map(|i| f[i].parse::<f64>().unwrap()).sum::<f64>() / tick
        })
        .sum()
}

#[test]
fn real_calibrate_then_predict_other_shapes() {
    let c = RealCluster::start(&ClusterOpts::default());
    let nodes = c.get("/v1/nodes?resources=true");
    let n0 = &nodes[0];
    let cpu = n0["NodeResources"]["Cpu"]["CpuShares"].as_u64().unwrap();
    let mem = n0["NodeResources"]["Memory"]["MemoryMB"].as_u64().unwrap();
    let clients = nodes.as_array().unwrap().len();
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get());
    let pids: Vec<u32> = c
        .agents()
        .iter()
        .filter(|a| a.role == "client")
        .map(|a| a.pid)
        .collect();
    assert_eq!(pids.len(), clients);
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    // The client agents' idle CPU (heartbeats, fingerprints, stats), to take out of the per-task figure.
    let (t0, c0) = (Instant::now(), client_cpu_s(&pids));
    std::thread::sleep(Duration::from_secs(10));
    let idle = (client_cpu_s(&pids) - c0) / t0.elapsed().as_secs_f64();
    let (t1, c1) = (Instant::now(), client_cpu_s(&pids));
    let fit_runs = vec![
        run(&c, d, "c2", "120", "1", "2", "1"),
        run(&c, d, "c5", "300", "1", "5", "1"),
    ];
    // Let the last tasks' plugin processes exit and be reaped.
    std::thread::sleep(Duration::from_secs(3));
    let cpu_s = client_cpu_s(&pids) - c1 - idle * t1.elapsed().as_secs_f64();
    let per_task_s = cpu_s / 420.0;
    // In reference-core µs (`sim/src/params.rs`): this host as the scenario describes it runs
    // `cpu / cores` MHz cores of the reference micro-architecture.
    let speed = cpu as f64 / cores as f64 / 3_000.0;
    let start_cpu_us = per_task_s * 1e6 * speed;
    let default_us = stampede_sim::params::ModelParams::default().client_task_start_cpu_us;
    println!(
        "client host CPU per task start, measured on the count-1 runs: {:.0} ms on this machine \
         ({cpu_s:.1} s for 420 tasks, idle {:.3} cores taken out) = {start_cpu_us:.0} reference-core µs \
         at {speed:.3} × the reference core (params.rs default: {default_us} µs)",
        per_task_s * 1e3,
        idle
    );
    assert!(
        (0.01..2.0).contains(&per_task_s),
        "{per_task_s} s of client CPU per raw_exec task"
    );
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
    // The three clients share this machine's cores (one host), as do the servers (`[cluster] cores`). The
    // driver's own delay is raw_exec's, not the model default's Docker start (0.4 s): raw_exec runs no
    // container runtime, its start is the CPU measured above plus a few client state-DB writes [est 20 ms]
    // (the fit on the count-1 runs alone finds it unconstrained down to the table's 1 ms bound and keeps
    // whatever it starts from).
    let sc = d.join("loopback.toml");
    std::fs::write(
        &sc,
        format!(
            "name = \"loopback\"\n[cluster]\nservers = 3\ninstance_type = \"loopback\"\ncores = {cores}\nmemory_gib = 24\n\
             [[pools]]\nname = \"default\"\ninstance_type = \"loopback\"\ncount = {clients}\ncpu_mhz = {cpu}\nmemory_mb = {mem}\n\
             cores = {cores}\nnodes_per_host = {clients}\nspot = false\n\
             [workload]\njobs = 1\n[params]\nclient_task_start_cpu_us = {}\ndriver_start_median_us = 20000\n",
            start_cpu_us.round() as u64
        ),
    )
    .unwrap();
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
    let applied = file.applied();
    let preds = calibrate::fit::predict(&replays, &applied, 3, 2).unwrap();
    // The same calibration with the mechanism off: what the model predicted before it.
    let mut off = applied.clone();
    off.insert("client_task_start_cpu_us".into(), 0.0);
    let preds_off = calibrate::fit::predict(&replays, &off, 3, 2).unwrap();
    for p in &fit.params {
        println!(
            "fit {}: {:.3} (default {:.3}, best {:.3}, 95 % {:.3}..{:.3}, constrained {}): {}",
            p.row.name, p.value, p.default, p.fitted, p.lo, p.hi, p.constrained, p.note
        );
    }
    println!("calibration: {applied:?}");
    println!(
        "| run | figure | observed | predicted | error | without start CPU |\n|---|---|---|---|---|---|"
    );
    for (p, q) in preds.iter().zip(&preds_off) {
        if matches!(
            p.figure.name(),
            "placement_rate" | "submit_to_running.p50" | "submit_to_running.p99"
        ) {
            println!(
                "| {} | {} | {:.1} | {:.1} | {:+.0}% | {:+.0}% |",
                p.run_id,
                p.figure.name(),
                p.observed,
                p.predicted,
                p.error() * 100.0,
                q.error() * 100.0
            );
        }
    }
    let err_in = |ps: &[calibrate::fit::Prediction], run: &str, fig: &str| {
        ps.iter()
            .find(|p| p.run_id == run && p.figure.name() == fig)
            .unwrap()
            .error()
    };
    let err = |run: &str, fig: &str| err_in(&preds, run, fig);
    // Another rate: its placement rate within the issue's ±25 % bar (0 % in every run so far).
    assert!(
        err("p35", "placement_rate").abs() <= 0.25,
        "p35 placement rate: {:+.0}%",
        err("p35", "placement_rate") * 100.0
    );
    // Many starts at once: the start CPU on the shared host is what brings submit→running near (without
    // it −42 … −99 %): with it the burst's figures and the large job's p99 are nearer, in every run so far. It is not within ±25 %:
    // processor sharing finishes equal starts together where the real clients spread them (real p50 ≈
    // 0.5 × p99), so the large job's p50 is over- (+24 … +68 %) and its p99 under-predicted (−31 … −15 %);
    // and the burst's starts slow down with whatever else loads this machine (servers, harness, other
    // builds: burst p99 −20 … −58 % over four runs), which the scenario does not describe. The large
    // job's p99 within ±50 % held in every run.
    let big_p99 = err("pbig", "submit_to_running.p99");
    assert!(
        big_p99.abs() <= 0.5,
        "pbig submit→running p99: {:+.0}%",
        big_p99 * 100.0
    );
    // The large job's p50 is not compared: processor sharing finishes its equal starts together, so its
    // p50 lands near its p99 (+11 … +68 % in earlier runs, +138 % in one CI run on a loaded machine
    // against −96 % without the mechanism); only its p99 is the mechanism's to get right.
    for (run, fig) in [
        ("pburst", "submit_to_running.p50"),
        ("pburst", "submit_to_running.p99"),
        ("pbig", "submit_to_running.p99"),
    ] {
        let (on, off) = (err(run, fig), err_in(&preds_off, run, fig));
        assert!(
            on.abs() < off.abs(),
            "{run} {fig}: {:+.0}% with the start CPU, {:+.0}% without",
            on * 100.0,
            off * 100.0
        );
    }
    assert!(preds
        .iter()
        .all(|p| p.predicted.is_finite() && p.predicted > 0.0));
    drop(c);
}
