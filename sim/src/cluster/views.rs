//! Nomad-shaped views of the state, change batches, and ground-truth readers.

use super::*;

impl Cluster {
    /// Every node (including departed ones), as views.
    pub fn node_views(&self) -> Vec<NodeView> {
        let st = &self.st;
        st.nodes.keys().map(|n| node_view(st, n)).collect()
    }

    /// Every allocation, as views.
    pub fn alloc_views(&self) -> Vec<AllocView> {
        let st = &self.st;
        st.allocs.keys().map(|a| alloc_view(st, a)).collect()
    }

    /// Job view by ID.
    pub fn job_view_by_id(&self, id: &str) -> Option<JobView> {
        let st = &self.st;
        st.job_by_id.get(id).map(|&j| job_view(st, j))
    }

    /// Number of allocations.
    pub fn alloc_count(&self) -> usize {
        let st = &self.st;
        st.allocs.len()
    }

    /// Ground-truth timeline of allocation `i`: `(job id, alloc id, node id, group, intended submit, sent,
    /// placed, running, done, final status, lost, rescheduled, replaces)`; times in ns since t = 0.
    pub fn alloc_truth(&self, i: usize) -> crate::record::AllocRow {
        let st = &self.st;
        let a = &st.allocs[AllocIx::from_usize(i)];
        let j = &st.jobs[a.job];
        let some = |t: Option<Stamp>| t.map(Stamp::get);
        let status = if a.lost {
            crate::record::AllocStatus::Lost
        } else {
            match a.client_side {
                ClientStatus::Complete => crate::record::AllocStatus::Complete,
                ClientStatus::Failed => crate::record::AllocStatus::Failed,
                ClientStatus::Lost => crate::record::AllocStatus::Lost,
                _ if a.desired != DesiredStatus::Run => crate::record::AllocStatus::Stopped,
                ClientStatus::Running => crate::record::AllocStatus::Running,
                ClientStatus::Pending => crate::record::AllocStatus::Pending,
            }
        };
        crate::record::AllocRow {
            job_id: j.spec.id.clone(),
            alloc_id: rng::uuid(st.seed, IdKind::Alloc, i as u64),
            node_id: st.nodes[a.node].id.clone(),
            task_group: j.spec.groups[a.group as usize].name.clone(),
            submit_ns: Some(j.intended_submit),
            sent_ns: Some(j.sent),
            placed_ns: Some(a.create_time),
            running_ns: some(a.started),
            done_ns: some(a.finished),
            status,
            lost: a.lost,
            rescheduled: a.rescheduled,
            replaces: a
                .prev
                .map(|p| rng::uuid(st.seed, IdKind::Alloc, p.raw() as u64))
                .unwrap_or_default(),
        }
    }

    /// Per-node life in the run: `(node index, view, pool name, instance type, region, spot, joined, left,
    /// reason)`.
    pub fn node_rows(&self) -> Vec<crate::record::NodeRow> {
        let st = &self.st;
        st.nodes
            .iter()
            .map(|n| {
                let pc = &st.pools[n.pool as usize].cfg;
                crate::record::NodeRow {
                    node_id: n.id.clone(),
                    name: n.name.clone(),
                    pool: pc.name.clone(),
                    instance_type: pc.instance_type.clone(),
                    region: pc.region.clone(),
                    datacenter: pc.datacenter.clone(),
                    spot: pc.spot,
                    cpu_mhz: n.cpu_cap,
                    memory_mb: n.mem_cap,
                    joined_ns: n.joined,
                    left_ns: n.left,
                    left_reason: n.left_reason.to_string(),
                }
            })
            .collect()
    }

    /// Jobs submitted: `(id, intended submit, desired allocations)`.
    pub fn job_count(&self) -> usize {
        let st = &self.st;
        st.jobs.len()
    }

    /// Allocations desired by registered jobs.
    pub fn allocs_desired(&self) -> u64 {
        self.cx.counters.allocs_desired
    }

    /// Blocked evaluations now.
    pub fn blocked_now(&self) -> usize {
        self.bl.set.len()
    }

    /// Allocations running now (truth on the clients).
    pub fn running_now(&self) -> u64 {
        let st = &self.st;
        st.running_now
    }

