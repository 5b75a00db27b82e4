//! `/v1/metrics`: go-metrics' in-memory sink shape (the last completed 10 s interval) and, when enabled,
//! Prometheus text, from the core's per-server gauges. Each simulated server is addressed with
//! `?server=NAME` (or its peer address) or the `X-Stampede-Server` header; the default is the leader.
//!
//! Raft IO is exposed under the names Nomad 1.6's log store emits (hashicorp/raft-boltdb v2,
//! `v2/bolt_store.go` `StoreLogs`: one `storeLogs` timer per batch commit, which is one fsync, and the
//! samples `logsPerBatch`, `logBatchSize` (bytes), `logSize` (bytes per log) and `writeCapacity` (logs/s)).
//! In the JSON form these are interval aggregates (`Count` = batches); in Prometheus text go-metrics'
//! sink makes each a summary whose `_sum` and `_count` are cumulative, which is what the scraper reads
//! (`nomad_raft_boltdb_logBatchSize_sum` = bytes written, `nomad_raft_boltdb_storeLogs_count` = fsyncs).

use std::fmt::Write;

use serde_json::{json, Value};
use stampede_sim::api::ServerGauges;

use super::render;

/// Peer address of server `i` (`/v1/status/peers`).
pub fn peer_addr(i: usize) -> String {
    format!("10.0.0.{}:4647", i + 1)
}

fn gauge(name: &str, v: f64, host: &str) -> Value {
    json!({"Name": name, "Value": v, "Labels": {"host": host}})
}

fn counter(name: &str, count: f64, secs: f64, host: &str) -> Value {
    json!({"Name": name, "Count": count, "Rate": count / secs, "Sum": count, "Min": 1, "Max": 1,
           "Mean": 1, "Stddev": 0, "Labels": {"host": host}})
}

fn sample(name: &str, mean_ms: f64, count: f64, secs: f64, host: &str) -> Value {
    sample_sum(name, mean_ms * count, count, secs, host)
}

/// go-metrics' `AggregateSample` of `count` observations summing to `sum` (`Rate` = sum / interval).
fn sample_sum(name: &str, sum: f64, count: f64, secs: f64, host: &str) -> Value {
    let mean = if count > 0.0 { sum / count } else { 0.0 };
    json!({"Name": name, "Count": count.round() as u64, "Rate": sum / secs, "Sum": sum,
           "Min": mean, "Max": mean, "Mean": mean, "Stddev": 0, "Labels": {"host": host}})
}

/// Raft log-store figures of an interval (or since start): batches (= fsyncs), bytes, logs.
#[derive(Debug, Clone, Copy)]
pub struct RaftIo {
    /// Batch commits, each one fsync.
    pub batches: f64,
    /// Bytes written.
    pub bytes: f64,
    /// Log entries written.
    pub logs: f64,
    /// Mean time of one batch commit (`storeLogs`), ms.
    pub store_ms: f64,
}

impl RaftIo {
    /// Figures between two gauge snapshots.
    pub fn between(start: &ServerGauges, end: &ServerGauges, store_ms: f64) -> RaftIo {
        let d = |a: f64, b: f64| (b - a).max(0.0);
        RaftIo {
            batches: d(start.fsyncs_total, end.fsyncs_total),
            bytes: d(start.raft_bytes_written_total, end.raft_bytes_written_total),
            logs: d(start.raft_applied_total, end.raft_applied_total),
            store_ms,
        }
    }

    /// Figures since start.
    pub fn total(g: &ServerGauges, store_ms: f64) -> RaftIo {
        RaftIo::between(&ServerGauges::default(), g, store_ms)
    }

    fn per_batch(self, x: f64) -> f64 {
        if self.batches > 0.0 {
            x / self.batches
        } else {
            0.0
        }
    }

    /// Logs per second one batch commit sustains (`writeCapacity`).
    fn write_capacity(self) -> f64 {
        if self.store_ms > 0.0 {
            self.per_batch(self.logs) * 1000.0 / self.store_ms
        } else {
            0.0
        }
    }
}

