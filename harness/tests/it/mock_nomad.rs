//! A small mock Nomad for tests: a hand-rolled HTTP/1.1 server on 127.0.0.1 (full control over framing:
//! chunked or close-delimited event streams, raw 429s), following nomad-api.md. It runs a toy scheduler
//! (register → eval → PlanResult → running → complete) and records the ground truth of every allocation.

#![allow(dead_code, clippy::too_many_arguments)]

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};
use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Notify;

/// Fault and shape knobs.
#[derive(Debug, Clone)]
pub struct MockConfig {
    /// Event stream as chunked (Nomad ≤ 1.11) or close-delimited (Nomad ≥ 2.0).
    pub chunked: bool,
    /// Close every event-stream connection after this long.
    pub drop_stream_every: Option<Duration>,
    /// Answer every n-th register call with 500 `No cluster leader` (0 = never).
    pub fail_register_every: u32,
    /// Answer this register call (1-based) with a raw 429.
    pub register_429_at: Option<u32>,
    /// Serve Prometheus metrics.
    pub prometheus: bool,
    /// Delay from register to placement.
    pub place_delay: Duration,
    /// Delay from placement to task start.
    pub start_delay: Duration,
    /// Batch task run time.
    pub run_time: Duration,
    /// Version reported by /v1/agent/self.
    pub version: String,
    /// Event ring size (Nomad: 100).
    pub ring: usize,
    /// Answer every request to `/v1/job*`, `/v1/allocations`, `/v1/evaluations` and `/v1/nodes` only after
    /// this long (a slow or overloaded server).
    pub slow: Option<Duration>,
}

impl Default for MockConfig {
    fn default() -> Self {
        MockConfig {
            chunked: true,
            drop_stream_every: None,
            fail_register_every: 0,
            register_429_at: None,
            prometheus: true,
            place_delay: Duration::from_millis(20),
            start_delay: Duration::from_millis(30),
            run_time: Duration::from_millis(50),
            version: "1.9.0".into(),
            ring: 100,
            slow: None,
        }
    }
}

/// Ground truth of one allocation (Unix ns).
#[derive(Debug, Clone, PartialEq)]
pub struct Truth {
    /// Job ID.
    pub job: String,
    /// Allocation ID.
    pub alloc: String,
    /// CreateTime.
    pub create_ns: i64,
    /// StartedAt.
    pub started_ns: Option<i64>,
    /// FinishedAt.
    pub finished_ns: Option<i64>,
}

#[derive(Default)]
pub struct State {
    pub index: u64,
    pub batches: Vec<(u64, String)>,
    pub jobs: BTreeMap<String, Value>,
    pub allocs: Vec<Value>,
    pub evals: Vec<Value>,
    pub truth: Vec<Truth>,
    pub sched: Value,
    pub sched_puts: Vec<Value>,
    pub register_calls: u32,
    pub peer_calls: u32,
    pub registered_ok: u32,
    pub stream_connects: u32,
    pub deregistered: Vec<String>,
    pub seq: u64,
    pub started: Option<std::time::Instant>,
}

