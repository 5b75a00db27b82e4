//! Nomad's job and evaluation garbage collection, applied to the emulator's state store, so a long run
//! does not keep every job, evaluation and allocation it ever saw (issue 13, finding 8).
//!
//! ## What Nomad does (v1.6.3, read from the source)
//! - The leader's `schedulePeriodic` (`nomad/leader.go`) enqueues a core-scheduler evaluation every
//!   `EvalGCInterval` and `JobGCInterval` (5 min each, `nomad/config.go` `DefaultConfig`).
//! - `CoreScheduler.jobGC` (`nomad/core_sched.go`) walks the jobs the state store's `gc` index holds
//!   (`jobIsGCable`, `nomad/state/schema.go`: stopped jobs; dead batch/sysbatch jobs; periodic and
//!   parameterized jobs only when stopped), skips jobs created after the threshold index, and reaps a job with
//!   all its evaluations and allocations when every evaluation passes `gcEval(eval, threshold, allowBatch =
//!   true)`. Threshold: `job_gc_threshold` (4 h).
//! - `CoreScheduler.evalGC` reaps each evaluation that passes `gcEval(eval, threshold, allowBatch = false)`
//!   and the allocations `gcEval` returns. Thresholds: `eval_gc_threshold` (1 h) and, for batch evaluations,
//!   `batch_eval_gc_threshold` (24 h).
//! - `gcEval`: the evaluation must be terminal (complete, failed, canceled) and last modified at or before
//!   the threshold index. For a batch evaluation whose job still exists and is not (dead and stopped, or dead
//!   with `allowBatch`), only terminal allocations of older job versions go (`olderVersionTerminalAllocs`),
//!   and the evaluation only if that is all of them. Otherwise every allocation must pass
//!   `allocGCEligible`: terminal (desired stop/evict, or client complete/failed/lost), not running on the
//!   client, modified at or before the threshold; then eligible when the job is gone, stopped or dead, when
//!   it is desired-stopped, when it did not fail, or when a failed one was already replaced
//!   (`NextAllocation` set). A failed, not yet replaced allocation of a live job is kept (its reschedule
//!   tracker is still needed).
//! - Thresholds are times turned into Raft indexes through the FSM's `TimeTable` (`nomad/timetable.go`: one
//!   entry per 5 min of writes, 72 h kept; `NearestIndex` = the index of the newest entry at or before the
//!   cutoff).
//! - `PUT /v1/system/gc` (`command/agent/system_endpoint.go` → `System.GarbageCollect`,
//!   `nomad/system_endpoint.go`) enqueues a `CoreJobForceGC` evaluation: `forceGC` runs job GC and eval GC
//!   with the threshold index `math.MaxUint64` (`getThreshold`), so every eligible object goes regardless of
//!   age.
//!
//! ## What the emulator does differently (stated, not hidden)
//! - It collects from its HTTP-side state store only. The simulator core keeps its compact per-allocation
//!   records (it needs them for `/v1/stampede/ground-truth` and its own accounting); those are a fraction of
//!   the store's size (measured in the README's emulator section).
//! - The reap is not a Raft write: no Raft index is spent and no event is emitted (Nomad emits
//!   `JobDeregistered` events for reaped jobs); table indexes do not move.
//! - `PUT /v1/system/gc` runs the forced GC synchronously before answering (Nomad answers once the core
//!   evaluation is enqueued).
//! - Purged job IDs (kept so later batches of a purged job cannot bring it back) are forgotten by the GC once
//!   their purge index is behind the periodic job threshold and none of the job's allocations is left: the
//!   history is bounded (a forced GC keeps them).

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::time::Duration;

use stampede_sim::api::{
    AllocView, ClientStatus, DesiredStatus, EvalStatus, JobStatus, JobView, SimTime,
};
use stampede_sim::scenario::JobType;

use super::state::Store;

/// GC settings, Nomad's server config names and defaults (`nomad/config.go` `DefaultConfig`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct GcConfig {
    /// `job_gc_interval` and `eval_gc_interval` (Nomad: 5 min each): how often the periodic GC runs, in
    /// simulated time. Zero turns the periodic GC off (`PUT /v1/system/gc` still works).
    pub interval: Duration,
    /// `job_gc_threshold` (4 h).
    pub job_threshold: Duration,
    /// `eval_gc_threshold` (1 h).
    pub eval_threshold: Duration,
    /// `batch_eval_gc_threshold` (24 h).
    pub batch_eval_threshold: Duration,
}

