//! Per-second metric rows and live server gauges.

use super::*;

impl Cluster {
    /// Live gauges of every server, as `/v1/metrics` would report them now.
    pub fn server_gauges(&self) -> Vec<ServerGauges> {
        let state = self.state_size();
        let rss = resources::rss_bytes(&self.p, state);
        let entries = self.raft.entries.max(1) as f64;
        self.res
            .iter()
            .enumerate()
            .map(|(i, r)| {
                let leader = i == self.leader;
                ServerGauges {
                    name: r.name.clone(),
                    leader,
                    cpu_seconds_total: r.busy_ns_total as f64 * self.p.cpu_overhead_factor / 1e9,
                    rss_bytes: rss,
                    raft_bytes_written_total: self.raft.bytes_written as f64,
                    fsyncs_total: self.raft.fsyncs as f64,
                    raft_applied_total: self.raft.entries as f64,
                    raft_last_index: self.raft_index,
                    broker_ready: if leader {
                        self.broker.ready_len() as f64
                    } else {
                        0.0
                    },
                    broker_unacked: if leader {
                        self.broker.unacked_len() as f64
                    } else {
                        0.0
                    },
                    blocked_evals: if leader {
                        self.blocked.len() as f64
                    } else {
                        0.0
                    },
                    plan_queue_depth: if leader {
                        self.plan_queue.len() as f64
                    } else {
                        0.0
                    },
                    plan_node_rejected_total: if leader {
                        self.counters.plan_node_rejections as f64
                    } else {
                        0.0
                    },
                    heartbeats_total: if leader { r.heartbeats_total } else { 0.0 },
                    placements_total: if leader {
                        self.counters.placements as f64
                    } else {
                        0.0
                    },
                    raft_commit_time_ms: self.raft.commit_ns_sum as f64 / entries / 1e6,
                    plan_evaluate_ms: 0.0,
                    plan_apply_ms: 0.0,
                }
            })
            .collect()
    }

    pub(super) fn state_size(&self) -> StateSize {
        StateSize {
            nodes: self
                .nodes
                .iter()
                .filter(|n| n.status != NodeStatus::Initializing)
                .count() as u64,
            jobs: self.jobs.len() as u64,
            allocs: self.allocs.len() as u64,
            evals: self.evals.len() as u64,
        }
    }

    pub(super) fn second(&mut self) {
        let t_s = self.now / SEC - 1;
        let ready = self.nodes_ready();
        if self.heartbeats && ready > 0 {
            let rate = ready as f64 / (mean_heartbeat_ttl_ns(&self.p, ready) / 1e9);
            let leader = self.leader;
            self.res[leader].heartbeats += rate;
            self.res[leader].heartbeats_total += rate;
            let cost = (rate * self.p.heartbeat_cpu_us as f64 * 1_000.0) as u64;
            self.res[leader].busy_ns += cost;
            self.res[leader].busy_ns_total += cost;
        }
        let sample = SecondSample {
            leader: self.leader,
            state: self.state_size(),
            raft_bytes: (self.raft.bytes_written - self.last_raft_bytes) as f64,
            fsyncs: (self.raft.fsyncs - self.last_fsyncs) as f64,
            broker_ready: self.broker.ready_len() as f64,
            broker_unacked: self.broker.unacked_len() as f64,
            blocked: self.blocked.len() as f64,
            plan_queue: self.plan_queue.len() as f64,
            rejections: self.sec_rejections as f64,
            placements: self.sec_placements as f64,
            nodes_ready: ready as f64,
            allocs_running: self.running_now as f64,
        };
        self.last_raft_bytes = self.raft.bytes_written;
        self.last_fsyncs = self.raft.fsyncs;
        self.sec_placements = 0;
        self.sec_rejections = 0;
        resources::close_second(&self.p, &mut self.res, t_s, &sample, &mut self.metrics);
        self.next_second = self.now + SEC;
        self.q.push(self.next_second, Ev::Second);
    }
}