/// The running mock.
pub struct MockNomad {
    /// `http://127.0.0.1:PORT`.
    pub addr: String,
    pub state: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    cfg: MockConfig,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for MockNomad {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn now_ns() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_nanos() as i64
}

fn rfc3339(ns: i64) -> String {
    chrono::DateTime::from_timestamp(ns / 1_000_000_000, (ns % 1_000_000_000) as u32)
        .unwrap()
        .to_rfc3339_opts(chrono::SecondsFormat::Nanos, true)
}

fn uuid(seq: u64, kind: u8) -> String {
    format!(
        "{:08x}-{:04x}-4{:03x}-8{:03x}-{:012x}",
        seq as u32,
        kind as u16,
        (seq >> 32) & 0xfff,
        kind as u64 & 0xfff,
        seq
    )
}

impl State {
    fn emit(&mut self, events: Vec<Value>, ring: usize) -> u64 {
        self.index += 1;
        let idx = self.index;
        let evs: Vec<Value> = events
            .into_iter()
            .map(|mut e| {
                e["Index"] = json!(idx);
                e
            })
            .collect();
        self.batches
            .push((idx, json!({"Index": idx, "Events": evs}).to_string()));
        if self.batches.len() > ring {
            let n = self.batches.len() - ring;
            self.batches.drain(..n);
        }
        idx
    }
}

impl MockNomad {
    /// Starts the mock on an ephemeral loopback port.
    pub async fn start(cfg: MockConfig) -> MockNomad {
        let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", l.local_addr().unwrap());
        let state = Arc::new(Mutex::new(State {
            sched: json!({"SchedulerAlgorithm":"binpack","MemoryOversubscriptionEnabled":true,"RejectJobRegistration":false,
                "PauseEvalBroker":false,"PreemptionConfig":{"SystemSchedulerEnabled":true,"BatchSchedulerEnabled":false},
                "CreateIndex":5,"ModifyIndex":5}),
            index: 10,
            started: Some(std::time::Instant::now()),
            ..Default::default()
        }));
        let notify = Arc::new(Notify::new());
        let (s2, n2, c2) = (state.clone(), notify.clone(), cfg.clone());
        let task = tokio::spawn(async move {
            loop {
                let Ok((sock, _)) = l.accept().await else {
                    return;
                };
                let (s, n, c) = (s2.clone(), n2.clone(), c2.clone());
                tokio::spawn(async move {
                    let _ = serve_conn(sock, s, n, c).await;
                });
            }
        });
        MockNomad {
            addr,
            state,
            notify,
            cfg,
            task,
        }
    }

    /// Ground truth, by alloc ID.
    pub fn truth(&self) -> BTreeMap<String, Truth> {
        self.state
            .lock()
            .unwrap()
            .truth
            .iter()
            .map(|t| (t.alloc.clone(), t.clone()))
            .collect()
    }
}

struct Req {
    method: String,
    path: String,
    query: Vec<(String, String)>,
    body: Vec<u8>,
}

impl Req {
    fn q(&self, k: &str) -> Option<&str> {
        self.query
            .iter()
            .find(|(n, _)| n == k)
            .map(|(_, v)| v.as_str())
    }
}

fn pct_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'%' && i + 2 < b.len() {
            if let Ok(v) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(v);
                i += 3;
                continue;
            }
        }
        out.push(if b[i] == b'+' { b' ' } else { b[i] });
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn read_req(r: &mut BufReader<tokio::net::tcp::OwnedReadHalf>) -> Option<Req> {
    let mut line = String::new();
    if r.read_line(&mut line).await.ok()? == 0 {
        return None;
    }
    let mut parts = line.split_whitespace();
    let method = parts.next()?.to_string();
    let target = parts.next()?.to_string();
    let mut len = 0usize;
    loop {
        let mut h = String::new();
        r.read_line(&mut h).await.ok()?;
        let h = h.trim_end();
        if h.is_empty() {
            break;
        }
        if let Some((k, v)) = h.split_once(':') {
            if k.eq_ignore_ascii_case("content-length") {
                len = v.trim().parse().ok()?;
            }
        }
    }
    let mut body = vec![0; len];
    r.read_exact(&mut body).await.ok()?;
    let (path, qs) = target.split_once('?').unwrap_or((&target, ""));
    let query = qs.split('&').filter(|s| !s.is_empty()).map(|kv| {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        (pct_decode(k), pct_decode(v))
    });
    Some(Req {
        method,
        path: path.to_string(),
        query: query.collect(),
        body,
    })
}

fn resp(code: u16, ctype: &str, body: &str, extra: &[(&str, String)]) -> Vec<u8> {
    let reason = match code {
        200 => "OK",
        400 => "Bad Request",
        404 => "Not Found",
        415 => "Unsupported Media Type",
        500 => "Internal Server Error",
        _ => "Other",
    };
    let mut s = format!(
        "HTTP/1.1 {code} {reason}\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\n",
        body.len()
    );
    for (k, v) in extra {
        s.push_str(&format!("{k}: {v}\r\n"));
    }
    s.push_str("\r\n");
    s.push_str(body);
    s.into_bytes()
}

fn json_resp_counted(
    counter: &mut u32,
    v: &Value,
    index: u64,
    extra: &[(&str, String)],
) -> Vec<u8> {
    *counter += 1;
    json_resp(v, index, extra)
}

