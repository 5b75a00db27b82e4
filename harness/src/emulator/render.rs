//! Views of the simulator core ([`stampede_sim::api`]) rendered as Nomad's JSON objects.
//!
//! Every function takes `base_ns`, the Unix time (ns) of the core's t = 0, and returns Nomad-shaped JSON
//! (PascalCase keys, Unix-ns integer times, RFC 3339 task times, `null` for zero times).

use serde_json::{json, Map, Value};
use stampede_sim::api::{AllocView, ClientStatus, EvalView, JobView, NodeView, SimTime};

/// Emulated Nomad version (`/v1/agent/self` `config.Version.Version`, node `Version`).
pub const VERSION: &str = "1.9.0-stampede-emulator";

/// Unix ns of a core time.
pub fn unix_ns(base_ns: u64, t: SimTime) -> u64 {
    base_ns.saturating_add(t)
}

/// RFC 3339 (UTC, ns precision) of a core time, as Go's `time.Time` JSON.
pub fn rfc3339(base_ns: u64, t: SimTime) -> String {
    let ns = unix_ns(base_ns, t);
    let dt =
        chrono::DateTime::from_timestamp((ns / 1_000_000_000) as i64, (ns % 1_000_000_000) as u32)
            .unwrap_or_default();
    dt.to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn opt_time(base_ns: u64, t: Option<SimTime>) -> Value {
    match t {
        Some(t) => Value::String(rfc3339(base_ns, t)),
        None => Value::Null,
    }
}

/// `JobSummary` object of a job.
pub fn job_summary(j: &JobView) -> Value {
    let mut s = Map::new();
    for (g, c) in &j.summary {
        s.insert(
            g.clone(),
            json!({"Queued": c.queued, "Starting": c.starting, "Running": c.running,
                   "Complete": c.complete, "Failed": c.failed, "Lost": c.lost, "Unknown": 0}),
        );
    }
    json!({
        "JobID": j.spec.id, "Namespace": "default", "Summary": s,
        "Children": {"Pending": 0, "Running": 0, "Dead": 0},
        "CreateIndex": j.create_index, "ModifyIndex": j.modify_index,
    })
}

/// `JobListStub` (`GET /v1/jobs`); `meta` adds the job's `Meta`.
pub fn job_stub(j: &JobView, base_ns: u64, meta: bool) -> Value {
    let mut v = json!({
        "ID": j.spec.id, "ParentID": j.parent_id.clone().unwrap_or_default(), "Name": j.spec.id,
        "Namespace": "default", "Datacenters": datacenters(j), "Type": j.spec.job_type.as_str(),
        "Priority": j.spec.priority, "Periodic": j.spec.periodic.is_some(), "ParameterizedJob": j.spec.parameterized,
        "Stop": j.stop, "Status": j.status.as_str(), "StatusDescription": "",
        "JobSummary": job_summary(j), "CreateIndex": j.create_index, "ModifyIndex": j.modify_index,
        "JobModifyIndex": j.job_modify_index, "SubmitTime": unix_ns(base_ns, j.submit_time),
    });
    if meta {
        v["Meta"] = json!(j.spec.meta);
    }
    v
}

fn datacenters(j: &JobView) -> Vec<String> {
    if j.spec.datacenters.is_empty() {
        vec!["*".to_string()]
    } else {
        j.spec.datacenters.clone()
    }
}

/// The full `Job` object (`GET /v1/job/:id`): the submitted JSON with the server-side fields set.
pub fn job_full(j: &JobView, base_ns: u64) -> Value {
    let mut obj = j
        .spec
        .source_json
        .as_ref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
        .and_then(|v| match v {
            Value::Object(m) => Some(m),
            _ => None,
        })
        .unwrap_or_else(|| synth_job(j));
    let set = |o: &mut Map<String, Value>, k: &str, v: Value| {
        o.insert(k.to_string(), v);
    };
    set(&mut obj, "ID", json!(j.spec.id));
    set(&mut obj, "Name", json!(j.spec.id));
    set(&mut obj, "Namespace", json!("default"));
    if !obj.get("Region").is_some_and(|r| r.is_string()) {
        set(&mut obj, "Region", json!("global"));
    }
    set(&mut obj, "Type", json!(j.spec.job_type.as_str()));
    set(&mut obj, "Priority", json!(j.spec.priority));
    set(&mut obj, "Datacenters", json!(datacenters(j)));
    set(&mut obj, "AllAtOnce", json!(j.spec.all_at_once));
    set(&mut obj, "Meta", json!(j.spec.meta));
    set(&mut obj, "Status", json!(j.status.as_str()));
    set(&mut obj, "StatusDescription", json!(""));
    set(&mut obj, "Stop", json!(j.stop));
    set(&mut obj, "Stable", json!(false));
    set(&mut obj, "Version", json!(j.version));
    set(
        &mut obj,
        "SubmitTime",
        json!(unix_ns(base_ns, j.submit_time)),
    );
    set(&mut obj, "CreateIndex", json!(j.create_index));
    set(&mut obj, "ModifyIndex", json!(j.modify_index));
    set(&mut obj, "JobModifyIndex", json!(j.job_modify_index));
    set(
        &mut obj,
        "ParentID",
        json!(j.parent_id.clone().unwrap_or_default()),
    );
    // A periodic child (`<parent>/periodic-<unix>`, nomad/periodic.go `deriveJob`) is not a dispatched one
    // and has no `Periodic` block of its own.
    let periodic_child = j.parent_id.is_some() && j.spec.id.contains("/periodic-");
    set(
        &mut obj,
        "Dispatched",
        json!(j.parent_id.is_some() && !periodic_child),
    );
    if j.spec.periodic.is_none() {
        set(&mut obj, "Periodic", Value::Null);
    }
    if let Some(Value::Array(tgs)) = obj.get_mut("TaskGroups") {
        for (tg, g) in tgs.iter_mut().zip(&j.spec.groups) {
            if let Value::Object(m) = tg {
                m.insert("Name".into(), json!(g.name));
                m.insert("Count".into(), json!(g.count));
            }
        }
    }
    Value::Object(obj)
}

fn synth_job(j: &JobView) -> Map<String, Value> {
    let tgs: Vec<Value> = j
        .spec
        .groups
        .iter()
        .map(|g| {
            let n = g.tasks.len().max(1) as u32;
            let tasks: Vec<Value> = g
                .tasks
                .iter()
                .map(|t| {
                    json!({"Name": t, "Driver": "docker", "Config": {"image": g.image},
                           "Resources": {"CPU": g.cpu_mhz / n, "MemoryMB": g.memory_mb / n}})
                })
                .collect();
            json!({"Name": g.name, "Count": g.count, "Tasks": tasks})
        })
        .collect();
    let mut m = Map::new();
    m.insert("TaskGroups".into(), Value::Array(tgs));
    m.insert(
        "ParameterizedJob".into(),
        if j.spec.parameterized {
            json!({"Payload": "optional"})
        } else {
            Value::Null
        },
    );
    m
}

/// `Evaluation` object.
pub fn eval(e: &EvalView, base_ns: u64) -> Value {
    let failed: Value = if e.failed_tg_allocs.is_empty() {
        Value::Null
    } else {
        Value::Object(
            e.failed_tg_allocs
                .iter()
                .map(|g| {
                    (
                        g.clone(),
                        json!({"NodesEvaluated": 0, "NodesFiltered": 0, "NodesExhausted": 0,
                               "CoalescedFailures": 0, "DimensionExhausted": {"memory": 1}}),
                    )
                })
                .collect(),
        )
    };
    json!({
        "ID": e.id, "Namespace": "default", "Priority": e.priority, "Type": e.job_type.as_str(),
        "TriggeredBy": e.triggered_by, "JobID": e.job_id, "JobModifyIndex": e.job_modify_index,
        "NodeID": e.node_id, "NodeModifyIndex": 0, "DeploymentID": "", "Status": e.status.as_str(),
        "StatusDescription": e.status_description, "Wait": 0, "NextEval": "",
        "PreviousEval": e.previous_eval, "BlockedEval": e.blocked_eval, "FailedTGAllocs": failed,
        "ClassEligibility": null, "EscapedComputedClass": false, "AnnotatePlan": false,
        "QueuedAllocations": e.queued_allocs, "SnapshotIndex": e.modify_index,
        "CreateIndex": e.create_index, "ModifyIndex": e.modify_index,
        "CreateTime": unix_ns(base_ns, e.create_time), "ModifyTime": unix_ns(base_ns, e.modify_time),
    })
}

/// `TaskStates` of an allocation (`null` before the client received it).
pub fn task_states(a: &AllocView, base_ns: u64) -> Value {
    let Some(received) = a.received_at.or(a.started_at) else {
        return Value::Null;
    };
    let failed = a.client_status == ClientStatus::Failed;
    let dead = a.finished_at.is_some()
        || matches!(
            a.client_status,
            ClientStatus::Complete | ClientStatus::Failed | ClientStatus::Lost
        );
    let state = if dead {
        "dead"
    } else if a.started_at.is_some() {
        "running"
    } else {
        "pending"
    };
    let mut m = Map::new();
    for t in &a.tasks {
        let mut events = vec![
            task_event("Received", unix_ns(base_ns, received), "", 0),
            task_event(
                "Task Setup",
                unix_ns(base_ns, received),
                "Building Task Directory",
                0,
            ),
        ];
        if let Some(s) = a.started_at {
            events.push(task_event(
                "Started",
                unix_ns(base_ns, s),
                "Task started by client",
                0,
            ));
        }
        if let Some(f) = a.finished_at {
            let code = if failed { 1 } else { 0 };
            events.push(task_event(
                "Terminated",
                unix_ns(base_ns, f),
                &format!("Exit Code: {code}"),
                code,
            ));
        }
        m.insert(
            t.clone(),
            json!({"State": state, "Failed": failed, "Restarts": a.restarts, "LastRestart": null,
                   "StartedAt": opt_time(base_ns, a.started_at),
                   "FinishedAt": opt_time(base_ns, a.finished_at), "Events": events}),
        );
    }
    Value::Object(m)
}

fn task_event(kind: &str, time_ns: u64, msg: &str, exit_code: i32) -> Value {
    json!({"Type": kind, "Time": time_ns, "DisplayMessage": msg, "Details": {}, "FailsTask": false,
           "ExitCode": exit_code, "Message": "", "Signal": 0})
}

/// `AllocationListStub` (`GET /v1/allocations`); `with_task_states=false` drops `TaskStates`.
pub fn alloc_stub(a: &AllocView, base_ns: u64, with_task_states: bool) -> Value {
    let mut v = json!({
        "ID": a.id, "EvalID": a.eval_id, "Name": a.name, "Namespace": "default", "NodeID": a.node_id,
        "NodeName": a.node_name, "JobID": a.job_id, "JobType": a.job_type.as_str(), "JobVersion": 0,
        "TaskGroup": a.task_group, "DesiredStatus": a.desired_status.as_str(),
        "DesiredDescription": a.desired_description, "ClientStatus": a.client_status.as_str(),
        "ClientDescription": a.client_description, "TaskStates": null, "DeploymentStatus": null,
        "FollowupEvalID": "", "NextAllocation": a.next_allocation, "RescheduleTracker": null,
        "PreemptedAllocations": null, "PreemptedByAllocation": "",
        "CreateIndex": a.create_index, "ModifyIndex": a.modify_index,
        "CreateTime": unix_ns(base_ns, a.create_time), "ModifyTime": unix_ns(base_ns, a.modify_time),
    });
    if with_task_states {
        v["TaskStates"] = task_states(a, base_ns);
    }
    v
}

/// The full `Allocation`; `job` is the embedded `Job` (`null` in events).
pub fn alloc_full(a: &AllocView, base_ns: u64, job: Value) -> Value {
    let n = a.tasks.len().max(1) as u32;
    let tasks: Map<String, Value> = a
        .tasks
        .iter()
        .map(|t| {
            (
                t.clone(),
                json!({"Cpu": {"CpuShares": a.cpu_mhz / n}, "Memory": {"MemoryMB": a.memory_mb / n}}),
            )
        })
        .collect();
    json!({
        "ID": a.id, "EvalID": a.eval_id, "Name": a.name, "Namespace": "default", "NodeID": a.node_id,
        "NodeName": a.node_name, "JobID": a.job_id, "Job": job, "TaskGroup": a.task_group,
        "DesiredStatus": a.desired_status.as_str(), "DesiredDescription": a.desired_description,
        "DesiredTransition": {"Migrate": null, "Reschedule": null},
        "ClientStatus": a.client_status.as_str(), "ClientDescription": a.client_description,
        "TaskStates": task_states(a, base_ns), "DeploymentID": "", "DeploymentStatus": null,
        "AllocatedResources": {"Tasks": tasks, "Shared": {"DiskMB": 0}},
        "Metrics": {"NodesEvaluated": a.nodes_evaluated, "NodesFiltered": 0, "NodesExhausted": 0,
                    "AllocationTime": a.allocation_time_ns, "CoalescedFailures": 0},
        "PreviousAllocation": a.previous_allocation, "NextAllocation": a.next_allocation,
        "FollowupEvalID": "", "RescheduleTracker": null, "PreemptedAllocations": null,
        "PreemptedByAllocation": "",
        "CreateIndex": a.create_index, "ModifyIndex": a.modify_index, "AllocModifyIndex": a.modify_index,
        "CreateTime": unix_ns(base_ns, a.create_time), "ModifyTime": unix_ns(base_ns, a.modify_time),
    })
}

fn drivers(base_ns: u64, t: SimTime) -> Value {
    let d = json!({"Detected": true, "Healthy": true, "HealthDescription": "Healthy",
                   "UpdateTime": rfc3339(base_ns, t), "Attributes": null});
    json!({"docker": d, "raw_exec": d, "exec": d})
}

/// `NodeListStub` (`GET /v1/nodes`).
pub fn node_stub(n: &NodeView, base_ns: u64) -> Value {
    json!({
        "ID": n.id, "Name": n.name, "Address": n.address, "Datacenter": n.datacenter,
        "NodeClass": n.node_class, "NodePool": n.node_pool, "Version": VERSION, "Drain": n.drain,
        "SchedulingEligibility": if n.eligible { "eligible" } else { "ineligible" },
        "Status": n.status.as_str(), "StatusDescription": "", "Drivers": drivers(base_ns, n.status_updated_at),
        "LastDrain": null, "CreateIndex": n.create_index, "ModifyIndex": n.modify_index,
    })
}

/// The full `Node` (`GET /v1/node/:id`, and sanitized in events).
pub fn node_full(n: &NodeView, base_ns: u64) -> Value {
    let mut v = node_stub(n, base_ns);
    // The fleet pool's attributes (fingerprinted defaults plus the scenario's) and meta, as constraints
    // see them; the emulator's own version and the region's zone on top.
    let mut attrs: Map<String, Value> = n
        .facts
        .attributes
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    attrs.insert("nomad.version".into(), json!(VERSION));
    attrs.insert(
        "platform.aws.placement.availability-zone".into(),
        json!(n.region),
    );
    let mut meta: Map<String, Value> = n
        .facts
        .meta
        .iter()
        .map(|(k, v)| (k.clone(), json!(v)))
        .collect();
    meta.insert("stampede_pool".into(), json!(n.pool));
    let extra = json!({
        "HTTPAddr": format!("{}:4646", n.address), "TLSEnabled": false,
        "Attributes": attrs,
        "NodeResources": {"Cpu": {"CpuShares": n.cpu_mhz, "TotalCpuCores": n.cores, "ReservableCpuCores": null},
                          "Memory": {"MemoryMB": n.memory_mb}, "Disk": {"DiskMB": n.disk_mb}, "Networks": null},
        "ReservedResources": {"Cpu": {"CpuShares": n.reserved_cpu_mhz}, "Memory": {"MemoryMB": n.reserved_memory_mb},
                              "Disk": {"DiskMB": 0}},
        "Meta": meta, "Events": [],
        "StatusUpdatedAt": unix_ns(base_ns, n.status_updated_at) / 1_000_000_000,
    });
    if let (Value::Object(m), Value::Object(e)) = (&mut v, extra) {
        m.extend(e);
        // Stub-only fields: the full `Node` has `HTTPAddr` and `Attributes["nomad.version"]` instead.
        m.remove("Address");
        m.remove("Version");
    }
    v
}
