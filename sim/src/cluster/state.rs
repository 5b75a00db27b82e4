//! Cluster state: jobs with their slots, evaluations, allocations; the slot state machine.

use super::*;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum SlotState {
    /// Needs a placement.
    Empty,
    /// In a plan that has not committed yet.
    Planned,
    /// Has a live allocation.
    Placed,
    /// Finished (batch success, or failed with no reschedule left), or stopped.
    Done,
    /// Failed; a replacement will be placed after the reschedule delay.
    WaitingReschedule,
}

#[derive(Debug, Clone)]
pub(super) struct Slot {
    pub(super) state: SlotState,
    /// Delivery token of the plan that holds this slot while `Planned`.
    pub(super) plan_token: u64,
    pub(super) alloc: Option<AllocIx>,
}

#[derive(Debug, Clone)]
pub(super) struct GroupRt {
    pub(super) slots: Vec<Slot>,
    pub(super) image: u32,
    /// Recorded replacement outcomes used so far (trace replay: entries at `count + k`).
    pub(super) replacements_used: u32,
    /// System and sysbatch jobs: the slot of each node placed on (`system.rs`).
    pub(super) pinned: BTreeMap<NodeIx, u32>,
}

pub(super) struct Job {
    pub(super) spec: Arc<JobSpec>,
    pub(super) submit_time: SimTime,
    pub(super) intended_submit: SimTime,
    pub(super) sent: SimTime,
    pub(super) create_index: u64,
    pub(super) modify_index: u64,
    pub(super) job_modify_index: u64,
    pub(super) version: u64,
    pub(super) stopped: bool,
    pub(super) purged: bool,
    /// Reaped by the leader's job GC (`gc.rs`): no longer in Nomad's state.
    pub(super) collected: bool,
    pub(super) groups: Vec<GroupRt>,
    pub(super) allocs: Vec<AllocIx>,
    pub(super) parent: Option<JobIx>,
    pub(super) dispatch_count: u64,
    /// Compiled placement requirements (`None`: CPU, memory and disk only).
    pub(super) place: Option<Box<feasible::JobPlace>>,
    /// Evaluations of the job, in creation order (for the GC: `gc.rs`).
    pub(super) evals: Vec<EvalIx>,
}

#[derive(Debug, Clone)]
pub(super) struct Eval {
    pub(super) job: JobIx,
    pub(super) priority: u32,
    pub(super) triggered_by: TriggeredBy,
    pub(super) status: EvalStatus,
    pub(super) status_description: String,
    pub(super) create_index: u64,
    pub(super) modify_index: u64,
    pub(super) create_time: SimTime,
    pub(super) modify_time: SimTime,
    pub(super) token: u64,
    pub(super) nack_seq: u64,
    pub(super) deliveries: u32,
    pub(super) blocked_eval: Option<EvalIx>,
    pub(super) previous_eval: Option<EvalIx>,
    pub(super) node: Option<NodeIx>,
    pub(super) job_modify_index: u64,
    pub(super) queued: u32,
    pub(super) failed_tgs: Vec<u16>,
    /// Reaped by the leader's job or evaluation GC: no longer in Nomad's state (`gc.rs`).
    pub(super) collected: bool,
}

#[derive(Debug, Clone)]
pub(super) struct Alloc {
    pub(super) job: JobIx,
    pub(super) group: u16,
    pub(super) slot: u32,
    pub(super) node: NodeIx,
    pub(super) eval: EvalIx,
    pub(super) cpu: u32,
    pub(super) mem: u32,
    /// Ephemeral disk, MB.
    pub(super) disk: u32,
    pub(super) create_time: SimTime,
    pub(super) modify_time: SimTime,
    pub(super) received: Option<Stamp>,
    pub(super) started: Option<Stamp>,
    pub(super) finished: Option<Stamp>,
    pub(super) create_index: u64,
    pub(super) modify_index: u64,
    /// Truth on the node.
    pub(super) client_side: ClientStatus,
    /// As the servers know it.
    pub(super) server_status: ClientStatus,
    pub(super) desired: DesiredStatus,
    pub(super) prev: Option<AllocIx>,
    pub(super) next: Option<AllocIx>,
    pub(super) restarts: u32,
    /// Start of the restart tracker's current interval (`None`: no failure yet).
    pub(super) restart_window: Option<Stamp>,
    /// Restarts counted in that interval.
    pub(super) restarts_in_window: u32,
    pub(super) rescheduled: bool,
    pub(super) lost: bool,
    pub(super) freed: bool,
    pub(super) alloc_time_ns: u32,
    pub(super) nodes_evaluated: u32,
    /// How long each attempt runs (`None`: until stopped).
    pub(super) run_ns: Option<Nanos>,
    pub(super) recorded_ok: Option<bool>,
    pub(super) attempt: u32,
    /// Reaped by the leader's job or evaluation GC (`gc.rs`).
    pub(super) collected: bool,
}