fn json_resp(v: &Value, index: u64, extra: &[(&str, String)]) -> Vec<u8> {
    let mut e = vec![
        ("X-Nomad-Index", index.to_string()),
        ("X-Nomad-Knownleader", "true".to_string()),
    ];
    e.extend(extra.iter().cloned());
    resp(200, "application/json", &v.to_string(), &e)
}

fn text_err(code: u16, msg: &str) -> Vec<u8> {
    resp(code, "text/plain; charset=utf-8", msg, &[])
}

async fn serve_conn(
    sock: TcpStream,
    st: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    cfg: MockConfig,
) -> std::io::Result<()> {
    let (r, mut w) = sock.into_split();
    let mut r = BufReader::new(r);
    while let Some(req) = read_req(&mut r).await {
        if req.path == "/v1/event/stream" {
            return stream(w, req, st, notify, cfg).await;
        }
        let out = handle(&req, &st, &notify, &cfg).await;
        match out {
            Some(bytes) => w.write_all(&bytes).await?,
            None => {
                let body = "Your IP is issuing too many concurrent connections, please rate limit your calls\n";
                let raw = format!("HTTP/1.1 429 Too Many Requests\r\nContent-Type: text/plain\r\nConnection: close\r\nContent-Length: {}\r\n\r\n{body}", body.len());
                w.write_all(raw.as_bytes()).await?;
                return Ok(());
            }
        }
    }
    Ok(())
}

async fn stream(
    mut w: tokio::net::tcp::OwnedWriteHalf,
    req: Req,
    st: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    cfg: MockConfig,
) -> std::io::Result<()> {
    let head = if cfg.chunked {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-cache\r\nTransfer-Encoding: chunked\r\n\r\n"
    } else {
        "HTTP/1.1 200 OK\r\nContent-Type: application/json\r\nCache-Control: no-cache\r\nConnection: close\r\n\r\n"
    };
    w.write_all(head.as_bytes()).await?;
    let send = |line: String| {
        let mut l = line.into_bytes();
        l.push(b'\n');
        if cfg.chunked {
            let mut c = format!("{:x}\r\n", l.len()).into_bytes();
            c.extend(l);
            c.extend(b"\r\n");
            c
        } else {
            l
        }
    };
    // Write the heartbeat in two pieces to exercise line reassembly.
    if cfg.chunked {
        w.write_all(&send("{".into())[..0]).await?;
    }
    w.write_all(&send("{}".into())).await?;
    st.lock().unwrap().stream_connects += 1;
    let want: u64 = req.q("index").and_then(|v| v.parse().ok()).unwrap_or(0);
    let mut next = {
        let s = st.lock().unwrap();
        let newest = s.batches.last().map_or(0, |b| b.0);
        if want > newest && newest > 0 {
            newest
        } else {
            want
        }
    };
    let deadline = cfg
        .drop_stream_every
        .map(|d| tokio::time::Instant::now() + d);
    loop {
        let notified = notify.notified();
        let pending: Vec<(u64, String)> = st
            .lock()
            .unwrap()
            .batches
            .iter()
            .filter(|b| b.0 >= next)
            .cloned()
            .collect();
        for (i, line) in pending {
            // Split each line into two writes to exercise chunk reassembly.
            let bytes = send(line);
            let mid = bytes.len() / 2;
            w.write_all(&bytes[..mid]).await?;
            w.flush().await?;
            w.write_all(&bytes[mid..]).await?;
            next = i + 1;
        }
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            _ = notified => {}
            _ = sleep => {
                if cfg.chunked { w.write_all(b"0\r\n\r\n").await?; }
                return w.shutdown().await;
            }
            _ = tokio::time::sleep(Duration::from_millis(200)) => {}
        }
    }
}

fn alloc_json(
    id: &str,
    job: &str,
    node: &str,
    create: i64,
    mi: u64,
    client: &str,
    started: Option<i64>,
    finished: Option<i64>,
) -> Value {
    let ts = json!({"t": {"State": if finished.is_some() {"dead"} else if started.is_some() {"running"} else {"pending"}, "Failed": false,
        "StartedAt": started.map(rfc3339), "FinishedAt": finished.map(rfc3339), "Events": []}});
    json!({"ID": id, "EvalID": "e", "Name": format!("{job}.g0[0]"), "Namespace": "default", "NodeID": node, "NodeName": "n",
        "JobID": job, "Job": null, "TaskGroup": "g0", "DesiredStatus": "run", "ClientStatus": client,
        "TaskStates": if started.is_some() { ts } else { Value::Null },
        "CreateIndex": mi, "ModifyIndex": mi, "CreateTime": create, "ModifyTime": now_ns(), "Metrics": {"AllocationTime": 1000}})
}

