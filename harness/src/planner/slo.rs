//! The objective of a capacity plan: a lower-is-better [`Metric`] and its threshold.

use anyhow::{bail, Context, Result};
use serde::Serialize;
use stampede_sim::metric::{Better, Interval, Metric};

/// A parsed SLO: the metric and its threshold (≤).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct Slo {
    /// Text as given.
    pub text: String,
    /// Scenario `[slo]` key, as the metric was written (`queue_wait_p95_ms`, …).
    pub key: String,
    /// The metric.
    #[serde(skip)]
    pub metric: Metric,
    /// Threshold, in the metric's unit (ms, or s for `completion_s`).
    pub threshold: f64,
}

/// Parses `METRIC <= VALUE`: a lower-is-better [`Metric`] in any spelling, and a number in its unit (or a
/// duration like `60s` for metrics of time).
pub fn parse_slo(text: &str) -> Result<Slo> {
    let (lhs, rhs) = text.split_once("<=").with_context(|| {
        format!("SLO `{text}`: expected `METRIC <= VALUE`, e.g. `queue_wait.p95 <= 60s`")
    })?;
    let lhs = lhs.trim();
    let rhs = rhs.trim();
    let metric: Metric = lhs
        .parse()
        .map_err(|e| anyhow::anyhow!("SLO `{text}`: {e}"))?;
    if metric.better() != Better::Lower {
        bail!("SLO `{text}`: `{metric}` is better when higher; plan sizes fleets for `METRIC <= VALUE` objectives on figures where lower is better");
    }
    // The key keeps the interval as written (`queue_wait_p95_ms`), as plan.json always had it.
    let key = match metric {
        Metric::Latency { stat, .. } if lhs.starts_with("queue_wait") => {
            format!("queue_wait_{}_ms", stat.name())
        }
        m => m.slo_key(),
    };
    let threshold = match rhs.parse::<f64>() {
        Ok(v) => v,
        Err(_) => {
            let ns = stampede_sim::duration::parse_duration_ns(rhs)
                .map_err(|e| anyhow::anyhow!("SLO `{text}`: {e}"))?;
            let per = metric.unit().ns().with_context(|| {
                format!(
                    "SLO `{text}`: `{metric}` is in {}, not a duration: give a number",
                    metric.unit()
                )
            })?;
            ns as f64 / per
        }
    };
    if !(threshold.is_finite() && threshold >= 0.0) {
        bail!("SLO `{text}`: threshold must be a non-negative number");
    }
    Ok(Slo {
        text: text.to_string(),
        key,
        metric,
        threshold,
    })
}

impl Slo {
    /// Early stop applies to percentile objectives on submit → running (queue wait): `(threshold ns, 1 − q)`.
    pub fn early_stop_rule(&self) -> Option<(u64, f64)> {
        match self.metric {
            Metric::Latency {
                interval: Interval::SubmitToRunning,
                stat,
            } => {
                let q = stat.quantile()?;
                Some(((self.threshold * 1e6) as u64, 1.0 - q))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slo_parsing() {
        let s = parse_slo("queue_wait.p95 <= 60s").unwrap();
        assert_eq!(s.key, "queue_wait_p95_ms");
        assert_eq!(s.threshold, 60_000.0);
        assert_eq!(
            parse_slo("submit_to_running.p99 <= 5000")
                .unwrap()
                .threshold,
            5000.0
        );
        assert_eq!(parse_slo("completion_s <= 1h").unwrap().threshold, 3600.0);
        assert!(parse_slo("queue_wait.p95 < 60s").is_err());
        assert!(parse_slo("latency.p95 <= 60s").is_err());
        assert!(parse_slo("queue_wait.p95 <= soon").is_err());
        assert!(
            parse_slo("placement_rate <= 5").is_err(),
            "higher is better"
        );
        assert!(
            parse_slo("servers.cpu_pct_max <= 1h").is_err(),
            "not a time"
        );
        let s = parse_slo("servers.cpu_pct_max <= 80").unwrap();
        assert_eq!((s.key.as_str(), s.threshold), ("servers.cpu_pct_max", 80.0));
        assert_eq!(
            parse_slo("submit_to_running_p99_ms <= 1s").unwrap().key,
            "submit_to_running_p99_ms"
        );
        let q = parse_slo("queue_wait.p99 <= 2s").unwrap();
        assert_eq!(q.early_stop_rule(), Some((2_000_000_000, 1.0 - 0.99)));
        assert_eq!(
            parse_slo("queue_wait.mean <= 2s")
                .unwrap()
                .early_stop_rule(),
            None
        );
    }
}
