//! One vocabulary for the figures of a run: [`Metric`].
//!
//! Scenario SLOs (`[slo] queue_wait_p95_ms = 60000`), `stampede plan --slo 'queue_wait.p95 <= 60s'` and
//! `stampede compare --fail-if 'submit_to_running.p99 > +10%'` all name a figure of the [`Summary`]; they
//! parse it here, so the three agree on what exists, its unit and which direction is better.
//!
//! ## Spellings
//! Every spelling below parses to the same metric; [`Metric`]'s `Display` writes the canonical one (the left
//! column), and `display → parse` is the identity.
//!
//! | canonical | also accepted |
//! |---|---|
//! | `submit_to_running.p95` | `submit_to_running_p95_ms` (scenario keys), `submit_to_running_p95`, `queue_wait.p95`, `queue_wait_p95_ms`, `latency_ms.submit_to_running.p95`, `summary.latency_ms.…` |
//! | `placement_rate_per_s` | `placement_rate` |
//! | `completion_s` | `completion` |
//! | `makespan_s` | `makespan` (first submission → last allocation finished) |
//! | `servers.cpu_pct_max` | `summary.servers.cpu_pct_max` |
//! | `allocs_lost` (and the other counts) | `summary.allocs_lost` |
//!
//! Intervals are `submit_to_placed`, `placed_to_running` and `submit_to_running` (alias `queue_wait`: the
//! CI "queue wait" a developer feels), and for batch completion `running_to_done` and `submit_to_done`;
//! statistics are those of [`STATS`].
//!
//! ## Adding a percentile
//! Add a field to [`crate::record::Percentiles`] (and compute it in `summary.rs`), then one row to [`STATS`]:
//! its name, its quantile and how to read it. Parsing, display, units and values follow.

use std::fmt;
use std::str::FromStr;

use crate::record::{Percentiles, Summary};

/// Which direction of a metric is better.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Better {
    /// Smaller is better (latencies, peaks, failures).
    Lower,
    /// Larger is better (throughput, work done).
    Higher,
}

/// The unit a metric's value is expressed in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Unit {
    /// Milliseconds.
    Ms,
    /// Seconds.
    S,
    /// Per second.
    PerS,
    /// Percent.
    Pct,
    /// Bytes.
    Bytes,
    /// A count of things.
    Count,
}

impl Unit {
    /// The unit as written in tables (`ms`, `s`, `1/s`, `%`, `bytes`, `count`).
    pub fn as_str(self) -> &'static str {
        match self {
            Unit::Ms => "ms",
            Unit::S => "s",
            Unit::PerS => "1/s",
            Unit::Pct => "%",
            Unit::Bytes => "bytes",
            Unit::Count => "count",
        }
    }
    /// How many nanoseconds one unit is, for units of time (a duration like `60s` converts into them).
    pub fn ns(self) -> Option<f64> {
        match self {
            Unit::Ms => Some(1e6),
            Unit::S => Some(1e9),
            _ => None,
        }
    }
}

impl fmt::Display for Unit {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A latency interval between two allocation milestones.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Interval {
    /// Job submission → allocation placed.
    SubmitToPlaced,
    /// Placed → first task started.
    PlacedToRunning,
    /// Submission → first task started (alias `queue_wait`).
    SubmitToRunning,
    /// First task started → last task finished.
    RunningToDone,
    /// Submission → last task finished.
    SubmitToDone,
}

impl Interval {
    /// Every interval, in the order of the summary.
    pub const ALL: [Interval; 5] = [
        Interval::SubmitToPlaced,
        Interval::PlacedToRunning,
        Interval::SubmitToRunning,
        Interval::RunningToDone,
        Interval::SubmitToDone,
    ];
    /// The canonical name (`submit_to_running`).
    pub fn name(self) -> &'static str {
        match self {
            Interval::SubmitToPlaced => "submit_to_placed",
            Interval::PlacedToRunning => "placed_to_running",
            Interval::SubmitToRunning => "submit_to_running",
            Interval::RunningToDone => "running_to_done",
            Interval::SubmitToDone => "submit_to_done",
        }
    }
    fn parse(s: &str) -> Option<Interval> {
        Some(match s {
            "submit_to_placed" => Interval::SubmitToPlaced,
            "placed_to_running" => Interval::PlacedToRunning,
            "submit_to_running" | "queue_wait" => Interval::SubmitToRunning,
            "running_to_done" => Interval::RunningToDone,
            "submit_to_done" => Interval::SubmitToDone,
            _ => return None,
        })
    }
    /// The interval's percentiles in a summary.
    pub fn of(self, s: &Summary) -> &Percentiles {
        match self {
            Interval::SubmitToPlaced => &s.latency_ms.submit_to_placed,
            Interval::PlacedToRunning => &s.latency_ms.placed_to_running,
            Interval::SubmitToRunning => &s.latency_ms.submit_to_running,
            Interval::RunningToDone => &s.latency_ms.running_to_done,
            Interval::SubmitToDone => &s.latency_ms.submit_to_done,
        }
    }
}

