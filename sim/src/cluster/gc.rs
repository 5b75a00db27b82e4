//! The leader's periodic job garbage collection, as it shrinks the state a day-long replay carries.
//!
//! Nomad ([src] `nomad/leader.go:schedulePeriodic` → `nomad/core_sched.go:CoreScheduler.jobGC`, v1.6.5 and
//! later): every `job_gc_interval` (5 min, `nomad/config.go:DefaultConfig`) the leader reaps each job the
//! state store's `gc` index holds (stopped jobs, dead batch jobs; `jobIsGCable`) that was submitted at least
//! `job_gc_threshold` (4 h) ago and whose evaluations and allocations are all terminal and last modified
//! before the threshold (`gcEval`, `allocGCEligible`), with all of them, through one Raft write
//! (`JobBatchDeregister`, batched). Until then, terminal allocations stay in the state store: the
//! scheduler's per-node scan (`EvalContext.ProposedAllocs` → `AllocsByNode`) reads them, and the servers
//! hold them in memory.
//!
//! The model reaps at the same interval and thresholds: a dead (every slot done) or stopped batch job, or a
//! stopped service job, all of whose allocations are terminal and last changed before the cutoff. The reap
//! is one Raft entry per pass; its FSM apply takes the job's allocations off their nodes' scan count and the
//! job and allocations off the state size (memory). The simulator keeps its own per-allocation records for
//! the run record; only what Nomad's state would hold shrinks. Periodic and parameterized parents are never
//! reaped here (Nomad: only once stopped). A reaped job's evaluations leave the state with it.
//!
//! ## Evaluation GC
//! Nomad ([src] `nomad/core_sched.go:CoreScheduler.evalGC` → `gcEval`, `allocGCEligible`,
//! `olderVersionTerminalAllocs`; `evalReap` → `Eval.Reap`, one Raft write per 1,024 IDs): every
//! `eval_gc_interval` (5 min) the leader reaps each terminal evaluation (complete, failed, canceled) last
//! modified before `eval_gc_threshold` (1 h; `batch_eval_gc_threshold`, 24 h, for evaluations of batch
//! jobs, from 1.4.5/1.5.0, #15097) together with its allocations, when every one of them is terminal, older
//! than the threshold and no longer needed (`allocGCEligible`: the job is gone, stopped or dead, or the
//! allocation is desired-stopped, did not fail, or was replaced); eligible allocations go even if the
//! evaluation stays. An evaluation of a live batch job (not gone, not dead-and-stopped) goes only if all
//! its allocations are terminal ones of an older job version (`olderVersionTerminalAllocs`; an evaluation
//! that placed nothing qualifies); before 1.4.5 such evaluations were never reaped by eval GC. The model
//! does the same with one Raft entry per pass (`EvalGc`); an evaluation of a live batch job that still
//! holds allocations of the current version is left to the job GC (a re-register of the job, which would
//! make them older-version ones, is not watched for).

use super::*;

/// `job_gc_interval` ([src] `nomad/config.go`), ns.
pub(super) const JOB_GC_INTERVAL_NS: u64 = 300 * SEC;
/// `job_gc_threshold` ([src] `nomad/config.go`), ns.
pub(super) const JOB_GC_THRESHOLD_NS: u64 = 4 * 3600 * SEC;

/// Reap bookkeeping.
#[derive(Debug, Default)]
pub(super) struct JobGc {
    /// Next job (in registration order) not yet old enough to be considered.
    cursor: u32,
    /// Jobs old enough but not yet collectable (still running, or allocations changed too recently).
    waiting: Vec<JobIx>,
    /// Jobs reaped so far.
    pub(super) jobs: u64,
    /// Allocations reaped with them.
    pub(super) allocs: u64,
    /// Evaluations reaped with them.
    pub(super) evals: u64,
}

impl JobGc {
    /// The periodic pass at `cx.now`: appends one reap entry for the jobs that qualify (none: no entry).
    pub(super) fn pass(&mut self, st: &mut State, cx: &mut Ctx) {
        if !cx.has_leader() || cx.now < JOB_GC_THRESHOLD_NS {
            return;
        }
        let cutoff = cx.now - JOB_GC_THRESHOLD_NS;
        while (self.cursor as usize) < st.jobs.len() {
            let j = JobIx::new(self.cursor);
            if st.jobs[j].submit_time > cutoff {
                break;
            }
            self.waiting.push(j);
            self.cursor += 1;
        }
        let mut reap = Vec::new();
        self.waiting.retain(|&j| {
            if collectable(st, j, cutoff) {
                reap.push(j);
                false
            } else {
                !st.jobs[j].purged && !st.jobs[j].spec.launches_children()
            }
        });
        if !reap.is_empty() {
            cx.raft_append(Entry::JobGc { jobs: reap });
        }
    }

