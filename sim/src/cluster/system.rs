//! System and sysbatch jobs: one allocation per feasible node.
//!
//! Nomad ([src] `scheduler/scheduler_system.go`, v1.6.5 and later):
//! - `SystemScheduler.process` reads the ready nodes of the job's datacenters and pool
//!   (`readyNodesInDCsAndPool`), and `computeJobAllocs` diffs the job's allocations against them per node
//!   (`diffSystemAllocs` in `scheduler/util.go` up to 1.9, `reconciler.NodeReconciler.Compute` after): a node
//!   without a live allocation of the group gets one placement; `computePlacements` checks that one node
//!   (`SystemStack` over `nodes = [node]`) and appends the allocation to the evaluation's **one plan**, so a
//!   system plan carries a placement per node and the plan applier verifies it node by node
//!   (`nomad/plan_apply.go:evaluatePlan`, one `evaluateNodePlan` per node), committing the nodes that fit
//!   (partial commit). There is no further batching of system plans in Nomad: an evaluation is one plan.
//! - `Process` retries `process` up to `maxSystemScheduleAttempts` (5) times while the plan does not fully
//!   commit, resetting on progress (`retryMax`): the generic worker loop does the same with 5 attempts.
//! - A node where the group does not fit gets a blocked evaluation (`addBlocked`, per node); the model
//!   blocks the job's evaluation as for other jobs (released on a capacity change).
//! - Sysbatch ([src] `scheduler/scheduler_sysbatch.go` → the same `SystemScheduler` with `sysbatch = true`):
//!   a node whose allocation completed successfully is not placed again (the reconciler ignores terminal
//!   complete allocations of a sysbatch job); the job is dead when every node's allocation is done.
//! - A node that registers gets one `node-update` evaluation per system job of its datacenter and pool
//!   ([src] `nomad/node_endpoint.go:Node.createNodeEvals`, `JobsByScheduler(nil, "system")`), committed
//!   through one Raft entry (`EvalUpdateRequest`). Sysbatch jobs get none (the same function skips them:
//!   "Sysbatch job evals should only ever be created by periodic-job … or job-register"): a sysbatch job
//!   runs on the nodes that were ready when it was evaluated.
//! - A system allocation on a node that goes down is lost and not replaced elsewhere (its node is no longer
//!   ready); a failed one is not rescheduled (system jobs have no reschedule policy).
//! - Draining: the drainer leaves system allocations to the end (`drainer.go`, `IgnoreSystemJobs`); the
//!   model keeps them on a draining node.
//! - Preemption (system jobs may preempt lower-priority allocations, `SystemStack` with
//!   `PreemptionConfig.SystemSchedulerEnabled`) is not modelled.
//!
//! In the model, each group of a system job keeps one slot per node it has placed on (`GroupRt::pinned`);
//! such slots never enter the unplaced-allocation queue (the autoscaler's signal): a system allocation
//! waits for its own node, not for capacity anywhere.

use super::scheduler::Placement;
use super::*;

/// Whether `t` places one allocation per node.
pub(super) fn per_node(t: JobType) -> bool {
    matches!(t, JobType::System | JobType::SysBatch)
}

