//! Scheduler workers: dequeue from the broker, compute plans, react to plan results; nack timers.

use super::*;
use crate::placement::DistinctHosts;

#[derive(Debug, Clone)]
pub(super) struct Placement {
    pub(super) group: u16,
    pub(super) slot: u32,
    pub(super) node: NodeIx,
    pub(super) alloc_time_ns: u32,
    pub(super) nodes_evaluated: u32,
    pub(super) prev: Option<AllocIx>,
    /// Moves a live allocation off a draining node (the slot never entered the unplaced queue).
    pub(super) migration: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Plan {
    pub(super) eval: EvalIx,
    pub(super) job: JobIx,
    pub(super) worker: WorkerIx,
    pub(super) token: u64,
    pub(super) priority: u32,
    pub(super) all_at_once: bool,
    pub(super) placements: Vec<Placement>,
    /// (alloc, mark lost)
    pub(super) stops: Vec<(AllocIx, bool)>,
    pub(super) accepted: Vec<bool>,
    pub(super) rejected_nodes: u32,
    pub(super) create_time: SimTime,
    pub(super) failed_tgs: Vec<u16>,
}

#[derive(Debug, Clone, Copy)]
pub(super) struct Worker {
    pub(super) server: u32,
    pub(super) eval: Option<EvalIx>,
    pub(super) token: u64,
    pub(super) attempts: u32,
}

/// The scheduler workers of every server and the eval broker that feeds them.
pub(super) struct Scheduler {
    /// The eval broker (leader).
    pub(super) broker: EvalBroker,
    /// Every worker of every server.
    pub(super) workers: Arena<WorkerIx, Worker>,
    /// Free workers per server (a stack).
    pub(super) free_workers: Vec<Vec<WorkerIx>>,
    /// Node shuffles.
    pub(super) rng: ChaCha8Rng,
    /// Scratch: the feasible nodes of one evaluation, shuffled.
    pub(super) order: Vec<NodeIx>,
    /// What the plan being computed adds on top of the state (reset after each plan).
    pub(super) overlay: Overlay,
}

/// The plan computation's view of the cluster on top of the (read-only) node state: per node, the usage
/// of the placements made so far in this plan and the job's allocations there (existing and planned).
/// Nomad's scheduler likewise plans against a snapshot plus its own plan (`EvalContext.ProposedAllocs`),
/// and only the plan applier reserves resources for real. Dense per-node vectors, reset in O(touched).
#[derive(Debug, Default)]
pub(super) struct Overlay {
    /// Per node: `[cpu, mem, job allocations, disk]` (one bounds check, one cache line per candidate).
    per_node: Vec<[u32; 4]>,
    /// Nodes with `job_allocs > 0` (usage is only ever added on such nodes).
    touched: Vec<NodeIx>,
    /// `(group, node)` of the job's allocations (existing and planned), kept only for a job with
    /// group-level `distinct_hosts` (`DistinctHostsIterator.satisfiesDistinctHosts`).
    groups_on: BTreeSet<(u16, NodeIx)>,
    /// Host ports the plan takes per node: `(static ports, dynamic count)`.
    ports: BTreeMap<NodeIx, (Vec<u16>, u32)>,
}

impl Overlay {
    /// Makes room for `nodes` nodes.
    pub(super) fn ensure(&mut self, nodes: usize) {
        if self.per_node.len() < nodes {
            self.per_node.resize(nodes, [0; 4]);
        }
    }

    /// Counts one allocation of the job on `node` (existing or planned).
    pub(super) fn add_job_alloc(&mut self, node: NodeIx) {
        let e = &mut self.per_node[node.index()];
        if e[2] == 0 {
            self.touched.push(node);
        }
        e[2] += 1;
    }

    /// Adds a planned placement of `cpu`/`mem`/`disk` on `node`.
    pub(super) fn place(&mut self, node: NodeIx, cpu: u32, mem: u32, disk: u32) {
        let e = &mut self.per_node[node.index()];
        e[0] += cpu;
        e[1] += mem;
        e[3] += disk;
        self.add_job_alloc(node);
    }

