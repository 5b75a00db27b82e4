//! Past one machine on a real Nomad (loopback cluster, `tools/nomad/cluster.sh`): a flood from two
//! generators (`run --shard I/2 --start-at T`) merged with `stampede merge` equals a one-generator run of the
//! same workload in totals and allocation set; and a capacity plan evaluated as Nomad batch jobs
//! (`plan --on-nomad`) equals the local plan in its decision fields, also when a worker is killed mid-way.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::Duration;

use stampede_sim::record::RunRecord;

use crate::common::{ok, read_record, spawn_piped, wait_bounded};
use crate::real_cluster::{ClusterOpts, RealCluster};

/// (job number, task group) → allocations, for records whose job IDs are `<prefix><number>`.
fn alloc_set(rec: &RunRecord, prefix: &str) -> BTreeMap<(u64, String), usize> {
    let mut m = BTreeMap::new();
    for a in &rec.allocs {
        let n: u64 = a.job_id.strip_prefix(prefix).unwrap().parse().unwrap();
        *m.entry((n, a.task_group.clone())).or_default() += 1;
    }
    m
}

const JOBS: u64 = 16;
const RATE: f64 = 8.0;

fn flood_args(prefix: &str) -> Vec<String> {
    [
        "run",
        "--jobs",
        &JOBS.to_string(),
        "--count",
        "2",
        "--driver",
        "raw_exec",
        "--duration",
        "1s",
        "--cpu",
        "20",
        "--memory",
        "16",
        "--rate",
        &RATE.to_string(),
        "--prefix",
        prefix,
        "--run-id",
        prefix.trim_end_matches('-'),
        "--cleanup",
        "--no-report",
        "--quiet",
        "--timeout",
        "3m",
        "--drain-timeout",
        "90s",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect()
}

#[test]
fn two_shard_flood_merges_to_the_one_generator_run() {
    let c = RealCluster::start(&ClusterOpts {
        servers: 1,
        clients: 2,
        ..Default::default()
    });
    let tmp = tempfile::tempdir().unwrap();
    let out = tmp.path();

    // One generator.
    let single = out.join("single");
    let mut cmd = c.stampede(true);
    cmd.args(flood_args("one-")).arg("--out").arg(&single);
    ok(
        "one-generator run",
        &wait_bounded(
            spawn_piped(cmd),
            Duration::from_secs(240),
            "one-generator run",
        ),
    );

    // Two generators, started together 8 s from now.
    let start_at = (std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64()
        + 8.0)
        .to_string();
    let kids: Vec<_> = (0..2)
        .map(|i| {
            let mut cmd = c.stampede(true);
            cmd.args(flood_args("two-"))
                .args(["--shard", &format!("{i}/2"), "--start-at", &start_at])
                .arg("--out")
                .arg(out.join(format!("shard{i}")));
            spawn_piped(cmd)
        })
        .collect();
    for (i, k) in kids.into_iter().enumerate() {
        ok(
            &format!("shard {i}/2"),
            &wait_bounded(k, Duration::from_secs(240), "a shard"),
        );
    }
    let (s0, s1) = (
        read_record(&out.join("shard0")),
        read_record(&out.join("shard1")),
    );
    // Each generator sent and observed only its own jobs: even numbers on 0/2, odd on 1/2.
    for (rec, parity) in [(&s0, 0), (&s1, 1)] {
        assert_eq!(rec.meta.summary.jobs_submitted, JOBS / 2);
        assert_eq!(rec.meta.scenario.jobs, JOBS / 2);
        assert_eq!(
            rec.meta.outcome.as_str(),
            "complete",
            "{:?}",
            rec.meta.notes
        );
        for (n, _) in alloc_set(rec, "two-").keys() {
            assert_eq!(n % 2, parity, "shard {parity} holds job {n}");
        }
    }

    // A merge without every generator is refused and names the missing one.
    let o = c
        .stampede(false)
        .args(["merge", "--no-report"])
        .arg(out.join("shard0"))
        .arg("--out")
        .arg(out.join("half"))
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("missing the record of shard 1/2"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );

    let merged = out.join("merged");
    let o = c
        .stampede(false)
        .args(["merge", "--no-report"])
        .arg(out.join("shard1"))
        .arg(out.join("shard0"))
        .arg("--out")
        .arg(&merged)
        .output()
        .unwrap();
    ok("stampede merge", &o);
    let m = read_record(&merged);
    let one = read_record(&single);

    // Same totals.
    let (a, b) = (&m.meta.summary, &one.meta.summary);
    assert_eq!(a.jobs_submitted, JOBS);
    assert_eq!(
        (
            a.jobs_submitted,
            a.jobs_failed_to_submit,
            a.allocs_desired,
            a.allocs_placed,
            a.allocs_running
        ),
        (
            b.jobs_submitted,
            b.jobs_failed_to_submit,
            b.allocs_desired,
            b.allocs_placed,
            b.allocs_running
        )
    );
    assert_eq!(a.allocs_placed, JOBS * 2);
    assert_eq!(m.meta.scenario.jobs, JOBS);
    assert_eq!(m.meta.outcome, one.meta.outcome);
    // Same allocation set: every job number with its allocations, once.
    assert_eq!(alloc_set(&m, "two-"), alloc_set(&one, "one-"));
    let ids: std::collections::BTreeSet<&str> =
        m.allocs.iter().map(|a| a.alloc_id.as_str()).collect();
    assert_eq!(ids.len(), m.allocs.len());
    // The timeline: job i was due at i / rate s in both (open loop, no jitter); the one generator's
    // schedule is exact, the merged one is off by the generators' start lag and clock correction only.
    for (rec, prefix, tol_ns) in [(&one, "one-", 0u64), (&m, "two-", 50_000_000)] {
        for r in &rec.allocs {
            let n: u64 = r.job_id.strip_prefix(prefix).unwrap().parse().unwrap();
            let due = (n as f64 * 1e9 / RATE).round() as u64;
            let s = r.submit_ns.unwrap();
            assert!(
                s.abs_diff(due) <= tol_ns,
                "{prefix}: job {n} submit {s} vs due {due}"
            );
            let (p, run) = (r.placed_ns.unwrap(), r.running_ns.unwrap());
            assert!(
                p + 5_000_000 >= s && run >= p,
                "{prefix}: timeline order {r:?}"
            );
        }
    }
    // Latencies of the merged record are of the same order as one generator's (same cluster, same load).
    let (lm, l1) = (
        a.latency_ms.submit_to_placed.p50,
        b.latency_ms.submit_to_placed.p50,
    );
    assert!(
        lm > 0.0 && lm < 5.0 * l1 + 200.0,
        "merged p50 {lm} ms vs one generator {l1} ms"
    );
    // The clock offsets were measured and are stated.
    let shards: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(merged.join("shards.json")).unwrap())
            .unwrap();
    let shards = shards.as_array().unwrap();
    assert_eq!(shards.len(), 2);
    for s in shards {
        let clock = &s["info"]["clock"];
        let unc = clock["uncertainty_ns"].as_i64().unwrap();
        let off = clock["offset_ns"].as_i64().unwrap();
        // One machine: the true offset is 0, so the measurement must contain it. (Its width is the time
        // between two requests: about a millisecond when idle, far more on a loaded 2-core machine.)
        eprintln!("shard {}: clock {clock}", s["info"]["shard"]);
        assert!(unc > 0 && unc < 1_000_000_000, "{clock}");
        assert!(off.abs() <= unc + 1_000_000, "{clock}");
        let lag = s["info"]["start_lag_ns"].as_i64().unwrap();
        assert!((0..250_000_000).contains(&lag), "start lag {lag} ns");
    }
    let notes = m.meta.notes.join("\n");
    assert!(
        notes.contains("clock offset against the servers"),
        "{notes}"
    );
    assert!(
        notes.contains("shard 0/2") && notes.contains("shard 1/2"),
        "{notes}"
    );

    // The same flood with the two generators placed by Nomad (`--as-nomad-job 2`): the token reaches them
    // through a Nomad Variable, their records come back through the allocation filesystem API.
    let nj = out.join("as-job");
    let mut cmd = c.stampede(true);
    cmd.args(flood_args("job-"))
        .args(["--as-nomad-job", "2"])
        .arg("--out")
        .arg(&nj);
    let o = wait_bounded(
        spawn_piped(cmd),
        Duration::from_secs(300),
        "run --as-nomad-job",
    );
    let printed = ok("run --as-nomad-job 2", &o);
    let j = read_record(&nj);
    let s = &j.meta.summary;
    assert_eq!(
        (
            s.jobs_submitted,
            s.allocs_desired,
            s.allocs_placed,
            s.allocs_running
        ),
        (
            b.jobs_submitted,
            b.allocs_desired,
            b.allocs_placed,
            b.allocs_running
        )
    );
    assert_eq!(alloc_set(&j, "job-"), alloc_set(&one, "one-"));
    for i in 0..2 {
        let g = nj.join(format!("generators/shard-{i}"));
        assert!(
            g.join("shard.json").is_file() && g.join("allocs.csv").is_file(),
            "{}",
            g.display()
        );
    }
    // Nothing left behind on the cluster, and the token is in no file and no output.
    for path in [
        "/v1/job/stampede-gen-job",
        "/v1/var/nomad/jobs/stampede-gen-job",
    ] {
        let code = Command::new("curl")
            .args(["-s", "-o", "/dev/null", "-w", "%{http_code}", "-H"])
            .arg(format!("X-Nomad-Token: {}", c.token))
            .arg(format!("{}{path}", c.addr()))
            .output()
            .unwrap();
        assert_eq!(
            String::from_utf8_lossy(&code.stdout),
            "404",
            "{path} still exists"
        );
    }
    for f in crate::real_cluster::files_under(out) {
        let bytes = std::fs::read(&f).unwrap();
        assert!(
            !bytes
                .windows(c.token.len())
                .any(|w| w == c.token.as_bytes()),
            "the token is in {}",
            f.display()
        );
    }
    assert!(!printed.contains(&c.token));
}

