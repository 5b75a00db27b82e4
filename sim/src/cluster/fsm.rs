//! The Raft log entries and the FSM that applies them.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Entry {
    Register {
        req: u64,
        spec: Arc<JobSpec>,
        parent: Option<JobIx>,
        intended: SimTime,
        sent: SimTime,
    },
    Deregister {
        req: u64,
        job: JobIx,
        purge: bool,
    },
    /// A plan result: `allocs` placements accepted plus stops; `bytes` of identity tokens and `fsm_ns` of
    /// reference-core FSM work computed from the allocations' shapes when the entry was made.
    Plan {
        plan: PlanIx,
        allocs: u64,
        extra_bytes: u64,
        fsm_ns: u64,
    },
    /// A batch of client updates with its reference-core FSM work.
    ClientUpdate {
        ups: Vec<(AllocIx, ClientStatus)>,
        fsm_ns: u64,
    },
    EvalUpdate {
        eval: EvalIx,
        worker: WorkerIx,
        token: u64,
        status: EvalStatus,
        block: bool,
        desc: String,
    },
    EvalCreate {
        job: JobIx,
        triggered_by: TriggeredBy,
        node: Option<NodeIx>,
    },
    NodeStatus {
        node: NodeIx,
        status: NodeStatus,
    },
    NodeDrain {
        node: NodeIx,
    },
    /// The leader's periodic job GC reaps these jobs with their evaluations and allocations
    /// (`JobBatchDeregister`; `gc.rs`).
    JobGc {
        jobs: Vec<JobIx>,
    },
    /// The leader's evaluation GC reaps these evaluations and allocations (`Eval.Reap`; `gc.rs`).
    EvalGc {
        evals: Vec<EvalIx>,
        allocs: Vec<AllocIx>,
    },
    /// The node-update evaluations of the system jobs of a node that registered
    /// (`Node.createNodeEvals` → `EvalUpdateRequest`; `system.rs`).
    NodeEvals {
        node: NodeIx,
    },
}

impl Ctx {
    /// Modelled size of an entry on the log, bytes.
    pub(super) fn entry_bytes(&self, e: &Entry) -> u64 {
        let p = &self.p;
        p.raft_entry_overhead_bytes
            + match e {
                Entry::Register { spec, .. } => {
                    p.raft_job_register_bytes + p.raft_job_group_bytes * spec.groups.len() as u64
                }
                Entry::Deregister { .. } => 200,
                Entry::Plan {
                    allocs,
                    extra_bytes,
                    ..
                } => allocs * p.raft_plan_alloc_bytes + extra_bytes,
                Entry::ClientUpdate { ups, .. } => {
                    ups.len() as u64 * p.raft_client_update_alloc_bytes
                }
                Entry::EvalUpdate { .. } | Entry::EvalCreate { .. } => 600,
                Entry::NodeStatus { .. } | Entry::NodeDrain { .. } => 300,
                // A job ID and namespace per reaped job. [est]
                Entry::JobGc { jobs } => jobs.len() as u64 * 100,
                // An ID per reaped object. [est]
                Entry::EvalGc { evals, allocs } => (evals.len() + allocs.len()) as u64 * 40,
                Entry::NodeEvals { .. } => 600,
            }
    }

    /// FSM apply work of an entry, reference-core ns.
    pub(super) fn fsm_cost_ns(&self, e: &Entry) -> u64 {
        let p = &self.p;
        US * p.fsm_entry_base_us
            + match e {
                Entry::Register { .. } => US * p.fsm_register_job_us,
                // Deleting a job is about as much memdb work as inserting one. [est]
                Entry::JobGc { jobs } => jobs.len() as u64 * US * p.fsm_register_job_us,
                // A delete per object, about a plan-result insert's memdb work. [est]
                Entry::EvalGc { evals, allocs } => {
                    (evals.len() + allocs.len()) as u64 * self.plan_alloc_ns(1)
                }
                Entry::Plan { fsm_ns, .. } | Entry::ClientUpdate { fsm_ns, .. } => *fsm_ns,
                _ => 0,
            }
    }

    /// Identity-token bytes stored with an allocation of `tasks` tasks (none before 1.4).
    pub(super) fn identity_bytes(&self, tasks: u64) -> u64 {
        crate::model::costs::identity_bytes(&self.p, &self.ver, tasks)
    }

