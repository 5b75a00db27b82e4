//! The harness against a real Nomad (3 servers, 3 raw_exec clients on loopback, ACLs on): `stampede run`
//! in register and dispatch modes with the spread algorithm and a spread block and `--cleanup`,
//! `trace record`, the metrics scrape from Nomad's real metric names, `--jobspec` with every file in
//! `jobs/`, the ACL token from `NOMAD_TOKEN` (never written anywhere), `report` and `compare` of real
//! records; and the event stream across a leader kill and restart.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use stampede_sim::record::{AllocStatus, Source};

use crate::common::{argv, ok, read_record, repo, run_bounded};
use crate::real_cluster::{files_under, ClusterOpts, RealCluster};

/// No file under `dir` and no captured output contains the token.
fn assert_no_token(token: &str, dir: &Path, outputs: &[&str]) {
    let files = files_under(dir);
    assert!(!files.is_empty(), "nothing under {}", dir.display());
    for f in files {
        let b = std::fs::read(&f).unwrap();
        assert!(
            !b.windows(token.len()).any(|w| w == token.as_bytes()),
            "the ACL token was written into {}",
            f.display()
        );
    }
    for o in outputs {
        assert!(!o.contains(token), "the ACL token was printed: {o}");
    }
}

/// Allocation rows: one per allocation, each placed and started, none twice.
fn assert_allocs_complete(rec: &stampede_sim::record::RunRecord, jobs: usize, per_job: usize) {
    let ids: BTreeSet<&str> = rec.allocs.iter().map(|a| a.alloc_id.as_str()).collect();
    assert_eq!(ids.len(), rec.allocs.len(), "an allocation counted twice");
    assert_eq!(rec.allocs.len(), jobs * per_job, "allocation rows");
    let mut by_job: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &rec.allocs {
        *by_job.entry(a.job_id.as_str()).or_default() += 1;
        assert!(a.placed_ns.is_some(), "never placed: {a:?}");
        assert!(a.running_ns.is_some(), "never running: {a:?}");
        assert!(a.submit_ns.is_some(), "no submit time: {a:?}");
        assert!(
            a.placed_ns >= a.submit_ns && a.running_ns >= a.placed_ns,
            "timeline order: {a:?}"
        );
        assert!(!a.node_id.is_empty(), "{a:?}");
    }
    assert_eq!(by_job.len(), jobs, "jobs with allocations");
    assert!(by_job.values().all(|&n| n == per_job), "{by_job:?}");
}

