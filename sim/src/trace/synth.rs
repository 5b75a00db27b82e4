//! A synthetic monorepo CI workload, calibrated to the published figures of one real deployment (a health
//! insurer's monorepo CI on Nomad + Docker, as presented in a HashiConf talk: ~900,000 build jobs in 30
//! days, a few hundred per minute at peak, a nightly build of ~4,500 targets taking ~97 compute-hours,
//! 2,800 MHz / 3.5 GB per test) and Google TAP's flakiness statistics (~1.5% of test runs flaky, ~16% of
//! tests flaky at some rate: J. Micco, "Flaky Tests at Google and How We Mitigate Them", Google Testing
//! Blog, 2016). Each [`SynthProfile`] field quotes the figure it comes from or is marked an assumption.
//!
//! # The model
//!
//! Per day:
//! 1. **Volume.** The day's job count is `jobs_per_day` × (`weekend_factor` on days 5 and 6 of a week
//!    starting on day 0) × (1 + `daily_volume_cv` · Z), Z standard normal clamped to ±2.
//! 2. **Nightly build-the-world** at `nightly_at_s`: every one of the `nightly_targets` buildable targets,
//!    dispatched evenly over `nightly_window_s`, at `nightly_priority`. Its durations are drawn like any
//!    other and then scaled so its total first-attempt run time is exactly `nightly_compute_hours`.
//! 3. **Changes** fill the rest of the volume: fan-outs are drawn from a discrete Pareto (Zipf-like) law
//!    `⌊U^(-1/fanout_alpha)⌋` (U uniform on (0, 1]) capped at `fanout_max` until the day's volume is reached (the last change is
//!    clipped). Given their number, the change arrival times of a non-homogeneous Poisson process are i.i.d.
//!    with density proportional to the intensity, so each change time is drawn from the piecewise-constant
//!    diurnal profile `hourly_weights` and the times are sorted. Each change picks its targets without
//!    replacement from the `targets` universe and its submitter dispatches them at `dispatch_rate_per_s`
//!    (one job every `1/rate` s, uniform jitter within the slot): that is what makes a core-library change a
//!    burst of a few hundred jobs per minute rather than thousands in one second.
//! 4. **Jobs.** One batch job per (change, target), one group `ci` with the tasks `test` and
//!    `log-collector`, count 1. Resources `cpu_mhz`/`memory_mb`, multiplied for "heavy" targets.
//!    Priority `priority_max − priority_per_decade · log10(fan-out)`, clamped to `priority_min`: small
//!    changes go first. Image: the change's patch image (`patch_image_mb`, rarely `big_patch_image_mb`).
//! 5. **Durations.** Each target has a median run time drawn once (lognormal around `duration_median_s`
//!    with `duration_sigma_between`); each run is lognormal around its target's median with
//!    `duration_sigma_within`, except a fraction `tail_fraction` drawn from a Pareto tail above
//!    `tail_threshold_s` with shape `tail_alpha`; every run is capped at `duration_max_s`.
//! 6. **Flakiness.** A fraction `flaky_target_fraction` of targets are flaky, each failing an attempt with
//!    probability `flaky_rate / flaky_target_fraction`, so `flaky_rate` of all test runs fail. A failed
//!    attempt is retried (replacement allocation, up to `max_attempts`), each retry drawing a fresh run
//!    time.
//!
//! Determinism: every draw comes from ChaCha8 streams of the seed (stream 0 for the target universe, stream
//! `1 + day` for day `day`); jobs are sorted by (submit time, generation order). Same profile and seed,
//! same trace, byte for byte.

use std::collections::BTreeMap;

use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;
use rand_distr::StandardNormal;

use super::{
    Exit, Trace, TraceAlloc, TraceGroup, TraceHeader, TraceJob, TraceSource, TRACE_VERSION,
};
use crate::record::SIM_EPOCH_UNIX_NS;
use crate::scenario::JobType;

const NS: f64 = 1e9;
const DAY_NS: u64 = 86_400_000_000_000;

