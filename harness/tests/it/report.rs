//! `stampede report`: snapshots of summary.md and the JSON export of a hand-made record, the JSON Schema,
//! well-formed SVG charts, size bounds on large records, and headless Chromium rendering the page cleanly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use clap::Parser;
use stampede::files::record as record_io;
use stampede::report::{self, ExportFormat};
use stampede_sim::record::{
    AllocRow, AllocStatus, FleetEntry, MetricRow, NodeRow, RunEvent, RunMeta, RunRecord,
    ScenarioInfo, ServerInfo, Source, Summary, SCHEMA_VERSION, SIM_EPOCH_UNIX_NS,
};
use stampede_sim::summary::SummaryInputs;

use crate::common::argv;

/// Shape of a hand-made record.
#[derive(Debug, Clone)]
pub struct Shape {
    /// Allocations desired (10 per job).
    pub allocs: usize,
    /// Client nodes.
    pub nodes: usize,
    /// Seconds of submission (open loop) and of metrics.
    pub secs: u64,
    /// Seed of the deterministic noise.
    pub seed: u64,
    /// Multiplier of every latency (1.0 = baseline; 1.5 = a regression).
    pub slowdown: f64,
    /// `spread` or `binpack`.
    pub algorithm: &'static str,
    /// Scenario name.
    pub scenario: &'static str,
    /// Whether to add metrics rows.
    pub metrics: bool,
}

impl Default for Shape {
    fn default() -> Self {
        Shape {
            allocs: 4000,
            nodes: 120,
            secs: 300,
            seed: 7,
            slowdown: 1.0,
            algorithm: "spread",
            scenario: "ci-burst",
            metrics: true,
        }
    }
}

/// Deterministic noise (SplitMix64).
struct Noise(u64);