#[test]
fn harness_against_real_nomad() {
    let t_all = Instant::now();
    let c = RealCluster::start(&ClusterOpts::default());
    eprintln!("real cluster up in {:.1} s", c.started_in.as_secs_f64());
    let out_root = tempfile::tempdir().unwrap();
    let out = out_root.path();
    let mut printed = Vec::new();

    // The cluster is what we asked for: 3 servers (Raft peers), 3 ready raw_exec nodes, ACLs on.
    let peers = c.get("/v1/status/peers");
    assert_eq!(peers.as_array().unwrap().len(), 3, "{peers}");
    let nodes = c.get("/v1/nodes");
    let nodes = nodes.as_array().unwrap();
    assert_eq!(nodes.len(), 3);
    for n in nodes {
        assert_eq!(n["Status"], "ready");
        assert_eq!(n["Drivers"]["raw_exec"]["Healthy"], true, "{n}");
    }
    let anon = Command::new("curl")
        .args(["-s", "-o", "/dev/null", "-w", "%{http_code}"])
        .arg(format!("{}/v1/jobs", c.addr()))
        .output()
        .unwrap();
    assert_eq!(String::from_utf8_lossy(&anon.stdout), "403", "ACLs are on");

    // 1. Without the token the run fails clearly (403 named), exit non-zero, nothing placed.
    let o = run_bounded(
        {
            let mut cmd = c.stampede(false);
            cmd.args(argv!("run --jobs 2 --driver raw_exec --quiet --no-report"))
                .arg("--out")
                .arg(out.join("no-token"));
            cmd
        },
        Duration::from_secs(60),
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(!o.status.success(), "a run without a token must fail");
    assert!(
        err.contains("403") || err.to_lowercase().contains("permission denied"),
        "{err}"
    );

    // 2. Register mode, spread algorithm + spread block, cleanup; token from NOMAD_TOKEN.
    let sched_before = c.get("/v1/operator/scheduler/configuration");
    let alg_before = sched_before["SchedulerConfig"]["SchedulerAlgorithm"].clone();
    let reg = out.join("register");
    let o = run_bounded(
        {
            let mut cmd = c.stampede(true);
            cmd.args(argv!(
                "run --jobs 12 --count 3 --driver raw_exec --duration 2s --cpu 50",
                "--memory 32 --algorithm spread --spread-block --workers 4",
                "--cleanup --run-id real-register --timeout 3m --drain-timeout 90s"
            ))
            .arg("--out")
            .arg(&reg);
            cmd
        },
        Duration::from_secs(240),
    );
    printed.push(ok("stampede run (register)", &o));
    let rec = read_record(&reg);
    assert_eq!(rec.meta.source, Source::Nomad);
    assert!(
        rec.meta.nomad_version.contains("1.6."),
        "{}",
        rec.meta.nomad_version
    );
    assert_eq!(rec.meta.scenario.algorithm, "spread");
    assert!(rec.meta.scenario.spread_block);
    let s = &rec.meta.summary;
    assert_eq!((s.jobs_submitted, s.jobs_failed_to_submit), (12, 0));
    assert_eq!(s.allocs_placed, 36);
    assert_allocs_complete(&rec, 12, 3);
    // Real sleeps: the run stops observing once everything runs, so an allocation is still running or
    // has completed; those that completed ran their `sleep 2` (as the server saw it: the client reports
    // `running` and `complete` in batched status updates, so the observed span can be shorter than 2 s
    // on a loaded machine — 1.37 s was seen here).
    assert!(
        rec.allocs
            .iter()
            .all(|a| matches!(a.status, AllocStatus::Running | AllocStatus::Complete)),
        "{:?}",
        rec.allocs.iter().map(|a| a.status).collect::<Vec<_>>()
    );
    let done: Vec<_> = rec
        .allocs
        .iter()
        .filter(|a| a.status == AllocStatus::Complete)
        .collect();
    for a in &done {
        let ran = a.done_ns.unwrap() - a.running_ns.unwrap();
        assert!(ran >= 1_000_000_000, "ran {ran} ns: {a:?}");
    }
    // Spread: the 36 allocations sit on all 3 nodes, evenly (spread algorithm + spread on node id).
    let mut per_node: BTreeMap<&str, usize> = BTreeMap::new();
    for a in &rec.allocs {
        *per_node.entry(a.node_id.as_str()).or_default() += 1;
    }
    assert_eq!(per_node.len(), 3, "{per_node:?}");
    let (mn, mx) = (
        *per_node.values().min().unwrap(),
        *per_node.values().max().unwrap(),
    );
    assert!(mx - mn <= 4, "not spread: {per_node:?}");
    // The scheduler algorithm was restored.
    let sched_after = c.get("/v1/operator/scheduler/configuration");
    assert_eq!(
        sched_after["SchedulerConfig"]["SchedulerAlgorithm"],
        alg_before
    );
    // Cleanup purged the run's jobs.
    let left = c.get("/v1/jobs?prefix=stampede-real-register-");
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
    // Metrics: every server scraped from Prometheus, real names → CPU, RSS, Raft bytes, fsyncs.
    let servers: BTreeSet<&str> = rec.metrics.iter().map(|m| m.server.as_str()).collect();
    assert_eq!(servers.len(), 3, "{servers:?}");
    assert_eq!(rec.meta.servers.len(), 3);
    assert_eq!(rec.meta.servers.iter().filter(|s| s.leader).count(), 1);
    assert!(rec
        .metrics
        .iter()
        .any(|m| m.cpu_pct.is_some_and(|v| v > 0.0)));
    assert!(rec
        .metrics
        .iter()
        .all(|m| m.rss_bytes.is_some_and(|v| v > 1e7)));
    let leader_rows: Vec<_> = rec.metrics.iter().filter(|m| m.leader).collect();
    assert!(!leader_rows.is_empty());
    let raft: f64 = leader_rows
        .iter()
        .filter_map(|m| m.raft_bytes_written)
        .sum();
    let fsyncs: f64 = leader_rows.iter().filter_map(|m| m.fsyncs).sum();
    assert!(raft > 1000.0, "Raft bytes written by the leader: {raft}");
    assert!(fsyncs >= 1.0, "leader fsyncs: {fsyncs}");
    assert!(s.servers.raft_bytes_written_total > 0.0 && s.servers.fsyncs_total > 0.0);
    // Control plane from Nomad's cumulative metrics (issue 11 §7): 12 jobs → at least 12 plans and 12
    // scheduler passes; Raft committed their entries; the FSM and the workers took time; per trigger from
    // the evaluation listing; no model-only field is invented.
    let cp = rec
        .meta
        .control_plane
        .as_ref()
        .expect("control_plane from Prometheus");
    assert_eq!(cp.source, "prometheus");
    assert!(cp.nomad_version.contains("1.6."), "{cp:?}");
    assert!((12..=40).contains(&cp.plans_submitted), "{cp:?}");
    assert!((12..=60).contains(&cp.evals_processed), "{cp:?}");
    assert!(
        cp.evals_by_trigger
            .get("job-register")
            .copied()
            .unwrap_or(0)
            >= 12,
        "{cp:?}"
    );
    assert!(
        cp.raft_entries >= 24 && cp.raft_leader_writes >= 1,
        "{cp:?}"
    );
    assert!(cp.raft_leader_writes <= cp.raft_entries, "{cp:?}");
    assert_eq!(cp.log_store, "boltdb", "{cp:?}");
    assert!(cp.raft_leader_fsyncs.is_some_and(|f| f >= 1), "{cp:?}");
    assert!(
        cp.raft_commit_ms_mean > 0.0 && cp.raft_commit_ms_mean < 5_000.0,
        "{cp:?}"
    );
    assert!(cp.plans_rejected.is_none() && cp.max_plans_in_flight.is_none());
    assert_eq!(cp.servers.len(), 3);
    assert!(
        cp.servers.iter().map(|b| b.fsm_s).sum::<f64>() > 0.0,
        "{cp:?}"
    );
    assert!(
        cp.servers.iter().map(|b| b.workers_s).sum::<f64>() > 0.0,
        "{cp:?}"
    );
    assert!(cp.servers.iter().all(|b| b.total_s > 0.0), "{cp:?}");

    // 3. Dispatch mode with the raw_exec jobspec from jobs/ (parsed by the server's /v1/jobs/parse).
    let disp = out.join("dispatch");
    let o = run_bounded(
        {
            let mut cmd = c.stampede(true);
            cmd.arg("run")
                .arg("--jobspec")
                .arg(repo().join("jobs/ci-test-raw-exec.nomad.hcl"))
                .args(argv!(
                    "--dispatch --jobs 4 --var test_seconds=1 --var cpu=100 --var memory=64",
                    "--workers 2 --cleanup --run-id real-dispatch --timeout 3m",
                    "--drain-timeout 90s"
                ))
                .arg("--out")
                .arg(&disp);
            cmd
        },
        Duration::from_secs(240),
    );
    printed.push(ok("stampede run --dispatch", &o));
    let drec = read_record(&disp);
    assert_eq!(drec.meta.summary.jobs_submitted, 4);
    assert_allocs_complete(&drec, 4, 1);
    assert!(
        drec.allocs.iter().all(|a| a.job_id.contains("/dispatch-")),
        "dispatched children: {:?}",
        drec.allocs.iter().map(|a| &a.job_id).collect::<Vec<_>>()
    );
    let left = c.get("/v1/jobs?prefix=stampede-real-dispatch-");
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");

    // 4. Every jobspec in jobs/: stampede's own HCL converter agrees with Nomad's /v1/jobs/parse on what
    //    a scheduler sees (structure, counts, resources, drivers, policies, spreads, parameterization).
    for f in std::fs::read_dir(repo().join("jobs")).unwrap() {
        let p = f.unwrap().path();
        if !p.to_string_lossy().ends_with(".nomad.hcl") {
            continue;
        }
        let text = std::fs::read_to_string(&p).unwrap();
        let local =
            stampede::jobspec::hcl_to_job(&p.display().to_string(), &text, &BTreeMap::new())
                .unwrap_or_else(|e| panic!("{}: {e:#}", p.display()));
        let body = serde_json::json!({"JobHCL": text, "Canonicalize": true}).to_string();
        let remote: serde_json::Value =
            serde_json::from_str(&c.curl(c.addr(), "POST", "/v1/jobs/parse", Some(&body))).unwrap();
        compare_jobs(&p.display().to_string(), &local, &remote);
    }

    // 5. trace record while a run goes on, then the trace replays through inspect.
    let trace = out.join("real.jsonl");
    let mut rec_cmd = c.stampede(true);
    rec_cmd
        .args(argv!(
            "trace record --duration 60s --prefix stampede-real-traced-"
        ))
        .arg("--out")
        .arg(&trace)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let recorder = rec_cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(2));
    let traced = out.join("traced");
    let o = run_bounded(
        {
            let mut cmd = c.stampede(true);
            cmd.args(argv!(
                "run --jobs 6 --count 2 --driver raw_exec --duration 1s --cpu 50",
                "--memory 32 --rate 3 --run-id real-traced --timeout 2m",
                "--drain-timeout 60s"
            ))
            .arg("--out")
            .arg(&traced);
            cmd
        },
        Duration::from_secs(180),
    );
    printed.push(ok("stampede run (traced)", &o));
    let o = recorder.wait_with_output().unwrap();
    let rec_out = ok("stampede trace record", &o);
    printed.push(rec_out.clone());
    let t = stampede_sim::trace::parse_jsonl(&std::fs::read_to_string(&trace).unwrap()).unwrap();
    assert_eq!(t.jobs.len(), 6, "recorded jobs: {rec_out}");
    for j in &t.jobs {
        assert!(j.id.starts_with("stampede-real-traced-"), "{}", j.id);
        assert_eq!(j.groups.len(), 1);
        assert_eq!(j.groups[0].count, 2);
        assert_eq!(j.groups[0].cpu_mhz, 50);
        assert_eq!(j.groups[0].allocs.len(), 2, "{j:?}");
        for a in &j.groups[0].allocs {
            assert!(
                a.run_ns >= 700_000_000 && a.run_ns < 30_000_000_000,
                "a `sleep 1` ran {} ns",
                a.run_ns
            );
        }
    }
    let o = run_bounded(
        {
            let mut cmd = c.stampede(false);
            cmd.args(["trace", "inspect"]).arg(&trace);
            cmd
        },
        Duration::from_secs(60),
    );
    ok("trace inspect of a recorded real trace", &o);

    // 6. The real records pass report and compare like any other.
    for d in [&reg, &traced] {
        let o = run_bounded(
            {
                let mut cmd = c.stampede(false);
                cmd.arg("report").arg(d);
                cmd
            },
            Duration::from_secs(60),
        );
        ok("stampede report", &o);
        assert!(d.join("summary.md").is_file() && d.join("report.html").is_file());
    }
    let o = run_bounded(
        {
            let mut cmd = c.stampede(false);
            cmd.arg("compare")
                .arg(&reg)
                .arg(&traced)
                .args(["--fail-if", "allocs_placed < -99%"]);
            cmd
        },
        Duration::from_secs(60),
    );
    ok("stampede compare of two real records", &o);
    let o = run_bounded(
        {
            let mut cmd = c.stampede(false);
            cmd.arg("compare")
                .arg(&reg)
                .arg(&traced)
                .args(["--fail-if", "allocs_placed < -10%"]);
            cmd
        },
        Duration::from_secs(60),
    );
    assert_eq!(
        o.status.code(),
        Some(1),
        "36 → 12 placements is a regression: {}",
        String::from_utf8_lossy(&o.stdout)
    );

    // 7. The token never reached a file or the output.
    let printed: Vec<&str> = printed.iter().map(String::as_str).collect();
    assert_no_token(&c.token, out, &printed);
    eprintln!(
        "harness_against_real_nomad: {:.1} s",
        t_all.elapsed().as_secs_f64()
    );
}