    /// Pools: `(name, instance type, region, datacenter, spot, initial count, cpu, mem, peak, node-hours)`.
    pub fn pool_summaries(&self) -> Vec<crate::record::FleetEntry> {
        let st = &self.st;
        let end = self.cx.now;
        st.pools
            .iter()
            .map(|p| {
                let mut hours = 0.0;
                let mut events: Vec<(SimTime, i32)> = Vec::new();
                for &n in &p.nodes {
                    let nd = &st.nodes[n];
                    let left = nd.left.unwrap_or(end).min(end);
                    hours += left.saturating_sub(nd.joined) as f64 / 3.6e12;
                    events.push((nd.joined, 1));
                    events.push((left, -1));
                }
                events.sort();
                let (mut cur, mut peak) = (0i32, 0i32);
                for (_, d) in events {
                    cur += d;
                    peak = peak.max(cur);
                }
                crate::record::FleetEntry {
                    pool: p.cfg.name.clone(),
                    instance_type: p.cfg.instance_type.clone(),
                    region: p.cfg.region.clone(),
                    datacenter: p.cfg.datacenter.clone(),
                    spot: p.cfg.spot,
                    nodes_initial: p.cfg.count,
                    nodes_peak: peak.max(0) as u32,
                    node_hours: (hours * 1000.0).round() / 1000.0,
                    cpu_mhz: p.cfg.cpu_mhz,
                    memory_mb: p.cfg.memory_mb,
                }
            })
            .collect()
    }

    /// Consistency check for tests: describes every slot that still wants a placement while no evaluation
    /// of its job is ready, in flight or blocked (an allocation the cluster has forgotten). Empty when sound.
    pub fn orphaned_slots(&self) -> Vec<String> {
        let st = &self.st;
        let mut out = Vec::new();
        let blocked: BTreeSet<JobIx> = self.bl.set.iter().map(|(j, _)| j).collect();
        let busy: BTreeSet<JobIx> = self
            .sched
            .workers
            .iter()
            .filter_map(|w| w.eval)
            .map(|e| st.evals[e].job)
            .collect();
        let pending: BTreeSet<JobIx> = st
            .evals
            .iter()
            .filter(|e| e.status == EvalStatus::Pending)
            .map(|e| e.job)
            .collect();
        for (j, job) in st.jobs.iter_enumerated() {
            if job.stopped || blocked.contains(&j) || busy.contains(&j) || pending.contains(&j) {
                continue;
            }
            for (gi, g) in job.groups.iter().enumerate() {
                for (si, s) in g.slots.iter().enumerate() {
                    if matches!(s.state, SlotState::Empty | SlotState::Planned) {
                        let evs: Vec<String> = st
                            .evals
                            .iter()
                            .filter(|e| e.job == j)
                            .map(|e| {
                                format!(
                                    "{}:{:?}:d{}:t{}",
                                    e.triggered_by.as_str(),
                                    e.status,
                                    e.deliveries,
                                    e.token
                                )
                            })
                            .collect();
                        out.push(format!(
                            "job {} group {gi} slot {si}: {:?} (plan token {}) evals {evs:?}",
                            job.spec.id, s.state, s.plan_token
                        ));
                    }
                }
            }
        }
        out
    }

    /// Allocations known to have waited (job submit → task start) longer than `threshold_ns` by now: those
    /// that started late, plus those of jobs submitted more than `threshold_ns` ago that have not started.
    /// Lets a caller stop a run early once a latency SLO is provably missed.
    pub fn late_allocs(&self, threshold_ns: u64) -> u64 {
        let st = &self.st;
        let mut late = 0u64;
        let horizon = self.cx.now.saturating_sub(threshold_ns);
        for job in &st.jobs {
            if job.intended_submit > horizon || job.stopped {
                continue;
            }
            for g in &job.groups {
                for slot in &g.slots {
                    let started = slot.alloc.is_some_and(|a| st.allocs[a].started.is_some());
                    match slot.state {
                        SlotState::Empty | SlotState::Planned | SlotState::WaitingReschedule => {
                            late += 1
                        }
                        SlotState::Placed if !started => late += 1,
                        _ => {}
                    }
                }
            }
            for &a in &job.allocs {
                let al = &st.allocs[a];
                if al
                    .started
                    .map(Stamp::get)
                    .is_some_and(|s| s - job.intended_submit.min(s) > threshold_ns)
                {
                    late += 1;
                }
            }
        }
        late
    }
}

