//! Behaviour pinned byte for byte: a digest of every file of the run record (run.json, allocs.csv,
//! metrics.csv, nodes.csv) for several scenarios and seeds. A refactor must keep every digest; a change
//! of the model's behaviour updates them in a commit of its own that says why.
//!
//! To see the current digests after a deliberate behaviour change:
//! `STAMPEDE_PRINT_DIGESTS=1 cargo test -p stampede-sim --test it record_digests -- --nocapture`.

use crate::scenarios::run;
use sha2::{Digest, Sha256};
use stampede_sim::record::{self, RunRecord};
use stampede_sim::runner::{self, RunOptions};
use stampede_sim::trace::synth::{synth_monorepo, SynthProfile};
use stampede_sim::workload::TraceSource;
use std::sync::Arc;

/// Loads `scenarios/NAME.toml` under a relative label: run.json records the scenario path, and an absolute
/// one would make the digests depend on where the checkout lives.
fn load(name: &str) -> stampede_sim::scenario::Scenario {
    let label = format!("scenarios/{name}.toml");
    let text =
        std::fs::read_to_string(format!("{}/../{label}", env!("CARGO_MANIFEST_DIR"))).unwrap();
    stampede_sim::scenario::Scenario::from_toml(&label, &text).unwrap()
}

fn hex(bytes: &[u8]) -> String {
    Sha256::digest(bytes)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// `[run.json, allocs.csv, metrics.csv, nodes.csv]` digests.
fn digests(rec: &RunRecord) -> [String; 4] {
    let mut a = Vec::new();
    record::write_allocs_csv(&mut a, &rec.allocs).unwrap();
    let mut m = Vec::new();
    record::write_metrics_csv(&mut m, &rec.metrics).unwrap();
    let mut n = Vec::new();
    record::write_nodes_csv(&mut n, &rec.nodes).unwrap();
    [
        hex(record::run_json_string(&rec.meta).as_bytes()),
        hex(&a),
        hex(&m),
        hex(&n),
    ]
}

/// The monorepo scenario replaying the first three hours of a synthetic monorepo CI day.
fn monorepo_reduced(seed: u64) -> RunRecord {
    let sc = load("monorepo");
    let mut trace = synth_monorepo(&SynthProfile::monorepo(), 1, 1);
    trace
        .jobs
        .retain(|j| j.submit_ns < 3 * 3600 * 1_000_000_000);
    let src = Box::new(TraceSource::new(Arc::new(trace), "monorepo-3h"));
    let opts = RunOptions {
        seed,
        tool_version: "test".into(),
        ..Default::default()
    };
    runner::run_scenario(&sc, src, &opts, &mut |_| {})
        .unwrap()
        .0
}

fn check(label: &str, rec: &RunRecord, want: [&str; 4]) -> Option<String> {
    let got = digests(rec);
    if std::env::var_os("STAMPEDE_PRINT_DIGESTS").is_some() {
        println!("{label}: {got:#?}");
    }
    let files = ["run.json", "allocs.csv", "metrics.csv", "nodes.csv"];
    let bad: Vec<String> = files
        .iter()
        .zip(got.iter().zip(want))
        .filter(|(_, (g, w))| g.as_str() != *w)
        .map(|(f, (g, w))| format!("{label} {f}: got {g}, pinned {w}"))
        .collect();
    (!bad.is_empty()).then(|| bad.join("\n"))
}

#[test]
fn record_digests_are_pinned() {
    let mut failures = Vec::new();
    let cases: Vec<(&str, RunRecord, [&str; 4])> = vec![
        ("smoke seed 7", run(&load("smoke"), 7), SMOKE_7),
        ("smoke seed 2", run(&load("smoke"), 2), SMOKE_2),
        (
            "ci-burst scale 0.2 seed 1",
            run(&load("ci-burst").scaled(0.2).unwrap(), 1),
            CI_BURST_02_1,
        ),
        ("monorepo 3h seed 1", monorepo_reduced(1), MONOREPO_3H_1),
        (
            "c2m scale 0.01 seed 3",
            run(&load("c2m").scaled(0.01).unwrap(), 3),
            C2M_001_3,
        ),
    ];
    for (label, rec, want) in &cases {
        failures.extend(check(label, rec, *want));
    }
    assert!(
        failures.is_empty(),
        "record digests changed (a refactor must keep them):\n{}",
        failures.join("\n")
    );
}

const SMOKE_7: [&str; 4] = [
    "e771aa6ddc17441975a10b6bb9f0bee6507fdeea6d61381f9eab402a172d0c86",
    "476f5443ab2914d3904d6ad6065bb6bcee8dfceff8eff0a8dd119e319a367ec1",
    "0831a0c1754f9e69c47544a118da5ee6d9c196dc0072774aacb80b347a67e9d3",
    "9dc2a32d1942873d0874ce7b86c211f64e1ad5447f42643834ca3af08cb85b0c",
];
const SMOKE_2: [&str; 4] = [
    "de53fca30873a184774a751740782f0eb2eecadc847ca779d2a0acc1fe7322b5",
    "c54fdf6ac67d54ff691ecf0d6f73c7163762c433a2c6197e04108e27bed93334",
    "6c09a19ecd4d6f195a97f02d7b95bd57eda08b1f0f956f36ceb0c77a6c6e822f",
    "48c9c6682695d0b09bd03c34db506121df212576d0212ca444556245b11f17a1",
];
const CI_BURST_02_1: [&str; 4] = [
    "9383cd86f1bedb39cce1fd14eb5d64d61ba694b6ce3e88282170997db1f23ff6",
    "5dc3ee95a8884cb6f17a8cd6f7385da096beaa260784cca045f0af3fff5833de",
    "336e29f9fe1230bccee88ab7810b746ba0fdf9e71d3ef435f92291217d4b7102",
    "c12268ac29440e06ac14d8b0023cb7840536dfdf85fbabd938d7635d08131847",
];
const MONOREPO_3H_1: [&str; 4] = [
    "10f91a85a8da67e2b86780733428a6bc994c5ee553aecba28a1c4d0a6351ffab",
    "5c1286af6a541adf5739fa90bae4e5e8fe11072dfd18e42d6927a10280e2baa7",
    "3976d3667827060672b573168c6b7a7c1f825b2382146c06fea18688ec0eeaf8",
    "5f630e7db3bd2348224af4c1c5127bc6c5dd181d8b6bb9b286da790bf8eb9cf0",
];
const C2M_001_3: [&str; 4] = [
    "7b0521b8081fe68db18a079e60b7ccdd4b9911eb6a3e98c8db4d1d8f7ccbd2ef",
    "c11a247685f220debe93fd4c9b13f6910e015bf9b62865f62cda1936296ea644",
    "96aef3e19baaf36124e6b79e25f849ecbebff85732882bd7c2f50eb834946bb7",
    "86b6c3b964198c9bce9275f8b985d3da40c9a2b74e8b9b578d617c2a9e4c8cb5",
];
