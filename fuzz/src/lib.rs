// The parser checks shared by the cargo-fuzz targets (`fuzz/fuzz_targets/*.rs`) and the stable-toolchain
// corpus replay test (`harness/tests/it/fuzz_corpora.rs` includes this file with `#[path]`). Each check
// feeds one input to the same public function the CLI uses and may return Ok or Err; it must not panic,
// abort or run away. Where a parser's output is written back by the tool (a trace imported from SWF and
// saved as JSON Lines, a run record rewritten), the check also asserts that what was accepted round-trips.
//
// No inner attributes here: the replay test includes this file as a module.

use std::collections::BTreeMap;

use stampede::emulator::jobspec::{from_job, from_register_body};
use stampede::jobspec::{desired_allocs, hcl_to_job};
use stampede::load::timeline::Timeline;
use stampede::nomad::metrics::ServerSnapshot;
use stampede::nomad::ndjson::{decode_line, decode_line_events, LineSplitter, DEFAULT_MAX_LINE};
use stampede::nomad::prometheus;
use stampede::planner::parse_slo;
use stampede::report::compare::parse_threshold;
use stampede_sim::metric::Metric;
use stampede_sim::record;
use stampede_sim::scenario::Scenario;
use stampede_sim::trace::csv::parse_csv_named;
use stampede_sim::trace::swf::{import_swf, ProcsAs, SwfOptions};
use stampede_sim::trace::{parse_jsonl_named, Trace, TraceReader};

/// One fuzz target: its name (the corpus directory `fuzz/corpus/NAME`) and its check.
pub struct Target {
    /// Name of the cargo-fuzz target and its corpus directory.
    pub name: &'static str,
    /// Feeds one input to the parser.
    pub check: fn(&[u8]),
}

/// Every target, in the order `tools/fuzz.sh all` runs them.
pub const TARGETS: &[Target] = &[
    Target {
        name: "trace_jsonl",
        check: trace_jsonl,
    },
    Target {
        name: "trace_csv",
        check: trace_csv,
    },
    Target {
        name: "trace_swf",
        check: trace_swf,
    },
    Target {
        name: "scenario_toml",
        check: scenario_toml,
    },
    Target {
        name: "run_record",
        check: run_record,
    },
    Target {
        name: "ndjson_stream",
        check: ndjson_stream,
    },
    Target {
        name: "prometheus_text",
        check: prometheus_text,
    },
    Target {
        name: "expressions",
        check: expressions,
    },
    Target {
        name: "hcl_jobspec",
        check: hcl_jobspec,
    },
    Target {
        name: "emulator_register",
        check: emulator_register,
    },
];

/// The CLI reads text files with `read_to_string`: non-UTF-8 input is an I/O error before any parser.
fn text(data: &[u8]) -> Option<&str> {
    std::str::from_utf8(data).ok()
}

fn jsonl_bytes(t: &Trace) -> Vec<u8> {
    let mut out = Vec::new();
    t.write_jsonl(&mut out)
        .expect("writing a trace to memory cannot fail");
    out
}

/// A trace the tool accepted, written as JSON Lines, reads back equal (`trace import`/`synth` write it,
/// `run --trace` and `sim --trace` read it).
fn assert_jsonl_round_trip(t: &Trace, what: &str) {
    let bytes = jsonl_bytes(t);
    let s = std::str::from_utf8(&bytes).expect("trace JSON Lines is UTF-8");
    match parse_jsonl_named(s, "round-trip.jsonl") {
        Ok(back) => assert_eq!(&back, t, "{what}: JSON Lines round trip changed the trace"),
        Err(e) => panic!("{what}: the trace written as JSON Lines does not read back: {e}\n{s}"),
    }
    // The streaming reader (the `run --trace` path) agrees with the whole-file reader.
    let r = TraceReader::new(&bytes[..], "round-trip.jsonl")
        .unwrap_or_else(|e| panic!("{what}: streaming reader rejects the header: {e}"));
    let jobs: Vec<_> = r
        .collect::<Result<_, _>>()
        .unwrap_or_else(|e| panic!("{what}: streaming reader rejects a job: {e}"));
    assert_eq!(jobs, t.jobs, "{what}: streaming reader disagrees");
}

/// Derived figures the CLI prints for any accepted trace (`trace stats`, summaries) must not overflow.
fn touch_trace(t: &Trace) {
    let _ = t.total_allocs();
    let _ = t.compute_hours();
    let _ = t.span_ns();
    for j in &t.jobs {
        let _ = j.total_count();
        let _ = j.compute_ns();
        let _ = j.to_job_spec();
    }
}

/// Trace JSON Lines: the whole-file reader (`read_trace`) and the streaming reader.
pub fn trace_jsonl(data: &[u8]) {
    // The streaming reader takes bytes (a BufRead) and must reject non-UTF-8 itself.
    if let Ok(r) = TraceReader::new(data, "fuzz.jsonl") {
        for j in r {
            if j.is_err() {
                break;
            }
        }
    }
    let Some(s) = text(data) else { return };
    if let Ok(t) = parse_jsonl_named(s, "fuzz.jsonl") {
        touch_trace(&t);
        assert_jsonl_round_trip(&t, "trace_jsonl");
    }
}

/// Trace CSV (`read_trace` on `.csv`).
pub fn trace_csv(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(t) = parse_csv_named(s, "fuzz.csv") {
        touch_trace(&t);
        assert_jsonl_round_trip(&t, "trace_csv");
        // The CSV writer may refuse names it cannot write; what it writes reads back equal.
        let mut out = Vec::new();
        if t.write_csv(&mut out).is_ok() {
            let s2 = std::str::from_utf8(&out).expect("trace CSV is UTF-8");
            match parse_csv_named(s2, "round-trip.csv") {
                Ok(back) => assert_eq!(back, t, "trace_csv: CSV round trip changed the trace"),
                Err(e) => {
                    panic!("trace_csv: the trace written as CSV does not read back: {e}\n{s2}")
                }
            }
        }
    }
}

