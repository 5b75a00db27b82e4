//! Client nodes: allocation notice, image pulls, task lifecycle, 200 ms status batching.

use super::*;

pub(super) fn lognormal(rng: &mut ChaCha8Rng, median_ns: u64, sigma: f64) -> u64 {
    if sigma <= 0.0 {
        return median_ns;
    }
    let z: f64 = StandardNormal.sample(rng);
    ((median_ns as f64) * (sigma * z).exp()) as u64
}

/// The client side of every node: task lifecycle randomness and the leader's batch of client updates.
pub(super) struct Clients {
    /// Run times, start latencies, failures, notice jitter, update phases.
    pub(super) rng: ChaCha8Rng,
    /// Client updates received by the leader, waiting for the 50 ms Raft batch.
    pub(super) server_batch: Vec<(AllocIx, ClientStatus)>,
    /// A server flush is scheduled.
    pub(super) server_flush_scheduled: bool,
}

/// Queues a status update of alloc `a` on `node` for the node's next flush.
///
/// [src] `client/client.go:allocSync` ticks every 200 ms. Up to 1.5 every tick sends what is pending; from
/// 1.6.0 (`pendingClientUpdates.nextBatch`, #17354) only every fifth tick does, unless an update is
/// urgent: per `allocRunner.GetUpdatePriority`, a failed allocation, or a change of client status after the
/// server acknowledged an earlier one (so a new allocation's first "running" waits for the fifth tick, its
/// "complete" after an acknowledged "running" goes at the next one).
pub(super) fn queue_client_update(st: &mut State, cx: &mut Ctx, node: NodeIx, a: AllocIx) {
    let al = &st.allocs[a];
    let urgent =
        al.client_side == ClientStatus::Failed || al.server_status != ClientStatus::Pending;
    let every = cx.ver.client_update_every_ticks.max(1) as u64;
    let nd = &mut st.nodes[node];
    nd.pending_updates.push(a);
    let period = cx.p.client_update_batch_us.max(1) * US;
    let phase = nd.tick_phase % period;
    // Ticks are at phase + k × period; the next one after now is k1.
    let k1 = (cx.now + period - phase) / period;
    let k = if urgent || every == 1 {
        k1
    } else {
        k1.div_ceil(every) * every
    };
    let t = phase + k * period;
    if nd.flush_at.is_none_or(|f| t < f) {
        nd.flush_at = Some(t);
        cx.push(t, Ev::ClientFlush { node });
    }
}

/// Whether the failed allocation `a` may be replaced at `now` under its group's reschedule policy, and after
/// what delay. Its reschedule history is the chain of allocations it replaces (Nomad keeps it in the
/// allocation's `RescheduleTracker`): each replacement's creation time is a reschedule event, and the
/// delays follow the policy's delay function from the first.
fn reschedule_delay(st: &State, now: SimTime, a: AllocIx) -> Option<u64> {
    let al = &st.allocs[a];
    let spec = &st.jobs[al.job].spec;
    let policy = spec.groups[al.group as usize].reschedule_policy(spec.job_type);
    let mut times = Vec::new();
    let mut cur = Some(a);
    while let Some(x) = cur {
        let ax = &st.allocs[x];
        if !ax.rescheduled {
            break;
        }
        times.push(ax.create_time);
        cur = ax.prev;
    }
    if !policy.eligible(now, &times) {
        return None;
    }
    let mut delays = Vec::with_capacity(times.len());
    for _ in 0..times.len() {
        let d = policy.next_delay_ns(&delays);
        delays.push(d);
    }
    Some(policy.next_delay_ns(&delays))
}

impl Clients {
    pub(super) fn new(rng: ChaCha8Rng) -> Self {
        Clients {
            rng,
            server_batch: Vec::new(),
            server_flush_scheduled: false,
        }
    }

