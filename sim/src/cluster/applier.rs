//! The plan queue and the plan applier (verify, pipeline depth 1, commit).

use super::*;

impl Cluster {
    pub(super) fn try_start_applier(&mut self) {
        if self.applier_busy || self.apply_waiting.is_some() || self.now < self.election_until {
            return;
        }
        let Some((_, _, pid)) = self.plan_queue.pop_first() else {
            return;
        };
        let stale = {
            let plan = self.plans[pid as usize].as_ref().expect("plan");
            self.evals[plan.eval as usize].token != plan.token
        };
        let mut plan = self.plans[pid as usize].take().expect("plan");
        let mut nodes_in_plan: Vec<u32> = plan.placements.iter().map(|p| p.node).collect();
        nodes_in_plan.sort_unstable();
        nodes_in_plan.dedup();
        let t_verify = (self.p.plan_verify_base_us
            + self.p.plan_verify_per_node_us * nodes_in_plan.len() as u64)
            * US;
        plan.accepted = vec![false; plan.placements.len()];
        if !stale {
            // Verify node by node against current state (which includes verified in-flight plans).
            let mut reject_node: Vec<u32> = Vec::new();
            let spec = self.jobs[plan.job as usize].spec.clone();
            for (i, pl) in plan.placements.iter().enumerate() {
                let g = &spec.groups[pl.group as usize];
                let nd = &mut self.nodes[pl.node as usize];
                if reject_node.contains(&pl.node) {
                    continue;
                }
                if nd.status == NodeStatus::Ready
                    && nd.eligible
                    && !nd.drain
                    && nd.fits(g.cpu_mhz, g.memory_mb)
                {
                    nd.cpu_used += g.cpu_mhz;
                    nd.mem_used += g.memory_mb;
                    plan.accepted[i] = true;
                } else {
                    reject_node.push(pl.node);
                }
            }
            // A node rejected part-way rejects all its placements in this plan.
            if !reject_node.is_empty() {
                for (i, pl) in plan.placements.iter().enumerate() {
                    if plan.accepted[i] && reject_node.contains(&pl.node) {
                        let g = &spec.groups[pl.group as usize];
                        let nd = &mut self.nodes[pl.node as usize];
                        nd.cpu_used -= g.cpu_mhz;
                        nd.mem_used -= g.memory_mb;
                        plan.accepted[i] = false;
                    }
                }
                if plan.all_at_once {
                    for (i, pl) in plan.placements.iter().enumerate() {
                        if plan.accepted[i] {
                            let g = &spec.groups[pl.group as usize];
                            let nd = &mut self.nodes[pl.node as usize];
                            nd.cpu_used -= g.cpu_mhz;
                            nd.mem_used -= g.memory_mb;
                            plan.accepted[i] = false;
                        }
                    }
                    plan.stops.clear();
                }
                plan.rejected_nodes = reject_node.len() as u32;
                self.counters.plan_node_rejections += reject_node.len() as u64;
                self.sec_rejections += reject_node.len() as u64;
            }
        } else {
            plan.stops.clear();
            plan.rejected_nodes = nodes_in_plan.len() as u32;
        }
        let leader = self.leader;
        self.res[leader].busy_ns += t_verify;
        self.res[leader].busy_ns_total += t_verify;
        self.plans[pid as usize] = Some(plan);
        self.applier_busy = true;
        self.push(self.now + t_verify, Ev::VerifyDone(pid));
    }

    pub(super) fn verify_done(&mut self, pid: u32) {
        self.applier_busy = false;
        if self.apply_inflight.is_some() {
            self.apply_waiting = Some(pid);
        } else {
            self.submit_plan(pid);
            self.try_start_applier();
        }
    }

    pub(super) fn submit_plan(&mut self, pid: u32) {
        let plan = self.plans[pid as usize].as_mut().expect("plan");
        plan.create_time = self.now;
        let nothing = !plan.accepted.iter().any(|&a| a) && plan.stops.is_empty();
        if nothing {
            self.plan_result(pid);
            return;
        }
        self.apply_inflight = Some(pid);
        self.raft_append(Entry::Plan(pid));
    }

