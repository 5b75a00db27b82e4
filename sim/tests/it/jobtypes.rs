//! Job types beyond batch and service (issue 11 §6): system and sysbatch jobs take one allocation on every
//! eligible node (nodes that join later included) and the capacity they hold is missing for batch work;
//! periodic jobs launch children on their cron schedule, skipping launches under `prohibit_overlap`; the
//! evaluation GC takes terminal evaluations and their allocations out of the modelled state.

use std::collections::BTreeMap;

use stampede_sim::record::{AllocStatus, RunRecord};
use stampede_sim::scenario::Scenario;

use crate::scenarios::run;

fn scenario(text: &str) -> Scenario {
    Scenario::from_toml("jobtypes.toml", text).unwrap_or_else(|e| panic!("{e}"))
}

/// Allocations of job `id` per node.
fn per_node(rec: &RunRecord, id: &str) -> BTreeMap<String, usize> {
    let mut m = BTreeMap::new();
    for a in rec.allocs.iter().filter(|a| a.job_id == id) {
        *m.entry(a.node_id.clone()).or_default() += 1;
    }
    m
}

#[test]
fn a_system_job_has_one_allocation_per_node_including_autoscaled_ones() {
    let sc = scenario(
        r#"
name = "sys"
[[pools]]
instance_type = "m5.xlarge"
cpu_mhz = 4000
memory_mb = 16000
[pools.autoscale]
min = 2
max = 6
interval = "10s"
boot_time = "60s"
[workload]
jobs = 40
count = 1
cpu_mhz = 1000
memory_mb = 512
duration = "300s"
image_size_mb = 0
[workload.arrival]
mode = "all_at_once"
[[workload.system]]
name = "log-shipper"
cpu_mhz = 200
memory_mb = 128
"#,
    );
    let rec = run(&sc, 1);
    let nodes = per_node(&rec, "log-shipper");
    assert!(
        rec.nodes.len() > 2,
        "the queue made the pool grow: {} nodes",
        rec.nodes.len()
    );
    assert_eq!(
        nodes.len(),
        rec.nodes.len(),
        "every node that joined got the agent: {nodes:?}"
    );
    assert!(
        nodes.values().all(|&n| n == 1),
        "exactly one per node: {nodes:?}"
    );
    let cp = rec.meta.control_plane.as_ref().unwrap();
    assert!(
        cp.evals_by_trigger.get("node-update").copied().unwrap_or(0) as usize
            >= rec.nodes.len() - 2,
        "a node-update evaluation per joining node: {:?}",
        cp.evals_by_trigger
    );
    assert_eq!(
        rec.meta.summary.allocs_placed,
        rec.meta.summary.allocs_desired
    );
}

/// Batch allocations running in the first wave (before the first ones finish).
fn first_wave(with_agent: bool) -> usize {
    let agent = if with_agent {
        "[[workload.system]]\nname = \"cache\"\ncpu_mhz = 500\nmemory_mb = 256\n"
    } else {
        ""
    };
    let sc = scenario(&format!(
        r#"
name = "cap"
[[pools]]
instance_type = "m5.xlarge"
count = 2
cpu_mhz = 4000
memory_mb = 16000
[workload]
jobs = 20
count = 1
cpu_mhz = 1000
memory_mb = 512
duration = "600s"
image_size_mb = 0
[workload.arrival]
mode = "all_at_once"
{agent}
"#
    ));
    let rec = run(&sc, 1);
    assert_eq!(
        rec.allocs
            .iter()
            .filter(|a| a.job_id != "cache" && a.status == AllocStatus::Complete)
            .count(),
        20,
        "every batch job ran"
    );
    rec.allocs
        .iter()
        .filter(|a| a.job_id != "cache" && a.running_ns.is_some_and(|t| t < 300_000_000_000))
        .count()
}

#[test]
fn batch_capacity_shrinks_by_the_system_reservation() {
    assert_eq!(first_wave(false), 8, "4 × 1000 MHz per node, 2 nodes");
    assert_eq!(
        first_wave(true),
        6,
        "3 × 1000 MHz fit next to a 500 MHz agent"
    );
}

#[test]
fn sysbatch_runs_once_per_node_and_completes() {
    let sc = scenario(
        r#"
name = "sysbatch"
[[pools]]
instance_type = "m5.xlarge"
count = 3
[workload]
jobs = 30
count = 1
duration = "20s"
image_size_mb = 0
[workload.arrival]
mode = "open_loop"
rate_per_s = 0.1
[[workload.system]]
name = "warm-cache"
type = "sysbatch"
duration = "30s"
"#,
    );
    let rec = run(&sc, 2);
    let nodes = per_node(&rec, "warm-cache");
    assert_eq!(nodes.len(), 3, "one per node: {nodes:?}");
    assert!(nodes.values().all(|&n| n == 1), "never again: {nodes:?}");
    assert!(rec
        .allocs
        .iter()
        .filter(|a| a.job_id == "warm-cache")
        .all(|a| a.status == AllocStatus::Complete));
    assert!(
        rec.meta.duration_s > 250.0,
        "the run outlived the sysbatch job"
    );
}

