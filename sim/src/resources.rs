//! Server resources: a CPU model and a memory model per server, sampled once per simulated second into
//! [`MetricRow`]s, so CPU %, RSS and Raft IO come out as time series like the real harness measures them.
//!
//! **CPU**: busy time is charged to the server doing the work — scheduler workers (eval compute) to their
//! own server; plan verification, heartbeats and client-update RPC decoding to the leader; FSM apply to
//! every server (each applies every committed entry). A second's CPU % is what Nomad's
//! `process_cpu_seconds_total` (the Go process collector: utime + stime from procfs) gives per second over
//! `runtime.NumCPU()` vCPUs (`helper/goruntime/runtime.go:RuntimeStats` `cpu_count`, the denominator every
//! real run's record uses): the second's work `busy × cpu_overhead_factor` in core-equivalents mapped to
//! the vCPUs it keeps busy ([`ServerRes::vcpus_busy`]), over the vCPUs, capped at 100. **Memory**: every server holds the full
//! replicated state: `(mem_base + nodes·mem_per_node + jobs·mem_per_job + allocs·mem_per_alloc +
//! evals·mem_per_eval) × mem_gc_factor` (no state GC is modelled, so RSS grows with allocations, as C2M saw).

use crate::params::ModelParams;
use crate::record::MetricRow;

/// Per-server accumulators.
#[derive(Debug, Clone, Default)]
pub struct ServerRes {
    /// Server name.
    pub name: String,
    /// Core-equivalents of full-load throughput, rounded up (the workers' parallelism).
    pub cores: u32,
    /// vCPUs (`runtime.NumCPU()`, the `cores` run.json lists); 0 = `cores`, no SMT.
    pub vcpus: u32,
    /// Physical cores (vCPUs / 2 with SMT); 0 = `vcpus`.
    pub physical: u32,
    /// Full-load throughput in core-equivalents (physical + SMT siblings at their yield); 0 = `vcpus`.
    pub capacity: f64,
    /// Busy ns charged in the current second.
    pub busy_ns: u64,
    /// Busy ns charged over the run (before runtime overhead: the control plane's `total_s`).
    pub busy_ns_total: u64,
    /// CPU seconds the OS charged over the closed seconds (the rows' CPU % × vCPUs, summed): with the
    /// open second's work, `process_cpu_seconds_total`.
    pub cpu_s_closed: f64,
    /// Heartbeats handled in the current second (fractional accumulation).
    pub heartbeats: f64,
    /// Heartbeats handled over the run.
    pub heartbeats_total: f64,
}

impl ServerRes {
    /// vCPUs kept busy while the server delivers `core_eq` core-equivalents of work, i.e. the CPU time the
    /// OS charges per second (a thread is charged its wall time on a vCPU, whatever its hyperthread sibling
    /// does). The scheduler spreads runnable threads over idle physical cores first (Linux CFS balances
    /// across the SMT domain before doubling up), so up to the physical cores each core-equivalent is one
    /// busy vCPU; past them each further busy vCPU adds only the sibling's yield, until every vCPU is busy
    /// at full capacity. Without SMT the map is the identity.
    pub fn vcpus_busy(&self, core_eq: f64) -> f64 {
        let v = if self.vcpus == 0 {
            self.cores.max(1)
        } else {
            self.vcpus
        } as f64;
        let p = if self.physical == 0 {
            v
        } else {
            self.physical as f64
        };
        let cap = if self.capacity > 0.0 {
            self.capacity
        } else {
            v
        };
        let busy = if core_eq <= p || cap <= p {
            core_eq
        } else {
            p + (core_eq - p) * (v - p) / (cap - p)
        };
        busy.clamp(0.0, v)
    }

    /// `process_cpu_seconds_total` now: the closed seconds' CPU time and the open second's work (at the
    /// light-load rate: a partial second's rate is not known yet).
    pub fn cpu_seconds_total(&self, overhead: f64) -> f64 {
        self.cpu_s_closed + self.busy_ns as f64 * overhead / 1e9
    }

    /// vCPUs (`runtime.NumCPU()`).
    pub fn vcpu_count(&self) -> u32 {
        if self.vcpus == 0 {
            self.cores.max(1)
        } else {
            self.vcpus
        }
    }
}

/// State sizes feeding the memory model.
#[derive(Debug, Clone, Copy, Default)]
pub struct StateSize {
    /// Nodes registered (not GC'd).
    pub nodes: u64,
    /// Jobs.
    pub jobs: u64,
    /// Allocations.
    pub allocs: u64,
    /// Evaluations.
    pub evals: u64,
}

/// Resident memory of a server holding `s`, bytes.
pub fn rss_bytes(p: &ModelParams, s: StateSize) -> f64 {
    let live = p.mem_base_bytes as f64
        + s.nodes as f64 * p.mem_per_node_bytes as f64
        + s.jobs as f64 * p.mem_per_job_bytes as f64
        + s.allocs as f64 * p.mem_per_alloc_bytes as f64
        + s.evals as f64 * p.mem_per_eval_bytes as f64;
    live * p.mem_gc_factor
}

/// Raft state bytes in a snapshot (live state without the GC factor).
pub fn state_bytes(p: &ModelParams, s: StateSize) -> u64 {
    (rss_bytes(p, s) / p.mem_gc_factor) as u64
}