/// A statistic of a latency distribution: an index into [`STATS`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Stat(u8);

/// One statistic: its name, its quantile (`None` for the mean) and how to read it from [`Percentiles`].
pub struct StatDef {
    /// Name as written (`p95`).
    pub name: &'static str,
    /// Quantile in 0..=1 (`max` is 1), `None` when the statistic is not a quantile (the mean).
    pub quantile: Option<f64>,
    /// Reads the statistic.
    pub read: fn(&Percentiles) -> f64,
}

/// Every latency statistic. Adding a percentile is one row here (plus its field in [`Percentiles`]).
pub const STATS: &[StatDef] = &[
    stat("mean", None, |p| p.mean),
    stat("p50", Some(0.50), |p| p.p50),
    stat("p90", Some(0.90), |p| p.p90),
    stat("p95", Some(0.95), |p| p.p95),
    stat("p99", Some(0.99), |p| p.p99),
    stat("max", Some(1.0), |p| p.max),
];

const fn stat(name: &'static str, quantile: Option<f64>, read: fn(&Percentiles) -> f64) -> StatDef {
    StatDef {
        name,
        quantile,
        read,
    }
}

impl Stat {
    /// Every statistic, in the order of [`STATS`].
    pub fn all() -> impl Iterator<Item = Stat> {
        (0..STATS.len() as u8).map(Stat)
    }
    fn def(self) -> &'static StatDef {
        &STATS[self.0 as usize]
    }
    /// The name (`p95`).
    pub fn name(self) -> &'static str {
        self.def().name
    }
    /// The quantile (`max` is 1.0), `None` for the mean.
    pub fn quantile(self) -> Option<f64> {
        self.def().quantile
    }
    /// Looks a statistic up by name.
    pub fn parse(s: &str) -> Option<Stat> {
        STATS
            .iter()
            .position(|d| d.name == s)
            .map(|i| Stat(i as u8))
    }
    /// Reads the statistic from a set of percentiles.
    pub fn read(self, p: &Percentiles) -> f64 {
        (self.def().read)(p)
    }
}

/// A control-plane peak or total (`summary.servers`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Server {
    /// Highest per-second CPU use of any server, %.
    CpuPctMax,
    /// Highest resident memory of any server, bytes.
    RssBytesMax,
    /// Raft bytes written by the leader, bytes.
    RaftBytesWrittenTotal,
    /// Leader fsyncs.
    FsyncsTotal,
    /// Deepest plan queue.
    PlanQueueDepthMax,
    /// Most ready evaluations at once.
    BrokerReadyMax,
    /// Most blocked evaluations at once.
    BlockedEvalsMax,
}

