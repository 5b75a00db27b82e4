//! `stampede compare`: regression / no regression on hand-made records, repetitions and spread, and bad input
//! (missing files, schema versions, scenarios, threshold syntax), all through `stampede::run`.

use std::ffi::OsStr;
use std::path::{Path, PathBuf};

use stampede_sim::record::RunRecord;

use crate::common::{argv, cli};
use crate::report::{make_record, write, Shape};

fn small(seed: u64, slowdown: f64) -> RunRecord {
    make_record(&Shape {
        allocs: 600,
        nodes: 30,
        secs: 60,
        seed,
        slowdown,
        ..Shape::default()
    })
}

/// `stampede compare ARGS…` in process.
fn run<S: AsRef<OsStr>>(args: &[S]) -> anyhow::Result<u8> {
    let v: Vec<&OsStr> = std::iter::once(OsStr::new("compare"))
        .chain(args.iter().map(|a| a.as_ref()))
        .collect();
    cli(&v)
}

fn p(d: &Path) -> &str {
    d.to_str().unwrap()
}

struct Fixture {
    _tmp: tempfile::TempDir,
    root: PathBuf,
}

impl Fixture {
    fn new() -> Fixture {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().to_path_buf();
        Fixture { _tmp: tmp, root }
    }
    fn rec(&self, name: &str, rec: &RunRecord) -> PathBuf {
        write(&self.root.join(name), rec)
    }
}

#[test]
fn same_record_passes_and_slower_record_fails() {
    let f = Fixture::new();
    let base = f.rec("base", &small(1, 1.0));
    let same = f.rec("same", &small(1, 1.0));
    let slow = f.rec("slow", &small(1, 1.6));
    let flags = [
        "--fail-if",
        "submit_to_running.p99 > +10%",
        "--fail-if",
        "placement_rate < -5%",
    ];
    let mut a = vec![p(&base), p(&same)];
    a.extend_from_slice(&flags);
    assert_eq!(run(&a).unwrap(), 0);
    let mut a = vec![p(&base), p(&slow)];
    a.extend_from_slice(&flags);
    assert_eq!(run(&a).unwrap(), stampede::EXIT_FAIL);
    // No threshold: a table only, exit 0 even when slower.
    assert_eq!(run(&[p(&base), p(&slow)]).unwrap(), 0);
    // Absolute threshold on the new side.
    assert_eq!(
        run(&[p(&base), p(&same), "--fail-if", "servers.cpu_pct_max > 1"]).unwrap(),
        1
    );
    assert_eq!(
        run(&argv!(
            &base,
            &same,
            "--fail-if",
            String::from("servers.cpu_pct_max > 1000")
        ))
        .unwrap(),
        0
    );
}

#[test]
fn comparison_figures_and_single_run_note() {
    use stampede::report::compare;
    let f = Fixture::new();
    let base = f.rec("base", &small(1, 1.0));
    let slow = f.rec("slow", &small(1, 1.6));
    let (b, n) = compare::load_sides(&[base], &[slow], false).unwrap();
    let t = compare::parse_threshold("submit_to_running.p99 > +10%", "--fail-if").unwrap();
    let c = compare::compare(&b, &n, &[t]);
    assert!(c.single_run && c.regression);
    let row = c
        .figures
        .iter()
        .find(|r| r.key == "submit_to_running.p99")
        .unwrap();
    assert!(row.delta > 0.0 && row.delta_pct.unwrap() > 30.0, "{row:?}");
    assert_eq!(row.verdict, "worse");
    let text = compare::render_text(&c);
    assert!(text.contains("one run on at least one side"), "{text}");
    assert!(
        text.contains("VERDICT: REGRESSION (1 of 1 thresholds crossed)"),
        "{text}"
    );
    for key in [
        "placement_rate_per_s",
        "completion_s",
        "submit_to_placed.p50",
        "placed_to_running.max",
        "servers.cpu_pct_max",
        "allocs_lost",
        "evals_failed",
    ] {
        assert!(
            c.figures.iter().any(|r| r.key == key),
            "{key} missing from the table"
        );
    }
}