impl Noise {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    /// Uniform in (0, 1).
    fn unit(&mut self) -> f64 {
        ((self.next() >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }
    /// Exponential with the given mean.
    fn exp(&mut self, mean: f64) -> f64 {
        -self.unit().ln() * mean
    }
}

const S: u64 = 1_000_000_000;
const MS: f64 = 1e6;

/// Builds a realistic, deterministic run record: open-loop CI bursts, two spot interruptions with lost and
/// rescheduled allocations, three servers with a leader change, queues that rise and drain.
pub fn make_record(sh: &Shape) -> RunRecord {
    let mut rng = Noise(sh.seed);
    let nodes: Vec<NodeRow> = (0..sh.nodes)
        .map(|i| {
            let spot = i % 10 < 7;
            NodeRow {
                node_id: format!("node-{i:04}"),
                name: format!("ci-{i:04}"),
                pool: if spot {
                    "ci-spot".into()
                } else {
                    "ci-ondemand".into()
                },
                instance_type: if spot {
                    "c6i.2xlarge".into()
                } else {
                    "m6i.2xlarge".into()
                },
                region: "eu-west-1".into(),
                datacenter: "dc1".into(),
                spot,
                cpu_mhz: 16_000,
                memory_mb: 32_000,
                joined_ns: 0,
                left_ns: None,
                left_reason: String::new(),
            }
        })
        .collect();
    let spot_at = [(sh.secs * 2 / 5, 3usize), (sh.secs * 2 / 3, 10usize)];
    let jobs = sh.allocs / 10;
    let mut allocs = Vec::new();
    let mut k = 0usize;
    for j in 0..jobs {
        let submit = (j as f64 / jobs as f64 * (sh.secs as f64 * 0.8) * S as f64) as u64;
        for a in 0..10 {
            // queueing grows during the burst in the middle of the run
            let load = 1.0 + 3.0 * (-(((j as f64 / jobs as f64) - 0.5) * 6.0).powi(2)).exp();
            let placed = submit + ((15.0 * MS + rng.exp(40.0 * MS * load)) * sh.slowdown) as u64;
            let running = placed + ((250.0 * MS + rng.exp(400.0 * MS)) * sh.slowdown) as u64;
            let node = if sh.algorithm == "binpack" {
                (k / 60).min(sh.nodes - 1)
            } else {
                (rng.next() % sh.nodes as u64) as usize
            };
            k += 1;
            let done = running + 60 * S + rng.next() % (30 * S);
            let mut row = AllocRow {
                job_id: format!("ci-job-{j:05}"),
                alloc_id: format!("{:08x}-{:04x}-4000-8000-{:012x}", rng.next() as u32, a, k),
                node_id: nodes[node].node_id.clone(),
                task_group: "build".into(),
                submit_ns: Some(submit),
                sent_ns: Some(submit),
                placed_ns: Some(placed),
                running_ns: Some(running),
                done_ns: Some(done),
                status: AllocStatus::Complete,
                lost: false,
                rescheduled: false,
                replaces: String::new(),
            };
            if let Some(&(t, _)) = spot_at
                .iter()
                .find(|(t, n)| *n == node && running < t * S && done > t * S)
            {
                row.status = AllocStatus::Lost;
                row.lost = true;
                row.done_ns = Some(t * S);
                let rep_placed = t * S + ((2 * S + rng.next() % S) as f64 * sh.slowdown) as u64;
                let rep_node =
                    (node + 1 + (rng.next() % (sh.nodes as u64 - 1)) as usize) % sh.nodes;
                allocs.push(row.clone());
                row = AllocRow {
                    alloc_id: format!("{}-r", row.alloc_id),
                    // The replacement is asked for when the node goes; measure it from there.
                    submit_ns: Some(t * S),
                    sent_ns: Some(t * S),
                    node_id: nodes[rep_node].node_id.clone(),
                    placed_ns: Some(rep_placed),
                    running_ns: Some(rep_placed + (400.0 * MS * sh.slowdown) as u64),
                    done_ns: Some(rep_placed + 70 * S),
                    status: AllocStatus::Complete,
                    lost: false,
                    rescheduled: true,
                    replaces: row.alloc_id.clone(),
                    ..row
                };
            }
            allocs.push(row);
        }
    }
    let mut nodes = nodes;
    for &(t, n) in &spot_at {
        nodes[n].left_ns = Some(t * S);
        nodes[n].left_reason = "spot_interruption".into();
    }
    let mut events: Vec<RunEvent> = spot_at
        .iter()
        .map(|&(t, n)| RunEvent {
            t_ns: t * S,
            kind: "spot_interruption".into(),
            node_id: Some(format!("node-{n:04}")),
            detail: "EC2 reclaimed the spot instance".into(),
        })
        .collect();
    let change = sh.secs / 2;
    events.push(RunEvent {
        t_ns: change * S,
        kind: "leader_change".into(),
        node_id: Some("server-2".into()),
        detail: "server-1 lost leadership (fault injected)".into(),
    });
    events.sort_by_key(|e| e.t_ns);
    let mut placed_per_s: BTreeMap<u64, f64> = BTreeMap::new();
    let mut running_at: BTreeMap<u64, i64> = BTreeMap::new();
    for a in &allocs {
        if let Some(p) = a.placed_ns {
            *placed_per_s.entry(p / S).or_default() += 1.0;
        }
        if let Some(r) = a.running_ns {
            *running_at.entry(r / S).or_default() += 1;
        }
        if let Some(d) = a.done_ns {
            *running_at.entry(d / S).or_default() -= 1;
        }
    }
    let mut metrics = Vec::new();
    if sh.metrics {
        let mut running = 0i64;
        for t in 0..sh.secs {
            running += running_at.get(&t).copied().unwrap_or(0);
            let placed = placed_per_s.get(&t).copied().unwrap_or(0.0);
            let phase = t as f64 / sh.secs as f64;
            let burst = (-((phase - 0.5) * 6.0).powi(2)).exp();
            let ready = (burst * 180.0 * sh.slowdown + rng.exp(5.0)).round();
            for s in 1..=3u32 {
                let name = format!("server-{s}");
                let leader = (s == 1 && t < change) || (s == 2 && t >= change);
                let base_cpu = if leader {
                    25.0 + 55.0 * burst * sh.slowdown
                } else {
                    6.0 + 8.0 * burst
                };
                metrics.push(MetricRow {
                    t_s: t,
                    server: name,
                    leader,
                    cpu_pct: Some(((base_cpu + rng.exp(3.0)) * 10.0).round() / 10.0),
                    rss_bytes: Some(
                        ((300.0 + 500.0 * phase + 20.0 * s as f64) * 1024.0 * 1024.0).round(),
                    ),
                    raft_bytes_written: Some((placed * 1450.0 + 4096.0 + rng.exp(2000.0)).round()),
                    fsyncs: Some((placed / 40.0 + 2.0 + rng.exp(1.0)).round()),
                    broker_ready: Some(if leader { ready } else { 0.0 }),
                    broker_unacked: Some(if leader {
                        (16.0 * burst.sqrt()).round()
                    } else {
                        0.0
                    }),
                    broker_blocked: Some(
                        if leader && spot_at.iter().any(|&(x, _)| t >= x && t < x + 8) {
                            12.0
                        } else {
                            0.0
                        },
                    ),
                    plan_queue_depth: Some(if leader {
                        (burst * 9.0 + rng.exp(0.5)).round()
                    } else {
                        0.0
                    }),
                    plan_node_rejections: Some(if leader && burst > 0.6 {
                        (rng.exp(1.5)).floor()
                    } else {
                        0.0
                    }),
                    placements: Some(if leader { placed } else { 0.0 }),
                    heartbeats: Some((sh.nodes as f64 / 3.0 / 10.0).round()),
                    gc_pause_ms_max: None,
                    nodes_ready: Some(
                        sh.nodes as f64 - spot_at.iter().filter(|&&(x, _)| t >= x).count() as f64,
                    ),
                    allocs_running: Some(running.max(0) as f64),
                });
            }
        }
    }
    let mut slo = BTreeMap::new();
    slo.insert("submit_to_running_p99_ms".to_string(), 2500.0);
    slo.insert("submit_to_placed_p50_ms".to_string(), 50.0);
    let summary = Summary::compute(
        &allocs,
        &metrics,
        &SummaryInputs {
            jobs_submitted: jobs as u64,
            jobs_failed_to_submit: 0,
            allocs_desired: (jobs * 10) as u64,
            evals_blocked: 4,
            evals_failed: 0,
            events: &events,
            slo: &slo,
        },
    );
    let spot_nodes = nodes.iter().filter(|n| n.spot).count() as u32;
    let od_nodes = nodes.len() as u32 - spot_nodes;
    let hours = sh.secs as f64 / 3600.0;
    let meta = RunMeta {
        schema_version: SCHEMA_VERSION,
        tool_version: "0.1.0".into(),
        run_id: format!("{}-seed{}", sh.scenario, sh.seed),
        source: Source::Sim,
        seed: Some(sh.seed),
        nomad_version: "sim".into(),
        start_unix_ns: SIM_EPOCH_UNIX_NS,
        duration_s: sh.secs as f64,
        outcome: Default::default(),
        scenario: ScenarioInfo {
            name: sh.scenario.into(),
            path: Some(format!("scenarios/{}.toml", sh.scenario)),
            scale: 1.0,
            algorithm: sh.algorithm.into(),
            jobs: jobs as u64,
            job_type: "batch".into(),
            groups_per_job: 1,
            count_per_group: 10,
            cpu_mhz: 500,
            memory_mb: 1024,
            spread_block: false,
            arrival: format!(
                "open-loop rate={:.2}/s burst=1",
                jobs as f64 / (sh.secs as f64 * 0.8)
            ),
            slo,
        },
        servers: (1..=3)
            .map(|s| ServerInfo {
                name: format!("server-{s}"),
                address: format!("10.0.0.{s}:4647"),
                leader: s == 1,
                instance_type: Some("m6i.xlarge".into()),
                cores: Some(4),
            })
            .collect(),
        fleet: vec![
            FleetEntry {
                pool: "ci-spot".into(),
                instance_type: "c6i.2xlarge".into(),
                region: "eu-west-1".into(),
                datacenter: "dc1".into(),
                spot: true,
                nodes_initial: spot_nodes,
                nodes_peak: spot_nodes,
                node_hours: spot_nodes as f64 * hours,
                cpu_mhz: 16_000,
                memory_mb: 32_000,
            },
            FleetEntry {
                pool: "ci-ondemand".into(),
                instance_type: "m6i.2xlarge".into(),
                region: "eu-west-1".into(),
                datacenter: "dc1".into(),
                spot: false,
                nodes_initial: od_nodes,
                nodes_peak: od_nodes,
                node_hours: od_nodes as f64 * hours,
                cpu_mhz: 16_000,
                memory_mb: 32_000,
            },
        ],
        summary,
        events,
        notes: vec!["hand-made test record".into()],
        control_plane: None,
        calibration: None,
    };
    RunRecord {
        meta,
        allocs,
        metrics,
        nodes,
    }
}

/// Writes a record into `dir` and returns `dir`.
pub fn write(dir: &Path, rec: &RunRecord) -> PathBuf {
    record_io::write_record(dir, rec).expect("write record");
    dir.to_path_buf()
}

fn svgs(html: &str) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut rest = html;
    while let Some(fig) = rest.find("<figure id=\"") {
        let id_start = fig + "<figure id=\"".len();
        let id_end = id_start + rest[id_start..].find('"').unwrap();
        let id = rest[id_start..id_end].to_string();
        let s = id_end + rest[id_end..].find("<svg").expect("figure has an svg");
        let e = s + rest[s..].find("</svg>").expect("svg is closed") + "</svg>".len();
        out.push((id, rest[s..e].to_string()));
        rest = &rest[e..];
    }
    out
}

#[test]
fn summary_md_snapshot() {
    let rec = make_record(&Shape::default());
    let md = String::from_utf8(report::render(ExportFormat::Md, &rec).unwrap()).unwrap();
    insta::assert_snapshot!("summary_md", md);
}

#[test]
fn json_export_snapshot_and_roundtrip() {
    let rec = make_record(&Shape {
        allocs: 200,
        nodes: 12,
        secs: 60,
        ..Shape::default()
    });
    let bytes = report::render(ExportFormat::Json, &rec).unwrap();
    let v: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    insta::assert_json_snapshot!("summary_json", v);
    let back = stampede_sim::record::parse_run_json(std::str::from_utf8(&bytes).unwrap()).unwrap();
    assert_eq!(back, rec.meta);
}

fn schema() -> serde_json::Value {
    let p = Path::new(env!("CARGO_MANIFEST_DIR")).join("../reports/schema/run.schema.json");
    serde_json::from_str(
        &std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("{}: {e}", p.display())),
    )
    .unwrap()
}