    /// FSM work of one allocation in a plan result, reference-core ns (`model/costs.rs`).
    pub(super) fn plan_alloc_ns(&self, tasks: u64) -> u64 {
        crate::model::costs::plan_alloc_ns(&self.p, &self.ver, tasks)
    }

    /// FSM work of one allocation in a client update, reference-core ns (`model/costs.rs`).
    pub(super) fn client_alloc_ns(&self, tasks: u64, job_bytes: u64) -> u64 {
        crate::model::costs::client_alloc_ns(&self.p, &self.ver, tasks, job_bytes)
    }

    /// Appends an entry to the leader's log; starts a disk write if the disk is idle.
    pub(super) fn raft_append(&mut self, e: Entry) {
        let bytes = self.entry_bytes(&e);
        let id = match self.free_entries.pop() {
            Some(i) => {
                self.entries[i as usize] = Some(e);
                i
            }
            None => {
                self.entries.push(Some(e));
                self.entry_index.push(0);
                (self.entries.len() - 1) as u32
            }
        };
        self.raft_index += 1;
        self.entry_index[id as usize] = self.raft_index;
        if let Some(done) = self.raft.append(self.now, id, bytes) {
            self.push(done, Ev::DiskDone);
        }
    }

    /// The leader's disk write finished: what a quorum has commits (after the followers' acks) and goes to
    /// the FSM.
    pub(super) fn disk_done(&mut self) {
        let mut buf = std::mem::take(&mut self.committed_buf);
        buf.clear();
        let next = self.raft.on_disk_done(self.now, &mut buf);
        if let Some(t) = next {
            self.push(t, Ev::DiskDone);
        }
        // Every entry of a leader write commits at the same time (the quorum's ack); commit times never
        // decrease, so the `Committed` events fire in the order of these groups.
        if let Some(&(_, commit)) = buf.first() {
            self.commit_counts.push_back(buf.len() as u32);
            self.commit_ids.extend(buf.iter().map(|c| c.0));
            self.push(commit, Ev::Committed);
        }
        self.committed_buf = buf;
    }

    /// The oldest pending leader write committed: its entries go to the FSM queue.
    pub(super) fn committed(&mut self) {
        let n = self
            .commit_counts
            .pop_front()
            .expect("a pending commit group");
        for _ in 0..n {
            let id = self.commit_ids.pop_front().expect("entry of the group");
            self.fsm_queue.push_back(id);
        }
        self.fsm_next();
    }

    /// Starts the FSM apply of the next committed entry on the leader's CPU if the FSM goroutine is free
    /// ([src] hashicorp/raft `fsm.go:runFSM`: one entry at a time, in log order).
    pub(super) fn fsm_next(&mut self) {
        if self.fsm_busy {
            return;
        }
        let Some(id) = self.fsm_queue.pop_front() else {
            return;
        };
        let cost = self.fsm_cost_ns(self.entries[id as usize].as_ref().expect("entry"));
        self.fsm_busy = true;
        self.fsm_ref_ns_sec += cost;
        let l = self.leader;
        let real = self.scaled(l, cost);
        self.cp.busy_fsm_ns[l] += real;
        self.cpu_start(l, cost, CpuJob::Fsm(id));
    }
}

