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

use std::collections::BTreeMap;

use stampede_sim::record::{ControlPlane, MetricRow, ServerBusy};

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
    /// Cumulative control-plane counters (Prometheus only; the JSON form holds 10 s intervals).
    pub control: ControlCounters,
    /// The Raft log store whose metrics were seen (`boltdb` or `wal`).
    pub log_store: Option<&'static str>,
}

/// Nomad's cumulative control-plane counters on one server (Prometheus: counters and the `_count`/`_sum`
/// of go-metrics timers, whose sums are in ms). Names as Nomad 1.6 emits them:
/// - `nomad_nomad_plan_submit` (nomad/plan_endpoint.go `Plan.Submit`, leader only after forwarding),
///   `nomad_nomad_plan_evaluate` (nomad/plan_apply.go `evaluatePlan`);
/// - `nomad_nomad_worker_invoke_scheduler_<type>` (nomad/worker.go `invokeScheduler`, which includes the
///   plan submission) and `nomad_nomad_worker_submit_plan` (worker.go `SubmitPlan`, the wait for the applier);
/// - `nomad_nomad_fsm_<op>` (nomad/fsm.go, one timer per applied message type);
/// - `nomad_raft_apply` (hashicorp/raft api.go `Apply`, counted on the leader), `nomad_raft_leader_dispatchLog`
///   (raft.go `dispatchLogs`, one per leader log write), `nomad_raft_commitTime` (raft.go, append → commit).
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct ControlCounters {
    /// Plans submitted.
    pub plans: Option<f64>,
    /// Plan applier `evaluatePlan` time, ms.
    pub plan_evaluate_ms: Option<f64>,
    /// Scheduler invocations, all job types.
    pub sched_count: Option<f64>,
    /// Scheduler invocation time, all job types, ms.
    pub sched_ms: Option<f64>,
    /// Workers' time waiting on `SubmitPlan`, ms.
    pub submit_plan_ms: Option<f64>,
    /// FSM apply time, every message type, ms.
    pub fsm_ms: Option<f64>,
    /// Raft entries applied (leader).
    pub raft_apply: Option<f64>,
    /// Leader log writes.
    pub raft_dispatch: Option<f64>,
    /// Commit time sum, ms, and count.
    pub commit_ms: Option<f64>,
    /// Commits timed.
    pub commit_count: Option<f64>,
}

