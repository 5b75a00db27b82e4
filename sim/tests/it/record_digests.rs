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
    "336f98de1aee2178cae5da05911809fc408de04fb1d423498daf8ce7b5b3e8c0",
    "056359c0d962bf6d35bf9407c7dbb12d5f6d2c161529eae64a482d7e5aef0208",
    "4720ce51a05d79104121747426cd9b02d02c27e5e5a8008fc65530c7f5ac8862",
    "9dc2a32d1942873d0874ce7b86c211f64e1ad5447f42643834ca3af08cb85b0c",
];
const SMOKE_2: [&str; 4] = [
    "d458a9ad0dde07842a26f638af13eef652ff5157a6144661dfe96134972d8efb",
    "a335b3756e098374ea43f01fd1133f8ae936356e63354ac1cad3a8f3120f982b",
    "ee8530551cb0617ebd7e044581b8c9330c3cda0994feac76d6f339c745986ccd",
    "48c9c6682695d0b09bd03c34db506121df212576d0212ca444556245b11f17a1",
];
const CI_BURST_02_1: [&str; 4] = [
    "6c2cdcfde58e75967662d9b823b0b75e8df6776b34ece9028739a03537130295",
    "d19e963a3f9f15abf2bec1a7c064dcb2b023ae17cd61370f70f1121e6f4cd6ac",
    "f3d791c517d64a34327f977df61a953bf6facec43f2d04b8e23373f6a30bff93",
    "c12268ac29440e06ac14d8b0023cb7840536dfdf85fbabd938d7635d08131847",
];
const MONOREPO_3H_1: [&str; 4] = [
    "8c6f659229f76433771c728c80438e5a749da95c717fc6c3c995439ed3ebdc43",
    "12dd85d5bd9470d39bbef03faccbe0c60792556698a8b0760e7d191f26dc689b",
    "57f6905b6bcc28b610f3786fef9f13af8d2aa75a60c01cbf69c9d23c813ed7d1",
    "cac3de880e95bc7523206b98f258dc7989c8fcfdc5a35f82f30ddc3d289673e6",
];
const C2M_001_3: [&str; 4] = [
    "6a631e370673eec3786e5d8a9277d8d517aedf1408156a7e84ae4ae79c80d08a",
    "08a0fb734e5f0c07f53c8f08ba3f123c8e55524b55c83187fabc3159ef29d3e3",
    "359a17166b94ebd363725fd5db74c28d2c20d2edd961ad7bf2d474865b1dfc90",
    "86b6c3b964198c9bce9275f8b985d3da40c9a2b74e8b9b578d617c2a9e4c8cb5",
];
