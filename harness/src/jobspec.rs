//! Job JSON for `stampede run`: built from a workload template ([`job_from_template`]), or converted from
//! an HCL2 jobspec ([`hcl_to_job`]) for targets without `/v1/jobs/parse` (the emulator, the simulator).
//!
//! The converter handles the jobspec features the bundled `jobs/*.nomad.hcl` use and that matter to a
//! scheduler benchmark (job/group/task structure, counts, resources, restart/reschedule/update policies,
//! constraints, spreads, meta, env, parameterized jobs, variables with defaults). Anything else is an
//! error naming the file, the line and the feature, never silently dropped.

use std::collections::BTreeMap;

use anyhow::{anyhow, bail, Context, Result};
use hcl::eval::{Context as HclContext, Evaluate};
use hcl::{Block, Body, Expression, Structure};
use serde_json::{json, Map, Value};
use stampede_sim::api::{DelayFunction, JobSpec, RestartMode, RunPlan};
use stampede_sim::placement::{DistinctHosts, GroupPlacement};
use stampede_sim::scenario::{JobTemplate, RunDuration};

/// Seconds a generated task sleeps for a run duration (the median of a log-normal; "forever" is 100 h, as
/// C2M's service job did).
fn sleep_secs(d: &RunDuration) -> u64 {
    match d {
        RunDuration::Forever => 360_000,
        RunDuration::Fixed(ns) => ns.div_ceil(1_000_000_000).max(1),
        RunDuration::LogNormal { median_ns, .. } => median_ns.div_ceil(1_000_000_000).max(1),
    }
}

/// One generated task group: `count` copies of a docker task sleeping `secs` with the given resources,
/// the policies as given (without them Nomad neither restarts nor reschedules: generated tasks do not
/// fail), and the placement rules as Nomad's JSON API spells them.
#[allow(clippy::too_many_arguments)]
fn group_json(
    name: &str,
    count: u32,
    cpu_mhz: u32,
    memory_mb: u32,
    image: &str,
    secs: u64,
    restart: Option<&stampede_sim::api::RestartPolicy>,
    reschedule: Option<&stampede_sim::api::ReschedulePolicy>,
    placement: Option<&GroupPlacement>,
) -> Value {
    let mut g = json!({
        "Name": name,
        "Count": count,
        "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
        "ReschedulePolicy": {"Attempts": 0, "Unlimited": false},
        "EphemeralDisk": {"SizeMB": 10},
        "Tasks": [{
            "Name": "t",
            "Driver": "docker",
            "Config": {"image": image, "command": "/bin/sleep", "args": [secs.to_string()]},
            "Resources": {"CPU": cpu_mhz, "MemoryMB": memory_mb},
            "LogConfig": {"MaxFiles": 1, "MaxFileSizeMB": 1}
        }]
    });
    if let Some(r) = restart {
        g["RestartPolicy"] = json!({
            "Attempts": r.attempts, "Interval": r.interval_ns, "Delay": r.delay_ns,
            "Mode": match r.mode { RestartMode::Fail => "fail", RestartMode::Delay => "delay" },
        });
    }
    if let Some(r) = reschedule {
        g["ReschedulePolicy"] = json!({
            "Attempts": r.attempts, "Interval": r.interval_ns, "Delay": r.delay_ns,
            "DelayFunction": match r.delay_function {
                DelayFunction::Constant => "constant",
                DelayFunction::Exponential => "exponential",
                DelayFunction::Fibonacci => "fibonacci",
            },
            "MaxDelay": r.max_delay_ns, "Unlimited": r.unlimited,
        });
    }
    if let Some(p) = placement {
        placement_json(&mut g, p);
    }
    g
}

/// The job-level keys shared by generated jobs: ID, type, priority, datacenters, groups, node pool, a
/// job-wide `distinct_hosts`, and `Update.MaxParallel = 0` for services.
#[allow(clippy::too_many_arguments)]
fn job_json(
    id: &str,
    job_type: &str,
    priority: u32,
    all_at_once: bool,
    datacenters: &[String],
    groups: Vec<Value>,
    node_pool: Option<&str>,
    distinct_hosts_job: bool,
) -> Value {
    let mut job = json!({
        "ID": id, "Name": id, "Type": job_type, "Priority": priority,
        "Datacenters": datacenters, "AllAtOnce": all_at_once, "TaskGroups": groups,
    });
    if let Some(np) = node_pool {
        job["NodePool"] = json!(np);
    }
    if distinct_hosts_job {
        job["Constraints"] = json!([{"Operand": "distinct_hosts", "RTarget": "true"}]);
    }
    if job_type == "service" {
        job["Update"] = json!({"MaxParallel": 0});
    }
    job
}

/// The job JSON for copy `id` of a template. Batch tasks sleep their duration (median for log-normal);
/// service tasks sleep "forever" (as C2M's job did).
pub fn job_from_template(id: &str, t: &JobTemplate, datacenters: &[String]) -> Value {
    let secs = sleep_secs(&t.duration);
    let groups: Vec<Value> = (0..t.groups.max(1))
        .map(|g| {
            group_json(
                &format!("g{g}"),
                t.count,
                t.cpu_mhz,
                t.memory_mb,
                &t.image,
                secs,
                t.restart.as_ref(),
                t.reschedule.as_ref(),
                t.placement.as_deref(),
            )
        })
        .collect();
    let mut job = job_json(
        id,
        t.job_type.as_str(),
        t.priority,
        t.all_at_once,
        datacenters,
        groups,
        t.node_pool.as_deref(),
        t.placement
            .as_ref()
            .is_some_and(|p| p.distinct_hosts == DistinctHosts::Job),
    );
    if t.spread_block {
        job["Spreads"] = json!([{"Attribute": "${node.unique.id}", "Weight": 100}]);
    }
    job
}

