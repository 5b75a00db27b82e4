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
//! the run record; only what Nomad's state would hold shrinks. Not modelled: evaluation GC on its own
//! (`evalGC`, 1 h / 24 h for batch), which frees evaluations of live jobs; periodic and parameterized
//! parents are never reaped here.

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
                !st.jobs[j].purged && !st.jobs[j].spec.parameterized
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
                let n = st.allocs[a].node;
                let nd = &mut st.nodes[n];
                nd.total_allocs = nd.total_allocs.saturating_sub(1);
                self.allocs += 1;
            }
        }
    }
}

/// Whether job `j` can be reaped with a threshold of `cutoff`.
fn collectable(st: &State, j: JobIx, cutoff: SimTime) -> bool {
    let job = &st.jobs[j];
    if job.collected || job.purged || job.spec.parameterized {
        return false;
    }
    let dead = job
        .groups
        .iter()
        .all(|g| g.slots.iter().all(|s| s.state == SlotState::Done));
    let gcable = job.stopped || (job.spec.job_type == JobType::Batch && dead);
    gcable
        && job.allocs.iter().all(|&a| {
            let al = &st.allocs[a];
            let terminal = al.desired != DesiredStatus::Run
                || matches!(
                    al.server_status,
                    ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
                );
            terminal && al.modify_time <= cutoff
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
}