impl Scheduler {
    /// The system scheduler's pass over every ready node for eval `e` (see the module docs). Returns the
    /// plan and its compute time (a node check per node, as `computePlacements` does).
    pub(super) fn compute_system_plan(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        mut plan: Plan,
        mut cost: u64,
        token: u64,
    ) -> (Plan, u64) {
        let j = plan.job;
        let spec = st.jobs[j].spec.clone();
        let (node_base, scan, live_ns, per_alloc) = (
            cx.p.sched_node_base_ns,
            cx.p.sched_alloc_scan_ns,
            cx.p.sched_live_alloc_ns,
            cx.p.sched_per_alloc_us * US,
        );
        let dc_ok = |dc: u32, dcs: &[String]| {
            spec.datacenters.is_empty()
                || spec
                    .datacenters
                    .iter()
                    .any(|d| d == "*" || dcs.get(dc as usize) == Some(d))
        };
        let ov = &mut self.overlay;
        ov.ensure(st.nodes.len());
        let mut failed: Vec<u16> = Vec::new();
        // Placement rules (feasible.rs) as for any job: a node outside the job's node pool or failing a
        // constraint is not a candidate (the system scheduler's feasibility stack filters it,
        // `scheduler_system.go: computePlacements`); disk and ports are part of the fit.
        let place = st.jobs[j].place.take();
        for (gi, g) in spec.groups.iter().enumerate() {
            let gi = gi as u16;
            let (cpu, mem, disk) = (g.cpu_mhz, g.memory_mb, g.placement().disk_mb());
            let class = g.node_class.as_deref();
            let gp = place.as_deref().map(|p| &p.groups[gi as usize]);
            let ports_ask = gp.and_then(|p| p.spec.as_deref()).map(|p| &p.ports);
            for ni in 0..st.nodes.len() {
                let nix = NodeIx::new(ni as u32);
                let nd = &st.nodes[nix];
                // Ready as the servers see it (a dead node not yet detected is still ready to them).
                let ready = nd.status == NodeStatus::Ready && nd.eligible && !nd.drain;
                let pool = nd.pool as usize;
                if !ready
                    || !dc_ok(nd.dc, &st.dcs)
                    || class.is_some_and(|c| st.pools[pool].cfg.node_class != c)
                    || !place.as_deref().is_none_or(|p| p.pool_admits(nd.pool))
                    || !gp.and_then(|p| p.cg.as_ref()).is_none_or(|cg| {
                        cg.feasible(pool, &st.pools[pool].facts, (&nd.id, &nd.name))
                    })
                {
                    continue;
                }
                // One node check: the scan of the node's allocations, as for any placement.
                cost += node_base + nd.total_allocs as u64 * scan + nd.live_allocs as u64 * live_ns;
                let grt = &mut st.jobs[j].groups[gi as usize];
                let slot = match grt.pinned.get(&nix) {
                    Some(&s) => {
                        let sl = &grt.slots[s as usize];
                        let wants = sl.state == SlotState::Empty
                            || (sl.state == SlotState::Planned && sl.plan_token != token);
                        if !wants {
                            continue; // placed, planned, done (sysbatch complete) or failed
                        }
                        s
                    }
                    None => {
                        let s = grt.slots.len() as u32;
                        grt.slots.push(Slot::empty());
                        grt.pinned.insert(nix, s);
                        cx.counters.allocs_desired += 1;
                        s
                    }
                };
                let (oc, om, _, od) = ov.at(ni);
                let nd = &st.nodes[nix];
                let range = st.pools[nd.pool as usize].cfg.dynamic_ports;
                let ports_ok =
                    ports_ask.is_none_or(|ask| ov.ports_fit(nix, st.ports.get(ni), range, ask));
                if !nd.fits(cpu + oc, mem + om)
                    || nd.disk_used + od + disk > nd.disk_cap
                    || !ports_ok
                {
                    if !failed.contains(&gi) {
                        failed.push(gi);
                    }
                    continue;
                }
                ov.place(nix, cpu, mem, disk);
                if let Some(ask) = ports_ask {
                    ov.place_ports(nix, ask);
                }
                let step = per_alloc;
                cost += step;
                let prev = st.jobs[j].groups[gi as usize].slots[slot as usize].alloc;
                plan.placements.push(Placement {
                    group: gi,
                    slot,
                    node: nix,
                    alloc_time_ns: step.min(u32::MAX as u64) as u32,
                    nodes_evaluated: 1,
                    prev,
                    // Never entered the unplaced queue (see the module docs).
                    migration: true,
                });
            }
        }
        ov.reset();
        st.jobs[j].place = place;
        plan.failed_tgs = failed;
        for pl in &plan.placements {
            let s = &mut st.jobs[j].groups[pl.group as usize].slots[pl.slot as usize];
            s.state = SlotState::Planned;
            s.plan_token = token;
        }
        (plan, cost)
    }
}

/// Whether job `j` is a live system job that runs in node `n`'s datacenter (gets a node-update eval when
/// `n` registers; [src] `Node.createNodeEvals`).
fn wants_node_eval(st: &State, j: JobIx, n: NodeIx) -> bool {
    let job = &st.jobs[j];
    let nd = &st.nodes[n];
    job.spec.job_type == JobType::System
        && !job.stopped
        && !job.purged
        && (job.spec.datacenters.is_empty()
            || job
                .spec
                .datacenters
                .iter()
                .any(|d| d == "*" || st.dcs.get(nd.dc as usize) == Some(d)))
}