impl ControlCounters {
    fn from_prometheus(s: &[PromSample]) -> ControlCounters {
        let pre = |p: &'static str, suffix: &'static str| {
            move |n: &str| {
                n.strip_prefix(p)
                    .and_then(|r| r.strip_suffix(suffix))
                    .is_some_and(|mid| !mid.is_empty())
            }
        };
        ControlCounters {
            plans: sum(s, "nomad_nomad_plan_submit_count"),
            plan_evaluate_ms: sum(s, "nomad_nomad_plan_evaluate_sum"),
            sched_count: sum_where(s, pre("nomad_nomad_worker_invoke_scheduler_", "_count")),
            sched_ms: sum_where(s, pre("nomad_nomad_worker_invoke_scheduler_", "_sum")),
            submit_plan_ms: sum(s, "nomad_nomad_worker_submit_plan_sum"),
            fsm_ms: sum_where(s, pre("nomad_nomad_fsm_", "_sum")),
            raft_apply: sum(s, "nomad_raft_apply").or_else(|| sum(s, "nomad_raft_apply_total")),
            raft_dispatch: sum(s, "nomad_raft_leader_dispatchLog_count"),
            commit_ms: sum(s, "nomad_raft_commitTime_sum"),
            commit_count: sum(s, "nomad_raft_commitTime_count"),
        }
    }
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
            control: ControlCounters::from_prometheus(s),
            log_store: if s.iter().any(|x| x.name.starts_with("nomad_raft_boltdb_")) {
                Some("boltdb")
            } else if s.iter().any(|x| is_wal(&x.name, "log_appends", '_')) {
                Some("wal")
            } else {
                None
            },
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

/// One server's first and last scrape of a run.
#[derive(Debug, Clone)]
pub struct ServerSpan {
    /// Server name (as in `metrics.csv`).
    pub name: String,
    /// The baseline scrape, before the run's first submission.
    pub first: ServerSnapshot,
    /// The last scrape.
    pub last: ServerSnapshot,
    /// Whether the last scrape is the run's final one (not an earlier one after the final one failed).
    pub complete: bool,
}

/// Growth of a cumulative counter between two scrapes. A counter absent at the first scrape had not been
/// emitted yet (go-metrics lists a metric only once it has a value): it grew from 0. One that went down
/// belongs to a restarted server: its last value is what it counted since.
fn grew(first: Option<f64>, last: Option<f64>) -> Option<f64> {
    match (first, last) {
        (_, None) => None,
        (Some(a), Some(b)) if b >= a => Some(b - a),
        (_, Some(b)) => Some(b),
    }
}

/// The run's control-plane totals from each server's first and last Prometheus scrape: sums of the
/// counters' growth over servers (leader-only metrics count on whoever led). The server that led in most
/// of `rows` is the leader for the fsync split. `None` when no server gave a control-plane counter (JSON
/// form, or no scrape). `evals_by_trigger` comes from the run's evaluation listing.
pub fn control_plane(
    spans: &[ServerSpan],
    rows: &[MetricRow],
    nomad_version: &str,
    evals_by_trigger: BTreeMap<String, u64>,
) -> Option<ControlPlane> {
    let total = |f: &dyn Fn(&ControlCounters) -> Option<f64>| -> Option<f64> {
        spans
            .iter()
            .filter_map(|s| grew(f(&s.first.control), f(&s.last.control)))
            .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
    };
    let plans = total(&|c| c.plans);
    let sched = total(&|c| c.sched_count);
    let applied = total(&|c| c.raft_apply);
    if plans.is_none() && sched.is_none() && applied.is_none() {
        return None;
    }
    let n = |v: Option<f64>| v.unwrap_or(0.0).round() as u64;
    let rejected = spans
        .iter()
        .filter_map(|s| grew(s.first.node_rejected_total, s.last.node_rejected_total))
        .sum::<f64>();
    let leader = spans
        .iter()
        .max_by_key(|s| {
            rows.iter()
                .filter(|r| r.leader && r.server == s.name)
                .count()
        })
        .map(|s| s.name.as_str());
    let fsyncs: Vec<(bool, f64)> = spans
        .iter()
        .filter_map(|s| {
            grew(s.first.fsyncs_total, s.last.fsyncs_total)
                .map(|v| (Some(s.name.as_str()) == leader, v))
        })
        .collect();
    let split = |want: bool| {
        (!fsyncs.is_empty()).then(|| {
            fsyncs
                .iter()
                .filter(|(l, _)| *l == want)
                .map(|(_, v)| v)
                .sum::<f64>()
                .round() as u64
        })
    };
    let commit_ms = total(&|c| c.commit_ms).unwrap_or(0.0);
    let commits = total(&|c| c.commit_count).unwrap_or(0.0);
    let ms = |f: &dyn Fn(&ControlCounters) -> Option<f64>, s: &ServerSpan| {
        grew(f(&s.first.control), f(&s.last.control)).unwrap_or(0.0) / 1e3
    };
    Some(ControlPlane {
        source: "prometheus".into(),
        nomad_version: nomad_version.to_string(),
        plan_apply_pipeline: None,
        log_store: spans
            .iter()
            .find_map(|s| s.last.log_store)
            .unwrap_or("unknown")
            .to_string(),
        storage: "unknown".into(),
        plans_submitted: n(plans),
        plans_rejected: None,
        plan_nodes_rejected: rejected.round() as u64,
        replans: None,
        conflict_fraction: None,
        evals_by_trigger,
        evals_processed: n(sched),
        max_plans_in_flight: None,
        allocs_timed_out: 0,
        // Periodic launches and GC reaps have no Nomad metric.
        periodic_launches: 0,
        periodic_skipped: 0,
        jobs_gc: 0,
        evals_gc: 0,
        allocs_gc: 0,
        identity_signatures: None,
        raft_entries: n(applied),
        raft_leader_writes: n(total(&|c| c.raft_dispatch)),
        raft_max_group: None,
        raft_leader_fsyncs: split(true),
        raft_follower_fsyncs: split(false),
        raft_commit_ms_mean: if commits > 0.0 {
            commit_ms / commits
        } else {
            0.0
        },
        servers: spans
            .iter()
            .map(|s| ServerBusy {
                name: s.name.clone(),
                workers_s: (ms(&|c| c.sched_ms, s) - ms(&|c| c.submit_plan_ms, s)).max(0.0),
                applier_s: ms(&|c| c.plan_evaluate_ms, s),
                fsm_s: ms(&|c| c.fsm_ms, s),
                total_s: grew(s.first.cpu_seconds_total, s.last.cpu_seconds_total).unwrap_or(0.0),
            })
            .collect(),
    })
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

    /// Issue 11 §7: control-plane totals from two Prometheus scrapes per server, with names as Nomad 1.6
    /// emits them; counters first emitted during the run grow from 0; the leader's fsyncs are split out.
    #[test]
    fn control_plane_from_first_and_last_scrapes() {
        let parse = |t: &str| {
            ServerSnapshot::from_prometheus(&crate::nomad::prometheus::parse(t.as_bytes()).unwrap())
        };
        let leader0 = parse(
            "process_cpu_seconds_total 10\n\
             nomad_raft_apply 100\n\
             nomad_raft_commitTime_sum 50\nnomad_raft_commitTime_count 100\n\
             nomad_raft_boltdb_storeLogs_count 40\n",
        );
        let leader1 = parse(
            "process_cpu_seconds_total 13.5\n\
             nomad_raft_apply 160\n\
             nomad_raft_commitTime_sum 170\nnomad_raft_commitTime_count 160\n\
             nomad_raft_leader_dispatchLog_count 30\n\
             nomad_raft_boltdb_storeLogs_count 70\n\
             nomad_nomad_plan_submit_count 20\nnomad_nomad_plan_submit_sum 900\n\
             nomad_nomad_plan_evaluate_sum 400\nnomad_nomad_plan_node_rejected 2\n\
             nomad_nomad_worker_invoke_scheduler_batch_count 15\nnomad_nomad_worker_invoke_scheduler_batch_sum 3000\n\
             nomad_nomad_worker_invoke_scheduler_service_count 3\nnomad_nomad_worker_invoke_scheduler_service_sum 500\n\
             nomad_nomad_worker_submit_plan_sum 2500\n\
             nomad_nomad_fsm_apply_plan_results_sum 600\nnomad_nomad_fsm_update_eval_sum 200\n",
        );
        let follower0 =
            parse("process_cpu_seconds_total 5\nnomad_raft_boltdb_storeLogs_count 10\n");
        let follower1 = parse(
            "process_cpu_seconds_total 6\nnomad_raft_boltdb_storeLogs_count 35\n\
             nomad_nomad_worker_invoke_scheduler_batch_count 2\nnomad_nomad_worker_invoke_scheduler_batch_sum 100\n\
             nomad_nomad_fsm_apply_plan_results_sum 300\n",
        );
        let spans = vec![
            ServerSpan {
                name: "s1".into(),
                first: leader0,
                last: leader1,
                complete: true,
            },
            ServerSpan {
                name: "s2".into(),
                first: follower0,
                last: follower1,
                complete: true,
            },
        ];
        let row = |server: &str, leader: bool| MetricRow {
            server: server.into(),
            leader,
            ..Default::default()
        };
        let rows = vec![
            row("s1", true),
            row("s2", false),
            row("s1", true),
            row("s2", false),
        ];
        let by: BTreeMap<String, u64> = [("job-register".to_string(), 18)].into();
        let cp = control_plane(&spans, &rows, "1.6.3", by.clone()).unwrap();
        assert_eq!(cp.source, "prometheus");
        assert_eq!(cp.plans_submitted, 20);
        assert_eq!(cp.evals_processed, 20);
        assert_eq!(cp.plan_nodes_rejected, 2);
        assert_eq!(cp.raft_entries, 60);
        assert_eq!(cp.raft_leader_writes, 30);
        assert_eq!(
            (cp.raft_leader_fsyncs, cp.raft_follower_fsyncs),
            (Some(30), Some(25))
        );
        assert!(
            (cp.raft_commit_ms_mean - 2.0).abs() < 1e-9,
            "{}",
            cp.raft_commit_ms_mean
        );
        assert_eq!(cp.log_store, "boltdb");
        assert_eq!(cp.evals_by_trigger, by);
        assert!(
            cp.plans_rejected.is_none() && cp.replans.is_none() && cp.plan_apply_pipeline.is_none()
        );
        let s1 = &cp.servers[0];
        assert!((s1.workers_s - 1.0).abs() < 1e-9, "{s1:?}");
        assert!(
            (s1.applier_s - 0.4).abs() < 1e-9 && (s1.fsm_s - 0.8).abs() < 1e-9,
            "{s1:?}"
        );
        assert!((s1.total_s - 3.5).abs() < 1e-9);
        assert!((cp.servers[1].fsm_s - 0.3).abs() < 1e-9);
        // A restarted server (counter went down) counts what it did since; no counters at all: no record.
        let mut restarted = spans.clone();
        restarted[0].first.control.plans = Some(50.0);
        assert_eq!(
            control_plane(&restarted, &rows, "1.6.3", by.clone())
                .unwrap()
                .plans_submitted,
            20
        );
        let bare = vec![ServerSpan {
            name: "s1".into(),
            first: parse("process_cpu_seconds_total 1\n"),
            last: parse("process_cpu_seconds_total 2\n"),
            complete: true,
        }];
        assert!(control_plane(&bare, &rows, "1.6.3", by).is_none());
    }
}
