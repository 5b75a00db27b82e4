//! Statistics of a trace: arrival rate over time, fan-out per change, and the run-time distribution with a
//! lognormal fit (maximum likelihood) and a Pareto tail fit (Hill's estimator, which is the maximum
//! likelihood estimator of the shape above a known threshold), each with its Kolmogorov–Smirnov statistic
//! `D = sup |F_n(x) − F(x)|`.
//!
//! References: Hill, B. M. (1975), "A simple general approach to inference about the tail of a
//! distribution", Ann. Statist. 3(5); Clauset, Shalizi & Newman (2009), "Power-law distributions in
//! empirical data", SIAM Review 51(4) (KS distance for tail fits). A small KS statistic means a good fit;
//! for `n` samples, `1.36/√n` is the 5% critical value when the parameters are known (fitted parameters
//! make the test conservative).

use std::collections::BTreeMap;

use serde::Serialize;

use super::{Exit, Trace};

/// Maximum-likelihood lognormal fit.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct LognormalFit {
    /// Samples fitted.
    pub n: u64,
    /// Mean of ln(x) (x in seconds).
    pub mu: f64,
    /// Standard deviation of ln(x) (MLE, divides by n).
    pub sigma: f64,
    /// Median of the fitted law, s (`e^mu`).
    pub median_s: f64,
    /// Mean of the fitted law, s (`e^(mu + sigma²/2)`).
    pub mean_s: f64,
    /// Kolmogorov–Smirnov statistic of the sample against the fit.
    pub ks: f64,
}

/// Pareto fit of the tail above a threshold.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct ParetoFit {
    /// Threshold `x_min`, s.
    pub x_min_s: f64,
    /// Samples at or above the threshold.
    pub n_tail: u64,
    /// Fraction of all samples in the tail.
    pub tail_fraction: f64,
    /// Shape α (Hill / MLE): `n_tail / Σ ln(x_i / x_min)`.
    pub alpha: f64,
    /// Kolmogorov–Smirnov statistic of the tail sample against the fit.
    pub ks: f64,
}

/// Standard normal CDF (via `erfc`, absolute error below 1.2e-7).
pub fn normal_cdf(z: f64) -> f64 {
    0.5 * erfc(-z / std::f64::consts::SQRT_2)
}

/// Complementary error function (Numerical Recipes' Chebyshev fit, fractional error < 1.2e-7).
fn erfc(x: f64) -> f64 {
    let z = x.abs();
    let t = 1.0 / (1.0 + 0.5 * z);
    let r = t
        * (-z * z - 1.265_512_23
            + t * (1.000_023_68
                + t * (0.374_091_96
                    + t * (0.096_784_18
                        + t * (-0.186_288_06
                            + t * (0.278_868_07
                                + t * (-1.135_203_98
                                    + t * (1.488_515_87
                                        + t * (-0.822_152_23 + t * 0.170_872_77)))))))))
            .exp();
    if x >= 0.0 {
        r
    } else {
        2.0 - r
    }
}

/// KS statistic of an ascending sample against a CDF.
pub fn ks_statistic(sorted: &[f64], cdf: impl Fn(f64) -> f64) -> f64 {
    let n = sorted.len() as f64;
    let mut d: f64 = 0.0;
    for (i, x) in sorted.iter().enumerate() {
        let f = cdf(*x);
        d = d.max((i as f64 + 1.0) / n - f).max(f - i as f64 / n);
    }
    d
}

/// Lognormal MLE of an ascending sample of positive values (non-positive values are ignored). `None` if
/// fewer than 2 positive samples or all equal.
pub fn fit_lognormal(sorted: &[f64]) -> Option<LognormalFit> {
    let xs: Vec<f64> = sorted
        .iter()
        .copied()
        .filter(|x| *x > 0.0 && x.is_finite())
        .collect();
    let n = xs.len();
    if n < 2 {
        return None;
    }
    let mu = xs.iter().map(|x| x.ln()).sum::<f64>() / n as f64;
    let var = xs.iter().map(|x| (x.ln() - mu).powi(2)).sum::<f64>() / n as f64;
    let sigma = var.sqrt();
    if sigma <= 0.0 || !sigma.is_finite() {
        return None;
    }
    let ks = ks_statistic(&xs, |x| normal_cdf((x.ln() - mu) / sigma));
    Some(LognormalFit {
        n: n as u64,
        mu,
        sigma,
        median_s: mu.exp(),
        mean_s: (mu + var / 2.0).exp(),
        ks,
    })
}