/// The FSM applies a committed entry (every server does; one goroutine, in log order).
#[allow(clippy::too_many_arguments)]
pub(super) fn applied(
    st: &mut State,
    cx: &mut Ctx,
    rq: &mut Requests,
    sched: &mut Scheduler,
    ap: &mut Applier,
    bl: &mut Blocked,
    cl: &mut Clients,
    id: u32,
) {
    let e = cx.entries[id as usize].take().expect("entry applied once");
    let index = cx.entry_index[id as usize];
    cx.free_entries.push(id);
    match e {
        Entry::Register {
            req,
            spec,
            parent,
            intended,
            sent,
        } => apply_register(
            st, cx, rq, sched, bl, req, spec, parent, intended, sent, index,
        ),
        Entry::Deregister { req, job, purge } => {
            apply_deregister(st, cx, rq, sched, bl, req, job, purge, index)
        }
        Entry::Plan { plan, .. } => ap.apply_plan(st, cx, sched, bl, cl, plan, index),
        Entry::ClientUpdate { ups, .. } => cl.apply_client_update(st, cx, bl, ups, index),
        Entry::EvalUpdate {
            eval,
            worker,
            token,
            status,
            block,
            desc,
        } => sched.apply_eval_update(st, cx, bl, eval, worker, token, status, block, desc, index),
        Entry::EvalCreate {
            job,
            triggered_by,
            node,
        } => {
            let e = st.create_eval(job, triggered_by, node, index, cx.now);
            views::emit_evals(st, cx, index, &[e]);
            sched.enqueue_eval(st, cx, bl, e);
        }
        Entry::NodeStatus { node, status } => {
            fleet::apply_node_status(st, cx, sched, bl, node, status, index)
        }
        Entry::NodeDrain { node } => fleet::apply_node_drain(st, cx, sched, bl, node, index),
        Entry::JobGc { jobs } => {
            let mut g = std::mem::take(&mut st.gc);
            g.apply(st, &jobs);
            st.gc = g;
        }
        Entry::EvalGc { evals, allocs } => {
            let mut g = std::mem::take(&mut st.egc);
            g.apply(st, &evals, &allocs);
            st.egc = g;
        }
        Entry::NodeEvals { node } => system::apply_node_evals(st, cx, sched, bl, node, index),
    }
    if cx.raft.snapshot_due(cx.now, &cx.p) {
        let b = cx
            .raft
            .take_snapshot(cx.now, resources::state_bytes(&cx.p, st.state_size()));
        // Serialising the state costs CPU on every server: modelled as a quarter of the time its bytes take
        // to reach the disk. [est]
        let cost = b * SEC / cx.raft.disk_bytes_per_s.max(1) / 4;
        cx.charge_all(cost);
    }
}

#[allow(clippy::too_many_arguments)]
fn apply_register(
    st: &mut State,
    cx: &mut Ctx,
    rq: &mut Requests,
    sched: &mut Scheduler,
    bl: &mut Blocked,
    req: u64,
    spec: Arc<JobSpec>,
    parent: Option<JobIx>,
    intended: SimTime,
    sent: SimTime,
    index: u64,
) {
    let id = spec.id.clone();
    let groups: Vec<GroupRt> = spec
        .groups
        .iter()
        .map(|g| GroupRt::for_job(spec.job_type, g.count))
        .collect();
    let images: Vec<u32> = spec
        .groups
        .iter()
        .map(|g| st.intern_image(&g.image, g.image_bytes))
        .collect();
    let j = match st.job_by_id.get(&id) {
        Some(&j) if !st.jobs[j].purged => {
            // Re-register: a new version. Existing live allocations are kept by slot; extra slots empty.
            let job = &mut st.jobs[j];
            job.version += 1;
            job.spec = spec.clone();
            job.place = feasible::JobPlace::compile(&spec, &st.pools);
            job.modify_index = index;
            job.job_modify_index = index;
            job.stopped = false;
            for (gi, g) in groups.into_iter().enumerate() {
                if gi < job.groups.len() {
                    let old = &mut job.groups[gi];
                    // System slots are per node (`system.rs`), not per count.
                    if old.pinned.is_empty() {
                        old.slots.resize(g.slots.len(), Slot::empty());
                    }
                } else {
                    job.groups.push(g);
                }
            }
            j
        }
        _ => {
            let j = st.jobs.next_ix();
            st.jobs.push(Job {
                spec: spec.clone(),
                submit_time: cx.now,
                intended_submit: intended,
                sent,
                create_index: index,
                modify_index: index,
                job_modify_index: index,
                version: 0,
                stopped: false,
                purged: false,
                collected: false,
                groups,
                allocs: Vec::new(),
                parent,
                dispatch_count: 0,
                place: feasible::JobPlace::compile(&spec, &st.pools),
                evals: Vec::new(),
            });
            st.job_by_id.insert(id.clone(), j);
            cx.counters.jobs_registered += 1;
            j
        }
    };
    for (gi, im) in images.into_iter().enumerate() {
        st.jobs[j].groups[gi].image = im;
    }
    let mut added = 0u64;
    for gi in 0..st.jobs[j].groups.len() {
        let empty = st.jobs[j].groups[gi]
            .slots
            .iter()
            .filter(|s| s.state == SlotState::Empty)
            .count() as u64;
        if !spec.launches_children() {
            st.add_unplaced(j, gi, empty);
            added += empty;
        }
    }
    if !spec.launches_children() {
        cx.counters.allocs_desired += added;
    }
    if spec.job_type == JobType::System && !st.system_jobs.contains(&j) {
        st.system_jobs.push(j);
    }
    if spec.periodic.is_some() {
        let mut p = std::mem::take(&mut st.periodic);
        p.add(st, cx, j);
        st.periodic = p;
    }
    if spec.launches_children() {
        views::emit(
            st,
            cx,
            index,
            ChangeKind::JobRegistered,
            ChangeSet {
                jobs: &[j],
                ..Default::default()
            },
        );
        rq.complete(
            cx,
            req,
            RequestOutcome::Registered {
                eval_id: String::new(),
                eval_create_index: 0,
                job_modify_index: index,
                index,
            },
        );
        return;
    }
    let trigger = if req == requests::INTERNAL {
        TriggeredBy::PeriodicJob
    } else {
        TriggeredBy::JobRegister
    };
    let e = st.create_eval(j, trigger, None, index, cx.now);
    views::emit(
        st,
        cx,
        index,
        ChangeKind::JobRegistered,
        ChangeSet {
            jobs: &[j],
            evals: &[e],
            ..Default::default()
        },
    );
    let eval_id = st.eval_id(e);
    let outcome = match parent {
        Some(_) => RequestOutcome::Dispatched {
            dispatched_job_id: id,
            eval_id,
            eval_create_index: index,
            job_create_index: st.jobs[j].create_index,
            index,
        },
        None => RequestOutcome::Registered {
            eval_id,
            eval_create_index: index,
            job_modify_index: index,
            index,
        },
    };
    if let Some(pj) = parent {
        st.jobs[pj].modify_index = index;
        if st.jobs[pj].spec.periodic.is_some() {
            st.periodic.child_registered(pj, j);
        }
    }
    if req != requests::INTERNAL {
        rq.complete(cx, req, outcome);
    }
    sched.enqueue_eval(st, cx, bl, e);
}