/// What a scheduler sees of a job: stampede's converter vs Nomad's parser.
fn compare_jobs(file: &str, local: &serde_json::Value, remote: &serde_json::Value) {
    let same = |what: &str, a: &serde_json::Value, b: &serde_json::Value| {
        let norm = |v: &serde_json::Value| {
            if v.is_null() {
                serde_json::Value::Null
            } else {
                v.clone()
            }
        };
        assert_eq!(
            norm(a),
            norm(b),
            "{file}: {what} differs: stampede {a} vs Nomad {b}"
        );
    };
    for k in ["ID", "Type", "Priority", "Datacenters"] {
        same(k, &local[k], &remote[k]);
    }
    same(
        "parameterized",
        &serde_json::json!(local["ParameterizedJob"].is_object()),
        &serde_json::json!(remote["ParameterizedJob"].is_object()),
    );
    let lg = local["TaskGroups"].as_array().unwrap();
    let rg = remote["TaskGroups"].as_array().unwrap();
    assert_eq!(lg.len(), rg.len(), "{file}: group count");
    for (l, r) in lg.iter().zip(rg) {
        let g = l["Name"].as_str().unwrap_or("?");
        for k in ["Name", "Count"] {
            same(&format!("group {g} {k}"), &l[k], &r[k]);
        }
        let lt = l["Tasks"].as_array().unwrap();
        let rt = r["Tasks"].as_array().unwrap();
        assert_eq!(lt.len(), rt.len(), "{file}: group {g} task count");
        for (a, b) in lt.iter().zip(rt) {
            let t = a["Name"].as_str().unwrap_or("?");
            for k in ["Name", "Driver"] {
                same(&format!("task {g}/{t} {k}"), &a[k], &b[k]);
            }
            for k in ["CPU", "MemoryMB"] {
                same(
                    &format!("task {g}/{t} Resources.{k}"),
                    &a["Resources"][k],
                    &b["Resources"][k],
                );
            }
            same(
                &format!("task {g}/{t} Config.command"),
                &a["Config"]["command"],
                &b["Config"]["command"],
            );
        }
    }
}

