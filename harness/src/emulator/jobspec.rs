//! Nomad job JSON (`{"Job":{…}}` as `POST /v1/jobs` takes it) → the core's [`JobSpec`].
//!
//! What the core models is read from the JSON: `Type`, `Priority`, `Datacenters`, `AllAtOnce`, `Spread`,
//! `ParameterizedJob`, `Meta`, `Constraints` on `${node.class}`, and per group `Count`, the tasks'
//! `Resources{CPU,MemoryMB}` (summed), the main task's image, and its run duration:
//! `Meta["stampede_duration"]` (group, then job; `5s`, `lognormal:8s:0.5`, `forever`), else a `sleep N`
//! command (docker `command="sleep"`, `args=["N"]`; raw_exec/exec `command="/bin/sleep"`), else forever for
//! service jobs and 10 s for batch jobs. `Meta["stampede_fail_rate"]` sets the per-attempt failure
//! probability. Everything else is kept verbatim and echoed back by `GET /v1/job/:id`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde_json::Value;
use stampede_sim::api::{
    DelayFunction, GroupSpec, JobSpec, PeriodicSpec, ReschedulePolicy, RestartMode, RestartPolicy,
    RunPlan,
};
use stampede_sim::placement::{
    Affinity, Constraint, DistinctHosts, GroupPlacement, Operator, Ports,
};
use stampede_sim::scenario::{JobType, RunDuration};

/// A job that cannot be accepted: the HTTP status and Nomad's plain-text body.
#[derive(Debug, Clone, PartialEq)]
pub struct JobError {
    /// 400 (decode) or 500 (validation).
    pub status: u16,
    /// Body text.
    pub msg: String,
}

fn bad(msg: impl Into<String>) -> JobError {
    JobError {
        status: 400,
        msg: msg.into(),
    }
}

fn invalid(msg: impl AsRef<str>) -> JobError {
    JobError {
        status: 500,
        msg: format!("1 error occurred:\n\t* {}\n\n", msg.as_ref()),
    }
}

fn type_err(field: &str, want: &str, got: &Value) -> JobError {
    let kind = match got {
        Value::String(_) => "string",
        Value::Number(_) => "number",
        Value::Bool(_) => "bool",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
        Value::Null => "null",
    };
    bad(format!(
        "json: cannot unmarshal {kind} into Go struct field {field} of type {want}"
    ))
}

fn get_str(o: &Value, k: &str, field: &str) -> Result<Option<String>, JobError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s.clone())),
        Some(v) => Err(type_err(field, "string", v)),
    }
}

fn get_int(o: &Value, k: &str, field: &str) -> Result<Option<i64>, JobError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(None),
        Some(v @ Value::Number(n)) => n
            .as_i64()
            .map(Some)
            .ok_or_else(|| type_err(field, "int", v)),
        Some(v) => Err(type_err(field, "int", v)),
    }
}

fn get_bool(o: &Value, k: &str, field: &str) -> Result<bool, JobError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(v) => Err(type_err(field, "bool", v)),
    }
}

/// A task group's policy object `key` (`RestartPolicy`, `ReschedulePolicy`), or `None` when absent.
fn policy_object<'a>(
    tg: &'a Value,
    key: &str,
    go_type: &str,
) -> Result<Option<&'a Value>, JobError> {
    match tg.get(key).filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(rp) if rp.is_object() => Ok(Some(rp)),
        Some(rp) => Err(type_err(&format!("Job.TaskGroups.{key}"), go_type, rp)),
    }
}

/// A non-negative integer field `k` of policy `rp` (`what` names the policy in errors), or `def` when unset.
fn policy_field(rp: &Value, key: &str, what: &str, k: &str, def: u64) -> Result<u64, JobError> {
    match get_int(rp, k, &format!("Job.TaskGroups.{key}.{k}"))? {
        None => Ok(def),
        Some(x) if x >= 0 => Ok(x as u64),
        Some(x) => Err(invalid(format!(
            "Task group {what}: {k} must be ≥ 0; got {x}"
        ))),
    }
}

