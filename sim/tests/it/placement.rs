//! Placement semantics beyond CPU and memory (issue 11 §6), each as Nomad's scheduler applies them
//! (`sim/src/placement.rs` cites the source): constraints, affinities, `distinct_hosts`, static and
//! dynamic ports, ephemeral disk, node pools; and bad inputs named by file, line and key.

use std::collections::BTreeMap;
use std::sync::Arc;

use stampede_sim::api::{ChangeKind, EvalStatus, GroupSpec, JobSpec, RunPlan};
use stampede_sim::cluster::{Cluster, ClusterOptions};
use stampede_sim::placement::{Constraint, GroupPlacement};
use stampede_sim::record::RunRecord;
use stampede_sim::scenario::{JobType, RunDuration, Scenario};
use stampede_sim::trace::parse_jsonl_named;

use crate::scenarios::run;

const S: u64 = 1_000_000_000;

/// A scenario of `pools` (TOML `[[pools]]` entries) and a `[workload]` body (arrival: all at once).
fn scenario(version: &str, pools: &str, workload: &str) -> Scenario {
    let text = format!(
        r#"name = "placement"
[cluster]
servers = 3
instance_type = "m5.2xlarge"
nomad_version = "{version}"
{pools}
[workload]
{workload}
[workload.arrival]
mode = "all_at_once"
"#
    );
    Scenario::from_toml("placement.toml", &text).unwrap_or_else(|e| panic!("{e}"))
}

fn err(version: &str, pools: &str, workload: &str) -> String {
    let text = format!(
        "name = \"placement\"\n[cluster]\nnomad_version = \"{version}\"\n{pools}\n[workload]\n{workload}\n"
    );
    Scenario::from_toml("placement.toml", &text)
        .expect_err("must be refused")
        .to_string()
}

const TWO_POOLS: &str = r#"
[[pools]]
name = "gpu"
instance_type = "m5.xlarge"
count = 5
node_class = "gpu"
meta = { "ci.tier" = "large" }
[[pools]]
name = "ci"
instance_type = "m5.xlarge"
count = 5
node_class = "ci"
"#;

/// Fleet pool name of each node id.
fn pool_of(rec: &RunRecord) -> BTreeMap<String, String> {
    rec.nodes
        .iter()
        .map(|n| (n.node_id.clone(), n.pool.clone()))
        .collect()
}

/// Placed allocations per fleet pool.
fn per_pool(rec: &RunRecord) -> BTreeMap<String, usize> {
    let pools = pool_of(rec);
    let mut m = BTreeMap::new();
    for a in rec.allocs.iter().filter(|a| a.placed_ns.is_some()) {
        *m.entry(pools[&a.node_id].clone()).or_default() += 1;
    }
    m
}

/// Largest number of placed allocations of one job on one node.
fn max_per_node_per_job(rec: &RunRecord) -> usize {
    let mut m: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for a in rec.allocs.iter().filter(|a| a.placed_ns.is_some()) {
        *m.entry((&a.job_id, &a.node_id)).or_default() += 1;
    }
    m.values().copied().max().unwrap_or(0)
}

/// Largest number of placed allocations on one node.
fn max_per_node(rec: &RunRecord) -> usize {
    let mut m: BTreeMap<&str, usize> = BTreeMap::new();
    for a in rec.allocs.iter().filter(|a| a.placed_ns.is_some()) {
        *m.entry(&a.node_id).or_default() += 1;
    }
    m.values().copied().max().unwrap_or(0)
}

fn placed(rec: &RunRecord) -> u64 {
    rec.meta.summary.allocs_placed
}