    /// The node notices a new allocation: pull its image (or wait for a pull, or use the cache), then start.
    pub(super) fn alloc_notice(&mut self, st: &mut State, cx: &mut Ctx, a: AllocIx) {
        let (node, desired, j, g) = {
            let al = &st.allocs[a];
            (al.node, al.desired, al.job, al.group as usize)
        };
        if st.nodes[node].dead || desired != DesiredStatus::Run {
            return;
        }
        st.allocs[a].received = Some(Stamp::at(cx.now));
        // Nomad ≥ 2.0.3 batch timeout: the alloc runner's max-run hook starts its timer now.
        let spec = &st.jobs[j].spec;
        if let (Some(d), JobType::Batch, true) = (
            spec.groups[g].max_run_ns,
            spec.job_type,
            cx.ver.batch_max_run_duration,
        ) {
            cx.push(cx.now + d, Ev::MaxRunExpired { alloc: a });
        }
        let img = st.jobs[j].groups[g].image;
        let bytes = st.image_bytes[img as usize];
        let gc = cx.p.image_gc_after_us * US;
        let ready_at = if bytes == 0 {
            cx.now
        } else {
            match st.nodes[node].image_state(img, cx.now, gc) {
                Ok(()) => cx.now,
                Err(Some(t)) => t,
                Err(None) => {
                    let dur = cx.p.image_pull_base_us * US
                        + bytes * SEC / cx.p.image_pull_bytes_per_s.max(1);
                    let until = cx.now + dur;
                    st.nodes[node].start_pull(img, cx.now, until);
                    until
                }
            }
        };
        // Pin the image while the alloc waits for / uses it.
        if bytes > 0 {
            st.nodes[node].use_image(img);
        }
        let start = lognormal(
            &mut self.rng,
            cx.p.driver_start_median_us * US,
            cx.p.driver_start_sigma,
        );
        cx.push(ready_at + start, Ev::TaskStarted { alloc: a });
    }

    /// The task started (or restarted).
    pub(super) fn task_started(&mut self, st: &mut State, cx: &mut Ctx, a: AllocIx) {
        let al = &mut st.allocs[a];
        if st.nodes[al.node].dead
            || al.desired != DesiredStatus::Run
            || al.client_side != ClientStatus::Pending && al.restarts == 0
        {
            return;
        }
        if al.started.is_none() {
            al.started = Some(Stamp::at(cx.now));
        }
        let first = al.client_side != ClientStatus::Running;
        al.client_side = ClientStatus::Running;
        let (node, run, attempt) = (al.node, al.run_ns, al.attempt);
        if first {
            st.running_now += 1;
            queue_client_update(st, cx, node, a);
        }
        if let Some(run) = run {
            cx.push(cx.now + run.get(), Ev::TaskExited { alloc: a, attempt });
        }
    }

    /// The task of attempt `attempt` exited: restart it (batch, local restarts left) or finish the alloc.
    pub(super) fn task_exited(&mut self, st: &mut State, cx: &mut Ctx, a: AllocIx, attempt: u32) {
        let al = &st.allocs[a];
        if st.nodes[al.node].dead
            || al.desired != DesiredStatus::Run
            || al.attempt != attempt
            || al.client_side != ClientStatus::Running
        {
            return;
        }
        let (j, g) = (al.job, al.group as usize);
        let ok = match al.recorded_ok {
            Some(ok) => ok,
            None => match &st.jobs[j].spec.groups[g].run {
                RunPlan::Model { fail_rate, .. } => {
                    !(*fail_rate > 0.0 && self.rng.random::<f64>() < *fail_rate)
                }
                RunPlan::Recorded(_) => true,
            },
        };
        // Recorded outcomes already include the task's restarts (the trace records the allocation).
        if !ok && al.recorded_ok.is_none() {
            let spec = &st.jobs[j].spec;
            let policy = spec.groups[g].restart_policy(spec.job_type);
            if let Some(wait) = self.restart_after(st, cx.now, a, &policy) {
                let al = &mut st.allocs[a];
                al.restarts += 1;
                al.attempt += 1;
                let att = al.attempt;
                let run = al.run_ns;
                let start = lognormal(
                    &mut self.rng,
                    cx.p.driver_start_median_us * US,
                    cx.p.driver_start_sigma,
                );
                if let Some(run) = run {
                    cx.push(
                        cx.now + wait + start + run.get(),
                        Ev::TaskExited {
                            alloc: a,
                            attempt: att,
                        },
                    );
                }
                return;
            }
        }
        let al = &mut st.allocs[a];
        al.client_side = if ok {
            ClientStatus::Complete
        } else {
            ClientStatus::Failed
        };
        al.finished = Some(Stamp::at(cx.now));
        let node = al.node;
        st.running_now -= 1;
        let img = st.jobs[j].groups[g].image;
        st.nodes[node].release_image(img, cx.now);
        queue_client_update(st, cx, node, a);
    }

