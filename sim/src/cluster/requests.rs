//! API requests: submission, arrival at the leader (½ RTT), responses.

use super::*;

#[derive(Debug, Clone)]
pub(super) enum Request {
    Register {
        spec: Arc<JobSpec>,
        intended: SimTime,
        sent: SimTime,
    },
    Deregister {
        job: String,
        purge: bool,
    },
    Dispatch {
        parent: String,
        meta: BTreeMap<String, String>,
        intended: SimTime,
        sent: SimTime,
    },
}

pub(super) fn validate_job(spec: &JobSpec) -> Result<(), SimError> {
    if spec.id.is_empty() {
        return Err(SimError::InvalidJob("Job ID hasn't been provided".into()));
    }
    if spec.id.contains(' ') || spec.id.contains('\0') {
        return Err(SimError::InvalidJob(
            "1 error occurred:\n\t* Job ID contains a space or null character\n\n".into(),
        ));
    }
    if spec.groups.is_empty() {
        return Err(SimError::InvalidJob(
            "1 error occurred:\n\t* Missing job task groups\n\n".into(),
        ));
    }
    if !(1..=100).contains(&spec.priority) {
        return Err(SimError::InvalidJob(format!(
            "1 error occurred:\n\t* Job priority must be between [1, 100]; got {}\n\n",
            spec.priority
        )));
    }
    for g in &spec.groups {
        if g.tasks.is_empty() {
            return Err(SimError::InvalidJob(format!("1 error occurred:\n\t* Task group {} validation failed: Missing tasks for task group\n\n", g.name)));
        }
        if g.cpu_mhz == 0 || g.memory_mb == 0 {
            return Err(SimError::InvalidJob(format!("1 error occurred:\n\t* Task group {} validation failed: resources must be positive\n\n", g.name)));
        }
    }
    Ok(())
}

/// The request id of entries the leader makes itself (periodic launches): no submitter waits for them.
pub(super) const INTERNAL: u64 = 0;

/// The API front: requests in flight to the leader, and those deferred during an election.
#[derive(Debug)]
pub(super) struct Requests {
    /// Requests sent and not yet answered, by id.
    pub(super) pending: BTreeMap<u64, Request>,
    /// The next request id.
    pub(super) next: u64,
    /// Requests that reached the servers while no leader was elected (they are served at election).
    pub(super) deferred: Vec<u64>,
}

impl Requests {
    pub(super) fn new() -> Self {
        Requests {
            pending: BTreeMap::new(),
            next: 1,
            deferred: Vec::new(),
        }
    }

    /// Sends `req` now; it reaches the leader after half an API round trip.
    pub(super) fn submit(&mut self, cx: &mut Ctx, req: Request) -> RequestId {
        let id = self.next;
        self.next += 1;
        self.pending.insert(id, req);
        cx.push(
            cx.now + cx.p.api_rtt_us * US / 2,
            Ev::RequestArrive { req: id },
        );
        RequestId(id)
    }

    /// A request reaches the leader: it becomes a Raft entry (or fails: unknown job).
    pub(super) fn arrive(&mut self, st: &mut State, cx: &mut Ctx, r: u64) {
        if cx.now < cx.election_until {
            self.deferred.push(r);
            return;
        }
        let req = self.pending.get(&r).cloned();
        match req {
            Some(Request::Register {
                spec,
                intended,
                sent,
            }) => {
                cx.raft_append(Entry::Register {
                    req: r,
                    spec,
                    parent: None,
                    intended,
                    sent,
                });
            }
            Some(Request::Deregister { job, purge }) => match st.job_by_id.get(&job) {
                Some(&j) => {
                    cx.raft_append(Entry::Deregister {
                        req: r,
                        job: j,
                        purge,
                    });
                }
                None => self.complete(cx, r, RequestOutcome::Failed("job not found".into())),
            },
            Some(Request::Dispatch {
                parent,
                meta,
                intended,
                sent,
            }) => {
                let Some(&pj) = st.job_by_id.get(&parent) else {
                    self.complete(cx, r, RequestOutcome::Failed("job not found".into()));
                    return;
                };
                let pjob = &mut st.jobs[pj];
                pjob.dispatch_count += 1;
                let n = pjob.dispatch_count;
                let mut spec = (*pjob.spec).clone();
                let suffix =
                    &rng::uuid(st.seed, IdKind::Dispatch, (pj.raw() as u64) << 32 | n)[..8];
                spec.id = format!(
                    "{}/dispatch-{}-{}",
                    parent,
                    1_605_571_200 + cx.now / SEC,
                    suffix
                );
                spec.parameterized = false;
                spec.meta.extend(meta);
                cx.raft_append(Entry::Register {
                    req: r,
                    spec: Arc::new(spec),
                    parent: Some(pj),
                    intended,
                    sent,
                });
            }
            None => {}
        }
    }

    /// Answers request `r`; the response reaches the submitter half an RTT later.
    pub(super) fn complete(&mut self, cx: &mut Ctx, r: u64, outcome: RequestOutcome) {
        self.pending.remove(&r);
        // The response travels back half an RTT; the submitter sees it then.
        let t = cx.now + cx.p.api_rtt_us * US / 2;
        cx.completed.push((RequestId(r), t, outcome));
    }
}