impl Server {
    /// Every server figure, in the order of the summary.
    pub const ALL: [Server; 7] = [
        Server::CpuPctMax,
        Server::RssBytesMax,
        Server::RaftBytesWrittenTotal,
        Server::FsyncsTotal,
        Server::PlanQueueDepthMax,
        Server::BrokerReadyMax,
        Server::BlockedEvalsMax,
    ];
    /// The field name (`cpu_pct_max`).
    pub fn name(self) -> &'static str {
        match self {
            Server::CpuPctMax => "cpu_pct_max",
            Server::RssBytesMax => "rss_bytes_max",
            Server::RaftBytesWrittenTotal => "raft_bytes_written_total",
            Server::FsyncsTotal => "fsyncs_total",
            Server::PlanQueueDepthMax => "plan_queue_depth_max",
            Server::BrokerReadyMax => "broker_ready_max",
            Server::BlockedEvalsMax => "blocked_evals_max",
        }
    }
    fn unit(self) -> Unit {
        match self {
            Server::CpuPctMax => Unit::Pct,
            Server::RssBytesMax | Server::RaftBytesWrittenTotal => Unit::Bytes,
            _ => Unit::Count,
        }
    }
    fn read(self, s: &Summary) -> f64 {
        let p = &s.servers;
        match self {
            Server::CpuPctMax => p.cpu_pct_max,
            Server::RssBytesMax => p.rss_bytes_max,
            Server::RaftBytesWrittenTotal => p.raft_bytes_written_total,
            Server::FsyncsTotal => p.fsyncs_total,
            Server::PlanQueueDepthMax => p.plan_queue_depth_max,
            Server::BrokerReadyMax => p.broker_ready_max,
            Server::BlockedEvalsMax => p.blocked_evals_max,
        }
    }
}

/// A count of the summary (`allocs_lost`, …). The failure counts come first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Count {
    /// Allocations lost with their node.
    AllocsLost,
    /// Allocations that failed.
    AllocsFailed,
    /// Replacement allocations.
    AllocsRescheduled,
    /// Evaluations blocked at some point.
    EvalsBlocked,
    /// Evaluations failed.
    EvalsFailed,
    /// Jobs whose submission failed for good.
    JobsFailedToSubmit,
    /// Allocations placed.
    AllocsPlaced,
    /// Allocations that reached running.
    AllocsRunning,
    /// Spot interruptions.
    SpotInterruptions,
    /// Task restarts in place (0 when the source does not report them).
    TaskRestarts,
}

impl Count {
    /// Every count, the six failure counts first.
    pub const ALL: [Count; 10] = [
        Count::AllocsLost,
        Count::AllocsFailed,
        Count::AllocsRescheduled,
        Count::EvalsBlocked,
        Count::EvalsFailed,
        Count::JobsFailedToSubmit,
        Count::AllocsPlaced,
        Count::AllocsRunning,
        Count::SpotInterruptions,
        Count::TaskRestarts,
    ];
    /// The field name (`allocs_lost`).
    pub fn name(self) -> &'static str {
        match self {
            Count::AllocsLost => "allocs_lost",
            Count::AllocsFailed => "allocs_failed",
            Count::AllocsRescheduled => "allocs_rescheduled",
            Count::EvalsBlocked => "evals_blocked",
            Count::EvalsFailed => "evals_failed",
            Count::JobsFailedToSubmit => "jobs_failed_to_submit",
            Count::AllocsPlaced => "allocs_placed",
            Count::AllocsRunning => "allocs_running",
            Count::SpotInterruptions => "spot_interruptions",
            Count::TaskRestarts => "task_restarts",
        }
    }
    fn read(self, s: &Summary) -> u64 {
        match self {
            Count::AllocsLost => s.allocs_lost,
            Count::AllocsFailed => s.allocs_failed,
            Count::AllocsRescheduled => s.allocs_rescheduled,
            Count::EvalsBlocked => s.evals_blocked,
            Count::EvalsFailed => s.evals_failed,
            Count::JobsFailedToSubmit => s.jobs_failed_to_submit,
            Count::AllocsPlaced => s.allocs_placed,
            Count::AllocsRunning => s.allocs_running,
            Count::SpotInterruptions => s.spot_interruptions,
            Count::TaskRestarts => s.task_restarts.unwrap_or(0),
        }
    }
    /// The counts of things that went wrong (lost, failed, rescheduled, blocked, …).
    pub fn failures() -> &'static [Count] {
        &Count::ALL[..6]
    }
    fn better(self) -> Better {
        match self {
            Count::AllocsPlaced | Count::AllocsRunning => Better::Higher,
            _ => Better::Lower,
        }
    }
}