/// A task group's `RestartPolicy`, missing fields from Nomad's default for the job type (as the API's
/// canonicalisation fills them); `None` when the group has none.
fn restart_policy(tg: &Value, job_type: JobType) -> Result<Option<RestartPolicy>, JobError> {
    const K: &str = "RestartPolicy";
    const W: &str = "restart policy";
    let Some(rp) = policy_object(tg, K, "api.RestartPolicy")? else {
        return Ok(None);
    };
    let d = RestartPolicy::default_for(job_type);
    let mode = match get_str(rp, "Mode", "Job.TaskGroups.RestartPolicy.Mode")?.as_deref() {
        None | Some("") => d.mode,
        Some(m) => RestartMode::parse(m)
            .ok_or_else(|| invalid(format!("Task group {W}: Unsupported restart mode: {m:?}")))?,
    };
    let p = RestartPolicy {
        attempts: policy_field(rp, K, W, "Attempts", d.attempts as u64)?.min(u32::MAX as u64)
            as u32,
        interval_ns: policy_field(rp, K, W, "Interval", d.interval_ns)?,
        delay_ns: policy_field(rp, K, W, "Delay", d.delay_ns)?,
        mode,
    };
    p.validate()
        .map_err(|e| invalid(format!("Task group {W}: {e}")))?;
    Ok(Some(p))
}

/// A task group's `ReschedulePolicy`, as [`restart_policy`].
fn reschedule_policy(tg: &Value, job_type: JobType) -> Result<Option<ReschedulePolicy>, JobError> {
    const K: &str = "ReschedulePolicy";
    const W: &str = "reschedule policy";
    let Some(rp) = policy_object(tg, K, "api.ReschedulePolicy")? else {
        return Ok(None);
    };
    let d = ReschedulePolicy::default_for(job_type);
    let delay_function =
        match get_str(rp, "DelayFunction", "Job.TaskGroups.ReschedulePolicy.DelayFunction")?.as_deref() {
            None | Some("") => d.delay_function,
            Some(x) => DelayFunction::parse(x).ok_or_else(|| {
                invalid(format!("Task group {W}: Invalid delay function {x:?}, must be one of [constant exponential fibonacci]"))
            })?,
        };
    let unlimited = match rp.get("Unlimited") {
        None | Some(Value::Null) => d.unlimited,
        _ => get_bool(rp, "Unlimited", "Job.TaskGroups.ReschedulePolicy.Unlimited")?,
    };
    Ok(Some(ReschedulePolicy {
        attempts: policy_field(rp, K, W, "Attempts", d.attempts as u64)?.min(u32::MAX as u64)
            as u32,
        interval_ns: policy_field(rp, K, W, "Interval", d.interval_ns)?,
        delay_ns: policy_field(rp, K, W, "Delay", d.delay_ns)?,
        delay_function,
        max_delay_ns: policy_field(rp, K, W, "MaxDelay", d.max_delay_ns)?,
        unlimited,
    }))
}

/// A task group's `MaxRunDuration` (ns; Nomad ≥ 2.0.3), if set.
fn max_run_ns(tg: &Value) -> Result<Option<u64>, JobError> {
    match get_int(tg, "MaxRunDuration", "Job.TaskGroups.MaxRunDuration")? {
        None => Ok(None),
        Some(x) if x > 0 => Ok(Some(x as u64)),
        Some(x) => Err(invalid(format!(
            "Task group max_run_duration must be positive; got {x}"
        ))),
    }
}

fn get_arr<'a>(o: &'a Value, k: &str, field: &str) -> Result<&'a [Value], JobError> {
    match o.get(k) {
        None | Some(Value::Null) => Ok(&[]),
        Some(Value::Array(a)) => Ok(a),
        Some(v) => Err(type_err(field, "[]", v)),
    }
}

fn get_meta(o: &Value, field: &str) -> Result<BTreeMap<String, String>, JobError> {
    match o.get("Meta") {
        None | Some(Value::Null) => Ok(BTreeMap::new()),
        Some(Value::Object(m)) => m
            .iter()
            .map(|(k, v)| match v {
                Value::String(s) => Ok((k.clone(), s.clone())),
                v => Err(type_err(field, "string", v)),
            })
            .collect(),
        Some(v) => Err(type_err(field, "map[string]string", v)),
    }
}

/// Parses a `sleep` argument (`5`, `2.5`, `30s`, `2m`, `1h`) into ns.
fn sleep_arg_ns(s: &str) -> Option<u64> {
    let (num, mult) = match s.chars().last()? {
        's' => (&s[..s.len() - 1], 1e9),
        'm' => (&s[..s.len() - 1], 60e9),
        'h' => (&s[..s.len() - 1], 3600e9),
        'd' => (&s[..s.len() - 1], 86400e9),
        _ => (s, 1e9),
    };
    let v: f64 = num.parse().ok()?;
    (v.is_finite() && v >= 0.0).then_some((v * mult) as u64)
}

