//! The emulator held to real Nomad, by difference: the same request sequence (register, reads of job,
//! allocations, evaluations and nodes, a blocking query, the event stream, dispatch, deregister + purge,
//! bad requests) goes to a real Nomad and to `stampede emulate`; status codes, the field sets and JSON
//! types of every response (recursively), the `X-Nomad-Index`/`X-Nomad-KnownLeader` headers and the event
//! shapes must agree, except for what [`ALLOWED`] lists (each entry says why).
//!
//! The real side's responses are recorded into `harness/tests/fixtures/real-nomad/` when
//! `STAMPEDE_RECORD_FIXTURES=1`; [`emulator_matches_recorded_real_nomad`] holds the emulator to those
//! fixtures without starting Nomad (fast), and the real test checks the fixtures still describe the real
//! server's shapes.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::real_cluster::{ClusterOpts, RealCluster};

/// What the emulator knowingly does differently from Nomad 1.6.3, found by this test: `(request, path,
/// why)`. `request` is a request name or `*`; `path` matches a path equal to it or under it (`.`/`[`),
/// and a path starting with `**.` matches at any depth (the job appears at the root of `job_read`, under
/// `Job.` in `allocation_read` and under `Events[].Payload.Job.` in the event stream). Header
/// differences use the paths `header:X-Nomad-Index` / `header:X-Nomad-KnownLeader`. Each entry is a gap
/// to close in the emulator, or a deliberate simplification.
const ALLOWED: &[(&str, &str, &str)] = &[
    // Headers: Nomad sets X-Nomad-KnownLeader only on reads (query meta), and no index/leader headers on
    // /v1/status/*; it sets X-Nomad-Index on a 404 read too. The emulator sets both on every response
    // except 404s. Harmless for clients that only read them where Nomad sets them.
    (
        "status_leader",
        "header:X-Nomad-Index",
        "emulator: extra header",
    ),
    (
        "status_leader",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header",
    ),
    (
        "status_peers",
        "header:X-Nomad-Index",
        "emulator: extra header",
    ),
    (
        "status_peers",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header",
    ),
    (
        "register",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header on writes",
    ),
    (
        "register_parameterized",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header on writes",
    ),
    (
        "dispatch",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header on writes",
    ),
    (
        "deregister_purge",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header on writes",
    ),
    (
        "deregister_purge_p",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header on writes",
    ),
    (
        "bad_json",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header on errors",
    ),
    (
        "bad_job_no_groups",
        "header:X-Nomad-KnownLeader",
        "emulator: extra header on errors",
    ),
    (
        "job_read_purged",
        "header:X-Nomad-Index",
        "emulator: no index header on a 404 read",
    ),
    (
        "unknown_job",
        "header:X-Nomad-Index",
        "emulator: no index header on a 404 read",
    ),
    // Status: dispatching an unknown job is a 500 in Nomad 1.6 (an RPC error), a 404 in the emulator.
    (
        "dispatch_not_parameterized",
        "status",
        "emulator answers 404 where Nomad answers 500",
    ),
    // Job canonicalisation defaults Nomad fills in and the emulator doesn't render (it doesn't model
    // them): node pools (1.6), the registering token's accessor, update/restart/reschedule timings,
    // kill timeouts, the group's Consul block.
    ("*", "**.NodePool", "node pools are not modelled"),
    ("*", "**.NomadTokenID", "no ACL identities in the emulator"),
    ("*", "**.Update", "update stanza defaults not rendered"),
    ("*", "**.TaskGroups[].Consul", "no Consul"),
    (
        "*",
        "**.TaskGroups[].ReschedulePolicy",
        "reschedule timings not rendered (attempts are)",
    ),
    (
        "*",
        "**.TaskGroups[].RestartPolicy",
        "restart timings not rendered (attempts/mode are)",
    ),
    (
        "*",
        "**.TaskGroups[].Tasks[].KillTimeout",
        "kill timeouts not modelled",
    ),
    (
        "*",
        "**.TaskGroups[].Tasks[].RestartPolicy",
        "per-task restart policy (1.6) not rendered",
    ),
    // Allocations.
    (
        "*",
        "**.DesiredTransition",
        "Nomad sends an all-null object; the emulator omits it or sends {}",
    ),
    (
        "*",
        "**.TaskStates.*.Events[].Details",
        "task event details not rendered",
    ),
    (
        "allocation_read",
        "AllocatedResources.TaskLifecycles",
        "lifecycles not modelled",
    ),
    (
        "allocation_read",
        "Metrics.NodesAvailable",
        "placement metrics: only the basic counters",
    ),
    (
        "allocation_read",
        "Metrics.NodesInPool",
        "node pools are not modelled",
    ),
    (
        "allocation_read",
        "Metrics.ScoreMetaData",
        "placement scores not rendered",
    ),
    ("allocation_read", "NetworkStatus", "no networking"),
    (
        "allocation_read",
        "Resources",
        "deprecated pre-0.9 resource fields not rendered",
    ),
    (
        "allocation_read",
        "SharedResources",
        "deprecated pre-0.9 resource fields not rendered",
    ),
    (
        "allocation_read",
        "TaskResources",
        "deprecated pre-0.9 resource fields not rendered",
    ),
    (
        "allocation_read",
        "SignedIdentities",
        "no workload identities",
    ),
    ("allocation_read", "SigningKeyID", "no workload identities"),
    // Nodes: the emulator's nodes are simulated, not fingerprinted.
    (
        "*",
        "**.Drivers.*.Attributes",
        "driver fingerprint attributes not simulated",
    ),
    ("node_read", "CgroupParent", "no cgroups"),
    (
        "node_read",
        "ComputedClass",
        "computed node classes not rendered",
    ),
    ("node_read", "Events", "node events not rendered"),
    ("node_read", "LastAllocUpdateIndex", "not rendered"),
    (
        "node_read",
        "NodeResources.Cpu.ReservableCpuCores",
        "no core reservation",
    ),
    (
        "node_read",
        "NodeResources.MaxDynamicPort",
        "no port allocation",
    ),
    (
        "node_read",
        "NodeResources.MinDynamicPort",
        "no port allocation",
    ),
    ("node_read", "NodeResources.Networks", "no networking"),
    ("node_read", "NodeResources.NodeNetworks", "no networking"),
    (
        "node_read",
        "Reserved",
        "deprecated pre-0.9 resource fields not rendered",
    ),
    ("node_read", "ReservedResources.Networks", "no networking"),
    (
        "node_read",
        "Resources",
        "deprecated pre-0.9 resource fields not rendered",
    ),
    // Scheduler configuration: a field Nomad 1.6.3 doesn't have.
    (
        "scheduler_config",
        "SchedulerConfig.NodeLimitForFeasibilityChecks",
        "emulator renders a field absent from Nomad 1.6",
    ),
];

