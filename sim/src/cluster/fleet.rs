//! The fleet: nodes joining, autoscaling, spot interruptions, leader changes, node status and drain.

use super::*;

pub(super) struct PoolRt {
    pub(super) cfg: PoolConfig,
    pub(super) nodes: Vec<u32>,
    pub(super) booting: u32,
}

impl Cluster {
    /// Injects a spot loss of `fraction` of the ready nodes (optionally of one pool) now.
    pub fn inject_spot_loss(&mut self, fraction: f64, notice: bool, pool: Option<&str>) -> usize {
        let mut cands: Vec<u32> = (0..self.nodes.len() as u32)
            .filter(|&n| {
                let nd = &self.nodes[n as usize];
                !nd.dead
                    && nd.status == NodeStatus::Ready
                    && pool.is_none_or(|p| self.pools[nd.pool as usize].cfg.name == p)
            })
            .collect();
        let k = ((cands.len() as f64) * fraction).round() as usize;
        ranking::shuffle(&mut cands, &mut self.rng_fault);
        let victims: Vec<u32> = cands.into_iter().take(k).collect();
        for &n in &victims {
            if notice {
                self.spot_notice(n);
            } else {
                self.node_death(n, "spot_interruption");
            }
        }
        victims.len()
    }

    /// Makes the leader step down now; another server is elected after `leader_election_us`.
    pub fn inject_leader_change(&mut self) {
        let old = self.leader;
        self.leader = (self.leader + 1) % self.res.len();
        self.election_until = self.now + self.p.leader_election_us * US;
        self.ttl_override_until = self.election_until + self.p.failover_heartbeat_ttl_us * US;
        self.run_events.push(RunEvent {
            t_ns: self.now,
            kind: "leader_change".into(),
            node_id: Some(self.res[self.leader].name.clone()),
            detail: format!(
                "{} stepped down; {} elected",
                self.res[old].name, self.res[self.leader].name
            ),
        });
        self.push(self.election_until, Ev::ElectionDone);
    }