impl Default for GcConfig {
    fn default() -> Self {
        GcConfig {
            interval: Duration::from_secs(5 * 60),
            job_threshold: Duration::from_secs(4 * 3600),
            eval_threshold: Duration::from_secs(3600),
            batch_eval_threshold: Duration::from_secs(24 * 3600),
        }
    }
}

/// Granularity of the time table (`timeTableGranularity`, `nomad/fsm.go`).
pub const TIME_TABLE_GRANULARITY_NS: u64 = 5 * 60 * 1_000_000_000;
/// Span the time table covers (`timeTableLimit`, `nomad/fsm.go`).
pub const TIME_TABLE_LIMIT_NS: u64 = 72 * 3600 * 1_000_000_000;

/// Nomad's FSM time table: `(time, Raft index)`, newest first, one entry per granularity.
#[derive(Debug, Clone, Default)]
pub struct TimeTable {
    table: VecDeque<(SimTime, u64)>,
}

impl TimeTable {
    /// `Witness`: records `index` at `time` unless the newest entry is younger than the granularity.
    pub fn witness(&mut self, index: u64, time: SimTime) {
        if let Some(&(t0, i0)) = self.table.front() {
            if i0 > index || time.saturating_sub(t0) < TIME_TABLE_GRANULARITY_NS {
                return;
            }
        }
        self.table.push_front((time, index));
        let cap = (TIME_TABLE_LIMIT_NS / TIME_TABLE_GRANULARITY_NS) as usize;
        self.table.truncate(cap);
    }

    /// `NearestIndex`: the index of the newest entry at or before `when` (0 if none).
    pub fn nearest_index(&self, when: SimTime) -> u64 {
        self.table
            .iter()
            .find(|(t, _)| *t <= when)
            .map_or(0, |&(_, i)| i)
    }

    /// Entries held (bounded by [`TIME_TABLE_LIMIT_NS`] / [`TIME_TABLE_GRANULARITY_NS`]).
    pub fn len(&self) -> usize {
        self.table.len()
    }

    /// Whether no entry is held.
    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }
}

/// Raft-index thresholds of one GC pass.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Thresholds {
    /// Jobs created at or before it may go.
    pub job: u64,
    /// Non-batch evaluations modified at or before it may go.
    pub eval: u64,
    /// Batch evaluations modified at or before it may go.
    pub batch_eval: u64,
}

impl Thresholds {
    /// `forceGC`: everything eligible goes.
    pub const FORCE: Thresholds = Thresholds {
        job: u64::MAX,
        eval: u64::MAX,
        batch_eval: u64::MAX,
    };

    /// `getThreshold` for a periodic pass at simulated time `now`.
    pub fn at(cfg: &GcConfig, tt: &TimeTable, now: SimTime) -> Thresholds {
        let idx = |d: Duration| {
            let d = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
            match now.checked_sub(d) {
                Some(cutoff) => tt.nearest_index(cutoff),
                None => 0,
            }
        };
        Thresholds {
            job: idx(cfg.job_threshold),
            eval: idx(cfg.eval_threshold),
            batch_eval: idx(cfg.batch_eval_threshold),
        }
    }
}

/// What a GC pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Reaped {
    /// Jobs.
    pub jobs: usize,
    /// Evaluations.
    pub evals: usize,
    /// Allocations.
    pub allocs: usize,
    /// Purge marks forgotten.
    pub purge_marks: usize,
}

/// `Allocation.TerminalStatus`.
fn alloc_terminal(a: &AllocView) -> bool {
    matches!(a.desired_status, DesiredStatus::Stop | DesiredStatus::Evict)
        || matches!(
            a.client_status,
            ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
        )
}

/// `allocGCEligible`.
fn alloc_gc_eligible(a: &AllocView, job: Option<&JobView>, thr: u64) -> bool {
    if !alloc_terminal(a) || a.modify_index > thr {
        return false;
    }
    if a.client_status == ClientStatus::Running {
        return false;
    }
    if job.is_none_or(|j| j.stop || j.status == JobStatus::Dead) {
        return true;
    }
    if a.desired_status == DesiredStatus::Stop {
        return true;
    }
    if a.client_status != ClientStatus::Failed {
        return true;
    }
    // Failed: collectable once replaced (`NextAllocation` set); otherwise its reschedule tracker is still
    // needed (the core's reschedule policy always allows a reschedule).
    !a.next_allocation.is_empty()
}

/// `jobIsGCable`.
fn job_gcable(j: &JobView) -> bool {
    if j.spec.launches_children() {
        return j.stop;
    }
    if j.status != JobStatus::Dead {
        return false;
    }
    j.stop || matches!(j.spec.job_type, JobType::Batch | JobType::SysBatch)
}