/// One request of the sequence and what both servers answered.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct Exchange {
    pub name: String,
    pub status: u16,
    pub index_header: bool,
    pub known_leader: Option<String>,
    pub body: Value,
    pub elapsed_ms: u64,
}

fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/real-nomad")
}

/// Keys whose children are user- or host-chosen names (flattened to `*`).
const MAP_KEYS: &[&str] = &[
    "Meta",
    "Attributes",
    "Drivers",
    "Links",
    "TaskStates",
    "Summary",
    "TaskResources",
    "HostVolumes",
    "HostNetworks",
    "CSIControllerPlugins",
    "CSINodePlugins",
    "QueuedAllocations",
    "FailedTGAllocs",
    "PlacementMetrics",
    "ClassFiltered",
    "ConstraintFiltered",
    "DimensionExhausted",
    "ClassExhausted",
    "QuotaExhausted",
    "Scores",
    "NodesAvailable",
    "SchedulerConfig.PreemptionConfig",
    "Tasks",
    "Env",
    "Config",
    "DeploymentStatus",
];

/// What one path holds across a response: its JSON type and whether every value there is empty
/// (`null`, `""`, `0`, `false`, `[]`, `{}`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Slot {
    pub ty: &'static str,
    pub empty: bool,
}

fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::Bool(b) => !b,
        Value::Number(n) => n.as_f64() == Some(0.0),
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.is_empty(),
        Value::Object(o) => o.is_empty(),
    }
}

