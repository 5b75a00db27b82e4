//! The golden smoke run: its summary is snapshotted, so any change to the model's behaviour shows up as a
//! reviewed snapshot diff (`cargo insta review`).

use crate::scenarios::{load, run};

#[test]
fn golden_smoke_summary() {
    let rec = run(&load("smoke"), 7);
    insta::assert_json_snapshot!("smoke_seed7_summary", rec.meta.summary);
}

#[test]
fn golden_ci_burst_summary() {
    let rec = run(&load("ci-burst").scaled(0.2).unwrap(), 1);
    insta::assert_json_snapshot!("ci_burst_scale0.2_seed1_summary", rec.meta.summary);
}
