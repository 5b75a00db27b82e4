//! Fixtures for the components' unit tests: a small cluster, jobs and plans put straight into state.

use super::scheduler::Placement;
use super::*;

/// A cluster of `nodes` nodes of 1000 MHz / 1000 MB (one pool), 3 servers, 2 workers each.
pub(super) fn cluster(nodes: u32) -> Cluster {
    let text = format!(
        r#"
name = "unit"
[cluster]
servers = 3
instance_type = "m5.2xlarge"
num_schedulers = 2
algorithm = "binpack"
[[pools]]
instance_type = "m5.large"
cpu_mhz = 1000
memory_mb = 1000
count = {nodes}
[workload]
jobs = 1
"#
    );
    let sc = Scenario::from_toml("unit.toml", &text).expect("unit scenario");
    Cluster::new(&sc, 1, ClusterOptions::default()).expect("cluster")
}

/// A batch job of one group of `count` allocations of `cpu` MHz / 100 MB running `run_s` seconds.
pub(super) fn spec(id: &str, count: u32, cpu: u32, all_at_once: bool) -> JobSpec {
    JobSpec {
        id: id.into(),
        job_type: JobType::Batch,
        priority: 50,
        datacenters: vec!["*".into()],
        all_at_once,
        spread_block: false,
        parameterized: false,
        periodic: None,
        groups: vec![GroupSpec {
            name: "g".into(),
            count,
            cpu_mhz: cpu,
            memory_mb: 100,
            tasks: vec!["t".into()],
            image: "img".into(),
            image_bytes: 0,
            run: RunPlan::Model {
                duration: RunDuration::Fixed(10 * SEC),
                fail_rate: 0.0,
            },
            node_class: None,
            restart: None,
            reschedule: None,
            max_run_ns: None,
            placement: None,
        }],
        meta: Default::default(),
        source_json: None,
        node_pool: None,
    }
}

/// Puts a registered job (all slots empty) and its pending evaluation straight into state.
pub(super) fn add_job(st: &mut State, spec: JobSpec) -> (JobIx, EvalIx) {
    let j = st.jobs.next_ix();
    let groups = spec
        .groups
        .iter()
        .map(|g| GroupRt::for_job(spec.job_type, g.count))
        .collect();
    st.job_by_id.insert(spec.id.clone(), j);
    st.jobs.push(Job {
        spec: Arc::new(spec),
        submit_time: 0,
        intended_submit: 0,
        sent: 0,
        create_index: 1,
        modify_index: 1,
        job_modify_index: 1,
        version: 0,
        stopped: false,
        purged: false,
        collected: false,
        groups,
        allocs: Vec::new(),
        parent: None,
        dispatch_count: 0,
        place: None,
        evals: Vec::new(),
    });
    let e = st.create_eval(j, TriggeredBy::JobRegister, None, 1, 0);
    (j, e)
}

/// A plan of eval `e` (token `token`) placing slot `i` of group 0 on `nodes[i]`; stored in the plan arena.
pub(super) fn plan(st: &mut State, e: EvalIx, token: u64, nodes: &[u32]) -> PlanIx {
    let ev = &st.evals[e];
    let job = &st.jobs[ev.job];
    let plan = Plan {
        eval: e,
        job: ev.job,
        worker: WorkerIx::new(0),
        token,
        priority: ev.priority,
        all_at_once: job.spec.all_at_once,
        placements: nodes
            .iter()
            .enumerate()
            .map(|(i, &n)| Placement {
                group: 0,
                slot: i as u32,
                node: NodeIx::new(n),
                alloc_time_ns: 0,
                nodes_evaluated: 1,
                prev: None,
                migration: false,
            })
            .collect(),
        stops: Vec::new(),
        accepted: Vec::new(),
        rejected_nodes: 0,
        create_time: 0,
        failed_tgs: Vec::new(),
    };
    st.plans.push(Some(plan))
}

/// An allocation of `job` on `node`, running on the client, pending at the servers.
pub(super) fn alloc(job: JobIx, node: NodeIx) -> Alloc {
    Alloc {
        job,
        group: 0,
        slot: 0,
        node,
        eval: EvalIx::new(0),
        cpu: 1,
        mem: 1,
        disk: 0,
        create_time: 0,
        modify_time: 0,
        received: None,
        started: None,
        finished: None,
        create_index: 0,
        modify_index: 0,
        client_side: ClientStatus::Running,
        server_status: ClientStatus::Pending,
        desired: DesiredStatus::Run,
        prev: None,
        next: None,
        restarts: 0,
        restart_window: None,
        restarts_in_window: 0,
        rescheduled: false,
        lost: false,
        freed: false,
        alloc_time_ns: 0,
        nodes_evaluated: 0,
        run_ns: Some(Nanos::ns(0)),
        recorded_ok: None,
        attempt: 0,
        collected: false,
    }
}