    /// The restart tracker (client/allocrunner/taskrunner/restarts/restarts.go, `GetState`) after a failed
    /// attempt: `Some(wait)` to restart after `wait`, `None` when the allocation fails. A new interval starts
    /// when the last one has ended; within it, up to `attempts` restarts after `delay` plus a uniform jitter
    /// of up to 25% (`jitter`); past that, mode `fail` fails the allocation and mode `delay` waits for the
    /// interval to end.
    fn restart_after(
        &mut self,
        st: &mut State,
        now: SimTime,
        a: AllocIx,
        policy: &RestartPolicy,
    ) -> Option<u64> {
        if policy.attempts == 0 {
            return None;
        }
        let al = &mut st.allocs[a];
        let window = match al.restart_window {
            Some(w) if now < w.get().saturating_add(policy.interval_ns) => w.get(),
            _ => {
                al.restart_window = Some(Stamp::at(now));
                al.restarts_in_window = 0;
                now
            }
        };
        al.restarts_in_window += 1;
        if al.restarts_in_window > policy.attempts {
            return match policy.mode {
                RestartMode::Fail => None,
                RestartMode::Delay => Some((window + policy.interval_ns).saturating_sub(now)),
            };
        }
        let d = policy.delay_ns.max(1);
        Some(d + (self.rng.random_range(0..d) as f64 * 0.25) as u64)
    }

    /// The node's 200 ms update tick: send its pending updates to the leader.
    pub(super) fn client_flush(&mut self, st: &mut State, cx: &mut Ctx, node: NodeIx) {
        let nd = &mut st.nodes[node];
        if nd.flush_at != Some(cx.now) {
            // Superseded by an earlier flush (an urgent update), which sent everything.
            return;
        }
        nd.flush_at = None;
        if nd.dead {
            nd.pending_updates.clear();
            return;
        }
        let mut ups = std::mem::take(&mut nd.pending_updates);
        ups.sort_unstable();
        ups.dedup();
        let cost = ups.len() as u64 * cx.p.rpc_client_update_alloc_us * US;
        cx.charge_leader(cost);
        for a in ups {
            let status = st.allocs[a].client_side;
            self.server_batch.push((a, status));
        }
        if !self.server_flush_scheduled {
            self.server_flush_scheduled = true;
            cx.push(cx.now + cx.p.server_update_batch_us * US, Ev::ServerFlush);
        }
    }

    /// The leader's 50 ms batch: one Raft entry for every client update received.
    pub(super) fn server_flush(&mut self, st: &State, cx: &mut Ctx) {
        self.server_flush_scheduled = false;
        let batch = std::mem::take(&mut self.server_batch);
        if !batch.is_empty() {
            let mut fsm_ns = 0;
            for &(a, _) in &batch {
                let al = &st.allocs[a];
                let spec = &st.jobs[al.job].spec;
                let tasks = spec.groups[al.group as usize].tasks.len().max(1) as u64;
                let job_bytes = cx.p.raft_job_register_bytes
                    + spec.groups.len() as u64 * cx.p.raft_job_group_bytes;
                fsm_ns += cx.client_alloc_ns(tasks, job_bytes);
            }
            cx.raft_append(Entry::ClientUpdate { ups: batch, fsm_ns });
        }
    }

