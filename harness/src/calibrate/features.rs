//! The summary figures the loss compares: computed the same way from an observed record and from its
//! re-simulation (both are run records, [`Summary::compute`](stampede_sim::summary) made their summaries).

use stampede_sim::record::RunRecord;

/// One figure of a run record that enters the loss.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Figure {
    /// Allocations placed per second over the placement window, 1/s.
    PlacementRate,
    /// submit → placed median, ms.
    SubmitToPlacedP50,
    /// submit → placed 90th percentile, ms.
    SubmitToPlacedP90,
    /// submit → placed 99th percentile, ms.
    SubmitToPlacedP99,
    /// placed → running median, ms.
    PlacedToRunningP50,
    /// placed → running 90th percentile, ms.
    PlacedToRunningP90,
    /// placed → running 99th percentile, ms.
    PlacedToRunningP99,
    /// submit → running median, ms.
    SubmitToRunningP50,
    /// submit → running 99th percentile, ms.
    SubmitToRunningP99,
    /// Leader fsyncs per allocation placed (only when the observed record has fsync counts).
    FsyncsPerAlloc,
    /// Mean leader CPU over the run's active seconds, in cores busy (`cpu_pct / 100 × cores` of the
    /// leader: independent of how many cores a server reports; only when the record has server CPU).
    LeaderCpuMean,
}

/// Every figure, in loss order.
pub const ALL: &[Figure] = &[
    Figure::PlacementRate,
    Figure::SubmitToPlacedP50,
    Figure::SubmitToPlacedP90,
    Figure::SubmitToPlacedP99,
    Figure::PlacedToRunningP50,
    Figure::PlacedToRunningP90,
    Figure::PlacedToRunningP99,
    Figure::SubmitToRunningP50,
    Figure::SubmitToRunningP99,
    Figure::FsyncsPerAlloc,
    Figure::LeaderCpuMean,
];

impl Figure {
    /// Name as used in `metric.rs` vocabulary where one exists (`placement_rate`, `submit_to_placed.p50`, …).
    pub fn name(self) -> &'static str {
        match self {
            Figure::PlacementRate => "placement_rate",
            Figure::SubmitToPlacedP50 => "submit_to_placed.p50",
            Figure::SubmitToPlacedP90 => "submit_to_placed.p90",
            Figure::SubmitToPlacedP99 => "submit_to_placed.p99",
            Figure::PlacedToRunningP50 => "placed_to_running.p50",
            Figure::PlacedToRunningP90 => "placed_to_running.p90",
            Figure::PlacedToRunningP99 => "placed_to_running.p99",
            Figure::SubmitToRunningP50 => "submit_to_running.p50",
            Figure::SubmitToRunningP99 => "submit_to_running.p99",
            Figure::FsyncsPerAlloc => "fsyncs_per_alloc",
            Figure::LeaderCpuMean => "leader_cpu_cores_mean",
        }
    }

    /// Smallest value the loss distinguishes (its logarithm needs a positive number).
    pub fn floor(self) -> f64 {
        match self {
            Figure::PlacementRate => 1e-3,
            Figure::FsyncsPerAlloc => 1e-3,
            Figure::LeaderCpuMean => 1e-4,
            _ => 0.01,
        }
    }

    /// The figure of `rec`, `None` when the record cannot give it (no samples, no scraped metric).
    pub fn of(self, rec: &RunRecord) -> Option<f64> {
        let s = &rec.meta.summary;
        let l = &s.latency_ms;
        let lat = |p: &stampede_sim::record::Percentiles, v: f64| (p.count > 0).then_some(v);
        let v = match self {
            Figure::PlacementRate => (s.allocs_placed > 0).then_some(s.placement_rate_per_s),
            Figure::SubmitToPlacedP50 => lat(&l.submit_to_placed, l.submit_to_placed.p50),
            Figure::SubmitToPlacedP90 => lat(&l.submit_to_placed, l.submit_to_placed.p90),
            Figure::SubmitToPlacedP99 => lat(&l.submit_to_placed, l.submit_to_placed.p99),
            Figure::PlacedToRunningP50 => lat(&l.placed_to_running, l.placed_to_running.p50),
            Figure::PlacedToRunningP90 => lat(&l.placed_to_running, l.placed_to_running.p90),
            Figure::PlacedToRunningP99 => lat(&l.placed_to_running, l.placed_to_running.p99),
            Figure::SubmitToRunningP50 => lat(&l.submit_to_running, l.submit_to_running.p50),
            Figure::SubmitToRunningP99 => lat(&l.submit_to_running, l.submit_to_running.p99),
            Figure::FsyncsPerAlloc => (s.servers.fsyncs_total > 0.0 && s.allocs_placed > 0)
                .then(|| s.servers.fsyncs_total / s.allocs_placed as f64),
            Figure::LeaderCpuMean => leader_cpu_mean(rec),
        }?;
        v.is_finite().then_some(v.max(self.floor()))
    }
}

/// Mean CPU of the leader's rows over the seconds up to the last allocation running (the active run), in
/// cores busy.
fn leader_cpu_mean(rec: &RunRecord) -> Option<f64> {
    let until = rec.meta.summary.completion_s.ceil().max(1.0) as u64;
    let cores = |name: &str| {
        rec.meta
            .servers
            .iter()
            .find(|s| s.name == name)
            .or_else(|| rec.meta.servers.iter().find(|s| s.leader))
            .and_then(|s| s.cores)
            .unwrap_or(1) as f64
    };
    let (sum, n) = rec
        .metrics
        .iter()
        .filter(|m| m.leader && m.t_s <= until)
        .filter_map(|m| Some(m.cpu_pct? / 100.0 * cores(&m.server)))
        .fold((0.0, 0u64), |(s, n), c| (s + c, n + 1));
    (n > 0).then(|| sum / n as f64)
}

/// The figures `rec` gives, with their values.
pub fn observed(rec: &RunRecord) -> Vec<(Figure, f64)> {
    ALL.iter().filter_map(|f| Some((*f, f.of(rec)?))).collect()
}
