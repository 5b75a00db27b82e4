//! The ingest workload of `stampede bench ingest` and `benches/ingest.rs`: a synthetic Nomad-shaped event
//! stream, and its ingestion (NDJSON framing + decode + timeline bookkeeping).

use std::time::Instant;

use super::timeline::Timeline;
use crate::nomad::ndjson::{decode_line_events, LineSplitter, DEFAULT_MAX_LINE};

/// Synthetic NDJSON of `allocs` allocations in jobs of `per_job`: PlanResult, running, complete batches.
pub fn synthetic_stream(allocs: u32, per_job: u32) -> Vec<u8> {
    let per_job = per_job.max(1);
    let mut out = Vec::with_capacity(allocs as usize * 1500);
    out.extend_from_slice(b"{}\n");
    let base: i64 = 1_700_000_000_000_000_000;
    let mut index = 100u64;
    let jobs = allocs.div_ceil(per_job);
    for j in 0..jobs {
        let n = per_job.min(allocs - j * per_job);
        for (phase, status) in ["pending", "running", "complete"].iter().enumerate() {
            index += 1;
            let mut line = format!("{{\"Index\":{index},\"Events\":[");
            for a in 0..n {
                let id = format!("{:08x}-0f87-4e6b-9e91-{:012x}", j, a);
                let t = base + (j as i64) * 1_000_000 + phase as i64 * 500_000_000;
                let ts = if phase == 0 {
                    "null".to_string()
                } else {
                    let started = chrono::DateTime::from_timestamp_nanos(t)
                        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true);
                    let fin = if phase == 2 {
                        format!("\"{started}\"")
                    } else {
                        "null".into()
                    };
                    format!("{{\"t\":{{\"State\":\"running\",\"Failed\":false,\"Restarts\":0,\"StartedAt\":\"{started}\",\"FinishedAt\":{fin},\"Events\":[]}}}}")
                };
                if a > 0 {
                    line.push(',');
                }
                line.push_str(&format!(
                    "{{\"Topic\":\"Allocation\",\"Type\":\"{}\",\"Key\":\"{id}\",\"Namespace\":\"default\",\"FilterKeys\":[\"stampede-b-{j:06}\",\"\"],\"Index\":{index},\"Payload\":{{\"Allocation\":{{\"ID\":\"{id}\",\"EvalID\":\"cb20d15d-0000-4000-8000-000000000000\",\"Name\":\"stampede-b-{j:06}.g[{a}]\",\"Namespace\":\"default\",\"NodeID\":\"f476d2b4-0000-4000-8000-{:012x}\",\"NodeName\":\"n{}\",\"JobID\":\"stampede-b-{j:06}\",\"Job\":null,\"TaskGroup\":\"g\",\"DesiredStatus\":\"run\",\"ClientStatus\":\"{status}\",\"ClientDescription\":\"\",\"TaskStates\":{ts},\"CreateIndex\":{index},\"ModifyIndex\":{index},\"AllocModifyIndex\":{index},\"CreateTime\":{t},\"ModifyTime\":{t},\"Metrics\":{{\"AllocationTime\":75475,\"NodesEvaluated\":100}}}}}}}}",
                    if phase == 0 { "PlanResult" } else { "AllocationUpdated" },
                    a % 500,
                    a % 500
                ));
            }
            line.push_str("]}\n");
            out.extend_from_slice(line.as_bytes());
        }
    }
    out
}

/// Ingests `body` in 64 KiB chunks; returns (events, timeline).
pub fn ingest(body: &[u8]) -> (u64, Timeline) {
    let mut tl = Timeline::new("stampede-b-", 1_600_000_000_000_000_000);
    let mut sp = LineSplitter::new(DEFAULT_MAX_LINE);
    let mut events = 0u64;
    for chunk in body.chunks(64 << 10) {
        sp.push(chunk);
        while let Some(Ok(line)) = sp.next_line() {
            let _ = decode_line_events(line, |_, ev| {
                events += 1;
                tl.apply_event(&ev);
            });
        }
    }
    (events, tl)
}

/// What one ingest measurement found.
#[derive(Debug, Clone)]
pub struct IngestMeasure {
    /// Allocation events ingested.
    pub events: u64,
    /// Size of the NDJSON body, bytes.
    pub bytes: usize,
    /// Wall time of the whole ingest, s.
    pub secs: f64,
    /// CPU time of the ingesting thread, s (when the OS tells).
    pub cpu_s: Option<f64>,
    /// Lines framed by the splitter alone.
    pub lines: u64,
    /// Wall time of framing alone, s.
    pub split_s: f64,
    /// Events decoded by framing + decode (no bookkeeping).
    pub decoded: u64,
    /// Wall time of framing + decode, s.
    pub decode_s: f64,
    /// Allocations tracked by the timeline.
    pub tracked: usize,
    /// Estimated timeline heap bytes per tracked allocation.
    pub bytes_per_alloc: f64,
}

/// CPU time of the calling thread, ns (Linux `/proc/thread-self/schedstat`), so figures stay meaningful on
/// a shared machine where wall time includes waiting for a core.
fn thread_cpu_ns() -> Option<u64> {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// Ingests a synthetic stream of `allocs` allocations (jobs of `per_job`), then framing alone and framing +
/// decode for a breakdown; fails if the timeline lost an allocation.
pub fn measure(allocs: u32, per_job: u32) -> anyhow::Result<IngestMeasure> {
    let body = synthetic_stream(allocs, per_job);
    let t = Instant::now();
    let cpu0 = thread_cpu_ns();
    let (events, tl) = ingest(&body);
    let secs = t.elapsed().as_secs_f64();
    let cpu_s = match (cpu0, thread_cpu_ns()) {
        (Some(a), Some(b)) if b > a => Some((b - a) as f64 / 1e9),
        _ => None,
    };
    // Breakdown: framing only, framing + JSON decode (no bookkeeping).
    let t1 = Instant::now();
    let mut sp = LineSplitter::new(DEFAULT_MAX_LINE);
    let mut lines = 0u64;
    for chunk in body.chunks(64 << 10) {
        sp.push(chunk);
        while let Some(Ok(_)) = sp.next_line() {
            lines += 1;
        }
    }
    let split_s = t1.elapsed().as_secs_f64();
    let t2 = Instant::now();
    let mut decoded = 0u64;
    let mut sp = LineSplitter::new(DEFAULT_MAX_LINE);
    for chunk in body.chunks(64 << 10) {
        sp.push(chunk);
        while let Some(Ok(line)) = sp.next_line() {
            let _ = decode_line_events(line, |_, _| decoded += 1);
        }
    }
    let decode_s = t2.elapsed().as_secs_f64();
    let rows = tl.rows();
    anyhow::ensure!(
        rows.len() == allocs as usize && rows.iter().all(|r| r.done_ns.is_some()),
        "ingest lost allocations"
    );
    Ok(IngestMeasure {
        events,
        bytes: body.len(),
        secs,
        cpu_s,
        lines,
        split_s,
        decoded,
        decode_s,
        tracked: tl.len(),
        bytes_per_alloc: tl.heap_bytes_estimate() as f64 / tl.len().max(1) as f64,
    })
}
