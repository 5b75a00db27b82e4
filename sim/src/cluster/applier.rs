//! The plan queue and the plan applier: evaluate, sign identities, dispatch to Raft with up to
//! `plan_apply_pipeline` plans in flight, apply.
//!
//! [src] `nomad/plan_apply.go:planner.planApply`: the applier dequeues a plan, evaluates it against a
//! snapshot that includes the plans already dispatched (`evaluatePlan`, node by node: `evaluateNodePlan`),
//! signs one workload identity per allocation × task (`signAllocIdentities`, 1.4+), then dispatches it to
//! Raft; before 2.0.5 it waits for the previous plan's apply before dispatching the next (depth 1), from
//! 2.0.5 up to `plan_apply_pipeline` plans may be outstanding (`for inFlightPlans >= maxPipelineDepth
//! { <-planIndexCh }`). The evaluate + sign work runs on the leader's CPU (`cpu.rs`).

use super::client::lognormal;
use super::*;

/// The leader's plan queue and its single plan applier.
pub(super) struct Applier {
    /// Plans waiting, highest priority first, then FIFO: `(priority, seq, plan)`.
    pub(super) queue: BTreeSet<(Reverse<u32>, u64, PlanIx)>,
    /// FIFO counter of the queue.
    pub(super) seq: u64,
    /// Verifying a plan now.
    pub(super) busy: bool,
    /// Plans dispatched to Raft and not yet applied.
    pub(super) inflight: u32,
    /// A verified plan waiting for room in the pipeline.
    pub(super) waiting: Option<PlanIx>,
}

impl Applier {
    pub(super) fn new() -> Self {
        Applier {
            queue: BTreeSet::new(),
            seq: 0,
            busy: false,
            inflight: 0,
            waiting: None,
        }
    }

    /// Queues a plan submitted by a worker.
    pub(super) fn enqueue(&mut self, priority: u32, pid: PlanIx) {
        self.queue.insert((Reverse(priority), self.seq, pid));
        self.seq += 1;
    }