/// SWF import (`trace import --swf`), both processor mappings; the result is saved as JSON Lines.
pub fn trace_swf(data: &[u8]) {
    let Some(s) = text(data) else { return };
    for procs_as in [ProcsAs::Count, ProcsAs::Cpu] {
        let opts = SwfOptions {
            procs_as,
            ..SwfOptions::default()
        };
        if let Ok((t, _stats)) = import_swf(s, "fuzz.swf", &opts) {
            touch_trace(&t);
            assert_jsonl_round_trip(&t, "trace_swf");
        }
    }
}

/// Scenario TOML (`files::scenario`, the embedded scenarios).
pub fn scenario_toml(data: &[u8]) {
    let Some(s) = text(data) else { return };
    if let Ok(sc) = Scenario::from_toml("fuzz.toml", s) {
        let _ = sc.initial_nodes();
    }
}

/// The run-record reader (`files::record`): run.json and the three CSV tables. Each accepted input is
/// written back by the record writer and must read back.
pub fn run_record(data: &[u8]) {
    if let Some(s) = text(data) {
        if let Ok(meta) = record::parse_run_json(s) {
            let out = record::run_json_string(&meta);
            if let Err(e) = record::parse_run_json(&out) {
                panic!("run_record: run.json written back does not read back: {e}\n{out}");
            }
        }
    }
    if let Ok(rows) = record::read_allocs_csv(data) {
        let mut out = Vec::new();
        record::write_allocs_csv(&mut out, &rows).expect("writing to memory");
        if let Err(e) = record::read_allocs_csv(&out[..]) {
            panic!("run_record: allocs.csv written back does not read back: {e}");
        }
    }
    if let Ok(rows) = record::read_metrics_csv(data) {
        let mut out = Vec::new();
        record::write_metrics_csv(&mut out, &rows).expect("writing to memory");
        if let Err(e) = record::read_metrics_csv(&out[..]) {
            panic!("run_record: metrics.csv written back does not read back: {e}");
        }
    }
    if let Ok(rows) = record::read_nodes_csv(data) {
        let mut out = Vec::new();
        record::write_nodes_csv(&mut out, &rows).expect("writing to memory");
        if let Err(e) = record::read_nodes_csv(&out[..]) {
            panic!("run_record: nodes.csv written back does not read back: {e}");
        }
    }
}

/// The NDJSON event stream as `run` reads it: chunks of arbitrary size through the line splitter, each
/// line decoded event by event into the timeline; and the collecting decoder on the same lines.
pub fn ndjson_stream(data: &[u8]) {
    // The first byte picks the chunk size (1..=256) and a line limit (small or the default), so short
    // inputs exercise lines split across chunks and over-long lines.
    let (ctl, body) = match data.split_first() {
        Some((c, rest)) => (*c, rest),
        None => (0, data),
    };
    let chunk = usize::from(ctl & 0x7f) * 2 + 1;
    let max_line = if ctl & 0x80 != 0 {
        64
    } else {
        DEFAULT_MAX_LINE
    };
    let mut tl = Timeline::new("stampede-", 1_600_000_000_000_000_000);
    let mut sp = LineSplitter::new(max_line);
    for c in body.chunks(chunk) {
        sp.push(c);
        while let Some(line) = sp.next_line() {
            let Ok(line) = line else { continue };
            let _ = decode_line(line);
            let _ = decode_line_events(line, |_, ev| tl.apply_event(&ev));
        }
    }
    let _ = sp.finish();
}

/// Prometheus text exposition (`/v1/metrics?format=prometheus`) into a server snapshot.
pub fn prometheus_text(data: &[u8]) {
    if let Ok(samples) = prometheus::parse(data) {
        let _ = ServerSnapshot::from_prometheus(&samples);
    }
}

/// `compare --fail-if` / thresholds-file lines, `plan --slo`, and metric names; one expression per line.
pub fn expressions(data: &[u8]) {
    let Some(s) = text(data) else { return };
    for line in std::iter::once(s).chain(s.lines()) {
        let _ = parse_threshold(line, "--fail-if");
        let _ = parse_slo(line);
        if let Ok(m) = line.parse::<Metric>() {
            // Every spelling the parser accepts names a metric whose canonical names parse back to it.
            let canon = m.to_string();
            assert_eq!(
                canon.parse::<Metric>().ok(),
                Some(m),
                "{line:?} -> {canon:?}"
            );
            assert_eq!(
                m.slo_key().parse::<Metric>().ok(),
                Some(m),
                "{line:?} slo key"
            );
        }
    }
}

/// HCL jobspecs (`run --job FILE.hcl`), then the emulator's acceptance of the JSON they become.
pub fn hcl_jobspec(data: &[u8]) {
    let Some(s) = text(data) else { return };
    let mut vars = BTreeMap::new();
    vars.insert("count".to_string(), "3".to_string());
    vars.insert("image".to_string(), "busybox".to_string());
    if let Ok(job) = hcl_to_job("fuzz.hcl", s, &vars) {
        let _ = desired_allocs(&job);
        let _ = from_job(&job);
    }
}

/// The emulator's `PUT /v1/jobs` body decoding.
pub fn emulator_register(data: &[u8]) {
    let _ = from_register_body(data);
}