/// The job JSON of a scenario's standing job (`[[workload.system]]`, `[[workload.periodic]]`) under the ID
/// `id`: its groups as generated tasks (the group's image; a model duration's median, a recorded group's
/// first run), its `periodic` block as Nomad's (`SpecType` cron), and its meta.
pub fn job_from_spec(id: &str, spec: &JobSpec, datacenters: &[String]) -> Value {
    let groups: Vec<Value> = spec
        .groups
        .iter()
        .map(|g| {
            let secs = match &g.run {
                RunPlan::Model { duration, .. } => sleep_secs(duration),
                RunPlan::Recorded(runs) => runs
                    .first()
                    .map_or(1, |(ns, _)| ns.div_ceil(1_000_000_000).max(1)),
            };
            group_json(
                &g.name,
                g.count,
                g.cpu_mhz,
                g.memory_mb,
                &g.image,
                secs,
                g.restart.as_ref(),
                g.reschedule.as_ref(),
                g.placement.as_deref(),
            )
        })
        .collect();
    let mut job = job_json(
        id,
        spec.job_type.as_str(),
        spec.priority,
        spec.all_at_once,
        datacenters,
        groups,
        spec.node_pool.as_deref(),
        false,
    );
    if let Some(p) = &spec.periodic {
        job["Periodic"] = json!({
            "Enabled": true, "SpecType": "cron", "Spec": p.spec,
            "ProhibitOverlap": p.prohibit_overlap, "TimeZone": p.time_zone,
        });
    }
    if !spec.meta.is_empty() {
        job["Meta"] = json!(spec.meta);
    }
    job
}

/// Writes a group's placement into its job JSON: `Constraints`, `Affinities` (`LTarget`, `Operand`,
/// `RTarget`, `Weight`), a group-level `distinct_hosts` constraint, `Networks[0]` with `ReservedPorts`
/// (labels `s0`, `s1`, …) and `DynamicPorts` (`d0`, …), and `EphemeralDisk.SizeMB`.
fn placement_json(g: &mut Value, p: &GroupPlacement) {
    let mut cons: Vec<Value> = p
        .constraints
        .iter()
        .map(
            |c| json!({"LTarget": c.attribute, "Operand": c.operator.as_str(), "RTarget": c.value}),
        )
        .collect();
    if p.distinct_hosts == DistinctHosts::Group {
        cons.push(json!({"Operand": "distinct_hosts", "RTarget": "true"}));
    }
    if !cons.is_empty() {
        g["Constraints"] = json!(cons);
    }
    if !p.affinities.is_empty() {
        g["Affinities"] = json!(p
            .affinities
            .iter()
            .map(
                |a| json!({"LTarget": a.attribute, "Operand": a.operator.as_str(),
                            "RTarget": a.value, "Weight": a.weight})
            )
            .collect::<Vec<_>>());
    }
    if !p.ports.is_empty() {
        let reserved: Vec<Value> = p
            .ports
            .static_ports
            .iter()
            .enumerate()
            .map(|(i, v)| json!({"Label": format!("s{i}"), "Value": v}))
            .collect();
        let dynamic: Vec<Value> = (0..p.ports.dynamic)
            .map(|i| json!({"Label": format!("d{i}")}))
            .collect();
        g["Networks"] =
            json!([{"Mode": "host", "ReservedPorts": reserved, "DynamicPorts": dynamic}]);
    }
    if let Some(d) = p.disk_mb {
        g["EphemeralDisk"] = json!({"SizeMB": d});
    }
}

/// Returns a generated job (from [`job_from_template`]) with every task moved to `driver`, keeping its
/// sleep: `raw_exec`/`exec` run the host's `/bin/sleep`, `mock_driver` (Nomad's mock driver) "runs" for
/// the same time without a process; `docker` (or anything else) leaves the job unchanged.
pub fn with_driver(mut job: Value, driver: &str) -> Value {
    if driver == "docker" {
        return job;
    }
    if let Some(groups) = job["TaskGroups"].as_array_mut() {
        for t in groups
            .iter_mut()
            .filter_map(|g| g["Tasks"].as_array_mut())
            .flatten()
        {
            let args = t["Config"]["args"].clone();
            let secs = args[0].as_str().unwrap_or("1").to_string();
            t["Driver"] = json!(driver);
            t["Config"] = if driver == "mock_driver" {
                json!({"run_for": format!("{secs}s")})
            } else {
                json!({"command": "/bin/sleep", "args": args})
            };
        }
    }
    job
}

/// Sum of group counts of a job JSON (allocations it asks for).
pub fn desired_allocs(job: &Value) -> u32 {
    job["TaskGroups"].as_array().map_or(0, |gs| {
        gs.iter()
            .map(|g| g["Count"].as_u64().unwrap_or(1) as u32)
            .sum()
    })
}

/// Returns `job` with a new ID (and Name).
pub fn with_id(job: &Value, id: &str) -> Value {
    let mut j = job.clone();
    j["ID"] = json!(id);
    j["Name"] = json!(id);
    j
}

struct Src<'a> {
    file: &'a str,
    text: &'a str,
}

impl Src<'_> {
    /// Best-effort line of `key` (as a block or attribute name) at or after line `from`.
    fn line_of(&self, key: &str, from: usize) -> usize {
        for (i, l) in self.text.lines().enumerate().skip(from.saturating_sub(1)) {
            let t = l.trim_start();
            if let Some(rest) = t.strip_prefix(key) {
                if rest.starts_with([' ', '\t', '=', '{', '"']) || rest.is_empty() {
                    return i + 1;
                }
            }
        }
        from.max(1)
    }
    fn unsupported(&self, what: &str, key: &str, from: usize) -> anyhow::Error {
        anyhow!("{}:{}: jobspec feature `{key}` ({what}) is not converted by stampede's HCL converter; use --parse-remote against a real Nomad, or remove it", self.file, self.line_of(key, from))
    }
}