/// A figure of a run's [`Summary`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    /// A statistic of a latency interval, ms.
    Latency {
        /// The interval.
        interval: Interval,
        /// The statistic.
        stat: Stat,
    },
    /// Allocations placed per second over the placement window, 1/s.
    PlacementRate,
    /// Seconds until the last allocation ran, s.
    Completion,
    /// Seconds from the first submission to the last allocation finished, s.
    Makespan,
    /// A control-plane peak or total.
    Server(Server),
    /// A count.
    Count(Count),
}

/// A name that is not a metric.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric `{name}`: use {}", Metric::HELP)]
pub struct UnknownMetric {
    /// The name as given.
    pub name: String,
}

impl Metric {
    /// What a user may write, in one line (for error messages).
    pub const HELP: &'static str = "`<submit_to_placed|placed_to_running|submit_to_running|queue_wait|running_to_done|\
         submit_to_done>.<stat>` (or `<interval>_<stat>_ms`) with stat one of mean, p50, p90, p95, p99, max; \
         `completion_s`; `makespan_s`; \
         `placement_rate_per_s`; `servers.<cpu_pct_max|rss_bytes_max|raft_bytes_written_total|fsyncs_total|\
         plan_queue_depth_max|broker_ready_max|blocked_evals_max>`; or a count (`allocs_lost`, `allocs_failed`, \
         `allocs_rescheduled`, `evals_blocked`, `evals_failed`, `jobs_failed_to_submit`, `allocs_placed`, \
         `allocs_running`, `spot_interruptions`, `task_restarts`)";

    /// A latency statistic.
    pub fn latency(interval: Interval, stat: Stat) -> Metric {
        Metric::Latency { interval, stat }
    }

    /// Every metric (latencies by interval then statistic, then the others).
    pub fn all() -> Vec<Metric> {
        let mut v = vec![Metric::PlacementRate, Metric::Completion, Metric::Makespan];
        for i in Interval::ALL {
            v.extend(Stat::all().map(|s| Metric::latency(i, s)));
        }
        v.extend(Server::ALL.map(Metric::Server));
        v.extend(Count::ALL.map(Metric::Count));
        v
    }

    /// The unit of the metric's value.
    pub fn unit(self) -> Unit {
        match self {
            Metric::Latency { .. } => Unit::Ms,
            Metric::PlacementRate => Unit::PerS,
            Metric::Completion | Metric::Makespan => Unit::S,
            Metric::Server(s) => s.unit(),
            Metric::Count(_) => Unit::Count,
        }
    }

    /// Which direction is better.
    pub fn better(self) -> Better {
        match self {
            Metric::PlacementRate => Better::Higher,
            Metric::Count(c) => c.better(),
            _ => Better::Lower,
        }
    }

    /// The metric's value in a summary, in [`Metric::unit`].
    pub fn value(self, s: &Summary) -> f64 {
        match self {
            Metric::Latency { interval, stat } => stat.read(interval.of(s)),
            Metric::PlacementRate => s.placement_rate_per_s,
            Metric::Completion => s.completion_s,
            Metric::Makespan => s.makespan_s,
            Metric::Server(x) => x.read(s),
            Metric::Count(c) => c.read(s) as f64,
        }
    }

    /// Whether `measured` meets an objective of `threshold`: at most it when lower is better, at least it
    /// when higher is better.
    pub fn meets(self, measured: f64, threshold: f64) -> bool {
        match self.better() {
            Better::Lower => measured <= threshold,
            Better::Higher => measured >= threshold,
        }
    }

    /// The metric as a scenario `[slo]` key: `submit_to_running_p95_ms`, `completion_s`, … (the canonical
    /// display for the others).
    pub fn slo_key(self) -> String {
        match self {
            Metric::Latency { interval, stat } => format!("{}_{}_ms", interval.name(), stat.name()),
            other => other.to_string(),
        }
    }