    /// The FSM applies a batch of client updates: terminal allocations free resources; failed ones may be
    /// rescheduled.
    pub(super) fn apply_client_update(
        &mut self,
        st: &mut State,
        cx: &mut Ctx,
        bl: &mut Blocked,
        v: Vec<(AllocIx, ClientStatus)>,
        index: u64,
    ) {
        let mut freed = false;
        let mut changed = Vec::with_capacity(if cx.record_changes { v.len() } else { 0 });
        for (a, status) in v {
            let al = &mut st.allocs[a];
            if al.server_status == ClientStatus::Lost {
                continue;
            }
            al.server_status = status;
            al.modify_index = index;
            al.modify_time = cx.now;
            if cx.record_changes {
                changed.push(a);
            }
            if matches!(status, ClientStatus::Complete | ClientStatus::Failed) {
                let was_freed = al.freed;
                st.release_alloc(a, cx.now);
                freed |= !was_freed;
                let al = &st.allocs[a];
                let (j, g, s) = (al.job, al.group as usize, al.slot as usize);
                if al.desired == DesiredStatus::Run {
                    // Recorded failures are retried only as often as the trace recorded replacements.
                    let retry_allowed = match &st.jobs[j].spec.groups[g].run {
                        RunPlan::Recorded(v) => {
                            let used = st.jobs[j].groups[g].replacements_used;
                            ((st.jobs[j].spec.groups[g].count + used) as usize) < v.len()
                        }
                        RunPlan::Model { .. } => true,
                    };
                    let delay = if status == ClientStatus::Failed && retry_allowed {
                        reschedule_delay(st, cx.now, a)
                    } else {
                        None
                    };
                    let slot = &mut st.jobs[j].groups[g].slots[s];
                    if slot.alloc == Some(a) {
                        if let Some(delay) = delay {
                            slot.state = SlotState::WaitingReschedule;
                            cx.push(cx.now + delay, Ev::Reschedule { alloc: a });
                        } else {
                            slot.state = SlotState::Done;
                        }
                    }
                }
            }
        }
        if cx.record_changes {
            let jobs: Vec<JobIx> = {
                let mut js: Vec<JobIx> = changed.iter().map(|&a| st.allocs[a].job).collect();
                js.sort_unstable();
                js.dedup();
                js
            };
            views::emit(
                st,
                cx,
                index,
                ChangeKind::AllocationUpdated,
                ChangeSet {
                    jobs: &jobs,
                    allocs: &changed,
                    ..Default::default()
                },
            );
        }
        if freed {
            bl.capacity_changed(cx);
        }
    }

    /// A failed allocation's reschedule delay ran out: its slot wants a placement again (a new eval).
    pub(super) fn reschedule(&mut self, st: &mut State, cx: &mut Ctx, a: AllocIx) {
        let job = st.allocs[a].job;
        if !st.jobs[job].stopped {
            let (g, s) = (st.allocs[a].group as usize, st.allocs[a].slot as usize);
            let slot = &mut st.jobs[job].groups[g].slots[s];
            if slot.state == SlotState::WaitingReschedule {
                slot.state = SlotState::Empty;
                st.add_unplaced(job, g, 1);
                cx.raft_append(Entry::EvalCreate {
                    job,
                    triggered_by: TriggeredBy::AllocFailure,
                    node: None,
                });
            }
        }
    }