/// Flattens a JSON value into `path → Slot` (type `string`, `number`, `bool`, `object`, `array`,
/// `null`). Array elements share the path `p[]`; children of map-like keys share `p.*`.
pub fn shape(v: &Value) -> BTreeMap<String, Slot> {
    fn ty(v: &Value) -> &'static str {
        match v {
            Value::Null => "null",
            Value::Bool(_) => "bool",
            Value::Number(_) => "number",
            Value::String(_) => "string",
            Value::Array(_) => "array",
            Value::Object(_) => "object",
        }
    }
    fn walk(v: &Value, path: &str, out: &mut BTreeMap<String, Slot>) {
        let t = ty(v);
        let empty = is_empty(v);
        match out.get_mut(path) {
            Some(old) => {
                if old.ty == "null" {
                    old.ty = t;
                }
                old.empty &= empty;
            }
            None => {
                out.insert(path.to_string(), Slot { ty: t, empty });
            }
        }
        match v {
            Value::Object(m) => {
                let last = path.rsplit(['.', '[']).next().unwrap_or("");
                let mapish = MAP_KEYS
                    .iter()
                    .any(|k| *k == last || (k.contains('.') && path.ends_with(k)));
                for (k, c) in m {
                    let p = match (path.is_empty(), mapish) {
                        (_, true) => format!("{path}.*"),
                        (true, false) => k.clone(),
                        (false, false) => format!("{path}.{k}"),
                    };
                    walk(c, &p, out);
                }
            }
            Value::Array(a) => {
                for c in a.iter().take(5) {
                    walk(c, &format!("{path}[]"), out);
                }
            }
            _ => {}
        }
    }
    let mut out = BTreeMap::new();
    walk(v, "", &mut out);
    out
}

fn under(path: &str, prefix: &str) -> bool {
    path == prefix
        || path.starts_with(&format!("{prefix}."))
        || path.starts_with(&format!("{prefix}["))
}

/// Whether `path` of request `name` is allow-listed.
fn allowed(name: &str, path: &str) -> bool {
    ALLOWED.iter().any(|(req, p, _)| {
        (*req == "*" || *req == name)
            && match p.strip_prefix("**.") {
                Some(rest) => {
                    under(path, rest)
                        || path
                            .match_indices(&format!(".{rest}"))
                            .any(|(i, _)| under(&path[i + 1..], rest))
                }
                None => under(path, p),
            }
    })
}

/// Differences between a real and an emulated exchange that are not allow-listed.
pub fn diff(real: &Exchange, emu: &Exchange) -> Vec<String> {
    let mut d = Vec::new();
    let n = &real.name;
    if real.status != emu.status {
        if !allowed(n, "status") {
            d.push(format!(
                "{n}: status: Nomad {} vs emulator {}",
                real.status, emu.status
            ));
        }
        return d;
    }
    if real.index_header != emu.index_header && !allowed(n, "header:X-Nomad-Index") {
        d.push(format!(
            "{n}: X-Nomad-Index present: Nomad {} vs emulator {}",
            real.index_header, emu.index_header
        ));
    }
    if real.known_leader != emu.known_leader && !allowed(n, "header:X-Nomad-KnownLeader") {
        d.push(format!(
            "{n}: X-Nomad-KnownLeader: Nomad {:?} vs emulator {:?}",
            real.known_leader, emu.known_leader
        ));
    }
    let (r, e) = (shape(&real.body), shape(&emu.body));
    for (p, rs) in &r {
        let key = format!("{n}:{p}");
        let ok = allowed(n, p);
        match e.get(p) {
            // An absent key decodes as the zero value (Go's encoding/json, serde defaults): a field Nomad
            // only ever sent empty here may be left out.
            None if rs.empty => {}
            None if !ok => d.push(format!("{key}: only in Nomad ({})", rs.ty)),
            Some(es) if es.ty != rs.ty && rs.ty != "null" && es.ty != "null" && !ok => d.push(
                format!("{key}: type: Nomad {} vs emulator {}", rs.ty, es.ty),
            ),
            _ => {}
        }
    }
    for (p, es) in &e {
        let key = format!("{n}:{p}");
        // Nomad omits some empty fields (`omitempty`); the emulator writing their zero value is the same
        // to a decoder.
        if !r.contains_key(p) && !es.empty && !allowed(n, p) {
            d.push(format!("{key}: only in the emulator ({})", es.ty));
        }
    }
    d
}