/// The run duration a task's `Config` implies, if it is a `sleep`.
fn sleep_duration(config: &Value) -> Option<u64> {
    let cmd = config.get("command")?.as_str()?;
    let base = cmd.rsplit('/').next().unwrap_or(cmd);
    if base != "sleep" {
        return None;
    }
    let arg = config.get("args")?.as_array()?.first()?.as_str()?;
    sleep_arg_ns(arg)
}

/// Converts the request body of `POST /v1/jobs` into a [`JobSpec`] (with `source_json` set).
pub fn from_register_body(body: &[u8]) -> Result<JobSpec, JobError> {
    if body.iter().all(|b| b.is_ascii_whitespace()) {
        return Err(bad("Request body is empty"));
    }
    let v: Value = serde_json::from_slice(body).map_err(|e| bad(e.to_string()))?;
    if !v.is_object() {
        return Err(type_err("JobRegisterRequest", "api.JobRegisterRequest", &v));
    }
    let job = match v.get("Job") {
        None | Some(Value::Null) => return Err(bad("Job must be specified")),
        Some(j @ Value::Object(_)) => j,
        Some(j) => return Err(type_err("JobRegisterRequest.Job", "api.Job", j)),
    };
    from_job(job)
}

/// Converts a Nomad `Job` object into a [`JobSpec`].
pub fn from_job(job: &Value) -> Result<JobSpec, JobError> {
    let id = get_str(job, "ID", "Job.ID")?.unwrap_or_default();
    if id.is_empty() {
        return Err(bad("Job ID hasn't been provided"));
    }
    let job_type = match get_str(job, "Type", "Job.Type")?.as_deref() {
        None | Some("") | Some("service") => JobType::Service,
        Some("batch") => JobType::Batch,
        Some("system") => JobType::System,
        Some("sysbatch") => JobType::SysBatch,
        Some(t) => return Err(invalid(format!("Invalid job type: {t:?}"))),
    };
    let priority = get_int(job, "Priority", "Job.Priority")?.unwrap_or(50);
    let datacenters = get_arr(job, "Datacenters", "Job.Datacenters")?
        .iter()
        .map(|d| {
            d.as_str()
                .map(str::to_string)
                .ok_or_else(|| type_err("Job.Datacenters", "string", d))
        })
        .collect::<Result<Vec<_>, _>>()?;
    let all_at_once = get_bool(job, "AllAtOnce", "Job.AllAtOnce")?;
    let spread_block = !get_arr(job, "Spreads", "Job.Spreads")?.is_empty()
        || !get_arr(job, "Spread", "Job.Spread")?.is_empty();
    let parameterized = matches!(job.get("ParameterizedJob"), Some(Value::Object(_)));
    let periodic = periodic(job, job_type)?;
    let meta = get_meta(job, "Job.Meta")?;
    let job_class = node_class(job, "Job.Constraints")?;
    let job_place = placement_rules(job, "Job")?;
    let node_pool = match get_str(job, "NodePool", "Job.NodePool")? {
        None => None,
        Some(p) if p.is_empty() => None,
        Some(p) => Some(p),
    };
    let mut groups = Vec::new();
    for (gi, tg) in get_arr(job, "TaskGroups", "Job.TaskGroups")?
        .iter()
        .enumerate()
    {
        if !tg.is_object() {
            return Err(type_err("Job.TaskGroups", "api.TaskGroup", tg));
        }
        let name = get_str(tg, "Name", "Job.TaskGroups.Name")?.unwrap_or_default();
        if name.is_empty() {
            return Err(invalid(format!("Job task group {} missing name", gi + 1)));
        }
        let count = get_int(tg, "Count", "Job.TaskGroups.Count")?.unwrap_or(1);
        if !(0..=u32::MAX as i64).contains(&count) {
            return Err(invalid(format!(
                "Task group {name} validation failed: Task group count can't be negative"
            )));
        }
        // [src] nomad/structs/structs.go `Job.Validate` (system only; sysbatch ignores the count).
        if job_type == JobType::System && count > 1 {
            return Err(invalid(format!(
                "Job task group {name} has count {count}. Count cannot exceed 1 with system scheduler"
            )));
        }
        let count = if system_like(job_type) { 1 } else { count };
        let gmeta = get_meta(tg, "Job.TaskGroups.Meta")?;
        let class = node_class(tg, "Job.TaskGroups.Constraints")?.or_else(|| job_class.clone());
        let mut place = job_place.clone();
        place.merge(placement_rules(tg, "Job.TaskGroups")?);
        let (mut cpu, mut mem) = (0u32, 0u32);
        let mut tasks = Vec::new();
        let mut image = String::new();
        let mut sleep = None;
        for t in get_arr(tg, "Tasks", "Job.TaskGroups.Tasks")? {
            if !t.is_object() {
                return Err(type_err("Job.TaskGroups.Tasks", "api.Task", t));
            }
            let tname = get_str(t, "Name", "Job.TaskGroups.Tasks.Name")?.unwrap_or_default();
            if tname.is_empty() {
                return Err(invalid(format!(
                    "Task group {name} validation failed: Task 1 missing name"
                )));
            }
            let res = t.get("Resources").cloned().unwrap_or(Value::Null);
            let c = get_int(&res, "CPU", "Job.TaskGroups.Tasks.Resources.CPU")?.unwrap_or(100);
            let m = get_int(&res, "MemoryMB", "Job.TaskGroups.Tasks.Resources.MemoryMB")?
                .unwrap_or(300);
            if c < 1 || m < 10 {
                return Err(invalid(format!("Task group {name} validation failed: Task {tname} validation failed: minimum CPU value is 1 and minimum MemoryMB value is 10; got {c} and {m}")));
            }
            cpu = cpu.saturating_add(c.min(u32::MAX as i64) as u32);
            mem = mem.saturating_add(m.min(u32::MAX as i64) as u32);
            let config = t.get("Config").cloned().unwrap_or(Value::Null);
            if image.is_empty() {
                image = config
                    .get("image")
                    .or_else(|| config.get("command"))
                    .and_then(Value::as_str)
                    .unwrap_or("")
                    .to_string();
            }
            if sleep.is_none() {
                sleep = sleep_duration(&config);
            }
            // Task constraints and affinities join the group's (`taskGroupConstraints`,
            // `NodeAffinityIterator.SetTaskGroup`); distinct_hosts is a job or group constraint only.
            let mut tp = placement_rules(t, "Job.TaskGroups.Tasks")?;
            tp.distinct_hosts = DistinctHosts::Off;
            place.merge(tp);
            tasks.push(tname);
        }
        if tasks.is_empty() {
            return Err(invalid(format!(
                "Task group {name} validation failed: Missing tasks for task group"
            )));
        }
        let dur_meta = gmeta
            .get("stampede_duration")
            .or_else(|| meta.get("stampede_duration"));
        let duration = match dur_meta {
            Some(s) => RunDuration::parse(s)
                .map_err(|e| invalid(format!("Meta stampede_duration {s:?}: {e}")))?,
            None => match sleep {
                Some(ns) => RunDuration::Fixed(ns),
                None if matches!(job_type, JobType::Batch | JobType::SysBatch) => {
                    RunDuration::Fixed(10_000_000_000)
                }
                None => RunDuration::Forever,
            },
        };
        let fail_rate = match gmeta
            .get("stampede_fail_rate")
            .or_else(|| meta.get("stampede_fail_rate"))
        {
            Some(s) => s
                .parse::<f64>()
                .ok()
                .filter(|f| (0.0..=1.0).contains(f))
                .ok_or_else(|| {
                    invalid(format!(
                        "Meta stampede_fail_rate {s:?} must be within 0..=1"
                    ))
                })?,
            None => 0.0,
        };
        let mut placement = place.into_placement();
        placement.ports = group_ports(tg)?;
        placement.disk_mb = ephemeral_disk(tg)?;
        let placement =
            (!placement.is_trivial() || placement.disk_mb.is_some()).then(|| Arc::new(placement));
        groups.push(GroupSpec {
            name,
            count: count as u32,
            cpu_mhz: cpu,
            memory_mb: mem,
            tasks,
            image,
            image_bytes: 0,
            run: RunPlan::Model {
                duration,
                fail_rate,
            },
            node_class: class,
            restart: restart_policy(tg, job_type)?,
            reschedule: reschedule_policy(tg, job_type)?,
            max_run_ns: max_run_ns(tg)?,
            placement,
        });
    }
    if groups.is_empty() {
        return Err(invalid("Missing job task groups"));
    }
    // Nomad's default `job_max_count` ([src] `nomad/structs/structs.go: JobDefaultMaxCount = 50000`, checked in
    // `nomad/job_endpoint_hooks.go: jobValidate.Validate` with this message; an uncoded RPC error, so the
    // HTTP layer answers 500 with the multierror text, as for every other job validation error).
    let total: u64 = groups.iter().map(|g| g.count as u64).sum();
    let max = stampede_sim::limits::MAX_JOB_COUNT;
    if total > max {
        return Err(invalid(format!(
            "total count was greater than configured job_max_count: {total} > {max}"
        )));
    }
    if !(1..=100).contains(&priority) {
        return Err(invalid(format!(
            "Job priority must be between [1, 100]; got {priority}"
        )));
    }
    Ok(JobSpec {
        id,
        job_type,
        priority: priority as u32,
        datacenters,
        all_at_once,
        spread_block,
        parameterized,
        periodic,
        groups,
        meta,
        source_json: Some(Arc::new(job.to_string())),
        node_pool,
    })
}

