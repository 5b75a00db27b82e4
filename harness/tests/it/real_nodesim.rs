//! Many simulated client nodes against 3 real servers: `tools/nomad/nodesim` (real Nomad client library,
//! mock driver, in-memory state) registers 1,000 nodes that keep heartbeating, and allocations placed on
//! them run; prints what the simulator costs in CPU and memory.

use std::time::{Duration, Instant};

use crate::common::argv;
use crate::real_cluster::{ClusterOpts, RealCluster};

const NODES: usize = 1000;

fn ready_nodes(c: &RealCluster) -> (usize, usize) {
    let nodes = c.get("/v1/nodes");
    let nodes = nodes.as_array().unwrap();
    (
        nodes.iter().filter(|n| n["Status"] == "ready").count(),
        nodes.len(),
    )
}

#[test]
fn thousand_simulated_nodes_heartbeat_and_run_allocations() {
    let c = RealCluster::start(&ClusterOpts {
        clients: 0,
        nodesim: NODES as u32,
        ..Default::default()
    });
    eprintln!(
        "cluster with {NODES} simulated nodes ready in {:.1} s",
        c.started_in.as_secs_f64()
    );
    let sim_pid: u32 = std::fs::read_to_string(c.path("nodesim.pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert_eq!(ready_nodes(&c), (NODES, NODES));

    // Hold for longer than a heartbeat TTL plus grace (Nomad: TTL = max(10 s, nodes / 50 per s) = 20 s,
    // + 10 s grace): a node that stopped heartbeating would be marked down by then. Measure meanwhile.
    let servers: Vec<u32> = c
        .agents()
        .iter()
        .filter(|a| a.role == "server")
        .map(|a| a.pid)
        .collect();
    let (cpu0, _) = RealCluster::proc_usage(sim_pid).unwrap();
    let srv0: f64 = servers
        .iter()
        .map(|p| RealCluster::proc_usage(*p).unwrap().0)
        .sum();
    let t = Instant::now();
    std::thread::sleep(Duration::from_secs(35));
    let dt = t.elapsed().as_secs_f64();
    let (cpu1, rss) = RealCluster::proc_usage(sim_pid).expect("nodesim still running");
    let srv1: f64 = servers
        .iter()
        .map(|p| RealCluster::proc_usage(*p).unwrap().0)
        .sum();
    let srv_rss: u64 = servers
        .iter()
        .map(|p| RealCluster::proc_usage(*p).unwrap().1)
        .sum();
    let (ready, total) = ready_nodes(&c);
    eprintln!(
        "nodesim: {NODES} nodes, {:.1}% of one core, RSS {:.0} MiB ({:.2} MiB/node); 3 servers: {:.1}% of one core, RSS {:.0} MiB in all",
        100.0 * (cpu1 - cpu0) / dt,
        rss as f64 / 1048576.0,
        rss as f64 / 1048576.0 / NODES as f64,
        100.0 * (srv1 - srv0) / dt,
        srv_rss as f64 / 1048576.0
    );
    assert_eq!((ready, total), (NODES, NODES), "nodes still heartbeating");

    // Allocations placed on simulated nodes run (mock driver), measured by stampede run.
    let out = tempfile::tempdir().unwrap();
    let dir = out.path().join("on-sim");
    let mut cmd = c.stampede(true);
    cmd.args(argv!(
        "run --jobs 10 --count 10 --driver mock_driver --duration 2s",
        "--cpu 100 --memory 64 --workers 4 --algorithm spread --cleanup",
        "--quiet --no-report --timeout 3m --drain-timeout 2m --run-id nodesim"
    ))
    .arg("--out")
    .arg(&dir);
    let o = cmd.output().unwrap();
    assert!(o.status.success(), "{}", String::from_utf8_lossy(&o.stderr));
    let rec = stampede::files::record::read_record(&dir).unwrap();
    let s = &rec.meta.summary;
    assert_eq!(s.allocs_placed, 100);
    assert_eq!(s.allocs_running, 100);
    let nodes: std::collections::BTreeSet<&str> =
        rec.allocs.iter().map(|a| a.node_id.as_str()).collect();
    assert!(
        nodes.len() >= 80,
        "spread over simulated nodes: {}",
        nodes.len()
    );
    eprintln!(
        "100 mock-driver allocations on simulated nodes: placement rate {:.0}/s, submit→running p50 {:.0} ms p99 {:.0} ms",
        s.placement_rate_per_s, s.latency_ms.submit_to_running.p50, s.latency_ms.submit_to_running.p99
    );
}