/// Pareto fit of the samples `≥ x_min` of an ascending sample. `None` if fewer than 2 tail samples or
/// they are all equal to `x_min`.
pub fn fit_pareto_tail(sorted: &[f64], x_min: f64) -> Option<ParetoFit> {
    if !(x_min > 0.0 && x_min.is_finite()) {
        return None;
    }
    let start = sorted.partition_point(|x| *x < x_min);
    let tail = &sorted[start..];
    let k = tail.len();
    if k < 2 {
        return None;
    }
    let s: f64 = tail.iter().map(|x| (x / x_min).ln()).sum();
    if s <= 0.0 || !s.is_finite() {
        return None;
    }
    let alpha = k as f64 / s;
    let ks = ks_statistic(tail, |x| 1.0 - (x_min / x).powf(alpha));
    Some(ParetoFit {
        x_min_s: x_min,
        n_tail: k as u64,
        tail_fraction: k as f64 / sorted.len() as f64,
        alpha,
        ks,
    })
}

/// Pareto tail fit with the threshold chosen as Clauset, Shalizi & Newman (2009) do: among candidate
/// thresholds (the sample's quantiles 0.50, 0.505, …, 0.995), the one whose fit has the smallest KS
/// statistic, keeping at least `min_tail` samples in the tail. `None` if no candidate qualifies.
pub fn fit_pareto_tail_auto(sorted: &[f64], min_tail: usize) -> Option<ParetoFit> {
    let mut best: Option<ParetoFit> = None;
    let mut last = f64::NAN;
    for k in 0..100 {
        let x_min = quantile(sorted, 0.5 + 0.005 * k as f64);
        if x_min == last {
            continue;
        }
        last = x_min;
        if let Some(f) = fit_pareto_tail(sorted, x_min) {
            let better = match best {
                None => true,
                Some(b) => f.ks < b.ks,
            };
            if (f.n_tail as usize) >= min_tail.max(2) && better {
                best = Some(f);
            }
        }
    }
    best
}

/// Nearest-rank quantile of an ascending sample (`q` in 0..=1); 0 for an empty one.
pub fn quantile(sorted: &[f64], q: f64) -> f64 {
    if sorted.is_empty() {
        return 0.0;
    }
    let r = ((q * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[r - 1]
}

/// Jobs submitted in one bucket of time.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Bucket {
    /// Bucket index since t = 0 (hour or minute number).
    pub index: u64,
    /// Jobs submitted in it.
    pub jobs: u64,
}

/// Arrival statistics.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ArrivalStats {
    /// Span from t = 0 to the last submission, s.
    pub span_s: f64,
    /// Jobs per hour, non-empty hours only, in time order.
    pub per_hour: Vec<Bucket>,
    /// Busiest minute (index = minute since t = 0).
    pub peak_minute: Bucket,
    /// Mean jobs per minute over the minutes from t = 0 to the last submission.
    pub mean_per_minute: f64,
    /// 99th percentile of jobs per minute over the same minutes (empty minutes count as 0).
    pub p99_per_minute: f64,
}

/// Fan-out per change.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FanoutStats {
    /// Distinct changes.
    pub changes: u64,
    /// Jobs without a change id (not counted in the distribution).
    pub jobs_without_change: u64,
    /// Mean jobs per change.
    pub mean: f64,
    /// Median jobs per change.
    pub p50: f64,
    /// 90th percentile.
    pub p90: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Largest change (jobs).
    pub max: u64,
    /// Changes by fan-out decade: `1`, `2-9`, `10-99`, `100-999`, `1000+`.
    pub by_decade: BTreeMap<String, u64>,
}