/// Constraints, affinities and `distinct_hosts` read from one level (job, group or task).
#[derive(Debug, Clone, Default)]
struct Rules {
    constraints: Vec<Constraint>,
    affinities: Vec<Affinity>,
    distinct_hosts: DistinctHosts,
}

impl Rules {
    /// Appends a lower level's rules (Nomad merges job, group and task ones; the narrower
    /// `distinct_hosts` scope does not widen a job-level one).
    fn merge(&mut self, o: Rules) {
        self.constraints.extend(o.constraints);
        self.affinities.extend(o.affinities);
        if self.distinct_hosts == DistinctHosts::Off {
            self.distinct_hosts = o.distinct_hosts;
        }
    }

    fn into_placement(self) -> GroupPlacement {
        GroupPlacement {
            constraints: self.constraints,
            affinities: self.affinities,
            distinct_hosts: self.distinct_hosts,
            ..Default::default()
        }
    }
}

/// `Constraints` and `Affinities` of a job (`level` = `Job`), group or task object, checked as Nomad's
/// `Constraint.Validate`/`Affinity.Validate` (unknown operand, a regexp that does not compile, a bad
/// version range, an affinity weight outside −100..=100 or 0).
fn placement_rules(o: &Value, level: &str) -> Result<Rules, JobError> {
    let mut r = Rules::default();
    let field = format!("{level}.Constraints");
    for (i, c) in get_arr(o, "Constraints", &field)?.iter().enumerate() {
        let l = get_str(c, "LTarget", &field)?.unwrap_or_default();
        let op = get_str(c, "Operand", &field)?.unwrap_or_default();
        let rt = get_str(c, "RTarget", &field)?.unwrap_or_default();
        let con = Constraint::new(&l, &op, &rt)
            .map_err(|e| invalid(format!("{field}[{i}] validation failed: {e}")))?;
        if con.operator == Operator::DistinctHosts {
            // `DistinctHostsIterator.hasDistinctHostsConstraint`: "" or a true value enables it, as does
            // an unparsable one.
            if !matches!(rt.as_str(), "false" | "0" | "f" | "F" | "FALSE" | "False") {
                r.distinct_hosts = if level == "Job" {
                    DistinctHosts::Job
                } else {
                    DistinctHosts::Group
                };
            }
        } else {
            r.constraints.push(con);
        }
    }
    let field = format!("{level}.Affinities");
    for (i, a) in get_arr(o, "Affinities", &field)?.iter().enumerate() {
        let l = get_str(a, "LTarget", &field)?.unwrap_or_default();
        let op = get_str(a, "Operand", &field)?.unwrap_or_default();
        let rt = get_str(a, "RTarget", &field)?.unwrap_or_default();
        let w = get_int(a, "Weight", &format!("{field}.Weight"))?.unwrap_or(50);
        let w = i32::try_from(w).unwrap_or(i32::MAX);
        r.affinities.push(
            Affinity::new(&l, &op, &rt, w)
                .map_err(|e| invalid(format!("{field}[{i}] validation failed: {e}")))?,
        );
    }
    Ok(r)
}

