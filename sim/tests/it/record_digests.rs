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
    "6db7a3cbad133ad5d06dc73a56100c158b5151787ba5d61c3fff7d76cf429e10",
    "476f5443ab2914d3904d6ad6065bb6bcee8dfceff8eff0a8dd119e319a367ec1",
    "9e291101b2ab1e8923c30779f7777114ca9a49768a73beaf52475ee693f3dbf9",
    "9dc2a32d1942873d0874ce7b86c211f64e1ad5447f42643834ca3af08cb85b0c",
];
const SMOKE_2: [&str; 4] = [
    "05e65863133b94a7262da2823033232cbc5bf5c48a6ded9dcfa75e8558f8ee64",
    "c54fdf6ac67d54ff691ecf0d6f73c7163762c433a2c6197e04108e27bed93334",
    "4c1b50fefa2be79f2cbd3e657817d00050b838b5658c559b1be461b33fa0b9fa",
    "48c9c6682695d0b09bd03c34db506121df212576d0212ca444556245b11f17a1",
];
const CI_BURST_02_1: [&str; 4] = [
    "0e1b52bb09c0770af1fef3c934b1afb492b691023ff01f2c396834756394b29c",
    "5dc3ee95a8884cb6f17a8cd6f7385da096beaa260784cca045f0af3fff5833de",
    "564a848276d7e9073ef8e6f82babb4c81b5525a1447497025976be14438f0d68",
    "c12268ac29440e06ac14d8b0023cb7840536dfdf85fbabd938d7635d08131847",
];
const MONOREPO_3H_1: [&str; 4] = [
    "b22140fe637026e931d924abf3465755fb4356e81973eea880f0dfdadf9089b7",
    "5c1286af6a541adf5739fa90bae4e5e8fe11072dfd18e42d6927a10280e2baa7",
    "8875473d383ec31c40e021f0ec4623bc9c5ec0f00ea9401c059903e87c9ea173",
    "5f630e7db3bd2348224af4c1c5127bc6c5dd181d8b6bb9b286da790bf8eb9cf0",
];
const C2M_001_3: [&str; 4] = [
    "d898f80897c7d11e56712ebba749083cc122e5321ce7bca01f2fb5edbe3681f3",
    "c11a247685f220debe93fd4c9b13f6910e015bf9b62865f62cda1936296ea644",
    "4c50e16fa76e72f8612941224fbf40367b2e73b892b4e8a5810a5d8b7691b712",
    "86b6c3b964198c9bce9275f8b985d3da40c9a2b74e8b9b578d617c2a9e4c8cb5",
];