    fn parse_latency(s: &str) -> Option<Metric> {
        if let Some((iv, stat)) = s.split_once('.') {
            return Some(Metric::latency(Interval::parse(iv)?, Stat::parse(stat)?));
        }
        // `<interval>_<stat>` with an optional `_ms`.
        let s = s.strip_suffix("_ms").unwrap_or(s);
        let (iv, stat) = s.rsplit_once('_')?;
        Some(Metric::latency(Interval::parse(iv)?, Stat::parse(stat)?))
    }
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::Latency { interval, stat } => write!(f, "{}.{}", interval.name(), stat.name()),
            Metric::PlacementRate => f.write_str("placement_rate_per_s"),
            Metric::Completion => f.write_str("completion_s"),
            Metric::Makespan => f.write_str("makespan_s"),
            Metric::Server(s) => write!(f, "servers.{}", s.name()),
            Metric::Count(c) => f.write_str(c.name()),
        }
    }
}

/// A metric equals its canonical name (`Metric == "submit_to_running.p99"`), not its other spellings.
impl PartialEq<str> for Metric {
    fn eq(&self, other: &str) -> bool {
        // Compares the display piece by piece against `other`, without building a string.
        struct Prefix<'a>(Option<&'a str>);
        impl fmt::Write for Prefix<'_> {
            fn write_str(&mut self, s: &str) -> fmt::Result {
                self.0 = self.0.and_then(|rest| rest.strip_prefix(s));
                Ok(())
            }
        }
        let mut w = Prefix(Some(other));
        fmt::Write::write_fmt(&mut w, format_args!("{self}")).is_ok() && w.0 == Some("")
    }
}

impl PartialEq<&str> for Metric {
    fn eq(&self, other: &&str) -> bool {
        self == *other
    }
}