fn alloc_event(a: &Value, ty: &str) -> Value {
    json!({"Topic":"Allocation","Type":ty,"Key":a["ID"],"Namespace":"default","FilterKeys":[a["JobID"],""],"Payload":{"Allocation":a}})
}

fn spawn_lifecycle(
    st: Arc<Mutex<State>>,
    notify: Arc<Notify>,
    cfg: MockConfig,
    job: Value,
    eval_id: String,
) {
    tokio::spawn(async move {
        tokio::time::sleep(cfg.place_delay).await;
        let id = job["ID"].as_str().unwrap_or("").to_string();
        let count: u64 = job["TaskGroups"].as_array().map_or(0, |g| {
            g.iter().map(|g| g["Count"].as_u64().unwrap_or(1)).sum()
        });
        let batch = job["Type"] == "batch";
        let mut ids = Vec::new();
        {
            let mut s = st.lock().unwrap();
            let create = now_ns();
            let mut evs = Vec::new();
            let mi = s.index + 1;
            for i in 0..count {
                s.seq += 1;
                let aid = uuid(s.seq, 0xa);
                let node = format!("{:08x}-0000-4000-8000-00000000000{}", 1, i % 3);
                let mut a = alloc_json(&aid, &id, &node, create, mi, "pending", None, None);
                // Allocation i belongs to the group whose counts cover it (all in `g0` when unnamed).
                let mut k = i;
                for g in job["TaskGroups"].as_array().into_iter().flatten() {
                    let c = g["Count"].as_u64().unwrap_or(1);
                    if k < c {
                        if let Some(n) = g["Name"].as_str() {
                            a["TaskGroup"] = json!(n);
                            a["Name"] = json!(format!("{id}.{n}[{k}]"));
                        }
                        break;
                    }
                    k -= c;
                }
                evs.push(alloc_event(&a, "PlanResult"));
                s.allocs.push(a);
                s.truth.push(Truth {
                    job: id.clone(),
                    alloc: aid.clone(),
                    create_ns: create,
                    started_ns: None,
                    finished_ns: None,
                });
                ids.push(aid);
            }
            s.emit(evs, cfg.ring);
            let ev = json!({"ID": eval_id, "JobID": id, "Status": "complete", "TriggeredBy": "job-register", "CreateTime": create, "ModifyIndex": s.index + 1});
            if let Some(e) = s.evals.iter_mut().find(|e| e["ID"] == eval_id) {
                *e = ev.clone();
            }
            s.emit(vec![json!({"Topic":"Evaluation","Type":"EvaluationUpdated","Key":eval_id,"Payload":{"Evaluation":ev}})], cfg.ring);
        }
        notify.notify_waiters();
        tokio::time::sleep(cfg.start_delay).await;
        let phases: &[&str] = if batch {
            &["running", "complete"]
        } else {
            &["running"]
        };
        for (k, phase) in phases.iter().enumerate() {
            if k == 1 {
                tokio::time::sleep(cfg.run_time).await;
            }
            let mut s = st.lock().unwrap();
            let t = now_ns();
            let mi = s.index + 1;
            let mut evs = Vec::new();
            for aid in &ids {
                let tr = s.truth.iter_mut().find(|x| &x.alloc == aid).unwrap();
                if *phase == "running" {
                    tr.started_ns = Some(t);
                } else {
                    tr.finished_ns = Some(t);
                }
                let tr = tr.clone();
                let a = alloc_json(
                    aid,
                    &id,
                    "n",
                    tr.create_ns,
                    mi,
                    // A batch job with Meta `mock_fail = "true"` ends `failed`.
                    if *phase == "complete" && job["Meta"]["mock_fail"] == "true" {
                        "failed"
                    } else {
                        phase
                    },
                    tr.started_ns,
                    tr.finished_ns,
                );
                let slot = s
                    .allocs
                    .iter_mut()
                    .find(|x| x["ID"] == aid.as_str())
                    .unwrap();
                let keep = [
                    slot["NodeID"].clone(),
                    slot["TaskGroup"].clone(),
                    slot["Name"].clone(),
                ];
                *slot = a;
                slot["NodeID"] = keep[0].clone();
                slot["TaskGroup"] = keep[1].clone();
                slot["Name"] = keep[2].clone();
                evs.push(alloc_event(slot, "AllocationUpdated"));
            }
            s.emit(evs, cfg.ring);
            drop(s);
            notify.notify_waiters();
        }
    });
}