/// Every knob of the synthetic monorepo CI workload, with its source.
#[derive(Debug, Clone, PartialEq)]
pub struct SynthProfile {
    /// Profile name, written to the trace header.
    pub name: String,
    /// Jobs per (working) day, including the nightly. Source: ~900,000 build jobs in 30 days ≈ 60,000/day.
    pub jobs_per_day: u32,
    /// Day-to-day variation of the volume (coefficient of variation). Assumption: 0.04.
    pub daily_volume_cv: f64,
    /// Volume on days 5 and 6 of each week relative to a working day. Default 1.0, because the source only
    /// gives a 30-day average; set e.g. 0.2 for a quiet weekend.
    pub weekend_factor: f64,
    /// Relative intensity of change arrivals in each hour of the day (local time, t = 0 is midnight).
    /// Source: "traffic follows the working day"; shape assumed (office hours, lunch dip), peak/mean ≈ 2.4,
    /// near TAP's peak/mean ≈ 3.
    pub hourly_weights: [f64; 24],
    /// Test targets a change can fan out to. Source: a core library with ~6,600 transitive dependents.
    pub targets: u32,
    /// Shape of the discrete Pareto fan-out law (smaller = heavier tail). Assumption: 0.75, so that most
    /// changes touch a handful of targets (41% touch one, median 2) and a few touch thousands.
    pub fanout_alpha: f64,
    /// Largest fan-out of a change. Source: ~6,600 transitive dependents of the core library.
    pub fanout_max: u32,
    /// Jobs a change's submitter dispatches per second. Assumption: 5/s = 300/min, so that peaks are "a
    /// few hundred per minute" as the source reports.
    pub dispatch_rate_per_s: f64,
    /// Start of the nightly build-the-world, seconds after midnight. Assumption: 02:00.
    pub nightly_at_s: u64,
    /// Targets built by the nightly. Source: "~4,500 targets".
    pub nightly_targets: u32,
    /// Total first-attempt run time of the nightly, hours. Source: "~97 compute-hours".
    pub nightly_compute_hours: f64,
    /// Window over which the nightly is dispatched, s. Assumption: 900 s (300 jobs/min).
    pub nightly_window_s: u64,
    /// Priority of the nightly's jobs. Assumption: 30, below every change.
    pub nightly_priority: u32,
    /// Priority of a one-job change. Source: small changes get higher priority; values assumed.
    pub priority_max: u32,
    /// Priority lost per decade of fan-out (10 jobs: −10, 1,000 jobs: −30). Assumption.
    pub priority_per_decade: f64,
    /// Lowest priority of a change. Assumption: 31.
    pub priority_min: u32,
    /// CPU per job (test + log collector), MHz. Source: default 2,800 MHz per test.
    pub cpu_mhz: u32,
    /// Memory per job, MB. Source: default 3.5 GB per test (3,584 MiB).
    pub memory_mb: u32,
    /// Fraction of targets with a resource multiplier. Assumption: 5% (Java integration tests, some Go
    /// compiles, per the source).
    pub heavy_fraction: f64,
    /// Multipliers of heavy targets, drawn uniformly. Assumption: ×1.5, ×2, ×3.
    pub heavy_multipliers: Vec<f64>,
    /// Median of the targets' median run time, s. Assumption: 45 s.
    pub duration_median_s: f64,
    /// Sigma (log space) of target medians around `duration_median_s`. Assumption: 0.8.
    pub duration_sigma_between: f64,
    /// Sigma (log space) of one run around its target's median. Assumption: 0.3.
    pub duration_sigma_within: f64,
    /// Fraction of runs drawn from the Pareto tail. Assumption: 3%.
    pub tail_fraction: f64,
    /// Threshold of the Pareto tail, s. Assumption: 600 s.
    pub tail_threshold_s: f64,
    /// Shape of the Pareto tail. Assumption: 1.8 (finite mean, infinite variance).
    pub tail_alpha: f64,
    /// Cap on any run, s. Assumption: 4 h (a CI timeout).
    pub duration_max_s: f64,
    /// Fraction of test runs that fail although nothing is wrong. Source: TAP, ~1.5% of test runs.
    pub flaky_rate: f64,
    /// Fraction of targets that are flaky at some rate. Source: TAP, ~16% of tests.
    pub flaky_target_fraction: f64,
    /// Attempts per job including the first (restart/reschedule policy). Assumption: 3.
    pub max_attempts: u32,
    /// Patch image size range, MB (uniform). Source: 1–5 MB.
    pub patch_image_mb: (f64, f64),
    /// Probability of a big patch image. Assumption: 2% ("rarely 100s of MB").
    pub big_patch_probability: f64,
    /// Big patch image size range, MB (uniform). Source: "100s of MB".
    pub big_patch_image_mb: (f64, f64),
}