/// `gcEval`: whether the evaluation goes, and which of its allocations go.
fn gc_eval<'s>(
    st: &'s Store,
    eval_id: &str,
    allocs_of_eval: &[&'s AllocView],
    thr: u64,
    allow_batch: bool,
) -> (bool, Vec<&'s AllocView>) {
    let Some(e) = st.evals.get(eval_id) else {
        return (false, Vec::new());
    };
    let terminal = matches!(
        e.status,
        EvalStatus::Complete | EvalStatus::Failed | EvalStatus::Canceled
    );
    if !terminal || e.modify_index > thr {
        return (false, Vec::new());
    }
    let job = st.jobs.get(&e.job_id);
    if e.job_type == JobType::Batch {
        // Collected outright when the job is gone, or dead and (stopped or `allow_batch`).
        if let Some(j) = job.filter(|j| !(j.status == JobStatus::Dead && (j.stop || allow_batch))) {
            let old: Vec<&AllocView> = allocs_of_eval
                .iter()
                .copied()
                .filter(|a| {
                    a.create_index < j.job_modify_index && a.modify_index < thr && alloc_terminal(a)
                })
                .collect();
            return (old.len() == allocs_of_eval.len(), old);
        }
    }
    let mut all = true;
    let mut go = Vec::new();
    for a in allocs_of_eval {
        if alloc_gc_eligible(a, job, thr) {
            go.push(*a);
        } else {
            all = false;
        }
    }
    (all, go)
}

/// Allocations of a job grouped by evaluation.
fn allocs_by_eval<'s>(st: &'s Store, job_id: &str) -> BTreeMap<&'s str, Vec<&'s AllocView>> {
    let mut m: BTreeMap<&str, Vec<&AllocView>> = BTreeMap::new();
    for (_, id) in st.job_allocs.get(job_id).into_iter().flatten() {
        if let Some(a) = st.allocs.get(id) {
            m.entry(a.eval_id.as_str()).or_default().push(a);
        }
    }
    m
}

/// What one pass decided to remove (computed under a read lock).
#[derive(Debug, Default)]
pub struct Victims {
    jobs: Vec<String>,
    evals: Vec<String>,
    allocs: Vec<String>,
    purge_marks: Vec<String>,
}

impl Victims {
    /// Whether nothing is to be removed.
    pub fn is_empty(&self) -> bool {
        self.jobs.is_empty()
            && self.evals.is_empty()
            && self.allocs.is_empty()
            && self.purge_marks.is_empty()
    }
}

/// `jobGC` then `evalGC` (the order of `forceGC`) over the store: what goes.
pub fn select(st: &Store, thr: Thresholds) -> Victims {
    let mut v = Victims::default();
    let mut gone_evals: BTreeSet<&str> = BTreeSet::new();
    let mut gone_jobs: BTreeSet<&str> = BTreeSet::new();
    // jobGC.
    for (id, j) in &st.jobs {
        if !job_gcable(j) || j.create_index > thr.job {
            continue;
        }
        let by_eval = allocs_by_eval(st, id);
        let mut job_evals = Vec::new();
        let mut job_allocs = Vec::new();
        let mut all = true;
        for (_, eid) in st.job_evals.get(id).into_iter().flatten() {
            let allocs = by_eval.get(eid.as_str()).map_or(&[][..], |x| &x[..]);
            let (gc, go) = gc_eval(st, eid, allocs, thr.job, true);
            if !gc {
                all = false;
                break;
            }
            job_evals.push(eid.as_str());
            job_allocs.extend(go);
        }
        // Allocations whose evaluation is not in the store (already reaped) go with the job when eligible.
        if all {
            for (eid, allocs) in &by_eval {
                if !st.evals.contains_key(*eid) {
                    job_allocs.extend(
                        allocs
                            .iter()
                            .copied()
                            .filter(|a| alloc_gc_eligible(a, Some(j), thr.job)),
                    );
                }
            }
            gone_jobs.insert(id.as_str());
            gone_evals.extend(job_evals.iter().copied());
            v.jobs.push(id.clone());
            v.evals.extend(job_evals.into_iter().map(str::to_string));
            v.allocs
                .extend(job_allocs.into_iter().map(|a| a.id.clone()));
        }
    }
    // evalGC over the rest.
    for (job_id, evals) in &st.job_evals {
        if gone_jobs.contains(job_id.as_str()) {
            continue;
        }
        let by_eval = allocs_by_eval(st, job_id);
        for (_, eid) in evals {
            if gone_evals.contains(eid.as_str()) {
                continue;
            }
            let Some(e) = st.evals.get(eid) else { continue };
            let thr_e = if e.job_type == JobType::Batch {
                thr.batch_eval
            } else {
                thr.eval
            };
            let allocs = by_eval.get(eid.as_str()).map_or(&[][..], |x| &x[..]);
            let (gc, go) = gc_eval(st, eid, allocs, thr_e, false);
            if gc {
                v.evals.push(eid.clone());
            }
            v.allocs.extend(go.into_iter().map(|a| a.id.clone()));
        }
    }
    // Purge marks behind the job threshold of a periodic pass whose job has no allocation left in the store
    // (the ones this pass reaps included): by then the core sends nothing more for those jobs. A forced GC
    // keeps them (the core may still be finishing the purged job's last changes).
    let reaped: BTreeSet<&str> = v.allocs.iter().map(String::as_str).collect();
    v.purge_marks = st
        .purged
        .iter()
        .filter(|(id, &idx)| {
            thr.job != Thresholds::FORCE.job
                && idx <= thr.job
                && st
                    .job_allocs
                    .get(id.as_str())
                    .is_none_or(|a| a.iter().all(|(_, aid)| reaped.contains(aid.as_str())))
        })
        .map(|(id, _)| id.clone())
        .collect();
    v.allocs.sort();
    v.allocs.dedup();
    v
}

