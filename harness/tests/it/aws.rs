//! `stampede provision` / `teardown`.
//!
//! Always: the plan, `--dry-run` and the guardrails through the real binary. Without the `aws` feature: the
//! clear "rebuild with --features aws" error. With it (`cargo test -p stampede --features aws --test it aws`):
//! against a moto_server the test starts on a free loopback port — provision in 3 regions, SIGKILL the
//! provisioning process at random points then teardown, guardrails, the interruption poller, ASG mode.

use std::process::{Command, Output};

fn stampede(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_stampede"))
        .args(args)
        .env("AWS_ACCESS_KEY_ID", "testing")
        .env("AWS_SECRET_ACCESS_KEY", "testing")
        .env("AWS_EC2_METADATA_DISABLED", "true")
        .env_remove("AWS_ENDPOINT_URL")
        .env_remove("NOMAD_ADDR")
        .env_remove("AWS_PROFILE")
        .output()
        .expect("running the stampede binary")
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

#[test]
fn dry_run_prints_the_plan_with_its_cost() {
    let out = stampede(&[
        "provision",
        "--dry-run",
        "--regions",
        "us-east-1,eu-west-1",
        "--capacity-gib",
        "960",
        "--instance-types",
        "m5.xlarge,m5.2xlarge",
        "--run-id",
        "dry-1",
    ]);
    let so = text(&out.stdout);
    assert!(out.status.success(), "{so}\n{}", text(&out.stderr));
    assert!(so.contains("us-east-1: 960 GiB of client RAM"), "{so}");
    assert!(so.contains("eu-west-1: 960 GiB of client RAM"), "{so}");
    // 960 GiB of m5.xlarge (16 GiB) = 60 nodes, of m5.2xlarge (32 GiB) = 30 nodes.
    let line = so
        .lines()
        .find(|l| l.trim_start().starts_with("m5.xlarge"))
        .unwrap();
    assert_eq!(line.split_whitespace().nth(4), Some("60"), "{line}");
    assert!(so.contains("bound <= 120 instances"), "{so}");
    // JSON form: the same numbers, machine-readable.
    let out = stampede(&[
        "provision",
        "--dry-run",
        "--json",
        "--regions",
        "us-east-1",
        "--capacity-gib",
        "100",
        "--instance-types",
        "m5.2xlarge,x9.huge:48",
        "--prices",
        &prices_with_x9(),
        "--run-id",
        "dry-2",
    ]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["regions"][0]["types"][0]["instances_if_only"], 4);
    assert_eq!(v["regions"][0]["types"][1]["instances_if_only"], 3);
    assert_eq!(v["max_instances"], 4);
}

fn prices_with_x9() -> String {
    let dir = std::env::temp_dir().join(format!("stampede-it-prices-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let p = dir.join("prices.csv");
    std::fs::write(
        &p,
        "instance_type,region,on_demand_usd_per_h,spot_usd_per_h,interruption_bucket\nx9.huge,us-east-1,1.0,0.3,<5%\n",
    )
    .unwrap();
    p.display().to_string()
}

#[test]
fn guardrails_refuse_over_budget_before_any_call() {
    let base = [
        "provision",
        "--regions",
        "us-east-1,eu-west-1,us-west-2",
        "--capacity-gib",
        "960",
        "--instance-types",
        "m5.xlarge,m5.2xlarge",
        "--run-id",
        "budget-1",
        "--no-wait",
        // A closed port: were a call made, the error would be a connection error, not the guardrail.
        "--endpoint-url",
        "http://127.0.0.1:9",
    ];
    let mut a = base.to_vec();
    a.extend(["--max-instances", "100"]);
    let out = stampede(&a);
    assert_eq!(out.status.code(), Some(2));
    let e = text(&out.stderr);
    assert!(
        e.contains("refusing to provision: up to 180 instances could be launched"),
        "{e}"
    );
    let mut a = base.to_vec();
    a.extend(["--max-hourly-cost", "5"]);
    let out = stampede(&a);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("over --max-hourly-cost 5.00"),
        "{}",
        text(&out.stderr)
    );
    // --dry-run shows the plan and still refuses.
    let mut a = base.to_vec();
    a.extend(["--max-hourly-cost", "5", "--dry-run"]);
    let out = stampede(&a);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stdout).contains("total: expected"));
    // Bad flags are named.
    let out = stampede(&[
        "provision",
        "--regions",
        "us-east-1",
        "--capacity-gib",
        "1",
        "--instance-types",
        "m5.xlarge",
        "--run-id",
        "Bad_Id",
        "--dry-run",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("run id `Bad_Id` is invalid"));
    let out = stampede(&[
        "provision",
        "--regions",
        "us-east-1",
        "--capacity-gib",
        "1",
        "--instance-types",
        "q1.odd",
        "--run-id",
        "r",
        "--dry-run",
    ]);
    assert!(
        text(&out.stderr).contains("give it as `q1.odd:GiB`"),
        "{}",
        text(&out.stderr)
    );
    let out = stampede(&[
        "provision",
        "--regions",
        "us-east-1",
        "--capacity-gib",
        "16",
        "--instance-types",
        "m5.xlarge",
        "--run-id",
        "r",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr).contains("--nomad-addr"),
        "{}",
        text(&out.stderr)
    );
}

#[cfg(not(feature = "aws"))]
#[test]
fn without_the_feature_real_calls_say_how_to_rebuild() {
    let out = stampede(&[
        "provision",
        "--regions",
        "us-east-1",
        "--capacity-gib",
        "16",
        "--instance-types",
        "m5.xlarge",
        "--run-id",
        "r",
        "--no-wait",
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(
        text(&out.stderr)
            .contains("built without the `aws` feature; rebuild with `cargo build --features aws`"),
        "{}",
        text(&out.stderr)
    );
    let out = stampede(&["teardown", "--run-id", "r"]);
    assert_eq!(out.status.code(), Some(2));
    assert!(text(&out.stderr).contains("rebuild with `cargo build --features aws`"));
}

#[cfg(feature = "aws")]
mod moto {
    use std::io::{Read, Write};
    use std::net::TcpStream;
    use std::path::Path;
    use std::process::{Child, Command, Stdio};
    use std::time::{Duration, Instant};

    use rand::{Rng, SeedableRng};

    use super::{stampede, text};

    const REGIONS: [&str; 3] = ["us-east-1", "eu-west-1", "us-west-2"];
    const AMI: &str = "ami-03cf127a"; // one of moto's built-in public images (every region)

    /// A moto_server on a free loopback port, killed on drop.
    struct Moto {
        child: Child,
        url: String,
    }

    impl Drop for Moto {
        fn drop(&mut self) {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }

    fn ensure_moto_installed() {
        let ok = Command::new("moto_server")
            .arg("--help")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if ok.map(|s| s.success()).unwrap_or(false) {
            return;
        }
        let st = Command::new("python3")
            .args(["-m", "pip", "install", "-q", "moto[server]"])
            .status()
            .expect("running pip");
        assert!(st.success(), "pip install 'moto[server]' failed");
    }

    fn http_ok(port: u16, path: &str) -> bool {
        let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) else {
            return false;
        };
        let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
        if s.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .is_err()
        {
            return false;
        }
        let mut buf = String::new();
        let _ = s.read_to_string(&mut buf);
        buf.starts_with("HTTP/1.0 200") || buf.starts_with("HTTP/1.1 200")
    }

    fn start_moto() -> Moto {
        ensure_moto_installed();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let child = Command::new("moto_server")
            .args(["-H", "127.0.0.1", "-p", &port.to_string()])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("starting moto_server");
        let m = Moto {
            child,
            url: format!("http://127.0.0.1:{port}"),
        };
        let deadline = Instant::now() + Duration::from_secs(60);
        while !http_ok(port, "/moto-api/") {
            assert!(
                Instant::now() < deadline,
                "moto_server did not answer on port {port} within 60 s"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
        m
    }

    fn set_test_credentials() {
        static ONCE: std::sync::Once = std::sync::Once::new();
        // Set once, before any AWS client of this process exists; every moto test calls this first.
        ONCE.call_once(unsafe_env);
    }

    #[allow(unused_unsafe)]
    fn unsafe_env() {
        unsafe {
            std::env::set_var("AWS_ACCESS_KEY_ID", "testing");
            std::env::set_var("AWS_SECRET_ACCESS_KEY", "testing");
            std::env::set_var("AWS_EC2_METADATA_DISABLED", "true");
        }
    }

    fn rt() -> tokio::runtime::Runtime {
        tokio::runtime::Runtime::new().unwrap()
    }

    /// Everything live in a region, by direct SDK listing (no tag filter: each test has its own moto).
    #[derive(Debug, Default, PartialEq)]
    struct Live {
        instances: usize,
        fleets: usize,
        launch_templates: usize,
        asgs: usize,
    }

    async fn live(moto: &Moto, region: &str) -> Live {
        let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.to_string()))
            .endpoint_url(&moto.url)
            .load()
            .await;
        let ec2 = aws_sdk_ec2::Client::new(&conf);
        let asg = aws_sdk_autoscaling::Client::new(&conf);
        let r = ec2.describe_instances().send().await.unwrap();
        let instances = r
            .reservations()
            .iter()
            .flat_map(|r| r.instances())
            .filter(|i| {
                let s = i
                    .state()
                    .and_then(|s| s.name())
                    .map(|n| n.as_str().to_string())
                    .unwrap_or_default();
                s != "terminated" && s != "shutting-down"
            })
            .count();
        let fleets = ec2
            .describe_fleets()
            .send()
            .await
            .unwrap()
            .fleets()
            .iter()
            .filter(|f| {
                !f.fleet_state()
                    .map(|s| s.as_str())
                    .unwrap_or("")
                    .starts_with("deleted")
            })
            .count();
        let launch_templates = ec2
            .describe_launch_templates()
            .send()
            .await
            .unwrap()
            .launch_templates()
            .len();
        let asgs = asg
            .describe_auto_scaling_groups()
            .send()
            .await
            .unwrap()
            .auto_scaling_groups()
            .len();
        Live {
            instances,
            fleets,
            launch_templates,
            asgs,
        }
    }

    fn provision_args<'a>(moto: &'a Moto, run_id: &'a str, state: &'a str) -> Vec<&'a str> {
        vec![
            "provision",
            "--regions",
            "us-east-1,eu-west-1,us-west-2",
            "--capacity-gib",
            "96",
            "--instance-types",
            "m5.xlarge,m5.2xlarge",
            "--run-id",
            run_id,
            "--endpoint-url",
            &moto.url,
            "--ami",
            AMI,
            "--no-wait",
            "--state-dir",
            state,
        ]
    }

    fn teardown(
        moto: &Moto,
        run_id: &str,
        state: &str,
        regions: Option<&str>,
    ) -> serde_json::Value {
        let mut a = vec![
            "teardown",
            "--run-id",
            run_id,
            "--endpoint-url",
            &moto.url,
            "--state-dir",
            state,
            "--json",
        ];
        if let Some(r) = regions {
            a.extend(["--regions", r]);
        }
        let out = stampede(&a);
        assert!(
            out.status.success(),
            "teardown failed: {}",
            text(&out.stderr)
        );
        eprintln!("{}", text(&out.stderr).trim_end());
        serde_json::from_slice(&out.stdout).expect("teardown --json prints a report")
    }

    fn totals(rep: &serde_json::Value) -> [usize; 4] {
        let mut t = [0; 4];
        for r in rep["removed"].as_array().unwrap() {
            for (i, k) in [
                "instances_terminated",
                "fleets_deleted",
                "launch_templates_deleted",
                "asgs_deleted",
            ]
            .iter()
            .enumerate()
            {
                t[i] += r[k].as_array().unwrap().len();
            }
        }
        t
    }

    #[test]
    fn provision_three_regions_and_teardown() {
        set_test_credentials();
        let moto = start_moto();
        let state = tempfile::tempdir().unwrap();
        let st = state.path().to_str().unwrap();
        let t0 = Instant::now();
        let mut a = provision_args(&moto, "three-1", st);
        a.push("--json");
        let out = stampede(&a);
        let took = t0.elapsed();
        assert!(out.status.success(), "{}", text(&out.stderr));
        eprintln!(
            "{}\nprovision of 3 regions (process wall time): {:.2} s",
            text(&out.stderr).trim_end(),
            took.as_secs_f64()
        );
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let on_disk: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(state.path().join("three-1/manifest.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(m, on_disk, "stdout manifest = manifest.json");
        let regions = m["regions"].as_array().unwrap();
        assert_eq!(regions.len(), 3);
        let mut total = 0;
        for (r, name) in regions.iter().zip(REGIONS) {
            assert_eq!(r["region"], name);
            assert!(r["fleet_id"].as_str().unwrap().starts_with("fleet-"), "{r}");
            let n = r["instances"].as_array().unwrap().len();
            assert!(
                n >= 3,
                "96 GiB of 16/32 GiB types is 3..6 instances, got {n}"
            );
            assert!(r["launched_gib"].as_u64().unwrap() >= 96, "{r}");
            total += n;
        }
        assert_eq!(m["expected_nodes"].as_u64().unwrap() as usize, total);
        let rt = rt();
        for name in REGIONS {
            let l = rt.block_on(live(&moto, name));
            assert_eq!(l.fleets, 1, "{name}: {l:?}");
            assert_eq!(l.launch_templates, 1, "{name}: {l:?}");
            assert!(l.instances >= 3, "{name}: {l:?}");
        }
        // Re-provisioning the same run id is refused while it has live resources.
        let out = stampede(&provision_args(&moto, "three-1", st));
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains("already has live resources"),
            "{}",
            text(&out.stderr)
        );

        let t0 = Instant::now();
        let rep = teardown(&moto, "three-1", st, Some("us-east-1,eu-west-1,us-west-2"));
        eprintln!(
            "teardown of 3 regions (process wall time): {:.2} s",
            t0.elapsed().as_secs_f64()
        );
        assert_eq!(totals(&rep), [total, 3, 3, 0]);
        assert!(rep["remaining"].as_array().unwrap().is_empty());
        for name in REGIONS {
            assert_eq!(rt.block_on(live(&moto, name)), Live::default(), "{name}");
        }
        // Idempotent: a second teardown finds nothing and succeeds.
        let rep = teardown(&moto, "three-1", st, Some("us-east-1,eu-west-1,us-west-2"));
        assert_eq!(totals(&rep), [0, 0, 0, 0]);
    }

    /// `stampede run --provision` against the emulator (Nomad) and moto (EC2): provisions, records an
    /// interruption injected mid-run (TerminateInstances), and tears everything down at the end.
    #[test]
    fn run_provision_records_interruptions_and_tears_down() {
        set_test_credentials();
        let moto = start_moto();
        let state = tempfile::tempdir().unwrap();
        let st = state.path().to_str().unwrap();
        let out_dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let emu = rt
            .block_on(stampede::emulator::start(crate::common::small_emulator(
                1.0,
            )))
            .unwrap();
        let addr = format!("http://{}", emu.addr);
        let moto_url = moto.url.clone();
        // The interruption: terminate one instance of the run once it has some (polled: on a loaded machine
        // provisioning can take longer than any fixed sleep).
        let killer = std::thread::spawn(move || {
            let krt = super::moto::rt();
            krt.block_on(async {
                let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                    .region(aws_config::Region::new("us-east-1"))
                    .endpoint_url(&moto_url)
                    .load()
                    .await;
                let ec2 = aws_sdk_ec2::Client::new(&conf);
                let deadline = std::time::Instant::now() + Duration::from_secs(120);
                let id = loop {
                    let resp = ec2
                        .describe_instances()
                        .filters(
                            aws_sdk_ec2::types::Filter::builder()
                                .name("tag:stampede:run-id")
                                .values("prov-1")
                                .build(),
                        )
                        .filters(
                            aws_sdk_ec2::types::Filter::builder()
                                .name("instance-state-name")
                                .values("running")
                                .values("pending")
                                .build(),
                        )
                        .send()
                        .await
                        .unwrap();
                    if let Some(id) = resp
                        .reservations()
                        .iter()
                        .flat_map(|r| r.instances())
                        .filter_map(|i| i.instance_id())
                        .next()
                    {
                        break id.to_string();
                    }
                    assert!(
                        std::time::Instant::now() < deadline,
                        "the run never had instances"
                    );
                    tokio::time::sleep(Duration::from_millis(200)).await;
                };
                // A few seconds into the run, as before.
                tokio::time::sleep(Duration::from_secs(2)).await;
                ec2.terminate_instances()
                    .instance_ids(&id)
                    .send()
                    .await
                    .unwrap();
                id
            })
        });
        let out = stampede(&[
            "run",
            "--addr",
            &addr,
            "--provision",
            "--run-id",
            "prov-1",
            "--regions",
            "us-east-1",
            "--capacity-gib",
            "32",
            "--instance-types",
            "m5.xlarge",
            "--endpoint-url",
            &moto.url,
            "--ami",
            AMI,
            "--state-dir",
            st,
            "--jobs",
            "40",
            "--count",
            "2",
            "--type",
            "batch",
            "--duration",
            "1s",
            "--rate",
            "4",
            "--quiet",
            "--no-report",
            "--out",
            out_dir.path().to_str().unwrap(),
        ]);
        let killed = killer.join().unwrap();
        assert!(out.status.success(), "{}", text(&out.stderr));
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out_dir.path().join("run.json")).unwrap(),
        )
        .unwrap();
        let events = meta["events"].as_array().unwrap();
        assert!(
            events
                .iter()
                .any(|e| e["kind"] == "spot_interruption" && e["node_id"] == killed.as_str()),
            "the interruption is in the run record: {events:?}"
        );
        assert_eq!(meta["summary"]["spot_interruptions"], 1);
        for name in REGIONS {
            assert_eq!(
                rt.block_on(live(&moto, name)),
                Live::default(),
                "torn down after the run: {name}"
            );
        }
        rt.block_on(emu.shutdown());
    }

    /// Issue 13 finding 3: SIGTERM (a CI `timeout`, `docker stop`, an eviction) during `stampede run
    /// --provision` stops the run like Ctrl-C and still tears the fleet down: exit 3, outcome `interrupted`,
    /// nothing left in moto.
    #[test]
    fn run_provision_sigterm_tears_down() {
        set_test_credentials();
        let moto = start_moto();
        let state = tempfile::tempdir().unwrap();
        let st = state.path().to_str().unwrap();
        let out_dir = tempfile::tempdir().unwrap();
        let rt = rt();
        let emu = rt
            .block_on(stampede::emulator::start(crate::common::small_emulator(
                1.0,
            )))
            .unwrap();
        let addr = format!("http://{}", emu.addr);
        // A long run (10,000 jobs at 20/s ≈ 8 min) that only SIGTERM ends early.
        let mut child = Command::new(env!("CARGO_BIN_EXE_stampede"))
            .args([
                "run",
                "--addr",
                &addr,
                "--provision",
                "--run-id",
                "term-1",
                "--regions",
                "us-east-1",
                "--capacity-gib",
                "32",
                "--instance-types",
                "m5.xlarge",
                "--endpoint-url",
                &moto.url,
                "--ami",
                AMI,
                "--state-dir",
                st,
                "--jobs",
                "10000",
                "--type",
                "batch",
                "--duration",
                "1s",
                "--rate",
                "20",
                "--no-report",
                "--out",
            ])
            .arg(out_dir.path())
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .env_remove("AWS_ENDPOINT_URL")
            .env_remove("AWS_PROFILE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        struct Reap<'a>(&'a mut Child);
        impl Drop for Reap<'_> {
            fn drop(&mut self) {
                let _ = self.0.kill();
                let _ = self.0.wait();
            }
        }
        let guard = Reap(&mut child);
        // Provisioned, and the run under way (its partial allocations snapshot, or 15 s).
        let t0 = Instant::now();
        while rt.block_on(live(&moto, "us-east-1")).instances == 0 {
            assert!(
                t0.elapsed() < Duration::from_secs(120),
                "instances provisioned"
            );
            assert!(
                guard.0.try_wait().unwrap().is_none(),
                "run ended before SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(200));
        }
        let t1 = Instant::now();
        while t1.elapsed() < Duration::from_secs(15)
            && !out_dir.path().join("allocs.csv.partial").exists()
        {
            std::thread::sleep(Duration::from_millis(200));
        }
        assert!(
            guard.0.try_wait().unwrap().is_none(),
            "run ended before SIGTERM"
        );
        let st = Command::new("kill")
            .args(["-TERM", &guard.0.id().to_string()])
            .status()
            .unwrap();
        assert!(st.success());
        let t2 = Instant::now();
        let status = loop {
            if let Some(s) = guard.0.try_wait().unwrap() {
                break s;
            }
            assert!(
                t2.elapsed() < Duration::from_secs(120),
                "run --provision did not end within 120 s of SIGTERM"
            );
            std::thread::sleep(Duration::from_millis(100));
        };
        let mut err = String::new();
        guard
            .0
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut err)
            .unwrap();
        drop(guard);
        assert_eq!(status.code(), Some(3), "{err}");
        let meta: serde_json::Value = serde_json::from_str(
            &std::fs::read_to_string(out_dir.path().join("run.json")).unwrap(),
        )
        .unwrap();
        assert_eq!(meta["outcome"], "interrupted", "{err}");
        assert!(meta["summary"]["jobs_submitted"].as_u64().unwrap() < 10_000);
        for name in REGIONS {
            assert_eq!(
                rt.block_on(live(&moto, name)),
                Live::default(),
                "torn down after SIGTERM: {name}\n{err}"
            );
        }
        rt.block_on(emu.shutdown());
    }

    #[test]
    fn live_prices_replace_the_table_spot_prices() {
        set_test_credentials();
        let moto = start_moto();
        let fixture = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/emulator-small.toml"
        );
        let embedded = stampede(&["cost", "--scenario", fixture, "--json"]);
        assert!(embedded.status.success(), "{}", text(&embedded.stderr));
        let out = stampede(&[
            "cost",
            "--scenario",
            fixture,
            "--json",
            "--live-prices",
            "--endpoint-url",
            &moto.url,
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let a: serde_json::Value = serde_json::from_slice(&embedded.stdout).unwrap();
        let b: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert!(
            b["prices"].as_str().unwrap().contains("live spot prices"),
            "{b}"
        );
        // moto quotes a constant 0.00001 USD/h: the pools' spot cost collapses, on-demand is unchanged.
        for (pa, pb) in a["by_pool"]
            .as_array()
            .unwrap()
            .iter()
            .zip(b["by_pool"].as_array().unwrap())
        {
            let nodes = pb["nodes"].as_f64().unwrap();
            assert!(
                (pb["usd_per_hour_spot"].as_f64().unwrap() - nodes * 0.00001).abs() < 1e-9,
                "{pb}"
            );
            assert_eq!(pa["usd_per_hour_on_demand"], pb["usd_per_hour_on_demand"]);
        }
    }

    #[test]
    fn sigkill_at_random_points_then_teardown_leaves_nothing() {
        set_test_credentials();
        let moto = start_moto();
        let state = tempfile::tempdir().unwrap();
        let st = state.path().to_str().unwrap();
        // Warm moto's per-region backends up (the first touch of a region is slow), then calibrate: how
        // long a whole provisioning process takes here.
        let out = stampede(&provision_args(&moto, "warm", st));
        assert!(out.status.success(), "{}", text(&out.stderr));
        teardown(&moto, "warm", st, None);
        let t0 = Instant::now();
        let out = stampede(&provision_args(&moto, "calib", st));
        assert!(out.status.success(), "{}", text(&out.stderr));
        let full = t0.elapsed();
        teardown(&moto, "calib", st, Some("us-east-1,eu-west-1,us-west-2"));
        let rt = rt();
        let mut left_behind = 0;
        let seeds = [1u64, 2, 3, 4, 5, 6];
        for seed in seeds {
            let mut rng = rand_chacha::ChaCha8Rng::seed_from_u64(seed);
            let delay = Duration::from_secs_f64(rng.random_range(0.0..1.0) * full.as_secs_f64());
            let run_id = format!("kill-{seed}");
            let mut child = Command::new(env!("CARGO_BIN_EXE_stampede"))
                .args(provision_args(&moto, &run_id, st))
                .env("AWS_ACCESS_KEY_ID", "testing")
                .env("AWS_SECRET_ACCESS_KEY", "testing")
                .env("AWS_EC2_METADATA_DISABLED", "true")
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .spawn()
                .unwrap();
            std::thread::sleep(delay);
            child.kill().unwrap(); // SIGKILL
            let status = child.wait().unwrap();
            let journal =
                std::fs::read_to_string(Path::new(st).join(&run_id).join("journal.jsonl"))
                    .unwrap_or_default();
            // No --regions: teardown searches every region EC2 reports plus the journal's.
            let rep = teardown(&moto, &run_id, st, None);
            let t = totals(&rep);
            eprintln!(
                "seed {seed}: killed after {:.0} ms of {:.0} ms ({status}), journal {} lines, teardown removed {t:?}",
                delay.as_secs_f64() * 1e3,
                full.as_secs_f64() * 1e3,
                journal.lines().count()
            );
            assert!(rep["regions_searched"].as_array().unwrap().len() >= 3);
            left_behind += t.iter().sum::<usize>();
            for name in REGIONS {
                assert_eq!(
                    rt.block_on(live(&moto, name)),
                    Live::default(),
                    "seed {seed}, {name}"
                );
            }
        }
        // Random points may all fall before the first create on a loaded machine: one more kill, made
        // as soon as moto shows the first resource of the run, always leaves something to clean up.
        let run_id = "kill-late".to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_stampede"))
            .args(provision_args(&moto, &run_id, st))
            .env("AWS_ACCESS_KEY_ID", "testing")
            .env("AWS_SECRET_ACCESS_KEY", "testing")
            .env("AWS_EC2_METADATA_DISABLED", "true")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline
            && REGIONS
                .iter()
                .all(|r| rt.block_on(live(&moto, r)) == Live::default())
        {
            std::thread::sleep(Duration::from_millis(5));
        }
        child.kill().unwrap();
        child.wait().unwrap();
        let rep = teardown(&moto, &run_id, st, None);
        left_behind += totals(&rep).iter().sum::<usize>();
        for name in REGIONS {
            assert_eq!(
                rt.block_on(live(&moto, name)),
                Live::default(),
                "kill-late, {name}"
            );
        }
        assert!(
            left_behind > 0,
            "no kill left anything to clean up: the kill points did not exercise teardown"
        );
    }

    #[test]
    fn guardrail_refusal_creates_nothing() {
        set_test_credentials();
        let moto = start_moto();
        let state = tempfile::tempdir().unwrap();
        let mut a = provision_args(&moto, "budget-2", state.path().to_str().unwrap());
        a.extend(["--max-hourly-cost", "0.5"]);
        let out = stampede(&a);
        assert_eq!(out.status.code(), Some(2));
        assert!(
            text(&out.stderr).contains("refusing to provision"),
            "{}",
            text(&out.stderr)
        );
        let rt = rt();
        for name in REGIONS {
            assert_eq!(rt.block_on(live(&moto, name)), Live::default(), "{name}");
        }
        assert!(
            !state.path().join("budget-2").exists(),
            "no journal for a refused plan"
        );
    }

    #[test]
    fn interruption_poller_reports_a_terminated_instance() {
        use stampede::aws::{
            AwsTarget, InstanceChoice, InterruptionPoller, ProvisionPlan, ProvisionRequest,
        };
        set_test_credentials();
        let moto = start_moto();
        let state = tempfile::tempdir().unwrap();
        let rt = rt();
        let regions: Vec<String> = vec!["us-east-1".into(), "eu-west-1".into()];
        let types = vec![InstanceChoice::parse("m5.xlarge").unwrap()];
        let plan = ProvisionPlan::build(
            "intr-1",
            &regions,
            48,
            &types,
            &stampede::cost::prices::PriceTable::embedded(),
        )
        .unwrap();
        let target = AwsTarget {
            endpoint_url: Some(moto.url.clone()),
        };
        let req = ProvisionRequest {
            plan,
            ami: regions
                .iter()
                .map(|r| (r.clone(), AMI.to_string()))
                .collect(),
            user_data: Some("#!/bin/sh\necho hi\n".into()),
            asg: None,
            state_dir: state.path().to_path_buf(),
            target: target.clone(),
        };
        let fleet = rt.block_on(stampede::aws::provision(&req)).unwrap();
        assert_eq!(
            fleet.instance_ids().len(),
            6,
            "48 GiB of m5.xlarge in 2 regions"
        );
        let mut poller = InterruptionPoller::new(
            "intr-1",
            &fleet.region_names(),
            target.clone(),
            Instant::now(),
        );
        assert!(rt
            .block_on(stampede::aws::poll_interruptions(&mut poller))
            .unwrap()
            .is_empty());
        // Inject an "interruption": terminate one instance behind stampede's back.
        let victim = fleet.regions[1].instances[0].id.clone();
        rt.block_on(async {
            let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new("eu-west-1"))
                .endpoint_url(&moto.url)
                .load()
                .await;
            aws_sdk_ec2::Client::new(&conf)
                .terminate_instances()
                .instance_ids(&victim)
                .send()
                .await
                .unwrap();
        });
        let ev = rt
            .block_on(stampede::aws::poll_interruptions(&mut poller))
            .unwrap();
        assert_eq!(ev.len(), 1, "{ev:?}");
        assert_eq!(ev[0].kind, "spot_interruption");
        assert_eq!(ev[0].node_id.as_deref(), Some(victim.as_str()));
        assert!(
            ev[0].detail.starts_with("eu-west-1: instance "),
            "{}",
            ev[0].detail
        );
        // Reported once only.
        assert!(rt
            .block_on(stampede::aws::poll_interruptions(&mut poller))
            .unwrap()
            .is_empty());
        // Our own teardown is not an interruption.
        poller.stop();
        let rep = rt
            .block_on(stampede::aws::teardown(
                "intr-1",
                Some(&regions),
                &target,
                state.path(),
            ))
            .unwrap();
        assert_eq!(rep.totals().0, 5, "the 5 survivors are terminated");
        assert!(rt
            .block_on(stampede::aws::poll_interruptions(&mut poller))
            .unwrap()
            .is_empty());
    }

    #[test]
    fn asg_mode_sets_capacity_and_teardown_deletes_the_asg() {
        set_test_credentials();
        let moto = start_moto();
        let state = tempfile::tempdir().unwrap();
        let st = state.path().to_str().unwrap();
        let rt = rt();
        let region = "us-east-1";
        // What terraform/modules/client-fleet makes: a tagged launch template + ASG, empty.
        rt.block_on(async {
            let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region))
                .endpoint_url(&moto.url)
                .load()
                .await;
            let ec2 = aws_sdk_ec2::Client::new(&conf);
            let tag = aws_sdk_ec2::types::Tag::builder()
                .key("stampede:run-id")
                .value("asg-1")
                .build();
            ec2.create_launch_template()
                .launch_template_name("tf-asg-1")
                .launch_template_data(
                    aws_sdk_ec2::types::RequestLaunchTemplateData::builder()
                        .image_id(AMI)
                        .instance_type("m5.xlarge".into())
                        .build(),
                )
                .tag_specifications(
                    aws_sdk_ec2::types::TagSpecification::builder()
                        .resource_type(aws_sdk_ec2::types::ResourceType::LaunchTemplate)
                        .tags(tag)
                        .build(),
                )
                .send()
                .await
                .unwrap();
            aws_sdk_autoscaling::Client::new(&conf)
                .create_auto_scaling_group()
                .auto_scaling_group_name("stampede-asg-1-us-east-1")
                .launch_template(
                    aws_sdk_autoscaling::types::LaunchTemplateSpecification::builder()
                        .launch_template_name("tf-asg-1")
                        .build(),
                )
                .min_size(0)
                .max_size(10)
                .desired_capacity(0)
                .availability_zones("us-east-1a")
                .tags(
                    aws_sdk_autoscaling::types::Tag::builder()
                        .key("stampede:run-id")
                        .value("asg-1")
                        .propagate_at_launch(true)
                        .build(),
                )
                .send()
                .await
                .unwrap();
        });
        let out = stampede(&[
            "provision",
            "--regions",
            region,
            "--capacity-gib",
            "2",
            "--instance-types",
            "m5.xlarge",
            "--run-id",
            "asg-1",
            "--asg",
            "stampede-asg-1-{region}",
            "--endpoint-url",
            &moto.url,
            "--no-wait",
            "--state-dir",
            st,
            "--json",
        ]);
        assert!(out.status.success(), "{}", text(&out.stderr));
        let m: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(m["regions"][0]["asg_name"], "stampede-asg-1-us-east-1");
        let desired = rt.block_on(async {
            let conf = aws_config::defaults(aws_config::BehaviorVersion::latest())
                .region(aws_config::Region::new(region))
                .endpoint_url(&moto.url)
                .load()
                .await;
            let g = aws_sdk_autoscaling::Client::new(&conf)
                .describe_auto_scaling_groups()
                .send()
                .await
                .unwrap();
            g.auto_scaling_groups()[0].desired_capacity()
        });
        assert_eq!(desired, Some(2));
        let rep = teardown(&moto, "asg-1", st, Some(region));
        let t = totals(&rep);
        assert_eq!((t[2], t[3]), (1, 1), "{rep}");
        assert_eq!(rt.block_on(live(&moto, region)), Live::default());
    }
}