    /// The FSM applies a reap: the jobs' allocations leave their nodes' scan count and the state.
    pub(super) fn apply(&mut self, st: &mut State, jobs: &[JobIx]) {
        for &j in jobs {
            if st.jobs[j].collected {
                continue;
            }
            st.jobs[j].collected = true;
            self.jobs += 1;
            for i in 0..st.jobs[j].allocs.len() {
                let a = st.jobs[j].allocs[i];
                if reap_alloc(st, a) {
                    self.allocs += 1;
                }
            }
            for i in 0..st.jobs[j].evals.len() {
                let e = st.jobs[j].evals[i];
                if !st.evals[e].collected {
                    st.evals[e].collected = true;
                    self.evals += 1;
                }
            }
        }
    }
}

/// Takes allocation `a` out of Nomad's state (and its node's scan); false if it already was.
fn reap_alloc(st: &mut State, a: AllocIx) -> bool {
    if st.allocs[a].collected {
        return false;
    }
    st.allocs[a].collected = true;
    let n = st.allocs[a].node;
    let nd = &mut st.nodes[n];
    nd.total_allocs = nd.total_allocs.saturating_sub(1);
    true
}

/// Whether every slot of job `j` is done (Nomad's job status `dead`).
fn job_dead(st: &State, j: JobIx) -> bool {
    st.jobs[j]
        .groups
        .iter()
        .all(|g| g.slots.iter().all(|s| s.state == SlotState::Done))
}

/// The leader's periodic evaluation GC (see the module docs).
#[derive(Debug, Default)]
pub(super) struct EvalGc {
    /// Next evaluation (in creation order) not yet old enough to be considered.
    cursor: u32,
    /// The same for evaluations of batch jobs (their own threshold).
    batch_cursor: u32,
    /// Evaluations old enough but not yet collectable, in index order.
    waiting: Vec<EvalIx>,
    /// Evaluations reaped so far.
    pub(super) evals: u64,
    /// Allocations reaped by it so far.
    pub(super) allocs: u64,
}

/// What one evaluation GC pass decides for an evaluation.
enum Verdict {
    /// Not collectable now; look again next pass.
    Keep,
    /// Never collectable by eval GC (left to the job GC).
    Drop,
    /// Reap the evaluation (if `eval`) and these allocations.
    Reap { eval: bool, allocs: Vec<AllocIx> },
}