    /// What the plan adds on `node`: `(cpu, mem, job allocations, disk)`.
    #[inline]
    pub(super) fn at(&self, node: usize) -> (u32, u32, u32, u32) {
        let [c, m, j, d] = self.per_node[node];
        (c, m, j, d)
    }

    /// Takes the host ports `ask` on `node` for the plan being built.
    pub(super) fn place_ports(&mut self, node: NodeIx, ask: &crate::placement::Ports) {
        let e = self.ports.entry(node).or_default();
        e.0.extend_from_slice(&ask.static_ports);
        e.1 += ask.dynamic;
    }

    /// Whether host ports `ask` fit on `node` (committed usage `used`, dynamic range `range`) beside the
    /// ports this plan already takes there ([`feasible::ports_fit`]).
    #[inline]
    pub(super) fn ports_fit(
        &self,
        node: NodeIx,
        used: Option<&feasible::NodePorts>,
        range: (u16, u16),
        ask: &crate::placement::Ports,
    ) -> bool {
        let (ps, pd) = self
            .ports
            .get(&node)
            .map_or((&[][..], 0), |(s, d)| (s.as_slice(), *d));
        feasible::ports_fit(used, range, ask, ps, pd)
    }

    /// Nodes holding at least one of the job's allocations.
    pub(super) fn nodes_with_job(&self) -> usize {
        self.touched.len()
    }

    /// Clears everything the last plan added.
    pub(super) fn reset(&mut self) {
        for n in self.touched.drain(..) {
            self.per_node[n.index()] = [0; 4];
        }
        self.groups_on.clear();
        self.ports.clear();
    }
}

impl Scheduler {
    /// A new evaluation goes to the broker (superseding the job's blocked one) and workers are dispatched.
    pub(super) fn enqueue_eval(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        bl: &mut Blocked,
        e: EvalIx,
    ) {
        let job = st.evals[e].job;
        // A new evaluation supersedes the job's blocked one.
        if let Some(b) = bl.set.remove_job(job) {
            if b != e {
                st.evals[b].status = EvalStatus::Canceled;
            }
        }
        let pr = st.evals[e].priority;
        self.broker.enqueue(e, job, pr);
        self.dispatch(st, cx);
    }

    /// Hands ready evaluations to free workers (none while no leader is elected).
    /// Scheduler workers on each server (every server runs the same number).
    pub(super) fn workers_per_server(&self) -> u32 {
        (self.workers.len() / self.free_workers.len().max(1)) as u32
    }

    pub(super) fn dispatch(&mut self, st: &mut State, cx: &mut Ctx) {
        if cx.now < cx.election_until {
            return;
        }
        while self.broker.ready_len() > 0 {
            // The server with the most free workers takes it (leader first on ties).
            let mut best: Option<usize> = None;
            for s in 0..self.free_workers.len() {
                let si = (cx.leader + s) % self.free_workers.len();
                if !self.free_workers[si].is_empty()
                    && best.is_none_or(|b| self.free_workers[si].len() > self.free_workers[b].len())
                {
                    best = Some(si);
                }
            }
            let Some(s) = best else { break };
            let e = self.broker.dequeue().expect("ready eval");
            let w = self.free_workers[s].pop().expect("free worker");
            let ev = &mut st.evals[e];
            ev.token += 1;
            ev.deliveries += 1;
            let tok = ev.token;
            self.workers[w].eval = Some(e);
            self.workers[w].token = tok;
            self.workers[w].attempts = 0;
            cx.counters.evals_processed += 1;
            self.arm_nack(st, cx, e);
            self.schedule_eval(st, cx, w);
        }
    }

