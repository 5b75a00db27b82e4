//! The fleet: nodes joining, autoscaling, spot interruptions, leader changes, node status and drain.

use super::*;

/// A node pool at run time.
pub(super) struct PoolRt {
    /// Its configuration.
    pub(super) cfg: PoolConfig,
    /// What its nodes offer to constraints (`${attr.*}`, `${meta.*}`, class, datacenter, node pool).
    pub(super) facts: Arc<crate::placement::NodeFacts>,
    /// Every node of the pool that ever joined.
    pub(super) nodes: Vec<NodeIx>,
    /// Nodes booting (autoscaling).
    pub(super) booting: u32,
}

/// The fleet's own state: scripted faults and the fault stream.
pub(super) struct Fleet {
    /// Scripted faults of the scenario.
    pub(super) faults: Vec<crate::scenario::FaultConfig>,
    /// Spot interruptions, victims, detection delays.
    pub(super) rng: ChaCha8Rng,
}

impl Fleet {
    /// Injects a spot loss of `fraction` of the ready nodes (optionally of one pool) now.
    pub(super) fn inject_spot_loss(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        fraction: f64,
        notice: bool,
        pool: Option<&str>,
    ) -> usize {
        let mut cands: Vec<NodeIx> = st
            .nodes
            .keys()
            .filter(|&n| {
                let nd = &st.nodes[n];
                !nd.dead
                    && nd.status == NodeStatus::Ready
                    && pool.is_none_or(|p| st.pools[nd.pool as usize].cfg.name == p)
            })
            .collect();
        let k = ((cands.len() as f64) * fraction).round() as usize;
        ranking::shuffle(&mut cands, &mut self.rng);
        let victims: Vec<NodeIx> = cands.into_iter().take(k).collect();
        for &n in &victims {
            if notice {
                self.spot_notice(st, cx, n);
            } else {
                self.node_death(st, cx, n, "spot_interruption");
            }
        }
        victims.len()
    }

    /// Makes the leader step down now; another server is elected after `leader_election_us`.
    pub(super) fn inject_leader_change(&mut self, cx: &mut Ctx) {
        let old = cx.leader;
        cx.leader = (cx.leader + 1) % cx.res.len();
        cx.election_until = cx.now + cx.p.leader_election_us * US;
        cx.ttl_override_until = cx.election_until + cx.p.failover_heartbeat_ttl_us * US;
        cx.run_events.push(RunEvent {
            t_ns: cx.now,
            kind: "leader_change".into(),
            node_id: Some(cx.res[cx.leader].name.clone()),
            detail: format!(
                "{} stepped down; {} elected",
                cx.res[old].name, cx.res[cx.leader].name
            ),
        });
        cx.push(cx.election_until, Ev::ElectionDone);
    }

