//! Scheduling mechanics: partial commit, blocked evals and unblocking, AllAtOnce, limit iterator in
//! practice, spread vs binpack placement.

use stampede_sim::api::{ChangeKind, EvalStatus, GroupSpec, JobSpec, RunPlan};
use stampede_sim::cluster::{Cluster, ClusterOptions};
use stampede_sim::scenario::{JobType, RunDuration, Scenario};

fn scenario(extra: &str) -> Scenario {
    let text = format!(
        r#"
name = "t"
[cluster]
servers = 3
instance_type = "m5.2xlarge"
num_schedulers = 4
algorithm = "binpack"
[[pools]]
instance_type = "m5.large"
cpu_mhz = 1000
memory_mb = 1000
count = 1
[workload]
jobs = 1
{extra}
"#
    );
    Scenario::from_toml("t.toml", &text).unwrap()
}

fn job(id: &str, count: u32, cpu: u32, run_s: u64, all_at_once: bool) -> JobSpec {
    JobSpec {
        id: id.into(),
        job_type: JobType::Batch,
        priority: 50,
        datacenters: vec!["*".into()],
        all_at_once,
        spread_block: false,
        parameterized: false,
        periodic: None,
        groups: vec![GroupSpec {
            name: "g".into(),
            count,
            cpu_mhz: cpu,
            memory_mb: 100,
            tasks: vec!["t".into()],
            image: "img".into(),
            image_bytes: 0,
            run: RunPlan::Model {
                duration: RunDuration::Fixed(run_s * 1_000_000_000),
                fail_rate: 0.0,
            },
            node_class: None,
            restart: None,
            reschedule: None,
            max_run_ns: None,
            placement: None,
        }],
        meta: Default::default(),
        source_json: None,
        node_pool: None,
    }
}

fn drain(c: &mut Cluster) {
    while !c.is_idle() {
        c.step().unwrap();
    }
}

#[test]
fn racing_plans_partially_commit_then_block_then_unblock() {
    let mut sc = scenario("");
    // Slow schedulers: both evaluations are computed from the same snapshot.
    sc.params.sched_eval_base_us = 50_000;
    let mut c = Cluster::new(
        &sc,
        1,
        ClusterOptions {
            record_changes: true,
            ..Default::default()
        },
    )
    .unwrap();
    // Two jobs that each fit the single node only alone, submitted together: both workers plan onto the
    // same node from the same snapshot; the applier commits the first and rejects the second's node.
    c.submit_register(job("a", 1, 700, 20, false), 0).unwrap();
    c.submit_register(job("b", 1, 700, 20, false), 0).unwrap();
    c.advance_to(5_000_000_000).unwrap();
    assert_eq!(c.counters().placements, 1);
    assert!(
        c.counters().plan_node_rejections >= 1,
        "the second plan's node was rejected"
    );
    assert_eq!(
        c.blocked_now(),
        1,
        "the refreshed re-plan finds no capacity and blocks"
    );
    let changes = c.take_changes();
    assert!(changes
        .iter()
        .any(|b| b.kind == ChangeKind::EvaluationUpdated
            && b.evals.iter().any(|e| e.status == EvalStatus::Blocked)));
    // When a's allocation completes, capacity frees, the blocked eval is unblocked and b is placed.
    drain(&mut c);
    assert_eq!(c.counters().placements, 2);
    assert_eq!(c.blocked_now(), 0);
    let a = c.alloc_truth(0);
    let b = c.alloc_truth(1);
    assert!(
        b.placed_ns.unwrap() >= a.done_ns.unwrap(),
        "b waited for a to finish"
    );
}

#[test]
fn partial_commit_keeps_the_nodes_that_fit() {
    // Three nodes. x (count 1) and y (count 3) are scheduled from the same snapshot (slow schedulers); with
    // `spread`, y puts one allocation on each node. x's plan commits first; y's placement on x's node no
    // longer fits and is rejected while its other two commit (partial commit); y's last allocation is
    // re-planned on fresh state, finds no room and blocks.
    let mut sc = scenario("");
    sc.pools[0].count = 3;
    sc.cluster.algorithm = stampede_sim::scenario::Algorithm::Spread;
    sc.params.sched_eval_base_us = 50_000;
    let mut c = Cluster::new(&sc, 3, ClusterOptions::default()).unwrap();
    c.submit_register(job("x", 1, 600, 100, false), 0).unwrap();
    c.submit_register(job("y", 3, 600, 100, false), 0).unwrap();
    c.advance_to(5_000_000_000).unwrap();
    assert_eq!(
        c.counters().plan_node_rejections,
        1,
        "exactly x's node is rejected from y's plan"
    );
    assert_eq!(c.counters().placements, 3, "x's one and two of y's three");
    assert_eq!(
        c.blocked_now(),
        1,
        "y's rejected allocation could not be re-placed"
    );
    drain(&mut c);
    assert_eq!(
        c.counters().placements,
        4,
        "y's last allocation runs after x finishes"
    );
}