fn job(id: &str, parameterized: bool) -> Value {
    let mut j = json!({
        "ID": id, "Name": id, "Type": "batch", "Datacenters": ["*"], "Priority": 50,
        "TaskGroups": [{
            "Name": "g", "Count": 2,
            "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "ReschedulePolicy": {"Attempts": 0, "Unlimited": false},
            "EphemeralDisk": {"SizeMB": 10},
            "Tasks": [{
                "Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["1"]},
                "Resources": {"CPU": 50, "MemoryMB": 32},
                "LogConfig": {"MaxFiles": 1, "MaxFileSizeMB": 1}
            }]
        }]
    });
    if parameterized {
        j["ParameterizedJob"] = json!({"Payload": "optional", "MetaRequired": ["shard"]});
        j["TaskGroups"][0]["Count"] = json!(1);
    }
    j
}

struct Target {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl Target {
    async fn call(&self, name: &str, method: &str, path: &str, body: Option<Value>) -> Exchange {
        self.call_raw(name, method, path, body.map(|b| b.to_string()))
            .await
    }

    async fn call_raw(
        &self,
        name: &str,
        method: &str,
        path: &str,
        body: Option<String>,
    ) -> Exchange {
        let t = Instant::now();
        let mut rb = self
            .http
            .request(method.parse().unwrap(), format!("{}{path}", self.base))
            .header("X-Nomad-Token", &self.token);
        if let Some(b) = body {
            rb = rb.body(b);
        }
        let r = rb.send().await.unwrap_or_else(|e| panic!("{name}: {e}"));
        let status = r.status().as_u16();
        let index_header = r.headers().contains_key("x-nomad-index");
        let known_leader = r
            .headers()
            .get("x-nomad-knownleader")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let text = r.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::String(if status < 300 {
            text
        } else {
            // Error bodies are text in both; their wording is not compared.
            "<error text>".into()
        }));
        Exchange {
            name: name.into(),
            status,
            index_header,
            known_leader,
            body,
            elapsed_ms: t.elapsed().as_millis() as u64,
        }
    }

    /// Waits (bounded) until `job`'s allocations are all running or finished.
    async fn wait_allocs(&self, job: &str, want: usize) {
        let end = Instant::now() + Duration::from_secs(90);
        loop {
            let e = self
                .call("wait", "GET", &format!("/v1/job/{job}/allocations"), None)
                .await;
            let ok = e.body.as_array().is_some_and(|a| {
                a.len() >= want
                    && a.iter()
                        .all(|x| matches!(x["ClientStatus"].as_str(), Some("running" | "complete")))
            });
            if ok {
                return;
            }
            assert!(
                Instant::now() < end,
                "{job}: allocations not running: {}",
                e.body
            );
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
    }

    /// The first non-heartbeat batch of the event stream for `topic`, from index 1.
    async fn first_event(&self, topic: &str) -> Exchange {
        let t = Instant::now();
        let r = self
            .http
            .get(format!(
                "{}/v1/event/stream?topic={topic}&index=1",
                self.base
            ))
            .header("X-Nomad-Token", &self.token)
            .send()
            .await
            .unwrap();
        let status = r.status().as_u16();
        let mut r = r;
        let mut buf = Vec::new();
        let end = Instant::now() + Duration::from_secs(20);
        loop {
            let chunk =
                tokio::time::timeout(end.saturating_duration_since(Instant::now()), r.chunk())
                    .await
                    .expect("an event within 20 s")
                    .unwrap()
                    .expect("stream open");
            buf.extend_from_slice(&chunk);
            while let Some(i) = buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = buf.drain(..=i).collect();
                let v: Value = match serde_json::from_slice(&line) {
                    Ok(v) => v,
                    Err(_) => continue,
                };
                if v.get("Events").is_some() {
                    return Exchange {
                        name: "event_stream".into(),
                        status,
                        index_header: false,
                        known_leader: None,
                        body: v,
                        elapsed_ms: t.elapsed().as_millis() as u64,
                    };
                }
            }
        }
    }
}