#[allow(clippy::too_many_arguments)]
fn apply_deregister(
    st: &mut State,
    cx: &mut Ctx,
    rq: &mut Requests,
    sched: &mut Scheduler,
    bl: &mut Blocked,
    req: u64,
    j: JobIx,
    purge: bool,
    index: u64,
) {
    let job = &mut st.jobs[j];
    job.stopped = true;
    job.modify_index = index;
    if purge {
        job.purged = true;
    }
    // Empty slots no longer need placing.
    let mut removed = 0u64;
    for g in &mut job.groups {
        for s in &mut g.slots {
            if matches!(s.state, SlotState::Empty | SlotState::WaitingReschedule) {
                if s.state == SlotState::Empty {
                    removed += 1;
                }
                s.state = SlotState::Done;
            }
        }
    }
    let (cpu, mem) = st.job_unit(j, 0);
    st.unplaced -= removed.min(st.unplaced);
    st.unplaced_cpu = st.unplaced_cpu.saturating_sub(removed * cpu as u64);
    st.unplaced_mem = st.unplaced_mem.saturating_sub(removed * mem as u64);
    if let Some(b) = bl.set.remove_job(j) {
        st.evals[b].status = EvalStatus::Canceled;
    }
    let e = st.create_eval(j, TriggeredBy::JobDeregister, None, index, cx.now);
    views::emit(
        st,
        cx,
        index,
        ChangeKind::JobDeregistered,
        ChangeSet {
            jobs: &[j],
            evals: &[e],
            ..Default::default()
        },
    );
    if purge {
        let id = st.jobs[j].spec.id.clone();
        st.job_by_id.remove(&id);
        if cx.record_changes {
            if let Some(last) = cx.changes.last_mut() {
                last.purged_jobs.push(id);
            }
        }
    }
    let eval_id = st.eval_id(e);
    rq.complete(cx, req, RequestOutcome::Deregistered { eval_id, index });
    sched.enqueue_eval(st, cx, bl, e);
}