#[test]
fn all_at_once_drops_the_whole_plan() {
    let mut sc = scenario("");
    sc.pools[0].count = 2;
    sc.cluster.algorithm = stampede_sim::scenario::Algorithm::Spread;
    let mut c = Cluster::new(&sc, 3, ClusterOptions::default()).unwrap();
    c.submit_register(job("x", 1, 600, 100, false), 0).unwrap();
    c.submit_register(job("y", 2, 300, 100, true), 0).unwrap();
    c.advance_to(2_000_000_000).unwrap();
    // y (AllAtOnce, count 2) either lands whole or not at all: never exactly one of its allocations.
    let y = (0..c.alloc_count())
        .filter(|&i| c.alloc_truth(i).job_id == "y")
        .count();
    assert!(y == 0 || y == 2, "AllAtOnce placed {y} of 2");
}

#[test]
fn spread_spreads_and_binpack_packs() {
    let skew = |alg: &str| {
        let text = format!(
            r#"
name = "t"
[cluster]
algorithm = "{alg}"
[[pools]]
instance_type = "m5.xlarge"
count = 40
[workload]
jobs = 20
type = "service"
count = 20
cpu_mhz = 100
memory_mb = 64
[workload.arrival]
mode = "closed_loop"
workers = 4
"#
        );
        let sc = Scenario::from_toml("t.toml", &text).unwrap();
        let src = stampede_sim::runner::synthetic_source(&sc, 1).unwrap();
        let opts = stampede_sim::runner::RunOptions {
            seed: 1,
            ..Default::default()
        };
        let rec = stampede_sim::runner::run_scenario(&sc, src, &opts, &mut |_| {})
            .unwrap()
            .0;
        let mut per: std::collections::BTreeMap<String, u32> = Default::default();
        for a in &rec.allocs {
            *per.entry(a.node_id.clone()).or_default() += 1;
        }
        (per.len(), *per.values().max().unwrap())
    };
    let (spread_nodes, spread_max) = skew("spread");
    let (bin_nodes, bin_max) = skew("binpack");
    assert!(
        spread_nodes > bin_nodes,
        "spread used {spread_nodes} nodes, binpack {bin_nodes}"
    );
    assert!(
        bin_max > spread_max,
        "binpack stacks more per node ({bin_max} vs {spread_max})"
    );
}

#[test]
fn lost_allocations_are_replaced_after_detection() {
    let text = r#"
name = "t"
[[pools]]
instance_type = "m5.xlarge"
count = 20
[workload]
jobs = 10
type = "service"
count = 10
[[faults]]
at = "30s"
kind = "spot_loss"
fraction = 0.25
"#;
    let sc = Scenario::from_toml("t.toml", text).unwrap();
    let src = stampede_sim::runner::synthetic_source(&sc, 2).unwrap();
    let opts = stampede_sim::runner::RunOptions {
        seed: 2,
        ..Default::default()
    };
    let rec = stampede_sim::runner::run_scenario(&sc, src, &opts, &mut |_| {})
        .unwrap()
        .0;
    let s = &rec.meta.summary;
    assert_eq!(s.spot_interruptions, 5);
    assert!(s.allocs_lost > 0);
    assert_eq!(
        s.allocs_rescheduled, s.allocs_lost,
        "every lost allocation is replaced"
    );
    let lost = rec
        .allocs
        .iter()
        .filter(|a| a.lost)
        .map(|a| a.done_ns.unwrap())
        .min()
        .unwrap();
    // Detection takes at least the 10 s grace after the 30 s interruption (TTL 10 s at 20 nodes).
    assert!(
        (40_000_000_000..=70_000_000_000).contains(&lost),
        "lost at {lost}"
    );
    let running_at_end = rec
        .allocs
        .iter()
        .filter(|a| a.status == stampede_sim::record::AllocStatus::Running)
        .count();
    assert_eq!(running_at_end, 100);
}
