//! `stampede trace` and the trace data model: calibration of the synthetic monorepo day, round trips,
//! SWF import, malformed input, fuzzing of the parsers.

use std::path::Path;

use proptest::prelude::*;
use stampede_sim::trace::csv::parse_csv_named;
use stampede_sim::trace::fit::trace_stats;
use stampede_sim::trace::swf::{import_swf, SwfOptions};
use stampede_sim::trace::synth::{synth_monorepo, SynthProfile};
use stampede_sim::trace::{parse_jsonl, parse_jsonl_named, Exit};

use crate::common::{argv, bin_output, cli, fixture};

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap()
}

/// Calibration of the default profile against the published figures (ci-traffic.md), on two seeds.
#[test]
fn synth_day_matches_the_published_figures() {
    let p = SynthProfile::monorepo();
    for seed in [1u64, 2] {
        let t = synth_monorepo(&p, 1, seed);
        let n = t.jobs.len() as f64;
        assert!(
            (n - 60_000.0).abs() <= 6_000.0,
            "seed {seed}: {n} jobs/day, expected 60,000 ± 10%"
        );

        // Nightly build-the-world: ~4,500 targets, ~97 compute-hours (first attempts), ±15%.
        let nightly: Vec<_> = t
            .jobs
            .iter()
            .filter(|j| j.change.as_deref().is_some_and(|c| c.ends_with("-nightly")))
            .collect();
        assert!(
            (nightly.len() as f64 - 4_500.0).abs() <= 675.0,
            "{} nightly jobs",
            nightly.len()
        );
        let nightly_h: f64 = nightly
            .iter()
            .map(|j| j.groups[0].allocs[0].run_ns as f64)
            .sum::<f64>()
            / 3.6e12;
        assert!(
            (nightly_h - 97.0).abs() <= 97.0 * 0.15,
            "nightly {nightly_h} compute-hours"
        );
        assert!(
            nightly.iter().all(|j| j.priority < 31),
            "the nightly runs below every change"
        );

        let st = trace_stats(&t, None);
        // Peaks of a few hundred jobs per minute.
        assert!(
            (100..1_000).contains(&st.arrivals.peak_minute.jobs),
            "peak {} jobs/min",
            st.arrivals.peak_minute.jobs
        );
        // ~1.5% of test runs fail (flaky), and every failure is retried.
        let fr = st.first_attempt_failure_rate;
        assert!((0.011..=0.019).contains(&fr), "flaky rate {fr}");
        assert!(st.replacements > 0);
        // Heavy-tailed fan-out: most changes are small, some touch thousands of targets.
        assert!(
            st.fanout.p50 <= 5.0 && st.fanout.max >= 1_000,
            "{:?}",
            st.fanout
        );
        // Working-day profile: office hours are far busier than the small hours (nightly excluded).
        let by_hour = |h0: u64, h1: u64| -> usize {
            t.jobs
                .iter()
                .filter(|j| !j.change.as_deref().unwrap_or("").ends_with("-nightly"))
                .filter(|j| (h0..h1).contains(&(j.submit_ns / 3_600_000_000_000)))
                .count()
        };
        assert!(
            by_hour(9, 17) > 10 * by_hour(0, 6),
            "office {} vs night {}",
            by_hour(9, 17),
            by_hour(0, 6)
        );
        // Priorities favour small changes.
        let mut fan: std::collections::BTreeMap<&str, f64> = Default::default();
        for j in &t.jobs {
            *fan.entry(j.change.as_deref().unwrap_or("")).or_default() += 1.0;
        }
        let mean_prio = |lo: f64, hi: f64| {
            let v: Vec<f64> = t
                .jobs
                .iter()
                .filter(|j| !j.change.as_deref().unwrap_or("").ends_with("-nightly"))
                .filter(|j| (lo..=hi).contains(&fan[j.change.as_deref().unwrap_or("")]))
                .map(|j| j.priority as f64)
                .collect();
            assert!(!v.is_empty(), "no change with fan-out in {lo}..={hi}");
            v.iter().sum::<f64>() / v.len() as f64
        };
        assert!(mean_prio(1.0, 1.0) > mean_prio(1_000.0, f64::MAX) + 20.0);
        // Job shape: 2 tasks in one group; default resources 2,800 MHz / 3.5 GB for most targets.
        assert!(t
            .jobs
            .iter()
            .all(|j| j.groups.len() == 1 && j.groups[0].tasks == ["test", "log-collector"]));
        let default = t
            .jobs
            .iter()
            .filter(|j| j.groups[0].cpu_mhz == 2_800 && j.groups[0].memory_mb == 3_584)
            .count();
        assert!(
            default as f64 > 0.9 * n && (default as f64) < n,
            "{default} default-sized of {n}"
        );
        // Order.
        assert!(t.jobs.windows(2).all(|w| w[0].submit_ns <= w[1].submit_ns));
    }
}