/// The request sequence. Both targets must have ≥ 1 node that runs raw_exec.
async fn sequence(t: &Target) -> Vec<Exchange> {
    let mut out = Vec::new();
    out.push(
        t.call("status_leader", "GET", "/v1/status/leader", None)
            .await,
    );
    out.push(
        t.call("status_peers", "GET", "/v1/status/peers", None)
            .await,
    );
    let reg = t
        .call(
            "register",
            "POST",
            "/v1/jobs",
            Some(json!({"Job": job("conf-a", false)})),
        )
        .await;
    let eval_id = reg.body["EvalID"].as_str().unwrap_or("").to_string();
    out.push(reg);
    t.wait_allocs("conf-a", 2).await;
    out.push(t.call("job_read", "GET", "/v1/job/conf-a", None).await);
    out.push(t.call("jobs_list", "GET", "/v1/jobs", None).await);
    let allocs = t
        .call("job_allocations", "GET", "/v1/job/conf-a/allocations", None)
        .await;
    let alloc_id = allocs.body[0]["ID"].as_str().unwrap_or("").to_string();
    out.push(allocs);
    out.push(
        t.call("job_evaluations", "GET", "/v1/job/conf-a/evaluations", None)
            .await,
    );
    out.push(
        t.call("job_summary", "GET", "/v1/job/conf-a/summary", None)
            .await,
    );
    out.push(
        t.call(
            "evaluation_read",
            "GET",
            &format!("/v1/evaluation/{eval_id}"),
            None,
        )
        .await,
    );
    out.push(
        t.call("allocations_list", "GET", "/v1/allocations", None)
            .await,
    );
    out.push(
        t.call(
            "allocation_read",
            "GET",
            &format!("/v1/allocation/{alloc_id}"),
            None,
        )
        .await,
    );
    out.push(
        t.call("evaluations_list", "GET", "/v1/evaluations", None)
            .await,
    );
    let nodes = t.call("nodes_list", "GET", "/v1/nodes", None).await;
    let node_id = nodes.body[0]["ID"].as_str().unwrap_or("").to_string();
    out.push(nodes);
    out.push(
        t.call("node_read", "GET", &format!("/v1/node/{node_id}"), None)
            .await,
    );
    out.push(
        t.call(
            "scheduler_config",
            "GET",
            "/v1/operator/scheduler/configuration",
            None,
        )
        .await,
    );
    // A blocking query on an index nothing will pass: returns after `wait` with the same index.
    let ix = {
        let r = t
            .http
            .get(format!("{}/v1/jobs", t.base))
            .header("X-Nomad-Token", &t.token)
            .send()
            .await
            .unwrap();
        r.headers()["x-nomad-index"].to_str().unwrap().to_string()
    };
    let mut b = t
        .call(
            "blocking_jobs",
            "GET",
            &format!("/v1/jobs?index={ix}&wait=1s"),
            None,
        )
        .await;
    // Only the waiting is compared, not the exact time.
    b.body = json!({"waited_at_least_800ms": b.elapsed_ms >= 800, "jobs": b.body});
    out.push(b);
    out.push(t.first_event("Job:conf-a").await);
    // Dispatch.
    out.push(
        t.call(
            "register_parameterized",
            "POST",
            "/v1/jobs",
            Some(json!({"Job": job("conf-p", true)})),
        )
        .await,
    );
    out.push(
        t.call(
            "dispatch",
            "POST",
            "/v1/job/conf-p/dispatch",
            Some(json!({"Meta": {"shard": "1"}})),
        )
        .await,
    );
    // Deregister and purge.
    out.push(
        t.call(
            "deregister_purge",
            "DELETE",
            "/v1/job/conf-a?purge=true",
            None,
        )
        .await,
    );
    out.push(
        t.call(
            "deregister_purge_p",
            "DELETE",
            "/v1/job/conf-p?purge=true",
            None,
        )
        .await,
    );
    out.push(
        t.call("job_read_purged", "GET", "/v1/job/conf-a", None)
            .await,
    );
    // Bad requests.
    out.push(
        t.call_raw("bad_json", "POST", "/v1/jobs", Some("{not json".into()))
            .await,
    );
    out.push(
        t.call(
            "bad_job_no_groups",
            "POST",
            "/v1/jobs",
            Some(json!({"Job": {"ID": "conf-bad", "Type": "batch", "Datacenters": ["*"]}})),
        )
        .await,
    );
    out.push(
        t.call("unknown_job", "GET", "/v1/job/no-such-job", None)
            .await,
    );
    out.push(
        t.call(
            "dispatch_not_parameterized",
            "POST",
            "/v1/job/no-such-job/dispatch",
            Some(json!({})),
        )
        .await,
    );
    out
}

