//! The Raft log entries and the FSM that applies them.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Entry {
    Register {
        req: u64,
        spec: Arc<JobSpec>,
        parent: Option<u32>,
        intended: SimTime,
        sent: SimTime,
    },
    Deregister {
        req: u64,
        job: u32,
        purge: bool,
    },
    Plan(u32),
    ClientUpdate(Vec<(u32, ClientStatus)>),
    EvalUpdate {
        eval: u32,
        worker: u32,
        token: u64,
        status: EvalStatus,
        block: bool,
        desc: String,
    },
    EvalCreate {
        job: u32,
        triggered_by: &'static str,
        node: u32,
    },
    NodeStatus {
        node: u32,
        status: NodeStatus,
    },
    NodeDrain {
        node: u32,
    },
}

impl Cluster {
    pub(super) fn entry_bytes(&self, e: &Entry) -> u64 {
        let p = &self.p;
        p.raft_entry_overhead_bytes
            + match e {
                Entry::Register { spec, .. } => {
                    p.raft_job_register_bytes + p.raft_job_group_bytes * spec.groups.len() as u64
                }
                Entry::Deregister { .. } => 200,
                Entry::Plan(pl) => {
                    let plan = self.plans[*pl as usize].as_ref().expect("plan");
                    let n = plan.accepted.iter().filter(|&&a| a).count() as u64
                        + plan.stops.len() as u64;
                    n * p.raft_plan_alloc_bytes
                }
                Entry::ClientUpdate(v) => v.len() as u64 * p.raft_client_update_alloc_bytes,
                Entry::EvalUpdate { .. } | Entry::EvalCreate { .. } => 600,
                Entry::NodeStatus { .. } | Entry::NodeDrain { .. } => 300,
            }
    }