#[test]
fn json_export_matches_committed_schema() {
    let schema = schema();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    for sh in [
        Shape::default(),
        Shape {
            allocs: 0,
            metrics: false,
            ..Shape::default()
        },
    ] {
        let v: serde_json::Value =
            serde_json::from_slice(&report::render(ExportFormat::Json, &make_record(&sh)).unwrap())
                .unwrap();
        let errs: Vec<String> = validator
            .iter_errors(&v)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errs.is_empty(), "schema violations: {errs:#?}");
    }
    // The schema must be strict: an unknown field, a missing field and a wrong type are all rejected.
    let good: serde_json::Value = serde_json::from_slice(
        &report::render(ExportFormat::Json, &make_record(&Shape::default())).unwrap(),
    )
    .unwrap();
    let mut extra = good.clone();
    extra["summary"]["bogus"] = 1.into();
    assert!(
        !validator.is_valid(&extra),
        "unknown summary field must be rejected"
    );
    let mut missing = good.clone();
    missing.as_object_mut().unwrap().remove("run_id");
    assert!(
        !validator.is_valid(&missing),
        "missing run_id must be rejected"
    );
    let mut wrong = good.clone();
    wrong["source"] = "cloud".into();
    assert!(
        !validator.is_valid(&wrong),
        "unknown source must be rejected"
    );
}