fn plan_args(scenario: &Path, out: &Path) -> Vec<String> {
    let mut v: Vec<String> = [
        "plan",
        "--slo",
        "queue_wait.p95 <= 30s",
        "--instance-types",
        "m5.xlarge,m5.2xlarge",
        "--min-nodes",
        "1",
        "--max-nodes",
        "400",
        "--grid",
        "5",
        "--seeds",
        "2",
        "--quiet",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    v.push("--scenario".into());
    v.push(scenario.display().to_string());
    v.push("--out".into());
    v.push(out.display().to_string());
    v
}

const NOMAD_FLAGS: [&str; 5] = ["--on-nomad", "--task-cpu", "200", "--task-memory", "128"];

fn plan_json(dir: &Path) -> serde_json::Value {
    serde_json::from_str(&std::fs::read_to_string(dir.join("plan.json")).unwrap()).unwrap()
}

/// plan.json without what may differ between two runs of the same plan: the wall time and where it ran.
fn decision(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    let o = v.as_object_mut().unwrap();
    o.remove("wall_s");
    o.remove("executor");
    v
}

/// PIDs of `stampede plan-worker` processes of this cluster's tasks.
fn worker_pids(cluster_dir: &Path) -> Vec<u32> {
    let marker = format!("STAMPEDE_NOMAD_CLUSTER={}", cluster_dir.display());
    let mut out = Vec::new();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let cmd = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
        if !String::from_utf8_lossy(&cmd).contains("plan-worker") {
            continue;
        }
        let env = std::fs::read(format!("/proc/{pid}/environ")).unwrap_or_default();
        if env.split(|b| *b == 0).any(|kv| kv == marker.as_bytes()) {
            out.push(pid);
        }
    }
    out
}