#[test]
fn synth_cli_is_deterministic_and_round_trips() {
    let d = tempfile::tempdir().unwrap();
    let a = d.path().join("a.jsonl");
    let b = d.path().join("b.jsonl");
    let c = d.path().join("c.jsonl");
    let out = bin_output(&argv!(
        "trace synth --profile monorepo --days 1 --seed 11 --out",
        &a
    ));
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        String::from_utf8_lossy(&out.stdout).starts_with("seed 11:"),
        "the seed is printed"
    );
    assert_eq!(cli(&argv!("trace synth --seed 11 --out", &b)).unwrap(), 0);
    assert_eq!(cli(&argv!("trace synth --seed 12 --out", &c)).unwrap(), 0);
    let (ta, tb, tc) = (read(&a), read(&b), read(&c));
    assert_eq!(ta, tb, "same seed, same bytes");
    assert_ne!(ta, tc, "different seed, different trace");

    // jsonl → parse → write: identical bytes; → csv → jsonl: identical bytes.
    let parsed = parse_jsonl_named(&ta, "a.jsonl").unwrap();
    assert_eq!(parsed.header.seed, Some(11));
    let mut again = Vec::new();
    parsed.write_jsonl(&mut again).unwrap();
    assert!(again == ta.as_bytes());
    let csv = d.path().join("a.csv");
    let back = d.path().join("back.jsonl");
    assert_eq!(
        cli(&[
            "trace",
            "convert",
            a.to_str().unwrap(),
            csv.to_str().unwrap()
        ])
        .unwrap(),
        0
    );
    assert_eq!(
        cli(&[
            "trace",
            "convert",
            csv.to_str().unwrap(),
            back.to_str().unwrap()
        ])
        .unwrap(),
        0
    );
    assert_eq!(read(&back), ta);
    let from_csv = parse_csv_named(&read(&csv), "a.csv").unwrap();
    assert_eq!(from_csv, parsed);
    // CSV: one row per group, plus the header comment and the column line.
    assert_eq!(read(&csv).lines().count(), parsed.jobs.len() + 2);

    // --format csv writes CSV whatever the extension.
    let f = d.path().join("x.txt");
    assert_eq!(
        cli(&argv!("trace synth --seed 11 --format csv --out", &f)).unwrap(),
        0
    );
    assert_eq!(parse_csv_named(&read(&f), "x").unwrap(), parsed);
}

#[test]
fn swf_fixture_imports_with_the_documented_mapping() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("small.jsonl");
    let swf = fixture("traces/small.swf");
    assert_eq!(
        cli(&argv!("trace import --swf", &swf, "--out", &out)).unwrap(),
        0
    );
    let t = parse_jsonl(&read(&out)).unwrap();
    let ids: Vec<&str> = t.jobs.iter().map(|j| j.id.as_str()).collect();
    assert_eq!(
        ids,
        ["swf-1", "swf-2", "swf-4", "swf-6"],
        "cancelled jobs 3 and 5 skipped, sorted by submit"
    );
    let submits: Vec<u64> = t.jobs.iter().map(|j| j.submit_ns / 1_000_000_000).collect();
    assert_eq!(submits, [0, 30, 90, 120]);
    assert_eq!(t.header.start_unix_ns, 1_600_000_000_000_000_000);
    let g: Vec<(u32, u32, u32, u64, Exit)> = t
        .jobs
        .iter()
        .map(|j| {
            let g = &j.groups[0];
            (
                g.count,
                g.cpu_mhz,
                g.memory_mb,
                g.allocs[0].run_ns / 1_000_000_000,
                g.allocs[0].exit,
            )
        })
        .collect();
    assert_eq!(
        g,
        [
            (4, 2500, 2, 60, Exit::Ok),
            (8, 2500, 4, 600, Exit::Failed),
            (16, 2500, 512, 3600, Exit::Ok),
            (1, 2500, 1024, 45, Exit::Ok)
        ]
    );
    assert_eq!(
        t.jobs[2].meta.get("swf_user").map(String::as_str),
        Some("3")
    );
    assert!(t.jobs[3].meta.is_empty());
    // 4×60 + 8×600 + 16×3600 + 45 s of compute.
    assert!((t.compute_hours() - 62_685.0 / 3600.0).abs() < 1e-9);

    // Cancelled jobs kept as failed, processors as CPU.
    let (k, st) = import_swf(
        &read(&swf),
        "small.swf",
        &SwfOptions {
            keep_cancelled: true,
            procs_as: stampede_sim::trace::swf::ProcsAs::Cpu,
            ..Default::default()
        },
    )
    .unwrap();
    assert_eq!((st.lines, st.imported, st.skipped_cancelled), (6, 6, 0));
    let j3 = k.jobs.iter().find(|j| j.id == "swf-3").unwrap();
    assert_eq!(
        (j3.groups[0].allocs[0].run_ns, j3.groups[0].allocs[0].exit),
        (0, Exit::Failed)
    );
    let j4 = k.jobs.iter().find(|j| j.id == "swf-4").unwrap();
    assert_eq!(
        (
            j4.groups[0].count,
            j4.groups[0].cpu_mhz,
            j4.groups[0].memory_mb
        ),
        (1, 40_000, 8_192)
    );
}