#[test]
fn a_constraint_no_node_satisfies_leaves_the_job_blocked_with_its_group_failed() {
    let sc = scenario("1.6", TWO_POOLS, "jobs = 1");
    let mut c = Cluster::new(
        &sc,
        1,
        ClusterOptions {
            record_changes: true,
            ..Default::default()
        },
    )
    .unwrap();
    let spec = JobSpec {
        id: "win".into(),
        job_type: JobType::Batch,
        priority: 50,
        datacenters: vec!["*".into()],
        all_at_once: false,
        spread_block: false,
        parameterized: false,
        periodic: None,
        groups: vec![GroupSpec {
            name: "g".into(),
            count: 3,
            cpu_mhz: 100,
            memory_mb: 64,
            tasks: vec!["t".into()],
            image: "img".into(),
            image_bytes: 0,
            run: RunPlan::Model {
                duration: RunDuration::Fixed(10 * S),
                fail_rate: 0.0,
            },
            node_class: None,
            restart: None,
            reschedule: None,
            max_run_ns: None,
            placement: Some(Arc::new(GroupPlacement {
                constraints: vec![Constraint::new("${attr.kernel.name}", "=", "windows").unwrap()],
                ..Default::default()
            })),
        }],
        meta: Default::default(),
        source_json: None,
        node_pool: None,
    };
    c.submit_register(spec, 0).unwrap();
    c.advance_to(120 * S).unwrap();
    let changes = c.take_changes();
    assert!(
        !changes
            .iter()
            .any(|b| b.kind == ChangeKind::AllocationUpdated || !b.allocs.is_empty()),
        "nothing placed"
    );
    let evals: Vec<_> = changes.iter().flat_map(|b| b.evals.iter()).collect();
    let done = evals
        .iter()
        .rev()
        .find(|e| e.status == EvalStatus::Complete && e.triggered_by == "job-register")
        .expect("the register eval completes");
    assert_eq!(done.failed_tg_allocs, vec!["g".to_string()]);
    assert!(!done.blocked_eval.is_empty(), "a blocked eval is created");
    assert!(
        evals
            .iter()
            .any(|e| e.status == EvalStatus::Blocked && e.id == done.blocked_eval),
        "and stays blocked"
    );
    assert_eq!(c.unplaced(), 3);
    assert_eq!(c.blocked_now(), 1);
}

#[test]
fn not_equal_on_class_keeps_every_allocation_off_that_class() {
    let w = r#"jobs = 40
count = 2
cpu_mhz = 200
duration = "30s"
[[workload.constraint]]
attribute = "${node.class}"
operator = "!="
value = "gpu"
"#;
    let rec = run(&scenario("1.6", TWO_POOLS, w), 1);
    assert_eq!(placed(&rec), 80);
    assert_eq!(per_pool(&rec).get("gpu"), None, "{:?}", per_pool(&rec));
    // Without the constraint both classes are used.
    let rec = run(
        &scenario(
            "1.6",
            TWO_POOLS,
            "jobs = 40\ncount = 2\ncpu_mhz = 200\nduration = \"30s\"",
        ),
        1,
    );
    assert!(per_pool(&rec).get("gpu").copied().unwrap_or(0) > 10);
}

#[test]
fn affinity_shifts_the_share_of_placements_toward_the_preferred_nodes() {
    let base = "jobs = 200\ncount = 1\ncpu_mhz = 100\nduration = \"20m\"\n";
    let share = |rec: &RunRecord| {
        let m = per_pool(rec);
        m.get("gpu").copied().unwrap_or(0) as f64 / placed(rec) as f64
    };
    let plain = run(&scenario("1.6", TWO_POOLS, base), 1);
    let w = format!(
        "{base}[[workload.affinity]]\nattribute = \"${{meta.ci.tier}}\"\nvalue = \"large\"\nweight = 100\n"
    );
    let pref = run(&scenario("1.6", TWO_POOLS, &w), 1);
    assert_eq!(placed(&plain), 200);
    assert_eq!(placed(&pref), 200);
    let (a, b) = (share(&plain), share(&pref));
    assert!((0.3..=0.7).contains(&a), "no affinity: share {a}");
    assert!(b >= 0.9, "affinity weight 100: share {b} (without: {a})");
    // A negative weight pushes them away.
    let w = format!(
        "{base}[[workload.affinity]]\nattribute = \"${{meta.ci.tier}}\"\nvalue = \"large\"\nweight = -100\n"
    );
    let anti = share(&run(&scenario("1.6", TWO_POOLS, &w), 1));
    assert!(anti <= 0.1, "weight −100: share {anti}");
}