fn duration_ns(v: &Value, what: &str) -> Result<u64> {
    match v {
        Value::Number(n) => n
            .as_u64()
            .ok_or_else(|| anyhow!("{what}: `{n}` is not a non-negative duration")),
        Value::String(s) => humantime::parse_duration(s)
            .map(|d| d.as_nanos() as u64)
            .map_err(|e| anyhow!("{what}: bad duration `{s}`: {e}")),
        _ => bail!("{what}: expected a duration string like \"30s\""),
    }
}

fn to_json(e: &Expression) -> Value {
    serde_json::to_value(hcl::Value::from(e.clone())).unwrap_or(Value::Null)
}

fn attrs(body: &Body) -> BTreeMap<String, Value> {
    body.attributes()
        .map(|a| (a.key.to_string(), to_json(&a.expr)))
        .collect()
}

/// Converts attributes by a table of (hcl name, json name, kind). Unknown attributes are an error.
fn convert_attrs(
    src: &Src,
    body: &Body,
    table: &[(&str, &str, Kind)],
    ctx_line: usize,
    out: &mut Map<String, Value>,
) -> Result<()> {
    for (k, v) in attrs(body) {
        let Some((_, jk, kind)) = table.iter().find(|(h, _, _)| *h == k) else {
            return Err(src.unsupported("attribute", &k, ctx_line));
        };
        let v = match kind {
            Kind::Plain => v,
            Kind::Duration => json!(duration_ns(
                &v,
                &format!("{}:{}: `{k}`", src.file, src.line_of(&k, ctx_line))
            )?),
        };
        out.insert(jk.to_string(), v);
    }
    Ok(())
}

#[derive(Clone, Copy)]
enum Kind {
    Plain,
    Duration,
}
use Kind::{Duration as D, Plain as P};

fn label(b: &Block) -> String {
    b.labels
        .first()
        .map(|l| l.as_str().to_string())
        .unwrap_or_default()
}

fn map_block(b: &Block) -> Value {
    Value::Object(attrs(&b.body).into_iter().collect())
}

/// A block whose attributes map one-to-one onto a JSON object through `table`.
fn table_block(
    src: &Src,
    b: &Block,
    line: usize,
    table: &[(&str, &str, Kind)],
) -> Result<Map<String, Value>> {
    let mut m = Map::new();
    convert_attrs(src, &b.body, table, line, &mut m)?;
    Ok(m)
}

/// HCL `constraint` → JSON, with the jobspec's shorthands (`distinct_hosts = true`, `regexp = "…"`,
/// `version = "…"`, `semver = "…"`, `set_contains = "…"`, as jobspec2's `decodeConstraint` expands them).
fn constraint(src: &Src, b: &Block, line: usize) -> Result<Value> {
    const SHORT: [&str; 6] = [
        "distinct_hosts",
        "regexp",
        "version",
        "semver",
        "set_contains",
        "set_contains_any",
    ];
    let mut body = b.body.clone();
    let mut short = None;
    body.0.retain(|s| match s {
        Structure::Attribute(a) if SHORT.contains(&a.key.as_str()) => {
            short = Some((a.key.to_string(), to_json(&a.expr)));
            false
        }
        _ => true,
    });
    let mut m = Map::new();
    convert_attrs(
        src,
        &body,
        &[
            ("attribute", "LTarget", P),
            ("value", "RTarget", P),
            ("operator", "Operand", P),
        ],
        line,
        &mut m,
    )?;
    if let Some((op, v)) = short {
        m.insert("Operand".into(), json!(op));
        let v = match v {
            Value::String(s) => s,
            other => other.to_string(),
        };
        m.insert("RTarget".into(), json!(v));
    }
    m.entry("Operand").or_insert(json!("="));
    Ok(Value::Object(m))
}

/// HCL `affinity` → JSON (`Weight` defaults to 50, as the jobspec's).
fn affinity(src: &Src, b: &Block, line: usize) -> Result<Value> {
    let mut m = table_block(
        src,
        b,
        line,
        &[
            ("attribute", "LTarget", P),
            ("value", "RTarget", P),
            ("operator", "Operand", P),
            ("weight", "Weight", P),
        ],
    )?;
    m.entry("Operand").or_insert(json!("="));
    m.entry("Weight").or_insert(json!(50));
    Ok(Value::Object(m))
}

/// HCL group `network { mode = "…" port "http" { static = 8080 } port "x" {} }` → `Networks[0]` with
/// `ReservedPorts` (ports with `static`) and `DynamicPorts`.
fn network(src: &Src, b: &Block, line: usize) -> Result<Value> {
    let mut m = Map::new();
    convert_attrs(src, &b.body, &[("mode", "Mode", P)], line, &mut m)?;
    let (mut reserved, mut dynamic) = (Vec::new(), Vec::new());
    for p in b.body.blocks() {
        if p.identifier.as_str() != "port" {
            return Err(src.unsupported("network block", p.identifier.as_str(), line));
        }
        let mut pm = Map::new();
        pm.insert("Label".into(), json!(label(p)));
        convert_attrs(
            src,
            &p.body,
            &[
                ("static", "Value", P),
                ("to", "To", P),
                ("host_network", "HostNetwork", P),
            ],
            line,
            &mut pm,
        )?;
        if pm.contains_key("Value") {
            reserved.push(Value::Object(pm));
        } else {
            dynamic.push(Value::Object(pm));
        }
    }
    m.insert("ReservedPorts".into(), json!(reserved));
    m.insert("DynamicPorts".into(), json!(dynamic));
    Ok(Value::Object(m))
}

