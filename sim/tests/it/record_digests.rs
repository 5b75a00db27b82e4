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
    "b3960a772dd9be8843117bebebdadea4b97d42bb709da305c3f1f5e585331848",
    "0b3c5770435fd927bac73cdb94111605006654b9ea8200a1dbc74717db5d14b7",
    "c1613bbcc0771f11050a6de78e52e6e3454e3ff48485541a1209642b7246770a",
    "9dc2a32d1942873d0874ce7b86c211f64e1ad5447f42643834ca3af08cb85b0c",
];
const SMOKE_2: [&str; 4] = [
    "ee70a1206a115fa29391c9d8ebe995156cc2506b0fbd69ce00e19d0fd4bf8776",
    "fb95754b9c4234599b064259d5d798a4cbb522147376ed34e65121135eec5662",
    "b67633549add736621fe23359de6e7580ca200258e4e2de660e7754f7848ac68",
    "48c9c6682695d0b09bd03c34db506121df212576d0212ca444556245b11f17a1",
];
const CI_BURST_02_1: [&str; 4] = [
    "a868c4d1dd9d406b013a57558affbae914680a58aa43e8b09aceb5281c0a639e",
    "b6cea0862fcae44d045984a0cfdb29372d20322fec61ae574c09107026ca4134",
    "c853486899055aca94bb79db84fe432588092c7e16145c349499b6b804d4af2e",
    "c12268ac29440e06ac14d8b0023cb7840536dfdf85fbabd938d7635d08131847",
];
const MONOREPO_3H_1: [&str; 4] = [
    "cf5348e865151b5d08057c29ad8af3226d23d92099d5b70b2a6794d35e32196c",
    "a2a19fcfbb13b5b8940298e0fa5cbc75863663611e72c4712d08ad975806ac4c",
    "7979c5d6cdb3116e19dd25426a5c4be0974a76ab74a66b4cbbfd3b1142adb24f",
    "64dcf900b35b779e243e90bb7a75b59960132ef10f41c2613de92166dd1b6818",
];
const C2M_001_3: [&str; 4] = [
    "3469c3339fb3b2b8fc6146ed001883dd61b33b15d7dcf688cd4a00aa514eefc5",
    "35810ce7b946c47b9387c1772bca602f7b9b20046271116aa0a0d20eea3df9a6",
    "9b118c2d031e96a8c70542b1ae5292cd43485faa320bb2429ebd1d65addd8a84",
    "86b6c3b964198c9bce9275f8b985d3da40c9a2b74e8b9b578d617c2a9e4c8cb5",
];
