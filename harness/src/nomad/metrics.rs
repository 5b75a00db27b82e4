//! Server metric snapshots, from either `/v1/metrics` format, and their per-second differences as
//! [`MetricRow`]s.
//!
//! Prometheus gives cumulative counters (CPU seconds, boltdb batch bytes and write counts), so per-second
//! figures are differences of consecutive scrapes. The JSON form gives 10 s interval aggregates, so
//! per-second figures are the interval's `Rate`; it has no CPU figure, and RSS falls back to the Go
//! runtime's `sys_bytes` (an approximation, noted in the run record).

use stampede_sim::record::MetricRow;

use super::prometheus::PromSample;
use super::types::MetricsSummary;

/// What one scrape of one server said.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ServerSnapshot {
    /// Cumulative process CPU time, s (Prometheus only).
    pub cpu_seconds_total: Option<f64>,
    /// Resident memory, bytes.
    pub rss_bytes: Option<f64>,
    /// Cumulative raft log bytes written (Prometheus: `logBatchSize_sum`).
    pub raft_bytes_total: Option<f64>,
    /// Cumulative boltdb batch writes (fsyncs) (Prometheus: `storeLogs_count`).
    pub fsyncs_total: Option<f64>,
    /// Raft bytes per second (JSON interval rate).
    pub raft_bytes_per_s: Option<f64>,
    /// Fsyncs per second (JSON interval rate).
    pub fsyncs_per_s: Option<f64>,
    /// Broker ready evals.
    pub broker_ready: Option<f64>,
    /// Broker unacked evals.
    pub broker_unacked: Option<f64>,
    /// Blocked evals.
    pub blocked: Option<f64>,
    /// Plan queue depth.
    pub plan_queue_depth: Option<f64>,
    /// Cumulative plan node rejections (Prometheus counter).
    pub node_rejected_total: Option<f64>,
    /// Plan node rejections per second (JSON interval rate).
    pub node_rejected_per_s: Option<f64>,
    /// Longest recent GC pause, ms.
    pub gc_pause_ms_max: Option<f64>,
}

fn first(samples: &[PromSample], name: &str) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name)
        .map(|s| s.value)
        .filter(|v| v.is_finite())
}

fn sum(samples: &[PromSample], name: &str) -> Option<f64> {
    let mut acc = None;
    for s in samples
        .iter()
        .filter(|s| s.name == name && s.value.is_finite())
    {
        *acc.get_or_insert(0.0) += s.value;
    }
    acc
}

impl ServerSnapshot {
    /// From a parsed Prometheus body.
    pub fn from_prometheus(s: &[PromSample]) -> ServerSnapshot {
        let gc = s
            .iter()
            .filter(|x| x.name == "nomad_runtime_gc_pause_ns" && x.value.is_finite())
            .map(|x| x.value / 1e6)
            .fold(None, |m: Option<f64>, v| Some(m.map_or(v, |m| m.max(v))));
        ServerSnapshot {
            cpu_seconds_total: first(s, "process_cpu_seconds_total"),
            rss_bytes: first(s, "process_resident_memory_bytes"),
            raft_bytes_total: sum(s, "nomad_raft_boltdb_logBatchSize_sum"),
            fsyncs_total: sum(s, "nomad_raft_boltdb_storeLogs_count"),
            broker_ready: first(s, "nomad_nomad_broker_total_ready"),
            broker_unacked: first(s, "nomad_nomad_broker_total_unacked"),
            blocked: first(s, "nomad_nomad_blocked_evals_total_blocked"),
            plan_queue_depth: first(s, "nomad_nomad_plan_queue_depth"),
            node_rejected_total: sum(s, "nomad_nomad_plan_node_rejected"),
            gc_pause_ms_max: gc,
            ..Default::default()
        }
    }

    /// From the JSON in-memory sink.
    pub fn from_json(m: &MetricsSummary) -> ServerSnapshot {
        let gauge = |n: &str| m.gauges.iter().find(|g| g.name == n).map(|g| g.value);
        let sample = |n: &str| {
            m.samples
                .iter()
                .chain(m.counters.iter())
                .find(|g| g.name == n)
        };
        ServerSnapshot {
            rss_bytes: gauge("nomad.runtime.sys_bytes"),
            raft_bytes_per_s: sample("nomad.raft.boltdb.logBatchSize").map(|x| x.rate),
            fsyncs_per_s: sample("nomad.raft.boltdb.storeLogs").map(|x| x.count as f64 / 10.0),
            broker_ready: gauge("nomad.nomad.broker.total_ready"),
            broker_unacked: gauge("nomad.nomad.broker.total_unacked"),
            blocked: gauge("nomad.nomad.blocked_evals.total_blocked"),
            plan_queue_depth: gauge("nomad.nomad.plan.queue_depth"),
            node_rejected_per_s: sample("nomad.nomad.plan.node_rejected").map(|x| x.rate),
            gc_pause_ms_max: sample("nomad.runtime.gc_pause_ns").map(|x| x.max / 1e6),
            ..Default::default()
        }
    }

    /// The `metrics.csv` row for the second ending with this scrape, given the previous scrape `prev`
    /// taken `dt_s` seconds earlier and the server's core count.
    pub fn row(
        &self,
        prev: Option<&ServerSnapshot>,
        dt_s: f64,
        cores: f64,
        t_s: u64,
        server: &str,
        leader: bool,
    ) -> MetricRow {
        let rate = |cur: Option<f64>, old: Option<f64>| match (cur, old) {
            (Some(c), Some(o)) if dt_s > 0.0 && c >= o => Some((c - o) / dt_s),
            _ => None,
        };
        let p = prev.cloned().unwrap_or_default();
        MetricRow {
            t_s,
            server: server.to_string(),
            leader,
            cpu_pct: rate(self.cpu_seconds_total, p.cpu_seconds_total)
                .map(|r| 100.0 * r / cores.max(1.0)),
            rss_bytes: self.rss_bytes,
            raft_bytes_written: rate(self.raft_bytes_total, p.raft_bytes_total)
                .or(self.raft_bytes_per_s),
            fsyncs: rate(self.fsyncs_total, p.fsyncs_total).or(self.fsyncs_per_s),
            broker_ready: self.broker_ready,
            broker_unacked: self.broker_unacked,
            broker_blocked: self.blocked,
            plan_queue_depth: self.plan_queue_depth,
            plan_node_rejections: rate(self.node_rejected_total, p.node_rejected_total)
                .or(self.node_rejected_per_s),
            gc_pause_ms_max: self.gc_pause_ms_max,
            ..Default::default()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_percent_from_two_scrapes() {
        let a = ServerSnapshot {
            cpu_seconds_total: Some(10.0),
            fsyncs_total: Some(5.0),
            ..Default::default()
        };
        let b = ServerSnapshot {
            cpu_seconds_total: Some(11.0),
            fsyncs_total: Some(9.0),
            rss_bytes: Some(1e9),
            ..Default::default()
        };
        let r = b.row(Some(&a), 1.0, 4.0, 3, "s1", true);
        assert_eq!(r.cpu_pct, Some(25.0));
        assert_eq!(r.fsyncs, Some(4.0));
        assert_eq!(r.rss_bytes, Some(1e9));
        assert_eq!(b.row(None, 1.0, 4.0, 3, "s1", true).cpu_pct, None);
    }
}