fn periodic(prohibit_overlap: bool, duration: &str) -> RunRecord {
    let sc = scenario(&format!(
        r#"
name = "nightly"
[[pools]]
instance_type = "m5.xlarge"
count = 2
[workload]
jobs = 1
duration = "1s"
image_size_mb = 0
[[workload.periodic]]
name = "nightly"
cron = "*/10 * * * *"
prohibit_overlap = {prohibit_overlap}
count = 2
duration = "{duration}"
[sim]
periodic_until = "1h"
"#
    ));
    run(&sc, 1)
}

#[test]
fn a_ten_minute_periodic_job_launches_six_children_in_an_hour() {
    let rec = periodic(false, "25m");
    let mut children: Vec<String> = rec
        .allocs
        .iter()
        .map(|a| a.job_id.clone())
        .filter(|j| j.starts_with("nightly/"))
        .collect();
    children.dedup();
    let want: Vec<String> = (1..=6)
        .map(|k| format!("nightly/periodic-{}", 1_605_571_200 + 600 * k))
        .collect();
    assert_eq!(children, want);
    assert_eq!(
        rec.allocs
            .iter()
            .filter(|a| a.job_id.starts_with("nightly/"))
            .count(),
        12,
        "count 2 each"
    );
    let cp = rec.meta.control_plane.as_ref().unwrap();
    assert_eq!((cp.periodic_launches, cp.periodic_skipped), (6, 0));
    assert_eq!(cp.evals_by_trigger.get("periodic-job"), Some(&6));
}

#[test]
fn prohibit_overlap_skips_launches_while_a_child_runs() {
    // Children run 25 min: launched at :10 (runs to ~:35), skipped at :20 and :30, launched at :40,
    // skipped at :50 and :60.
    let rec = periodic(true, "25m");
    let cp = rec.meta.control_plane.as_ref().unwrap();
    assert_eq!((cp.periodic_launches, cp.periodic_skipped), (2, 4));
    let first = 1_605_571_200 + 600;
    assert!(rec
        .allocs
        .iter()
        .any(|a| a.job_id == format!("nightly/periodic-{first}")));
    assert!(rec
        .allocs
        .iter()
        .any(|a| a.job_id == format!("nightly/periodic-{}", first + 1800)));
    // Short children never overlap: nothing skipped.
    let rec = periodic(true, "2m");
    let cp = rec.meta.control_plane.as_ref().unwrap();
    assert_eq!((cp.periodic_launches, cp.periodic_skipped), (6, 0));
}

/// A day of sysbatch warm-ups every 10 min (their evaluations use the 1 h threshold) on a small fleet.
fn gc_run(eval_gc: bool) -> RunRecord {
    let sc = scenario(&format!(
        r#"
name = "gc"
[[pools]]
instance_type = "m5.xlarge"
count = 20
[workload]
jobs = 1
duration = "1s"
image_size_mb = 0
[[workload.periodic]]
name = "warm"
type = "sysbatch"
cron = "*/10 * * * *"
duration = "30s"
[sim]
periodic_until = "3h"
heartbeats = false
[nomad]
eval_gc = {eval_gc}
"#
    ));
    run(&sc, 1)
}

#[test]
fn eval_gc_lowers_the_modelled_state_over_a_long_run() {
    let on = gc_run(true);
    let off = gc_run(false);
    let last_rss = |r: &RunRecord| {
        r.metrics
            .iter()
            .filter(|m| m.leader)
            .filter_map(|m| m.rss_bytes)
            .next_back()
            .unwrap()
    };
    let (a, b) = (last_rss(&on), last_rss(&off));
    assert!(a < b, "eval GC on: {a} B, off: {b} B");
    let cp_on = on.meta.control_plane.as_ref().unwrap();
    let cp_off = off.meta.control_plane.as_ref().unwrap();
    // 18 launches, 20 allocations each; those older than 1 h at the last pass are reaped.
    assert!(
        cp_on.evals_gc >= 10 && cp_on.allocs_gc >= 200,
        "{} evals, {} allocs",
        cp_on.evals_gc,
        cp_on.allocs_gc
    );
    assert_eq!(
        (cp_off.evals_gc, cp_off.allocs_gc),
        (0, 0),
        "off: nothing before the 4 h job GC"
    );
    // The record keeps every allocation either way.
    assert_eq!(on.allocs.len(), off.allocs.len());
}

