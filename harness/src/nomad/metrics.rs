//! Server metric snapshots, from either `/v1/metrics` format, and their per-second differences as
//! [`MetricRow`]s.
//!
//! Prometheus gives cumulative counters (CPU seconds, boltdb batch bytes and write counts), so per-second
//! figures are differences of consecutive scrapes. The JSON form gives 10 s interval aggregates, so
//! per-second figures are the interval's `Rate`; it has no CPU figure, and RSS falls back to the Go
//! runtime's `sys_bytes` (an approximation, noted in the run record).
//!
//! Raft IO comes from whichever log store the server runs:
//! - raft-boltdb (Nomad ≤ 1.x default; hashicorp/raft-boltdb `v2/bolt_store.go` `StoreLogs`): bytes are the
//!   `logBatchSize` sample's sum, fsyncs the `storeLogs` timer's count (one bolt commit = one fsync);
//! - raft-wal (Nomad 2.0's `wal` backend; hashicorp/raft-wal `wal.go` `StoreLogs`, counters registered by
//!   Nomad's `openRaftWAL` under the prefix `nomad.raft.wal`, which go-metrics' service name may prefix once
//!   more): bytes are `log_entry_bytes_written`, fsyncs `log_appends` (one segment append = one fsync).
//!
//! Both land in the same `metrics.csv` columns.

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
    sum_where(samples, |n| n == name)
}

fn sum_where(samples: &[PromSample], want: impl Fn(&str) -> bool) -> Option<f64> {
    let mut acc = None;
    for s in samples
        .iter()
        .filter(|s| want(&s.name) && s.value.is_finite())
    {
        *acc.get_or_insert(0.0) += s.value;
    }
    acc
}

/// Whether `name` is raft-wal's metric `what` (`[nomad_]nomad_raft_wal_WHAT` in Prometheus,
/// `[nomad.]nomad.raft.wal.WHAT` in JSON); `sep` is `_` or `.`.
fn is_wal(name: &str, what: &str, sep: char) -> bool {
    let prefix = format!("nomad{sep}raft{sep}wal{sep}");
    let doubled = format!("nomad{sep}{prefix}");
    name.strip_prefix(&doubled)
        .or_else(|| name.strip_prefix(&prefix))
        .is_some_and(|rest| rest == what || rest.strip_suffix("_total") == Some(what))
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
            raft_bytes_total: sum(s, "nomad_raft_boltdb_logBatchSize_sum")
                .or_else(|| sum_where(s, |n| is_wal(n, "log_entry_bytes_written", '_'))),
            fsyncs_total: sum(s, "nomad_raft_boltdb_storeLogs_count")
                .or_else(|| sum_where(s, |n| is_wal(n, "log_appends", '_'))),
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
        let wal = |what: &str| {
            m.counters
                .iter()
                .find(|g| is_wal(&g.name, what, '.'))
                .map(|x| x.rate)
        };
        ServerSnapshot {
            rss_bytes: gauge("nomad.runtime.sys_bytes"),
            raft_bytes_per_s: sample("nomad.raft.boltdb.logBatchSize")
                .map(|x| x.rate)
                .or_else(|| wal("log_entry_bytes_written")),
            fsyncs_per_s: sample("nomad.raft.boltdb.storeLogs")
                .map(|x| x.count as f64 / 10.0)
                .or_else(|| wal("log_appends")),
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

    /// Issue 13 finding 9a: Nomad 2.0's raft-wal names and Nomad 1.6's raft-boltdb names fill the same
    /// `metrics.csv` columns.
    #[test]
    fn raft_wal_and_boltdb_fill_the_same_columns() {
        let wal = |bytes: u64, appends: u64| {
            format!(
                "# TYPE nomad_nomad_raft_wal_log_entry_bytes_written counter\n\
                 nomad_nomad_raft_wal_log_entry_bytes_written{{host=\"s1\"}} {bytes}\n\
                 # TYPE nomad_nomad_raft_wal_log_appends counter\n\
                 nomad_nomad_raft_wal_log_appends{{host=\"s1\"}} {appends}\n\
                 nomad_nomad_raft_wal_log_entries_written{{host=\"s1\"}} 99999\n"
            )
        };
        let parse = |t: &str| {
            ServerSnapshot::from_prometheus(&crate::nomad::prometheus::parse(t.as_bytes()).unwrap())
        };
        let (a, b) = (parse(&wal(1_000, 10)), parse(&wal(51_000, 35)));
        let r = b.row(Some(&a), 2.0, 4.0, 2, "s1", true);
        assert_eq!(r.raft_bytes_written, Some(25_000.0));
        assert_eq!(r.fsyncs, Some(12.5));
        // The undoubled prefix (`nomad_raft_wal_…`) too.
        let single =
            parse("nomad_raft_wal_log_entry_bytes_written 7\nnomad_raft_wal_log_appends 3\n");
        assert_eq!(single.raft_bytes_total, Some(7.0));
        assert_eq!(single.fsyncs_total, Some(3.0));
        // boltdb: summary _sum / _count.
        let bolt = |bytes: u64, n: u64| {
            format!(
                "nomad_raft_boltdb_logBatchSize{{host=\"s1\",quantile=\"0.5\"}} 100\n\
                 nomad_raft_boltdb_logBatchSize_sum{{host=\"s1\"}} {bytes}\n\
                 nomad_raft_boltdb_logBatchSize_count{{host=\"s1\"}} {n}\n\
                 nomad_raft_boltdb_storeLogs_sum{{host=\"s1\"}} 1.5\n\
                 nomad_raft_boltdb_storeLogs_count{{host=\"s1\"}} {n}\n"
            )
        };
        let (a, b) = (parse(&bolt(1_000, 10)), parse(&bolt(51_000, 35)));
        let r2 = b.row(Some(&a), 2.0, 4.0, 2, "s1", true);
        assert_eq!(
            (r2.raft_bytes_written, r2.fsyncs),
            (r.raft_bytes_written, r.fsyncs)
        );
        // JSON form, raft-wal counters.
        let m: MetricsSummary = serde_json::from_value(serde_json::json!({
            "Counters": [
                {"Name": "nomad.nomad.raft.wal.log_entry_bytes_written", "Count": 3, "Rate": 2500.0, "Sum": 25000.0},
                {"Name": "nomad.nomad.raft.wal.log_appends", "Count": 125, "Rate": 12.5, "Sum": 125.0}
            ]
        }))
        .unwrap();
        let j = ServerSnapshot::from_json(&m).row(None, 1.0, 4.0, 1, "s1", true);
        assert_eq!(j.raft_bytes_written, Some(2500.0));
        assert_eq!(j.fsyncs, Some(12.5));
    }
}
