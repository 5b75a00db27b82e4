//! `stampede upgrade-check` through the binary: records of both sides, the verdict, the exit code.

use crate::common::{argv, bin};

fn scenario(dir: &std::path::Path) -> std::path::PathBuf {
    // A CI flood at saturation: count-1 batch jobs of 4 tasks, servers on fast instance-store NVMe.
    let p = dir.join("flood.toml");
    std::fs::write(
        &p,
        r#"name = "flood"
seed = 3
[cluster]
servers = 3
instance_type = "m5.8xlarge"
storage = "nvme-nitro"
num_schedulers = 32
[[pools]]
instance_type = "m5.4xlarge"
count = 100
[workload]
jobs = 1500
type = "batch"
count = 1
tasks = 4
cpu_mhz = 100
memory_mb = 64
duration = "300s"
image_size_mb = 0
[workload.arrival]
mode = "open_loop"
rate_per_s = 1500
"#,
    )
    .unwrap();
    p
}

fn upgrade(args: &[String]) -> std::process::Output {
    bin().arg("upgrade-check").args(args).output().unwrap()
}

#[test]
fn rs256_signing_is_a_regression_and_pipelining_is_not() {
    let tmp = tempfile::tempdir().unwrap();
    let sc = scenario(tmp.path());
    let sc = sc.to_str().unwrap();
    // 1.6 → 1.7: identities switch from Ed25519 to RS256, signed serially on the plan applier, 4 per
    // allocation here: the applier becomes the bottleneck.
    let out1 = tmp.path().join("u1");
    let o = upgrade(&argv!(
        "--scenario",
        sc,
        "--from 1.6 --to 1.7 --seeds 2 -o",
        &out1
    ));
    let stdout = String::from_utf8_lossy(&o.stdout);
    assert_eq!(
        o.status.code(),
        Some(1),
        "{stdout}\n{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(stdout.contains("placement_rate"), "{stdout}");
    assert!(
        stdout.starts_with("uncalibrated: model parameters are estimates"),
        "the verdict states its calibration first: {stdout}"
    );
    for side in ["from", "to"] {
        for seed in [3, 4] {
            let d = out1.join(side).join(format!("seed-{seed}"));
            let meta: serde_json::Value =
                serde_json::from_slice(&std::fs::read(d.join("run.json")).unwrap()).unwrap();
            let want = if side == "from" { "1.6" } else { "1.7" };
            assert_eq!(meta["control_plane"]["nomad_version"], want);
        }
    }
    let verdict: serde_json::Value =
        serde_json::from_slice(&std::fs::read(out1.join("compare.json")).unwrap()).unwrap();
    assert_eq!(verdict["regression"], true);
    // 2.0.5 without and with a pipeline of 8 on gp3 disks (commit-bound): the pipeline hides commit latency.
    let out2 = tmp.path().join("u2");
    let o = upgrade(&argv!(
        "--scenario",
        sc,
        "--from 2.0.5 --to 2.0.5 --set plan_apply_pipeline=8 --set-both tasks=1",
        "--seeds 1 -o",
        &out2
    ));
    assert_eq!(
        o.status.code(),
        Some(0),
        "{}\n{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    );
    // A setting the version lacks is refused before any simulation, naming the side and the key.
    let o = upgrade(&argv!(
        "--scenario",
        sc,
        "--from 1.10 --to 2.0.5 --from-set plan_apply_pipeline=8 -o",
        &tmp.path().join("u3")
    ));
    let err = String::from_utf8_lossy(&o.stderr);
    assert_eq!(o.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--from 1.10") && err.contains("plan_apply_pipeline"),
        "{err}"
    );
    assert!(
        !tmp.path().join("u3").join("from").exists(),
        "nothing simulated"
    );
}