fn spread(src: &Src, b: &Block, line: usize) -> Result<Value> {
    table_block(
        src,
        b,
        line,
        &[("attribute", "Attribute", P), ("weight", "Weight", P)],
    )
    .map(Value::Object)
}

fn restart(src: &Src, b: &Block, line: usize) -> Result<Value> {
    let table = [
        ("attempts", "Attempts", P),
        ("interval", "Interval", D),
        ("delay", "Delay", D),
        ("mode", "Mode", P),
        ("render_templates", "RenderTemplates", P),
    ];
    table_block(src, b, line, &table).map(Value::Object)
}

fn reschedule(src: &Src, b: &Block, line: usize) -> Result<Value> {
    let table = [
        ("attempts", "Attempts", P),
        ("interval", "Interval", D),
        ("delay", "Delay", D),
        ("delay_function", "DelayFunction", P),
        ("max_delay", "MaxDelay", D),
        ("unlimited", "Unlimited", P),
    ];
    table_block(src, b, line, &table).map(Value::Object)
}

fn update(src: &Src, b: &Block, line: usize) -> Result<Value> {
    let table = [
        ("max_parallel", "MaxParallel", P),
        ("health_check", "HealthCheck", P),
        ("min_healthy_time", "MinHealthyTime", D),
        ("healthy_deadline", "HealthyDeadline", D),
        ("progress_deadline", "ProgressDeadline", D),
        ("auto_revert", "AutoRevert", P),
        ("auto_promote", "AutoPromote", P),
        ("canary", "Canary", P),
        ("stagger", "Stagger", D),
    ];
    table_block(src, b, line, &table).map(Value::Object)
}

fn task(src: &Src, b: &Block, line: usize) -> Result<Value> {
    let line = src.line_of("task", line);
    let mut m = Map::new();
    m.insert("Name".into(), json!(label(b)));
    convert_attrs(
        src,
        &b.body,
        &[
            ("driver", "Driver", P),
            ("user", "User", P),
            ("kill_timeout", "KillTimeout", D),
            ("leader", "Leader", P),
            ("kill_signal", "KillSignal", P),
        ],
        line,
        &mut m,
    )?;
    for blk in b.body.blocks() {
        let id = blk.identifier.as_str();
        match id {
            "config" => {
                m.insert("Config".into(), map_block(blk));
            }
            "env" => {
                m.insert("Env".into(), map_block(blk));
            }
            "meta" => {
                m.insert("Meta".into(), map_block(blk));
            }
            "resources" => {
                let mut r = Map::new();
                convert_attrs(
                    src,
                    &blk.body,
                    &[
                        ("cpu", "CPU", P),
                        ("memory", "MemoryMB", P),
                        ("memory_max", "MemoryMaxMB", P),
                        ("cores", "Cores", P),
                    ],
                    line,
                    &mut r,
                )?;
                if let Some(nb) = blk.body.blocks().next() {
                    return Err(src.unsupported(
                        "task resources block",
                        nb.identifier.as_str(),
                        line,
                    ));
                }
                m.insert("Resources".into(), Value::Object(r));
            }
            "logs" => {
                let mut r = Map::new();
                convert_attrs(
                    src,
                    &blk.body,
                    &[
                        ("max_files", "MaxFiles", P),
                        ("max_file_size", "MaxFileSizeMB", P),
                        ("disabled", "Disabled", P),
                    ],
                    line,
                    &mut r,
                )?;
                m.insert("LogConfig".into(), Value::Object(r));
            }
            "lifecycle" => {
                let mut r = Map::new();
                convert_attrs(
                    src,
                    &blk.body,
                    &[("hook", "Hook", P), ("sidecar", "Sidecar", P)],
                    line,
                    &mut r,
                )?;
                m.insert("Lifecycle".into(), Value::Object(r));
            }
            "restart" => {
                m.insert("RestartPolicy".into(), restart(src, blk, line)?);
            }
            "constraint" => push(&mut m, "Constraints", constraint(src, blk, line)?),
            "affinity" => push(&mut m, "Affinities", affinity(src, blk, line)?),
            other => return Err(src.unsupported("task block", other, line)),
        }
    }
    Ok(Value::Object(m))
}

fn push(m: &mut Map<String, Value>, k: &str, v: Value) {
    match m.entry(k.to_string()).or_insert_with(|| json!([])) {
        Value::Array(a) => a.push(v),
        other => *other = json!([v]),
    }
}