    /// Starts verifying the next queued plan, if the applier is free and a leader is elected.
    pub(super) fn try_start(&mut self, st: &mut State, cx: &mut Ctx) {
        if self.busy || self.waiting.is_some() || cx.now < cx.election_until {
            return;
        }
        let Some((_, _, pid)) = self.queue.pop_first() else {
            return;
        };
        let stale = {
            let plan = st.plans[pid].as_ref().expect("plan");
            st.evals[plan.eval].token != plan.token
        };
        let mut plan = st.plans[pid].take().expect("plan");
        let mut nodes_in_plan: Vec<NodeIx> = plan.placements.iter().map(|p| p.node).collect();
        nodes_in_plan.sort_unstable();
        nodes_in_plan.dedup();
        // Evaluate: a fixed cost, then per node a snapshot read and `AllocsFit` over its live allocations.
        let mut work = cx.p.plan_verify_base_us * US;
        for &n in &nodes_in_plan {
            work += cx.p.plan_verify_node_ns
                + st.nodes[n].live_allocs as u64 * cx.p.sched_live_alloc_ns;
        }
        plan.accepted = vec![false; plan.placements.len()];
        if !stale {
            // Verify node by node against current state (which includes verified in-flight plans).
            let mut reject_node: Vec<NodeIx> = Vec::new();
            let spec = st.jobs[plan.job].spec.clone();
            for (i, pl) in plan.placements.iter().enumerate() {
                let g = &spec.groups[pl.group as usize];
                let nd = &st.nodes[pl.node];
                if reject_node.contains(&pl.node) {
                    continue;
                }
                // AllocsFit over CPU, memory, disk and ports (feasible.rs, `State::fits_now`).
                if nd.status == NodeStatus::Ready
                    && nd.eligible
                    && !nd.drain
                    && st.fits_now(pl.node, g)
                {
                    st.reserve(pl.node, g);
                    plan.accepted[i] = true;
                } else {
                    reject_node.push(pl.node);
                }
            }
            // A node rejected part-way rejects all its placements in this plan.
            if !reject_node.is_empty() {
                for (i, pl) in plan.placements.iter().enumerate() {
                    if plan.accepted[i] && reject_node.contains(&pl.node) {
                        st.unreserve(pl.node, &spec.groups[pl.group as usize]);
                        plan.accepted[i] = false;
                    }
                }
                if plan.all_at_once {
                    for (i, pl) in plan.placements.iter().enumerate() {
                        if plan.accepted[i] {
                            st.unreserve(pl.node, &spec.groups[pl.group as usize]);
                            plan.accepted[i] = false;
                        }
                    }
                    plan.stops.clear();
                }
                plan.rejected_nodes = reject_node.len() as u32;
                cx.counters.plan_node_rejections += reject_node.len() as u64;
                cx.sec_rejections += reject_node.len() as u64;
            }
        } else {
            plan.stops.clear();
            plan.rejected_nodes = nodes_in_plan.len() as u32;
        }
        // Sign one identity per accepted allocation × task, serially, before the dispatch.
        let sign_each = match cx.ver.signing {
            Signing::None => 0,
            Signing::Ed25519 => cx.p.sign_ed25519_us * US,
            Signing::Rs256 => cx.p.sign_rs256_us * US,
        };
        if sign_each > 0 {
            let spec = &st.jobs[plan.job].spec;
            let sigs: u64 = plan
                .placements
                .iter()
                .zip(&plan.accepted)
                .filter(|(_, &a)| a)
                .map(|(pl, _)| spec.groups[pl.group as usize].tasks.len().max(1) as u64)
                .sum();
            cx.cp.signatures += sigs;
            work += sigs * sign_each;
        }
        cx.cp.plans_submitted += 1;
        if plan.rejected_nodes > 0 {
            cx.cp.plans_rejected += 1;
        }
        st.plans[pid] = Some(plan);
        self.busy = true;
        let l = cx.leader;
        cx.cp.busy_applier_ns[l] += cx.scaled(l, work);
        cx.cpu_start(l, work, CpuJob::Verify(pid));
    }

    /// A plan is evaluated and signed: dispatch it to Raft now if the pipeline has room, else when it has.
    pub(super) fn verify_done(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        sched: &mut Scheduler,
        pid: PlanIx,
    ) {
        self.busy = false;
        if self.inflight >= cx.ver.plan_apply_pipeline.max(1) {
            self.waiting = Some(pid);
        } else {
            self.submit_plan(st, cx, sched, pid);
            self.try_start(st, cx);
        }
    }

    pub(super) fn submit_plan(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        sched: &mut Scheduler,
        pid: PlanIx,
    ) {
        let plan = st.plans[pid].as_mut().expect("plan");
        plan.create_time = cx.now;
        let nothing = !plan.accepted.iter().any(|&a| a) && plan.stops.is_empty();
        if nothing {
            sched.plan_result(st, cx, pid);
            return;
        }
        // Size and FSM work of the plan result from its allocations' shapes.
        let spec = &st.jobs[plan.job].spec;
        let (mut extra_bytes, mut fsm_ns, mut allocs) = (0u64, 0u64, 0u64);
        for (pl, _) in plan
            .placements
            .iter()
            .zip(&plan.accepted)
            .filter(|(_, &a)| a)
        {
            let tasks = spec.groups[pl.group as usize].tasks.len().max(1) as u64;
            extra_bytes += cx.identity_bytes(tasks);
            fsm_ns += cx.plan_alloc_ns(tasks);
            allocs += 1;
        }
        for &(a, _) in &plan.stops {
            let tasks = spec.groups[st.allocs[a].group as usize].tasks.len().max(1) as u64;
            fsm_ns += cx.plan_alloc_ns(tasks);
            allocs += 1;
        }
        self.inflight += 1;
        cx.cp.max_plans_in_flight = cx.cp.max_plans_in_flight.max(self.inflight);
        cx.raft_append(Entry::Plan {
            plan: pid,
            allocs,
            extra_bytes,
            fsm_ns,
        });
    }

