//! `run_load` end to end against the mock: the measured timeline equals the mock's ground truth.

use std::collections::BTreeMap;
use std::time::Duration;

use stampede::load::{run_load, Pacing, RunPlan, WorkloadPlan};
use stampede::nomad::NomadConnArgs;
use stampede_sim::record::{AllocStatus, ScenarioInfo};

use crate::common::argv;
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
            standing: Vec::new(),
        },
        pacing,
        algorithm: Some("spread".into()),
        cleanup: true,
        timeout: Duration::from_secs(60),
        drain_timeout: Duration::from_secs(20),
        wait: stampede::load::WaitFor::Running,
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
        announce: false,
        shard: None,
        start_at_unix_ns: None,
        peer_scrape: true,
        stop: Default::default(),
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
    let rec = stampede::files::record::read_record(&out.dir).unwrap();
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
        // The run drains until every allocation runs, not until it finishes: an allocation that finished
        // after observation ended (duration_s) is recorded as running, without a done time.
        let observed_end = (rec.meta.duration_s * 1e9) as u64;
        match r.done_ns {
            Some(_) => {
                assert_eq!(
                    r.done_ns,
                    t.finished_ns.and_then(rel),
                    "done of {}",
                    r.alloc_id
                );
                assert_eq!(r.status, AllocStatus::Complete);
            }
            None => {
                assert!(
                    t.finished_ns.and_then(rel).is_none_or(|f| f > observed_end),
                    "missed done of {}",
                    r.alloc_id
                );
                assert_eq!(r.status, AllocStatus::Running);
            }
        }
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
    let mut p = plan(&m.addr, dir.path(), 20, 3, Pacing::Closed { workers: 4 });
    p.conn.token = Some("s3cr3t-t0ken-value".into());
    let out = check_against_truth(&m, p, 20, 3).await;
    for f in ["run.json", "allocs.csv", "metrics.csv", "nodes.csv"] {
        let text = std::fs::read_to_string(dir.path().join(f)).unwrap();
        assert!(!text.contains("s3cr3t"), "token leaked into {f}");
    }
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_against_emulator_with_json_metrics() {
    let cfg = MockConfig {
        version: "1.9.0-stampede-emulator".into(),
        prometheus: false,
        ..Default::default()
    };
    let m = MockNomad::start(cfg).await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(&m.addr, dir.path(), 8, 2, Pacing::Closed { workers: 3 });
    p.workload.dispatch = true;
    p.algorithm = None;
    p.cleanup = false;
    let out = run_load(p).await.unwrap();
    let rec = stampede::files::record::read_record(&out.dir).unwrap();
    assert_eq!(rec.meta.source, stampede_sim::record::Source::Emulator);
    assert_eq!(rec.meta.nomad_version, "1.9.0-stampede-emulator");
    assert_eq!(rec.meta.summary.jobs_submitted, 8);
    assert_eq!(rec.allocs.len(), 16);
    let truth = m.truth();
    for r in &rec.allocs {
        assert!(
            r.job_id.starts_with("stampede-t1-parent/dispatch-"),
            "{}",
            r.job_id
        );
        assert!(truth.contains_key(&r.alloc_id));
        assert!(r.running_ns.is_some() && r.submit_ns.is_some());
    }
    // JSON metrics: no CPU figure, broker gauges present.
    assert!(!rec.metrics.is_empty());
    assert!(rec.metrics.iter().all(|r| r.cpu_pct.is_none()));
    assert!(rec.metrics.iter().any(|r| r.broker_ready == Some(2.0)));
    assert!(
        m.state.lock().unwrap().sched_puts.is_empty(),
        "no --algorithm, no scheduler change"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn timeout_keeps_what_was_measured() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let mut p = plan(
        &m.addr,
        dir.path(),
        1000,
        1,
        Pacing::Open {
            rate_per_s: 20.0,
            burst: 1,
            jitter: Duration::ZERO,
            max_in_flight: 4,
        },
    );
    p.timeout = Duration::from_millis(700);
    p.drain_timeout = Duration::from_secs(2);
    let out = run_load(p).await.unwrap();
    assert!(out.interrupted);
    let rec = stampede::files::record::read_record(&out.dir).unwrap();
    let s = &rec.meta.summary;
    assert!(
        s.jobs_submitted > 3 && s.jobs_submitted < 1000,
        "{}",
        s.jobs_submitted
    );
    assert_eq!(s.jobs_failed_to_submit, 0);
    assert_eq!(rec.allocs.len() as u64, s.jobs_submitted);
    assert!(rec.meta.notes.iter().any(|n| n.contains("--timeout")));
    assert_eq!(rec.meta.outcome, stampede_sim::record::Outcome::TimedOut);
    assert_eq!(out.outcome, stampede_sim::record::Outcome::TimedOut);
    assert_eq!(out.exit_code(), stampede::EXIT_PARTIAL);
    // Open loop: intended times follow the schedule (i / rate), whatever the server did.
    let mut submits: Vec<u64> = rec.allocs.iter().filter_map(|r| r.submit_ns).collect();
    submits.sort();
    for (i, t) in submits.iter().enumerate() {
        assert_eq!(*t, i as u64 * 50_000_000, "job {i} intended at i/rate");
    }
    // Scheduler restored even though the run was cut short.
    assert_eq!(
        m.state.lock().unwrap().sched["SchedulerAlgorithm"],
        "binpack"
    );
}

#[test]
fn cli_run_with_jobspec_conversion_and_json_summary() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let m = rt.block_on(MockNomad::start(MockConfig {
        version: "1.9.0-stampede-emulator".into(),
        ..Default::default()
    }));
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("rec");
    let spec = format!("{}/../jobs/ci-test.nomad.hcl", env!("CARGO_MANIFEST_DIR"));
    let opts = <stampede::Opts as clap::Parser>::parse_from(argv!(
        "stampede run --addr",
        &m.addr,
        "--jobspec",
        &spec,
        "--jobs 4 --workers 2 --quiet --prefix cli- --out",
        &out,
        "--seed 3 --drain-timeout 10s --dispatch"
    ));
    let t = std::time::Instant::now();
    let code = stampede::run(opts).unwrap();
    assert_eq!(code, 0);
    let rec = stampede::files::record::read_record(&out).unwrap();
    assert_eq!(rec.meta.seed, Some(3));
    assert_eq!(rec.meta.scenario.job_type, "batch");
    assert_eq!(
        rec.meta.scenario.cpu_mhz, 500,
        "resources come from the converted jobspec"
    );
    assert_eq!(rec.allocs.len(), 4);
    assert!(
        rec.allocs.iter().all(|r| r.running_ns.is_some()),
        "every dispatched child ran"
    );
    assert!(
        t.elapsed() < std::time::Duration::from_secs(8),
        "drained without waiting for the drain timeout"
    );
    let jobs = m.state.lock().unwrap().jobs.clone();
    assert!(jobs.keys().all(|k| k.starts_with("cli-")));
    assert_eq!(
        jobs["cli-parent"]["TaskGroups"][0]["Tasks"]
            .as_array()
            .unwrap()
            .len(),
        2
    );
    // Without --dispatch a parameterized jobspec is refused with a clear error.
    let opts = <stampede::Opts as clap::Parser>::parse_from(argv!(
        "stampede run --addr",
        &m.addr,
        "--jobspec",
        &spec,
        "--quiet --out",
        &out
    ));
    let e = format!("{:#}", stampede::run(opts).unwrap_err());
    assert!(
        e.contains("ci-test.nomad.hcl") && e.contains("--dispatch"),
        "{e}"
    );
    drop(rt);
}