impl FromStr for Metric {
    type Err = UnknownMetric;
    fn from_str(text: &str) -> Result<Metric, UnknownMetric> {
        let k = text.trim();
        let k = k.strip_prefix("summary.").unwrap_or(k);
        let k = k.strip_prefix("latency_ms.").unwrap_or(k);
        let found = match k {
            "placement_rate" | "placement_rate_per_s" => Some(Metric::PlacementRate),
            "completion" | "completion_s" => Some(Metric::Completion),
            "makespan" | "makespan_s" => Some(Metric::Makespan),
            _ => {
                if let Some(name) = k.strip_prefix("servers.") {
                    Server::ALL
                        .into_iter()
                        .find(|s| s.name() == name)
                        .map(Metric::Server)
                } else if let Some(c) = Count::ALL.into_iter().find(|c| c.name() == k) {
                    Some(Metric::Count(c))
                } else {
                    Metric::parse_latency(k)
                }
            }
        };
        found.ok_or_else(|| UnknownMetric {
            name: text.trim().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn m(s: &str) -> Metric {
        s.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn every_spelling_in_use_parses_to_one_metric() {
        let p95 = Metric::latency(Interval::SubmitToRunning, Stat::parse("p95").unwrap());
        for s in [
            "submit_to_running.p95",
            "queue_wait.p95",
            "queue_wait_p95_ms",
            "submit_to_running_p95_ms",
            "submit_to_running_p95",
            "latency_ms.submit_to_running.p95",
            "latency_ms.queue_wait.p95",
            "summary.latency_ms.submit_to_running.p95",
            " queue_wait.p95 ",
        ] {
            assert_eq!(m(s), p95, "{s}");
        }
        assert_eq!(m("placement_rate"), Metric::PlacementRate);
        assert_eq!(m("placement_rate_per_s"), Metric::PlacementRate);
        assert_eq!(m("completion_s"), Metric::Completion);
        assert_eq!(m("completion"), Metric::Completion);
        assert_eq!(m("servers.cpu_pct_max"), Metric::Server(Server::CpuPctMax));
        assert_eq!(m("allocs_lost"), Metric::Count(Count::AllocsLost));
        // Batch completion (issue 13, finding 9b).
        assert_eq!(m("makespan"), Metric::Makespan);
        assert_eq!(m("makespan_s"), Metric::Makespan);
        assert_eq!(
            m("submit_to_done_p99_ms"),
            Metric::latency(Interval::SubmitToDone, Stat::parse("p99").unwrap())
        );
        assert_eq!(m("running_to_done.p50").to_string(), "running_to_done.p50");
        assert_eq!(m("task_restarts"), Metric::Count(Count::TaskRestarts));
        assert_eq!(
            m("placed_to_running_mean_ms").to_string(),
            "placed_to_running.mean"
        );
        assert_eq!(p95.slo_key(), "submit_to_running_p95_ms");
        assert!(p95 == "submit_to_running.p95" && p95 != "queue_wait.p95");
        for bad in [
            "p99",
            "latency.p95",
            "bogus_p99_ms",
            "submit_to_running_p42_ms",
            "submit_to_running.p42",
            "servers.nope",
            "",
            "queue_wait",
        ] {
            let e = bad.parse::<Metric>().unwrap_err();
            assert!(e.to_string().contains(&format!("`{}`", bad.trim())), "{e}");
        }
    }

    #[test]
    fn units_directions_and_values() {
        let mut s = Summary::default();
        s.latency_ms.submit_to_running.p99 = 1234.0;
        s.placement_rate_per_s = 50.0;
        s.servers.rss_bytes_max = 7.0;
        s.allocs_placed = 3;
        assert_eq!(m("queue_wait.p99").value(&s), 1234.0);
        assert_eq!(m("queue_wait.p99").unit(), Unit::Ms);
        assert_eq!(m("placement_rate").value(&s), 50.0);
        assert_eq!(m("placement_rate").better(), Better::Higher);
        assert_eq!(m("placement_rate").unit().as_str(), "1/s");
        assert_eq!(m("servers.rss_bytes_max").value(&s), 7.0);
        assert_eq!(m("servers.rss_bytes_max").unit(), Unit::Bytes);
        assert_eq!(m("allocs_placed").value(&s), 3.0);
        assert_eq!(m("allocs_placed").better(), Better::Higher);
        assert_eq!(m("completion_s").unit(), Unit::S);
        s.makespan_s = 90.5;
        s.latency_ms.submit_to_done.p95 = 4321.0;
        assert_eq!(m("makespan").value(&s), 90.5);
        assert_eq!(m("makespan").unit(), Unit::S);
        assert_eq!(m("makespan").better(), Better::Lower);
        assert_eq!(m("submit_to_done.p95").value(&s), 4321.0);
        assert_eq!(m("task_restarts").value(&s), 0.0);
        assert!(m("queue_wait.p99").meets(1000.0, 1000.0));
        assert!(!m("queue_wait.p99").meets(1001.0, 1000.0));
        assert!(m("placement_rate").meets(60.0, 50.0));
        assert!(!m("placement_rate").meets(40.0, 50.0));
        assert_eq!(Stat::parse("max").unwrap().quantile(), Some(1.0));
        assert_eq!(Stat::parse("mean").unwrap().quantile(), None);
        let failures: Vec<&str> = Count::failures().iter().map(|c| c.name()).collect();
        assert_eq!(
            failures,
            [
                "allocs_lost",
                "allocs_failed",
                "allocs_rescheduled",
                "evals_blocked",
                "evals_failed",
                "jobs_failed_to_submit"
            ]
        );
    }

    #[test]
    fn every_metric_round_trips() {
        for x in Metric::all() {
            assert_eq!(m(&x.to_string()), x);
            assert_eq!(m(&x.slo_key()), x);
        }
    }

    fn any_metric() -> impl Strategy<Value = Metric> {
        let all = Metric::all();
        (0..all.len()).prop_map(move |i| all[i])
    }

    proptest! {
        #[test]
        fn display_parse_round_trips(x in any_metric(), pad_l in "[ ]{0,2}", pad_r in "[ ]{0,2}") {
            let shown = x.to_string();
            prop_assert_eq!(format!("{pad_l}{shown}{pad_r}").parse::<Metric>(), Ok(x));
            prop_assert_eq!(format!("summary.{shown}").parse::<Metric>(), Ok(x));
            prop_assert_eq!(x.slo_key().parse::<Metric>(), Ok(x));
        }

        #[test]
        fn parse_never_panics(s in "\\PC{0,40}") {
            let _ = s.parse::<Metric>();
        }
    }
}