fn group(src: &Src, b: &Block, line: usize) -> Result<Value> {
    let line = src.line_of("group", line);
    let mut m = Map::new();
    m.insert("Name".into(), json!(label(b)));
    convert_attrs(
        src,
        &b.body,
        &[
            ("count", "Count", P),
            ("shutdown_delay", "ShutdownDelay", D),
            (
                "stop_after_client_disconnect",
                "StopAfterClientDisconnect",
                D,
            ),
        ],
        line,
        &mut m,
    )?;
    m.entry("Count").or_insert(json!(1));
    let max = stampede_sim::limits::MAX_JOB_COUNT;
    match m.get("Count") {
        Some(Value::Number(n)) if n.as_u64().is_some_and(|c| c <= max) => {}
        Some(v) => anyhow::bail!(
            "{}:{}: `count` = {v}: must be a whole number within 0..={max} (Nomad's default job_max_count)",
            src.file,
            src.line_of("count", line)
        ),
        None => {}
    }
    for blk in b.body.blocks() {
        match blk.identifier.as_str() {
            "task" => push(&mut m, "Tasks", task(src, blk, line)?),
            "restart" => {
                m.insert("RestartPolicy".into(), restart(src, blk, line)?);
            }
            "reschedule" => {
                m.insert("ReschedulePolicy".into(), reschedule(src, blk, line)?);
            }
            "update" => {
                m.insert("Update".into(), update(src, blk, line)?);
            }
            "ephemeral_disk" => {
                let mut r = Map::new();
                convert_attrs(
                    src,
                    &blk.body,
                    &[
                        ("size", "SizeMB", P),
                        ("sticky", "Sticky", P),
                        ("migrate", "Migrate", P),
                    ],
                    line,
                    &mut r,
                )?;
                m.insert("EphemeralDisk".into(), Value::Object(r));
            }
            "meta" => {
                m.insert("Meta".into(), map_block(blk));
            }
            "constraint" => push(&mut m, "Constraints", constraint(src, blk, line)?),
            "affinity" => push(&mut m, "Affinities", affinity(src, blk, line)?),
            "network" => push(&mut m, "Networks", network(src, blk, line)?),
            "spread" => push(&mut m, "Spreads", spread(src, blk, line)?),
            other => return Err(src.unsupported("group block", other, line)),
        }
    }
    if !m.contains_key("Tasks") {
        bail!("{}:{}: group `{}` has no task", src.file, line, label(b));
    }
    Ok(Value::Object(m))
}

/// Bound on how deeply a jobspec may nest: brackets, braces, interpolations, plus operators chained within
/// one expression. The HCL parser (hcl-edit) recurses once per level with no limit of its own, so a deep
/// enough input (2,000 nested parentheses in a release build, far fewer on a 2 MiB tokio worker stack)
/// overflowed the stack and killed the process (fuzz finding, `fuzz/regressions/hcl_jobspec/`). Real
/// jobspecs nest well under 20.
pub const MAX_HCL_NESTING: usize = 64;

/// Bound on open brackets, braces and interpolations alone. On a syntax error deep inside nested brackets
/// the parser backtracks through the alternatives of every level, in time exponential in the depth: 352
/// bytes 30 levels deep took 15 s (fuzz finding, `fuzz/regressions/hcl_jobspec/timeout-*`).
pub const MAX_HCL_BRACKETS: usize = 20;

/// Checks [`MAX_HCL_NESTING`] lexically, before parsing, as an upper bound on the parser's recursion: every
/// `(`, `[` or `{` (`${`, `%{` included, wherever they are) opens a level, its closer closes it, and every
/// operator character counts one more level until the expression ends (a `,`; a newline at the top level
/// or directly inside braces, where newlines separate attributes).
fn check_nesting(file: &str, text: &str) -> Result<()> {
    let mut levels: Vec<(u8, usize)> = vec![(b'\n', 0)];
    let mut score = 0usize;
    let mut line = 1usize;
    for b in text.bytes() {
        match b {
            b'(' | b'[' | b'{' => {
                levels.push((b, 0));
                score += 1;
            }
            // A stray closer at the top level is the parser's error to report.
            b')' | b']' | b'}' if levels.len() > 1 => {
                let (_, ops) = levels.pop().unwrap_or((0, 0));
                score -= 1 + ops;
            }
            b',' | b'\n' => {
                if b == b'\n' {
                    line += 1;
                }
                let top = levels.last_mut().expect("the top level is never popped");
                if b == b',' || matches!(top.0, b'\n' | b'{') {
                    score -= top.1;
                    top.1 = 0;
                }
            }
            b'+' | b'-' | b'*' | b'/' | b'%' | b'!' | b'<' | b'>' | b'=' | b'&' | b'|' | b'?' => {
                levels.last_mut().expect("the top level is never popped").1 += 1;
                score += 1;
            }
            _ => {}
        }
        if levels.len() - 1 > MAX_HCL_BRACKETS {
            bail!(
                "{file}:{line}: nested too deeply (more than {MAX_HCL_BRACKETS} levels of brackets, \
                 braces and interpolations); not a jobspec stampede converts"
            );
        }
        if score > MAX_HCL_NESTING {
            bail!(
                "{file}:{line}: nested too deeply (more than {MAX_HCL_NESTING} levels of brackets, \
                 interpolations and chained operators); not a jobspec stampede converts"
            );
        }
    }
    Ok(())
}