#[test]
fn bad_job_type_inputs_name_the_file_line_and_key() {
    let base = "name = \"bad\"\n[[pools]]\ninstance_type = \"m5.xlarge\"\ncount = 1\n[workload]\njobs = 1\n";
    for (extra, key, line, want) in [
        (
            "[[workload.periodic]]\nname = \"n\"\ncron = \"*/0 * * * *\"\n",
            "workload.periodic[0].cron",
            9,
            "a step of 0",
        ),
        (
            "[[workload.periodic]]\nname = \"n\"\ncron = \"0 2 * * *\"\ntime_zone = \"Europe/Paris\"\n",
            "workload.periodic[0].time_zone",
            10,
            "only UTC",
        ),
        (
            "[[workload.system]]\nname = \"a\"\ntype = \"daemon\"\n",
            "workload.system[0].type",
            9,
            "use `system` or `sysbatch`",
        ),
        (
            "[[workload.system]]\nname = \"a\"\ncount = 3\n",
            "workload.system[0].count",
            9,
            "no count",
        ),
        (
            "[[workload.system]]\nname = \"a\"\n[[workload.system]]\nname = \"a\"\n",
            "workload.system[1].name",
            10,
            "already the name",
        ),
        (
            "[[workload.periodic]]\nname = \"n\"\n",
            "workload.periodic[0].cron",
            7,
            "required",
        ),
    ] {
        let text = format!("{base}{extra}");
        let e = Scenario::from_toml("bad.toml", &text).unwrap_err();
        let s = e.to_string();
        assert_eq!(e.key, key, "{s}");
        assert_eq!(e.line, Some(line), "{s}\n{text}");
        assert!(s.starts_with(&format!("bad.toml:{line}: {key}: ")), "{s}");
        assert!(s.contains(want), "{s}");
    }
    // The main workload's type stays batch or service.
    let e = Scenario::from_toml("bad.toml", &format!("{base}type = \"system\"\n")).unwrap_err();
    assert_eq!(e.key, "workload.type");
    assert!(e.to_string().contains("[[workload.system]]"), "{e}");
}

#[test]
fn a_trace_replay_gets_the_scenarios_agents_and_its_own_periodic_parent() {
    use stampede_sim::runner::{self, RunOptions};
    use stampede_sim::workload::TraceSource;
    let sc = scenario(
        r#"
name = "replay"
[[pools]]
instance_type = "m5.xlarge"
count = 3
[workload]
trace = "day.jsonl"
[[workload.system]]
name = "agent"
cpu_mhz = 100
[sim]
periodic_until = "3h"
"#,
    );
    let trace = stampede_sim::trace::parse_jsonl(concat!(
        r#"{"stampede_trace":3,"name":"t","source":"record","start_unix_ns":0,"jobs":2}"#,
        "\n",
        r#"{"submit_ns":0,"id":"hourly","type":"batch","priority":50,"periodic":{"cron":"@hourly","prohibit_overlap":false},"groups":[{"name":"g","count":2,"cpu_mhz":100,"memory_mb":64,"tasks":["t"],"image":"i","image_bytes":0,"allocs":[{"run_ns":60000000000,"exit":"ok"}]}]}"#,
        "\n",
        r#"{"submit_ns":5000000000,"id":"ci-1","type":"batch","priority":50,"groups":[{"name":"g","count":1,"cpu_mhz":100,"memory_mb":64,"tasks":["t"],"image":"i","image_bytes":0,"allocs":[{"run_ns":1000000000,"exit":"ok"}]}]}"#,
        "\n"
    ))
    .unwrap();
    let src = Box::new(TraceSource::new(std::sync::Arc::new(trace), "day.jsonl"));
    let opts = RunOptions {
        seed: 1,
        tool_version: "test".into(),
        ..Default::default()
    };
    let (rec, _) = runner::run_scenario(&sc, src, &opts, &mut |_| {}).unwrap();
    let agents = per_node(&rec, "agent");
    assert_eq!(agents.len(), 3, "{agents:?}");
    let mut children: Vec<&str> = rec
        .allocs
        .iter()
        .map(|a| a.job_id.as_str())
        .filter(|j| j.starts_with("hourly/periodic-"))
        .collect();
    children.dedup();
    assert_eq!(children.len(), 3, "launches at 1 h, 2 h, 3 h: {children:?}");
    assert!(rec
        .allocs
        .iter()
        .filter(|a| a.job_id.starts_with("hourly/"))
        .all(|a| a.status == AllocStatus::Complete
            && a.done_ns.unwrap() - a.running_ns.unwrap() >= 60_000_000_000));
}