#[test]
fn plan_on_nomad_equals_the_local_plan_and_survives_a_killed_worker() {
    let tmp = tempfile::tempdir().unwrap();
    // 3,000 jobs: one evaluation takes ~0.4 s in a debug build, so a worker lives long enough to be killed.
    let scen = crate::plan::write_scenario(tmp.path(), "plan-on-nomad", 3000);

    // The local plan.
    let local = tmp.path().join("local");
    let t = std::time::Instant::now();
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(plan_args(&scen, &local))
        .args(["--threads", "2"])
        .output()
        .unwrap();
    let local_s = t.elapsed().as_secs_f64();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "local plan: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let lp = plan_json(&local);
    assert!(
        lp["candidates"].as_array().unwrap().len() >= 10,
        "a 10-candidate plan: {}",
        lp["candidates"]
    );
    assert!(lp.get("executor").is_none() && lp.get("absent").is_none());

    let c = RealCluster::start(&ClusterOpts {
        servers: 1,
        clients: 2,
        ..Default::default()
    });

    // 1. The same plan as Nomad batch jobs: the same decision fields, byte for byte.
    let on = tmp.path().join("nomad");
    let t = std::time::Instant::now();
    let mut cmd = c.stampede(true);
    cmd.args(plan_args(&scen, &on))
        .args(NOMAD_FLAGS)
        .args(["--parallel", "4"]);
    let o = wait_bounded(
        spawn_piped(cmd),
        Duration::from_secs(600),
        "plan --on-nomad",
    );
    let nomad_s = t.elapsed().as_secs_f64();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "plan --on-nomad: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let np = plan_json(&on);
    assert_eq!(
        serde_json::to_string_pretty(&decision(&np)).unwrap(),
        serde_json::to_string_pretty(&decision(&lp)).unwrap(),
        "plan.json decision fields differ between local and --on-nomad"
    );
    let ex = &np["executor"];
    assert_eq!(ex["kind"], "nomad");
    let units = ex["units"].as_array().unwrap();
    assert!(units.len() >= 2, "{ex}");
    for u in units {
        assert_eq!(u["result"], "ok", "{u}");
        assert!(u["job"].as_str().unwrap().contains("/dispatch-"), "{u}");
    }
    eprintln!(
        "plan of {} candidates: local {local_s:.1} s, on the loopback cluster {nomad_s:.1} s ({} work units)",
        lp["candidates"].as_array().unwrap().len(),
        units.len()
    );

    // 2. A worker killed mid-way is restarted by Nomad and the plan completes, with the same decision.
    let killed = tmp.path().join("killed");
    let mut cmd = c.stampede(true);
    cmd.args(plan_args(&scen, &killed))
        .args(NOMAD_FLAGS)
        .args(["--parallel", "2"]);
    let child = spawn_piped(cmd);
    // Kill the first worker found alive (not a zombie about to be reaped) with SIGKILL.
    let end = std::time::Instant::now() + Duration::from_secs(120);
    'kill: loop {
        for p in worker_pids(&c.dir) {
            let stat = std::fs::read_to_string(format!("/proc/{p}/stat")).unwrap_or_default();
            let state = stat.rsplit(") ").next().and_then(|r| r.chars().next());
            if !matches!(state, Some('R' | 'S' | 'D')) {
                continue;
            }
            let st = Command::new("kill")
                .args(["-9", &p.to_string()])
                .stderr(Stdio::null())
                .status()
                .unwrap();
            if st.success() {
                eprintln!("killed plan-worker pid {p}");
                break 'kill;
            }
        }
        assert!(
            std::time::Instant::now() < end,
            "no plan-worker process appeared"
        );
        std::thread::sleep(Duration::from_millis(10));
    }
    let o = wait_bounded(
        child,
        Duration::from_secs(600),
        "plan --on-nomad (killed worker)",
    );
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "plan --on-nomad with a killed worker: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let kp = plan_json(&killed);
    assert_eq!(decision(&kp), decision(&lp));
    let retried: u64 = kp["executor"]["units"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            let a = u["allocations"].as_array().unwrap();
            a.iter()
                .map(|x| x["restarts"].as_u64().unwrap())
                .sum::<u64>()
                + a.len() as u64
                - 1
        })
        .sum();
    assert!(
        retried >= 1,
        "no restart or reschedule recorded: {}",
        kp["executor"]
    );

    // 3. Workers that always fail: the plan fails naming the absent results, or with --allow-partial
    //    lists them in plan.json.
    let small = |out: &Path| -> Vec<String> {
        let mut a = plan_args(&scen, out);
        let i = a.iter().position(|x| x == "m5.xlarge,m5.2xlarge").unwrap();
        a[i] = "m5.xlarge".into();
        let g = a.iter().position(|x| x == "--grid").unwrap();
        a[g + 1] = "2".into();
        let s = a.iter().position(|x| x == "--seeds").unwrap();
        a[s + 1] = "1".into();
        a.extend([
            "--parallel".into(),
            "1".into(),
            "--worker-binary".into(),
            "/bin/false".into(),
        ]);
        a
    };
    let bad = tmp.path().join("bad");
    let mut cmd = c.stampede(true);
    cmd.args(small(&bad)).args(NOMAD_FLAGS);
    let o = wait_bounded(
        spawn_piped(cmd),
        Duration::from_secs(300),
        "plan with failing workers",
    );
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("never came back") && err.contains("--allow-partial"),
        "{err}"
    );
    assert!(
        !bad.join("plan.json").exists(),
        "no partial plan passed off as whole"
    );
    let partial = tmp.path().join("partial");
    let mut cmd = c.stampede(true);
    cmd.args(small(&partial))
        .args(NOMAD_FLAGS)
        .arg("--allow-partial");
    let o = wait_bounded(
        spawn_piped(cmd),
        Duration::from_secs(300),
        "plan --allow-partial",
    );
    let pp = plan_json(&partial);
    assert_eq!(
        o.status.code(),
        Some(1),
        "nothing to recommend: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let absent = pp["absent"].as_array().unwrap();
    assert_eq!(absent.len(), 2, "{pp}");
    assert!(
        absent[0]["reason"]
            .as_str()
            .unwrap()
            .contains("every allocation failed"),
        "{pp}"
    );
    assert!(pp["recommended"].is_null());

    // 4. A plan over a recorded trace (read by every worker from its path, checked by SHA-256): the
    //    same decision locally and on Nomad.
    let trace = tmp.path().join("ci.jsonl");
    let mut t = String::from(
        "{\"stampede_trace\":1,\"name\":\"ci\",\"source\":\"record\",\"start_unix_ns\":0,\"jobs\":400}\n",
    );
    for i in 0..400u64 {
        let count = 1 + i % 3;
        let run_ns = (120 + (i * 37) % 480) * 1_000_000_000;
        let allocs: Vec<String> = (0..count)
            .map(|_| format!("{{\"run_ns\":{run_ns},\"exit\":\"ok\"}}"))
            .collect();
        t.push_str(&format!(
            "{{\"submit_ns\":{},\"id\":\"j{i}\",\"type\":\"batch\",\"priority\":50,\"groups\":[{{\"name\":\"g\",\"count\":{count},\"cpu_mhz\":1000,\"memory_mb\":512,\"tasks\":[\"t\"],\"image\":\"i\",\"image_bytes\":0,\"allocs\":[{}]}}]}}\n",
            i * 4_500_000_000,
            allocs.join(",")
        ));
    }
    std::fs::write(&trace, t).unwrap();
    let trace_args = |out: &Path| -> Vec<String> {
        let mut a: Vec<String> = [
            "plan",
            "--slo",
            "queue_wait.p95 <= 60s",
            "--min-nodes",
            "1",
            "--max-nodes",
            "100",
            "--grid",
            "4",
            "--seeds",
            "2",
            "--quiet",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        a.extend([
            "--scenario".into(),
            scen.display().to_string(),
            "--trace".into(),
            trace.display().to_string(),
            "--out".into(),
            out.display().to_string(),
        ]);
        a
    };
    let tl = tmp.path().join("trace-local");
    let o = Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(trace_args(&tl))
        .output()
        .unwrap();
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "local trace plan: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let tn = tmp.path().join("trace-nomad");
    let mut cmd = c.stampede(true);
    cmd.args(trace_args(&tn))
        .args(NOMAD_FLAGS)
        .args(["--parallel", "3"]);
    let o = wait_bounded(
        spawn_piped(cmd),
        Duration::from_secs(600),
        "trace plan --on-nomad",
    );
    assert!(
        matches!(o.status.code(), Some(0 | 1)),
        "trace plan --on-nomad: {}",
        String::from_utf8_lossy(&o.stderr)
    );
    let (a, b) = (plan_json(&tl), plan_json(&tn));
    assert!(a["trace"].as_str().unwrap().ends_with("ci.jsonl"), "{a}");
    assert!(a["candidates"].as_array().unwrap().len() >= 4, "{a}");
    assert_eq!(decision(&b), decision(&a));

    // Every plan job was purged.
    let left = c.get("/v1/jobs?prefix=stampede-plan-");
    assert_eq!(left.as_array().unwrap().len(), 0, "{left}");
}