/// hcl-rs computes `1/0`, `1 % 0` or `1e308 * 10` as an infinite number (its debug builds assert on it,
/// release builds send `null` to Nomad; fuzz finding, `fuzz/regressions/hcl_jobspec/`). Before the job is
/// evaluated, every arithmetic operation whose operands evaluate is computed here and refused unless finite.
/// Operands that reference `for` variables do not evaluate on their own and are left to the evaluator.
fn check_arithmetic(e: &Expression, ctx: &HclContext) -> std::result::Result<(), String> {
    use hcl::expr::{BinaryOperator as Bo, ObjectKey, Operation, TraversalOperator};
    let check = |x: &Expression| check_arithmetic(x, ctx);
    match e {
        Expression::Array(a) => a.iter().try_for_each(check)?,
        Expression::Object(o) => {
            for (k, v) in o {
                if let ObjectKey::Expression(k) = k {
                    check(k)?;
                }
                check(v)?;
            }
        }
        Expression::TemplateExpr(t) => {
            if let Ok(tpl) = hcl::Template::from_expr(t) {
                check_template(&tpl, ctx)?;
            }
        }
        Expression::Parenthesis(x) => check(x)?,
        Expression::Conditional(c) => {
            check(&c.cond_expr)?;
            check(&c.true_expr)?;
            check(&c.false_expr)?;
        }
        Expression::FuncCall(f) => f.args.iter().try_for_each(check)?,
        Expression::Traversal(t) => {
            check(&t.expr)?;
            for op in &t.operators {
                if let TraversalOperator::Index(x) = op {
                    check(x)?;
                }
            }
        }
        Expression::ForExpr(f) => {
            check(&f.collection_expr)?;
            if let Some(k) = &f.key_expr {
                check(k)?;
            }
            check(&f.value_expr)?;
            if let Some(c) = &f.cond_expr {
                check(c)?;
            }
        }
        Expression::Operation(op) => match &**op {
            Operation::Unary(u) => check(&u.expr)?,
            Operation::Binary(b) => {
                check(&b.lhs_expr)?;
                check(&b.rhs_expr)?;
                let num = |x: &Expression| match x.evaluate(ctx) {
                    Ok(hcl::Value::Number(n)) => n.as_f64(),
                    _ => None,
                };
                let (sym, f): (&str, fn(f64, f64) -> f64) = match b.operator {
                    Bo::Plus => ("+", |l, r| l + r),
                    Bo::Minus => ("-", |l, r| l - r),
                    Bo::Mul => ("*", |l, r| l * r),
                    Bo::Div => ("/", |l, r| l / r),
                    Bo::Mod => ("%", |l, r| l % r),
                    _ => return Ok(()),
                };
                let r = num(&b.rhs_expr);
                if matches!(b.operator, Bo::Div | Bo::Mod) && r == Some(0.0) {
                    return Err(format!("division by zero in `{sym} 0`"));
                }
                if let (Some(l), Some(r)) = (num(&b.lhs_expr), r) {
                    if !f(l, r).is_finite() {
                        return Err(format!("`{l} {sym} {r}` is not a finite number"));
                    }
                }
            }
        },
        _ => {}
    }
    Ok(())
}

fn check_template(t: &hcl::Template, ctx: &HclContext) -> std::result::Result<(), String> {
    use hcl::template::{Directive, Element};
    for el in t.elements() {
        match el {
            Element::Literal(_) => {}
            Element::Interpolation(i) => check_arithmetic(&i.expr, ctx)?,
            Element::Directive(Directive::If(d)) => {
                check_arithmetic(&d.cond_expr, ctx)?;
                check_template(&d.true_template, ctx)?;
                if let Some(f) = &d.false_template {
                    check_template(f, ctx)?;
                }
            }
            Element::Directive(Directive::For(d)) => {
                check_arithmetic(&d.collection_expr, ctx)?;
                check_template(&d.template, ctx)?;
            }
        }
    }
    Ok(())
}

fn check_body_arithmetic(src: &Src, body: &Body, ctx: &HclContext) -> Result<()> {
    for s in body.iter() {
        match s {
            Structure::Attribute(a) => check_arithmetic(&a.expr, ctx).map_err(|m| {
                let k = a.key.as_str();
                anyhow!("{}:{}: `{k}`: {m}", src.file, src.line_of(k, 1))
            })?,
            Structure::Block(b) => check_body_arithmetic(src, &b.body, ctx)?,
        }
    }
    Ok(())
}

