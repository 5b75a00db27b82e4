//! Task starts cost CPU on the client host (`sim/src/cluster/client.rs`): a large job placed on few nodes
//! starts slower the dearer a start is and the fewer cores its hosts share.

use stampede_sim::scenario::Scenario;

use crate::scenarios::run;

/// One count-200 batch job on three client nodes sharing one host of `cores` cores (a loopback test
/// cluster), every task start costing `cost_us` of reference-core CPU.
fn big_job(cores: u32, cost_us: u64) -> Scenario {
    let text = format!(
        r#"
name = "hosts"
[cluster]
servers = 3
instance_type = "m5.2xlarge"
[[pools]]
instance_type = "loopback"
count = 3
cpu_mhz = {mhz}
memory_mb = 16000
cores = {cores}
nodes_per_host = 3
spot = false
[workload]
jobs = 1
type = "batch"
count = 200
cpu_mhz = 10
memory_mb = 16
duration = "2s"
image_size_mb = 0
[params]
client_task_start_cpu_us = {cost_us}
"#,
        mhz = 3000 * cores
    );
    Scenario::from_toml("hosts.toml", &text).unwrap()
}

/// Submit→running p99 of the job, ms.
fn p99(cores: u32, cost_us: u64) -> f64 {
    let rec = run(&big_job(cores, cost_us), 1);
    let s = &rec.meta.summary;
    assert_eq!(s.allocs_placed, 200);
    s.latency_ms.submit_to_running.p99
}

#[test]
fn a_large_jobs_starts_slow_down_with_start_cost_and_speed_up_with_cores() {
    let free = p99(2, 0);
    let cheap = p99(2, 20_000);
    let dear = p99(2, 100_000);
    // 200 starts × 100 ms on 2 cores: the last waits ≈ 10 s more than with free starts.
    assert!(cheap > free + 1_000.0, "{free} → {cheap}");
    assert!(dear > cheap + 4_000.0, "{cheap} → {dear}");
    assert!((dear - free - 10_000.0).abs() < 2_500.0, "{free} → {dear}");
    // Four times the cores: a quarter of the queueing.
    let dear8 = p99(8, 100_000);
    assert!(dear8 < dear - 5_000.0, "{dear} → {dear8} ms with 8 cores");
    assert!(dear8 > free, "{free} vs {dear8}");
}