    pub(super) fn fsm_cost_ns(&self, e: &Entry) -> u64 {
        let p = &self.p;
        US * (p.fsm_entry_base_us
            + match e {
                Entry::Register { .. } => p.fsm_register_job_us,
                Entry::Plan(pl) => {
                    let plan = self.plans[*pl as usize].as_ref().expect("plan");
                    let n = plan.accepted.iter().filter(|&&a| a).count() as u64
                        + plan.stops.len() as u64;
                    n * p.fsm_plan_alloc_us
                }
                Entry::ClientUpdate(v) => v.len() as u64 * p.fsm_client_update_alloc_us,
                _ => 0,
            })
    }

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
        if let Some(done) = self.raft.append(self.now, id, bytes, &self.p) {
            self.push(done, Ev::DiskDone);
        }
    }

    pub(super) fn disk_done(&mut self) {
        let mut buf = std::mem::take(&mut self.committed_buf);
        buf.clear();
        let next = self.raft.on_disk_done(self.now, &self.p, &mut buf);
        if let Some(t) = next {
            self.push(t, Ev::DiskDone);
        }
        for &(id, commit) in &buf {
            let cost = self.fsm_cost_ns(self.entries[id as usize].as_ref().expect("entry"));
            let done = self.raft.fsm_apply(commit, cost);
            // every server applies every entry
            for r in &mut self.res {
                r.busy_ns += cost;
                r.busy_ns_total += cost;
            }
            self.push(done, Ev::Applied(id));
        }
        self.committed_buf = buf;
    }

    pub(super) fn applied(&mut self, id: u32) {
        let e = self.entries[id as usize]
            .take()
            .expect("entry applied once");
        let index = self.entry_index[id as usize];
        self.free_entries.push(id);
        match e {
            Entry::Register {
                req,
                spec,
                parent,
                intended,
                sent,
            } => self.apply_register(req, spec, parent, intended, sent, index),
            Entry::Deregister { req, job, purge } => self.apply_deregister(req, job, purge, index),
            Entry::Plan(pl) => self.apply_plan(pl, index),
            Entry::ClientUpdate(v) => self.apply_client_update(v, index),
            Entry::EvalUpdate {
                eval,
                worker,
                token,
                status,
                block,
                desc,
            } => self.apply_eval_update(eval, worker, token, status, block, desc, index),
            Entry::EvalCreate {
                job,
                triggered_by,
                node,
            } => {
                let e = self.create_eval(job, triggered_by, node, index);
                self.emit(index, ChangeKind::EvaluationUpdated, &[], &[e], &[], &[]);
                self.enqueue_eval(e);
            }
            Entry::NodeStatus { node, status } => self.apply_node_status(node, status, index),
            Entry::NodeDrain { node } => self.apply_node_drain(node, index),
        }
        if self.raft.snapshot_due(self.now, &self.p) {
            let b = self
                .raft
                .take_snapshot(self.now, resources::state_bytes(&self.p, self.state_size()));
            let cost = b * SEC / self.p.raft_disk_bytes_per_s.max(1) / 4;
            for r in &mut self.res {
                r.busy_ns += cost;
                r.busy_ns_total += cost;
            }
        }
    }

    pub(super) fn apply_register(
        &mut self,
        req: u64,
        spec: Arc<JobSpec>,
        parent: Option<u32>,
        intended: SimTime,
        sent: SimTime,
        index: u64,
    ) {
        let id = spec.id.clone();
        let groups: Vec<GroupRt> = spec
            .groups
            .iter()
            .map(|g| GroupRt {
                slots: (0..g.count)
                    .map(|_| Slot {
                        state: SlotState::Empty,
                        plan_token: 0,
                        alloc: NONE,
                        reschedules_left: 1,
                    })
                    .collect(),
                image: 0,
                replacements_used: 0,
            })
            .collect();
        let images: Vec<u32> = spec
            .groups
            .iter()
            .map(|g| self.intern_image(&g.image, g.image_bytes))
            .collect();
        let j = match self.job_by_id.get(&id) {
            Some(&j) if !self.jobs[j as usize].purged => {
                // Re-register: a new version. Existing live allocations are kept by slot; extra slots empty.
                let job = &mut self.jobs[j as usize];
                job.version += 1;
                job.spec = spec.clone();
                job.modify_index = index;
                job.job_modify_index = index;
                job.stopped = false;
                for (gi, g) in groups.into_iter().enumerate() {
                    if gi < job.groups.len() {
                        let old = &mut job.groups[gi];
                        old.slots.resize(
                            g.slots.len(),
                            Slot {
                                state: SlotState::Empty,
                                plan_token: 0,
                                alloc: NONE,
                                reschedules_left: 1,
                            },
                        );
                    } else {
                        job.groups.push(g);
                    }
                }
                j
            }
            _ => {
                let j = self.jobs.len() as u32;
                self.jobs.push(Job {
                    spec: spec.clone(),
                    submit_time: self.now,
                    intended_submit: intended,
                    sent,
                    create_index: index,
                    modify_index: index,
                    job_modify_index: index,
                    version: 0,
                    stopped: false,
                    purged: false,
                    groups,
                    allocs: Vec::new(),
                    parent,
                    dispatch_count: 0,
                });
                self.job_by_id.insert(id.clone(), j);
                self.counters.jobs_registered += 1;
                j
            }
        };
        for (gi, im) in images.into_iter().enumerate() {
            self.jobs[j as usize].groups[gi].image = im;
        }
        let mut added = 0u64;
        for gi in 0..self.jobs[j as usize].groups.len() {
            let empty = self.jobs[j as usize].groups[gi]
                .slots
                .iter()
                .filter(|s| s.state == SlotState::Empty)
                .count() as u64;
            if !spec.parameterized {
                self.add_unplaced(j, gi, empty);
                added += empty;
            }
        }
        if !spec.parameterized {
            self.counters.allocs_desired += added;
        }
        if spec.parameterized {
            self.emit(index, ChangeKind::JobRegistered, &[j], &[], &[], &[]);
            self.complete(
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
        let e = self.create_eval(j, "job-register", NONE, index);
        self.emit(index, ChangeKind::JobRegistered, &[j], &[e], &[], &[]);
        let eval_id = self.eval_id(e);
        let outcome = match parent {
            Some(_) => RequestOutcome::Dispatched {
                dispatched_job_id: id,
                eval_id,
                eval_create_index: index,
                job_create_index: self.jobs[j as usize].create_index,
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
            self.jobs[pj as usize].modify_index = index;
        }
        self.complete(req, outcome);
        self.enqueue_eval(e);
    }

    pub(super) fn apply_deregister(&mut self, req: u64, j: u32, purge: bool, index: u64) {
        let job = &mut self.jobs[j as usize];
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
        let (cpu, mem) = self.job_unit(j, 0);
        self.unplaced -= removed.min(self.unplaced);
        self.unplaced_cpu = self.unplaced_cpu.saturating_sub(removed * cpu as u64);
        self.unplaced_mem = self.unplaced_mem.saturating_sub(removed * mem as u64);
        if let Some(b) = self.blocked.remove_job(j) {
            self.evals[b as usize].status = EvalStatus::Canceled;
        }
        let e = self.create_eval(j, "job-deregister", NONE, index);
        self.emit(index, ChangeKind::JobDeregistered, &[j], &[e], &[], &[]);
        if purge {
            let id = self.jobs[j as usize].spec.id.clone();
            self.job_by_id.remove(&id);
            if self.record_changes {
                if let Some(last) = self.changes.last_mut() {
                    last.purged_jobs.push(id);
                }
            }
        }
        let eval_id = self.eval_id(e);
        self.complete(req, RequestOutcome::Deregistered { eval_id, index });
        self.enqueue_eval(e);
    }
}