#[test]
fn schema_documents_every_field_with_a_description() {
    fn walk(v: &serde_json::Value, path: &str, missing: &mut Vec<String>) {
        if let Some(props) = v.get("properties").and_then(|p| p.as_object()) {
            for (k, p) in props {
                if p.get("description").is_none() {
                    missing.push(format!("{path}.{k}"));
                }
                walk(p, &format!("{path}.{k}"), missing);
            }
        }
        for key in ["$defs", "items", "additionalProperties"] {
            if let Some(d) = v.get(key) {
                if let Some(o) = d.as_object() {
                    for (k, x) in o {
                        walk(x, &format!("{path}/{key}/{k}"), missing);
                    }
                }
                walk(d, &format!("{path}/{key}"), missing);
            }
        }
    }
    let mut missing = Vec::new();
    walk(&schema(), "", &mut missing);
    assert!(
        missing.is_empty(),
        "fields without description: {missing:?}"
    );
}

#[test]
fn csv_export_has_key_value_rows() {
    let rec = make_record(&Shape {
        allocs: 200,
        nodes: 12,
        secs: 60,
        ..Shape::default()
    });
    let csv = String::from_utf8(report::render(ExportFormat::Csv, &rec).unwrap()).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some("key,value"));
    let map: BTreeMap<&str, &str> = lines
        .map(|l| l.split_once(',').expect("two columns"))
        .collect();
    assert_eq!(map["scenario"], "ci-burst");
    assert_eq!(
        map["allocs_placed"],
        rec.meta.summary.allocs_placed.to_string()
    );
    let p99: f64 = map["latency_ms.submit_to_running.p99"].parse().unwrap();
    assert!((p99 - rec.meta.summary.latency_ms.submit_to_running.p99).abs() < 1e-6);
    assert!(map.contains_key("slo.submit_to_running_p99_ms.met"));
}

