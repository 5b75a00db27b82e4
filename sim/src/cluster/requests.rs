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

impl Cluster {
    /// Submits a job registration at the current time, intended (scheduled) at `intended`. The request
    /// reaches the leader after half an API round trip; its outcome appears in
    /// [`Cluster::take_completed`] when the response would reach the submitter.
    pub fn submit_register(
        &mut self,
        spec: JobSpec,
        intended: SimTime,
    ) -> Result<RequestId, SimError> {
        validate_job(&spec)?;
        let id = self.next_req;
        self.next_req += 1;
        self.requests.insert(
            id,
            Request::Register {
                spec: Arc::new(spec),
                intended,
                sent: self.now,
            },
        );
        self.push(self.now + self.p.api_rtt_us * US / 2, Ev::RequestArrive(id));
        Ok(RequestId(id))
    }

    /// Submits a job deregistration (`purge` removes it from state).
    pub fn submit_deregister(&mut self, job_id: &str, purge: bool) -> Result<RequestId, SimError> {
        if !self.job_by_id.contains_key(job_id) {
            return Err(SimError::NotFound("job not found".into()));
        }
        let id = self.next_req;
        self.next_req += 1;
        self.requests.insert(
            id,
            Request::Deregister {
                job: job_id.to_string(),
                purge,
            },
        );
        self.push(self.now + self.p.api_rtt_us * US / 2, Ev::RequestArrive(id));
        Ok(RequestId(id))
    }

    /// Dispatches a parameterized job.
    pub fn submit_dispatch(
        &mut self,
        parent: &str,
        meta: BTreeMap<String, String>,
        intended: SimTime,
    ) -> Result<RequestId, SimError> {
        let j = *self
            .job_by_id
            .get(parent)
            .ok_or_else(|| SimError::NotFound("job not found".into()))?;
        if !self.jobs[j as usize].spec.parameterized {
            return Err(SimError::InvalidJob(
                "Specified job is not a parameterized job".into(),
            ));
        }
        if self.jobs[j as usize].stopped {
            return Err(SimError::InvalidJob("Job is stopped".into()));
        }
        let id = self.next_req;
        self.next_req += 1;
        self.requests.insert(
            id,
            Request::Dispatch {
                parent: parent.to_string(),
                meta,
                intended,
                sent: self.now,
            },
        );
        self.push(self.now + self.p.api_rtt_us * US / 2, Ev::RequestArrive(id));
        Ok(RequestId(id))
    }

    pub(super) fn request_arrive(&mut self, r: u64) {
        if self.now < self.election_until {
            self.deferred_requests.push(r);
            return;
        }
        let req = self.requests.get(&r).cloned();
        match req {
            Some(Request::Register {
                spec,
                intended,
                sent,
            }) => {
                self.raft_append(Entry::Register {
                    req: r,
                    spec,
                    parent: None,
                    intended,
                    sent,
                });
            }
            Some(Request::Deregister { job, purge }) => match self.job_by_id.get(&job) {
                Some(&j) => {
                    self.raft_append(Entry::Deregister {
                        req: r,
                        job: j,
                        purge,
                    });
                }
                None => self.complete(r, RequestOutcome::Failed("job not found".into())),
            },
            Some(Request::Dispatch {
                parent,
                meta,
                intended,
                sent,
            }) => {
                let Some(&pj) = self.job_by_id.get(&parent) else {
                    self.complete(r, RequestOutcome::Failed("job not found".into()));
                    return;
                };
                let pjob = &mut self.jobs[pj as usize];
                pjob.dispatch_count += 1;
                let n = pjob.dispatch_count;
                let mut spec = (*pjob.spec).clone();
                let suffix = &rng::uuid(self.seed, IdKind::Dispatch, (pj as u64) << 32 | n)[..8];
                spec.id = format!(
                    "{}/dispatch-{}-{}",
                    parent,
                    1_605_571_200 + self.now / SEC,
                    suffix
                );
                spec.parameterized = false;
                spec.meta.extend(meta);
                self.raft_append(Entry::Register {
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

    pub(super) fn complete(&mut self, r: u64, outcome: RequestOutcome) {
        self.requests.remove(&r);
        // The response travels back half an RTT; the submitter sees it then.
        let t = self.now + self.p.api_rtt_us * US / 2;
        self.completed.push((RequestId(r), t, outcome));
    }
}