impl Alloc {
    /// Terminal as the servers see it: not desired to run, or reported complete, failed or lost
    /// (`Allocation.TerminalStatus`).
    #[inline]
    pub(super) fn terminal(&self) -> bool {
        self.desired != DesiredStatus::Run
            || matches!(
                self.server_status,
                ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
            )
    }
}

impl Slot {
    /// A slot that wants a placement.
    pub(super) fn empty() -> Slot {
        Slot {
            state: SlotState::Empty,
            plan_token: 0,
            alloc: None,
        }
    }
}

impl GroupRt {
    /// The task group of a new job of type `t`: `count` empty slots, or none for a system or sysbatch job
    /// (its slots are added per node: `system.rs`).
    pub(super) fn for_job(t: JobType, count: u32) -> GroupRt {
        GroupRt::new(if system::per_node(t) { 0 } else { count })
    }

    /// A task group of `count` empty slots.
    pub(super) fn new(count: u32) -> GroupRt {
        GroupRt {
            slots: (0..count).map(|_| Slot::empty()).collect(),
            image: 0,
            replacements_used: 0,
            pinned: BTreeMap::new(),
        }
    }
}

/// Why an evaluation was created (Nomad's `TriggeredBy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum TriggeredBy {
    /// A job was registered (or dispatched).
    JobRegister,
    /// A job was deregistered.
    JobDeregister,
    /// A node went down with allocations of the job.
    NodeUpdate,
    /// A node with allocations of the job started draining.
    NodeDrain,
    /// A failed allocation's reschedule delay ran out.
    AllocFailure,
    /// The blocked evaluation of a job (created when an evaluation could not place everything).
    QueuedAllocs,
    /// A periodic job launched a child (`nomad/periodic.go:Server.DispatchJob`).
    PeriodicJob,
}

impl TriggeredBy {
    /// Nomad's wire spelling.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            TriggeredBy::JobRegister => "job-register",
            TriggeredBy::JobDeregister => "job-deregister",
            TriggeredBy::NodeUpdate => "node-update",
            TriggeredBy::NodeDrain => "node-drain",
            TriggeredBy::AllocFailure => "alloc-failure",
            TriggeredBy::QueuedAllocs => "queued-allocs",
            TriggeredBy::PeriodicJob => "periodic-job",
        }
    }
}

/// What the servers and the clients hold: the arenas of jobs, evaluations, allocations, nodes and plans in
/// flight, and the derived indexes and gauges kept in step with them.
pub(super) struct State {
    /// Root seed (IDs are derived from it).
    pub(super) seed: u64,
    /// Cluster-wide scheduler algorithm.
    pub(super) algorithm: Algorithm,
    /// Every node that ever joined.
    pub(super) nodes: Arena<NodeIx, Node>,
    /// Node pools.
    pub(super) pools: Vec<PoolRt>,
    /// Datacenter names, sorted.
    pub(super) dcs: Vec<String>,
    /// Every job ever registered.
    pub(super) jobs: Arena<JobIx, Job>,
    /// Job index by ID (purged jobs removed).
    pub(super) job_by_id: BTreeMap<String, JobIx>,
    /// Every allocation.
    pub(super) allocs: Arena<AllocIx, Alloc>,
    /// Every evaluation.
    pub(super) evals: Arena<EvalIx, Eval>,
    /// Interned image names.
    pub(super) images: BTreeMap<String, u32>,
    /// Size of each interned image.
    pub(super) image_bytes: Vec<u64>,
    /// Allocations ever placed on each node.
    pub(super) node_allocs: Arena<NodeIx, Vec<AllocIx>>,
    /// Plans between a worker and the applier.
    pub(super) plans: Arena<PlanIx, Option<Plan>>,
    /// Free plan slots.
    pub(super) free_plans: Vec<PlanIx>,
    /// The leader's job GC.
    pub(super) gc: gc::JobGc,
    /// Host ports in use per node (empty until a job asks for ports).
    pub(super) ports: Vec<feasible::NodePorts>,
    /// The placement (ports) of each live allocation that holds host ports.
    pub(super) alloc_ports: BTreeMap<AllocIx, Arc<crate::placement::GroupPlacement>>,
    /// The leader's evaluation GC.
    pub(super) egc: gc::EvalGc,
    /// System jobs (type `system`), in registration order (`system.rs`).
    pub(super) system_jobs: Vec<JobIx>,
    /// The leader's periodic dispatcher (`periodic.rs`).
    pub(super) periodic: periodic::Periodic,
    /// Allocations wanted and not placed.
    pub(super) unplaced: u64,
    /// CPU of the unplaced allocations, MHz.
    pub(super) unplaced_cpu: u64,
    /// Memory of the unplaced allocations, MB.
    pub(super) unplaced_mem: u64,
    /// Allocations running now (truth on the clients).
    pub(super) running_now: u64,
}

