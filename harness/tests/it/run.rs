//! `run_load` end to end against the mock: the measured timeline equals the mock's ground truth.

use std::collections::BTreeMap;
use std::time::Duration;

use stampede::load::{run_load, Pacing, RunPlan, WorkloadPlan};
use stampede::nomad::NomadConnArgs;
use stampede_sim::record::{AllocStatus, ScenarioInfo};

use crate::mock_nomad::{MockConfig, MockNomad};

fn plan(addr: &str, dir: &std::path::Path, jobs: u32, count: u32, pacing: Pacing) -> RunPlan {
    let job = serde_json::json!({"ID": "x", "Type": "batch", "TaskGroups": [{"Name": "g0", "Count": count, "Tasks": [{"Name": "t", "Driver": "raw_exec", "Resources": {"CPU": 100, "MemoryMB": 64}}]}]});
    RunPlan {
        conn: NomadConnArgs::for_address(addr),
        run_id: "t1".into(),
        prefix: "stampede-t1-".into(),
        out_dir: dir.to_path_buf(),
        seed: 7,
        workload: WorkloadPlan {
            job,
            jobs,
            dispatch: false,
        },
        pacing,
        algorithm: Some("spread".into()),
        cleanup: true,
        timeout: Duration::from_secs(60),
        drain_timeout: Duration::from_secs(20),
        max_attempts: 6,
        scrape_metrics: true,
        progress: false,
        scenario: ScenarioInfo {
            name: "t".into(),
            path: None,
            scale: 1.0,
            algorithm: "binpack".into(),
            jobs: jobs as u64,
            job_type: "batch".into(),
            groups_per_job: 1,
            count_per_group: count,
            cpu_mhz: 100,
            memory_mb: 64,
            spread_block: false,
            arrival: String::new(),
            slo: BTreeMap::new(),
        },
        slo: BTreeMap::new(),
        per_page: 7,
    }
}

async fn check_against_truth(
    m: &MockNomad,
    p: RunPlan,
    jobs: u32,
    count: u32,
) -> stampede::load::RunOutcome {
    let before = m.state.lock().unwrap().sched.clone();
    let out = run_load(p).await.unwrap();
    let rec = stampede::record_io::read_record(&out.dir).unwrap();
    let truth = m.truth();
    assert_eq!(truth.len() as u32, jobs * count);
    assert_eq!(
        rec.allocs.len(),
        truth.len(),
        "one row per allocation, none lost, none doubled"
    );
    let t0 = rec.meta.start_unix_ns as i64;
    let rel = |ns: i64| Some((ns - t0) as u64);
    for r in &rec.allocs {
        let t = truth
            .get(&r.alloc_id)
            .unwrap_or_else(|| panic!("row for unknown alloc {}", r.alloc_id));
        assert_eq!(r.job_id, t.job);
        assert_eq!(r.placed_ns, rel(t.create_ns), "placed of {}", r.alloc_id);
        assert_eq!(
            r.running_ns,
            t.started_ns.and_then(rel),
            "running of {}",
            r.alloc_id
        );
        assert_eq!(
            r.done_ns,
            t.finished_ns.and_then(rel),
            "done of {}",
            r.alloc_id
        );
        assert_eq!(r.status, AllocStatus::Complete);
        assert!(r.submit_ns.is_some() && r.sent_ns >= r.submit_ns);
        assert!(r.placed_ns > r.submit_ns);
    }
    let s = &rec.meta.summary;
    assert_eq!(s.jobs_submitted, jobs as u64);
    assert_eq!(s.allocs_placed, (jobs * count) as u64);
    assert_eq!(s.allocs_desired, (jobs * count) as u64);
    assert_eq!(s.latency_ms.submit_to_running.count, (jobs * count) as u64);
    // Scheduler configuration: set with cas, other fields kept, restored afterwards.
    let st = m.state.lock().unwrap();
    assert_eq!(st.sched_puts.len(), 2);
    assert_eq!(st.sched_puts[0]["SchedulerAlgorithm"], "spread");
    assert_eq!(st.sched_puts[0]["MemoryOversubscriptionEnabled"], true);
    assert_eq!(st.sched["SchedulerAlgorithm"], before["SchedulerAlgorithm"]);
    assert_eq!(st.sched["PreemptionConfig"], before["PreemptionConfig"]);
    // Cleanup removed exactly our jobs.
    assert_eq!(st.deregistered.len() as u32, jobs);
    assert!(st.jobs.is_empty());
    assert!(!rec.metrics.is_empty(), "metrics.csv has rows");
    assert!(
        rec.metrics.iter().any(|r| r.cpu_pct.is_some()),
        "CPU% from Prometheus"
    );
    assert_eq!(rec.nodes.len(), 3);
    assert_eq!(rec.meta.source, stampede_sim::record::Source::Nomad);
    assert!(!out.dir.join("metrics.csv.partial").exists());
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn measured_timeline_equals_ground_truth() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let out = check_against_truth(
        &m,
        plan(&m.addr, dir.path(), 20, 3, Pacing::Closed { workers: 4 }),
        20,
        3,
    )
    .await;
    assert_eq!(out.submit.retries, 0);
    // Memory per allocation is measured by the ingest bench (small runs are dominated by the first block).
    assert!(out.timeline_bytes_per_alloc > 0.0);
    assert_eq!(
        out.reconciled_new_allocs, 0,
        "a stream without faults misses nothing"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn faults_lose_nothing_and_double_count_nothing() {
    let cfg = MockConfig {
        chunked: false,
        drop_stream_every: Some(Duration::from_millis(400)),
        fail_register_every: 33,
        register_429_at: Some(5),
        ring: 30,
        ..Default::default()
    };
    let m = MockNomad::start(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let p = plan(
        &m.addr,
        dir.path(),
        60,
        2,
        Pacing::Open {
            rate_per_s: 40.0,
            burst: 2,
            jitter: Duration::from_millis(20),
            max_in_flight: 16,
        },
    );
    let out = check_against_truth(&m, p, 60, 2).await;
    assert!(
        out.submit.retries >= 2,
        "500s and the 429 were retried: {:?}",
        out.submit
    );
    assert!(out.stream.connects >= 3, "{:?}", out.stream);
    let st = m.state.lock().unwrap();
    assert_eq!(st.registered_ok, 60);
}