#[test]
fn html_has_five_wellformed_svg_charts() {
    let rec = make_record(&Shape::default());
    let html = String::from_utf8(report::render(ExportFormat::Html, &rec).unwrap()).unwrap();
    let charts = svgs(&html);
    let ids: Vec<&str> = charts.iter().map(|c| c.0.as_str()).collect();
    assert_eq!(
        ids,
        [
            "chart-c2m",
            "chart-latency",
            "chart-servers",
            "chart-queues",
            "chart-placement"
        ]
    );
    for (id, svg) in &charts {
        let doc = roxmltree::Document::parse(svg)
            .unwrap_or_else(|e| panic!("{id} is not well-formed XML: {e}"));
        assert_eq!(doc.root_element().tag_name().name(), "svg");
        let texts: Vec<String> = doc
            .descendants()
            .filter(|n| n.has_tag_name("text"))
            .filter_map(|n| n.text().map(String::from))
            .collect();
        assert!(
            texts.len() > 5,
            "{id}: axis labels must be SVG text, got {texts:?}"
        );
        assert!(
            !svg.contains("NaN") && !svg.contains("inf"),
            "{id} has a non-finite coordinate"
        );
        assert!(
            !texts.iter().any(|t| t.starts_with("no data")),
            "{id}: unexpected no-data panel"
        );
    }
    let all = charts.iter().map(|c| c.1.as_str()).collect::<String>();
    for unit in [
        "time since start (s)",
        "latency (ms, log scale)",
        "CPU (% of all cores)",
        "RSS (MiB)",
        "(1/s)",
        "nodes (count)",
    ] {
        assert!(all.contains(unit), "axis label with unit `{unit}` missing");
    }
    assert!(
        charts[2].1.contains("server-2 (leader"),
        "leader marked in the legend"
    );
    assert!(
        charts[4].1.contains("2 spot interruptions"),
        "spot interruptions marked"
    );
    assert!(
        !html.contains("src=\"http") && !html.contains("href=\"http") && !html.contains("<script"),
        "self-contained, no external assets"
    );
}

#[test]
fn empty_record_draws_no_data_panels() {
    let rec = make_record(&Shape {
        allocs: 0,
        metrics: false,
        ..Shape::default()
    });
    assert!(rec.allocs.is_empty() && rec.metrics.is_empty());
    let html = String::from_utf8(report::render(ExportFormat::Html, &rec).unwrap()).unwrap();
    let charts = svgs(&html);
    assert_eq!(charts.len(), 5);
    for (id, svg) in &charts {
        roxmltree::Document::parse(svg).unwrap_or_else(|e| panic!("{id}: {e}"));
        if id != "chart-placement" {
            assert!(svg.contains("no data"), "{id} must say no data");
        }
    }
    // Markdown still renders without NaN.
    let md = String::from_utf8(report::render(ExportFormat::Md, &rec).unwrap()).unwrap();
    assert!(!md.contains("NaN"), "{md}");
}

#[test]
fn binpack_and_spread_skew_differ() {
    let cv = |alg| {
        let rec = make_record(&Shape {
            algorithm: alg,
            allocs: 3000,
            metrics: false,
            ..Shape::default()
        });
        let html = String::from_utf8(report::render(ExportFormat::Html, &rec).unwrap()).unwrap();
        let svg = svgs(&html)
            .into_iter()
            .find(|c| c.0 == "chart-placement")
            .unwrap()
            .1;
        let i = svg.find("CV ").expect("CV in the skew title") + 3;
        svg[i..].split(' ').next().unwrap().parse::<f64>().unwrap()
    };
    let (spread, binpack) = (cv("spread"), cv("binpack"));
    assert!(
        spread < 0.5 && binpack > 1.0,
        "spread CV {spread}, binpack CV {binpack}"
    );
}

