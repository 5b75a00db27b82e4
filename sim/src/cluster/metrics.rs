//! Per-second metric rows and live server gauges.

use super::*;

/// Telemetry: the per-second metric rows and the counters they are deltas of.
pub(super) struct Telemetry {
    /// Metric rows closed so far.
    pub(super) rows: Vec<MetricRow>,
    /// Raft bytes written at the last row.
    pub(super) last_raft_bytes: u64,
    /// Fsyncs at the last row.
    pub(super) last_fsyncs: u64,
    /// When the next row closes.
    pub(super) next_second: SimTime,
    /// Model heartbeat load on the leader.
    pub(super) heartbeats: bool,
}

impl Cluster {
    /// Sizes the metric-row storage for a run whose submissions end `secs` seconds in (plus an hour to
    /// drain): one row per server per second, reserved once instead of grown by doubling, which on a
    /// replayed day copied and page-faulted ~70 MB more than the rows need. Changes no output; a longer
    /// run still grows as before.
    pub fn reserve_metric_seconds(&mut self, secs: u64) {
        let rows = (secs.saturating_add(3600) as usize).saturating_mul(self.cx.res.len());
        let rows = rows.min(1 << 24);
        self.tel
            .rows
            .reserve_exact(rows.saturating_sub(self.tel.rows.len()));
    }

    /// Sizes the allocation arena for `n` allocations (capped at 16 M; a run that makes more, e.g. by
    /// rescheduling, still grows as before). Changes no output.
    pub fn reserve_allocs(&mut self, n: u64) {
        let n = n.min(1 << 24) as usize;
        self.st
            .allocs
            .reserve_exact(n.saturating_sub(self.st.allocs.len()));
    }

    /// Live gauges of every server, as `/v1/metrics` would report them now.
    pub fn server_gauges(&self) -> Vec<ServerGauges> {
        let (st, cx) = (&self.st, &self.cx);
        let (sched, ap, bl) = (&self.sched, &self.ap, &self.bl);
        let state = st.state_size();
        let rss = resources::rss_bytes(&cx.p, state);
        let entries = cx.raft.entries.max(1) as f64;
        cx.res
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let leader = i == cx.leader;
                ServerGauges {
                    name: r.name.clone(),
                    leader,
                    cpu_seconds_total: r.cpu_seconds_total(cx.p.cpu_overhead_factor),
                    rss_bytes: rss,
                    raft_bytes_written_total: cx.raft.bytes_written as f64,
                    fsyncs_total: cx.raft.fsyncs as f64,
                    raft_applied_total: cx.raft.entries as f64,
                    raft_last_index: cx.raft_index,
                    broker_ready: if leader {
                        sched.broker.ready_len() as f64
                    } else {
                        0.0
                    },
                    broker_unacked: if leader {
                        sched.broker.unacked_len() as f64
                    } else {
                        0.0
                    },
                    blocked_evals: if leader { bl.set.len() as f64 } else { 0.0 },
                    plan_queue_depth: if leader { ap.queue.len() as f64 } else { 0.0 },
                    plan_node_rejected_total: if leader {
                        cx.counters.plan_node_rejections as f64
                    } else {
                        0.0
                    },
                    heartbeats_total: if leader { r.heartbeats_total } else { 0.0 },
                    placements_total: if leader {
                        cx.counters.placements as f64
                    } else {
                        0.0
                    },
                    raft_commit_time_ms: cx.raft.commit_ns_sum as f64 / entries / 1e6,
                    plan_evaluate_ms: 0.0,
                    plan_apply_ms: 0.0,
                    plans_submitted_total: if leader {
                        cx.cp.plans_submitted as f64
                    } else {
                        0.0
                    },
                    evals_processed_total: if leader {
                        cx.counters.evals_processed as f64
                    } else {
                        0.0
                    },
                    raft_leader_writes_total: if leader {
                        cx.raft.leader_writes() as f64
                    } else {
                        0.0
                    },
                    workers_busy_s: cx.cp.busy_workers_ns[i] as f64 / 1e9,
                    applier_busy_s: cx.cp.busy_applier_ns[i] as f64 / 1e9,
                    fsm_busy_s: cx.cp.busy_fsm_ns[i] as f64 / 1e9,
                }
            })
            .collect()
    }
}

impl State {
    /// Sizes of the state (for memory and snapshot models).
    pub(super) fn state_size(&self) -> StateSize {
        StateSize {
            nodes: self
                .nodes
                .iter()
                .filter(|n| n.status != NodeStatus::Initializing)
                .count() as u64,
            jobs: self.jobs.len() as u64 - self.gc.jobs,
            allocs: self.allocs.len() as u64 - self.gc.allocs - self.egc.allocs,
            evals: self.evals.len() as u64 - self.gc.evals - self.egc.evals,
        }
    }
}

impl Telemetry {
    /// Closes the second that ends now into a metric row; schedules the next.
    pub(super) fn second(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        sched: &Scheduler,
        ap: &Applier,
        bl: &Blocked,
    ) {
        let t_s = cx.now / SEC - 1;
        let ready = st.nodes_ready();
        if self.heartbeats && ready > 0 {
            let rate = ready as f64 / (mean_heartbeat_ttl_ns(&cx.p, ready) / 1e9);
            let leader = cx.leader;
            cx.res[leader].heartbeats += rate;
            cx.res[leader].heartbeats_total += rate;
            let cost = (rate * cx.p.heartbeat_cpu_us as f64 * 1_000.0) as u64;
            cx.charge_leader(cost);
        }
        cx.cpu_second();
        let sample = SecondSample {
            leader: cx.leader,
            state: st.state_size(),
            raft_bytes: (cx.raft.bytes_written - self.last_raft_bytes) as f64,
            fsyncs: (cx.raft.fsyncs - self.last_fsyncs) as f64,
            broker_ready: sched.broker.ready_len() as f64,
            broker_unacked: sched.broker.unacked_len() as f64,
            blocked: bl.set.len() as f64,
            plan_queue: ap.queue.len() as f64,
            rejections: cx.sec_rejections as f64,
            placements: cx.sec_placements as f64,
            nodes_ready: ready as f64,
            allocs_running: st.running_now as f64,
        };
        self.last_raft_bytes = cx.raft.bytes_written;
        self.last_fsyncs = cx.raft.fsyncs;
        cx.sec_placements = 0;
        cx.sec_rejections = 0;
        resources::close_second(&cx.p, &mut cx.res, t_s, &sample, &mut self.rows);
        self.next_second = cx.now + SEC;
        cx.q.push(self.next_second, Ev::Second);
    }
}
