//! Client nodes: allocation notice, image pulls, task lifecycle, 200 ms status batching.

use super::*;

pub(super) fn lognormal(rng: &mut ChaCha8Rng, median_ns: u64, sigma: f64) -> u64 {
    if sigma <= 0.0 {
        return median_ns;
    }
    let z: f64 = StandardNormal.sample(rng);
    ((median_ns as f64) * (sigma * z).exp()) as u64
}

impl Cluster {
    pub(super) fn alloc_notice(&mut self, a: u32) {
        let (node, desired, j, g) = {
            let al = &self.allocs[a as usize];
            (al.node, al.desired, al.job as usize, al.group as usize)
        };
        if self.nodes[node as usize].dead || desired != DesiredStatus::Run {
            return;
        }
        self.allocs[a as usize].received = self.now;
        let img = self.jobs[j].groups[g].image;
        let bytes = self.image_bytes[img as usize];
        let gc = self.p.image_gc_after_us * US;
        let ready_at = if bytes == 0 {
            self.now
        } else {
            match self.nodes[node as usize].image_state(img, self.now, gc) {
                Ok(()) => self.now,
                Err(Some(t)) => t,
                Err(None) => {
                    let dur = self.p.image_pull_base_us * US
                        + bytes * SEC / self.p.image_pull_bytes_per_s.max(1);
                    let until = self.now + dur;
                    self.nodes[node as usize].start_pull(img, self.now, until);
                    until
                }
            }
        };
        // Pin the image while the alloc waits for / uses it.
        if bytes > 0 {
            self.nodes[node as usize].use_image(img);
        }
        let start = lognormal(
            &mut self.rng_client,
            self.p.driver_start_median_us * US,
            self.p.driver_start_sigma,
        );
        self.push(ready_at + start, Ev::TaskStarted(a));
    }

    pub(super) fn task_started(&mut self, a: u32) {
        let al = &mut self.allocs[a as usize];
        if self.nodes[al.node as usize].dead
            || al.desired != DesiredStatus::Run
            || al.client_side != ClientStatus::Pending && al.restarts == 0
        {
            return;
        }
        if al.started == TIME_NONE {
            al.started = self.now;
        }
        let first = al.client_side != ClientStatus::Running;
        al.client_side = ClientStatus::Running;
        let (node, run, attempt) = (al.node, al.run_ns, al.attempt);
        if first {
            self.running_now += 1;
            self.queue_client_update(node, a);
        }
        if run != u64::MAX {
            self.push(self.now + run, Ev::TaskExited(a, attempt));
        }
    }

    pub(super) fn task_exited(&mut self, a: u32, attempt: u32) {
        let al = &self.allocs[a as usize];
        if self.nodes[al.node as usize].dead
            || al.desired != DesiredStatus::Run
            || al.attempt != attempt
            || al.client_side != ClientStatus::Running
        {
            return;
        }
        let (j, g) = (al.job as usize, al.group as usize);
        let ok = match al.recorded_ok {
            Some(ok) => ok,
            None => match &self.jobs[j].spec.groups[g].run {
                RunPlan::Model { fail_rate, .. } => {
                    !(*fail_rate > 0.0 && self.rng_client.random::<f64>() < *fail_rate)
                }
                RunPlan::Recorded(_) => true,
            },
        };
        let restartable = al.recorded_ok.is_none() && self.jobs[j].spec.job_type == JobType::Batch;
        if !ok && restartable && al.restarts < self.p.restart_attempts {
            let al = &mut self.allocs[a as usize];
            al.restarts += 1;
            al.attempt += 1;
            let att = al.attempt;
            let run = al.run_ns;
            let delay = self.p.restart_delay_us * US;
            let start = lognormal(
                &mut self.rng_client,
                self.p.driver_start_median_us * US,
                self.p.driver_start_sigma,
            );
            if run != u64::MAX {
                self.push(self.now + delay + start + run, Ev::TaskExited(a, att));
            }
            return;
        }
        let al = &mut self.allocs[a as usize];
        al.client_side = if ok {
            ClientStatus::Complete
        } else {
            ClientStatus::Failed
        };
        al.finished = self.now;
        let node = al.node;
        self.running_now -= 1;
        let img = self.jobs[j].groups[g].image;
        self.nodes[node as usize].release_image(img, self.now);
        self.queue_client_update(node, a);
    }

    pub(super) fn queue_client_update(&mut self, node: u32, a: u32) {
        let nd = &mut self.nodes[node as usize];
        nd.pending_updates.push(a);
        if !nd.flush_scheduled {
            nd.flush_scheduled = true;
            let period = self.p.client_update_batch_us * US;
            let phase = nd.tick_phase;
            let since = (self.now + period - phase % period) % period;
            let t = self.now + (period - since);
            self.push(t, Ev::ClientFlush(node));
        }
    }