    /// Runs the scheduler for worker `w`'s eval on the current state (the snapshot the pass works on); the
    /// pass's work runs on the worker's server CPU and the plan is submitted when it completes.
    pub(super) fn schedule_eval(&mut self, st: &mut State, cx: &mut Ctx, w: WorkerIx) {
        let e = self.workers[w].eval.expect("a busy worker has an eval");
        let token = self.workers[w].token;
        let (plan, work) = self.compute_plan(st, cx, e, w, token);
        let server = self.workers[w].server as usize;
        let pid = match st.free_plans.pop() {
            Some(i) => {
                st.plans[i] = Some(plan);
                i
            }
            None => st.plans.push(Some(plan)),
        };
        self.workers[w].eval = Some(e);
        cx.cp.busy_workers_ns[server] += cx.scaled(server, work);
        cx.cpu_start(server, work, CpuJob::Worker(pid));
    }

    /// A worker's pass finished on its CPU: the plan reaches the applier, after the `Plan.Submit` RPC to the
    /// leader for a worker on a follower (its `Eval.Dequeue` RPC is folded in here too).
    pub(super) fn pass_done(&mut self, st: &State, cx: &mut Ctx, pid: PlanIx) {
        let w = st.plans[pid].as_ref().expect("plan").worker;
        let rpc = if self.workers[w].server as usize == cx.leader {
            0
        } else {
            cx.p.worker_dequeue_rpc_us * US
        };
        cx.push(cx.now + rpc, Ev::WorkerDone { plan: pid });
    }