/// The JSON summary of the interval `[start, end]` (`end_unix_ns` labels it).
pub fn json_summary(
    start: &ServerGauges,
    end: &ServerGauges,
    end_unix_ns: u64,
    store_ms: f64,
) -> Value {
    let secs = 10.0;
    let h = end.name.as_str();
    let ts = chrono::DateTime::from_timestamp((end_unix_ns / 1_000_000_000) as i64, 0)
        .unwrap_or_default()
        .format("%Y-%m-%d %H:%M:%S +0000 UTC")
        .to_string();
    let d = |a: f64, b: f64| (b - a).max(0.0);
    let applied = d(start.raft_applied_total, end.raft_applied_total);
    let io = RaftIo::between(start, end, store_ms);
    json!({
        "Timestamp": ts,
        "Gauges": [
            gauge("nomad.nomad.broker.total_ready", end.broker_ready, h),
            gauge("nomad.nomad.broker.total_unacked", end.broker_unacked, h),
            gauge("nomad.nomad.broker.total_pending", 0.0, h),
            gauge("nomad.nomad.broker.total_waiting", 0.0, h),
            gauge("nomad.nomad.blocked_evals.total_blocked", end.blocked_evals, h),
            gauge("nomad.nomad.plan.queue_depth", end.plan_queue_depth, h),
            gauge("nomad.raft.lastIndex", end.raft_last_index as f64, h),
            gauge("nomad.raft.appliedIndex", end.raft_last_index as f64, h),
            gauge("nomad.runtime.alloc_bytes", end.rss_bytes * 0.6, h),
            gauge("nomad.runtime.sys_bytes", end.rss_bytes, h),
            gauge("nomad.runtime.num_goroutines", 200.0, h),
        ],
        "Points": [],
        "Counters": [
            counter("nomad.raft.apply", applied, secs, h),
            counter("nomad.nomad.plan.node_rejected", d(start.plan_node_rejected_total, end.plan_node_rejected_total), secs, h),
            counter("nomad.nomad.client.update_status", d(start.heartbeats_total, end.heartbeats_total), secs, h),
            counter("nomad.stampede.placements", d(start.placements_total, end.placements_total), secs, h),
        ],
        "Samples": [
            sample("nomad.raft.commitTime", end.raft_commit_time_ms, applied, secs, h),
            sample("nomad.nomad.plan.evaluate", end.plan_evaluate_ms, applied, secs, h),
            sample("nomad.nomad.plan.apply", end.plan_apply_ms, applied, secs, h),
            sample("nomad.raft.boltdb.storeLogs", io.store_ms, io.batches, secs, h),
            sample_sum("nomad.raft.boltdb.logBatchSize", io.bytes, io.batches, secs, h),
            sample_sum("nomad.raft.boltdb.logsPerBatch", io.logs, io.batches, secs, h),
            sample_sum("nomad.raft.boltdb.logSize", io.bytes, io.logs, secs, h),
            sample("nomad.raft.boltdb.writeCapacity", io.write_capacity(), io.batches, secs, h),
        ],
    })
}