/// A group's host ports: `Networks[0].ReservedPorts[].Value` (static) and `Networks[0].DynamicPorts`
/// (the scheduler assigns only the group's first network, `GenericStack.Select`).
fn group_ports(tg: &Value) -> Result<Ports, JobError> {
    let nets = get_arr(tg, "Networks", "Job.TaskGroups.Networks")?;
    let Some(n) = nets.first() else {
        return Ok(Ports::default());
    };
    let mut p = Ports::default();
    for rp in get_arr(n, "ReservedPorts", "Job.TaskGroups.Networks.ReservedPorts")? {
        let v = get_int(rp, "Value", "Job.TaskGroups.Networks.ReservedPorts.Value")?.unwrap_or(0);
        let port = u16::try_from(v).ok().filter(|&v| v > 0).ok_or_else(|| {
            invalid(format!(
                "Task group network validation failed: invalid port {v} (out of range)"
            ))
        })?;
        p.static_ports.push(port);
    }
    p.dynamic = get_arr(n, "DynamicPorts", "Job.TaskGroups.Networks.DynamicPorts")?.len() as u32;
    p.validate()
        .map_err(|e| invalid(format!("Task group network validation failed: {e}")))?;
    Ok(p)
}

/// A group's `EphemeralDisk.SizeMB`, if set.
fn ephemeral_disk(tg: &Value) -> Result<Option<u32>, JobError> {
    match tg.get("EphemeralDisk").filter(|v| !v.is_null()) {
        None => Ok(None),
        Some(d) if d.is_object() => {
            match get_int(d, "SizeMB", "Job.TaskGroups.EphemeralDisk.SizeMB")? {
                None => Ok(None),
                Some(x) if x >= 10 => Ok(Some(x.min(u32::MAX as i64) as u32)),
                Some(x) => Err(invalid(format!(
                    "Task group ephemeral disk validation failed: minimum DiskMB value is 10; got {x}"
                ))),
            }
        }
        Some(d) => Err(type_err(
            "Job.TaskGroups.EphemeralDisk",
            "api.EphemeralDisk",
            d,
        )),
    }
}