    /// Computes the plan of eval `e` for worker `w` from the state now; returns it with its compute time.
    pub(super) fn compute_plan(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        e: EvalIx,
        w: WorkerIx,
        token: u64,
    ) -> (Plan, u64) {
        let j = st.evals[e].job;
        let p = &cx.p;
        let mut cost = p.sched_eval_base_us * US;
        let spec = st.jobs[j].spec.clone();
        let mut plan = Plan {
            eval: e,
            job: j,
            worker: w,
            token,
            priority: spec.priority,
            all_at_once: spec.all_at_once,
            placements: Vec::new(),
            stops: Vec::new(),
            accepted: Vec::new(),
            rejected_nodes: 0,
            create_time: 0,
            failed_tgs: Vec::new(),
        };
        let stopped = st.jobs[j].stopped;
        // Stops: a stopped job stops everything live; draining or down nodes migrate their allocations.
        let mut replace: Vec<(u16, u32, Option<AllocIx>, bool)> = Vec::new();
        for &a in &st.jobs[j].allocs {
            let al = &st.allocs[a];
            if al.terminal() {
                continue;
            }
            if stopped {
                plan.stops.push((a, false));
            } else {
                let nd = &st.nodes[al.node];
                if nd.drain && nd.status == NodeStatus::Ready && !system::per_node(spec.job_type) {
                    plan.stops.push((a, false));
                    replace.push((al.group, al.slot, Some(a), true));
                }
            }
        }
        if stopped {
            return (plan, cost);
        }
        if system::per_node(spec.job_type) {
            return self.compute_system_plan(st, cx, plan, cost, token);
        }
        // Placements: every empty slot, plus migrations.
        let mut wanted: Vec<(u16, u32, Option<AllocIx>, bool)> = Vec::new();
        for (gi, g) in st.jobs[j].groups.iter().enumerate() {
            for (si, s) in g.slots.iter().enumerate() {
                // A slot held by a plan of an earlier (timed-out) delivery is free for this one: that plan
                // will be rejected for its stale token.
                if s.state == SlotState::Empty
                    || (s.state == SlotState::Planned && s.plan_token != token)
                {
                    wanted.push((gi as u16, si as u32, s.alloc, false));
                }
            }
        }
        wanted.extend(replace);
        if wanted.is_empty() {
            return (plan, cost);
        }
        // Feasible nodes, shuffled once per evaluation.
        let dc_filter: Vec<u32> =
            if spec.datacenters.is_empty() || spec.datacenters.iter().any(|d| d == "*") {
                Vec::new()
            } else {
                spec.datacenters
                    .iter()
                    .filter_map(|d| st.dcs.binary_search(d).ok().map(|i| i as u32))
                    .collect()
            };
        self.order.clear();
        // Node pool (Nomad ≥ 1.6): filtered with the datacenters before the shuffle, as
        // `scheduler/util.go: readyNodesInDCsAndPool` does.
        let place = st.jobs[j].place.as_deref();
        let npool_ok = |pool: u32| place.is_none_or(|p| p.pool_admits(pool));
        for (i, n) in st.nodes.iter_enumerated() {
            if n.schedulable()
                && !n.dead
                && (dc_filter.is_empty() || dc_filter.contains(&n.dc))
                && npool_ok(n.pool)
            {
                self.order.push(i);
            }
        }
        // Nodes the servers consider ready even if dead (not yet detected) are included: the scheduler
        // cannot know. (Dead nodes are filtered above only once they are down.)
        for (i, n) in st.nodes.iter_enumerated() {
            if n.dead
                && n.status == NodeStatus::Ready
                && n.eligible
                && !n.drain
                && (dc_filter.is_empty() || dc_filter.contains(&n.dc))
                && npool_ok(n.pool)
            {
                self.order.push(i);
            }
        }
        let mut order = std::mem::take(&mut self.order);
        ranking::shuffle(&mut order, &mut self.rng);
        let n = order.len();
        // Existing allocations of this job per node (anti-affinity collisions).
        let ov = &mut self.overlay;
        ov.ensure(st.nodes.len());
        for &a in &st.jobs[j].allocs {
            let al = &st.allocs[a];
            if !al.terminal() {
                ov.add_job_alloc(al.node);
                if place
                    .is_some_and(|p| p.groups[al.group as usize].distinct == DistinctHosts::Group)
                {
                    ov.groups_on.insert((al.group, al.node));
                }
            }
        }
        // `distinct_property`: allocations of each group per property value, existing and planned
        // (`propertyset.go: propertySet.PopulateProposed`); built only for groups that have one.
        let mut prop_counts: Vec<Vec<BTreeMap<String, u32>>> = Vec::new();
        if let Some(p) = place.filter(|p| p.groups.iter().any(|g| !g.props.is_empty())) {
            prop_counts = p
                .groups
                .iter()
                .map(|g| vec![BTreeMap::new(); g.props.len()])
                .collect();
            for &a in &st.jobs[j].allocs {
                let al = &st.allocs[a];
                if al.terminal() {
                    continue;
                }
                let nd = &st.nodes[al.node];
                let facts = &st.pools[nd.pool as usize].facts;
                for (k, (t, _)) in p.groups[al.group as usize].props.iter().enumerate() {
                    if let Some(v) = t.resolve(facts, (&nd.id, &nd.name)) {
                        *prop_counts[al.group as usize][k]
                            .entry(v.to_string())
                            .or_default() += 1;
                    }
                }
            }
        }
        let mut cursor = 0usize;
        let algorithm = st.algorithm;
        let mut failed_groups: Vec<u16> = Vec::new();
        for (gi, slot, prev, migration) in wanted {
            if failed_groups.contains(&gi) {
                continue;
            }
            let g = &spec.groups[gi as usize];
            let (cpu, mem, disk) = (g.cpu_mhz, g.memory_mb, g.placement().disk_mb());
            let gp = place.map(|p| &p.groups[gi as usize]);
            let cg = gp.and_then(|p| p.cg.as_ref());
            let has_affinity = cg.is_some_and(|c| c.affinity_total > 0.0);
            let lim = ranking::limit(
                spec.job_type,
                spec.spread_block || has_affinity,
                g.count,
                n,
                cx.ver.node_limit.unwrap_or(u32::MAX),
            );
            let ports_ask = gp.and_then(|p| p.spec.as_deref()).map(|p| &p.ports);
            let distinct = gp.map_or(DistinctHosts::Off, |p| p.distinct);
            let st_ports = &st.ports;
            let props = gp.map_or(&[][..], |p| p.props.as_slice());
            let counts = &prop_counts;
            let class = g.node_class.as_deref();
            let count = g.count;
            let nodes = &st.nodes;
            let pools = &st.pools;
            let ovr = &*ov;
            let dc_count = st.dcs.len().max(1) as f64;
            let spread_block = spec.spread_block;
            let placed_so_far = ovr.nodes_with_job() as f64;
            let mut node_work = 0u64;
            let (node_base, scan, live_ns) = (
                p.sched_node_base_ns,
                p.sched_alloc_scan_ns,
                p.sched_live_alloc_ns,
            );
            let sel = ranking::select(n, &mut cursor, lim, |pos| {
                let nix = order[pos];
                let ni = nix.index();
                let nd = &nodes[nix];
                // `AllocsByNode` returns every alloc of the node, terminal ones until GC; the live ones go
                // into the proposed-alloc map and `AllocsFit`.
                node_work +=
                    node_base + nd.total_allocs as u64 * scan + nd.live_allocs as u64 * live_ns;
                // Free capacity as the plan sees it: the state plus the plan's own placements.
                let (oc, om, jobs_here, od) = ovr.at(ni);
                const NO: Candidate = Candidate {
                    fits: false,
                    score: 0.0,
                };
                if !nd.fits(cpu + oc, mem + om)
                    || nd.disk_used + od + disk > nd.disk_cap
                    || class.is_some_and(|c| pools[nd.pool as usize].cfg.node_class != c)
                {
                    return NO;
                }
                // Constraints (class verdicts cached per fleet pool, unique targets per node),
                // distinct_hosts and ports (feasible.rs).
                let pool = nd.pool as usize;
                if let Some(cg) = cg {
                    let unique = (nd.id.as_str(), nd.name.as_str());
                    if !cg.feasible(pool, &pools[pool].facts, unique) {
                        return NO;
                    }
                }
                match distinct {
                    DistinctHosts::Off => {}
                    DistinctHosts::Job if jobs_here > 0 => return NO,
                    DistinctHosts::Group if ovr.groups_on.contains(&(gi, nix)) => return NO,
                    _ => {}
                }
                for (k, (t, limit)) in props.iter().enumerate() {
                    let facts = &pools[pool].facts;
                    match t.resolve(facts, (&nd.id, &nd.name)) {
                        None => return NO,
                        Some(v) => {
                            if counts[gi as usize][k].get(v).copied().unwrap_or(0) >= *limit {
                                return NO;
                            }
                        }
                    }
                }
                if ports_ask.is_some_and(|ask| {
                    !ovr.ports_fit(nix, st_ports.get(ni), pools[pool].cfg.dynamic_ports, ask)
                }) {
                    return NO;
                }
                let (fc, fm) = nd.free_after(cpu + oc, mem + om);
                let mut sum = ranking::fit_score(algorithm, fc, fm);
                let mut k = 1.0;
                if let Some(aa) = ranking::anti_affinity(jobs_here, count) {
                    sum += aa;
                    k += 1.0;
                }
                if let Some(af) =
                    cg.and_then(|c| c.affinity_score(pool, &pools[pool].facts, (&nd.id, &nd.name)))
                {
                    sum += af;
                    k += 1.0;
                }
                if spread_block {
                    // Even spread over datacenters: boost nodes in datacenters below the mean share.
                    let mean = placed_so_far / dc_count;
                    let here = if jobs_here > 0 { 1.0 } else { 0.0 };
                    sum += ((mean - here) / mean.max(1.0)).clamp(-1.0, 1.0);
                    k += 1.0;
                }
                Candidate {
                    fits: true,
                    score: sum / k,
                }
            });
            let step_cost = p.sched_per_alloc_us * US + node_work;
            cost += step_cost;
            match sel.chosen {
                Some(pos) => {
                    let ni = order[pos];
                    ov.place(ni, cpu, mem, disk);
                    if distinct == DistinctHosts::Group {
                        ov.groups_on.insert((gi, ni));
                    }
                    if !props.is_empty() {
                        let nd = &st.nodes[ni];
                        let facts = &st.pools[nd.pool as usize].facts;
                        for (k, (t, _)) in props.iter().enumerate() {
                            if let Some(v) = t.resolve(facts, (&nd.id, &nd.name)) {
                                *prop_counts[gi as usize][k]
                                    .entry(v.to_string())
                                    .or_default() += 1;
                            }
                        }
                    }
                    if let Some(ask) = ports_ask {
                        ov.place_ports(ni, ask);
                    }
                    plan.placements.push(Placement {
                        group: gi,
                        slot,
                        node: ni,
                        alloc_time_ns: step_cost.min(u32::MAX as u64) as u32,
                        nodes_evaluated: sel.examined,
                        prev,
                        migration,
                    });
                }
                None => failed_groups.push(gi),
            }
        }
        // The plan applier reserves for real; the overlay is this plan's alone.
        ov.reset();
        self.order = order;
        plan.failed_tgs = failed_groups;
        for pl in &plan.placements {
            let s = &mut st.jobs[j].groups[pl.group as usize].slots[pl.slot as usize];
            if s.state == SlotState::Empty || s.state == SlotState::Planned {
                s.state = SlotState::Planned;
                s.plan_token = token;
            }
        }
        (plan, cost)
    }