#[test]
fn cli_without_address_runs_against_the_embedded_emulator() {
    if std::env::var_os("NOMAD_ADDR").is_some() {
        panic!("this test needs NOMAD_ADDR unset");
    }
    let dir = tempfile::tempdir().unwrap();
    // The real binary, so the "embedded emulator" announcement can be checked on stderr.
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(argv!(
            "run --jobs 3 --count 2 --duration 1s --no-report --out"
        ))
        .arg(dir.path())
        .env_remove("NOMAD_ADDR")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("no --addr and no NOMAD_ADDR: running against the embedded emulator"),
        "{stderr}"
    );
    let rec = stampede::files::record::read_record(dir.path()).unwrap();
    assert_eq!(rec.meta.source, stampede_sim::record::Source::Emulator);
    assert_eq!(rec.meta.summary.allocs_placed, 6);
    assert_eq!(rec.meta.summary.allocs_running, 6);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scenario_workload_open_loop_with_slo() {
    let m = MockNomad::start(MockConfig::default()).await;
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("s.toml");
    std::fs::write(
        &sc,
        "name = \"mini\"\n[cluster]\nservers = 1\n[[pools]]\ninstance_type = \"m5.xlarge\"\ncount = 3\n[workload]\njobs = 6\ncount = 2\ntype = \"batch\"\nduration = \"1s\"\n[workload.arrival]\nmode = \"open_loop\"\nrate_per_s = 30.0\nburst = 2\n[slo]\nsubmit_to_running_p99_ms = 60000\n",
    )
    .unwrap();
    let out = dir.path().join("rec");
    let opts = <stampede::Opts as clap::Parser>::parse_from(argv!(
        "stampede run --addr",
        &m.addr,
        "--scenario",
        &sc,
        "--quiet --out",
        &out,
        "--no-metrics"
    ));
    let stampede::Command::Run(args) = opts.command else {
        panic!("not run")
    };
    let plan = stampede::cli::run::plan_from_args(&args).await.unwrap();
    assert!(matches!(plan.pacing, Pacing::Open { burst: 2, .. }));
    assert_eq!(plan.workload.jobs, 6);
    let res = run_load(plan).await.unwrap();
    let rec = stampede::files::record::read_record(&res.dir).unwrap();
    assert_eq!(rec.meta.scenario.name, "mini");
    assert!(
        rec.meta
            .scenario
            .arrival
            .starts_with("open-loop rate=30/s burst=2"),
        "{}",
        rec.meta.scenario.arrival
    );
    assert_eq!(rec.allocs.len(), 12);
    let slo = &rec.meta.summary.slo["submit_to_running_p99_ms"];
    assert!(slo.met && slo.measured > 0.0, "{slo:?}");
    assert!(rec.metrics.is_empty(), "--no-metrics");
    // Bursts of 2 at 30 jobs/s: pairs share an intended time, pairs are 66.7 ms apart.
    let mut submits: Vec<u64> = rec.allocs.iter().filter_map(|r| r.submit_ns).collect();
    submits.sort();
    submits.dedup();
    assert_eq!(submits, vec![0, 66_666_667, 133_333_333]);
}