#[test]
fn large_record_stays_small_and_fast() {
    // 400k allocations and 2 h of metrics from 3 servers (the 2M case scales the same way: output size is
    // bounded by the downsampling, not by the record).
    let rec = make_record(&Shape {
        allocs: 400_000,
        nodes: 2_000,
        secs: 7_200,
        ..Shape::default()
    });
    let t = Instant::now();
    let html = report::render(ExportFormat::Html, &rec).unwrap();
    let took = t.elapsed();
    assert!(
        html.len() < 2_000_000,
        "report.html is {} bytes",
        html.len()
    );
    assert!(took < Duration::from_secs(20), "rendering took {took:?}");
}

#[test]
fn report_command_writes_files_and_errors_on_bad_input() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = write(
        &tmp.path().join("run"),
        &make_record(&Shape {
            allocs: 500,
            nodes: 20,
            secs: 60,
            ..Shape::default()
        }),
    );
    let code = stampede::run(stampede::Opts::parse_from([
        "stampede",
        "report",
        dir.to_str().unwrap(),
    ]))
    .unwrap();
    assert_eq!(code, 0);
    assert!(dir.join("summary.md").is_file() && dir.join("report.html").is_file());
    assert!(!dir.join("summary.json").exists());
    let out = tmp.path().join("out");
    let code = stampede::run(stampede::Opts::parse_from(argv!(
        "stampede report",
        &dir,
        "--format json,csv --out",
        &out
    )))
    .unwrap();
    assert_eq!(code, 0);
    assert!(out.join("summary.json").is_file() && out.join("summary.csv").is_file());
    assert!(!out.join("report.html").exists());
    // write_reports is the library entry used by `sim`/`run`.
    let rec = record_io::read_record(&dir).unwrap();
    let other = tmp.path().join("lib");
    report::write_reports(&other, &rec).unwrap();
    assert!(other.join("summary.md").is_file() && other.join("report.html").is_file());

    let missing = tmp.path().join("nope");
    let e = stampede::run(stampede::Opts::parse_from([
        "stampede",
        "report",
        missing.to_str().unwrap(),
    ]))
    .unwrap_err();
    assert!(format!("{e:#}").contains("nope"), "{e:#}");
    std::fs::write(dir.join("allocs.csv"), "job_id,broken\n").unwrap();
    let e = stampede::run(stampede::Opts::parse_from([
        "stampede",
        "report",
        dir.to_str().unwrap(),
    ]))
    .unwrap_err();
    assert!(format!("{e:#}").contains("allocs.csv"), "{e:#}");
}