    /// A worker finished computing a plan: drop it (stale token), answer it (empty) or queue it for the applier.
    pub(super) fn worker_done(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        ap: &mut Applier,
        pid: PlanIx,
    ) {
        let plan = st.plans[pid].as_ref().expect("plan");
        let (e, tok) = (plan.eval, plan.token);
        if st.evals[e].token != tok {
            self.abandon(st, cx, pid);
            return;
        }
        if plan.placements.is_empty() && plan.stops.is_empty() {
            self.plan_result(st, cx, pid);
            return;
        }
        let pr = plan.priority;
        self.pause_nack(st, e);
        ap.enqueue(pr, pid);
        ap.try_start(st, cx);
    }

    /// The worker's eval was redelivered elsewhere: its work is dropped and the worker freed.
    pub(super) fn abandon(&mut self, st: &mut State, cx: &mut Ctx, pid: PlanIx) {
        let plan = st.plans[pid].take().expect("plan");
        st.free_plans.push(pid);
        for pl in &plan.placements {
            let s = &mut st.jobs[plan.job].groups[pl.group as usize].slots[pl.slot as usize];
            if s.state == SlotState::Planned && s.plan_token == plan.token {
                s.state = SlotState::Empty;
            }
        }
        self.free_worker(st, cx, plan.worker);
    }