    /// The FSM applies a plan result: stops free resources, accepted placements become allocations.
    #[allow(clippy::too_many_arguments)]
    pub(super) fn apply_plan(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        sched: &mut Scheduler,
        bl: &mut Blocked,
        cl: &mut Clients,
        pid: PlanIx,
        index: u64,
    ) {
        self.inflight = self.inflight.saturating_sub(1);
        if let Some(wp) = self.waiting.take() {
            self.submit_plan(st, cx, sched, wp);
        }
        let plan = st.plans[pid].take().expect("plan");
        let j = plan.job;
        let mut changed_allocs: Vec<AllocIx> = Vec::new();
        // Stops (and lost marks) free resources at commit.
        for &(a, lost) in &plan.stops {
            let al = &mut st.allocs[a];
            al.desired = DesiredStatus::Stop;
            al.modify_index = index;
            al.modify_time = plan.create_time;
            if lost {
                al.server_status = ClientStatus::Lost;
            }
            st.release_alloc(a, cx.now);
            let (node, g, s) = {
                let al = &st.allocs[a];
                (al.node, al.group as usize, al.slot as usize)
            };
            if !st.nodes[node].dead {
                cx.push(
                    cx.now + (cx.p.client_notice_us + cx.p.client_kill_us) * US,
                    Ev::AllocKilled { alloc: a },
                );
            }
            let stopped = st.jobs[j].stopped;
            let slot = &mut st.jobs[j].groups[g].slots[s];
            if slot.alloc == Some(a) && slot.state == SlotState::Placed {
                slot.state = if stopped {
                    SlotState::Done
                } else {
                    SlotState::Empty
                };
            }
            changed_allocs.push(a);
        }
        let spec = st.jobs[j].spec.clone();
        let mut placed = 0u64;
        for (i, pl) in plan.placements.iter().enumerate() {
            let slot_state = st.jobs[j].groups[pl.group as usize].slots[pl.slot as usize].state;
            if !plan.accepted[i] {
                let sl = &mut st.jobs[j].groups[pl.group as usize].slots[pl.slot as usize];
                if slot_state == SlotState::Planned && sl.plan_token == plan.token {
                    sl.state = SlotState::Empty;
                }
                continue;
            }
            let g = &spec.groups[pl.group as usize];
            let a = st.allocs.next_ix();
            let (run_ns, recorded_ok) = match &g.run {
                RunPlan::Model { duration, .. } => (
                    match *duration {
                        RunDuration::Forever => None,
                        RunDuration::Fixed(d) => Some(Nanos::ns(d)),
                        RunDuration::LogNormal { median_ns, sigma } => {
                            Some(Nanos::ns(lognormal(&mut cl.rng, median_ns, sigma)))
                        }
                    },
                    None,
                ),
                RunPlan::Recorded(v) => {
                    if v.is_empty() {
                        (Some(Nanos::ns(0)), Some(true))
                    } else {
                        // A replacement of a failed allocation replays the next recorded replacement
                        // outcome (entries at `count + k`); first attempts (and replacements of lost
                        // allocations, whose work restarts) replay entry `slot % len`.
                        let replacing_failed = pl
                            .prev
                            .is_some_and(|p| st.allocs[p].server_status == ClientStatus::Failed);
                        let grt = &mut st.jobs[j].groups[pl.group as usize];
                        let next = (g.count + grt.replacements_used) as usize;
                        let idx = if replacing_failed && next < v.len() {
                            grt.replacements_used += 1;
                            next
                        } else {
                            pl.slot as usize % v.len()
                        };
                        let (d, ok) = v[idx];
                        (Some(Nanos::ns(d)), Some(ok))
                    }
                }
            };
            let rescheduled = pl.prev.is_some();
            st.allocs.push(Alloc {
                job: j,
                group: pl.group,
                slot: pl.slot,
                node: pl.node,
                eval: plan.eval,
                cpu: g.cpu_mhz,
                mem: g.memory_mb,
                disk: g.placement().disk_mb(),
                create_time: plan.create_time,
                modify_time: plan.create_time,
                received: None,
                started: None,
                finished: None,
                create_index: index,
                modify_index: index,
                client_side: ClientStatus::Pending,
                server_status: ClientStatus::Pending,
                desired: DesiredStatus::Run,
                prev: pl.prev,
                next: None,
                restarts: 0,
                restart_window: None,
                restarts_in_window: 0,
                rescheduled,
                lost: false,
                freed: false,
                alloc_time_ns: pl.alloc_time_ns,
                nodes_evaluated: pl.nodes_evaluated,
                run_ns,
                recorded_ok,
                attempt: 0,
                collected: false,
            });
            if let Some(p) = g.placement.as_ref().filter(|p| !p.ports.is_empty()) {
                st.alloc_ports.insert(a, p.clone());
            }
            if let Some(p) = pl.prev {
                st.allocs[p].next = Some(a);
            }
            let slot = &mut st.jobs[j].groups[pl.group as usize].slots[pl.slot as usize];
            slot.state = SlotState::Placed;
            slot.alloc = Some(a);
            st.jobs[j].allocs.push(a);
            st.node_allocs[pl.node].push(a);
            let nd = &mut st.nodes[pl.node];
            nd.live_allocs += 1;
            nd.total_allocs += 1;
            changed_allocs.push(a);
            placed += 1;
            let jitter = (cl.rng.random::<f64>() * cx.p.client_notice_us as f64 * 0.5) as u64 * US;
            cx.push(
                cx.now + cx.p.client_notice_us * US + jitter,
                Ev::AllocNotice { alloc: a },
            );
        }
        // Unplaced counts: placements leave the queue (migrations did not enter it).
        let mut by_group: BTreeMap<u16, u64> = BTreeMap::new();
        for (i, pl) in plan.placements.iter().enumerate() {
            if plan.accepted[i] && !pl.migration {
                *by_group.entry(pl.group).or_default() += 1;
            }
        }
        for (g, n) in by_group {
            st.sub_unplaced(j, g as usize, n);
        }
        cx.counters.placements += placed;
        cx.counters.plans_applied += 1;
        cx.sec_placements += placed;
        st.jobs[j].modify_index = index;
        let e = plan.eval;
        st.evals[e].modify_index = index;
        if cx.record_changes {
            views::emit(
                st,
                cx,
                index,
                ChangeKind::PlanResult,
                ChangeSet {
                    jobs: &[j],
                    evals: &[e],
                    allocs: &changed_allocs,
                    ..Default::default()
                },
            );
        }
        if !plan.stops.is_empty() {
            bl.capacity_changed(cx);
        }
        st.plans[pid] = Some(plan);
        sched.plan_result(st, cx, pid);
        self.try_start(st, cx);
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit;
    use super::*;

    /// Verifies plan `pid` now (what `try_start` does first) and returns it.
    fn verify(c: &mut Cluster, pid: PlanIx) -> &Plan {
        let pr = c.st.plans[pid].as_ref().unwrap().priority;
        c.ap.enqueue(pr, pid);
        c.ap.try_start(&mut c.st, &mut c.cx);
        assert!(c.ap.busy, "the applier took the plan");
        c.st.plans[pid].as_ref().unwrap()
    }

    #[test]
    fn partial_commit_rejects_whole_nodes_only() {
        let mut c = testkit::cluster(2);
        let (_, e) = testkit::add_job(&mut c.st, testkit::spec("j", 3, 600, false));
        // Slot 0 fits on node 0; node 1 gets two placements of 600 MHz on 1000: the second does not fit,
        // so node 1 is rejected as a whole (both its placements), node 0 commits.
        let pid = testkit::plan(&mut c.st, e, 0, &[0, 1, 1]);
        let plan = verify(&mut c, pid);
        assert_eq!(plan.accepted, vec![true, false, false]);
        assert_eq!(plan.rejected_nodes, 1);
        assert_eq!(
            c.st.nodes[NodeIx::new(0)].cpu_used,
            600,
            "accepted placement reserved"
        );
        assert_eq!(
            c.st.nodes[NodeIx::new(1)].cpu_used,
            0,
            "rejected node released"
        );
        assert_eq!(c.cx.counters.plan_node_rejections, 1);
    }

    #[test]
    fn all_at_once_drops_the_whole_plan() {
        let mut c = testkit::cluster(2);
        let (_, e) = testkit::add_job(&mut c.st, testkit::spec("j", 3, 600, true));
        let pid = testkit::plan(&mut c.st, e, 0, &[0, 1, 1]);
        let plan = verify(&mut c, pid);
        assert_eq!(plan.accepted, vec![false, false, false]);
        assert_eq!(c.st.nodes[NodeIx::new(0)].cpu_used, 0, "nothing reserved");
    }

    #[test]
    fn stale_token_is_rejected_without_touching_nodes() {
        let mut c = testkit::cluster(2);
        let (_, e) = testkit::add_job(&mut c.st, testkit::spec("j", 2, 100, false));
        c.st.evals[e].token = 5; // redelivered since the plan was computed with token 4
        let pid = testkit::plan(&mut c.st, e, 4, &[0, 1]);
        let plan = verify(&mut c, pid);
        assert_eq!(plan.accepted, vec![false, false]);
        assert_eq!(
            plan.rejected_nodes, 2,
            "every node of a stale plan counts as rejected"
        );
        assert_eq!(
            c.st.nodes[NodeIx::new(0)].cpu_used + c.st.nodes[NodeIx::new(1)].cpu_used,
            0
        );
    }

    #[test]
    fn queue_serves_priority_then_fifo_and_one_plan_at_a_time() {
        let mut c = testkit::cluster(2);
        let mut plans = Vec::new();
        for (id, pr) in [("a", 50), ("b", 70), ("c", 50)] {
            let mut s = testkit::spec(id, 1, 100, false);
            s.priority = pr;
            let (_, e) = testkit::add_job(&mut c.st, s);
            let pid = testkit::plan(&mut c.st, e, 0, &[0]);
            c.ap.enqueue(pr, pid);
            plans.push(pid);
        }
        let order: Vec<PlanIx> = c.ap.queue.iter().map(|k| k.2).collect();
        assert_eq!(order, vec![plans[1], plans[0], plans[2]]);
        c.ap.try_start(&mut c.st, &mut c.cx);
        assert_eq!(
            c.ap.queue.len(),
            2,
            "the highest-priority plan is being verified"
        );
        c.ap.try_start(&mut c.st, &mut c.cx);
        assert_eq!(c.ap.queue.len(), 2, "one plan verifies at a time");
    }

    #[test]
    fn pipeline_depth_one_waits_for_the_inflight_apply() {
        let mut c = testkit::cluster(2);
        let (_, e1) = testkit::add_job(&mut c.st, testkit::spec("a", 1, 100, false));
        let (_, e2) = testkit::add_job(&mut c.st, testkit::spec("b", 1, 100, false));
        let p1 = testkit::plan(&mut c.st, e1, 0, &[0]);
        let p2 = testkit::plan(&mut c.st, e2, 0, &[1]);
        c.ap.enqueue(50, p1);
        c.ap.enqueue(50, p2);
        let Cluster {
            st, cx, sched, ap, ..
        } = &mut c;
        ap.try_start(st, cx);
        ap.verify_done(st, cx, sched, p1);
        assert_eq!(ap.inflight, 1, "p1 goes to Raft");
        assert!(ap.busy, "p2 verifies while p1's apply is in flight");
        ap.verify_done(st, cx, sched, p2);
        assert_eq!(ap.waiting, Some(p2), "p2 waits for p1's apply");
        assert_eq!(ap.inflight, 1);
    }
}