#[test]
fn event_stream_survives_leader_kill_and_restart() {
    let c = RealCluster::start(&ClusterOpts::default());
    let out_root = tempfile::tempdir().unwrap();
    let dir = out_root.path().join("leader-kill");
    // Point the run at the leader itself, so killing it breaks the event stream, the submissions and
    // the scrape: the reconnects are exercised for real.
    let leader = c.wait_leader(None, Duration::from_secs(30));
    let mut cmd = c.stampede(true);
    cmd.env("NOMAD_ADDR", c.http_of(&leader));
    cmd.args([
        "run",
        "--jobs",
        "40",
        "--driver",
        "raw_exec",
        "--duration",
        "1s",
        "--cpu",
        "50",
        "--memory",
        "32",
        "--rate",
        "2",
        "--max-attempts",
        "15",
        "--run-id",
        "real-leader",
        "--timeout",
        "4m",
        "--drain-timeout",
        "2m",
        // This test is about placements and the event stream across a leader change; with the batch
        // default `--wait done`, a terminal update lost in the failover (the stream resumes from the new
        // leader's index) makes the run wait out the drain timeout (known gap: no mid-drain reconcile).
        "--wait",
        "running",
        "--quiet",
    ])
    .arg("--out")
    .arg(&dir)
    .stdout(Stdio::piped())
    .stderr(Stdio::piped());
    let run = cmd.spawn().unwrap();
    std::thread::sleep(Duration::from_secs(6));
    c.kill(&leader);
    let new_leader = c.wait_leader(Some(&leader), Duration::from_secs(60));
    eprintln!("killed leader {leader}; {new_leader} took over");
    std::thread::sleep(Duration::from_secs(2));
    c.restart(&leader);
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = run.id();
    std::thread::spawn(move || {
        let _ = tx.send(run.wait_with_output());
    });
    let o = match rx.recv_timeout(Duration::from_secs(300)) {
        Ok(o) => o.unwrap(),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the run did not finish within 300 s");
        }
    };
    let printed = ok("stampede run across a leader kill", &o);
    let rec = read_record(&dir);
    let s = &rec.meta.summary;
    assert_eq!(
        (s.jobs_submitted, s.jobs_failed_to_submit),
        (40, 0),
        "{:#?}",
        rec.meta.notes
    );
    assert_allocs_complete(&rec, 40, 1);
    let changes: Vec<_> = rec
        .meta
        .events
        .iter()
        .filter(|e| e.kind == "leader_change")
        .collect();
    assert!(
        !changes.is_empty(),
        "the record says a leader changed: {:?}",
        rec.meta.events
    );
    let note = rec
        .meta
        .notes
        .iter()
        .find(|n| n.starts_with("event stream:"))
        .unwrap();
    let connects: u64 = note
        .trim_start_matches("event stream: ")
        .split_whitespace()
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(connects >= 2, "the stream reconnected: {note}");
    eprintln!("{note}; events: {:?}", rec.meta.events);
    assert_no_token(&c.token, out_root.path(), &[&printed]);
}