/// Run-time distribution of recorded outcomes (one sample per recorded allocation outcome), seconds.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct DurationStats {
    /// Samples.
    pub n: u64,
    /// Mean, s.
    pub mean_s: f64,
    /// Median, s.
    pub p50_s: f64,
    /// 90th percentile, s.
    pub p90_s: f64,
    /// 99th percentile, s.
    pub p99_s: f64,
    /// Longest, s.
    pub max_s: f64,
    /// Lognormal MLE of the whole sample.
    pub lognormal: Option<LognormalFit>,
    /// Pareto fit of the tail.
    pub pareto_tail: Option<ParetoFit>,
    /// Quantile used as the tail threshold; `null` when it was chosen by minimum KS statistic
    /// ([`fit_pareto_tail_auto`], at least 50 samples in the tail).
    pub tail_quantile: Option<f64>,
}

/// Everything `stampede trace inspect` reports.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct TraceStats {
    /// Trace name.
    pub name: String,
    /// Source (`synth`, `record`, `swf`).
    pub source: String,
    /// Seed, for synthetic traces.
    pub seed: Option<u64>,
    /// Jobs.
    pub jobs: u64,
    /// Task groups.
    pub groups: u64,
    /// Allocations asked for (sum of group counts).
    pub allocs: u64,
    /// Replacement allocations recorded (retries after failures).
    pub replacements: u64,
    /// Fraction of recorded first attempts that failed.
    pub first_attempt_failure_rate: f64,
    /// Compute time of every allocation including replacements, hours.
    pub compute_hours: f64,
    /// Jobs by priority.
    pub by_priority: BTreeMap<u32, u64>,
    /// Arrival rate.
    pub arrivals: ArrivalStats,
    /// Fan-out per change.
    pub fanout: FanoutStats,
    /// Run-time distribution.
    pub durations: DurationStats,
}