#[test]
fn distinct_hosts_never_puts_two_allocations_of_a_group_on_one_node() {
    // Binpack packs small allocations: without distinct_hosts several land on one node. (Service jobs:
    // they never end, so no later allocation may reuse a node legitimately.)
    let base = "jobs = 5\ntype = \"service\"\ncount = 12\ncpu_mhz = 100\n";
    let rec = run(&scenario("1.6", TWO_POOLS, base), 2);
    assert!(max_per_node_per_job(&rec) > 1);
    let rec = run(
        &scenario("1.6", TWO_POOLS, &format!("{base}distinct_hosts = true\n")),
        2,
    );
    assert_eq!(max_per_node_per_job(&rec), 1);
    assert_eq!(
        placed(&rec),
        5 * 10,
        "10 nodes: 2 of each job's 12 stay unplaced"
    );
    // The constraint spelled as Nomad's operator works the same.
    let w =
        format!("{base}[[workload.constraint]]\noperator = \"distinct_hosts\"\nvalue = \"true\"\n");
    let rec = run(&scenario("1.6", TWO_POOLS, &w), 2);
    assert_eq!(max_per_node_per_job(&rec), 1);
}

#[test]
fn a_static_port_never_doubles_on_a_node() {
    let w = "jobs = 30\ntype = \"service\"\ncount = 1\ncpu_mhz = 100\nports = { static = [8080], dynamic = 1 }\n";
    let rec = run(&scenario("1.6", TWO_POOLS, w), 1);
    assert_eq!(max_per_node(&rec), 1, "8080 once per node");
    assert_eq!(placed(&rec), 10, "10 nodes, 10 of the 30 jobs");
    let rec = run(
        &scenario(
            "1.6",
            TWO_POOLS,
            "jobs = 30\ntype = \"service\"\ncount = 1\ncpu_mhz = 100\n",
        ),
        1,
    );
    assert_eq!(placed(&rec), 30, "without the port all fit");
}

#[test]
fn dynamic_ports_run_out_when_the_range_is_exhausted() {
    let pools = r#"
[[pools]]
instance_type = "m5.xlarge"
count = 1
min_dynamic_port = 20000
max_dynamic_port = 20009
"#;
    let w = "jobs = 6\ntype = \"service\"\ncount = 1\ncpu_mhz = 100\nports = { dynamic = 3 }\n";
    let rec = run(&scenario("1.6", pools, w), 1);
    assert_eq!(placed(&rec), 3, "10 ports hold three allocations of 3");
}

#[test]
fn ephemeral_disk_is_part_of_allocs_fit() {
    let pools = r#"
[[pools]]
instance_type = "m5.xlarge"
count = 2
disk_mb = 1000
"#;
    let w = "jobs = 10\ntype = \"service\"\ncount = 1\ncpu_mhz = 100\ndisk_mb = 300\n";
    let rec = run(&scenario("1.6", pools, w), 1);
    assert_eq!(placed(&rec), 6, "3 × 300 MB per 1000 MB node");
    let w = "jobs = 10\ntype = \"service\"\ncount = 1\ncpu_mhz = 100\n";
    let rec = run(&scenario("1.6", pools, w), 1);
    assert_eq!(placed(&rec), 6, "Nomad's default is 300 MB too");
    let w = "jobs = 10\ntype = \"service\"\ncount = 1\ncpu_mhz = 100\ndisk_mb = 100\n";
    assert_eq!(placed(&run(&scenario("1.6", pools, w), 1)), 10);
}