#[test]
fn repetitions_use_spread_and_directories_of_records() {
    let f = Fixture::new();
    // Base: three noisy repetitions; new: three repetitions 3 % slower (inside base's spread) …
    for s in 1..=3 {
        f.rec(&format!("base/r{s}"), &small(s, 1.0));
        f.rec(&format!("near/r{s}"), &small(s + 10, 1.03));
        f.rec(&format!("far/r{s}"), &small(s + 20, 1.8));
    }
    let base = f.root.join("base");
    let (near, far) = (f.root.join("near"), f.root.join("far"));
    let th = ["--fail-if", "submit_to_running.p99 > +5%", "--json"];
    let mut a = vec![p(&base), p(&near)];
    a.extend_from_slice(&th);
    assert_eq!(
        run(&a).unwrap(),
        0,
        "a 3 % change inside base's spread is not a regression"
    );
    let mut a = vec![p(&base), p(&far)];
    a.extend_from_slice(&th);
    assert_eq!(run(&a).unwrap(), 1);
    // The `--` form with explicit record dirs.
    let b: Vec<PathBuf> = (1..=3).map(|s| f.root.join(format!("base/r{s}"))).collect();
    let n: Vec<PathBuf> = (1..=3).map(|s| f.root.join(format!("far/r{s}"))).collect();
    let mut a: Vec<&str> = b.iter().map(|x| p(x)).collect();
    a.extend(["--fail-if", "submit_to_running.p99 > +5%", "--"]);
    a.extend(n.iter().map(|x| p(x)));
    assert_eq!(run(&a).unwrap(), 1);

    use stampede::report::compare;
    let (bs, ns) = compare::load_sides(&[base], &[near], false).unwrap();
    assert_eq!((bs.metas.len(), ns.metas.len()), (3, 3));
    let c = compare::compare(&bs, &ns, &[]);
    assert!(!c.single_run);
    let row = c
        .figures
        .iter()
        .find(|r| r.key == "submit_to_running.p99")
        .unwrap();
    assert!(
        row.base.stddev > 0.0 && row.base.min < row.base.max,
        "{row:?}"
    );
    let text = compare::render_text(&c);
    assert!(text.contains("mean (min–max, sd)"), "{text}");
}

#[test]
fn thresholds_file_and_html() {
    let f = Fixture::new();
    let base = f.rec("base", &small(1, 1.0));
    let slow = f.rec("slow", &small(1, 1.6));
    let th = f.root.join("thresholds.txt");
    std::fs::write(
        &th,
        "# CI gate\n\nsubmit_to_running.p99 > +10%   # queue wait\nplacement_rate < -5%\n",
    )
    .unwrap();
    let html = f.root.join("cmp.html");
    let code = run(&argv!(&base, &slow, "--thresholds", &th, "--html", &html)).unwrap();
    assert_eq!(code, 1);
    let page = std::fs::read_to_string(&html).unwrap();
    // Kept for people to open.
    std::fs::write(
        std::env::temp_dir().join("stampede-compare-sample.html"),
        &page,
    )
    .unwrap();
    assert!(page.contains("REGRESSION"));
    for id in ["chart-c2m-overlay", "chart-latency-overlay"] {
        let i = page
            .find(&format!("id=\"{id}\""))
            .unwrap_or_else(|| panic!("{id} missing"));
        let s = i + page[i..].find("<svg").unwrap();
        let e = s + page[s..].find("</svg>").unwrap() + 6;
        let doc = roxmltree::Document::parse(&page[s..e]).unwrap();
        let text: String = doc.descendants().filter_map(|n| n.text()).collect();
        assert!(
            text.contains("base #1") && text.contains("new #1"),
            "{id} overlays both sides"
        );
    }
    // A bad line is named by file:line.
    std::fs::write(
        &th,
        "# ok\nsubmit_to_running.p99 > +10%\nsubmit_to_running.p99 ~ 10\n",
    )
    .unwrap();
    let e = run(&[p(&base), p(&slow), "--thresholds", p(&th)]).unwrap_err();
    assert!(
        format!("{e:#}").contains(&format!("{}:3", th.display())),
        "{e:#}"
    );
}