    /// Worker `w` is free again; dispatch.
    pub(super) fn free_worker(&mut self, st: &mut State, cx: &mut Ctx, w: WorkerIx) {
        let s = self.workers[w].server as usize;
        self.workers[w].eval = None;
        self.free_workers[s].push(w);
        self.dispatch(st, cx);
    }

    /// The worker learns its plan's result: re-plan, block, or complete the eval.
    pub(super) fn plan_result(&mut self, st: &mut State, cx: &mut Ctx, pid: PlanIx) {
        let plan = st.plans[pid].take().expect("plan");
        st.free_plans.push(pid);
        let (e, w, tok, j) = (plan.eval, plan.worker, plan.token, plan.job);
        if st.evals[e].token != tok {
            for pl in &plan.placements {
                let s = &mut st.jobs[j].groups[pl.group as usize].slots[pl.slot as usize];
                if s.state == SlotState::Planned && s.plan_token == tok {
                    s.state = SlotState::Empty;
                }
            }
            self.free_worker(st, cx, w);
            return;
        }
        self.arm_nack(st, cx, e);
        // Placements the applier rejected go back to wanting a placement.
        for (i, pl) in plan.placements.iter().enumerate() {
            if !plan.accepted.get(i).copied().unwrap_or(false) {
                let s = &mut st.jobs[j].groups[pl.group as usize].slots[pl.slot as usize];
                if s.state == SlotState::Planned && s.plan_token == tok {
                    s.state = SlotState::Empty;
                }
            }
        }
        let progress = plan.accepted.iter().any(|&a| a);
        let remaining = st.jobs[j]
            .groups
            .iter()
            .map(|g| {
                g.slots
                    .iter()
                    .filter(|s| s.state == SlotState::Empty)
                    .count()
            })
            .sum::<usize>();
        let stopped = st.jobs[j].stopped;
        if plan.rejected_nodes > 0 && remaining > 0 && !stopped {
            let wk = &mut self.workers[w];
            if progress {
                wk.attempts = 0;
            } else {
                wk.attempts += 1;
            }
            let max = match st.jobs[j].spec.job_type {
                JobType::Batch => cx.p.batch_max_attempts,
                JobType::Service => cx.p.service_max_attempts,
                // [src] scheduler/scheduler_system.go `maxSystemScheduleAttempts` = 5 (system and sysbatch).
                JobType::System | JobType::SysBatch => 5,
            };
            if wk.attempts < max {
                // RefreshIndex: re-plan on fresh state, on the same worker.
                cx.cp.replans += 1;
                self.schedule_eval(st, cx, w);
                return;
            }
        }
        let block = remaining > 0 && !stopped;
        st.evals[e].queued = remaining as u32;
        st.evals[e].failed_tgs = plan.failed_tgs.clone();
        let desc = if block {
            format!("{remaining} allocations could not be placed")
        } else {
            String::new()
        };
        cx.raft_append(Entry::EvalUpdate {
            eval: e,
            worker: w,
            token: tok,
            status: EvalStatus::Complete,
            block,
            desc,
        });
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_eval_update(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        bl: &mut Blocked,
        e: EvalIx,
        w: WorkerIx,
        tok: u64,
        status: EvalStatus,
        block: bool,
        desc: String,
        index: u64,
    ) {
        if st.evals[e].token != tok {
            self.free_worker(st, cx, w);
            return;
        }
        let job = st.evals[e].job;
        let ev = &mut st.evals[e];
        ev.status = status;
        ev.status_description = desc;
        ev.modify_index = index;
        ev.modify_time = cx.now;
        ev.token += 1;
        ev.nack_seq += 1; // disarms the nack timer
        let mut changed = vec![e];
        if block
            && status == EvalStatus::Complete
            && st.evals[e].triggered_by == TriggeredBy::QueuedAllocs
        {
            // An unblocked eval that still cannot place is re-blocked as it is ([src] `Worker.ReblockEval`).
            let ev = &mut st.evals[e];
            ev.status = EvalStatus::Blocked;
            let pr = st.evals[e].priority;
            let ask = st.job_min_ask(job);
            if let Some(old) = bl.set.reblock(job, e, pr, ask) {
                if old != e {
                    st.evals[old].status = EvalStatus::Canceled;
                }
            }
            bl.capacity_check_after_block(cx);
        } else if block && status == EvalStatus::Complete {
            let b = st.create_eval(job, TriggeredBy::QueuedAllocs, None, index, cx.now);
            st.evals[b].status = EvalStatus::Blocked;
            st.evals[b].previous_eval = Some(e);
            st.evals[e].blocked_eval = Some(b);
            let pr = st.evals[b].priority;
            let ask = st.job_min_ask(job);
            if let Some(old) = bl.set.block(job, b, pr, ask) {
                st.evals[old].status = EvalStatus::Canceled;
            }
            cx.counters.evals_blocked += 1;
            changed.push(b);
            bl.capacity_check_after_block(cx);
        }
        if status == EvalStatus::Failed {
            cx.counters.evals_failed += 1;
        }
        views::emit_evals(st, cx, index, &changed);
        self.broker.ack(job);
        self.free_worker(st, cx, w);
    }

    /// (Re)starts the eval's nack timer.
    pub(super) fn arm_nack(&mut self, st: &mut State, cx: &mut Ctx, e: EvalIx) {
        let ev = &mut st.evals[e];
        ev.nack_seq += 1;
        let seq = ev.nack_seq;
        cx.push(
            cx.now + cx.p.broker_nack_timeout_us * US,
            Ev::NackTimeout { eval: e, seq },
        );
    }

    /// Nomad pauses the nack timer while the eval's plan sits in the plan queue (`PauseNackTimeout`).
    pub(super) fn pause_nack(&mut self, st: &mut State, e: EvalIx) {
        st.evals[e].nack_seq += 1;
    }

    /// The nack timer of eval `e` fired (if `seq` is still current): redeliver later, or fail the eval.
    pub(super) fn nack_timeout(&mut self, st: &mut State, cx: &mut Ctx, e: EvalIx, seq: u64) {
        let ev = &mut st.evals[e];
        if ev.nack_seq != seq || ev.status != EvalStatus::Pending {
            return;
        }
        // The worker is too slow: the eval is redelivered; the worker's plan will be rejected.
        ev.token += 1;
        cx.counters.nacks += 1;
        self.broker.nack();
        let job = ev.job;
        if ev.deliveries >= cx.p.broker_delivery_limit {
            ev.status = EvalStatus::Failed;
            ev.status_description = "evaluation reached delivery limit (3)".into();
            cx.counters.evals_failed += 1;
            self.broker.fail(job);
            self.dispatch(st, cx);
        } else {
            let delay = if ev.deliveries == 1 {
                cx.p.broker_initial_nack_delay_us
            } else {
                cx.p.broker_subsequent_nack_delay_us
            };
            cx.push(cx.now + delay * US, Ev::Redeliver { eval: e });
        }
    }

    /// A nacked evaluation is handed back to the broker after its nack delay.
    pub(super) fn redeliver(&mut self, st: &mut State, cx: &mut Ctx, e: EvalIx) {
        let (pr, status) = (st.evals[e].priority, st.evals[e].status);
        if status == EvalStatus::Pending {
            self.broker.requeue(e, pr);
            self.dispatch(st, cx);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit;
    use super::*;

    #[test]
    fn plan_sees_its_own_placements_but_leaves_node_usage_alone() {
        let mut c = testkit::cluster(2);
        let (j, e) = testkit::add_job(&mut c.st, testkit::spec("j", 2, 600, false));
        let Cluster { st, cx, sched, .. } = &mut c;
        let (plan, cost) = sched.compute_plan(st, cx, e, WorkerIx::new(0), 0);
        let mut nodes: Vec<u32> = plan.placements.iter().map(|p| p.node.raw()).collect();
        nodes.sort_unstable();
        assert_eq!(
            nodes,
            vec![0, 1],
            "600 + 600 > 1000: the overlay spreads them"
        );
        assert!(
            st.nodes.iter().all(|n| n.cpu_used == 0),
            "live usage untouched"
        );
        assert!(cost >= cx.p.sched_eval_base_us * US);
        let slots = &st.jobs[j].groups[0].slots;
        assert!(slots.iter().all(|s| s.state == SlotState::Planned));
    }

    #[test]
    fn a_group_that_cannot_place_fails_once() {
        let mut c = testkit::cluster(1);
        let (_, e) = testkit::add_job(&mut c.st, testkit::spec("j", 3, 600, false));
        let Cluster { st, cx, sched, .. } = &mut c;
        let (plan, _) = sched.compute_plan(st, cx, e, WorkerIx::new(0), 0);
        assert_eq!(plan.placements.len(), 1);
        assert_eq!(plan.failed_tgs, vec![0]);
    }

    #[test]
    fn stale_nack_timer_is_ignored() {
        let mut c = testkit::cluster(1);
        let (_, e) = testkit::add_job(&mut c.st, testkit::spec("j", 1, 100, false));
        let Cluster { st, cx, sched, .. } = &mut c;
        sched.arm_nack(st, cx, e);
        let seq = st.evals[e].nack_seq;
        sched.pause_nack(st, e);
        sched.nack_timeout(st, cx, e, seq);
        assert_eq!(cx.counters.nacks, 0, "paused timer: stale");
        sched.nack_timeout(st, cx, e, st.evals[e].nack_seq);
        assert_eq!(cx.counters.nacks, 1);
    }
}