#[test]
fn a_node_pool_restricts_placements_to_its_nodes() {
    let pools = r#"
[[pools]]
name = "ci"
instance_type = "m5.xlarge"
count = 4
node_pool = "ci"
[[pools]]
name = "rest"
instance_type = "m5.xlarge"
count = 4
"#;
    let base = "jobs = 20\ncount = 2\ncpu_mhz = 100\nduration = \"20m\"\n";
    let rec = run(
        &scenario("1.6", pools, &format!("{base}node_pool = \"ci\"\n")),
        1,
    );
    assert_eq!(placed(&rec), 40);
    assert_eq!(per_pool(&rec).keys().collect::<Vec<_>>(), vec!["ci"]);
    let rec = run(&scenario("1.6", pools, base), 1);
    assert_eq!(
        per_pool(&rec).keys().collect::<Vec<_>>(),
        vec!["rest"],
        "a job without a node pool runs in `default`"
    );
    let rec = run(
        &scenario("1.6", pools, &format!("{base}node_pool = \"all\"\n")),
        1,
    );
    assert_eq!(per_pool(&rec).len(), 2, "`all` matches every node");
}

#[test]
fn bad_inputs_name_the_file_line_and_key() {
    let pools = "[[pools]]\ninstance_type = \"m5.xlarge\"\ncount = 1\n";
    let e = err(
        "1.6",
        pools,
        "jobs = 1\n[[workload.constraint]]\nattribute = \"${attr.kernel.name}\"\noperator = \"like\"\nvalue = \"linux\"",
    );
    assert!(
        e.starts_with(
            "placement.toml:12: workload.constraint[0].operator: unknown operator `like`"
        ),
        "{e}"
    );
    let e = err(
        "1.6",
        pools,
        "jobs = 1\n[[workload.constraint]]\nattribute = \"${attr.kernel.name}\"\noperator = \"regexp\"\nvalue = \"(\"",
    );
    assert!(
        e.contains("workload.constraint[0].operator") && e.contains("regexp `(`"),
        "{e}"
    );
    let e = err(
        "1.6",
        pools,
        "jobs = 1\n[[workload.affinity]]\nattribute = \"${attr.kernel.name}\"\nvalue = \"linux\"\nweight = 0",
    );
    assert!(e.contains("workload.affinity[0].weight"), "{e}");
    let e = err("1.5", pools, "jobs = 1\nnode_pool = \"ci\"");
    assert!(
        e.contains("placement.toml:")
            && e.contains("workload.node_pool")
            && e.contains("no node pools"),
        "{e}"
    );
    let e = err("1.5", &format!("{pools}node_pool = \"ci\"\n"), "jobs = 1");
    assert!(e.contains("pools[0].node_pool") && e.contains("1.6"), "{e}");
    let e = err("1.6", pools, "jobs = 1\nnode_pool = \"gpu\"");
    assert!(e.contains("node pool `gpu` doesn't exist"), "{e}");
    let e = err("1.6", pools, "jobs = 1\nports = { static = [80, 80] }");
    assert!(e.contains("workload.ports") && e.contains("80"), "{e}");
    let e = err("1.6", pools, "jobs = 1\ndisk_mb = 200000");
    assert!(e.contains("workload.disk_mb"), "{e}");

    // A malformed trace field: file, line and field path.
    let head = r#"{"stampede_trace":3,"name":"t","source":"synth","start_unix_ns":0,"jobs":1}"#;
    let job = |g: &str| {
        format!(
            r#"{{"submit_ns":0,"id":"j","type":"batch","priority":50,"groups":[{{"name":"g","count":1,"cpu_mhz":100,"memory_mb":64,"tasks":["t"],"image":"i","image_bytes":0,"allocs":[{{"run_ns":1,"exit":"ok"}}]{g}}}]}}"#
        )
    };
    let bad = format!(
        "{head}\n{}\n",
        job(r#","constraints":[{"attribute":"${attr.x}","operator":"~~","value":"y"}]"#)
    );
    let e = parse_jsonl_named(&bad, "t.jsonl").unwrap_err().to_string();
    assert!(
        e.contains("t.jsonl") && e.contains('2') && e.contains("groups[0].constraints[0].operator"),
        "{e}"
    );
    let bad = format!("{head}\n{}\n", job(r#","ports":{"static":[70000]}"#));
    let e = parse_jsonl_named(&bad, "t.jsonl").unwrap_err().to_string();
    assert!(e.contains("groups[0].ports.static[0]"), "{e}");
}

#[test]
fn trace_format_3_carries_placement_and_csv_refuses_it() {
    let head = r#"{"stampede_trace":3,"name":"t","source":"synth","start_unix_ns":0,"jobs":1}"#;
    let job = r#"{"submit_ns":0,"id":"j","type":"batch","priority":50,"node_pool":"all","groups":[{"name":"g","count":1,"cpu_mhz":100,"memory_mb":64,"tasks":["t"],"image":"i","image_bytes":0,"allocs":[{"run_ns":1,"exit":"ok"}],"constraints":[{"attribute":"${node.class}","operator":"!=","value":"gpu"}],"affinities":[{"attribute":"${meta.ci.tier}","operator":"=","value":"large","weight":40}],"distinct_hosts":"job","ports":{"static":[8080],"dynamic":2},"disk_mb":500}]}"#;
    let t = parse_jsonl_named(&format!("{head}\n{job}\n"), "t.jsonl").unwrap();
    let g = &t.jobs[0].groups[0];
    let p = g.placement.as_ref().unwrap();
    assert_eq!(p.constraints.len(), 1);
    assert_eq!(p.affinities[0].weight, 40);
    assert_eq!(p.ports.static_ports, vec![8080]);
    assert_eq!(p.disk_mb, Some(500));
    assert_eq!(t.jobs[0].node_pool.as_deref(), Some("all"));
    let mut out = Vec::new();
    t.write_jsonl(&mut out).unwrap();
    let back = parse_jsonl_named(std::str::from_utf8(&out).unwrap(), "back.jsonl").unwrap();
    assert_eq!(back.jobs, t.jobs, "round trip");
    let e = t.write_csv(Vec::new()).unwrap_err().to_string();
    assert!(e.contains("CSV") && e.contains("`j`"), "{e}");
    // Version 2 still reads.
    let v2 = head.replace("\"stampede_trace\":3", "\"stampede_trace\":2");
    let job2 = r#"{"submit_ns":0,"id":"j","type":"batch","priority":50,"groups":[{"name":"g","count":1,"cpu_mhz":100,"memory_mb":64,"tasks":["t"],"image":"i","image_bytes":0,"allocs":[{"run_ns":1,"exit":"ok"}]}]}"#;
    let t2 = parse_jsonl_named(&format!("{v2}\n{job2}\n"), "v2.jsonl").unwrap();
    assert_eq!(t2.jobs[0].groups[0].placement, None);
}

#[test]
fn a_job_naming_a_node_pool_is_refused_before_1_6_and_when_the_pool_does_not_exist() {
    let pools = "[[pools]]\ninstance_type = \"m5.xlarge\"\ncount = 1\n";
    let job = |pool: &str| {
        let mut j = stampede_sim::trace::parse_jsonl_named(
            &format!(
                "{}\n{}\n",
                r#"{"stampede_trace":3,"name":"t","source":"synth","start_unix_ns":0,"jobs":1}"#,
                r#"{"submit_ns":0,"id":"j","type":"batch","priority":50,"groups":[{"name":"g","count":1,"cpu_mhz":100,"memory_mb":64,"tasks":["t"],"image":"i","image_bytes":0,"allocs":[{"run_ns":1,"exit":"ok"}]}]}"#
            ),
            "t.jsonl",
        )
        .unwrap()
        .jobs[0]
            .to_job_spec();
        j.node_pool = Some(pool.into());
        j
    };
    let mut old = Cluster::new(&scenario("1.5", pools, "jobs = 1"), 1, Default::default()).unwrap();
    let e = old.submit_register(job("ci"), 0).unwrap_err().to_string();
    assert!(e.contains("no node pools") && e.contains("1.5"), "{e}");
    let mut new = Cluster::new(&scenario("1.6", pools, "jobs = 1"), 1, Default::default()).unwrap();
    let e = new.submit_register(job("gpu"), 0).unwrap_err().to_string();
    assert!(e.contains("nonexistent node pool \"gpu\""), "{e}");
    assert!(new.submit_register(job("all"), 0).is_ok());
    assert!(new.submit_register(job("default"), 0).is_ok());
}

/// Nomad releases a blocked eval only on capacity of a node class it is eligible for
/// (`BlockedEvals.Unblock` with the eval's class eligibility): a job whose constraint no class meets takes
/// no failed scheduler pass however much capacity frees up elsewhere.
#[test]
fn an_eval_blocked_on_an_impossible_constraint_is_not_released_by_unrelated_capacity() {
    let sc = scenario("1.6", TWO_POOLS, "jobs = 1");
    let mut c = Cluster::new(&sc, 1, ClusterOptions::default()).unwrap();
    let spec = |id: &str, constraint: Option<&str>, secs: u64| JobSpec {
        id: id.into(),
        job_type: JobType::Batch,
        priority: 50,
        datacenters: vec!["*".into()],
        all_at_once: false,
        spread_block: false,
        parameterized: false,
        periodic: None,
        groups: vec![GroupSpec {
            name: "g".into(),
            count: 1,
            cpu_mhz: 100,
            memory_mb: 64,
            tasks: vec!["t".into()],
            image: "img".into(),
            image_bytes: 0,
            run: RunPlan::Model {
                duration: RunDuration::Fixed(secs * S),
                fail_rate: 0.0,
            },
            node_class: None,
            restart: None,
            reschedule: None,
            max_run_ns: None,
            placement: constraint.map(|v| {
                Arc::new(GroupPlacement {
                    constraints: vec![Constraint::new("${node.class}", "=", v).unwrap()],
                    ..Default::default()
                })
            }),
        }],
        meta: Default::default(),
        source_json: None,
        node_pool: None,
    };
    c.submit_register(spec("never", Some("tpu"), 10), 0)
        .unwrap();
    c.advance_to(10 * S).unwrap();
    assert_eq!(c.blocked_now(), 1);
    let before = c.counters().evals_processed;
    // Twenty short jobs come and go: every completion is a capacity change.
    for i in 0..20 {
        c.submit_register(spec(&format!("short-{i}"), None, 2), c.now())
            .unwrap();
        let t = c.now() + 5 * S;
        c.advance_to(t).unwrap();
    }
    c.advance_to(c.now() + 60 * S).unwrap();
    assert_eq!(c.blocked_now(), 1, "still blocked");
    assert_eq!(
        c.counters().evals_processed - before,
        20,
        "one pass per short job, none for the blocked eval"
    );
    assert_eq!(c.unplaced(), 1);
}

#[test]
fn distinct_property_caps_allocations_per_property_value() {
    let pools = r#"
[[pools]]
name = "rack-a"
instance_type = "m5.xlarge"
count = 3
meta = { rack = "a" }
[[pools]]
name = "rack-b"
instance_type = "m5.xlarge"
count = 3
meta = { rack = "b" }
"#;
    let w = "jobs = 3\ntype = \"service\"\ncount = 6\ncpu_mhz = 100\n[[workload.constraint]]\nattribute = \"${meta.rack}\"\noperator = \"distinct_property\"\nvalue = \"2\"\n";
    let rec = run(&scenario("1.6", pools, w), 1);
    assert_eq!(placed(&rec), 3 * 4, "2 per rack value, 2 racks, per job");
    let pools_of = pool_of(&rec);
    let mut per: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for a in rec.allocs.iter().filter(|a| a.placed_ns.is_some()) {
        *per.entry((&a.job_id, pools_of[&a.node_id].as_str()))
            .or_default() += 1;
    }
    assert!(per.values().all(|&n| n == 2), "{per:?}");
    let e = err(
        "1.6",
        pools,
        "jobs = 1\n[[workload.constraint]]\nattribute = \"${meta.rack}\"\noperator = \"distinct_property\"\nvalue = \"zero\"",
    );
    assert!(
        e.contains("workload.constraint[0]") && e.contains("zero"),
        "{e}"
    );
}