impl EvalGc {
    /// The periodic pass at `cx.now`: appends one reap entry for what qualifies (none: no entry).
    pub(super) fn pass(&mut self, st: &State, cx: &mut Ctx) {
        let (thr, batch_thr) = (
            cx.ver.eval_gc_threshold_ns,
            cx.ver.batch_eval_gc_threshold_ns,
        );
        if !cx.ver.eval_gc || !cx.has_leader() || cx.now < thr {
            return;
        }
        let cutoff = cx.now - thr;
        let batch_cutoff = batch_thr.and_then(|b| cx.now.checked_sub(b));
        // Evaluations enter the waiting list once old enough for their threshold: batch ones through
        // their own cursor (none before 1.4.5: the job GC reaps them with their job), so a replayed CI
        // day's batch evaluations are not looked at every pass for 24 h.
        let len = self.waiting.len();
        let batch =
            |st: &State, e: EvalIx| st.jobs[st.evals[e].job].spec.job_type == JobType::Batch;
        while (self.cursor as usize) < st.evals.len() {
            let e = EvalIx::new(self.cursor);
            if st.evals[e].create_time > cutoff {
                break;
            }
            if !batch(st, e) {
                self.waiting.push(e);
            }
            self.cursor += 1;
        }
        if let Some(bc) = batch_cutoff {
            while (self.batch_cursor as usize) < st.evals.len() {
                let e = EvalIx::new(self.batch_cursor);
                if st.evals[e].create_time > bc {
                    break;
                }
                if batch(st, e) {
                    self.waiting.push(e);
                }
                self.batch_cursor += 1;
            }
        }
        if self.waiting.len() != len {
            self.waiting.sort_unstable();
        }
        if self.waiting.is_empty() {
            return;
        }
        // The allocations of each waiting evaluation (`AllocsByEval`), one walk per job.
        let mut jobs: Vec<JobIx> = self.waiting.iter().map(|&e| st.evals[e].job).collect();
        jobs.sort_unstable();
        jobs.dedup();
        let mut by_eval: BTreeMap<EvalIx, Vec<AllocIx>> = BTreeMap::new();
        for j in jobs {
            for &a in &st.jobs[j].allocs {
                let al = &st.allocs[a];
                if !al.collected && self.waiting.binary_search(&al.eval).is_ok() {
                    by_eval.entry(al.eval).or_default().push(a);
                }
            }
        }
        let (mut evals, mut allocs) = (Vec::new(), Vec::new());
        let none = Vec::new();
        self.waiting.retain(|&e| {
            let list = by_eval.get(&e).unwrap_or(&none);
            match verdict(st, e, list, cutoff, batch_cutoff) {
                Verdict::Keep => true,
                Verdict::Drop => false,
                Verdict::Reap { eval, allocs: a } => {
                    allocs.extend(a);
                    if eval {
                        evals.push(e);
                    }
                    !eval
                }
            }
        });
        if !evals.is_empty() || !allocs.is_empty() {
            cx.raft_append(Entry::EvalGc { evals, allocs });
        }
    }

    /// The FSM applies a reap.
    pub(super) fn apply(&mut self, st: &mut State, evals: &[EvalIx], allocs: &[AllocIx]) {
        for &a in allocs {
            if reap_alloc(st, a) {
                self.allocs += 1;
            }
        }
        for &e in evals {
            if !st.evals[e].collected {
                st.evals[e].collected = true;
                self.evals += 1;
            }
        }
    }
}

/// `gcEval(eval, cutoff, allowBatch = false)` for evaluation `e` with its allocations `allocs`.
fn verdict(
    st: &State,
    e: EvalIx,
    allocs: &[AllocIx],
    cutoff: SimTime,
    batch_cutoff: Option<SimTime>,
) -> Verdict {
    let ev = &st.evals[e];
    if ev.collected {
        return Verdict::Drop;
    }
    if !matches!(
        ev.status,
        EvalStatus::Complete | EvalStatus::Failed | EvalStatus::Canceled
    ) {
        return Verdict::Keep;
    }
    let job = &st.jobs[ev.job];
    let batch = job.spec.job_type == JobType::Batch;
    let cut = if batch {
        match batch_cutoff {
            Some(c) => c,
            // Before 1.4.5 (no batch threshold) batch evaluations of live jobs were never reaped.
            None if !(job.collected || job.purged) => return Verdict::Drop,
            None => cutoff,
        }
    } else {
        cutoff
    };
    if ev.modify_time > cut {
        return Verdict::Keep;
    }
    let gone = job.collected || job.purged;
    let dead = job_dead(st, ev.job);
    if batch && !(gone || (dead && job.stopped)) {
        let old: Vec<AllocIx> = allocs
            .iter()
            .copied()
            .filter(|&a| {
                let al = &st.allocs[a];
                al.create_index < job.job_modify_index && al.modify_time < cut && al.terminal()
            })
            .collect();
        return if old.len() == allocs.len() {
            Verdict::Reap {
                eval: true,
                allocs: old,
            }
        } else if old.is_empty() {
            Verdict::Drop
        } else {
            Verdict::Reap {
                eval: false,
                allocs: old,
            }
        };
    }
    let mut all = true;
    let mut reap = Vec::new();
    for &a in allocs {
        let al = &st.allocs[a];
        let eligible = al.terminal()
            && al.modify_time <= cut
            && (gone
                || job.stopped
                || dead
                || al.desired != DesiredStatus::Run
                || al.server_status != ClientStatus::Failed
                || al.next.is_some());
        if eligible {
            reap.push(a);
        } else {
            all = false;
        }
    }
    if all || !reap.is_empty() {
        Verdict::Reap {
            eval: all,
            allocs: reap,
        }
    } else {
        Verdict::Keep
    }
}