impl SynthProfile {
    /// The default profile, calibrated to the published monorepo figures.
    pub fn monorepo() -> SynthProfile {
        SynthProfile {
            name: "monorepo".into(),
            jobs_per_day: 60_000,
            daily_volume_cv: 0.04,
            weekend_factor: 1.0,
            hourly_weights: [
                0.3, 0.2, 0.2, 0.2, 0.2, 0.3, 0.6, 1.5, 4.0, 7.0, 8.0, 8.0, 6.0, 7.0, 8.0, 8.0,
                7.0, 5.0, 3.0, 2.0, 1.5, 1.0, 0.6, 0.4,
            ],
            targets: 6_600,
            fanout_alpha: 0.75,
            fanout_max: 6_600,
            dispatch_rate_per_s: 5.0,
            nightly_at_s: 2 * 3600,
            nightly_targets: 4_500,
            nightly_compute_hours: 97.0,
            nightly_window_s: 900,
            nightly_priority: 30,
            priority_max: 70,
            priority_per_decade: 10.0,
            priority_min: 31,
            cpu_mhz: 2_800,
            memory_mb: 3_584,
            heavy_fraction: 0.05,
            heavy_multipliers: vec![1.5, 2.0, 3.0],
            duration_median_s: 45.0,
            duration_sigma_between: 0.8,
            duration_sigma_within: 0.3,
            tail_fraction: 0.03,
            tail_threshold_s: 600.0,
            tail_alpha: 1.8,
            duration_max_s: 4.0 * 3600.0,
            flaky_rate: 0.015,
            flaky_target_fraction: 0.16,
            max_attempts: 3,
            patch_image_mb: (1.0, 5.0),
            big_patch_probability: 0.02,
            big_patch_image_mb: (100.0, 500.0),
        }
    }

    /// Looks a profile up by name (`monorepo`).
    pub fn by_name(name: &str) -> Option<SynthProfile> {
        match name {
            "monorepo" => Some(Self::monorepo()),
            _ => None,
        }
    }

    /// Checks the knobs; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let frac = |v: f64, k: &str| {
            if (0.0..=1.0).contains(&v) {
                Ok(())
            } else {
                Err(format!("{k}: {v} must be within 0..=1"))
            }
        };
        let pos = |v: f64, k: &str| {
            if v > 0.0 && v.is_finite() {
                Ok(())
            } else {
                Err(format!("{k}: {v} must be a positive number"))
            }
        };
        frac(self.flaky_rate, "flaky_rate")?;
        frac(self.tail_fraction, "tail_fraction")?;
        frac(self.heavy_fraction, "heavy_fraction")?;
        frac(self.big_patch_probability, "big_patch_probability")?;
        pos(self.flaky_target_fraction, "flaky_target_fraction")?;
        if self.flaky_rate > self.flaky_target_fraction {
            return Err("flaky_rate must not exceed flaky_target_fraction".into());
        }
        pos(self.fanout_alpha, "fanout_alpha")?;
        pos(self.tail_alpha, "tail_alpha")?;
        pos(self.dispatch_rate_per_s, "dispatch_rate_per_s")?;
        pos(self.duration_median_s, "duration_median_s")?;
        pos(self.tail_threshold_s, "tail_threshold_s")?;
        pos(self.duration_max_s, "duration_max_s")?;
        pos(self.nightly_compute_hours, "nightly_compute_hours")?;
        if !(self.weekend_factor >= 0.0 && self.daily_volume_cv >= 0.0) {
            return Err("weekend_factor and daily_volume_cv must be ≥ 0".into());
        }
        if self
            .hourly_weights
            .iter()
            .any(|w| !(*w >= 0.0 && w.is_finite()))
            || self.hourly_weights.iter().sum::<f64>() <= 0.0
        {
            return Err("hourly_weights must be non-negative with a positive sum".into());
        }
        if self.targets == 0 || self.fanout_max == 0 || self.nightly_targets > self.targets {
            return Err("targets and fanout_max must be ≥ 1, nightly_targets ≤ targets".into());
        }
        if self.nightly_at_s >= 86_400 {
            return Err("nightly_at_s must be within the day".into());
        }
        if self.cpu_mhz == 0 || self.memory_mb == 0 || self.max_attempts == 0 {
            return Err("cpu_mhz, memory_mb and max_attempts must be ≥ 1".into());
        }
        for p in [self.priority_max, self.priority_min, self.nightly_priority] {
            if !(1..=100).contains(&p) {
                return Err(format!("priority {p} must be within 1..=100"));
            }
        }
        if self
            .heavy_multipliers
            .iter()
            .any(|m| !(*m >= 1.0 && m.is_finite()))
        {
            return Err("heavy_multipliers must be ≥ 1".into());
        }
        Ok(())
    }
}