/// A node registered after t = 0: if any system job runs in its datacenter, the leader commits their
/// node-update evaluations through one Raft entry.
pub(super) fn node_registered(st: &State, cx: &mut Ctx, n: NodeIx) {
    if st.system_jobs.iter().any(|&j| wants_node_eval(st, j, n)) {
        cx.raft_append(Entry::NodeEvals { node: n });
    }
}

/// The FSM applies the node's evaluations: one per system job of its datacenter, each to the broker.
pub(super) fn apply_node_evals(
    st: &mut State,
    cx: &mut Ctx,
    sched: &mut Scheduler,
    bl: &mut Blocked,
    n: NodeIx,
    index: u64,
) {
    let jobs: Vec<JobIx> = st
        .system_jobs
        .iter()
        .copied()
        .filter(|&j| wants_node_eval(st, j, n))
        .collect();
    let evals: Vec<EvalIx> = jobs
        .iter()
        .map(|&j| st.create_eval(j, TriggeredBy::NodeUpdate, Some(n), index, cx.now))
        .collect();
    views::emit_evals(st, cx, index, &evals);
    for e in evals {
        sched.enqueue_eval(st, cx, bl, e);
    }
}

/// What a slot of job `j` becomes when its allocation is lost with its node: a system job's slot is done
/// (its node is gone); other jobs' slots want a new placement.
pub(super) fn lost_slot_state(st: &State, j: JobIx) -> SlotState {
    if per_node(st.jobs[j].spec.job_type) {
        SlotState::Done
    } else {
        SlotState::Empty
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit;
    use super::*;

    fn system_spec(id: &str, cpu: u32, t: JobType) -> JobSpec {
        let mut s = testkit::spec(id, 1, cpu, false);
        s.job_type = t;
        s
    }

    #[test]
    fn one_placement_per_ready_node_and_none_again() {
        let mut c = testkit::cluster(3);
        let (j, e) = testkit::add_job(&mut c.st, system_spec("agent", 100, JobType::System));
        c.st.nodes[NodeIx::new(2)].eligible = false;
        let Cluster { st, cx, sched, .. } = &mut c;
        let (plan, _) = sched.compute_plan(st, cx, e, WorkerIx::new(0), 1);
        let nodes: Vec<u32> = plan.placements.iter().map(|p| p.node.raw()).collect();
        assert_eq!(nodes, vec![0, 1], "one per eligible node");
        assert_eq!(st.jobs[j].groups[0].slots.len(), 2);
        assert_eq!(
            st.unplaced, 0,
            "system slots stay out of the unplaced queue"
        );
        // Same token: both slots are planned, nothing more to place.
        let (again, _) = sched.compute_plan(st, cx, e, WorkerIx::new(0), 1);
        assert!(again.placements.is_empty());
        // The third node becomes eligible: only it gets a placement.
        st.nodes[NodeIx::new(2)].eligible = true;
        let (third, _) = sched.compute_plan(st, cx, e, WorkerIx::new(0), 1);
        let nodes: Vec<u32> = third.placements.iter().map(|p| p.node.raw()).collect();
        assert_eq!(nodes, vec![2]);
    }

    #[test]
    fn a_full_node_fails_the_group_and_keeps_its_slot_empty() {
        let mut c = testkit::cluster(2);
        c.st.nodes[NodeIx::new(1)].cpu_used = c.st.nodes[NodeIx::new(1)].cpu_cap;
        let (j, e) = testkit::add_job(&mut c.st, system_spec("agent", 100, JobType::SysBatch));
        let Cluster { st, cx, sched, .. } = &mut c;
        let (plan, _) = sched.compute_plan(st, cx, e, WorkerIx::new(0), 1);
        assert_eq!(plan.placements.len(), 1);
        assert_eq!(plan.failed_tgs, vec![0]);
        let empty = st.jobs[j].groups[0]
            .slots
            .iter()
            .filter(|s| s.state == SlotState::Empty)
            .count();
        assert_eq!(empty, 1, "the full node's slot waits");
    }
}