/// Whether jobs of type `t` run one allocation per node.
fn system_like(t: JobType) -> bool {
    matches!(t, JobType::System | JobType::SysBatch)
}

/// The job's `Periodic` block, checked as Nomad does ([src] nomad/structs/structs.go
/// `PeriodicConfig.Validate`, `Job.Validate`; api/jobs.go `PeriodicConfig.Canonicalize`: `Enabled`,
/// `SpecType` `cron` and `TimeZone` `UTC` by default). `None` when absent or disabled.
fn periodic(job: &Value, job_type: JobType) -> Result<Option<PeriodicSpec>, JobError> {
    let p = match job.get("Periodic") {
        None | Some(Value::Null) => return Ok(None),
        Some(p @ Value::Object(_)) => p,
        Some(p) => return Err(type_err("Job.Periodic", "api.PeriodicConfig", p)),
    };
    let enabled = match p.get("Enabled") {
        None | Some(Value::Null) => true,
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(type_err("Job.Periodic.Enabled", "bool", v)),
    };
    if !enabled {
        return Ok(None);
    }
    if !matches!(job_type, JobType::Batch | JobType::SysBatch) {
        return Err(invalid(
            "Periodic can only be used with \"batch\" or \"sysbatch\" scheduler",
        ));
    }
    let spec_type = get_str(p, "SpecType", "Job.Periodic.SpecType")?.unwrap_or_default();
    if !spec_type.is_empty() && spec_type != "cron" {
        return Err(invalid(format!(
            "Periodic validation failed: Unknown periodic specification type {spec_type:?}"
        )));
    }
    let spec = get_str(p, "Spec", "Job.Periodic.Spec")?.unwrap_or_default();
    if spec.is_empty() {
        return Err(invalid("Periodic validation failed: Must specify a spec"));
    }
    let overlap = get_bool(p, "ProhibitOverlap", "Job.Periodic.ProhibitOverlap")?;
    let tz = get_str(p, "TimeZone", "Job.Periodic.TimeZone")?.unwrap_or_default();
    PeriodicSpec::new(&spec, overlap, &tz)
        .map(Some)
        .map_err(|e| {
            invalid(format!(
                "Periodic validation failed: Invalid cron spec {spec:?}: {e}"
            ))
        })
}