#[test]
fn bad_input_is_an_error() {
    let f = Fixture::new();
    let base = f.rec("base", &small(1, 1.0));
    let new = f.rec("new", &small(2, 1.0));
    let msg = |r: anyhow::Result<u8>| format!("{:#}", r.unwrap_err());

    // Missing record.
    let m = msg(run(&[p(&base), p(&f.root.join("missing"))]));
    assert!(m.contains("missing") && m.contains("does not exist"), "{m}");
    // A directory without records.
    std::fs::create_dir_all(f.root.join("empty")).unwrap();
    let m = msg(run(&[p(&base), p(&f.root.join("empty"))]));
    assert!(m.contains("neither a run record"), "{m}");
    // Bad threshold syntax: unknown figure, no operator, bad value.
    for (t, want) in [
        ("p99 > 10%", "unknown figure `p99`"),
        ("submit_to_running.p99 10%", "no operator"),
        ("submit_to_running.p99 > fast", "is not a number"),
    ] {
        let m = msg(run(&[p(&base), p(&new), "--fail-if", t]));
        assert!(m.contains("--fail-if") && m.contains(want), "{t}: {m}");
    }
    // Three paths without `--`.
    let m = msg(run(&[p(&base), p(&new), p(&new)]));
    assert!(m.contains("exactly two paths"), "{m}");
    // Different scenarios: refused unless allowed.
    let other = f.rec(
        "other",
        &make_record(&Shape {
            allocs: 600,
            nodes: 30,
            secs: 60,
            scenario: "nightly",
            ..Shape::default()
        }),
    );
    let m = msg(run(&[p(&base), p(&other)]));
    assert!(
        m.contains("different scenarios") && m.contains("--allow-different-scenarios"),
        "{m}"
    );
    assert_eq!(
        run(&[p(&base), p(&other), "--allow-different-scenarios"]).unwrap(),
        0
    );
    // Different schema versions.
    let v2 = f.rec("v2", &small(3, 1.0));
    let j = v2.join("run.json");
    let text = std::fs::read_to_string(&j).unwrap().replacen(
        "\"schema_version\": 1",
        "\"schema_version\": 2",
        1,
    );
    std::fs::write(&j, text).unwrap();
    let m = msg(run(&[p(&base), p(&v2)]));
    assert!(
        m.contains("different schema versions") && m.contains("version 2"),
        "{m}"
    );
    // Both sides of an unknown version: the reader's own error.
    let m = msg(run(&[p(&v2), p(&v2)]));
    assert!(m.contains("schema_version 2 is not supported"), "{m}");
    // Corrupt run.json.
    let bad = f.rec("bad", &small(4, 1.0));
    std::fs::write(bad.join("run.json"), "{ not json").unwrap();
    let m = msg(run(&[p(&base), p(&bad)]));
    assert!(m.contains("run.json"), "{m}");
}

#[test]
fn json_verdict_is_machine_readable() {
    use stampede::report::compare;
    let f = Fixture::new();
    let base = f.rec("base", &small(1, 1.0));
    let slow = f.rec("slow", &small(1, 1.6));
    let (b, n) = compare::load_sides(&[base], &[slow], false).unwrap();
    let t = compare::parse_threshold("submit_to_running.p99 > +10%", "--fail-if").unwrap();
    let v = serde_json::to_value(compare::compare(&b, &n, &[t])).unwrap();
    assert_eq!(v["regression"], true);
    assert_eq!(v["single_run"], true);
    assert_eq!(v["thresholds"][0]["crossed"], true);
    assert_eq!(
        v["thresholds"][0]["threshold"]["limit"]["kind"],
        "relative_pct"
    );
    assert!(v["figures"].as_array().unwrap().len() >= 20);
}