#[test]
fn malformed_inputs_fail_with_file_and_line() {
    let d = tempfile::tempdir().unwrap();
    let o = bin_output(&[
        "trace",
        "inspect",
        fixture("traces/bad_count.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    let err = String::from_utf8_lossy(&o.stderr);
    assert!(
        err.contains(
            "bad_count.jsonl:3: field `groups[0].count`: `\"two\"` is not a non-negative integer"
        ),
        "{err}"
    );

    let o = bin_output(&[
        "trace",
        "inspect",
        fixture("traces/out_of_order.jsonl").to_str().unwrap(),
    ]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("out_of_order.jsonl:3: field `submit_ns`"));

    let out = d.path().join("x.jsonl");
    let o = bin_output(&argv!(
        "trace import --swf",
        &fixture("traces/bad_fields.swf"),
        "--out",
        &out
    ));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr)
        .contains("bad_fields.swf:3: expected 18 whitespace-separated fields, found 15"));
    assert!(!out.exists(), "no partial output");

    // A truncated trace is refused.
    let full = d.path().join("full.jsonl");
    assert_eq!(cli(&argv!("trace synth --seed 3 --out", &full)).unwrap(), 0);
    let text = read(&full);
    let cut: String = text.lines().take(100).map(|l| format!("{l}\n")).collect();
    let e = parse_jsonl_named(&cut, "cut.jsonl")
        .unwrap_err()
        .to_string();
    assert!(e.starts_with("cut.jsonl: the header announces"), "{e}");

    // Unknown extensions, profiles and an unreachable recorder address are clear errors.
    let e = cli(&[
        "trace",
        "convert",
        full.to_str().unwrap(),
        d.path().join("y.parquet").to_str().unwrap(),
    ])
    .unwrap_err();
    assert!(format!("{e:#}").contains("unknown trace extension"));
    assert!(cli(&argv!("trace synth --profile nope --out", &out)).is_err());
    let e = cli(&argv!(
        "trace record --addr http://127.0.0.1:9 --duration 24h --out",
        &out
    ))
    .unwrap_err();
    assert!(format!("{e:#}").contains("asking http://127.0.0.1:9 for its version"));
}

#[test]
fn inspect_reports_fits_and_totals() {
    let d = tempfile::tempdir().unwrap();
    let f = d.path().join("t.jsonl");
    assert_eq!(cli(&argv!("trace synth --seed 5 --out", &f)).unwrap(), 0);
    let o = bin_output(&["trace", "inspect", f.to_str().unwrap(), "--json"]);
    assert!(o.status.success());
    let v: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let t = parse_jsonl(&read(&f)).unwrap();
    assert_eq!(v["jobs"].as_u64(), Some(t.jobs.len() as u64));
    assert!((v["compute_hours"].as_f64().unwrap() - t.compute_hours()).abs() < 1e-6);
    let ln = &v["durations"]["lognormal"];
    // The body of the synthetic durations is lognormal around a 45 s median.
    assert!(
        (ln["median_s"].as_f64().unwrap() - 45.0).abs() < 10.0,
        "{ln}"
    );
    assert!(ln["ks"].as_f64().unwrap() < 0.1);
    // The synthetic tail: Pareto above 600 s with alpha 1.8 (nightly runs are scaled, so roughly).
    let pt = &v["durations"]["pareto_tail"];
    assert!((pt["alpha"].as_f64().unwrap() - 1.8).abs() < 0.5, "{pt}");
    assert!(pt["ks"].as_f64().unwrap() < 0.05, "{pt}");
    let q = bin_output(&argv!("trace inspect", &f, "--json --tail-quantile 0.9"));
    let vq: serde_json::Value = serde_json::from_slice(&q.stdout).unwrap();
    assert_eq!(vq["durations"]["tail_quantile"].as_f64(), Some(0.9));
    assert_eq!(
        bin_output(&argv!("trace inspect", &f, "--tail-quantile 1.5"))
            .status
            .code(),
        Some(2)
    );
    assert_eq!(
        v["arrivals"]["per_hour"]
            .as_array()
            .unwrap()
            .iter()
            .map(|b| b["jobs"].as_u64().unwrap())
            .sum::<u64>(),
        t.jobs.len() as u64
    );
    let text = bin_output(&["trace", "inspect", f.to_str().unwrap()]);
    let s = String::from_utf8_lossy(&text.stdout);
    assert!(
        s.contains("lognormal fit (MLE)")
            && s.contains("Pareto tail fit (Hill)")
            && s.contains("compute-hours"),
        "{s}"
    );
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 256, ..ProptestConfig::default() })]

    #[test]
    fn parsers_never_panic_on_arbitrary_text(s in "\\PC{0,400}") {
        let _ = parse_jsonl(&s);
        let _ = parse_csv_named(&s, "f.csv");
        let _ = import_swf(&s, "f.swf", &SwfOptions::default());
    }

    #[test]
    fn parsers_never_panic_on_mutated_traces(pos in 0usize..2000, byte in any::<u8>(), cut in 0usize..2000) {
        const BASE: &str = concat!(
            r#"{"stampede_trace":1,"name":"t","source":"record","start_unix_ns":5,"jobs":2}"#, "\n",
            r#"{"submit_ns":10,"id":"a","type":"batch","priority":50,"change":"c","groups":[{"name":"g","count":2,"cpu_mhz":100,"memory_mb":64,"tasks":["t","l"],"image":"i","image_bytes":3,"allocs":[{"run_ns":7,"exit":"ok"},{"run_ns":9,"exit":"failed"}]}]}"#, "\n",
            r#"{"submit_ns":11,"id":"b","type":"service","priority":1,"groups":[{"name":"g","count":1,"cpu_mhz":1,"memory_mb":1,"tasks":["x"],"image":"i","image_bytes":0,"allocs":[]}]}"#, "\n",
        );
        let mut bytes = BASE.as_bytes().to_vec();
        let p = pos % bytes.len();
        bytes[p] = byte;
        bytes.truncate(cut.max(1).min(bytes.len()));
        let text = String::from_utf8_lossy(&bytes);
        if let Err(e) = parse_jsonl(&text) {
            if let Some(l) = e.line() { prop_assert!((1..=4).contains(&l), "{}", e); }
        }
        let t = parse_jsonl(BASE).unwrap();
        let mut csv = Vec::new();
        t.write_csv(&mut csv).unwrap();
        let q = pos % csv.len();
        csv[q] = byte;
        let _ = parse_csv_named(&String::from_utf8_lossy(&csv), "m.csv");
        let swf = "1 0 0 60 4 -1 2048 4 120 -1 1 1 1 1 1 1 -1 -1\n2 5 0 -1 4 -1 -1 4 120 -1 5 1 1 1 1 1 -1 -1\n";
        let mut sb = swf.as_bytes().to_vec();
        let r = pos % sb.len();
        sb[r] = byte;
        let _ = import_swf(&String::from_utf8_lossy(&sb), "m.swf", &SwfOptions::default());
    }

    #[test]
    fn small_synthetic_traces_round_trip(seed in any::<u64>(), jobs in 50u32..400) {
        let mut p = SynthProfile::monorepo();
        p.jobs_per_day = jobs;
        p.nightly_targets = jobs / 10;
        let t = synth_monorepo(&p, 1, seed);
        let mut j = Vec::new();
        t.write_jsonl(&mut j).unwrap();
        let back = parse_jsonl(std::str::from_utf8(&j).unwrap()).unwrap();
        prop_assert_eq!(&back, &t);
        let mut c = Vec::new();
        t.write_csv(&mut c).unwrap();
        prop_assert_eq!(parse_csv_named(std::str::from_utf8(&c).unwrap(), "x").unwrap(), t);
    }
}
