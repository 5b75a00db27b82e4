//! Upper bounds on every count, duration and speed stampede accepts from a user (scenario, trace, jobspec,
//! run record, CLI flag, HTTP request). Each is checked where the value enters, with an error naming the
//! file and key (or the flag): a typo such as `count = 1000000000` must fail in milliseconds, not exhaust
//! memory or overflow a clock.
//!
//! The bounds are generous multiples of the largest published Nomad deployments (C2M: 6,100 clients,
//! 2,000,000 allocations) and of the longest CI capacity runs; raising one is a one-line change here.

/// Most allocations one job may ask for (sum of its groups' counts). The same bound as Nomad's default
/// `job_max_count` (`nomad/structs/structs.go: JobDefaultMaxCount = 50000`, enforced in
/// `nomad/job_endpoint_hooks.go: jobValidate.Validate`).
pub const MAX_JOB_COUNT: u64 = 50_000;

/// Most client nodes in one scenario (all pools, autoscale maxima included) and the largest
/// `plan --max-nodes`: 16× C2M's 6,100 clients.
pub const MAX_NODES: u64 = 100_000;

/// Most jobs in one synthetic workload or trace.
pub const MAX_JOBS: u64 = 10_000_000;

/// Longest duration accepted anywhere (run timeouts, heartbeats, run-record spans, model parameters):
/// 30 days, in seconds. Far below where `Instant + Duration` or nanosecond clocks overflow.
pub const MAX_DURATION_S: u64 = 30 * 24 * 3600;

/// Highest emulator speed (simulated seconds per wall-clock second). Beyond it the core cannot keep up
/// with any non-trivial cluster and the emulator would only fall behind.
pub const MAX_SPEED: f64 = 1_000.0;

/// Lowest and highest open-loop arrival rate, jobs per second (one job per ~11.6 days … a million per second).
pub const MIN_RATE_PER_S: f64 = 1e-6;
/// See [`MIN_RATE_PER_S`].
pub const MAX_RATE_PER_S: f64 = 1e6;