/// Cluster-wide quantities sampled at the end of a second.
#[derive(Debug, Clone, Copy, Default)]
pub struct SecondSample {
    /// Leader index.
    pub leader: usize,
    /// State sizes.
    pub state: StateSize,
    /// Raft bytes written this second (every server writes the log).
    pub raft_bytes: f64,
    /// Fsyncs this second.
    pub fsyncs: f64,
    /// Broker ready.
    pub broker_ready: f64,
    /// Broker unacked.
    pub broker_unacked: f64,
    /// Blocked evals.
    pub blocked: f64,
    /// Plan queue depth.
    pub plan_queue: f64,
    /// Plan node rejections this second.
    pub rejections: f64,
    /// Placements committed this second.
    pub placements: f64,
    /// Nodes ready.
    pub nodes_ready: f64,
    /// Allocations running.
    pub allocs_running: f64,
}

/// Closes second `t_s`: turns the accumulators into one row per server and resets them.
pub fn close_second(
    p: &ModelParams,
    servers: &mut [ServerRes],
    t_s: u64,
    s: &SecondSample,
    out: &mut Vec<MetricRow>,
) {
    let rss = rss_bytes(p, s.state);
    for (i, sv) in servers.iter_mut().enumerate() {
        let leader = i == s.leader;
        let work = sv.busy_ns as f64 * p.cpu_overhead_factor / 1e9;
        let os_s = sv.vcpus_busy(work);
        sv.cpu_s_closed += os_s;
        let cpu = (os_s / sv.vcpu_count() as f64 * 100.0).min(100.0);
        let hb = sv.heartbeats.floor();
        sv.heartbeats -= hb;
        out.push(MetricRow {
            t_s,
            server: sv.name.clone(),
            leader,
            cpu_pct: Some((cpu * 1000.0).round() / 1000.0),
            rss_bytes: Some(rss.round()),
            raft_bytes_written: Some(s.raft_bytes),
            fsyncs: Some(s.fsyncs),
            broker_ready: Some(if leader { s.broker_ready } else { 0.0 }),
            broker_unacked: Some(if leader { s.broker_unacked } else { 0.0 }),
            broker_blocked: Some(if leader { s.blocked } else { 0.0 }),
            plan_queue_depth: Some(if leader { s.plan_queue } else { 0.0 }),
            plan_node_rejections: Some(if leader { s.rejections } else { 0.0 }),
            placements: Some(if leader { s.placements } else { 0.0 }),
            heartbeats: Some(hb),
            gc_pause_ms_max: None,
            nodes_ready: Some(s.nodes_ready),
            allocs_running: Some(s.allocs_running),
        });
        sv.busy_ns = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn c2m_idle_rss_is_about_3_5_gb() {
        let p = ModelParams::default();
        let rss = rss_bytes(
            &p,
            StateSize {
                nodes: 6_100,
                ..Default::default()
            },
        );
        // C2M: "3.5 GB before any work, mostly node state"; mem_gc_factor inflates live state.
        assert!(rss > 3.3e9 && rss < 3.8e9, "{rss}");
        let empty = rss_bytes(&p, StateSize::default());
        assert!(empty < 100e6, "< 100 MB live with no nodes: {empty}");
    }

    #[test]
    fn cpu_percent_is_capped_and_per_core() {
        let p = ModelParams::default();
        let mut s = vec![ServerRes {
            name: "a".into(),
            cores: 4,
            busy_ns: 2_000_000_000,
            ..Default::default()
        }];
        let mut rows = Vec::new();
        close_second(&p, &mut s, 0, &SecondSample::default(), &mut rows);
        let expect = 2e9 * p.cpu_overhead_factor / 4e9 * 100.0;
        assert!((rows[0].cpu_pct.unwrap() - expect).abs() < 1e-6);
        assert_eq!(s[0].busy_ns, 0);
    }

    /// An 8-vCPU SMT server (4 cores, siblings at 25 %: 5 core-equivalents): light load is a share of the
    /// 8 vCPUs Nomad reports (`cpu_count`), as `process_cpu_seconds_total` over them measures it; past the
    /// physical cores the siblings fill up, and full capacity is 100 %.
    #[test]
    fn cpu_percent_is_of_the_vcpus_with_smt_siblings_filling_last() {
        let p = ModelParams {
            cpu_overhead_factor: 1.0,
            ..ModelParams::default()
        };
        let pct = |core_eq: f64| {
            let mut s = vec![ServerRes {
                name: "a".into(),
                cores: 5,
                vcpus: 8,
                physical: 4,
                capacity: 5.0,
                busy_ns: (core_eq * 1e9) as u64,
                ..Default::default()
            }];
            let mut rows = Vec::new();
            close_second(&p, &mut s, 0, &SecondSample::default(), &mut rows);
            rows[0].cpu_pct.unwrap()
        };
        assert!((pct(0.05) - 0.625).abs() < 1e-3, "{}", pct(0.05));
        assert!((pct(4.0) - 50.0).abs() < 1e-3);
        assert!((pct(4.5) - 75.0).abs() < 1e-3);
        assert!((pct(5.0) - 100.0).abs() < 1e-3);
        assert_eq!(pct(7.0), 100.0);
    }
}