    pub(super) fn apply_plan(&mut self, pid: u32, index: u64) {
        self.apply_inflight = None;
        if let Some(wp) = self.apply_waiting.take() {
            self.submit_plan(wp);
        }
        let plan = self.plans[pid as usize].take().expect("plan");
        let j = plan.job;
        let mut changed_allocs: Vec<u32> = Vec::new();
        // Stops (and lost marks) free resources at commit.
        for &(a, lost) in &plan.stops {
            let al = &mut self.allocs[a as usize];
            al.desired = DesiredStatus::Stop;
            al.modify_index = index;
            al.modify_time = plan.create_time;
            if lost {
                al.server_status = ClientStatus::Lost;
            }
            self.release_alloc(a);
            let (node, g, s) = {
                let al = &self.allocs[a as usize];
                (al.node, al.group as usize, al.slot as usize)
            };
            if !self.nodes[node as usize].dead {
                self.push(
                    self.now + (self.p.client_notice_us + self.p.client_kill_us) * US,
                    Ev::AllocKilled(a),
                );
            }
            let stopped = self.jobs[j as usize].stopped;
            let slot = &mut self.jobs[j as usize].groups[g].slots[s];
            if slot.alloc == a && slot.state == SlotState::Placed {
                slot.state = if stopped {
                    SlotState::Done
                } else {
                    SlotState::Empty
                };
            }
            changed_allocs.push(a);
        }
        let spec = self.jobs[j as usize].spec.clone();
        let mut placed = 0u64;
        for (i, pl) in plan.placements.iter().enumerate() {
            let slot_state =
                self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize].state;
            if !plan.accepted[i] {
                let sl =
                    &mut self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize];
                if slot_state == SlotState::Planned && sl.plan_token == plan.token {
                    sl.state = SlotState::Empty;
                }
                continue;
            }
            let g = &spec.groups[pl.group as usize];
            let a = self.allocs.len() as u32;
            let (run_ns, recorded_ok) = match &g.run {
                RunPlan::Model { duration, .. } => (
                    match *duration {
                        RunDuration::Forever => u64::MAX,
                        RunDuration::Fixed(d) => d,
                        RunDuration::LogNormal { median_ns, sigma } => {
                            lognormal(&mut self.rng_client, median_ns, sigma)
                        }
                    },
                    None,
                ),
                RunPlan::Recorded(v) => {
                    if v.is_empty() {
                        (0, Some(true))
                    } else {
                        // A replacement of a failed allocation replays the next recorded replacement
                        // outcome (entries at `count + k`); first attempts (and replacements of lost
                        // allocations, whose work restarts) replay entry `slot % len`.
                        let replacing_failed = pl.prev != NONE
                            && self.allocs[pl.prev as usize].server_status == ClientStatus::Failed;
                        let grt = &mut self.jobs[j as usize].groups[pl.group as usize];
                        let next = (g.count + grt.replacements_used) as usize;
                        let idx = if replacing_failed && next < v.len() {
                            grt.replacements_used += 1;
                            next
                        } else {
                            pl.slot as usize % v.len()
                        };
                        let (d, ok) = v[idx];
                        (d, Some(ok))
                    }
                }
            };
            let rescheduled = pl.prev != NONE;
            self.allocs.push(Alloc {
                job: j,
                group: pl.group,
                slot: pl.slot,
                node: pl.node,
                eval: plan.eval,
                cpu: g.cpu_mhz,
                mem: g.memory_mb,
                create_time: plan.create_time,
                modify_time: plan.create_time,
                received: TIME_NONE,
                started: TIME_NONE,
                finished: TIME_NONE,
                create_index: index,
                modify_index: index,
                client_side: ClientStatus::Pending,
                server_status: ClientStatus::Pending,
                desired: DesiredStatus::Run,
                prev: pl.prev,
                next: NONE,
                restarts: 0,
                rescheduled,
                lost: false,
                freed: false,
                alloc_time_ns: pl.alloc_time_ns,
                nodes_evaluated: pl.nodes_evaluated,
                run_ns,
                recorded_ok,
                attempt: 0,
            });
            if pl.prev != NONE {
                self.allocs[pl.prev as usize].next = a;
            }
            let slot = &mut self.jobs[j as usize].groups[pl.group as usize].slots[pl.slot as usize];
            slot.state = SlotState::Placed;
            slot.alloc = a;
            self.jobs[j as usize].allocs.push(a);
            self.node_allocs[pl.node as usize].push(a);
            let nd = &mut self.nodes[pl.node as usize];
            nd.live_allocs += 1;
            nd.total_allocs += 1;
            changed_allocs.push(a);
            placed += 1;
            let jitter = (self.rng_client.random::<f64>() * self.p.client_notice_us as f64 * 0.5)
                as u64
                * US;
            self.push(
                self.now + self.p.client_notice_us * US + jitter,
                Ev::AllocNotice(a),
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
            self.sub_unplaced(j, g as usize, n);
        }
        self.counters.placements += placed;
        self.counters.plans_applied += 1;
        self.sec_placements += placed;
        self.jobs[j as usize].modify_index = index;
        let e = plan.eval;
        self.evals[e as usize].modify_index = index;
        if self.record_changes {
            self.emit(
                index,
                ChangeKind::PlanResult,
                &[j],
                &[e],
                &changed_allocs,
                &[],
            );
        }
        if !plan.stops.is_empty() {
            self.capacity_changed();
        }
        self.plans[pid as usize] = Some(plan);
        self.plan_result(pid);
        self.try_start_applier();
    }
}