/// Job-level facts shared by the jobs of one change.
struct ChangeInfo<'a> {
    change: &'a str,
    priority: u32,
    image: &'a str,
    image_bytes: u64,
}

/// A target of the build graph, with its fixed properties.
#[derive(Debug, Clone, Copy)]
struct Target {
    median_s: f64,
    multiplier: f64,
    fail_p: f64,
}

fn stream(seed: u64, n: u64) -> ChaCha8Rng {
    let mut r = ChaCha8Rng::seed_from_u64(seed);
    r.set_stream(n);
    r
}

fn normal(rng: &mut ChaCha8Rng) -> f64 {
    rng.sample(StandardNormal)
}

/// U in (0, 1].
fn unit_open0(rng: &mut ChaCha8Rng) -> f64 {
    1.0 - rng.random::<f64>()
}

struct Gen<'p> {
    p: &'p SynthProfile,
    targets: Vec<Target>,
    perm: Vec<u32>,
}

impl Gen<'_> {
    fn run_s(&self, rng: &mut ChaCha8Rng, t: &Target) -> f64 {
        let p = self.p;
        let x = if rng.random::<f64>() < p.tail_fraction {
            p.tail_threshold_s * unit_open0(rng).powf(-1.0 / p.tail_alpha)
        } else {
            t.median_s * (p.duration_sigma_within * normal(rng)).exp()
        };
        x.clamp(0.001, p.duration_max_s)
    }

    /// Attempts of one job: failures (flaky) followed by the final attempt.
    fn attempts(&self, rng: &mut ChaCha8Rng, t: &Target) -> Vec<TraceAlloc> {
        let mut out = Vec::with_capacity(1);
        for k in 0..self.p.max_attempts {
            let run_ns = (self.run_s(rng, t) * NS).round() as u64;
            let failed = rng.random::<f64>() < t.fail_p;
            out.push(TraceAlloc {
                run_ns,
                exit: if failed { Exit::Failed } else { Exit::Ok },
            });
            if !failed || k + 1 == self.p.max_attempts {
                break;
            }
        }
        out
    }

    fn image_bytes(&self, rng: &mut ChaCha8Rng) -> u64 {
        let (lo, hi) = if rng.random::<f64>() < self.p.big_patch_probability {
            self.p.big_patch_image_mb
        } else {
            self.p.patch_image_mb
        };
        let mb = lo + (hi - lo).max(0.0) * rng.random::<f64>();
        (mb * 1e6).round() as u64
    }

    fn job(
        &self,
        submit_ns: u64,
        id: String,
        c: &ChangeInfo<'_>,
        t: u32,
        allocs: Vec<TraceAlloc>,
    ) -> TraceJob {
        let tg = &self.targets[t as usize];
        TraceJob {
            submit_ns,
            id,
            job_type: JobType::Batch,
            priority: c.priority,
            change: Some(c.change.to_string()),
            datacenters: Vec::new(),
            meta: BTreeMap::new(),
            node_pool: None,
            periodic: None,
            groups: vec![TraceGroup {
                name: "ci".into(),
                count: 1,
                cpu_mhz: (self.p.cpu_mhz as f64 * tg.multiplier).round() as u32,
                memory_mb: (self.p.memory_mb as f64 * tg.multiplier).round() as u32,
                tasks: vec!["test".into(), "log-collector".into()],
                image: c.image.to_string(),
                image_bytes: c.image_bytes,
                node_class: None,
                restart: None,
                reschedule: None,
                max_run_ns: None,
                placement: None,
                allocs,
            }],
        }
    }

    /// Picks `n` distinct targets (partial Fisher–Yates over a persistent permutation).
    fn pick(&mut self, rng: &mut ChaCha8Rng, n: usize) -> Vec<u32> {
        let len = self.perm.len();
        let n = n.min(len);
        for k in 0..n {
            let j = rng.random_range(k..len);
            self.perm.swap(k, j);
        }
        self.perm[..n].to_vec()
    }

    fn day(&mut self, seed: u64, day: u32, out: &mut Vec<(u64, u64, TraceJob)>) {
        let p = self.p;
        let mut rng = stream(seed, 1 + day as u64);
        let day0 = day as u64 * DAY_NS;
        let mut seq = out.len() as u64;
        let weekday = if day % 7 >= 5 { p.weekend_factor } else { 1.0 };
        let z = normal(&mut rng).clamp(-2.0, 2.0);
        let volume = (p.jobs_per_day as f64 * weekday * (1.0 + p.daily_volume_cv * z))
            .max(0.0)
            .round() as u64;

        // Nightly build-the-world: durations scaled to the calibrated total.
        let nightly_n = (p.nightly_targets as u64).min(volume) as usize;
        if nightly_n > 0 {
            let change = format!("d{day}-nightly");
            let image = format!("ci-master:d{day}");
            let mut drawn: Vec<(u32, Vec<TraceAlloc>)> = (0..nightly_n as u32)
                .map(|t| (t, self.attempts(&mut rng, &self.targets[t as usize])))
                .collect();
            let first_total: f64 = drawn.iter().map(|(_, a)| a[0].run_ns as f64).sum();
            let scale = p.nightly_compute_hours * 3.6e12 / first_total.max(1.0);
            let slot = p.nightly_window_s as f64 * NS / nightly_n as f64;
            for (k, (t, allocs)) in drawn.iter_mut().enumerate() {
                for a in allocs.iter_mut() {
                    a.run_ns = (a.run_ns as f64 * scale).round().max(1.0) as u64;
                }
                let at = day0
                    + p.nightly_at_s * 1_000_000_000
                    + (k as f64 * slot + rng.random::<f64>() * slot) as u64;
                let id = format!("d{day}-nightly-t{t:04}");
                let info = ChangeInfo {
                    change: &change,
                    priority: p.nightly_priority,
                    image: &image,
                    image_bytes: 0,
                };
                let job = self.job(at, id, &info, *t, std::mem::take(allocs));
                out.push((at, seq, job));
                seq += 1;
            }
        }

        // Changes fill the rest of the volume.
        let mut budget = volume.saturating_sub(nightly_n as u64);
        let mut fanouts = Vec::new();
        while budget > 0 {
            let f = unit_open0(&mut rng)
                .powf(-1.0 / p.fanout_alpha)
                .floor()
                .min(p.fanout_max.min(p.targets) as f64) as u64;
            let f = f.clamp(1, budget);
            fanouts.push(f);
            budget -= f;
        }
        let total_w: f64 = p.hourly_weights.iter().sum();
        let mut times: Vec<u64> = (0..fanouts.len())
            .map(|_| {
                let mut u = rng.random::<f64>() * total_w;
                let mut h = 23;
                for (i, w) in p.hourly_weights.iter().enumerate() {
                    if u < *w {
                        h = i;
                        break;
                    }
                    u -= w;
                }
                day0 + ((h as f64 + rng.random::<f64>()) * 3600.0 * NS) as u64
            })
            .collect();
        times.sort_unstable();
        let slot = NS / p.dispatch_rate_per_s;
        for (c, (f, t0)) in fanouts.iter().zip(&times).enumerate() {
            let change = format!("d{day}-c{c:06}");
            let image = format!("ci-patch:{change}");
            let image_bytes = self.image_bytes(&mut rng);
            let prio =
                (p.priority_max as f64 - p.priority_per_decade * (*f as f64).log10()).round();
            let prio = (prio.max(p.priority_min as f64) as u32).clamp(1, 100);
            let info = ChangeInfo {
                change: &change,
                priority: prio,
                image: &image,
                image_bytes,
            };
            let picked = self.pick(&mut rng, *f as usize);
            for (k, t) in picked.into_iter().enumerate() {
                let at = t0 + (k as f64 * slot + rng.random::<f64>() * slot) as u64;
                let allocs = self.attempts(&mut rng, &self.targets[t as usize]);
                let job = self.job(at, format!("{change}-t{t:04}"), &info, t, allocs);
                out.push((at, seq, job));
                seq += 1;
            }
        }
    }
}