/// The node class a `Constraints` list pins (`${node.class} = X`), if any.
fn node_class(o: &Value, field: &str) -> Result<Option<String>, JobError> {
    for c in get_arr(o, "Constraints", field)? {
        let l = get_str(c, "LTarget", field)?.unwrap_or_default();
        let op = get_str(c, "Operand", field)?.unwrap_or_else(|| "=".into());
        if l == "${node.class}" && (op == "=" || op == "==" || op.is_empty()) {
            return get_str(c, "RTarget", field);
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(s: &str) -> Result<JobSpec, JobError> {
        from_register_body(s.as_bytes())
    }

    #[test]
    fn batch_job_with_sleep_args() {
        let j = parse(r#"{"Job":{"ID":"b1","Type":"batch","TaskGroups":[{"Name":"g","Count":4,
            "Constraints":[{"LTarget":"${node.class}","RTarget":"ci","Operand":"="}],
            "Tasks":[{"Name":"t","Driver":"raw_exec","Config":{"command":"/bin/sleep","args":["5"]},
            "Resources":{"CPU":100,"MemoryMB":64}},{"Name":"u","Config":{"image":"x"},"Resources":{"CPU":50,"MemoryMB":16}}]}]}}"#).unwrap();
        assert_eq!(j.job_type, JobType::Batch);
        assert_eq!(j.priority, 50);
        let g = &j.groups[0];
        assert_eq!((g.count, g.cpu_mhz, g.memory_mb), (4, 150, 80));
        assert_eq!(g.node_class.as_deref(), Some("ci"));
        assert_eq!(
            g.run,
            RunPlan::Model {
                duration: RunDuration::Fixed(5_000_000_000),
                fail_rate: 0.0
            }
        );
        assert_eq!(g.tasks, vec!["t", "u"]);
    }

    #[test]
    fn restart_reschedule_and_max_run_duration_are_read() {
        let j = parse(
            r#"{"Job":{"ID":"p","Type":"batch","TaskGroups":[{"Name":"g",
            "RestartPolicy":{"Attempts":1,"Delay":2000000000,"Mode":"delay","Interval":60000000000},
            "ReschedulePolicy":{"Attempts":4,"DelayFunction":"fibonacci"},
            "MaxRunDuration":30000000000,
            "Tasks":[{"Name":"t","Config":{"command":"sleep","args":["9"]}}]}]}}"#,
        )
        .unwrap();
        let g = &j.groups[0];
        assert_eq!(
            g.restart,
            Some(RestartPolicy {
                attempts: 1,
                interval_ns: 60_000_000_000,
                delay_ns: 2_000_000_000,
                mode: RestartMode::Delay
            })
        );
        let r = g.reschedule.unwrap();
        assert_eq!(
            (r.attempts, r.delay_function),
            (4, DelayFunction::Fibonacci)
        );
        assert_eq!(
            r.delay_ns, 5_000_000_000,
            "unset fields take the batch default"
        );
        assert_eq!(g.max_run_ns, Some(30_000_000_000));
        let none =
            parse(r#"{"Job":{"ID":"q","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t"}]}]}}"#)
                .unwrap();
        assert_eq!(
            (none.groups[0].restart, none.groups[0].reschedule),
            (None, None)
        );
        let e = parse(r#"{"Job":{"ID":"b","TaskGroups":[{"Name":"g","RestartPolicy":{"Mode":"sometimes"},"Tasks":[{"Name":"t"}]}]}}"#).unwrap_err();
        assert!(e.msg.contains("sometimes"), "{}", e.msg);
        let e = parse(r#"{"Job":{"ID":"b","TaskGroups":[{"Name":"g","ReschedulePolicy":{"Attempts":"x"},"Tasks":[{"Name":"t"}]}]}}"#).unwrap_err();
        assert!(e.msg.contains("ReschedulePolicy.Attempts"), "{}", e.msg);
    }

    #[test]
    fn defaults_and_meta_duration() {
        let j = parse(r#"{"Job":{"ID":"s","Meta":{"stampede_duration":"2s"},"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t","Config":{"image":"alpine","command":"sleep","args":["99"]}}]}]}}"#).unwrap();
        assert_eq!(j.job_type, JobType::Service);
        let g = &j.groups[0];
        assert_eq!((g.count, g.cpu_mhz, g.memory_mb), (1, 100, 300));
        assert_eq!(g.image, "alpine");
        assert!(matches!(
            g.run,
            RunPlan::Model {
                duration: RunDuration::Fixed(2_000_000_000),
                ..
            }
        ));
        let j = parse(r#"{"Job":{"ID":"s","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t"}]}]}}"#)
            .unwrap();
        assert!(matches!(
            j.groups[0].run,
            RunPlan::Model {
                duration: RunDuration::Forever,
                ..
            }
        ));
    }

    #[test]
    fn counts_beyond_job_max_count_are_refused_before_any_allocation() {
        let e = parse(
            r#"{"Job":{"ID":"big","Type":"batch","TaskGroups":[{"Name":"g","Count":1000000000,
            "Tasks":[{"Name":"t","Driver":"docker","Resources":{"CPU":100,"MemoryMB":64}}]}]}}"#,
        )
        .unwrap_err();
        assert_eq!(e.status, 500);
        assert!(
            e.msg.contains(
                "total count was greater than configured job_max_count: 1000000000 > 50000"
            ),
            "{}",
            e.msg
        );
        // Two groups whose sum crosses the bound.
        let e = parse(
            r#"{"Job":{"ID":"two","Type":"batch","TaskGroups":[
            {"Name":"a","Count":30000,"Tasks":[{"Name":"t","Driver":"docker"}]},
            {"Name":"b","Count":30000,"Tasks":[{"Name":"t","Driver":"docker"}]}]}}"#,
        )
        .unwrap_err();
        assert!(e.msg.contains("60000 > 50000"), "{}", e.msg);
    }

    #[test]
    fn errors_have_nomad_codes_and_bodies() {
        assert_eq!(parse("").unwrap_err().msg, "Request body is empty");
        assert_eq!(parse("{}").unwrap_err().msg, "Job must be specified");
        assert_eq!(
            parse(r#"{"Job":{}}"#).unwrap_err().msg,
            "Job ID hasn't been provided"
        );
        let e = parse("{nope").unwrap_err();
        assert_eq!(e.status, 400);
        let e = parse(r#"{"Job":{"ID":"x","TaskGroups":[{"Name":"g","Count":"3"}]}}"#).unwrap_err();
        assert_eq!(e.status, 400);
        assert!(e.msg.contains("cannot unmarshal string"), "{}", e.msg);
        let e = parse(r#"{"Job":{"ID":"x"}}"#).unwrap_err();
        assert_eq!(
            (e.status, e.msg.as_str()),
            (500, "1 error occurred:\n\t* Missing job task groups\n\n")
        );
        let e = parse(r#"{"Job":{"ID":"x","Priority":101,"TaskGroups":[{"Name":"g","Tasks":[{"Name":"t"}]}]}}"#)
            .unwrap_err();
        assert!(
            e.msg.starts_with("1 error occurred:\n\t* Job priority"),
            "{}",
            e.msg
        );
    }

    #[test]
    fn placement_rules_are_read_and_merged_from_job_group_and_task() {
        let j = parse(
            r#"{"Job":{"ID":"p","NodePool":"ci",
            "Constraints":[{"LTarget":"${attr.kernel.name}","RTarget":"linux","Operand":"="},
                           {"Operand":"distinct_hosts","RTarget":"true"}],
            "Affinities":[{"LTarget":"${meta.tier}","RTarget":"large","Operand":"=","Weight":30}],
            "TaskGroups":[{"Name":"g",
              "Constraints":[{"LTarget":"${attr.cpu.numcores}","RTarget":"4","Operand":">="}],
              "Networks":[{"ReservedPorts":[{"Label":"http","Value":8080}],"DynamicPorts":[{"Label":"a"},{"Label":"b"}]}],
              "EphemeralDisk":{"SizeMB":150},
              "Tasks":[{"Name":"t","Constraints":[{"LTarget":"${node.class}","RTarget":"gpu","Operand":"!="}]}]}]}}"#,
        )
        .unwrap();
        assert_eq!(j.node_pool.as_deref(), Some("ci"));
        let p = j.groups[0].placement();
        let ops: Vec<&str> = p.constraints.iter().map(|c| c.operator.as_str()).collect();
        assert_eq!(ops, vec!["=", ">=", "!="], "job, group, task");
        assert_eq!(p.affinities[0].weight, 30);
        assert_eq!(p.distinct_hosts, DistinctHosts::Job);
        assert_eq!(
            (p.ports.static_ports.clone(), p.ports.dynamic),
            (vec![8080], 2)
        );
        assert_eq!(p.disk_mb(), 150);
        let none =
            parse(r#"{"Job":{"ID":"q","TaskGroups":[{"Name":"g","Tasks":[{"Name":"t"}]}]}}"#)
                .unwrap();
        assert_eq!(none.groups[0].placement, None);
        assert_eq!(none.groups[0].placement().disk_mb(), 300);
        let e = parse(r#"{"Job":{"ID":"b","TaskGroups":[{"Name":"g","Affinities":[{"LTarget":"${attr.x}","RTarget":"y","Weight":0}],"Tasks":[{"Name":"t"}]}]}}"#).unwrap_err();
        assert!(
            e.msg.contains("Job.TaskGroups.Affinities[0]") && e.msg.contains("weight"),
            "{}",
            e.msg
        );
        let e = parse(r#"{"Job":{"ID":"b","TaskGroups":[{"Name":"g","Networks":[{"ReservedPorts":[{"Value":70000}]}],"Tasks":[{"Name":"t"}]}]}}"#).unwrap_err();
        assert!(e.msg.contains("invalid port 70000"), "{}", e.msg);
        let e = parse(r#"{"Job":{"ID":"b","TaskGroups":[{"Name":"g","EphemeralDisk":{"SizeMB":5},"Tasks":[{"Name":"t"}]}]}}"#).unwrap_err();
        assert!(e.msg.contains("minimum DiskMB value is 10"), "{}", e.msg);
    }

    #[test]
    fn sleep_args() {
        assert_eq!(sleep_arg_ns("2.5"), Some(2_500_000_000));
        assert_eq!(sleep_arg_ns("1m"), Some(60_000_000_000));
        assert_eq!(sleep_arg_ns("x"), None);
    }
}