    pub(super) fn client_flush(&mut self, node: u32) {
        let nd = &mut self.nodes[node as usize];
        nd.flush_scheduled = false;
        if nd.dead {
            nd.pending_updates.clear();
            return;
        }
        let mut ups = std::mem::take(&mut nd.pending_updates);
        ups.sort_unstable();
        ups.dedup();
        let leader = self.leader;
        let cost = ups.len() as u64 * self.p.rpc_client_update_alloc_us * US;
        self.res[leader].busy_ns += cost;
        self.res[leader].busy_ns_total += cost;
        for a in ups {
            let st = self.allocs[a as usize].client_side;
            self.server_batch.push((a, st));
        }
        if !self.server_flush_scheduled {
            self.server_flush_scheduled = true;
            self.push(
                self.now + self.p.server_update_batch_us * US,
                Ev::ServerFlush,
            );
        }
    }

    pub(super) fn server_flush(&mut self) {
        self.server_flush_scheduled = false;
        let batch = std::mem::take(&mut self.server_batch);
        if !batch.is_empty() {
            self.raft_append(Entry::ClientUpdate(batch));
        }
    }

    pub(super) fn apply_client_update(&mut self, v: Vec<(u32, ClientStatus)>, index: u64) {
        let mut freed = false;
        let mut changed = Vec::with_capacity(if self.record_changes { v.len() } else { 0 });
        for (a, st) in v {
            let al = &mut self.allocs[a as usize];
            if al.server_status == ClientStatus::Lost {
                continue;
            }
            al.server_status = st;
            al.modify_index = index;
            al.modify_time = self.now;
            if self.record_changes {
                changed.push(a);
            }
            if matches!(st, ClientStatus::Complete | ClientStatus::Failed) {
                let was_freed = al.freed;
                self.release_alloc(a);
                freed |= !was_freed;
                let al = &self.allocs[a as usize];
                let (j, g, s) = (al.job, al.group as usize, al.slot as usize);
                if al.desired == DesiredStatus::Run {
                    // Recorded failures are retried only as often as the trace recorded replacements.
                    let retry_allowed = match &self.jobs[j as usize].spec.groups[g].run {
                        RunPlan::Recorded(v) => {
                            let used = self.jobs[j as usize].groups[g].replacements_used;
                            ((self.jobs[j as usize].spec.groups[g].count + used) as usize) < v.len()
                        }
                        RunPlan::Model { .. } => true,
                    };
                    let slot = &mut self.jobs[j as usize].groups[g].slots[s];
                    if slot.alloc == a {
                        if st == ClientStatus::Failed && slot.reschedules_left > 0 && retry_allowed
                        {
                            slot.reschedules_left -= 1;
                            slot.state = SlotState::WaitingReschedule;
                            self.push(
                                self.now + self.p.reschedule_delay_us * US,
                                Ev::Reschedule(a),
                            );
                        } else {
                            slot.state = SlotState::Done;
                        }
                    }
                }
            }
        }
        if self.record_changes {
            let jobs: Vec<u32> = {
                let mut js: Vec<u32> = changed
                    .iter()
                    .map(|&a| self.allocs[a as usize].job)
                    .collect();
                js.sort_unstable();
                js.dedup();
                js
            };
            self.emit(
                index,
                ChangeKind::AllocationUpdated,
                &jobs,
                &[],
                &changed,
                &[],
            );
        }
        if freed {
            self.capacity_changed();
        }
    }

    /// A failed allocation's reschedule delay ran out: its slot wants a placement again (a new eval).
    pub(super) fn reschedule(&mut self, a: u32) {
        let job = self.allocs[a as usize].job;
        if !self.jobs[job as usize].stopped {
            let (g, s) = (
                self.allocs[a as usize].group as usize,
                self.allocs[a as usize].slot as usize,
            );
            let slot = &mut self.jobs[job as usize].groups[g].slots[s];
            if slot.state == SlotState::WaitingReschedule {
                slot.state = SlotState::Empty;
                self.add_unplaced(job, g, 1);
                self.raft_append(Entry::EvalCreate {
                    job,
                    triggered_by: "alloc-failure",
                    node: NONE,
                });
            }
        }
    }

    /// A stopped allocation's task was killed on its node.
    pub(super) fn alloc_killed(&mut self, a: u32) {
        let al = &mut self.allocs[a as usize];
        if !self.nodes[al.node as usize].dead
            && !matches!(
                al.client_side,
                ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
            )
        {
            let was_running = al.client_side == ClientStatus::Running;
            al.client_side = ClientStatus::Complete;
            al.finished = self.now;
            let (node, job, g) = (al.node, al.job, al.group);
            if was_running {
                self.running_now -= 1;
            }
            let img = self.jobs[job as usize].groups[g as usize].image;
            self.nodes[node as usize].release_image(img, self.now);
            self.queue_client_update(node, a);
        }
    }
}