fn prefix_filter(f: Option<&str>) -> Option<String> {
    let f = f?;
    let start = f.find("\"^")? + 2;
    let end = f.rfind('"')?;
    let raw = &f[start..end];
    let mut out = String::new();
    let mut esc = false;
    for c in raw.chars() {
        if c == '\\' && !esc {
            esc = true;
            continue;
        }
        esc = false;
        out.push(c);
    }
    Some(out)
}

/// The objects whose `JobID` matches the request's `filter` (`JobID matches "^prefix"`), all without one.
fn of_jobs(objs: &[Value], req: &Req) -> Vec<Value> {
    let pre = prefix_filter(req.q("filter"));
    objs.iter()
        .filter(|o| {
            pre.as_ref()
                .is_none_or(|p| o["JobID"].as_str().unwrap_or("").starts_with(p.as_str()))
        })
        .cloned()
        .collect()
}

fn page(items: Vec<Value>, req: &Req, index: u64) -> Vec<u8> {
    let per: usize = req
        .q("per_page")
        .and_then(|v| v.parse().ok())
        .unwrap_or(usize::MAX);
    let start = match req.q("next_token") {
        Some(t) => items
            .iter()
            .position(|a| a["ID"] == t)
            .unwrap_or(items.len()),
        None => 0,
    };
    let end = start.saturating_add(per).min(items.len());
    let mut extra = Vec::new();
    if end < items.len() {
        extra.push((
            "X-Nomad-Nexttoken",
            items[end]["ID"].as_str().unwrap_or("").to_string(),
        ));
    }
    json_resp(&Value::Array(items[start..end].to_vec()), index, &extra)
}