/// Converts an HCL2 jobspec to the job JSON `PUT /v1/jobs` takes. `vars` override variable defaults.
/// `file` is used in error messages.
pub fn hcl_to_job(file: &str, text: &str, vars: &BTreeMap<String, String>) -> Result<Value> {
    check_nesting(file, text)?;
    let src = Src { file, text };
    let body: Body = hcl::parse(text).with_context(|| format!("{file}: not valid HCL"))?;
    let mut ctx = HclContext::new();
    let mut var_obj = hcl::Map::new();
    let mut job_block = None;
    for s in body.iter() {
        match s {
            Structure::Block(b) if b.identifier.as_str() == "variable" => {
                let name = label(b);
                let default = b
                    .body
                    .attributes()
                    .find(|a| a.key.as_str() == "default")
                    .map(|a| hcl::Value::from(a.expr.clone()));
                let v = match vars.get(&name) {
                    Some(s) => match &default {
                        Some(hcl::Value::Number(_)) => s
                            .parse::<i64>()
                            .map(hcl::Value::from)
                            .or_else(|_| s.parse::<f64>().map(hcl::Value::from))
                            .map_err(|_| {
                                anyhow!("{file}: variable `{name}`: `{s}` is not a number")
                            })?,
                        Some(hcl::Value::Bool(_)) => hcl::Value::Bool(s.parse().map_err(|_| {
                            anyhow!("{file}: variable `{name}`: `{s}` is not true/false")
                        })?),
                        _ => hcl::Value::String(s.clone()),
                    },
                    None => default.ok_or_else(|| {
                        anyhow!(
                            "{file}:{}: variable `{name}` has no default and no value was given",
                            src.line_of("variable", 1)
                        )
                    })?,
                };
                var_obj.insert(name, v);
            }
            Structure::Block(b) if b.identifier.as_str() == "job" => {
                if job_block.is_some() {
                    bail!(
                        "{file}:{}: more than one `job` block",
                        src.line_of("job", 1)
                    );
                }
                job_block = Some(b);
            }
            Structure::Block(b) => {
                return Err(src.unsupported("top-level block", b.identifier.as_str(), 1))
            }
            Structure::Attribute(a) => {
                return Err(src.unsupported("top-level attribute", a.key.as_str(), 1))
            }
        }
    }
    for k in vars.keys() {
        if !var_obj.contains_key(k) {
            bail!("{file}: variable `{k}` given but not declared");
        }
    }
    ctx.declare_var("var", hcl::Value::Object(var_obj));
    let job = job_block.ok_or_else(|| anyhow!("{file}: no `job` block"))?;
    let jline = src.line_of("job", 1);
    check_body_arithmetic(&src, &job.body, &ctx)?;
    let jb = job
        .body
        .evaluate(&ctx)
        .map_err(|e| anyhow!("{file}:{jline}: evaluating the job block: {e}"))?;
    let mut m = Map::new();
    let id = label(job);
    m.insert("ID".into(), json!(id));
    m.insert("Name".into(), json!(id));
    convert_attrs(
        &src,
        &jb,
        &[
            ("datacenters", "Datacenters", P),
            ("type", "Type", P),
            ("priority", "Priority", P),
            ("region", "Region", P),
            ("namespace", "Namespace", P),
            ("node_pool", "NodePool", P),
            ("all_at_once", "AllAtOnce", P),
        ],
        jline,
        &mut m,
    )?;
    m.entry("Type").or_insert(json!("service"));
    m.entry("Priority").or_insert(json!(50));
    for blk in jb.blocks() {
        match blk.identifier.as_str() {
            "group" => push(&mut m, "TaskGroups", group(&src, blk, jline)?),
            "meta" => {
                m.insert("Meta".into(), map_block(blk));
            }
            "update" => {
                m.insert("Update".into(), update(&src, blk, jline)?);
            }
            "reschedule" => {
                m.insert("Reschedule".into(), reschedule(&src, blk, jline)?);
            }
            "constraint" => push(&mut m, "Constraints", constraint(&src, blk, jline)?),
            "affinity" => push(&mut m, "Affinities", affinity(&src, blk, jline)?),
            "spread" => push(&mut m, "Spreads", spread(&src, blk, jline)?),
            "parameterized" => {
                let mut r = Map::new();
                convert_attrs(
                    &src,
                    &blk.body,
                    &[
                        ("payload", "Payload", P),
                        ("meta_required", "MetaRequired", P),
                        ("meta_optional", "MetaOptional", P),
                    ],
                    jline,
                    &mut r,
                )?;
                m.insert("ParameterizedJob".into(), Value::Object(r));
            }
            other => return Err(src.unsupported("job block", other, jline)),
        }
    }
    if !m.contains_key("TaskGroups") {
        bail!("{file}:{jline}: job `{id}` has no group");
    }
    Ok(Value::Object(m))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn repo_file(name: &str) -> (String, String) {
        let p = format!("{}/../jobs/{name}", env!("CARGO_MANIFEST_DIR"));
        let t = std::fs::read_to_string(&p).unwrap();
        (p, t)
    }

    #[test]
    fn generated_jobs_change_driver_and_keep_the_sleep() {
        let t = stampede_sim::scenario::JobTemplate {
            jobs: 1,
            job_type: stampede_sim::scenario::JobType::Batch,
            groups: 2,
            count: 3,
            cpu_mhz: 100,
            memory_mb: 64,
            priority: 50,
            priorities: Vec::new(),
            spread_block: false,
            all_at_once: false,
            image: "alpine:3.12".into(),
            image_bytes: 0,
            duration: RunDuration::Fixed(7_000_000_000),
            fail_rate: 0.0,
            broken_rate: 0.0,
            restart: None,
            reschedule: None,
            max_run_ns: None,
            tasks: 1,
            id_prefix: "p-".into(),
            placement: None,
            node_pool: None,
        };
        let job = job_from_template("x", &t, &["dc1".to_string()]);
        assert_eq!(job["TaskGroups"][0]["Tasks"][0]["Driver"], "docker");
        assert_eq!(with_driver(job.clone(), "docker"), job);
        let raw = with_driver(job.clone(), "raw_exec");
        for g in 0..2 {
            let task = &raw["TaskGroups"][g]["Tasks"][0];
            assert_eq!(task["Driver"], "raw_exec");
            assert_eq!(
                task["Config"],
                json!({"command": "/bin/sleep", "args": ["7"]})
            );
            assert_eq!(task["Resources"]["CPU"], 100);
        }
        let mock = with_driver(job, "mock_driver");
        assert_eq!(mock["TaskGroups"][1]["Tasks"][0]["Driver"], "mock_driver");
        assert_eq!(
            mock["TaskGroups"][1]["Tasks"][0]["Config"],
            json!({"run_for": "7s"})
        );
    }

    #[test]
    fn converts_c2m_job() {
        let (p, t) = repo_file("c2m.nomad.hcl");
        let j = hcl_to_job(&p, &t, &BTreeMap::new()).unwrap();
        assert_eq!(j["Type"], "service");
        assert_eq!(j["TaskGroups"][0]["Count"], 1000);
        let task = &j["TaskGroups"][0]["Tasks"][0];
        assert_eq!(task["Driver"], "docker");
        assert_eq!(task["Config"]["image"], "alpine:3.12");
        assert_eq!(task["Resources"]["CPU"], 50);
        assert_eq!(task["Resources"]["MemoryMB"], 30);
        assert_eq!(task["LogConfig"]["MaxFiles"], 1);
        assert_eq!(j["TaskGroups"][0]["EphemeralDisk"]["SizeMB"], 10);
        assert_eq!(j["Update"]["MaxParallel"], 0);
        assert_eq!(desired_allocs(&j), 1000);
    }

    #[test]
    fn converts_ci_jobs_with_variables() {
        for f in ["ci-test.nomad.hcl", "ci-test-raw-exec.nomad.hcl"] {
            let (p, t) = repo_file(f);
            let j = hcl_to_job(&p, &t, &BTreeMap::new()).unwrap();
            assert_eq!(j["Type"], "batch", "{f}");
            assert_eq!(
                j["TaskGroups"][0]["Tasks"].as_array().unwrap().len(),
                2,
                "{f}"
            );
            assert!(
                j["TaskGroups"][0]["ReschedulePolicy"]["Attempts"].is_number(),
                "{f}"
            );
            assert!(
                j["TaskGroups"][0]["RestartPolicy"]["Delay"]
                    .as_u64()
                    .unwrap()
                    > 0,
                "{f}"
            );
        }
        let (p, t) = repo_file("ci-test.nomad.hcl");
        let vars = BTreeMap::from([("priority".to_string(), "70".to_string())]);
        let j = hcl_to_job(&p, &t, &vars).unwrap();
        assert_eq!(j["Priority"], 70);
    }

    #[test]
    fn unsupported_feature_names_file_and_line() {
        let t = "job \"x\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      template {\n        data = \"x\"\n      }\n    }\n  }\n}\n";
        let e = hcl_to_job("x.hcl", t, &BTreeMap::new())
            .unwrap_err()
            .to_string();
        assert!(e.contains("x.hcl:5") && e.contains("template"), "{e}");
        assert!(hcl_to_job("y.hcl", "job {", &BTreeMap::new())
            .unwrap_err()
            .to_string()
            .contains("y.hcl"));
    }

    /// Fuzz finding (fuzz/regressions/hcl_jobspec/): deep nesting overflowed the parser's stack (SIGSEGV,
    /// no error). Each shape is refused with the file and line, on a thread with a stack smaller than a
    /// tokio worker's, before the parser sees it.
    #[test]
    fn deep_nesting_is_refused_not_a_stack_overflow() {
        let n = 100_000;
        let shapes = [
            format!("x = {}1{}\n", "(".repeat(n), ")".repeat(n)),
            format!("x = {}1{}\n", "[".repeat(n), "]".repeat(n)),
            format!("x = {}\n", "{a = ".repeat(n)),
            format!("x = 1{}\n", "+1".repeat(n)),
            format!("x = [\n{}1]\n", "1 +\n".repeat(n)),
            format!("x = {}1\n", "-".repeat(n)),
            format!("x = {}1\n", "true ? 1 : ".repeat(n)),
            format!("x = \"{}\"\n", "${\"".repeat(n)),
            format!("{}\n", "a {\n".repeat(n)),
        ];
        std::thread::Builder::new()
            .stack_size(256 << 10)
            .spawn(move || {
                for t in &shapes {
                    let e = hcl_to_job("deep.hcl", &format!("\n{t}"), &BTreeMap::new())
                        .unwrap_err()
                        .to_string();
                    // The line where the bound is crossed (line 2, or further down for multi-line shapes).
                    assert!(e.starts_with("deep.hcl:"), "{e}");
                    assert!(e.contains(": nested too deeply (more than "), "{e}");
                }
            })
            .unwrap()
            .join()
            .unwrap();
        // The bundled jobspecs and ordinary nesting stay well inside the bound.
        let ok = "job \"j\" {\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n      config {\n        args = [\"${1 + 2 * (3 - 1)}\", \"b\"]\n      }\n      resources {\n        cpu = 100 * 2 + 50\n        memory = 64\n      }\n    }\n  }\n}\n";
        let j = hcl_to_job("ok.hcl", ok, &BTreeMap::new()).unwrap();
        assert_eq!(j["TaskGroups"][0]["Tasks"][0]["Resources"]["CPU"], 250);
    }

    /// Fuzz finding (fuzz/regressions/hcl_jobspec/): `1/00` evaluated to an infinite number (a debug
    /// assertion in hcl-primitives; `null` sent to Nomad in release builds).
    #[test]
    fn non_finite_arithmetic_is_refused() {
        for (expr, want) in [
            ("1/00", "division by zero"),
            ("7 % 0", "division by zero"),
            ("1 / (var.n - 2)", "division by zero"),
            ("1e308 * 10", "is not a finite number"),
            ("\"${1/0}\"", "division by zero"),
            ("[for x in [1]: x + 1/0]", "division by zero"),
        ] {
            let t = format!(
                "variable \"n\" {{ default = 2 }}\njob \"j\" {{\n  priority = {expr}\n}}\n"
            );
            let e = hcl_to_job("a.hcl", &t, &BTreeMap::new())
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with("a.hcl:3: `priority`: ") && e.contains(want),
                "{expr}: {e}"
            );
        }
        let t = "job \"j\" {\n  priority = 100 / 2 - 1\n  group \"g\" {\n    task \"t\" {\n      driver = \"docker\"\n    }\n  }\n}\n";
        let j = hcl_to_job("a.hcl", t, &BTreeMap::new()).unwrap();
        assert_eq!(j["Priority"], 49);
    }

    /// Fuzz finding: a syntax error 30 brackets deep made the parser backtrack for 15 s.
    #[test]
    fn deep_brackets_are_refused_before_exponential_backtracking() {
        let input = include_bytes!(
            "../../fuzz/regressions/hcl_jobspec/timeout-76e25db9a86935285cbf9ecd3f814ee30d2a72dd"
        );
        let t0 = std::time::Instant::now();
        let e = hcl_to_job(
            "t.hcl",
            std::str::from_utf8(input).unwrap(),
            &BTreeMap::new(),
        )
        .unwrap_err()
        .to_string();
        assert!(e.contains("more than 20 levels of brackets"), "{e}");
        assert!(t0.elapsed() < std::time::Duration::from_secs(1));
        // 20 levels with a syntax error at the bottom stay fast.
        let t = format!("x = {}%l|l\n", "ar[!l][".repeat(10));
        let t0 = std::time::Instant::now();
        assert!(hcl_to_job("t.hcl", &t, &BTreeMap::new()).is_err());
        assert!(t0.elapsed() < std::time::Duration::from_secs(2));
    }
}
