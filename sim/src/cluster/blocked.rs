//! Blocked evaluations and their release on capacity changes.

use super::*;

/// Blocked evaluations (one per job) and the coalesced unblock on capacity changes.
pub(super) struct Blocked {
    /// The blocked evaluations.
    pub(super) set: BlockedEvals,
    /// An unblock event is scheduled.
    pub(super) unblock_scheduled: bool,
    /// Capacity changed since the last unblock was scheduled (Nomad's `missedUnblock` check).
    pub(super) pending_since_block: bool,
    /// The failed passes of the last release are still running.
    churning: bool,
    /// Capacity changed while those passes ran: release again when they are done.
    changed_during_churn: bool,
}

impl Blocked {
    pub(super) fn new() -> Self {
        Blocked {
            set: BlockedEvals::default(),
            unblock_scheduled: false,
            pending_since_block: false,
            churning: false,
            changed_during_churn: false,
        }
    }

    /// Nomad re-checks capacity that changed while an eval was being scheduled (`missedUnblock`).
    pub(super) fn capacity_check_after_block(&mut self, cx: &mut Ctx) {
        if self.pending_since_block {
            self.capacity_changed(cx);
        }
    }

    /// A capacity change releases blocked evaluations. Nomad (nomad/blocked_evals.go, `watchCapacity` →
    /// `unblock`) releases every eligible blocked evaluation into the broker; the broker serves them by
    /// priority, and each takes a full scheduler pass on a worker, placing what it can and re-blocking
    /// (`Eval.Reblock`) if it still cannot place. An evaluation in the broker or on a worker is not blocked,
    /// so a further capacity change does not release it again: under saturation the released evaluations
    /// churn through the workers as fast as the workers can fail them.
    ///
    /// The model releases, in broker order, the evaluations for which a first-fit check over the current
    /// free capacity finds room for at least one allocation (they are scheduled for real). The others'
    /// failed passes (`sched_eval_base_us` + a scan of every node each) run as CPU items on the workers of
    /// every server, one per worker, in parallel with real passes (which they slow down); while they run,
    /// a capacity change does not release those evaluations again, and when they end, a capacity change
    /// that came meanwhile releases them again (Nomad's re-block followed by `missedUnblock`). Same
    /// placements and same server CPU as simulating each pass, without the event storm (see
    /// CALIBRATION.md).
    pub(super) fn unblock(&mut self, st: &mut State, cx: &mut Ctx, sched: &mut Scheduler) {
        let mut free: Vec<(u32, u32)> = st
            .nodes
            .iter()
            .filter(|n| n.schedulable() && !n.dead)
            .map(|n| (n.cpu_cap - n.cpu_used, n.mem_cap - n.mem_used))
            .collect();
        // The fleet pool of each entry of `free`, for jobs with constraints or a node pool: Nomad releases
        // a blocked eval only on a change to a node class it is eligible for (or escaped), so the first
        // fit of such a job only looks at nodes its class-level constraints admit.
        let free_pool: Vec<u32> = if self.set.is_empty() {
            Vec::new()
        } else {
            st.nodes
                .iter()
                .filter(|n| n.schedulable() && !n.dead)
                .map(|n| n.pool)
                .collect()
        };
        let mut ineligible = 0u64;
        let scan_ns = cx.p.sched_eval_base_us * US
            + st.nodes
                .iter()
                .filter(|n| n.schedulable() && !n.dead)
                .map(|n| {
                    cx.p.sched_node_base_ns
                        + n.total_allocs as u64 * cx.p.sched_alloc_scan_ns
                        + n.live_allocs as u64 * cx.p.sched_live_alloc_ns
                })
                .sum::<u64>();
        let mut max_cpu = free.iter().map(|f| f.0).max().unwrap_or(0);
        let mut max_mem = free.iter().map(|f| f.1).max().unwrap_or(0);
        let total = self.set.len() as u64;
        let mut released = 0u64;
        let mut cursor = None;
        while let Some((pos, job, e)) = self.set.next_after(cursor) {
            cursor = Some(pos);
            // Nothing left that any blocked job could use: the rest fail their pass and stay blocked.
            match self.set.min_ask() {
                Some((c, m)) if c <= max_cpu && m <= max_mem => {}
                _ => break,
            }
            if st.jobs[job].stopped {
                self.set.remove_job(job);
                continue;
            }
            // First fit of the job's wanted allocations into the free capacity.
            let mut fits_any = false;
            let jb = &st.jobs[job];
            let place = jb.place.as_deref();
            if let Some(p) = place {
                let any_class = (0..jb.groups.len())
                    .any(|g| free_pool.iter().any(|&pool| p.class_eligible(g, pool)));
                if !any_class {
                    // No eligible class among the nodes: the eval stays blocked without a pass.
                    ineligible += 1;
                    continue;
                }
            }
            for (gi, (g, jg)) in jb.spec.groups.iter().zip(&jb.groups).enumerate() {
                if g.cpu_mhz > max_cpu || g.memory_mb > max_mem {
                    continue;
                }
                let wanted = jg
                    .slots
                    .iter()
                    .filter(|s| s.state == SlotState::Empty)
                    .count();
                for _ in 0..wanted {
                    let slot = match place {
                        None => free
                            .iter_mut()
                            .find(|f| f.0 >= g.cpu_mhz && f.1 >= g.memory_mb),
                        Some(p) => free.iter_mut().zip(&free_pool).find_map(|(f, &pool)| {
                            (f.0 >= g.cpu_mhz && f.1 >= g.memory_mb && p.class_eligible(gi, pool))
                                .then_some(f)
                        }),
                    };
                    let Some(slot) = slot else {
                        break;
                    };
                    slot.0 -= g.cpu_mhz;
                    slot.1 -= g.memory_mb;
                    fits_any = true;
                }
                if fits_any {
                    max_cpu = free.iter().map(|f| f.0).max().unwrap_or(0);
                    max_mem = free.iter().map(|f| f.1).max().unwrap_or(0);
                }
            }
            if fits_any {
                self.set.remove_job(job);
                st.evals[e].status = EvalStatus::Pending;
                let pr = st.evals[e].priority;
                sched.broker.enqueue(e, job, pr);
                released += 1;
            }
        }
        let skipped = total - released - ineligible;
        if skipped > 0 && !self.churning {
            cx.counters.evals_processed += skipped;
            self.start_churn(cx, sched, skipped * scan_ns);
        }
        sched.dispatch(st, cx);
    }