/// The entities a change touched (the views of a [`ChangeBatch`] are built from them).
#[derive(Debug, Clone, Copy, Default)]
pub(super) struct ChangeSet<'a> {
    pub(super) jobs: &'a [JobIx],
    pub(super) evals: &'a [EvalIx],
    pub(super) allocs: &'a [AllocIx],
    pub(super) nodes: &'a [NodeIx],
}

/// [`emit`] of evaluations created or updated at `index`.
pub(super) fn emit_evals(st: &State, cx: &mut Ctx, index: u64, evals: &[EvalIx]) {
    emit(
        st,
        cx,
        index,
        ChangeKind::EvaluationUpdated,
        ChangeSet {
            evals,
            ..Default::default()
        },
    );
}

/// Records a change batch of `set` at Raft index `index` (only when change recording is on).
pub(super) fn emit(st: &State, cx: &mut Ctx, index: u64, kind: ChangeKind, set: ChangeSet<'_>) {
    if !cx.record_changes {
        return;
    }
    let b = ChangeBatch {
        index,
        time: cx.now,
        kind,
        jobs: set.jobs.iter().map(|&j| job_view(st, j)).collect(),
        evals: set.evals.iter().map(|&e| eval_view(st, e)).collect(),
        allocs: set.allocs.iter().map(|&a| alloc_view(st, a)).collect(),
        nodes: set.nodes.iter().map(|&n| node_view(st, n)).collect(),
        purged_jobs: vec![],
    };
    cx.changes.push(b);
}

pub(super) fn job_view(st: &State, j: JobIx) -> JobView {
    let job = &st.jobs[j];
    let mut summary = BTreeMap::new();
    let mut any_live = false;
    let mut any_started = false;
    for (gi, g) in job.spec.groups.iter().enumerate() {
        let mut s = GroupSummary::default();
        for slot in &job.groups[gi].slots {
            if slot.state == SlotState::Empty || slot.state == SlotState::Planned {
                s.queued += 1;
            }
        }
        for &a in &job.allocs {
            let al = &st.allocs[a];
            if al.group as usize != gi {
                continue;
            }
            match al.server_status {
                ClientStatus::Pending => s.starting += 1,
                ClientStatus::Running => s.running += 1,
                ClientStatus::Complete => s.complete += 1,
                ClientStatus::Failed => s.failed += 1,
                ClientStatus::Lost => s.lost += 1,
            }
            if al.desired == DesiredStatus::Run
                && matches!(
                    al.server_status,
                    ClientStatus::Pending | ClientStatus::Running
                )
            {
                any_live = true;
            }
            any_started = true;
        }
        summary.insert(g.name.clone(), s);
    }
    let queued: u32 = summary.values().map(|s: &GroupSummary| s.queued).sum();
    let status = if job.spec.launches_children() {
        if job.stopped {
            JobStatus::Dead
        } else {
            JobStatus::Running
        }
    } else if any_live {
        JobStatus::Running
    } else if job.stopped || (any_started && queued == 0) {
        JobStatus::Dead
    } else {
        JobStatus::Pending
    };
    JobView {
        spec: job.spec.clone(),
        status,
        stop: job.stopped,
        submit_time: job.submit_time,
        create_index: job.create_index,
        modify_index: job.modify_index,
        job_modify_index: job.job_modify_index,
        version: job.version,
        summary,
        parent_id: job.parent.map(|p| st.jobs[p].spec.id.clone()),
    }
}