/// Generates `days` days of synthetic monorepo CI traffic from `seed` (see the [module docs](self)).
/// The profile should pass [`SynthProfile::validate`]; out-of-range knobs are clamped, never a panic.
pub fn synth_monorepo(profile: &SynthProfile, days: u32, seed: u64) -> Trace {
    let p = profile;
    let mut rng = stream(seed, 0);
    let n_targets = p.targets.max(1);
    let flaky_p = (p.flaky_rate / p.flaky_target_fraction.max(1e-9)).clamp(0.0, 1.0);
    let targets: Vec<Target> = (0..n_targets)
        .map(|_| {
            let median_s =
                p.duration_median_s * (p.duration_sigma_between * normal(&mut rng)).exp();
            let multiplier =
                if !p.heavy_multipliers.is_empty() && rng.random::<f64>() < p.heavy_fraction {
                    p.heavy_multipliers[rng.random_range(0..p.heavy_multipliers.len())]
                } else {
                    1.0
                };
            let fail_p = if rng.random::<f64>() < p.flaky_target_fraction {
                flaky_p
            } else {
                0.0
            };
            Target {
                median_s,
                multiplier,
                fail_p,
            }
        })
        .collect();
    let mut g = Gen {
        p,
        targets,
        perm: (0..n_targets).collect(),
    };
    let mut all = Vec::with_capacity(p.jobs_per_day as usize * days as usize);
    for d in 0..days {
        g.day(seed, d, &mut all);
    }
    all.sort_unstable_by_key(|(t, s, _)| (*t, *s));
    let jobs: Vec<TraceJob> = all.into_iter().map(|(_, _, j)| j).collect();
    let mut meta = BTreeMap::new();
    meta.insert("profile".into(), p.name.clone());
    meta.insert("days".into(), days.to_string());
    meta.insert("jobs_per_day".into(), p.jobs_per_day.to_string());
    meta.insert(
        "nightly".into(),
        format!(
            "{} targets, {} compute-hours",
            p.nightly_targets, p.nightly_compute_hours
        ),
    );
    meta.insert("flaky_rate".into(), p.flaky_rate.to_string());
    Trace {
        header: TraceHeader {
            version: TRACE_VERSION,
            name: p.name.clone(),
            source: TraceSource::Synth,
            seed: Some(seed),
            start_unix_ns: SIM_EPOCH_UNIX_NS,
            jobs: jobs.len() as u64,
            description: format!(
                "synthetic monorepo CI traffic, {days} day(s), profile `{}`",
                p.name
            ),
            meta,
        },
        jobs,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_profile_is_valid_and_small_runs_are_deterministic() {
        let p = SynthProfile::monorepo();
        p.validate().unwrap();
        let mut small = p.clone();
        small.jobs_per_day = 6_000;
        small.nightly_targets = 450;
        let a = synth_monorepo(&small, 1, 1);
        let b = synth_monorepo(&small, 1, 1);
        assert_eq!(a, b);
        assert_ne!(a, synth_monorepo(&small, 1, 2));
        assert!(a.jobs.windows(2).all(|w| w[0].submit_ns <= w[1].submit_ns));
        let mut bad = p.clone();
        bad.flaky_rate = 2.0;
        assert!(bad.validate().is_err());
    }
}