/// Whether job `j` can be reaped with a threshold of `cutoff`.
fn collectable(st: &State, j: JobIx, cutoff: SimTime) -> bool {
    let job = &st.jobs[j];
    if job.collected || job.purged || job.spec.launches_children() {
        return false;
    }
    let dead = job
        .groups
        .iter()
        .all(|g| g.slots.iter().all(|s| s.state == SlotState::Done));
    // `jobIsGCable`: stopped jobs, and dead batch and sysbatch jobs.
    let gcable =
        job.stopped || (matches!(job.spec.job_type, JobType::Batch | JobType::SysBatch) && dead);
    gcable
        && job.allocs.iter().all(|&a| {
            let al = &st.allocs[a];
            al.terminal() && al.modify_time <= cutoff
        })
}

#[cfg(test)]
mod tests {
    use super::super::testkit;
    use super::*;

    #[test]
    fn dead_batch_jobs_are_reaped_after_the_threshold_and_leave_the_node_scan() {
        let mut c = testkit::cluster(1);
        let (j, _) = testkit::add_job(&mut c.st, testkit::spec("j", 1, 100, false));
        let a = c.st.allocs.next_ix();
        let mut al = testkit::alloc(j, NodeIx::new(0));
        al.server_status = ClientStatus::Complete;
        al.modify_time = 10 * SEC;
        c.st.allocs.push(al);
        c.st.jobs[j].allocs.push(a);
        c.st.nodes[NodeIx::new(0)].total_allocs = 1;
        for s in &mut c.st.jobs[j].groups[0].slots {
            s.state = SlotState::Done;
        }
        let mut gc = JobGc::default();
        c.cx.now = JOB_GC_THRESHOLD_NS; // the alloc changed 4 h − 10 s ago: too recent
        let index = c.cx.raft_index;
        gc.pass(&mut c.st, &mut c.cx);
        assert_eq!(
            gc.waiting,
            vec![j],
            "old enough to look at, not yet collectable"
        );
        assert_eq!(c.cx.raft_index, index, "nothing to reap: no Raft entry");
        c.cx.now = JOB_GC_THRESHOLD_NS + 20 * SEC;
        gc.pass(&mut c.st, &mut c.cx);
        assert!(gc.waiting.is_empty(), "reaped");
        assert_eq!(c.cx.raft_index, index + 1, "one reap entry");
        gc.apply(&mut c.st, &[j]);
        assert_eq!(
            c.st.nodes[NodeIx::new(0)].total_allocs,
            0,
            "out of the scan"
        );
        assert_eq!((gc.jobs, gc.allocs), (1, 1));
        gc.apply(&mut c.st, &[j]);
        assert_eq!(gc.allocs, 1, "a job is reaped once");
    }

    #[test]
    fn evaluations_are_reaped_after_their_types_threshold() {
        let mut c = testkit::cluster(1);
        let (_, b) = testkit::add_job(&mut c.st, testkit::spec("b", 1, 100, false));
        let mut svc = testkit::spec("s", 1, 100, false);
        svc.job_type = JobType::Service;
        let (_, s) = testkit::add_job(&mut c.st, svc);
        for e in [b, s] {
            c.st.evals[e].status = EvalStatus::Complete; // placed nothing
        }
        let mut g = EvalGc::default();
        let index = c.cx.raft_index;
        c.cx.now = 3_000 * SEC;
        g.pass(&c.st, &mut c.cx);
        assert_eq!(c.cx.raft_index, index, "nothing is an hour old");
        c.cx.now = 2 * 3_600 * SEC;
        g.pass(&c.st, &mut c.cx);
        assert_eq!(c.cx.raft_index, index + 1, "the service evaluation goes");
        g.apply(&mut c.st, &[s], &[]);
        assert!(c.st.evals[s].collected && !c.st.evals[b].collected);
        let mut pre = EvalGc::default();
        c.cx.now = 25 * 3_600 * SEC;
        g.pass(&c.st, &mut c.cx);
        assert_eq!(c.cx.raft_index, index + 2, "the batch one after 24 h");
        c.cx.ver.batch_eval_gc_threshold_ns = None; // before 1.4.5
        c.st.evals[b].collected = false;
        pre.pass(&c.st, &mut c.cx);
        assert_eq!(c.cx.raft_index, index + 2, "never before 1.4.5");
        assert_eq!((g.evals, pre.evals), (1, 0));
    }
}