/// Prometheus text exposition of a server's live gauges.
pub fn prometheus(g: &ServerGauges, store_ms: f64) -> String {
    let h = &g.name;
    let mut s = String::with_capacity(4096);
    let mut metric = |name: &str, kind: &str, v: f64, labels: bool| {
        let _ = writeln!(s, "# HELP {name} {name}");
        let _ = writeln!(s, "# TYPE {name} {kind}");
        if labels {
            let _ = writeln!(s, "{name}{{host=\"{h}\"}} {v}");
        } else {
            let _ = writeln!(s, "{name} {v}");
        }
    };
    metric(
        "process_cpu_seconds_total",
        "counter",
        g.cpu_seconds_total,
        false,
    );
    metric("process_resident_memory_bytes", "gauge", g.rss_bytes, false);
    metric("go_goroutines", "gauge", 200.0, false);
    metric(
        "nomad_nomad_broker_total_ready",
        "gauge",
        g.broker_ready,
        true,
    );
    metric(
        "nomad_nomad_broker_total_unacked",
        "gauge",
        g.broker_unacked,
        true,
    );
    metric(
        "nomad_nomad_blocked_evals_total_blocked",
        "gauge",
        g.blocked_evals,
        true,
    );
    metric(
        "nomad_nomad_plan_queue_depth",
        "gauge",
        g.plan_queue_depth,
        true,
    );
    metric(
        "nomad_nomad_plan_node_rejected",
        "counter",
        g.plan_node_rejected_total,
        true,
    );
    // hashicorp/raft counts `raft.apply` and times `raft.commitTime` on the leader only (api.go `Apply`,
    // raft.go `processLogs`); the control-plane timers as Nomad names them (see
    // `crate::nomad::metrics::ControlCounters`), from the model's cumulative totals.
    if g.leader {
        metric("nomad_raft_apply", "counter", g.raft_applied_total, true);
    }
    metric(
        "nomad_raft_lastIndex",
        "gauge",
        g.raft_last_index as f64,
        true,
    );
    metric(
        "nomad_raft_appliedIndex",
        "gauge",
        g.raft_last_index as f64,
        true,
    );
    metric(
        "nomad_nomad_client_update_status",
        "counter",
        g.heartbeats_total,
        true,
    );
    metric(
        "nomad_stampede_placements",
        "counter",
        g.placements_total,
        true,
    );
    for (name, count, sum_ms) in [
        ("nomad_nomad_plan_submit", g.plans_submitted_total, None),
        (
            "nomad_nomad_worker_invoke_scheduler_batch",
            g.evals_processed_total,
            Some(g.workers_busy_s * 1e3),
        ),
        (
            "nomad_nomad_plan_evaluate",
            g.plans_submitted_total,
            Some(g.applier_busy_s * 1e3),
        ),
        (
            "nomad_nomad_fsm_apply_plan_results",
            0.0,
            Some(g.fsm_busy_s * 1e3),
        ),
        (
            "nomad_raft_leader_dispatchLog",
            g.raft_leader_writes_total,
            None,
        ),
    ] {
        let _ = writeln!(s, "# HELP {name} {name}");
        let _ = writeln!(s, "# TYPE {name} summary");
        if let Some(ms) = sum_ms {
            let _ = writeln!(s, "{name}_sum{{host=\"{h}\"}} {ms}");
        }
        let _ = writeln!(s, "{name}_count{{host=\"{h}\"}} {count}");
    }
    let _ = writeln!(s, "# HELP nomad_raft_commitTime nomad_raft_commitTime");
    let _ = writeln!(s, "# TYPE nomad_raft_commitTime summary");
    for q in ["0.5", "0.9", "0.99"] {
        let _ = writeln!(
            s,
            "nomad_raft_commitTime{{host=\"{h}\",quantile=\"{q}\"}} {}",
            g.raft_commit_time_ms
        );
    }
    let _ = writeln!(
        s,
        "nomad_raft_commitTime_sum{{host=\"{h}\"}} {}",
        g.raft_commit_time_ms * g.raft_applied_total
    );
    let _ = writeln!(
        s,
        "nomad_raft_commitTime_count{{host=\"{h}\"}} {}",
        g.raft_applied_total
    );
    let io = RaftIo::total(g, store_ms);
    for (name, q, sum, count) in [
        (
            "nomad_raft_boltdb_storeLogs",
            io.store_ms,
            io.store_ms * io.batches,
            io.batches,
        ),
        (
            "nomad_raft_boltdb_logBatchSize",
            io.per_batch(io.bytes),
            io.bytes,
            io.batches,
        ),
        (
            "nomad_raft_boltdb_logsPerBatch",
            io.per_batch(io.logs),
            io.logs,
            io.batches,
        ),
        (
            "nomad_raft_boltdb_logSize",
            if io.logs > 0.0 {
                io.bytes / io.logs
            } else {
                0.0
            },
            io.bytes,
            io.logs,
        ),
        (
            "nomad_raft_boltdb_writeCapacity",
            io.write_capacity(),
            io.write_capacity() * io.batches,
            io.batches,
        ),
    ] {
        let _ = writeln!(s, "# HELP {name} {name}");
        let _ = writeln!(s, "# TYPE {name} summary");
        for quant in ["0.5", "0.9", "0.99"] {
            let _ = writeln!(s, "{name}{{host=\"{h}\",quantile=\"{quant}\"}} {q}");
        }
        let _ = writeln!(s, "{name}_sum{{host=\"{h}\"}} {sum}");
        let _ = writeln!(s, "{name}_count{{host=\"{h}\"}} {count}");
    }
    let _ = writeln!(s, "# HELP nomad_stampede_info emulator build");
    let _ = writeln!(s, "# TYPE nomad_stampede_info gauge");
    let _ = writeln!(
        s,
        "nomad_stampede_info{{host=\"{h}\",version=\"{}\"}} 1",
        render::VERSION
    );
    s
}