async fn handle(
    req: &Req,
    st: &Arc<Mutex<State>>,
    notify: &Arc<Notify>,
    cfg: &MockConfig,
) -> Option<Vec<u8>> {
    let m = req.method.as_str();
    let p = req.path.as_str();
    if let Some(d) = cfg.slow {
        if p.starts_with("/v1/job")
            || matches!(p, "/v1/allocations" | "/v1/evaluations" | "/v1/nodes")
        {
            tokio::time::sleep(d).await;
        }
    }
    // Blocking queries on list endpoints.
    if m == "GET" && matches!(p, "/v1/allocations" | "/v1/nodes" | "/v1/evaluations") {
        if let Some(idx) = req.q("index").and_then(|v| v.parse::<u64>().ok()) {
            let wait = req
                .q("wait")
                .and_then(|w| w.strip_suffix("ms"))
                .and_then(|w| w.parse::<u64>().ok())
                .unwrap_or(300_000);
            let until = tokio::time::Instant::now() + Duration::from_millis(wait);
            loop {
                let n = notify.notified();
                if st.lock().unwrap().index > idx || tokio::time::Instant::now() >= until {
                    break;
                }
                tokio::select! { _ = n => {}, _ = tokio::time::sleep_until(until) => {} }
            }
        }
    }
    let mut s = st.lock().unwrap();
    let index = s.index;
    Some(match (m, p) {
        ("GET", "/v1/agent/self") => json_resp(
            &json!({"config":{"Version":{"Version":cfg.version,"VersionPrerelease":""}},"member":{"Tags":{}},"stats":{"runtime":{"cpu_count":"4"}}}),
            index,
            &[],
        ),
        ("GET", "/v1/status/leader") => json_resp(&json!("127.0.0.1:4647"), index, &[]),
        ("GET", "/v1/status/peers") => {
            json_resp_counted(&mut s.peer_calls, &json!(["127.0.0.1:4647"]), index, &[])
        }
        ("GET", "/v1/operator/scheduler/configuration") => json_resp(
            &json!({"SchedulerConfig": s.sched, "Index": index, "KnownLeader": true}),
            index,
            &[],
        ),
        ("PUT", "/v1/operator/scheduler/configuration")
        | ("POST", "/v1/operator/scheduler/configuration") => {
            let Ok(mut body) = serde_json::from_slice::<Value>(&req.body) else {
                return Some(text_err(400, "Error parsing scheduler config: bad json"));
            };
            s.sched_puts.push(body.clone());
            let cas: Option<u64> = req.q("cas").and_then(|v| v.parse().ok());
            let cur = s.sched["ModifyIndex"].as_u64().unwrap_or(0);
            if cas.is_some_and(|c| c != cur) {
                return Some(json_resp(
                    &json!({"Updated": false, "Index": index}),
                    index,
                    &[],
                ));
            }
            s.index += 1;
            body["ModifyIndex"] = json!(s.index);
            body["CreateIndex"] = s.sched["CreateIndex"].clone();
            s.sched = body;
            json_resp(
                &json!({"Updated": cas.is_some(), "Index": s.index}),
                s.index,
                &[],
            )
        }
        ("PUT", "/v1/jobs") | ("POST", "/v1/jobs") => {
            s.register_calls += 1;
            let n = s.register_calls;
            if cfg.register_429_at == Some(n) {
                return None;
            }
            if cfg.fail_register_every > 0 && n.is_multiple_of(cfg.fail_register_every) {
                return Some(text_err(500, "No cluster leader"));
            }
            let Ok(body) = serde_json::from_slice::<Value>(&req.body) else {
                return Some(text_err(400, "JSON decode error"));
            };
            let job = body["Job"].clone();
            let Some(id) = job["ID"].as_str().map(str::to_string) else {
                return Some(text_err(400, "Job ID hasn't been provided"));
            };
            if s.jobs.contains_key(&id) {
                return Some(json_resp(
                    &json!({"EvalID":"","EvalCreateIndex":0,"JobModifyIndex":index}),
                    index,
                    &[],
                ));
            }
            s.registered_ok += 1;
            let mut job = job;
            job["SubmitTime"] = json!(now_ns());
            s.jobs.insert(id.clone(), job.clone());
            if !job["ParameterizedJob"].is_null() {
                // Parameterized parents get no evaluation.
                s.index += 1;
                return Some(json_resp(
                    &json!({"EvalID":"","EvalCreateIndex":0,"JobModifyIndex":s.index}),
                    s.index,
                    &[],
                ));
            }
            s.seq += 1;
            let eval_id = uuid(s.seq, 0xe);
            let ev = json!({"ID": eval_id, "JobID": id, "Status": "pending", "TriggeredBy": "job-register", "CreateTime": now_ns()});
            s.evals.push(ev.clone());
            let j = job.clone();
            let idx = s.emit(
                vec![
                    json!({"Topic":"Job","Type":"JobRegistered","Key":id,"Payload":{"Job":j}}),
                    json!({"Topic":"Evaluation","Type":"JobRegistered","Key":eval_id,"Payload":{"Evaluation":ev}}),
                ],
                cfg.ring,
            );
            drop(s);
            notify.notify_waiters();
            spawn_lifecycle(
                st.clone(),
                notify.clone(),
                cfg.clone(),
                job,
                eval_id.clone(),
            );
            json_resp(
                &json!({"EvalID":eval_id,"EvalCreateIndex":idx,"JobModifyIndex":idx,"Warnings":"","Index":idx}),
                idx,
                &[],
            )
        }
        ("POST", path) if path.starts_with("/v1/job/") && path.ends_with("/dispatch") => {
            let parent = pct_decode(&path["/v1/job/".len()..path.len() - "/dispatch".len()]);
            let Some(pj) = s.jobs.get(&parent).cloned() else {
                return Some(text_err(404, "job not found"));
            };
            if pj["ParameterizedJob"].is_null() {
                return Some(text_err(400, "Specified job is not a parameterized job"));
            }
            s.seq += 1;
            let child = format!("{parent}/dispatch-{}-{:08x}", 1_730_920_906 + s.seq, s.seq);
            let mut job = pj.clone();
            job["ID"] = json!(child);
            job["ParameterizedJob"] = Value::Null;
            s.jobs.insert(child.clone(), job.clone());
            s.seq += 1;
            let eval_id = uuid(s.seq, 0xe);
            let ev = json!({"ID": eval_id, "JobID": child, "Status": "pending", "TriggeredBy": "job-register", "CreateTime": now_ns()});
            s.evals.push(ev.clone());
            let idx = s.emit(vec![json!({"Topic":"Evaluation","Type":"JobRegistered","Key":eval_id,"Payload":{"Evaluation":ev}})], cfg.ring);
            drop(s);
            notify.notify_waiters();
            spawn_lifecycle(
                st.clone(),
                notify.clone(),
                cfg.clone(),
                job,
                eval_id.clone(),
            );
            json_resp(
                &json!({"DispatchedJobID": child, "EvalID": eval_id, "EvalCreateIndex": idx, "JobCreateIndex": idx, "Index": idx}),
                idx,
                &[],
            )
        }
        ("GET", "/v1/jobs") => {
            let pre = req.q("prefix").unwrap_or("");
            let list: Vec<Value> = s
                .jobs
                .iter()
                .filter(|(k, _)| k.starts_with(pre))
                .map(|(k, j)| json!({"ID": k, "Type": j["Type"], "Status": "running"}))
                .collect();
            json_resp(&Value::Array(list), index, &[])
        }
        ("GET", path) if path.starts_with("/v1/job/") => {
            let id = pct_decode(&path["/v1/job/".len()..]);
            match s.jobs.get(&id) {
                Some(j) => json_resp(j, index, &[]),
                None => text_err(404, "job not found"),
            }
        }
        ("DELETE", path) if path.starts_with("/v1/job/") => {
            let id = pct_decode(&path["/v1/job/".len()..]);
            if s.jobs.remove(&id).is_none() {
                return Some(text_err(404, "job not found"));
            }
            s.deregistered.push(id);
            json_resp(&json!({"EvalID":"","Index":index}), index, &[])
        }
        ("GET", "/v1/allocations") => page(of_jobs(&s.allocs, req), req, index),
        ("GET", "/v1/evaluations") => page(of_jobs(&s.evals, req), req, index),
        ("GET", "/v1/nodes") => {
            let items: Vec<Value> = (0..3).map(|i| json!({"ID": format!("{:08x}-0000-4000-8000-00000000000{i}", 1), "Name": format!("n{i}"), "Datacenter": "dc1", "NodePool": "default", "Status": "ready"})).collect();
            page(items, req, index)
        }
        ("GET", "/v1/metrics") => {
            let secs = s.started.map_or(0.0, |t| t.elapsed().as_secs_f64());
            if req.q("format") == Some("prometheus") {
                if !cfg.prometheus {
                    return Some(text_err(415, "Prometheus is not enabled"));
                }
                let body = format!(
                    "# TYPE process_cpu_seconds_total counter\nprocess_cpu_seconds_total {:.3}\nprocess_resident_memory_bytes 123456789\n\
nomad_nomad_broker_total_ready{{host=\"m\"}} 2\nnomad_nomad_broker_total_unacked{{host=\"m\"}} 1\nnomad_nomad_blocked_evals_total_blocked{{host=\"m\"}} 0\n\
nomad_nomad_plan_queue_depth{{host=\"m\"}} 0\nnomad_raft_boltdb_logBatchSize_sum{{host=\"m\"}} {}\nnomad_raft_boltdb_storeLogs_count{{host=\"m\"}} {}\n",
                    secs * 2.0,
                    index * 1000,
                    index
                );
                resp(200, "text/plain; version=0.0.4", &body, &[])
            } else {
                json_resp(
                    &json!({"Timestamp":"now","Gauges":[{"Name":"nomad.nomad.broker.total_ready","Value":2,"Labels":{}},{"Name":"nomad.runtime.sys_bytes","Value":5.0e7,"Labels":{}}],"Counters":[],"Samples":[],"Points":[]}),
                    index,
                    &[],
                )
            }
        }
        ("POST", "/v1/jobs/parse") => {
            text_err(400, "Failed to parse job: not supported by the mock")
        }
        _ => text_err(404, ""),
    })
}