    /// A stopped allocation's task was killed on its node.
    /// The allocation's `max_run_duration` ran out: its tasks are killed and it is reported complete
    /// (`allocRunner.EnforceMaxRunDurationTimeout`), unless it already ended or was stopped.
    pub(super) fn max_run_expired(&mut self, st: &mut State, cx: &mut Ctx, a: AllocIx) {
        let al = &st.allocs[a];
        let live = al.desired == DesiredStatus::Run
            && !st.nodes[al.node].dead
            && !matches!(
                al.client_side,
                ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
            );
        if live {
            cx.counters.allocs_timed_out += 1;
            self.alloc_killed(st, cx, a);
        }
    }

    pub(super) fn alloc_killed(&mut self, st: &mut State, cx: &mut Ctx, a: AllocIx) {
        let al = &mut st.allocs[a];
        if !st.nodes[al.node].dead
            && !matches!(
                al.client_side,
                ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
            )
        {
            let was_running = al.client_side == ClientStatus::Running;
            al.client_side = ClientStatus::Complete;
            al.finished = Some(Stamp::at(cx.now));
            let (node, job, g) = (al.node, al.job, al.group);
            if was_running {
                st.running_now -= 1;
            }
            let img = st.jobs[job].groups[g as usize].image;
            st.nodes[node].release_image(img, cx.now);
            queue_client_update(st, cx, node, a);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit;
    use super::*;

    use crate::model::versions::NomadVersion;

    /// The time of the next `ClientFlush` in the queue.
    fn next_flush(c: &mut Cluster) -> SimTime {
        loop {
            let (t, ev) = c.cx.q.pop().expect("a flush is queued");
            if matches!(ev, Ev::ClientFlush { .. }) {
                return t;
            }
        }
    }

    #[test]
    fn restart_tracker_counts_attempts_per_interval_and_fails_or_delays() {
        let mut c = testkit::cluster(1);
        let a = c.st.allocs.next_ix();
        c.st.allocs.push(testkit_alloc());
        let fail = RestartPolicy {
            attempts: 2,
            interval_ns: 100 * SEC,
            delay_ns: 10 * SEC,
            mode: RestartMode::Fail,
        };
        let cl = &mut c.cl;
        for t in [0, 20] {
            let w = cl
                .restart_after(&mut c.st, t * SEC, a, &fail)
                .expect("restart");
            assert!(
                (10 * SEC..=12_500_000_000).contains(&w),
                "delay + ≤25% jitter: {w}"
            );
        }
        assert_eq!(
            cl.restart_after(&mut c.st, 40 * SEC, a, &fail),
            None,
            "third failure in the interval fails"
        );
        // A new interval: the count starts again.
        assert!(cl.restart_after(&mut c.st, 150 * SEC, a, &fail).is_some());
        let delay = RestartPolicy {
            mode: RestartMode::Delay,
            ..fail
        };
        let b = c.st.allocs.next_ix();
        c.st.allocs.push(testkit_alloc());
        cl.restart_after(&mut c.st, 0, b, &delay).unwrap();
        cl.restart_after(&mut c.st, 5 * SEC, b, &delay).unwrap();
        assert_eq!(
            cl.restart_after(&mut c.st, 30 * SEC, b, &delay),
            Some(70 * SEC),
            "mode delay waits for the interval to end"
        );
    }

    #[test]
    fn from_1_6_non_urgent_updates_wait_for_every_fifth_tick() {
        let mut c = testkit::cluster(1);
        c.cx.ver = VersionProfile::for_version(NomadVersion::new(1, 6, 0));
        for _ in 0..3 {
            c.st.allocs.push(testkit_alloc());
        }
        let period = c.cx.p.client_update_batch_us * US;
        let phase = c.st.nodes[NodeIx::new(0)].tick_phase % period;
        c.cx.now = 5 * SEC + 7;
        let n0 = NodeIx::new(0);
        // A new allocation's first update (nothing acknowledged yet): typical, every fifth tick.
        queue_client_update(&mut c.st, &mut c.cx, n0, AllocIx::new(0));
        let t = c.st.nodes[n0].flush_at.expect("flush armed");
        assert!(t > c.cx.now && t - c.cx.now <= 5 * period, "{t}");
        assert_eq!(((t - phase) / period) % 5, 0, "on a fifth tick");
        // A status change after an acknowledged one is urgent: the next tick, superseding the later flush.
        c.st.allocs[AllocIx::new(1)].server_status = ClientStatus::Running;
        queue_client_update(&mut c.st, &mut c.cx, n0, AllocIx::new(1));
        let t2 = c.st.nodes[n0].flush_at.unwrap();
        assert!(t2 - c.cx.now <= period && t2 <= t, "{t2} vs {t}");
        // The superseded flush event does nothing; the urgent one sends both updates.
        c.cx.now = t2;
        let Cluster { st, cx, cl, .. } = &mut c;
        cl.client_flush(st, cx, n0);
        assert_eq!(cl.server_batch.len(), 2);
        if t > t2 {
            cx.now = t;
            cl.client_flush(st, cx, n0);
            assert_eq!(cl.server_batch.len(), 2, "stale flush sent nothing more");
        }
        // A failure is urgent even as the first update.
        c.st.allocs[AllocIx::new(2)].client_side = ClientStatus::Failed;
        c.cx.now += 1;
        queue_client_update(&mut c.st, &mut c.cx, n0, AllocIx::new(2));
        assert!(c.st.nodes[n0].flush_at.unwrap() - c.cx.now <= period);
    }

    #[test]
    fn updates_are_batched_on_the_nodes_200ms_tick() {
        let mut c = testkit::cluster(1);
        // Up to 1.5 every tick sends what is pending.
        c.cx.ver = VersionProfile::for_version(NomadVersion::new(1, 0, 0));
        for _ in 0..5 {
            c.st.allocs.push(testkit_alloc());
        }
        let period = c.cx.p.client_update_batch_us * US;
        let phase = c.st.nodes[NodeIx::new(0)].tick_phase;
        c.cx.now = 5 * SEC + 7;
        let before = c.cx.q.len();
        let n0 = NodeIx::new(0);
        queue_client_update(&mut c.st, &mut c.cx, n0, AllocIx::new(3));
        queue_client_update(&mut c.st, &mut c.cx, n0, AllocIx::new(4));
        queue_client_update(&mut c.st, &mut c.cx, n0, AllocIx::new(3));
        assert_eq!(c.cx.q.len(), before + 1, "one flush for the batch");
        assert_eq!(
            c.st.nodes[NodeIx::new(0)].pending_updates,
            vec![AllocIx::new(3), AllocIx::new(4), AllocIx::new(3)]
        );
        // The flush is the node's next tick: phase-aligned, within one period.
        let t = next_flush(&mut c);
        assert!(t > c.cx.now && t - c.cx.now <= period, "flush at {t}");
        assert_eq!(t % period, phase % period, "on the node's tick phase");
    }

    #[test]
    fn flush_sends_each_alloc_once_and_batches_on_the_leader() {
        let mut c = testkit::cluster(1);
        c.st.nodes[NodeIx::new(0)].pending_updates =
            vec![AllocIx::new(1), AllocIx::new(0), AllocIx::new(1)];
        c.st.nodes[NodeIx::new(0)].flush_at = Some(c.cx.now);
        for _ in 0..2 {
            c.st.allocs.push(testkit_alloc());
        }
        let Cluster { st, cx, cl, .. } = &mut c;
        cl.client_flush(st, cx, NodeIx::new(0));
        assert_eq!(
            cl.server_batch.iter().map(|u| u.0).collect::<Vec<_>>(),
            vec![AllocIx::new(0), AllocIx::new(1)],
            "deduplicated, in alloc order"
        );
        assert!(
            cl.server_flush_scheduled,
            "the leader's 50 ms batch is armed"
        );
        assert!(st.nodes[NodeIx::new(0)].flush_at.is_none());
    }

    fn testkit_alloc() -> Alloc {
        testkit::alloc(JobIx::new(0), NodeIx::new(0))
    }
}