impl State {
    pub(super) fn intern_image(&mut self, name: &str, bytes: u64) -> u32 {
        if let Some(&i) = self.images.get(name) {
            let b = &mut self.image_bytes[i as usize];
            *b = (*b).max(bytes);
            return i;
        }
        let i = self.image_bytes.len() as u32;
        self.images.insert(name.to_string(), i);
        self.image_bytes.push(bytes);
        i
    }

    pub(super) fn job_unit(&self, j: JobIx, g: usize) -> (u32, u32) {
        let s = &self.jobs[j].spec;
        s.groups
            .get(g)
            .map(|g| (g.cpu_mhz, g.memory_mb))
            .unwrap_or((0, 0))
    }

    pub(super) fn add_unplaced(&mut self, j: JobIx, g: usize, n: u64) {
        let (cpu, mem) = self.job_unit(j, g);
        self.unplaced += n;
        self.unplaced_cpu += n * cpu as u64;
        self.unplaced_mem += n * mem as u64;
    }

    pub(super) fn sub_unplaced(&mut self, j: JobIx, g: usize, n: u64) {
        let (cpu, mem) = self.job_unit(j, g);
        self.unplaced = self.unplaced.saturating_sub(n);
        self.unplaced_cpu = self.unplaced_cpu.saturating_sub(n * cpu as u64);
        self.unplaced_mem = self.unplaced_mem.saturating_sub(n * mem as u64);
    }

    pub(super) fn create_eval(
        &mut self,
        job: JobIx,
        triggered_by: TriggeredBy,
        node: Option<NodeIx>,
        index: u64,
        now: SimTime,
    ) -> EvalIx {
        let e = self.evals.next_ix();
        let pr = self.jobs[job].spec.priority;
        let jmi = self.jobs[job].job_modify_index;
        self.evals.push(Eval {
            job,
            priority: pr,
            triggered_by,
            status: EvalStatus::Pending,
            status_description: String::new(),
            create_index: index,
            modify_index: index,
            create_time: now,
            modify_time: now,
            token: 0,
            nack_seq: 0,
            deliveries: 0,
            blocked_eval: None,
            previous_eval: None,
            node,
            job_modify_index: jmi,
            queued: 0,
            failed_tgs: Vec::new(),
            collected: false,
        });
        self.jobs[job].evals.push(e);
        e
    }

    pub(super) fn eval_id(&self, e: EvalIx) -> String {
        rng::uuid(self.seed, IdKind::Eval, e.raw() as u64)
    }

    pub(super) fn release_alloc(&mut self, a: AllocIx, now: SimTime) {
        let al = &mut self.allocs[a];
        if al.freed {
            return;
        }
        al.freed = true;
        let nd = &mut self.nodes[al.node];
        nd.cpu_used -= al.cpu;
        nd.mem_used -= al.mem;
        nd.disk_used -= al.disk;
        nd.live_allocs -= 1;
        if nd.live_allocs == 0 {
            nd.idle_since = now;
        }
        if !self.alloc_ports.is_empty() {
            let node = al.node;
            if let Some(p) = self.alloc_ports.remove(&a) {
                self.release_ports(node, &p.ports);
            }
        }
    }
}