pub(super) fn eval_view(st: &State, e: EvalIx) -> EvalView {
    let ev = &st.evals[e];
    let job = &st.jobs[ev.job];
    let mut queued = BTreeMap::new();
    for (gi, g) in job.spec.groups.iter().enumerate() {
        let q = job.groups[gi]
            .slots
            .iter()
            .filter(|s| s.state == SlotState::Empty)
            .count() as u32;
        queued.insert(g.name.clone(), q);
    }
    EvalView {
        id: st.eval_id(e),
        job_id: job.spec.id.clone(),
        priority: ev.priority,
        job_type: job.spec.job_type,
        triggered_by: ev.triggered_by.as_str(),
        status: ev.status,
        status_description: ev.status_description.clone(),
        job_modify_index: ev.job_modify_index,
        node_id: ev.node.map(|n| st.nodes[n].id.clone()).unwrap_or_default(),
        blocked_eval: ev.blocked_eval.map(|b| st.eval_id(b)).unwrap_or_default(),
        previous_eval: ev.previous_eval.map(|p| st.eval_id(p)).unwrap_or_default(),
        queued_allocs: queued,
        failed_tg_allocs: ev
            .failed_tgs
            .iter()
            .map(|&g| job.spec.groups[g as usize].name.clone())
            .collect(),
        create_index: ev.create_index,
        modify_index: ev.modify_index,
        create_time: ev.create_time,
        modify_time: ev.modify_time,
    }
}

pub(super) fn alloc_view(st: &State, a: AllocIx) -> AllocView {
    let al = &st.allocs[a];
    let job = &st.jobs[al.job];
    let g = &job.spec.groups[al.group as usize];
    let nd = &st.nodes[al.node];
    let known = al.server_status != ClientStatus::Pending;
    let some = |t: Option<Stamp>| t.map(Stamp::get);
    AllocView {
        id: rng::uuid(st.seed, IdKind::Alloc, a.raw() as u64),
        eval_id: st.eval_id(al.eval),
        name: format!("{}.{}[{}]", job.spec.id, g.name, al.slot),
        node_id: nd.id.clone(),
        node_name: nd.name.clone(),
        job_id: job.spec.id.clone(),
        job_type: job.spec.job_type,
        task_group: g.name.clone(),
        tasks: g.tasks.clone(),
        desired_status: al.desired,
        desired_description: String::new(),
        client_status: al.server_status,
        client_description: String::new(),
        cpu_mhz: al.cpu,
        memory_mb: al.mem,
        create_time: al.create_time,
        modify_time: al.modify_time,
        started_at: if known { some(al.started) } else { None },
        finished_at: if matches!(
            al.server_status,
            ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
        ) {
            some(al.finished)
        } else {
            None
        },
        received_at: if known { some(al.received) } else { None },
        restarts: al.restarts,
        previous_allocation: al
            .prev
            .map(|p| rng::uuid(st.seed, IdKind::Alloc, p.raw() as u64))
            .unwrap_or_default(),
        next_allocation: al
            .next
            .map(|n| rng::uuid(st.seed, IdKind::Alloc, n.raw() as u64))
            .unwrap_or_default(),
        create_index: al.create_index,
        modify_index: al.modify_index,
        allocation_time_ns: al.alloc_time_ns as u64,
        nodes_evaluated: al.nodes_evaluated,
    }
}

pub(super) fn node_view(st: &State, n: NodeIx) -> NodeView {
    let nd = &st.nodes[n];
    let pc = &st.pools[nd.pool as usize].cfg;
    NodeView {
        id: nd.id.clone(),
        name: nd.name.clone(),
        datacenter: pc.datacenter.clone(),
        node_class: pc.node_class.clone(),
        pool: pc.name.clone(),
        node_pool: pc.node_pool.clone(),
        facts: st.pools[nd.pool as usize].facts.clone(),
        disk_mb: nd.disk_cap,
        instance_type: pc.instance_type.clone(),
        region: pc.region.clone(),
        address: format!(
            "10.{}.{}.{}",
            1 + n.raw() / 65_536 % 200,
            n.raw() / 256 % 256,
            n.raw() % 256
        ),
        status: nd.status,
        eligible: nd.eligible,
        drain: nd.drain,
        cores: crate::instances::lookup(&pc.instance_type)
            .map(|t| t.vcpus)
            .unwrap_or((pc.cpu_mhz / 2_500).max(1)),
        cpu_mhz: pc.cpu_mhz,
        memory_mb: pc.memory_mb,
        reserved_cpu_mhz: pc.reserved_cpu_mhz,
        reserved_memory_mb: pc.reserved_memory_mb,
        create_index: nd.create_index,
        modify_index: nd.modify_index,
        status_updated_at: nd.status_updated_at,
    }
}
