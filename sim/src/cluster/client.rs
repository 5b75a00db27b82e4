//! Client nodes: allocation notice, image pulls, task lifecycle, 200 ms status batching, and the CPU of the
//! client hosts that task starts share.
//!
//! ## Task starts cost the host CPU
//! A task start is the driver's delay (`driver_start_median_us`, log-normal: waiting on the container
//! runtime, the disk, the network) followed by `client_task_start_cpu_us` of CPU work on the node's host,
//! processor-shared ([`crate::model::cpu::CpuServer`], the model of the servers' cores) with every other
//! start in progress on that host. The work is the client's own ([src] Nomad 1.6): the alloc runner's
//! prerun hooks and the task runner's prestart hooks (`client/allocrunner/alloc_runner.go:Run`,
//! `client/allocrunner/taskrunner/task_runner.go:prestart`), of which `logmon_hook.go:Prestart` forks and
//! execs a `nomad logmon` plugin process per task (`client/logmon/plugin.go:LaunchLogMon`: go-plugin
//! handshake, gRPC), then the driver's `StartTask`: raw_exec and exec fork and exec a `nomad executor`
//! plugin per task (`drivers/rawexec/driver.go:StartTask` → `drivers/shared/executor/utils.go:
//! CreateExecutor`) which then starts the task (`executor.Launch`); docker spawns a `nomad docker_logger`
//! plugin per container (`drivers/docker/docklog/plugin.go:LaunchDockerLogger`). Each plugin is a start-up
//! of the whole Nomad binary. One start alone takes `cost / core speed`; `n` starts at once on a host of
//! `A` core-equivalents take `n × cost / A` when `n > A`: a burst or a large job placed on few nodes starts
//! slower the more it asks of a host at once.
//!
//! Hosts: consecutive nodes of a pool share one host of the pool's `cores` in groups of `nodes_per_host`
//! (default 1: a node is its own host), so a loopback test cluster (three clients on one machine) or a node
//! simulator's host shares one set of cores. Each host's next completion is armed as one `HostCpuDone`
//! event with a generation, like the servers' CPUs (`cpu.rs`). A restart (a task that failed and restarts
//! in place) is not charged: its new executor's start is inside the restart delay.

use super::*;
use crate::model::cpu::CpuServer;

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
    /// The client hosts' CPUs.
    pub(super) hosts: Hosts,
}

/// One client host's CPU: processor-shared cores running the task starts of its nodes.
pub(super) struct HostCpu {
    ps: CpuServer,
    /// Generation of the armed completion event.
    gen: u32,
    /// Time the armed completion event fires, if one is armed.
    armed: Option<SimTime>,
}

/// The client hosts, created as their first node is seen (nodes join in index order, so a node's ordinal
/// in its pool, and with it its host, is known when it is first seen).
#[derive(Default)]
pub(super) struct Hosts {
    /// Host of every node seen so far, by node index.
    node_host: Vec<u32>,
    /// Per pool: nodes seen so far, and the host of the last one.
    pool_seen: Vec<(u32, u32)>,
    /// Every host.
    cpus: Vec<HostCpu>,
}

impl Hosts {
    /// The host of `node`.
    pub(super) fn host_of(&mut self, st: &State, node: NodeIx) -> u32 {
        while self.node_host.len() <= node.index() {
            let n = NodeIx::new(self.node_host.len() as u32);
            let pool = st.nodes[n].pool as usize;
            if self.pool_seen.len() < st.pools.len() {
                self.pool_seen.resize(st.pools.len(), (0, 0));
            }
            let cfg = &st.pools[pool].cfg;
            let (seen, host) = &mut self.pool_seen[pool];
            if (*seen).is_multiple_of(cfg.nodes_per_host.max(1)) {
                *host = self.cpus.len() as u32;
                self.cpus.push(HostCpu {
                    ps: CpuServer::with_capacity(cfg.host_cpu_spec(), 0),
                    gen: 0,
                    armed: None,
                });
            }
            *seen += 1;
            self.node_host.push(*host);
        }
        self.node_host[node.index()]
    }