/// Replaces credentials-like strings (token accessors, workload identity JWTs, secrets) by a
/// placeholder of the same type, so no token of the throwaway cluster lands in the repository.
fn scrub(v: &mut Value) {
    match v {
        Value::Object(m) => {
            for (k, c) in m.iter_mut() {
                let secretish = k.ends_with("Token") || k.ends_with("TokenID") || k == "SecretID";
                if k == "SignedIdentities" {
                    if let Value::Object(ids) = c {
                        for x in ids.values_mut() {
                            *x = json!("<redacted>");
                        }
                    }
                } else if secretish && c.as_str().is_some_and(|s| !s.is_empty()) {
                    *c = json!("<redacted>");
                } else {
                    scrub(c);
                }
            }
        }
        Value::Array(a) => a.iter_mut().for_each(scrub),
        _ => {}
    }
}

fn record_fixtures(ex: &[Exchange]) {
    let d = fixtures_dir();
    std::fs::create_dir_all(&d).unwrap();
    for e in ex {
        let mut e = e.clone();
        scrub(&mut e.body);
        std::fs::write(
            d.join(format!("{}.json", e.name)),
            serde_json::to_string_pretty(&e).unwrap() + "\n",
        )
        .unwrap();
    }
}

fn read_fixtures() -> BTreeMap<String, Exchange> {
    let mut m = BTreeMap::new();
    for f in std::fs::read_dir(fixtures_dir()).expect("recorded fixtures") {
        let p = f.unwrap().path();
        let e: Exchange = serde_json::from_str(&std::fs::read_to_string(&p).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()));
        m.insert(e.name.clone(), e);
    }
    m
}

async fn emulator_target(token: &str) -> (stampede::emulator::EmulatorHandle, Target) {
    let sc = stampede::files::load_scenario(
        &PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/emulator-small.toml"),
        1.0,
    )
    .unwrap();
    let mut c = stampede::emulator::EmulatorConfig::new(sc);
    c.listen = "127.0.0.1:0".parse().unwrap();
    c.token = Some(token.to_string());
    let h = stampede::emulator::start(c).await.unwrap();
    let t = Target {
        base: h.url(),
        token: token.into(),
        http: reqwest::Client::new(),
    };
    (h, t)
}

fn report(diffs: &[String]) {
    assert!(
        diffs.is_empty(),
        "the emulator differs from Nomad in {} places (fix the emulator, or allow-list with a reason):\n{}",
        diffs.len(),
        diffs.join("\n")
    );
}

#[test]
fn emulator_conforms_to_real_nomad() {
    let c = RealCluster::start(&ClusterOpts {
        clients: 1,
        ..Default::default()
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let real = Target {
            base: c.addr().to_string(),
            token: c.token.clone(),
            http: reqwest::Client::new(),
        };
        let real_ex = sequence(&real).await;
        if std::env::var("STAMPEDE_RECORD_FIXTURES").as_deref() == Ok("1") {
            record_fixtures(&real_ex);
        }
        // The recorded fixtures still describe this Nomad.
        let fx = read_fixtures();
        let mut diffs = Vec::new();
        for e in &real_ex {
            let f = fx.get(&e.name).unwrap_or_else(|| {
                panic!(
                    "no fixture {} (record with STAMPEDE_RECORD_FIXTURES=1)",
                    e.name
                )
            });
            for d in diff(e, f) {
                diffs.push(format!("fixture drift: {d}"));
            }
        }
        let (_h, emu) = emulator_target(&c.token).await;
        let emu_ex = sequence(&emu).await;
        for (r, e) in real_ex.iter().zip(&emu_ex) {
            diffs.extend(diff(r, e));
        }
        report(&diffs);
    });
}

#[test]
fn emulator_matches_recorded_real_nomad() {
    let fx = read_fixtures();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let (_h, emu) = emulator_target("conformance-token").await;
        let emu_ex = sequence(&emu).await;
        let mut diffs = Vec::new();
        for e in &emu_ex {
            let r = fx
                .get(&e.name)
                .unwrap_or_else(|| panic!("no fixture {}", e.name));
            diffs.extend(diff(r, e));
        }
        assert_eq!(emu_ex.len(), fx.len(), "one fixture per request");
        report(&diffs);
    });
}
