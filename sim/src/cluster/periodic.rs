//! Periodic jobs: the leader's dispatcher launches a child job on each cron tick (the nightly build).
//!
//! Nomad ([src] `nomad/periodic.go`, v1.6.5 and later):
//! - Registering a job with an active `periodic` block creates no evaluation
//!   (`nomad/job_endpoint.go:Job.Register`, `job.IsPeriodicActive()`); the FSM hands it to the leader's
//!   `PeriodicDispatch.Add`, which pushes it on a heap keyed by `job.Periodic.Next(now)` (the first cron time
//!   strictly after now).
//! - `PeriodicDispatch.run` sleeps until the heap's earliest launch and calls `dispatch(job, launchTime)`:
//!   the next launch is `Next(launchTime)`; if `prohibit_overlap` is set and `Server.RunningChildren` finds
//!   a child (ID prefix `<parent>/periodic-`, `ParentID` = parent) with a non-terminal evaluation or
//!   allocation, the launch is skipped; otherwise `createEval` → `deriveJob` copies the parent as
//!   `<parent>/periodic-<launch Unix seconds>` (`derivedJobID`, `PeriodicLaunchSuffix`), `ParentID` set,
//!   `Periodic` cleared, and `Server.DispatchJob` commits the child with its evaluation (trigger
//!   `periodic-job`) through one Raft entry (`JobRegisterRequestType`).
//! - Deregistering the parent removes it from the heap (`PeriodicDispatch.Remove`).
//! - The job GC never reaps a periodic parent unless it is stopped (`jobIsGCable`); its dead children are
//!   ordinary batch jobs and are reaped (`gc.rs`).
//!
//! The simulated clock starts at [`crate::record::SIM_EPOCH_UNIX_NS`] (2020-11-17T00:00:00Z, midnight
//! UTC): cron specs are read in UTC against it. A simulated run must end, so launches are scheduled only up
//! to the scenario's `[sim] periodic_until` (default 24 h); until then a pending launch keeps the run going.
//! With no horizon (`u64::MAX`, the emulator) launches go on for ever as background events.

use super::*;

/// Unix seconds at t = 0.
const EPOCH_S: i64 = (crate::record::SIM_EPOCH_UNIX_NS / 1_000_000_000) as i64;

/// The leader's periodic dispatcher.
#[derive(Debug)]
pub(super) struct Periodic {
    /// Launches are scheduled up to this time, ns (`u64::MAX`: for ever, as background events).
    until: SimTime,
    /// Per tracked parent: its generation (a re-register bumps it, so older launch events go stale).
    gens: BTreeMap<JobIx, u32>,
    /// Per parent: its children not yet known to be finished (for `prohibit_overlap`).
    children: BTreeMap<JobIx, Vec<JobIx>>,
    /// Children launched.
    pub(super) launches: u64,
    /// Launches skipped because a child still ran (`prohibit_overlap`).
    pub(super) skipped: u64,
}

impl Default for Periodic {
    fn default() -> Self {
        Periodic::new(u64::MAX)
    }
}

impl Periodic {
    /// A dispatcher scheduling launches up to `until` ns.
    pub(super) fn new(until: SimTime) -> Self {
        Periodic {
            until,
            gens: BTreeMap::new(),
            children: BTreeMap::new(),
            launches: 0,
            skipped: 0,
        }
    }

    /// The first launch of `spec` strictly after `t`, in simulated ns (`None`: none, or past the horizon).
    fn next_after(&self, spec: &PeriodicSpec, t: SimTime) -> Option<SimTime> {
        let unix = spec.cron.next_after(EPOCH_S + (t / SEC) as i64)?;
        let at = (unix - EPOCH_S) as u64 * SEC;
        (at <= self.until).then_some(at)
    }

    fn schedule(&self, cx: &mut Ctx, j: JobIx, gen: u32, at: SimTime) {
        cx.push(
            at,
            Ev::PeriodicLaunch {
                job: j,
                gen,
                foreground: self.until != u64::MAX,
            },
        );
    }

    /// `PeriodicDispatch.Add`: the FSM registered periodic parent `j` (new or a new version).
    pub(super) fn add(&mut self, st: &State, cx: &mut Ctx, j: JobIx) {
        let Some(spec) = st.jobs[j].spec.periodic.as_ref() else {
            return;
        };
        let gen = self.gens.entry(j).or_insert(0);
        *gen += 1;
        let gen = *gen;
        if let Some(at) = self.next_after(spec, cx.now) {
            self.schedule(cx, j, gen, at);
        }
    }

    /// A child of periodic parent `p` was registered.
    pub(super) fn child_registered(&mut self, p: JobIx, child: JobIx) {
        self.children.entry(p).or_default().push(child);
    }

    /// `PeriodicDispatch.dispatch` at a launch time of parent `j`.
    pub(super) fn launch(&mut self, st: &mut State, cx: &mut Ctx, j: JobIx, gen: u32) {
        let job = &st.jobs[j];
        if self.gens.get(&j) != Some(&gen) || job.stopped || job.purged || job.collected {
            return;
        }
        let Some(spec) = job.spec.periodic.clone() else {
            return;
        };
        if let Some(at) = self.next_after(&spec, cx.now) {
            self.schedule(cx, j, gen, at);
        }
        if spec.prohibit_overlap && self.running_children(st, j) {
            self.skipped += 1;
            return;
        }
        let mut child = (*job.spec).clone();
        child.id = format!(
            "{}/periodic-{}",
            job.spec.id,
            EPOCH_S + (cx.now / SEC) as i64
        );
        child.periodic = None;
        self.launches += 1;
        cx.raft_append(Entry::Register {
            req: requests::INTERNAL,
            spec: Arc::new(child),
            parent: Some(j),
            intended: cx.now,
            sent: cx.now,
        });
    }

    /// `Server.RunningChildren`: whether a child of `j` has work left (a slot not done, or an allocation
    /// not terminal). Finished children are dropped from the list.
    fn running_children(&mut self, st: &State, j: JobIx) -> bool {
        let Some(list) = self.children.get_mut(&j) else {
            return false;
        };
        list.retain(|&c| {
            let job = &st.jobs[c];
            !job.collected
                && !job.purged
                && (job
                    .groups
                    .iter()
                    .any(|g| g.slots.iter().any(|s| s.state != SlotState::Done))
                    || job.allocs.iter().any(|&a| {
                        let al = &st.allocs[a];
                        !al.terminal()
                    }))
        });
        !list.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn launches_are_cron_times_up_to_the_horizon() {
        let p = Periodic::new(3600 * SEC);
        let spec = PeriodicSpec::new("*/10 * * * *", false, "").unwrap();
        let mut t = 0;
        let mut at = Vec::new();
        while let Some(n) = p.next_after(&spec, t) {
            at.push(n / SEC);
            t = n;
        }
        assert_eq!(at, vec![600, 1200, 1800, 2400, 3000, 3600]);
        let daily = PeriodicSpec::new("@daily", true, "UTC").unwrap();
        assert_eq!(
            Periodic::new(u64::MAX).next_after(&daily, 5 * SEC),
            Some(86_400 * SEC)
        );
        assert_eq!(p.next_after(&daily, 0), None, "past the horizon");
    }
}