    /// Nodes ready now.
    pub fn nodes_ready(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Ready && !n.dead)
            .count()
    }

    pub(super) fn add_node(&mut self, pool: u32, t: SimTime) -> u32 {
        let idx = self.nodes.len() as u32;
        let pc = self.pools[pool as usize].cfg.clone();
        let images = pc
            .prepulled_images
            .iter()
            .map(|im| {
                let id = self.intern_image(im, 0);
                CachedImage {
                    image: id,
                    in_use: 0,
                    released_at: 0,
                    pinned: true,
                    pulling_until: None,
                }
            })
            .collect();
        let dc = self.dcs.binary_search(&pc.datacenter).unwrap_or(0) as u32;
        let phase = self
            .rng_client
            .random_range(0..self.p.client_update_batch_us.max(1) * US);
        self.nodes.push(Node {
            id: rng::uuid(self.seed, IdKind::Node, idx as u64),
            name: format!("{}-{}", pc.name, self.pools[pool as usize].nodes.len()),
            pool,
            dc,
            cpu_cap: pc.cpu_mhz - pc.reserved_cpu_mhz,
            mem_cap: pc.memory_mb - pc.reserved_memory_mb,
            cpu_used: 0,
            mem_used: 0,
            status: NodeStatus::Initializing,
            eligible: true,
            drain: false,
            dead: false,
            live_allocs: 0,
            total_allocs: 0,
            images,
            flush_scheduled: false,
            pending_updates: Vec::new(),
            joined: t,
            left: None,
            left_reason: "",
            idle_since: t,
            create_index: 0,
            modify_index: 0,
            status_updated_at: t,
            tick_phase: phase,
        });
        self.node_allocs.push(Vec::new());
        self.job_on_node.push(0);
        self.pools[pool as usize].nodes.push(idx);
        if pc.interruption_rate_per_month > 0.0 {
            let rate_per_ns = pc.interruption_rate_per_month / (30.0 * 86_400.0 * 1e9);
            let dt = Exp::new(rate_per_ns)
                .map(|d| d.sample(&mut self.rng_fault))
                .unwrap_or(f64::INFINITY);
            if dt.is_finite() && (t as f64 + dt) < self.max_time as f64 {
                self.push(t + dt as u64, Ev::NodeDeath(idx));
            }
        }
        idx
    }

    pub(super) fn node_ready(&mut self, n: u32) {
        self.raft_index += 1;
        let nd = &mut self.nodes[n as usize];
        nd.status = NodeStatus::Ready;
        nd.joined = self.now;
        nd.idle_since = self.now;
        nd.status_updated_at = self.now;
        nd.create_index = self.raft_index;
        nd.modify_index = self.raft_index;
        if self.now > 0 {
            self.run_events.push(RunEvent {
                t_ns: self.now,
                kind: "node_joined".into(),
                node_id: Some(nd.id.clone()),
                detail: nd.name.clone(),
            });
        }
        if self.record_changes {
            let v = self.node_view(n);
            self.changes.push(ChangeBatch {
                index: self.raft_index,
                time: self.now,
                kind: ChangeKind::NodeRegistration,
                jobs: vec![],
                evals: vec![],
                allocs: vec![],
                nodes: vec![v],
                purged_jobs: vec![],
            });
        }
    }

    pub(super) fn live_pool_nodes(&self, p: &PoolRt) -> usize {
        p.nodes
            .iter()
            .filter(|&&n| {
                !self.nodes[n as usize].dead
                    && self.nodes[n as usize].status != NodeStatus::Initializing
            })
            .count()
    }

    pub(super) fn spot_notice(&mut self, n: u32) {
        let id = self.nodes[n as usize].id.clone();
        self.run_events.push(RunEvent {
            t_ns: self.now,
            kind: "spot_notice".into(),
            node_id: Some(id),
            detail: "2-minute interruption notice; draining".into(),
        });
        self.raft_append(Entry::NodeDrain { node: n });
        self.push(self.now + self.p.spot_notice_us * US, Ev::SpotNotice(n));
    }

    pub(super) fn node_death(&mut self, n: u32, reason: &'static str) {
        let now = self.now;
        let nd = &mut self.nodes[n as usize];
        nd.dead = true;
        nd.left = Some(now);
        nd.left_reason = reason;
        let id = nd.id.clone();
        let name = nd.name.clone();
        if reason == "spot_interruption" {
            self.counters.spot_interruptions += 1;
            self.run_events.push(RunEvent {
                t_ns: now,
                kind: "spot_interruption".into(),
                node_id: Some(id),
                detail: name,
            });
        }
        // Tasks on the node stop with it (truth); the servers find out at detection.
        for &a in &self.node_allocs[n as usize] {
            let al = &mut self.allocs[a as usize];
            if al.client_side == ClientStatus::Running {
                self.running_now -= 1;
            }
        }
        let ttl = if now < self.ttl_override_until {
            self.p.failover_heartbeat_ttl_us * US
        } else {
            self.p.heartbeat_ttl_base_us(self.nodes_ready()) * US
        };
        let d = detection_delay_ns(&mut self.rng_fault, ttl, self.p.heartbeat_grace_us * US);
        self.push(now + d, Ev::NodeDetected(n));
    }

    pub(super) fn node_detected(&mut self, n: u32) {
        if self.nodes[n as usize].status != NodeStatus::Down {
            self.raft_append(Entry::NodeStatus {
                node: n,
                status: NodeStatus::Down,
            });
        }
    }

    pub(super) fn fault(&mut self, i: u32) {
        let f = self.faults[i as usize].clone();
        match f.kind {
            FaultKind::SpotLoss { fraction, notice } => {
                let k = self.inject_spot_loss(fraction, notice, f.pool.as_deref());
                self.run_events.push(RunEvent {
                    t_ns: self.now,
                    kind: "fault".into(),
                    node_id: None,
                    detail: format!(
                        "scripted spot loss: {k} nodes ({:.0}%), notice={notice}",
                        fraction * 100.0
                    ),
                });
            }
            FaultKind::LeaderChange => self.inject_leader_change(),
        }
    }

    pub(super) fn autoscale(&mut self, pi: u32) {
        let Some(a) = self.pools[pi as usize].cfg.autoscale.clone() else {
            return;
        };
        self.push(self.now + a.interval_ns, Ev::AutoscaleTick(pi));
        let pool = &self.pools[pi as usize];
        let live = self.live_pool_nodes(pool) as u32;
        let booting = pool.booting;
        let (cpu_cap, mem_cap) = (
            pool.cfg.cpu_mhz - pool.cfg.reserved_cpu_mhz,
            pool.cfg.memory_mb - pool.cfg.reserved_memory_mb,
        );
        let want_extra = if self.unplaced == 0 {
            0
        } else if a.queue_per_node > 0 {
            self.unplaced.div_ceil(a.queue_per_node as u64) as u32
        } else {
            let by_cpu = self.unplaced_cpu.div_ceil(cpu_cap.max(1) as u64);
            let by_mem = self.unplaced_mem.div_ceil(mem_cap.max(1) as u64);
            by_cpu.max(by_mem).max(1) as u32
        };
        let target = (live + want_extra).clamp(a.min, a.max);
        if target > live + booting {
            let add = target - live - booting;
            for _ in 0..add {
                let n = self.add_node(pi, self.now);
                self.pools[pi as usize].booting += 1;
                self.counters.nodes_added += 1;
                self.push(self.now + a.boot_ns, Ev::NodeReady(n));
            }
            self.run_events.push(RunEvent {
                t_ns: self.now,
                kind: "scale_up".into(),
                node_id: None,
                detail: format!(
                    "{}: +{add} nodes ({} queued allocs)",
                    self.pools[pi as usize].cfg.name, self.unplaced
                ),
            });
        } else if self.unplaced == 0 && booting == 0 {
            let mut removable = live.saturating_sub(a.min);
            let mut removed = 0;
            let list = self.pools[pi as usize].nodes.clone();
            for n in list {
                if removable == 0 {
                    break;
                }
                let nd = &self.nodes[n as usize];
                if !nd.dead
                    && nd.status == NodeStatus::Ready
                    && nd.live_allocs == 0
                    && self.now >= nd.idle_since + a.scale_down_idle_ns
                {
                    self.nodes[n as usize].dead = true;
                    self.nodes[n as usize].left = Some(self.now);
                    self.nodes[n as usize].left_reason = "scale_down";
                    self.raft_append(Entry::NodeStatus {
                        node: n,
                        status: NodeStatus::Down,
                    });
                    removable -= 1;
                    removed += 1;
                }
            }
            if removed > 0 {
                self.run_events.push(RunEvent {
                    t_ns: self.now,
                    kind: "scale_down".into(),
                    node_id: None,
                    detail: format!(
                        "{}: -{removed} idle nodes",
                        self.pools[pi as usize].cfg.name
                    ),
                });
            }
        }
    }

    pub(super) fn apply_node_status(&mut self, n: u32, status: NodeStatus, index: u64) {
        let nd = &mut self.nodes[n as usize];
        if nd.status == status {
            return;
        }
        nd.status = status;
        nd.modify_index = index;
        nd.status_updated_at = self.now;
        let mut changed = Vec::new();
        let mut jobs: Vec<u32> = Vec::new();
        if status == NodeStatus::Down {
            let list = self.node_allocs[n as usize].clone();
            for a in list {
                let al = &self.allocs[a as usize];
                if al.freed
                    || matches!(
                        al.server_status,
                        ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
                    )
                {
                    continue;
                }
                let (j, g, s) = (al.job, al.group as usize, al.slot as usize);
                let al = &mut self.allocs[a as usize];
                al.server_status = ClientStatus::Lost;
                al.client_side = ClientStatus::Lost;
                al.lost = true;
                al.desired = DesiredStatus::Stop;
                al.modify_index = index;
                if al.finished == TIME_NONE {
                    al.finished = self.now;
                }
                self.release_alloc(a);
                changed.push(a);
                let stopped = self.jobs[j as usize].stopped;
                let slot = &mut self.jobs[j as usize].groups[g].slots[s];
                if slot.alloc == a && slot.state == SlotState::Placed && !stopped {
                    slot.state = SlotState::Empty;
                    self.add_unplaced(j, g, 1);
                }
                jobs.push(j);
            }
            let nd = &self.nodes[n as usize];
            self.run_events.push(RunEvent {
                t_ns: self.now,
                kind: "node_down".into(),
                node_id: Some(nd.id.clone()),
                detail: format!("{}: {} allocations lost", nd.name, changed.len()),
            });
        }
        jobs.sort_unstable();
        jobs.dedup();
        if self.record_changes {
            self.emit(
                index,
                ChangeKind::NodeStreamEvent,
                &jobs,
                &[],
                &changed,
                &[n],
            );
        }
        for j in jobs {
            let e = self.create_eval(j, "node-update", n, index);
            self.enqueue_eval(e);
        }
    }

    pub(super) fn apply_node_drain(&mut self, n: u32, index: u64) {
        let nd = &mut self.nodes[n as usize];
        nd.drain = true;
        nd.eligible = false;
        nd.modify_index = index;
        let mut jobs: Vec<u32> = self.node_allocs[n as usize]
            .iter()
            .filter(|&&a| {
                let al = &self.allocs[a as usize];
                !al.freed && al.desired == DesiredStatus::Run
            })
            .map(|&a| self.allocs[a as usize].job)
            .collect();
        jobs.sort_unstable();
        jobs.dedup();
        if self.record_changes {
            self.emit(index, ChangeKind::NodeDrain, &[], &[], &[], &[n]);
        }
        for j in jobs {
            let e = self.create_eval(j, "node-drain", n, index);
            self.enqueue_eval(e);
        }
    }

    /// A scheduled spot interruption: with probability `spot_notice_probability` a 2-minute notice, else death now.
    pub(super) fn on_node_death(&mut self, n: u32) {
        if !self.nodes[n as usize].dead {
            let notice = self.rng_fault.random::<f64>() < self.p.spot_notice_probability;
            if notice {
                self.spot_notice(n)
            } else {
                self.node_death(n, "spot_interruption")
            }
        }
    }

    /// The 2-minute spot notice ran out: the machine goes.
    pub(super) fn on_spot_notice_expired(&mut self, n: u32) {
        if !self.nodes[n as usize].dead {
            self.node_death(n, "spot_interruption")
        }
    }

    /// A booting node (autoscaling) registers.
    pub(super) fn on_node_ready(&mut self, n: u32) {
        let pi = self.nodes[n as usize].pool as usize;
        self.pools[pi].booting = self.pools[pi].booting.saturating_sub(1);
        if !self.nodes[n as usize].dead {
            self.node_ready(n);
            self.capacity_changed();
        }
    }

    /// A new leader is elected: deferred requests arrive, workers and the applier resume.
    pub(super) fn election_done(&mut self) {
        let deferred = std::mem::take(&mut self.deferred_requests);
        for r in deferred {
            self.request_arrive(r);
        }
        self.dispatch_workers();
        self.try_start_applier();
    }
}