/// Removes the victims from every table and index.
pub fn reap(st: &mut Store, v: Victims) -> Reaped {
    let mut r = Reaped::default();
    for id in &v.allocs {
        if let Some(a) = st.allocs.remove(id) {
            let k = (a.create_index, a.id.clone());
            st.allocs_by_create.remove(&k);
            remove_from(&mut st.job_allocs, &a.job_id, &k);
            remove_from(&mut st.node_allocs, &a.node_id, &k);
            r.allocs += 1;
        }
    }
    for id in &v.evals {
        if let Some(e) = st.evals.remove(id) {
            let k = (e.create_index, e.id.clone());
            st.evals_by_create.remove(&k);
            remove_from(&mut st.job_evals, &e.job_id, &k);
            r.evals += 1;
        }
    }
    for id in &v.jobs {
        if st.jobs.remove(id).is_some() {
            r.jobs += 1;
        }
        // Anything of the job still indexed (nothing, when the selection was complete) is dropped too.
        if st.job_allocs.get(id).is_some_and(BTreeSet::is_empty) {
            st.job_allocs.remove(id);
        }
        if st.job_evals.get(id).is_some_and(BTreeSet::is_empty) {
            st.job_evals.remove(id);
        }
    }
    for id in &v.purge_marks {
        if st.purged.remove(id).is_some() {
            r.purge_marks += 1;
        }
    }
    r
}

fn remove_from(m: &mut BTreeMap<String, BTreeSet<(u64, String)>>, key: &str, k: &(u64, String)) {
    if let Some(s) = m.get_mut(key) {
        s.remove(k);
        if s.is_empty() {
            m.remove(key);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn time_table_is_bounded_and_finds_the_newest_entry_at_or_before() {
        let mut tt = TimeTable::default();
        let min = 60 * 1_000_000_000u64;
        for i in 0..10_000u64 {
            tt.witness(i * 10, i * min);
        }
        // One entry per 5 min, 72 h kept.
        assert_eq!(tt.len(), 864);
        assert_eq!(tt.nearest_index(9_999 * min), 99_950);
        assert_eq!(tt.nearest_index(9_995 * min - 1), 99_900);
        // The oldest entry kept is 863 × 5 min before the newest; anything older is forgotten.
        assert_eq!(tt.nearest_index(5_680 * min), 56_800);
        assert_eq!(tt.nearest_index(5_679 * min), 0);
        assert_eq!(tt.nearest_index(0), 0);
        // A smaller index never goes in.
        tt.witness(5, 30_000 * min);
        assert_eq!(tt.nearest_index(u64::MAX), 99_950);
    }

    #[test]
    fn periodic_thresholds_come_from_the_time_table() {
        let mut tt = TimeTable::default();
        let min = 60 * 1_000_000_000u64;
        for m in 0..=600u64 {
            tt.witness(m + 1, m * min);
        }
        let cfg = GcConfig::default();
        let t = Thresholds::at(&cfg, &tt, 600 * min);
        // 4 h before minute 600 is minute 360 (index 361); 1 h before is minute 540.
        assert_eq!(t.job, 361);
        assert_eq!(t.eval, 541);
        // 24 h before is before the start: nothing is old enough.
        assert_eq!(t.batch_eval, 0);
    }
}