/// Issue 11 §6: `stampede run --scenario` registers the scenario's standing jobs (system, periodic) before
/// the flood, as `stampede-standing-<name>`: the emulated cluster runs the system job on every node while
/// the flood is measured alone (allocs.csv holds only the flood), the periodic parent carries its cron
/// spec, and `--cleanup` deregisters them. `--type` stays batch or service (clap refuses the others).
#[test]
fn run_registers_a_scenarios_system_and_periodic_jobs() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = rt
        .block_on(stampede::emulator::start(crate::common::small_emulator(
            20.0,
        )))
        .unwrap();
    let url = format!("http://{}", h.addr);
    let dir = tempfile::tempdir().unwrap();
    let sc = dir.path().join("agents.toml");
    std::fs::write(
        &sc,
        "name = \"agents\"\n[[pools]]\ninstance_type = \"m5.xlarge\"\ncount = 2\n\
         [workload]\njobs = 4\ncount = 1\ncpu_mhz = 20\nmemory_mb = 16\nduration = \"1s\"\n\
         [[workload.system]]\nname = \"log-shipper\"\ncpu_mhz = 20\nmemory_mb = 16\n\
         [[workload.periodic]]\nname = \"nightly\"\ncron = \"0 2 * * *\"\ncount = 1\ncpu_mhz = 20\nmemory_mb = 16\nduration = \"1s\"\n",
    )
    .unwrap();
    let get = |path: &str| -> (u16, serde_json::Value) {
        rt.block_on(async {
            let r = reqwest::get(format!("{url}{path}")).await.unwrap();
            let status = r.status().as_u16();
            (status, r.json().await.unwrap_or(serde_json::Value::Null))
        })
    };
    let out = dir.path().join("first");
    let code = crate::common::cli(&argv!(
        "run --addr",
        &url,
        "--scenario",
        &sc,
        "--run-id first --out",
        &out,
        "--no-report --quiet --timeout 120s"
    ))
    .unwrap();
    assert_eq!(code, 0);
    let rec = crate::common::read_record(&out);
    assert_eq!(rec.allocs.len(), 4, "only the flood is measured");
    assert!(
        rec.meta.notes.iter().any(|n| n.contains(
            "standing jobs registered before the flood (not in allocs.csv): stampede-standing-log-shipper, stampede-standing-nightly"
        )),
        "{:?}",
        rec.meta.notes
    );
    let nodes = get("/v1/nodes").1.as_array().unwrap().len();
    let (st, job) = get("/v1/job/stampede-standing-log-shipper");
    assert_eq!(st, 200);
    assert_eq!(job["Type"], "system");
    let allocs = get("/v1/job/stampede-standing-log-shipper/allocations").1;
    assert_eq!(allocs.as_array().unwrap().len(), nodes, "one per node");
    let (st, nightly) = get("/v1/job/stampede-standing-nightly");
    assert_eq!(st, 200);
    assert_eq!(nightly["Periodic"]["Spec"], "0 2 * * *");
    // A second run updates them in place and, with --cleanup, removes them with the flood.
    let out2 = dir.path().join("second");
    let code = crate::common::cli(&argv!(
        "run --addr",
        &url,
        "--scenario",
        &sc,
        "--run-id second --out",
        &out2,
        "--cleanup --no-report --quiet --timeout 120s"
    ))
    .unwrap();
    assert_eq!(code, 0);
    let rec = crate::common::read_record(&out2);
    assert!(
        rec.meta.notes.iter().any(|n| n.contains(
            "and the standing jobs stampede-standing-log-shipper, stampede-standing-nightly"
        )),
        "{:?}",
        rec.meta.notes
    );
    assert_eq!(get("/v1/job/stampede-standing-log-shipper").0, 404);
    assert_eq!(get("/v1/job/stampede-standing-nightly").0, 404);
    rt.block_on(h.shutdown());
    let out = crate::common::bin_output(&["run", "--type", "system", "--jobs", "1", "--no-report"]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("possible values: batch, service"),
        "{stderr}"
    );
}
