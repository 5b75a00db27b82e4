//! Computing a [`Summary`] from a record's tables, the same way for every source.

use std::collections::BTreeMap;

use hdrhistogram::Histogram;

use crate::metric::Metric;
use crate::record::{
    AllocRow, AllocStatus, Latencies, MetricRow, Percentiles, RunEvent, ServerPeaks, SloResult,
    Summary,
};

/// An HDR histogram of latencies recorded in microseconds, reported in milliseconds.
///
/// Three significant digits (relative error ≤ 0.1%) over 1 µs … 30 days, after Gil Tene's HdrHistogram.
#[derive(Debug, Clone)]
pub struct LatencyHistogram {
    h: Histogram<u64>,
}

impl Default for LatencyHistogram {
    fn default() -> Self {
        Self::new()
    }
}

impl LatencyHistogram {
    /// An empty histogram.
    pub fn new() -> Self {
        let h = Histogram::new_with_bounds(1, 30 * 86_400 * 1_000_000, 3)
            .expect("valid histogram bounds");
        Self { h }
    }
    /// Records one latency given in nanoseconds (clamped to the histogram's range).
    pub fn record_ns(&mut self, ns: u64) {
        let us = (ns / 1_000).clamp(1, self.h.high());
        self.h.record(us).expect("clamped value is in range");
    }
    /// Number of samples.
    pub fn len(&self) -> u64 {
        self.h.len()
    }
    /// Whether the histogram is empty.
    pub fn is_empty(&self) -> bool {
        self.h.is_empty()
    }
    /// Value at quantile `q` (0..=1), in ms.
    pub fn quantile_ms(&self, q: f64) -> f64 {
        if self.h.is_empty() {
            return 0.0;
        }
        self.h.value_at_quantile(q) as f64 / 1_000.0
    }
    /// The standard percentile set, in ms.
    pub fn percentiles(&self) -> Percentiles {
        if self.h.is_empty() {
            return Percentiles::default();
        }
        Percentiles {
            count: self.h.len(),
            mean: (self.h.mean() / 1_000.0 * 1000.0).round() / 1000.0,
            p50: self.quantile_ms(0.50),
            p90: self.quantile_ms(0.90),
            p95: self.quantile_ms(0.95),
            p99: self.quantile_ms(0.99),
            max: self.h.max() as f64 / 1_000.0,
        }
    }
}

/// Inputs beyond the tables that a summary needs.
#[derive(Debug, Clone)]
pub struct SummaryInputs<'a> {
    /// Jobs submitted successfully.
    pub jobs_submitted: u64,
    /// Jobs whose submission failed for good.
    pub jobs_failed_to_submit: u64,
    /// Sum of group counts of submitted jobs.
    pub allocs_desired: u64,
    /// Evaluations blocked at some point.
    pub evals_blocked: u64,
    /// Evaluations failed.
    pub evals_failed: u64,
    /// Notable events (spot interruptions are counted from here).
    pub events: &'a [RunEvent],
    /// SLOs stated by the scenario: key (a [`Metric`] spelling) → threshold.
    pub slo: &'a BTreeMap<String, f64>,
}

static EMPTY_SLO: BTreeMap<String, f64> = BTreeMap::new();

impl Default for SummaryInputs<'_> {
    fn default() -> Self {
        SummaryInputs {
            jobs_submitted: 0,
            jobs_failed_to_submit: 0,
            allocs_desired: 0,
            evals_blocked: 0,
            evals_failed: 0,
            events: &[],
            slo: &EMPTY_SLO,
        }
    }
}