    /// Runs `work_ref_ns` of failed passes on the workers of every server: each server's share loads its
    /// CPU (as background, like other bulk work) and counts as worker time; the passes end when the
    /// slowest server's workers, all busy in parallel (at most one core each), are through them.
    fn start_churn(&mut self, cx: &mut Ctx, sched: &Scheduler, work_ref_ns: u64) {
        let servers = cx.res.len();
        let per = work_ref_ns / servers.max(1) as u64;
        if per == 0 {
            return;
        }
        let workers = sched.workers_per_server().max(1) as u64;
        let mut longest = 0;
        for s in 0..servers {
            let real = cx.scaled(s, per);
            cx.cp.busy_workers_ns[s] += real;
            cx.charge_fluid(s, real);
            let par = workers.min(cx.res[s].cores.max(1) as u64);
            longest = longest.max(real / par);
        }
        self.churning = true;
        cx.push(cx.now + longest.max(1), Ev::ChurnDone);
    }

    /// The failed passes are done: the evaluations are blocked again, and a capacity change that came
    /// meanwhile releases them.
    pub(super) fn churn_done(&mut self, cx: &mut Ctx) {
        self.churning = false;
        if std::mem::take(&mut self.changed_during_churn) {
            self.capacity_changed(cx);
        }
    }

    /// Capacity changed (allocations stopped, nodes joined): schedule a coalesced unblock if any eval is blocked.
    pub(super) fn capacity_changed(&mut self, cx: &mut Ctx) {
        if self.churning {
            self.changed_during_churn = true;
        }
        self.pending_since_block = true;
        if !self.set.is_empty() && !self.unblock_scheduled {
            self.unblock_scheduled = true;
            self.pending_since_block = false;
            cx.push(cx.now + cx.p.unblock_coalesce_us * US, Ev::Unblock);
        }
    }