/// Runs headless Chromium on `html`, returns (dumped DOM, stderr).
fn chromium(args: &[String], timeout: Duration) -> (String, String) {
    let bin = Path::new("/usr/bin/chromium");
    assert!(bin.exists(), "/usr/bin/chromium is missing: install it with `apt-get update && apt-get install -y chromium`");
    let profile = tempfile::tempdir().unwrap();
    let mut cmd = Command::new(bin);
    cmd.args(argv!(
        "--headless --no-sandbox --disable-gpu --disable-quic",
        "--no-first-run --disable-background-networking",
        "--disable-component-update --disable-sync",
        "--disable-dev-shm-usage --enable-logging=stderr --v=0"
    ))
    .arg(format!("--user-data-dir={}", profile.path().display()))
    .args(args)
    .stdin(Stdio::null())
    // Files, not pipes: Chromium logs a lot to stderr and would block on a full pipe we don't drain.
    .stdout(std::fs::File::create(profile.path().join("stdout.txt")).unwrap())
    .stderr(std::fs::File::create(profile.path().join("stderr.txt")).unwrap());
    let mut child = cmd.spawn().expect("start chromium");
    let start = Instant::now();
    loop {
        if child.try_wait().unwrap().is_some() {
            break;
        }
        if start.elapsed() > timeout {
            let _ = child.kill();
            let _ = child.wait();
            panic!("chromium did not finish within {timeout:?}");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    let read = |n: &str| {
        String::from_utf8_lossy(&std::fs::read(profile.path().join(n)).unwrap()).into_owned()
    };
    (read("stdout.txt"), read("stderr.txt"))
}

/// Console messages in Chromium's stderr log (`[...:INFO:CONSOLE:1] "Error: <path> attribute d: ..."`).
/// Chromium logs every console level as INFO here, and the report has no script of its own, so any console
/// message at all (SVG parse errors, uncaught exceptions, console.error) counts as an error.
fn console_errors(stderr: &str) -> Vec<String> {
    stderr
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect()
}

const HOOK: &str = "<script>window.__errs=[];window.addEventListener('error',function(e){window.__errs.push(String(e.message||e.type))},true);\
var __ce=console.error;console.error=function(){window.__errs.push(Array.prototype.join.call(arguments,' '));__ce.apply(console,arguments)};\
window.addEventListener('load',function(){var p=document.createElement('pre');p.id='console-errors';p.textContent=window.__errs.join('\\n');document.body.appendChild(p)});</script>";

#[test]
fn chromium_renders_report_without_console_errors() {
    let tmp = tempfile::tempdir().unwrap();
    let rec = make_record(&Shape::default());
    let html = String::from_utf8(report::render(ExportFormat::Html, &rec).unwrap()).unwrap();
    let page = tmp.path().join("report.html");
    // Kept for people to open: the same page without the test hook.
    std::fs::write(
        std::env::temp_dir().join("stampede-report-sample.html"),
        &html,
    )
    .unwrap();
    std::fs::write(&page, html.replacen("<head>", &format!("<head>{HOOK}"), 1)).unwrap();
    let url = format!("file://{}", page.display());

    // 1. The checker itself catches errors: a page with a broken SVG path and a thrown exception.
    let bad = tmp.path().join("bad.html");
    std::fs::write(
        &bad,
        format!("<!DOCTYPE html><html><head>{HOOK}</head><body><svg><path d=\"M NaN,NaN L 1,1\"/></svg><script>throw new Error('boom')</script></body></html>"),
    )
    .unwrap();
    let (dom, stderr) = chromium(
        &["--dump-dom".into(), format!("file://{}", bad.display())],
        Duration::from_secs(60),
    );
    let errs = console_errors(&stderr);
    assert!(
        errs.iter().any(|l| l.contains("attribute d")),
        "the detector must see the SVG error: {stderr}"
    );
    assert!(
        errs.iter().any(|l| l.contains("boom")),
        "the detector must see the exception: {stderr}"
    );
    assert!(
        dom.contains("boom"),
        "the in-page hook must record the exception: {dom}"
    );

    // 2. The real report: no console error, all five charts in the DOM, and a screenshot.
    let (dom, stderr) = chromium(&["--dump-dom".into(), url.clone()], Duration::from_secs(60));
    let errs = console_errors(&stderr);
    assert!(errs.is_empty(), "console errors: {errs:#?}");
    let start = dom
        .find("<pre id=\"console-errors\">")
        .expect("error hook ran (page loaded)");
    let end = start + dom[start..].find("</pre>").unwrap();
    let hooked = &dom[start + "<pre id=\"console-errors\">".len()..end];
    assert!(
        hooked.trim().is_empty(),
        "console errors caught in the page: {hooked}"
    );
    for id in [
        "chart-c2m",
        "chart-latency",
        "chart-servers",
        "chart-queues",
        "chart-placement",
    ] {
        assert!(
            dom.contains(&format!("id=\"{id}\"")),
            "{id} missing from the rendered DOM"
        );
    }
    let shot = std::env::temp_dir().join("stampede-report-screenshot.png");
    let _ = std::fs::remove_file(&shot);
    let (_, stderr) = chromium(
        &[
            format!("--screenshot={}", shot.display()),
            "--window-size=1400,6000".into(),
            "--hide-scrollbars".into(),
            url,
        ],
        Duration::from_secs(60),
    );
    let errs = console_errors(&stderr);
    assert!(errs.is_empty(), "console errors: {errs:#?}");
    let png = std::fs::read(&shot)
        .unwrap_or_else(|e| panic!("no screenshot at {}: {e}\n{stderr}", shot.display()));
    assert!(
        png.starts_with(b"\x89PNG") && png.len() > 50_000,
        "screenshot looks empty: {} bytes",
        png.len()
    );
}