/// Computes the statistics of a trace. The Pareto tail is fitted above the `tail_quantile` quantile of
/// run times (e.g. 0.95), or, when `None`, above the threshold that minimises the KS statistic.
pub fn trace_stats(t: &Trace, tail_quantile: Option<f64>) -> TraceStats {
    let mut per_hour: BTreeMap<u64, u64> = BTreeMap::new();
    let mut per_min: BTreeMap<u64, u64> = BTreeMap::new();
    let mut changes: BTreeMap<&str, u64> = BTreeMap::new();
    let mut no_change = 0u64;
    let mut by_priority = BTreeMap::new();
    let mut groups = 0u64;
    let mut replacements = 0u64;
    let (mut first, mut first_failed) = (0u64, 0u64);
    let mut durs: Vec<f64> = Vec::new();
    for j in &t.jobs {
        *per_hour.entry(j.submit_ns / 3_600_000_000_000).or_default() += 1;
        *per_min.entry(j.submit_ns / 60_000_000_000).or_default() += 1;
        match &j.change {
            Some(c) => *changes.entry(c.as_str()).or_default() += 1,
            None => no_change += 1,
        }
        *by_priority.entry(j.priority).or_default() += 1;
        for g in &j.groups {
            groups += 1;
            replacements += g.replacements() as u64;
            let firsts = g.allocs.len().min(g.count as usize);
            first += firsts as u64;
            first_failed += g.allocs[..firsts]
                .iter()
                .filter(|a| a.exit == Exit::Failed)
                .count() as u64;
            durs.extend(g.allocs.iter().map(|a| a.run_ns as f64 / 1e9));
        }
    }
    durs.sort_by(f64::total_cmp);
    let span_ns = t.span_ns();
    let minutes = span_ns / 60_000_000_000 + 1;
    let peak_minute = per_min
        .iter()
        .map(|(m, n)| Bucket {
            index: *m,
            jobs: *n,
        })
        .max_by_key(|b| (b.jobs, u64::MAX - b.index))
        .unwrap_or(Bucket { index: 0, jobs: 0 });
    let mut busy: Vec<f64> = per_min.values().map(|v| *v as f64).collect();
    busy.sort_by(f64::total_cmp);
    // p99 over all minutes, empty ones included: rank among the non-empty ones from the top.
    let rank_from_top = ((1.0 - 0.99) * minutes as f64).floor() as usize;
    let p99_per_minute = if busy.len() > rank_from_top {
        busy[busy.len() - 1 - rank_from_top]
    } else {
        0.0
    };
    let mut fan: Vec<f64> = changes.values().map(|v| *v as f64).collect();
    fan.sort_by(f64::total_cmp);
    let mut by_decade = BTreeMap::new();
    for (k, lo, hi) in [
        ("1", 1.0, 1.0),
        ("2-9", 2.0, 9.0),
        ("10-99", 10.0, 99.0),
        ("100-999", 100.0, 999.0),
        ("1000+", 1000.0, f64::MAX),
    ] {
        by_decade.insert(
            k.to_string(),
            fan.iter().filter(|f| **f >= lo && **f <= hi).count() as u64,
        );
    }
    let pareto_tail = match tail_quantile {
        Some(q) => fit_pareto_tail(&durs, quantile(&durs, q)),
        None => fit_pareto_tail_auto(&durs, 50),
    };
    TraceStats {
        name: t.header.name.clone(),
        source: t.header.source.as_str().to_string(),
        seed: t.header.seed,
        jobs: t.jobs.len() as u64,
        groups,
        allocs: t.total_allocs(),
        replacements,
        first_attempt_failure_rate: if first == 0 {
            0.0
        } else {
            first_failed as f64 / first as f64
        },
        compute_hours: t.compute_hours(),
        by_priority,
        arrivals: ArrivalStats {
            span_s: span_ns as f64 / 1e9,
            per_hour: per_hour
                .into_iter()
                .map(|(index, jobs)| Bucket { index, jobs })
                .collect(),
            peak_minute,
            mean_per_minute: t.jobs.len() as f64 / minutes as f64,
            p99_per_minute,
        },
        fanout: FanoutStats {
            changes: changes.len() as u64,
            jobs_without_change: no_change,
            mean: if fan.is_empty() {
                0.0
            } else {
                fan.iter().sum::<f64>() / fan.len() as f64
            },
            p50: quantile(&fan, 0.5),
            p90: quantile(&fan, 0.9),
            p99: quantile(&fan, 0.99),
            max: fan.last().copied().unwrap_or(0.0) as u64,
            by_decade,
        },
        durations: DurationStats {
            n: durs.len() as u64,
            mean_s: if durs.is_empty() {
                0.0
            } else {
                durs.iter().sum::<f64>() / durs.len() as f64
            },
            p50_s: quantile(&durs, 0.5),
            p90_s: quantile(&durs, 0.9),
            p99_s: quantile(&durs, 0.99),
            max_s: durs.last().copied().unwrap_or(0.0),
            lognormal: fit_lognormal(&durs),
            pareto_tail,
            tail_quantile,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::{Rng, SeedableRng};
    use rand_chacha::ChaCha8Rng;
    use rand_distr::StandardNormal;

    fn lognormal_sample(n: usize, mu: f64, sigma: f64, seed: u64) -> Vec<f64> {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let mut v: Vec<f64> = (0..n)
            .map(|_| (mu + sigma * r.sample::<f64, _>(StandardNormal)).exp())
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    fn pareto_sample(n: usize, xm: f64, alpha: f64, seed: u64) -> Vec<f64> {
        let mut r = ChaCha8Rng::seed_from_u64(seed);
        let mut v: Vec<f64> = (0..n)
            .map(|_| xm * (1.0 - r.random::<f64>()).powf(-1.0 / alpha))
            .collect();
        v.sort_by(f64::total_cmp);
        v
    }

    #[test]
    fn normal_cdf_matches_known_values() {
        assert!((normal_cdf(0.0) - 0.5).abs() < 1e-7);
        assert!((normal_cdf(1.96) - 0.975_002_1).abs() < 1e-6);
        assert!((normal_cdf(-1.0) - 0.158_655_25).abs() < 1e-6);
    }

    #[test]
    fn lognormal_fit_recovers_parameters() {
        for seed in [1, 2, 3] {
            let xs = lognormal_sample(20_000, 3.0, 0.7, seed);
            let f = fit_lognormal(&xs).unwrap();
            assert!((f.mu - 3.0).abs() < 0.02, "{f:?}");
            assert!((f.sigma - 0.7).abs() < 0.02, "{f:?}");
            assert!(f.ks < 1.36 / (20_000f64).sqrt(), "{f:?}");
        }
        // A Pareto sample is not lognormal: the KS statistic says so.
        let p = fit_lognormal(&pareto_sample(20_000, 1.0, 1.2, 4)).unwrap();
        assert!(p.ks > 0.03, "{p:?}");
        assert!(fit_lognormal(&[1.0]).is_none());
        assert!(fit_lognormal(&[2.0, 2.0]).is_none());
    }

    #[test]
    fn pareto_tail_fit_recovers_alpha() {
        for (seed, alpha) in [(5, 1.2), (6, 1.8), (7, 2.5)] {
            let xs = pareto_sample(20_000, 10.0, alpha, seed);
            let f = fit_pareto_tail(&xs, 10.0).unwrap();
            assert!((f.alpha - alpha).abs() / alpha < 0.04, "{f:?}");
            assert!(f.ks < 0.015, "{f:?}");
            assert_eq!(f.n_tail, 20_000);
        }
        // Above a higher threshold only the tail counts, and the shape is the same.
        let xs = pareto_sample(50_000, 1.0, 1.5, 8);
        let f = fit_pareto_tail(&xs, 5.0).unwrap();
        assert!((f.alpha - 1.5).abs() < 0.1, "{f:?}");
        assert!(f.tail_fraction < 0.1);
        // A lognormal's tail is lighter than a power law: the KS statistic is worse than for a true Pareto.
        let ln = lognormal_sample(20_000, 0.0, 0.5, 9);
        let g = fit_pareto_tail(&ln, quantile(&ln, 0.5)).unwrap();
        assert!(g.ks > 0.05, "{g:?}");
        assert!(fit_pareto_tail(&[1.0, 2.0], 0.0).is_none());
    }

    #[test]
    fn auto_threshold_finds_the_tail_of_a_mixture() {
        // 97% lognormal body (median 45 s), 3% Pareto tail above 600 s with alpha 1.8: the synth model.
        let mut r = ChaCha8Rng::seed_from_u64(10);
        let mut v: Vec<f64> = (0..60_000)
            .map(|_| {
                if r.random::<f64>() < 0.03 {
                    600.0 * (1.0 - r.random::<f64>()).powf(-1.0 / 1.8)
                } else {
                    (45f64.ln() + 0.85 * r.sample::<f64, _>(StandardNormal)).exp()
                }
            })
            .collect();
        v.sort_by(f64::total_cmp);
        let f = fit_pareto_tail_auto(&v, 50).unwrap();
        assert!((f.alpha - 1.8).abs() < 0.3, "{f:?}");
        assert!(f.x_min_s > 250.0, "{f:?}");
        assert!(f.ks < 0.05, "{f:?}");
        // Much better than a fixed threshold inside the body.
        let fixed = fit_pareto_tail(&v, quantile(&v, 0.9)).unwrap();
        assert!(fixed.ks > 2.0 * f.ks, "{fixed:?} vs {f:?}");
    }

    #[test]
    fn ks_is_zero_ish_for_a_perfect_grid() {
        let xs: Vec<f64> = (0..1000).map(|i| (i as f64 + 0.5) / 1000.0).collect();
        assert!(ks_statistic(&xs, |x| x) <= 0.0005 + 1e-12);
        assert!((quantile(&xs, 0.5) - 0.4995).abs() < 1e-9);
    }
}