impl Summary {
    /// Computes the summary of a record from its tables.
    pub fn compute(allocs: &[AllocRow], metrics: &[MetricRow], inp: &SummaryInputs<'_>) -> Summary {
        let mut to_placed = LatencyHistogram::new();
        let mut placed_to_running = LatencyHistogram::new();
        let mut to_running = LatencyHistogram::new();
        let mut running_to_done = LatencyHistogram::new();
        let mut to_done = LatencyHistogram::new();
        let mut last_done: Option<u64> = None;
        let mut s = Summary {
            jobs_submitted: inp.jobs_submitted,
            jobs_failed_to_submit: inp.jobs_failed_to_submit,
            allocs_desired: inp.allocs_desired,
            evals_blocked: inp.evals_blocked,
            evals_failed: inp.evals_failed,
            ..Summary::default()
        };
        let mut first_submit: Option<u64> = None;
        let mut last_placed: Option<u64> = None;
        let mut last_running: Option<u64> = None;
        for a in allocs {
            if let Some(sub) = a.submit_ns {
                first_submit = Some(first_submit.map_or(sub, |f| f.min(sub)));
            }
            if let Some(p) = a.placed_ns {
                s.allocs_placed += 1;
                last_placed = Some(last_placed.map_or(p, |l| l.max(p)));
                if let Some(sub) = a.submit_ns {
                    to_placed.record_ns(p.saturating_sub(sub));
                }
                if let Some(r) = a.running_ns {
                    placed_to_running.record_ns(r.saturating_sub(p));
                }
            }
            if let Some(r) = a.running_ns {
                s.allocs_running += 1;
                last_running = Some(last_running.map_or(r, |l| l.max(r)));
                if let Some(sub) = a.submit_ns {
                    to_running.record_ns(r.saturating_sub(sub));
                }
            }
            if let Some(d) = a.done_ns {
                last_done = Some(last_done.map_or(d, |l| l.max(d)));
                if let Some(r) = a.running_ns {
                    running_to_done.record_ns(d.saturating_sub(r));
                }
                if let Some(sub) = a.submit_ns {
                    to_done.record_ns(d.saturating_sub(sub));
                }
            }
            match a.status {
                AllocStatus::Complete => s.allocs_complete += 1,
                AllocStatus::Failed => s.allocs_failed += 1,
                _ => {}
            }
            if a.lost || a.status == AllocStatus::Lost {
                s.allocs_lost += 1;
            }
            if a.rescheduled {
                s.allocs_rescheduled += 1;
            }
        }
        let end = last_running.or(last_placed).unwrap_or(0);
        s.completion_s = end as f64 / 1e9;
        if let (Some(f), Some(l)) = (first_submit, last_placed) {
            let window = l.saturating_sub(f) as f64 / 1e9;
            s.placement_rate_per_s = if window > 0.0 {
                round3(s.allocs_placed as f64 / window)
            } else {
                0.0
            };
        }
        if let (Some(f), Some(d)) = (first_submit, last_done) {
            s.makespan_s = d.saturating_sub(f) as f64 / 1e9;
        }
        s.latency_ms = Latencies {
            submit_to_placed: to_placed.percentiles(),
            placed_to_running: placed_to_running.percentiles(),
            submit_to_running: to_running.percentiles(),
            running_to_done: running_to_done.percentiles(),
            submit_to_done: to_done.percentiles(),
        };
        s.servers = peaks(metrics);
        s.spot_interruptions = inp
            .events
            .iter()
            .filter(|e| e.kind == "spot_interruption")
            .count() as u64;
        for (key, &threshold) in inp.slo {
            if let Ok(metric) = key.parse::<Metric>() {
                let measured = metric.value(&s);
                s.slo.insert(
                    key.clone(),
                    SloResult {
                        threshold,
                        measured,
                        met: metric.meets(measured, threshold),
                    },
                );
            }
        }
        s
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn peaks(metrics: &[MetricRow]) -> ServerPeaks {
    let mut p = ServerPeaks::default();
    for m in metrics {
        let mx = |a: &mut f64, v: Option<f64>| {
            if let Some(v) = v {
                *a = a.max(v)
            }
        };
        mx(&mut p.cpu_pct_max, m.cpu_pct);
        mx(&mut p.rss_bytes_max, m.rss_bytes);
        mx(&mut p.plan_queue_depth_max, m.plan_queue_depth);
        mx(&mut p.broker_ready_max, m.broker_ready);
        mx(&mut p.blocked_evals_max, m.broker_blocked);
        if m.leader {
            p.raft_bytes_written_total += m.raft_bytes_written.unwrap_or(0.0);
            p.fsyncs_total += m.fsyncs.unwrap_or(0.0);
        }
    }
    p.cpu_pct_max = round3(p.cpu_pct_max);
    p
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(sub: u64, placed: u64, run: u64) -> AllocRow {
        AllocRow {
            job_id: "j".into(),
            alloc_id: "a".into(),
            node_id: "n".into(),
            task_group: "g".into(),
            submit_ns: Some(sub),
            sent_ns: Some(sub),
            placed_ns: Some(placed),
            running_ns: Some(run),
            done_ns: None,
            status: AllocStatus::Running,
            lost: false,
            rescheduled: false,
            replaces: String::new(),
        }
    }

    #[test]
    fn percentiles_and_rate() {
        let allocs: Vec<_> = (0..100u64)
            .map(|i| row(0, (i + 1) * 10_000_000, (i + 1) * 10_000_000 + 500_000_000))
            .collect();
        let mut slo = BTreeMap::new();
        slo.insert("submit_to_running_p99_ms".to_string(), 1000.0);
        let s = Summary::compute(
            &allocs,
            &[],
            &SummaryInputs {
                slo: &slo,
                ..Default::default()
            },
        );
        assert_eq!(s.allocs_placed, 100);
        assert_eq!(s.allocs_running, 100);
        // placements span 0 → 1 s: 100/s
        assert!((s.placement_rate_per_s - 100.0).abs() < 1e-9);
        assert!(
            (s.latency_ms.submit_to_placed.p50 - 500.0).abs() < 1.0,
            "{:?}",
            s.latency_ms.submit_to_placed
        );
        assert!((s.latency_ms.placed_to_running.max - 500.0).abs() < 1.0);
        assert!((s.completion_s - 1.5).abs() < 1e-9);
        let r = &s.slo["submit_to_running_p99_ms"];
        assert!(!r.met, "p99 ≈ 1490 ms breaks a 1000 ms SLO: {r:?}");
        // Nothing finished: no completion figures.
        assert_eq!(s.makespan_s, 0.0);
        assert_eq!(s.latency_ms.submit_to_done.count, 0);
    }

    #[test]
    fn batch_completion_makespan_and_done_percentiles() {
        // Submitted at 1 s; running 0.5 s later; done after i × 100 ms of work (i = 1..=10).
        let allocs: Vec<_> = (1..=10u64)
            .map(|i| {
                let mut r = row(1_000_000_000, 1_200_000_000, 1_500_000_000);
                r.done_ns = Some(1_500_000_000 + i * 100_000_000);
                r.status = if i == 10 {
                    AllocStatus::Failed
                } else {
                    AllocStatus::Complete
                };
                r
            })
            .collect();
        let s = Summary::compute(&allocs, &[], &SummaryInputs::default());
        // First submit 1 s → last done 2.5 s.
        assert!((s.makespan_s - 1.5).abs() < 1e-9, "{}", s.makespan_s);
        assert_eq!(s.latency_ms.running_to_done.count, 10);
        assert!((s.latency_ms.running_to_done.max - 1000.0).abs() < 1.0);
        assert!((s.latency_ms.running_to_done.p50 - 500.0).abs() < 1.0);
        assert!((s.latency_ms.submit_to_done.max - 1500.0).abs() < 1.0);
        assert_eq!(s.allocs_failed, 1);
        // Restarts are not in the allocation rows: the caller sets them when its source reports them.
        assert_eq!(s.task_restarts, None);
    }
}