    /// Hosts created so far.
    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.cpus.len()
    }

    /// Starts `work_ref_ns` of reference-core work for `alloc` on `host` now; re-arms its completion event
    /// when this start finishes first.
    fn start(&mut self, cx: &mut Ctx, host: u32, alloc: AllocIx, work_ref_ns: u64) {
        let h = &mut self.cpus[host as usize];
        h.ps.start(cx.now, alloc.raw() as u64, work_ref_ns);
        if let Some((t, _)) = h.ps.next_completion() {
            if h.armed.is_none_or(|a| t < a) {
                Self::arm(h, cx, host, t);
            }
        }
    }

    fn arm(h: &mut HostCpu, cx: &mut Ctx, host: u32, t: SimTime) {
        h.gen = h.gen.wrapping_add(1);
        h.armed = Some(t);
        cx.push(t.max(cx.now), Ev::HostCpuDone { host, gen: h.gen });
    }
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
            hosts: Hosts::default(),
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
        let next = if cx.p.client_task_start_cpu_us == 0 {
            Ev::TaskStarted { alloc: a }
        } else {
            Ev::TaskLaunch { alloc: a }
        };
        cx.push(ready_at + start, next);
    }

    /// The driver is ready to start `a`'s task: its start's CPU work begins on the node's host (module
    /// docs); the task runs when that work is done.
    pub(super) fn task_launch(&mut self, st: &mut State, cx: &mut Ctx, a: AllocIx) {
        let al = &st.allocs[a];
        if st.nodes[al.node].dead || al.desired != DesiredStatus::Run {
            return;
        }
        let host = self.hosts.host_of(st, al.node);
        let work = cx.p.client_task_start_cpu_us * US;
        self.hosts.start(cx, host, a, work);
    }

    /// The armed completion of `host`'s CPU: every start finished by now runs its task; re-arms for the next.
    pub(super) fn host_cpu_done(&mut self, st: &mut State, cx: &mut Ctx, host: u32, gen: u32) {
        let h = host as usize;
        if self.hosts.cpus[h].gen != gen {
            return;
        }
        self.hosts.cpus[h].armed = None;
        while let Some(id) = self.hosts.cpus[h].ps.pop_finished(cx.now) {
            self.task_started(st, cx, AllocIx::new(id as u32));
        }
        let hc = &mut self.hosts.cpus[h];
        if let Some((t, _)) = hc.ps.next_completion() {
            Hosts::arm(hc, cx, host, t);
        }
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

    /// A cluster of `nodes` client nodes on hosts of `host` (pool keys after `instance_type`), every task
    /// start costing 100 ms of reference-core CPU.
    fn host_cluster(nodes: u32, host: &str) -> Cluster {
        let text = format!(
            "name = \"hosts\"\n[cluster]\nservers = 3\ninstance_type = \"m5.2xlarge\"\n\
             [[pools]]\ninstance_type = {host}\nmemory_mb = 1000\ncount = {nodes}\n\
             [workload]\njobs = 1\n[params]\nclient_task_start_cpu_us = 100000\n"
        );
        let sc = Scenario::from_toml("hosts.toml", &text).expect("scenario");
        Cluster::new(&sc, 1, ClusterOptions::default()).expect("cluster")
    }

    /// Launches one task on each of `nodes` at `now` (the driver's delay is over) and runs the hosts' CPU
    /// events only; returns each task's start time, ns.
    fn starts(c: &mut Cluster, nodes: &[u32]) -> Vec<SimTime> {
        let first = c.st.allocs.len();
        for &n in nodes {
            let mut al = testkit::alloc(JobIx::new(0), NodeIx::new(n));
            al.client_side = ClientStatus::Pending;
            al.run_ns = None;
            let a = c.st.allocs.push(al);
            let Cluster { st, cx, cl, .. } = c;
            cl.task_launch(st, cx, a);
        }
        while let Some((t, ev)) = c.cx.q.pop() {
            if let Ev::HostCpuDone { .. } = ev {
                c.cx.now = t;
                c.handle(ev);
            }
        }
        (first..c.st.allocs.len())
            .map(|i| {
                let al = &c.st.allocs[AllocIx::new(i as u32)];
                assert_eq!(al.client_side, ClientStatus::Running, "alloc {i} started");
                al.started.expect("started").get()
            })
            .collect()
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn one_start_takes_its_cpu_cost_and_ten_at_once_share_one_core() {
        // An unknown type of 1 core at 3000 MHz: the reference core.
        let host = "\"host\"\ncpu_mhz = 3000\ncores = 1";
        let mut c = host_cluster(1, host);
        assert_eq!(starts(&mut c, &[0]), vec![100 * MS]);
        let mut c = host_cluster(1, host);
        let t = starts(&mut c, &[0; 10]);
        // Processor sharing: ten equal starts all finish together after 10 × 100 ms.
        assert!(t.iter().all(|&t| t.abs_diff(1_000 * MS) <= 10), "{t:?}");
        // Two cores halve it.
        let mut c = host_cluster(1, "\"host\"\ncpu_mhz = 6000\ncores = 2");
        let t = starts(&mut c, &[0; 10]);
        assert!(t.iter().all(|&t| t.abs_diff(500 * MS) <= 10), "{t:?}");
        // A known type: m5.large, 2 vCPUs (1 core + its hyperthread = 1.25 core-equivalents) at 3.1 GHz.
        let mut c = host_cluster(1, "\"m5.large\"");
        let t = starts(&mut c, &[0; 10]);
        let want = 1_000 * MS * 1_000 / 1_250 * 3_000 / 3_100;
        assert!(
            t.iter().all(|&t| t.abs_diff(want) <= 10_000),
            "{t:?} vs {want}"
        );
        // A start alone after the crowd is done is fast again.
        c.cx.now = t[0];
        let t2 = starts(&mut c, &[0]);
        assert!(
            (t2[0] - t[0]).abs_diff(100 * MS * 3_000 / 3_100) <= 1_000,
            "{t2:?}"
        );
    }

    #[test]
    fn nodes_per_host_share_the_hosts_cores() {
        let own = "\"host\"\ncpu_mhz = 3000\ncores = 1";
        // Each node its own host: 5 starts on each of two nodes take 5 × 100 ms.
        let mut c = host_cluster(2, own);
        let t = starts(&mut c, &[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
        assert!(t.iter().all(|&t| t.abs_diff(500 * MS) <= 10), "{t:?}");
        assert_eq!(c.cl.hosts.len(), 2);
        // Two nodes on one host: the ten starts share its core.
        let mut c = host_cluster(2, &format!("{own}\nnodes_per_host = 2"));
        let t = starts(&mut c, &[0, 1, 0, 1, 0, 1, 0, 1, 0, 1]);
        assert!(t.iter().all(|&t| t.abs_diff(1_000 * MS) <= 10), "{t:?}");
        assert_eq!(c.cl.hosts.len(), 1);
        // Five nodes by threes: hosts {0, 1, 2} and {3, 4}.
        let mut c = host_cluster(5, &format!("{own}\nnodes_per_host = 3"));
        let t = starts(&mut c, &[4, 3, 2]);
        assert!(
            t[0].abs_diff(200 * MS) <= 10 && t[1].abs_diff(200 * MS) <= 10,
            "{t:?}"
        );
        assert_eq!(t[2], 100 * MS);
        assert_eq!(c.cl.hosts.len(), 2);
    }

    #[test]
    fn a_start_on_a_dead_node_costs_nothing() {
        let mut c = host_cluster(1, "\"host\"\ncpu_mhz = 3000\ncores = 1");
        c.st.nodes[NodeIx::new(0)].dead = true;
        let mut al = testkit::alloc(JobIx::new(0), NodeIx::new(0));
        al.client_side = ClientStatus::Pending;
        let a = c.st.allocs.push(al);
        let Cluster { st, cx, cl, .. } = &mut c;
        cl.task_launch(st, cx, a);
        assert_eq!(c.cl.hosts.len(), 0, "no host CPU started");
        while let Some((_, ev)) = c.cx.q.pop() {
            assert!(!matches!(ev, Ev::HostCpuDone { .. }));
        }
    }
}