    /// The coalesced unblock fires.
    pub(super) fn on_unblock(&mut self, st: &mut State, cx: &mut Ctx, sched: &mut Scheduler) {
        self.unblock_scheduled = false;
        self.unblock(st, cx, sched);
    }
}

impl State {
    /// The smallest (CPU, memory) allocation of a job's groups.
    pub(super) fn job_min_ask(&self, job: JobIx) -> (u32, u32) {
        let g = &self.jobs[job].spec.groups;
        (
            g.iter().map(|g| g.cpu_mhz).min().unwrap_or(0),
            g.iter().map(|g| g.memory_mb).min().unwrap_or(0),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::super::testkit;
    use super::*;

    #[test]
    fn capacity_change_schedules_one_coalesced_unblock() {
        let mut c = testkit::cluster(1);
        let before = c.cx.q.len();
        c.bl.capacity_changed(&mut c.cx);
        assert_eq!(c.cx.q.len(), before, "nothing blocked: no unblock");
        let (j, e) = testkit::add_job(&mut c.st, testkit::spec("j", 1, 600, false));
        c.bl.set.block(j, e, 50, (600, 100));
        c.bl.capacity_changed(&mut c.cx);
        c.bl.capacity_changed(&mut c.cx);
        assert_eq!(c.cx.q.len(), before + 1, "two changes, one unblock");
    }

    #[test]
    fn unblock_releases_only_what_fits_in_free_capacity() {
        let mut c = testkit::cluster(1);
        let (j, e) = testkit::add_job(&mut c.st, testkit::spec("j", 1, 600, false));
        c.st.evals[e].status = EvalStatus::Blocked;
        c.bl.set.block(j, e, 50, (600, 100));
        c.st.nodes[NodeIx::new(0)].cpu_used = 500; // 500 MHz free: the 600 MHz allocation does not fit
        let Cluster {
            st, cx, sched, bl, ..
        } = &mut c;
        bl.unblock(st, cx, sched);
        assert_eq!(bl.set.len(), 1, "still blocked");
        assert_eq!(st.evals[e].status, EvalStatus::Blocked);
        assert_eq!(cx.counters.evals_processed, 1, "its failed pass is charged");
        st.nodes[NodeIx::new(0)].cpu_used = 0; // capacity freed
        bl.unblock(st, cx, sched);
        assert!(bl.set.is_empty(), "released");
        assert_eq!(st.evals[e].status, EvalStatus::Pending);
        assert_eq!(sched.broker.unacked_len(), 1, "dispatched to a worker");
    }

    #[test]
    fn failed_passes_run_on_the_workers_and_are_not_repeated_while_they_run() {
        let mut c = testkit::cluster(1);
        let (j, e) = testkit::add_job(&mut c.st, testkit::spec("j", 1, 600, false));
        c.st.evals[e].status = EvalStatus::Blocked;
        c.bl.set.block(j, e, 50, (600, 100));
        c.st.nodes[NodeIx::new(0)].cpu_used = 500; // no room: the pass fails
        let Cluster {
            st, cx, sched, bl, ..
        } = &mut c;
        bl.unblock(st, cx, sched);
        assert_eq!(cx.counters.evals_processed, 1);
        assert!(bl.churning, "passes in flight");
        assert!(
            cx.cp.busy_workers_ns.iter().all(|&b| b > 0),
            "worker time on every server"
        );
        // Capacity changes while the passes run: no second release of the same evaluation.
        bl.capacity_changed(cx);
        assert!(bl.unblock_scheduled);
        bl.on_unblock(st, cx, sched);
        assert_eq!(
            cx.counters.evals_processed, 1,
            "still in flight: not released again"
        );
        assert_eq!(bl.set.len(), 1);
        // The passes end: the change that came meanwhile releases it again (missedUnblock).
        let before = cx.q.len();
        bl.churn_done(cx);
        assert!(!bl.churning);
        assert!(
            bl.unblock_scheduled && cx.q.len() > before,
            "an unblock is scheduled"
        );
    }
}