    /// A node of `pool` boots at `t` (status initializing); draws its spot interruption time.
    pub(super) fn add_node(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        client_rng: &mut ChaCha8Rng,
        pool: u32,
        t: SimTime,
    ) -> NodeIx {
        let idx = st.nodes.next_ix();
        let pc = st.pools[pool as usize].cfg.clone();
        let images = pc
            .prepulled_images
            .iter()
            .map(|im| {
                let id = st.intern_image(im, 0);
                CachedImage {
                    image: id,
                    in_use: 0,
                    released_at: 0,
                    pinned: true,
                    pulling_until: None,
                }
            })
            .collect();
        let dc = st.dcs.binary_search(&pc.datacenter).unwrap_or(0) as u32;
        let phase = client_rng.random_range(0..cx.p.client_update_batch_us.max(1) * US);
        st.nodes.push(Node {
            id: rng::uuid(st.seed, IdKind::Node, idx.raw() as u64),
            name: format!("{}-{}", pc.name, st.pools[pool as usize].nodes.len()),
            pool,
            dc,
            cpu_cap: pc.cpu_mhz - pc.reserved_cpu_mhz,
            mem_cap: pc.memory_mb - pc.reserved_memory_mb,
            cpu_used: 0,
            mem_used: 0,
            disk_cap: pc.disk_mb,
            disk_used: 0,
            status: NodeStatus::Initializing,
            eligible: true,
            drain: false,
            dead: false,
            live_allocs: 0,
            total_allocs: 0,
            images,
            flush_at: None,
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
        st.node_allocs.push(Vec::new());
        st.pools[pool as usize].nodes.push(idx);
        if pc.interruption_rate_per_month > 0.0 {
            let rate_per_ns = pc.interruption_rate_per_month / (30.0 * 86_400.0 * 1e9);
            let dt = Exp::new(rate_per_ns)
                .map(|d| d.sample(&mut self.rng))
                .unwrap_or(f64::INFINITY);
            if dt.is_finite() && (t as f64 + dt) < cx.max_time as f64 {
                cx.push(t + dt as u64, Ev::NodeDeath { node: idx });
            }
        }
        idx
    }

    pub(super) fn spot_notice(&mut self, st: &mut State, cx: &mut Ctx, n: NodeIx) {
        let id = st.nodes[n].id.clone();
        cx.run_events.push(RunEvent {
            t_ns: cx.now,
            kind: "spot_notice".into(),
            node_id: Some(id),
            detail: "2-minute interruption notice; draining".into(),
        });
        cx.raft_append(Entry::NodeDrain { node: n });
        cx.push(
            cx.now + cx.p.spot_notice_us * US,
            Ev::SpotNotice { node: n },
        );
    }

    pub(super) fn node_death(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        n: NodeIx,
        reason: &'static str,
    ) {
        let now = cx.now;
        let nd = &mut st.nodes[n];
        nd.dead = true;
        nd.left = Some(now);
        nd.left_reason = reason;
        let id = nd.id.clone();
        let name = nd.name.clone();
        if reason == "spot_interruption" {
            cx.counters.spot_interruptions += 1;
            cx.run_events.push(RunEvent {
                t_ns: now,
                kind: "spot_interruption".into(),
                node_id: Some(id),
                detail: name,
            });
        }
        // Tasks on the node stop with it (truth); the servers find out at detection.
        for &a in &st.node_allocs[n] {
            let al = &mut st.allocs[a];
            if al.client_side == ClientStatus::Running {
                st.running_now -= 1;
            }
        }
        let ttl = if now < cx.ttl_override_until {
            cx.p.failover_heartbeat_ttl_us * US
        } else {
            cx.p.heartbeat_ttl_base_us(st.nodes_ready()) * US
        };
        let d = detection_delay_ns(&mut self.rng, ttl, cx.p.heartbeat_grace_us * US);
        cx.push(now + d, Ev::NodeDetected { node: n });
    }

    pub(super) fn node_detected(&mut self, st: &mut State, cx: &mut Ctx, n: NodeIx) {
        if st.nodes[n].status != NodeStatus::Down {
            cx.raft_append(Entry::NodeStatus {
                node: n,
                status: NodeStatus::Down,
            });
        }
    }

    pub(super) fn fault(&mut self, st: &mut State, cx: &mut Ctx, i: u32) {
        let f = self.faults[i as usize].clone();
        match f.kind {
            FaultKind::SpotLoss { fraction, notice } => {
                let k = self.inject_spot_loss(st, cx, fraction, notice, f.pool.as_deref());
                cx.run_events.push(RunEvent {
                    t_ns: cx.now,
                    kind: "fault".into(),
                    node_id: None,
                    detail: format!(
                        "scripted spot loss: {k} nodes ({:.0}%), notice={notice}",
                        fraction * 100.0
                    ),
                });
            }
            FaultKind::LeaderChange => self.inject_leader_change(cx),
        }
    }

    /// The autoscaler of pool `pi` ticks: add nodes for queued work, or remove idle ones.
    pub(super) fn autoscale(&mut self, st: &mut State, cx: &mut Ctx, cl: &mut Clients, pi: u32) {
        let Some(a) = st.pools[pi as usize].cfg.autoscale.clone() else {
            return;
        };
        cx.push(cx.now + a.interval_ns, Ev::AutoscaleTick { pool: pi });
        let pool = &st.pools[pi as usize];
        let live = st.live_pool_nodes(pool) as u32;
        let booting = pool.booting;
        let (cpu_cap, mem_cap) = (
            pool.cfg.cpu_mhz - pool.cfg.reserved_cpu_mhz,
            pool.cfg.memory_mb - pool.cfg.reserved_memory_mb,
        );
        let want_extra = if st.unplaced == 0 {
            0
        } else if a.queue_per_node > 0 {
            st.unplaced.div_ceil(a.queue_per_node as u64) as u32
        } else {
            let by_cpu = st.unplaced_cpu.div_ceil(cpu_cap.max(1) as u64);
            let by_mem = st.unplaced_mem.div_ceil(mem_cap.max(1) as u64);
            by_cpu.max(by_mem).max(1) as u32
        };
        let target = (live + want_extra).clamp(a.min, a.max);
        if target > live + booting {
            let add = target - live - booting;
            for _ in 0..add {
                let n = self.add_node(st, cx, &mut cl.rng, pi, cx.now);
                st.pools[pi as usize].booting += 1;
                cx.counters.nodes_added += 1;
                cx.push(cx.now + a.boot_ns, Ev::NodeReady { node: n });
            }
            cx.run_events.push(RunEvent {
                t_ns: cx.now,
                kind: "scale_up".into(),
                node_id: None,
                detail: format!(
                    "{}: +{add} nodes ({} queued allocs)",
                    st.pools[pi as usize].cfg.name, st.unplaced
                ),
            });
        } else if st.unplaced == 0 && booting == 0 {
            let mut removable = live.saturating_sub(a.min);
            let mut removed = 0;
            let list = st.pools[pi as usize].nodes.clone();
            for n in list {
                if removable == 0 {
                    break;
                }
                let nd = &st.nodes[n];
                if !nd.dead
                    && nd.status == NodeStatus::Ready
                    && nd.live_allocs == 0
                    && cx.now >= nd.idle_since + a.scale_down_idle_ns
                {
                    st.nodes[n].dead = true;
                    st.nodes[n].left = Some(cx.now);
                    st.nodes[n].left_reason = "scale_down";
                    cx.raft_append(Entry::NodeStatus {
                        node: n,
                        status: NodeStatus::Down,
                    });
                    removable -= 1;
                    removed += 1;
                }
            }
            if removed > 0 {
                cx.run_events.push(RunEvent {
                    t_ns: cx.now,
                    kind: "scale_down".into(),
                    node_id: None,
                    detail: format!("{}: -{removed} idle nodes", st.pools[pi as usize].cfg.name),
                });
            }
        }
    }

    /// A scheduled spot interruption: with probability `spot_notice_probability` a 2-minute notice, else death now.
    pub(super) fn on_node_death(&mut self, st: &mut State, cx: &mut Ctx, n: NodeIx) {
        if !st.nodes[n].dead {
            let notice = self.rng.random::<f64>() < cx.p.spot_notice_probability;
            if notice {
                self.spot_notice(st, cx, n)
            } else {
                self.node_death(st, cx, n, "spot_interruption")
            }
        }
    }

    /// The 2-minute spot notice ran out: the machine goes.
    pub(super) fn on_spot_notice_expired(&mut self, st: &mut State, cx: &mut Ctx, n: NodeIx) {
        if !st.nodes[n].dead {
            self.node_death(st, cx, n, "spot_interruption")
        }
    }
}

/// A node registers (ready): a Raft index, a run event after t = 0, a change batch.
pub(super) fn node_ready(st: &mut State, cx: &mut Ctx, n: NodeIx) {
    cx.raft_index += 1;
    let nd = &mut st.nodes[n];
    nd.status = NodeStatus::Ready;
    nd.joined = cx.now;
    nd.idle_since = cx.now;
    nd.status_updated_at = cx.now;
    nd.create_index = cx.raft_index;
    nd.modify_index = cx.raft_index;
    if cx.now > 0 {
        cx.run_events.push(RunEvent {
            t_ns: cx.now,
            kind: "node_joined".into(),
            node_id: Some(nd.id.clone()),
            detail: nd.name.clone(),
        });
    }
    if cx.record_changes {
        let v = views::node_view(st, n);
        cx.changes.push(ChangeBatch {
            index: cx.raft_index,
            time: cx.now,
            kind: ChangeKind::NodeRegistration,
            jobs: vec![],
            evals: vec![],
            allocs: vec![],
            nodes: vec![v],
            purged_jobs: vec![],
        });
    }
}

/// The FSM applies a node status change; a node going down loses its allocations (replacements follow).
pub(super) fn apply_node_status(
    st: &mut State,
    cx: &mut Ctx,
    sched: &mut Scheduler,
    bl: &mut Blocked,
    n: NodeIx,
    status: NodeStatus,
    index: u64,
) {
    let nd = &mut st.nodes[n];
    if nd.status == status {
        return;
    }
    nd.status = status;
    nd.modify_index = index;
    nd.status_updated_at = cx.now;
    let mut changed = Vec::new();
    let mut jobs: Vec<JobIx> = Vec::new();
    if status == NodeStatus::Down {
        let list = st.node_allocs[n].clone();
        for a in list {
            let al = &st.allocs[a];
            if al.freed
                || matches!(
                    al.server_status,
                    ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
                )
            {
                continue;
            }
            let (j, g, s) = (al.job, al.group as usize, al.slot as usize);
            let al = &mut st.allocs[a];
            al.server_status = ClientStatus::Lost;
            al.client_side = ClientStatus::Lost;
            al.lost = true;
            al.desired = DesiredStatus::Stop;
            al.modify_index = index;
            if al.finished.is_none() {
                al.finished = Some(Stamp::at(cx.now));
            }
            st.release_alloc(a, cx.now);
            changed.push(a);
            let stopped = st.jobs[j].stopped;
            let next = system::lost_slot_state(st, j);
            let slot = &mut st.jobs[j].groups[g].slots[s];
            if slot.alloc == Some(a) && slot.state == SlotState::Placed && !stopped {
                slot.state = next;
                if next == SlotState::Empty {
                    st.add_unplaced(j, g, 1);
                }
            }
            jobs.push(j);
        }
        let nd = &st.nodes[n];
        cx.run_events.push(RunEvent {
            t_ns: cx.now,
            kind: "node_down".into(),
            node_id: Some(nd.id.clone()),
            detail: format!("{}: {} allocations lost", nd.name, changed.len()),
        });
    }
    jobs.sort_unstable();
    jobs.dedup();
    if cx.record_changes {
        views::emit(
            st,
            cx,
            index,
            ChangeKind::NodeStreamEvent,
            ChangeSet {
                jobs: &jobs,
                allocs: &changed,
                nodes: &[n],
                ..Default::default()
            },
        );
    }
    for j in jobs {
        let e = st.create_eval(j, TriggeredBy::NodeUpdate, Some(n), index, cx.now);
        sched.enqueue_eval(st, cx, bl, e);
    }
}

/// The FSM applies a drain: the node becomes ineligible and each job on it gets an evaluation.
pub(super) fn apply_node_drain(
    st: &mut State,
    cx: &mut Ctx,
    sched: &mut Scheduler,
    bl: &mut Blocked,
    n: NodeIx,
    index: u64,
) {
    let nd = &mut st.nodes[n];
    nd.drain = true;
    nd.eligible = false;
    nd.modify_index = index;
    let mut jobs: Vec<JobIx> = st.node_allocs[n]
        .iter()
        .filter(|&&a| {
            let al = &st.allocs[a];
            !al.freed && al.desired == DesiredStatus::Run
        })
        .map(|&a| st.allocs[a].job)
        .collect();
    jobs.sort_unstable();
    jobs.dedup();
    if cx.record_changes {
        views::emit(
            st,
            cx,
            index,
            ChangeKind::NodeDrain,
            ChangeSet {
                nodes: &[n],
                ..Default::default()
            },
        );
    }
    for j in jobs {
        let e = st.create_eval(j, TriggeredBy::NodeDrain, Some(n), index, cx.now);
        sched.enqueue_eval(st, cx, bl, e);
    }
}

/// A booting node (autoscaling) registers.
pub(super) fn on_node_ready(st: &mut State, cx: &mut Ctx, bl: &mut Blocked, n: NodeIx) {
    let pi = st.nodes[n].pool as usize;
    st.pools[pi].booting = st.pools[pi].booting.saturating_sub(1);
    if !st.nodes[n].dead {
        node_ready(st, cx, n);
        system::node_registered(st, cx, n);
        bl.capacity_changed(cx);
    }
}

/// A new leader is elected: deferred requests arrive, workers and the applier resume.
pub(super) fn election_done(
    st: &mut State,
    cx: &mut Ctx,
    rq: &mut Requests,
    sched: &mut Scheduler,
    ap: &mut Applier,
) {
    let deferred = std::mem::take(&mut rq.deferred);
    for r in deferred {
        rq.arrive(st, cx, r);
    }
    sched.dispatch(st, cx);
    ap.try_start(st, cx);
}

impl State {
    /// Nodes of pool `p` that have registered and are not gone.
    pub(super) fn live_pool_nodes(&self, p: &PoolRt) -> usize {
        p.nodes
            .iter()
            .filter(|&&n| !self.nodes[n].dead && self.nodes[n].status != NodeStatus::Initializing)
            .count()
    }

    /// Nodes ready now.
    pub(super) fn nodes_ready(&self) -> usize {
        self.nodes
            .iter()
            .filter(|n| n.status == NodeStatus::Ready && !n.dead)
            .count()
    }
}
