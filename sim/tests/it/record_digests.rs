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
    "a82131b14d497c1901f57fe77a575129f17aeb3c3027b6f886f275b2dafce598",
    "0b3c5770435fd927bac73cdb94111605006654b9ea8200a1dbc74717db5d14b7",
    "6df95645a9a20f367c10e456555a4e164fcf158d9ec05a1f3a504842c290ba8a",
    "9dc2a32d1942873d0874ce7b86c211f64e1ad5447f42643834ca3af08cb85b0c",
];
const SMOKE_2: [&str; 4] = [
    "a4678761bce58f3d8885586132bf6f275861eb0325a55a0971c912523539358a",
    "fb95754b9c4234599b064259d5d798a4cbb522147376ed34e65121135eec5662",
    "5e10291510500e5e8fa65a2effb14ec1abed6ebab035d6bcc9e4a7260c24ca89",
    "48c9c6682695d0b09bd03c34db506121df212576d0212ca444556245b11f17a1",
];
const CI_BURST_02_1: [&str; 4] = [
    "b4f6aae4ebd5039a4bc2d80b268f36735c7ec42a3552b059561495a0f5c6895e",
    "b6cea0862fcae44d045984a0cfdb29372d20322fec61ae574c09107026ca4134",
    "844fd496d9bc3663795a79a5f6179911cc9997411964e285c79e479f7bc8fb80",
    "c12268ac29440e06ac14d8b0023cb7840536dfdf85fbabd938d7635d08131847",
];
const MONOREPO_3H_1: [&str; 4] = [
    "cf5348e865151b5d08057c29ad8af3226d23d92099d5b70b2a6794d35e32196c",
    "a2a19fcfbb13b5b8940298e0fa5cbc75863663611e72c4712d08ad975806ac4c",
    "1eaa3686567da70aaf53741bd2e3a07d5faec6bd8549e723ac0c64c6aa88d017",
    "64dcf900b35b779e243e90bb7a75b59960132ef10f41c2613de92166dd1b6818",
];
const C2M_001_3: [&str; 4] = [
    "80e5ac630567f4c3eb5b1c094710ea1e4b4a4b11aae589c3baffbd87973af8de",
    "35810ce7b946c47b9387c1772bca602f7b9b20046271116aa0a0d20eea3df9a6",
    "ca685c03dc9d967195382948fdaa628d865030b9099c1741a24ef559604032d3",
    "86b6c3b964198c9bce9275f8b985d3da40c9a2b74e8b9b578d617c2a9e4c8cb5",
];
