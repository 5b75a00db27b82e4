//! `stampede emulate` over real loopback sockets: event sequence, index semantics, blocking queries,
//! pagination, scheduler config CAS, Nomad's error bodies, ACL, connection cap, faults, metrics, ground
//! truth, and conformance of response shapes with the OpenAPI spec.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use stampede::emulator::{self, EmulatorConfig, EmulatorHandle};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

fn config(speed: f64) -> EmulatorConfig {
    crate::common::small_emulator(speed)
}

async fn start(c: EmulatorConfig) -> (EmulatorHandle, Client) {
    let h = emulator::start(c).await.unwrap();
    let cl = Client::new(&h.url());
    (h, cl)
}

/// A tiny Nomad client for the tests.
struct Client {
    base: String,
    http: reqwest::Client,
    token: Option<String>,
}

struct Resp {
    status: u16,
    headers: reqwest::header::HeaderMap,
    text: String,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_str(&self.text).unwrap_or_else(|e| panic!("not JSON ({e}): {}", self.text))
    }
    fn header(&self, k: &str) -> Option<String> {
        self.headers
            .get(k)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    }
    fn index(&self) -> u64 {
        self.header("X-Nomad-Index").unwrap().parse().unwrap()
    }
}

impl Client {
    fn new(base: &str) -> Self {
        Client {
            base: format!("{base}/v1"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            token: None,
        }
    }
    async fn send(&self, rb: reqwest::RequestBuilder) -> Resp {
        let rb = match &self.token {
            Some(t) => rb.header("X-Nomad-Token", t),
            None => rb,
        };
        let r = rb.send().await.unwrap();
        let status = r.status().as_u16();
        let headers = r.headers().clone();
        Resp {
            status,
            headers,
            text: r.text().await.unwrap(),
        }
    }
    async fn get(&self, path: &str) -> Resp {
        self.send(self.http.get(format!("{}{path}", self.base)))
            .await
    }
    async fn post(&self, path: &str, body: &str) -> Resp {
        self.send(
            self.http
                .post(format!("{}{path}", self.base))
                .body(body.to_string()),
        )
        .await
    }
    async fn put(&self, path: &str, body: &str) -> Resp {
        self.send(
            self.http
                .put(format!("{}{path}", self.base))
                .body(body.to_string()),
        )
        .await
    }
    async fn delete(&self, path: &str) -> Resp {
        self.send(self.http.delete(format!("{}{path}", self.base)))
            .await
    }
    async fn register(&self, job: Value) -> Value {
        let r = self.post("/jobs", &json!({ "Job": job }).to_string()).await;
        assert_eq!(r.status, 200, "{}", r.text);
        r.json()
    }
    /// Opens an event stream and returns a line reader.
    async fn stream(&self, query: &str) -> Lines {
        let r = self
            .http
            .get(format!("{}/event/stream?{query}", self.base))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200);
        Lines {
            resp: r,
            buf: Vec::new(),
        }
    }
    /// Waits until every allocation of `job` is terminal (or the timeout passes).
    async fn wait_job_dead(&self, job: &str, timeout: Duration) {
        let t0 = Instant::now();
        loop {
            let r = self.get(&format!("/job/{job}")).await;
            if r.status == 200 && r.json()["Status"] == "dead" {
                return;
            }
            assert!(
                t0.elapsed() < timeout,
                "job {job} not dead after {timeout:?}: {}",
                r.text
            );
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

struct Lines {
    resp: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    /// Next NDJSON line, or None when the stream ended or nothing came within `timeout`.
    async fn next(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            if let Some(p) = self.buf.iter().position(|&b| b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=p).collect();
                return Some(serde_json::from_slice(&line).expect("stream line is JSON"));
            }
            match tokio::time::timeout_at(deadline, self.resp.chunk()).await {
                Ok(Ok(Some(c))) => self.buf.extend_from_slice(&c),
                _ => return None,
            }
        }
    }
    /// Next non-heartbeat batch.
    async fn batch(&mut self, timeout: Duration) -> Option<Value> {
        let deadline = Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let v = self.next(left).await?;
            if v.get("Index").is_some() {
                return Some(v);
            }
        }
    }
}

fn batch_job(id: &str, count: u32, secs: u32) -> Value {
    json!({"ID": id, "Name": id, "Type": "batch", "Priority": 50, "Datacenters": ["dc1", "dc2"],
        "TaskGroups": [{"Name": "g", "Count": count, "RestartPolicy": {"Attempts": 0, "Mode": "fail"},
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": [secs.to_string()]},
                "Resources": {"CPU": 100, "MemoryMB": 64}}]}]})
}

fn is_rfc3339(v: &Value) -> bool {
    v.as_str()
        .is_some_and(|s| chrono::DateTime::parse_from_rfc3339(s).is_ok())
}

fn rfc3339_ns(v: &Value) -> Option<u64> {
    v.as_str()
        .and_then(|s| chrono::DateTime::parse_from_rfc3339(s).ok())
        .and_then(|d| d.timestamp_nanos_opt())
        .map(|n| n as u64)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn batch_job_event_sequence() {
    let (h, c) = start(config(10.0)).await;
    let mut s = c
        .stream("topic=Job:seq1&topic=Evaluation:seq1&topic=Allocation:seq1")
        .await;
    assert_eq!(
        s.next(Duration::from_secs(5)).await,
        Some(json!({})),
        "first line is the heartbeat"
    );
    let reg = c.register(batch_job("seq1", 2, 2)).await;
    let eval_id = reg["EvalID"].as_str().unwrap().to_string();
    assert!(reg["EvalCreateIndex"].as_u64().unwrap() > 0);
    let mut seen: Vec<(u64, String, String, Value)> = Vec::new(); // (index, topic, type, payload obj)
    let mut complete = BTreeMap::new();
    let mut last_index = 0;
    while complete.len() < 2 {
        let b = s
            .batch(Duration::from_secs(20))
            .await
            .expect("stream ended before the job finished");
        let idx = b["Index"].as_u64().unwrap();
        assert!(idx > last_index, "batches arrive in index order");
        last_index = idx;
        for e in b["Events"].as_array().unwrap() {
            assert_eq!(e["Index"], b["Index"]);
            let topic = e["Topic"].as_str().unwrap().to_string();
            let ty = e["Type"].as_str().unwrap().to_string();
            let obj = e["Payload"][&topic].clone();
            if topic == "Allocation" {
                assert_eq!(e["FilterKeys"], json!(["seq1", ""]));
                assert_eq!(obj["Job"], Value::Null, "Job is null in alloc events");
                if obj["ClientStatus"] == "complete" {
                    complete.insert(obj["ID"].as_str().unwrap().to_string(), obj.clone());
                }
            }
            seen.push((idx, topic, ty, obj));
        }
    }
    // 1. JobRegistered on Job and Evaluation, same index, eval pending with job-register.
    let jr: Vec<_> = seen.iter().filter(|x| x.2 == "JobRegistered").collect();
    assert!(jr.iter().any(|x| x.1 == "Job" && x.3["ID"] == "seq1"));
    let ev = jr
        .iter()
        .find(|x| x.1 == "Evaluation")
        .expect("JobRegistered on Evaluation");
    assert_eq!(ev.3["ID"], eval_id.as_str());
    assert_eq!(ev.3["Status"], "pending");
    assert_eq!(ev.3["TriggeredBy"], "job-register");
    assert!(
        jr.iter().all(|x| x.0 == jr[0].0),
        "one raft index for the register"
    );
    // 2. PlanResult with pending allocs and CreateTime == ModifyTime.
    let placed: Vec<_> = seen
        .iter()
        .filter(|x| x.2 == "PlanResult" && x.1 == "Allocation")
        .collect();
    assert_eq!(placed.len(), 2, "{placed:?}");
    for p in &placed {
        assert_eq!(p.3["ClientStatus"], "pending");
        assert_eq!(p.3["DesiredStatus"], "run");
        assert!(p.3["CreateTime"].as_u64().unwrap() >= h.base_unix_ns);
        assert!(p.0 > jr[0].0);
    }
    // 3. EvaluationUpdated complete.
    assert!(seen.iter().any(|x| x.2 == "EvaluationUpdated"
        && x.1 == "Evaluation"
        && x.3["Status"] == "complete"
        && x.3["ID"] == eval_id.as_str()));
    // 5. AllocationUpdated complete with StartedAt/FinishedAt and task events.
    for a in complete.values() {
        let ts = &a["TaskStates"]["t"];
        assert_eq!(ts["State"], "dead");
        assert!(
            is_rfc3339(&ts["StartedAt"]) && is_rfc3339(&ts["FinishedAt"]),
            "{ts}"
        );
        let started = rfc3339_ns(&ts["StartedAt"]).unwrap();
        let finished = rfc3339_ns(&ts["FinishedAt"]).unwrap();
        assert!(
            finished >= started + 2_000_000_000 - 1_000,
            "sleep 2 ran ≥ 2 s: {started} {finished}"
        );
        assert!(started >= a["CreateTime"].as_u64().unwrap());
        let types: Vec<&str> = ts["Events"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["Type"].as_str().unwrap())
            .collect();
        assert!(
            types.contains(&"Started") && types.contains(&"Terminated"),
            "{types:?}"
        );
    }
    assert!(seen
        .iter()
        .any(|x| x.2 == "AllocationUpdated" && x.1 == "Allocation"));
    assert!(seen.iter().any(|x| x.1 == "Job" && x.3["Status"] == "dead"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_index_semantics() {
    let (h, c) = start(config(20.0)).await;
    c.register(batch_job("idx1", 2, 1)).await;
    c.wait_job_dead("idx1", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    // The whole ring from index=0.
    let mut s = c.stream("index=0").await;
    let mut idx = Vec::new();
    while let Some(b) = s.batch(Duration::from_millis(700)).await {
        idx.push(b["Index"].as_u64().unwrap());
    }
    assert!(
        idx.len() >= 4 && idx.len() <= 100,
        "ring holds ≤ 100 batches: {}",
        idx.len()
    );
    assert!(idx.windows(2).all(|w| w[0] < w[1]));
    let k = idx[idx.len() / 2];
    let newest = *idx.last().unwrap();
    // Inclusive index.
    let mut s = c.stream(&format!("index={k}")).await;
    assert_eq!(s.batch(Duration::from_secs(3)).await.unwrap()["Index"], k);
    // Reconnect with last + 1.
    let mut s = c.stream(&format!("index={}", k + 1)).await;
    let first = s.batch(Duration::from_secs(3)).await.unwrap()["Index"]
        .as_u64()
        .unwrap();
    assert!(first > k, "{first} > {k}");
    // Beyond the newest: the newest again.
    let mut s = c.stream(&format!("index={}", newest + 1000)).await;
    assert_eq!(
        s.batch(Duration::from_secs(3)).await.unwrap()["Index"],
        newest
    );
    // Bad queries.
    assert_eq!(
        c.get("/event/stream?topic=Job:a:b").await.text,
        "Invalid topic query"
    );
    assert_eq!(c.get("/event/stream?index=x").await.status, 400);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn heartbeats_and_dropped_streams() {
    let mut cfg = config(5.0);
    cfg.heartbeat = Duration::from_millis(150);
    cfg.faults.drop_streams_every = Some(Duration::from_millis(800));
    let (h, c) = start(cfg).await;
    let mut s = c.stream("topic=Job").await;
    let mut beats = 0;
    let t0 = Instant::now();
    while let Some(v) = s.next(Duration::from_secs(3)).await {
        if v == json!({}) {
            beats += 1;
        }
    }
    let dt = t0.elapsed();
    assert!(beats >= 3, "heartbeat every 150 ms: {beats}");
    assert!(
        dt >= Duration::from_millis(700) && dt < Duration::from_millis(2500),
        "dropped after ~800 ms: {dt:?}"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_queries() {
    let (h, c) = start(config(10.0)).await;
    let r = c.get("/allocations").await;
    let i0 = r.index();
    let c2 = Client::new(&h.url());
    let waiter = tokio::spawn(async move {
        let t0 = Instant::now();
        let r = c2.get(&format!("/allocations?index={i0}&wait=20s")).await;
        (
            r.status,
            r.index(),
            r.json().as_array().unwrap().len(),
            t0.elapsed(),
        )
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        !waiter.is_finished(),
        "the query blocks while nothing changes"
    );
    c.register(batch_job("blk1", 3, 1)).await;
    let (status, idx, n, dt) = waiter.await.unwrap();
    assert_eq!(status, 200);
    assert!(idx > i0 && n >= 1, "{idx} > {i0}, {n} allocs");
    assert!(dt < Duration::from_secs(10));
    // Timeout: 200 with the current index.
    c.wait_job_dead("blk1", Duration::from_secs(20)).await;
    let cur = c.get("/jobs").await.index();
    let t0 = Instant::now();
    let r = c.get(&format!("/jobs?index={cur}&wait=400ms")).await;
    assert_eq!((r.status, r.index()), (200, cur));
    assert!(t0.elapsed() >= Duration::from_millis(400) && t0.elapsed() < Duration::from_secs(3));
    assert_eq!(c.get("/allocations?index=abc").await.text, "Invalid index");
    assert_eq!(
        c.get("/allocations?index=1&wait=soon").await.text,
        "Invalid wait time"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pagination_tokens() {
    let (h, c) = start(config(10.0)).await;
    for j in ["pg-a", "pg-b", "pg-c"] {
        c.register(batch_job(j, 3, 30)).await;
    }
    let t0 = Instant::now();
    let all = loop {
        let v = c.get("/allocations?task_states=false").await.json();
        if v.as_array().unwrap().len() == 9 {
            break v;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "9 allocations placed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let ids: Vec<String> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["ID"].as_str().unwrap().to_string())
        .collect();
    assert!(all
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["TaskStates"].is_null()));
    let keys: Vec<(u64, String)> = all
        .as_array()
        .unwrap()
        .iter()
        .map(|a| {
            (
                a["CreateIndex"].as_u64().unwrap(),
                a["ID"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    let mut sorted = keys.clone();
    sorted.sort();
    assert_eq!(keys, sorted, "ordered by CreateIndex then ID");
    for reverse in [false, true] {
        let mut got = Vec::new();
        let mut token: Option<String> = None;
        let mut pages = 0;
        loop {
            let mut q = format!("/allocations?per_page=4&reverse={reverse}");
            if let Some(t) = &token {
                q.push_str(&format!("&next_token={t}"));
            }
            let r = c.get(&q).await;
            pages += 1;
            let page = r.json();
            assert!(page.as_array().unwrap().len() <= 4);
            got.extend(
                page.as_array()
                    .unwrap()
                    .iter()
                    .map(|a| a["ID"].as_str().unwrap().to_string()),
            );
            token = r.header("X-Nomad-NextToken");
            if let Some(t) = &token {
                let (n, id) = t.split_once('.').expect("token is CreateIndex.ID");
                assert!(n.parse::<u64>().is_ok() && ids.contains(&id.to_string()));
            } else {
                break;
            }
        }
        assert_eq!(pages, 3);
        let mut want = ids.clone();
        if reverse {
            want.reverse();
        }
        assert_eq!(got, want);
    }
    // Jobs: prefix and `Namespace.ID` tokens.
    let r = c.get("/jobs?prefix=pg-&per_page=2").await;
    assert_eq!(r.json().as_array().unwrap().len(), 2);
    assert_eq!(
        r.header("X-Nomad-NextToken").as_deref(),
        Some("default.pg-c")
    );
    let r = c
        .get("/jobs?prefix=pg-&per_page=2&next_token=default.pg-c")
        .await;
    assert_eq!(r.json()[0]["ID"], "pg-c");
    assert!(r.header("X-Nomad-NextToken").is_none());
    // Allocation prefix.
    let p = &ids[0][..4];
    let v = c.get(&format!("/allocations?prefix={p}")).await.json();
    assert!(v
        .as_array()
        .unwrap()
        .iter()
        .all(|a| a["ID"].as_str().unwrap().starts_with(p)));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scheduler_config_cas() {
    let (h, c) = start(config(10.0)).await;
    let g = c.get("/operator/scheduler/configuration").await.json();
    let cfg = &g["SchedulerConfig"];
    assert_eq!(cfg["SchedulerAlgorithm"], "binpack");
    assert_eq!(cfg["PreemptionConfig"]["SystemSchedulerEnabled"], true);
    let m = cfg["ModifyIndex"].as_u64().unwrap();
    let body =
        json!({"SchedulerAlgorithm": "spread", "MemoryOversubscriptionEnabled": true}).to_string();
    let r = c
        .put(
            &format!("/operator/scheduler/configuration?cas={}", m + 100),
            &body,
        )
        .await
        .json();
    assert_eq!(r["Updated"], false);
    let r = c
        .put(&format!("/operator/scheduler/configuration?cas={m}"), &body)
        .await
        .json();
    assert_eq!(r["Updated"], true);
    let g = c.get("/operator/scheduler/configuration").await.json();
    let cfg = &g["SchedulerConfig"];
    assert_eq!(cfg["SchedulerAlgorithm"], "spread");
    assert_eq!(cfg["MemoryOversubscriptionEnabled"], true);
    assert_eq!(
        cfg["PreemptionConfig"]["SystemSchedulerEnabled"], false,
        "whole-object replacement"
    );
    let m2 = cfg["ModifyIndex"].as_u64().unwrap();
    assert!(m2 > m);
    let r = c
        .put(&format!("/operator/scheduler/configuration?cas={m}"), &body)
        .await
        .json();
    assert_eq!(r["Updated"], false, "stale cas");
    let r = c
        .post(
            "/operator/scheduler/configuration",
            r#"{"SchedulerAlgorithm":"worst"}"#,
        )
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (400, "invalid scheduler algorithm: worst")
    );
    let r = c.put("/operator/scheduler/configuration", "{").await;
    assert_eq!(r.status, 400);
    assert!(
        r.text.starts_with("Error parsing scheduler config: "),
        "{}",
        r.text
    );
    // RejectJobRegistration makes registrations 403.
    c.put(
        "/operator/scheduler/configuration",
        r#"{"RejectJobRegistration":true}"#,
    )
    .await;
    let r = c
        .post("/jobs", &json!({"Job": batch_job("rej", 1, 1)}).to_string())
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (
            403,
            "Job registration, dispatch, and scale are disabled by the scheduler configuration"
        )
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn error_statuses_and_bodies() {
    let mut cfg = config(10.0);
    cfg.prometheus = false;
    let (h, c) = start(cfg).await;
    let r = c.get("/job/nope").await;
    assert_eq!((r.status, r.text.as_str()), (404, "job not found"));
    assert_eq!(
        r.header("content-type").as_deref(),
        Some("text/plain; charset=utf-8")
    );
    assert_eq!(c.delete("/job/nope").await.status, 404);
    assert_eq!(c.get("/allocation/nope").await.status, 404);
    let r = c.post("/jobs", "{}").await;
    assert_eq!((r.status, r.text.as_str()), (400, "Job must be specified"));
    let r = c.post("/jobs", "").await;
    assert_eq!((r.status, r.text.as_str()), (400, "Request body is empty"));
    assert_eq!(c.post("/jobs", "{not json").await.status, 400);
    let r = c.post("/jobs", r#"{"Job":{"Type":"batch"}}"#).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (400, "Job ID hasn't been provided")
    );
    let r = c.post("/jobs", r#"{"Job":{"ID":"x"}}"#).await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (500, "1 error occurred:\n\t* Missing job task groups\n\n")
    );
    let r = c
        .post(
            "/job/other",
            &json!({"Job": batch_job("x", 1, 1)}).to_string(),
        )
        .await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (400, "Job ID does not match name")
    );
    let r = c.delete("/jobs").await;
    assert_eq!((r.status, r.text.as_str()), (405, "Invalid method"));
    let r = c.get("/metrics?format=prometheus").await;
    assert_eq!(
        (r.status, r.text.as_str()),
        (415, "Prometheus is not enabled")
    );
    let r = c.post("/jobs/parse", r#"{"JobHCL":"job \"x\" {}"}"#).await;
    assert_eq!(r.status, 400);
    assert!(
        r.text
            .starts_with("Failed to parse job: HCL parsing is not supported"),
        "{}",
        r.text
    );
    assert_eq!(c.get("/no/such/path").await.status, 404);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn acl_token() {
    let mut cfg = config(10.0);
    cfg.token = Some("s3cret-token".into());
    let (h, mut c) = start(cfg).await;
    let r = c.get("/jobs").await;
    assert_eq!((r.status, r.text.as_str()), (403, "Permission denied"));
    assert_eq!(c.get("/event/stream").await.status, 403);
    assert_eq!(c.get("/metrics").await.status, 200, "metrics are open");
    assert_eq!(c.get("/status/leader").await.status, 200, "status is open");
    let bearer = c
        .send(
            c.http
                .get(format!("{}/jobs", c.base))
                .header("Authorization", "Bearer s3cret-token"),
        )
        .await;
    assert_eq!(bearer.status, 200);
    c.token = Some("wrong".into());
    assert_eq!(c.get("/nodes").await.status, 403);
    c.token = Some("s3cret-token".into());
    assert_eq!(c.get("/nodes").await.json().as_array().unwrap().len(), 10);
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_client_connection_cap() {
    let mut cfg = config(10.0);
    cfg.faults.max_conns_per_client = 2;
    let (h, _c) = start(cfg).await;
    let a = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let b = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    tokio::time::sleep(Duration::from_millis(100)).await;
    let mut third = tokio::net::TcpStream::connect(h.addr).await.unwrap();
    let _ = third
        .write_all(b"GET /v1/jobs HTTP/1.1\r\nHost: x\r\n\r\n")
        .await;
    let mut out = Vec::new();
    tokio::time::timeout(Duration::from_secs(5), third.read_to_end(&mut out))
        .await
        .unwrap()
        .unwrap();
    let text = String::from_utf8(out).unwrap();
    assert!(
        text.starts_with("HTTP/1.1 429 Too Many Requests\r\n"),
        "{text}"
    );
    assert!(text.ends_with("\r\n\r\nYour IP is issuing too many concurrent connections, please rate limit your calls\n"));
    drop((a, b));
    tokio::time::sleep(Duration::from_millis(100)).await;
    let c = Client::new(&h.url());
    assert_eq!(
        c.get("/status/leader").await.status,
        200,
        "served again once connections close"
    );
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn write_faults_and_leader_change() {
    let mut cfg = config(10.0);
    cfg.faults.write_error_share = 1.0;
    let (h, c) = start(cfg).await;
    let r = c
        .post("/jobs", &json!({"Job": batch_job("f1", 1, 1)}).to_string())
        .await;
    assert_eq!((r.status, r.text.as_str()), (500, "No cluster leader"));
    h.shutdown().await;

    let mut cfg = config(1.0);
    cfg.faults.leader_change_at = Some(Duration::from_millis(300));
    cfg.faults.latency = Duration::from_millis(5);
    let (h, c) = start(cfg).await;
    let before = c.get("/status/leader").await.json();
    let t0 = Instant::now();
    loop {
        let l = c.get("/status/leader").await.json();
        if l == "" {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(5),
            "the leader steps down"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let r = c
        .post("/jobs", &json!({"Job": batch_job("f2", 1, 1)}).to_string())
        .await;
    assert_eq!((r.status, r.text.as_str()), (500, "No cluster leader"));
    assert_eq!(c.get("/agent/health").await.status, 500);
    loop {
        let l = c.get("/status/leader").await.json();
        if l != "" {
            assert_ne!(l, before, "another server is elected");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "a leader is elected again"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    c.register(batch_job("f3", 1, 1)).await;
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ground_truth_matches_allocations_api() {
    let (h, c) = start(config(20.0)).await;
    c.register(batch_job("gt-a", 3, 1)).await;
    let mut svc = batch_job("gt-b", 2, 1);
    svc["Type"] = json!("service");
    svc["TaskGroups"][0]["Tasks"][0]["Config"] = json!({"image": "alpine:3.12"});
    svc["TaskGroups"][0]["Constraints"] =
        json!([{"LTarget": "${node.class}", "RTarget": "big", "Operand": "="}]);
    c.register(svc).await;
    c.wait_job_dead("gt-a", Duration::from_secs(20)).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let truth = c.get("/stampede/ground-truth").await.json();
    let allocs = c.get("/allocations").await.json();
    let allocs = allocs.as_array().unwrap();
    let truth = truth.as_array().unwrap();
    assert_eq!(truth.len(), 5);
    assert_eq!(allocs.len(), truth.len());
    let nodes = c.get("/nodes").await.json();
    let big: Vec<&str> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["NodeClass"] == "big")
        .map(|n| n["ID"].as_str().unwrap())
        .collect();
    for t in truth {
        let a = allocs
            .iter()
            .find(|a| a["ID"] == t["alloc_id"])
            .expect("every true alloc is in the API");
        assert_eq!(a["JobID"], t["job_id"]);
        assert_eq!(a["NodeID"], t["node_id"]);
        assert_eq!(a["TaskGroup"], t["task_group"]);
        assert_eq!(
            a["CreateTime"], t["placed_ns"],
            "CreateTime is the placement time"
        );
        let ts = &a["TaskStates"]["t"];
        assert_eq!(rfc3339_ns(&ts["StartedAt"]), t["running_ns"].as_u64());
        assert_eq!(rfc3339_ns(&ts["FinishedAt"]), t["done_ns"].as_u64());
        assert_eq!(a["ClientStatus"], t["status"]);
        assert!(t["submit_ns"].as_u64().unwrap() >= h.base_unix_ns);
        if t["job_id"] == "gt-b" {
            assert!(
                big.contains(&a["NodeID"].as_str().unwrap()),
                "node.class constraint honoured"
            );
            assert_eq!(
                a["ClientStatus"], "running",
                "a service without `sleep N` runs until stopped"
            );
            assert!(t["done_ns"].is_null() && ts["FinishedAt"].is_null());
        }
    }
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn metrics_status_agent() {
    let (h, c) = start(config(10.0)).await;
    let m = c.get("/metrics").await.json();
    let gauges = m["Gauges"].as_array().unwrap();
    let ready = gauges
        .iter()
        .find(|g| g["Name"] == "nomad.nomad.broker.total_ready")
        .expect("broker gauge");
    let leader_name = ready["Labels"]["host"].as_str().unwrap().to_string();
    assert!(m["Counters"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["Name"] == "nomad.raft.apply"));
    assert!(m["Samples"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["Name"] == "nomad.raft.commitTime"));
    let m2 = c.get("/metrics?server=server-2").await.json();
    assert_eq!(m2["Gauges"][0]["Labels"]["host"], "server-2");
    let m3 = c
        .send(
            c.http
                .get(format!("{}/metrics", c.base))
                .header("X-Stampede-Server", "server-3"),
        )
        .await
        .json();
    assert_eq!(m3["Gauges"][0]["Labels"]["host"], "server-3");
    assert_eq!(c.get("/metrics?server=nope").await.status, 400);
    let p = c.get("/metrics?format=prometheus").await;
    assert_eq!(p.status, 200);
    for name in [
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "nomad_nomad_broker_total_ready",
        "nomad_raft_apply",
        "nomad_raft_commitTime",
    ] {
        assert!(
            p.text.lines().any(|l| l.starts_with(name)),
            "{name} in prometheus text"
        );
    }
    let peers = c.get("/status/peers").await.json();
    assert_eq!(peers.as_array().unwrap().len(), 3);
    let leader = c.get("/status/leader").await.json();
    assert!(peers.as_array().unwrap().contains(&leader));
    let s = c.get("/agent/self").await.json();
    assert_eq!(s["config"]["Version"]["Version"], "1.9.0-stampede-emulator");
    assert_eq!(s["member"]["Tags"]["stampede_emulator"], "true");
    assert_eq!(s["stats"]["raft"]["state"], "Leader");
    assert_eq!(s["config"]["NodeName"], leader_name.as_str());
    assert!(
        s["stats"]["raft"]["commit_index"]
            .as_str()
            .unwrap()
            .parse::<u64>()
            .unwrap()
            >= 10
    );
    let rc = c.get("/operator/raft/configuration").await.json();
    let servers = rc["Servers"].as_array().unwrap();
    assert_eq!(servers.iter().filter(|s| s["Leader"] == true).count(), 1);
    assert_eq!(c.get("/agent/health").await.json()["server"]["ok"], true);
    let r = c.get("/jobs").await;
    assert_eq!(r.header("X-Nomad-KnownLeader").as_deref(), Some("true"));
    assert_eq!(r.header("X-Nomad-LastContact").as_deref(), Some("0"));
    h.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dispatch_and_deregister() {
    let (h, c) = start(config(10.0)).await;
    let mut p = batch_job("param", 1, 1);
    p["ParameterizedJob"] = json!({"Payload": "optional", "MetaRequired": [], "MetaOptional": []});
    let reg = c.register(p).await;
    assert_eq!(reg["EvalID"], "", "parameterized parents get no eval");
    let r = c.post("/job/param/dispatch", r#"{"Meta":{"k":"v"}}"#).await;
    assert_eq!(r.status, 200, "{}", r.text);
    let d = r.json();
    let child = d["DispatchedJobID"].as_str().unwrap().to_string();
    assert!(child.starts_with("param/dispatch-"), "{child}");
    assert!(!d["EvalID"].as_str().unwrap().is_empty());
    let r = c.post("/job/param/dispatch", r#"{"JobID":"other"}"#).await;
    assert_eq!((r.status, r.text.as_str()), (400, "Job ID does not match"));
    c.wait_job_dead(&child.replace('/', "%2F"), Duration::from_secs(20))
        .await;
    // Nomad's router also takes the raw `/` in the path.
    assert_eq!(
        c.get(&format!("/job/{child}/summary")).await.json()["JobID"],
        child.as_str()
    );
    assert_eq!(
        c.get(&format!("/job/{child}")).await.json()["ParentID"],
        "param"
    );
    c.register(batch_job("gone", 1, 100)).await;
    let r = c.delete("/job/gone?purge=true").await;
    assert_eq!(r.status, 200, "{}", r.text);
    let t0 = Instant::now();
    while c.get("/job/gone").await.status != 404 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "purged job disappears"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    h.shutdown().await;
}

// ---------------------------------------------------------------- OpenAPI conformance

/// Properties the emulator emits that the spec (generated from Nomad v1.4.0-beta.1) lacks, and why.
const ALLOWED_EXTRA: &[(&str, &str)] = &[
    ("Index", "QueryMeta: the wire says Index, the spec's Go api.QueryMeta says LastIndex (nomad-api.md §9)"),
    ("LastContact", "QueryMeta: the wire says LastContact, the spec says RequestTime"),
    ("KnownLeader", "QueryMeta on the wire"),
    ("NextToken", "QueryMeta on the wire"),
    ("NodeLimitForFeasibilityChecks", "new in Nomad 2.x, absent from the spec"),
    ("NodePool", "node pools are post-1.4 (1.6)"),
    ("NextAllocation", "AllocationListStub.NextAllocation is in Go's structs.AllocListStub (nomad-api.md §4) but missing from the spec's stub"),
    ("Unknown", "JobSummary's Unknown count is post-1.4 (disconnected clients, 1.3+ api but not in the spec)"),
];

struct Spec(Value);

impl Spec {
    fn load() -> Spec {
        let p = PathBuf::from("/work/shared/reference/nomad-openapi.yaml");
        let p = if p.exists() {
            p
        } else {
            PathBuf::from(env!("CARGO_MANIFEST_DIR"))
                .join("../../shared/reference/nomad-openapi.yaml")
        };
        let text =
            std::fs::read_to_string(&p).unwrap_or_else(|e| panic!("reading {}: {e}", p.display()));
        Spec(serde_yaml::from_str(&text).unwrap())
    }
    fn resolve<'a>(&'a self, mut v: &'a Value) -> &'a Value {
        while let Some(r) = v.get("$ref").and_then(Value::as_str) {
            v = self
                .0
                .pointer(&r[1..].replace("~1", "/"))
                .unwrap_or_else(|| panic!("dangling $ref {r}"));
        }
        v
    }
    /// Schema of `GET path`'s 200 response.
    fn response(&self, path: &str) -> &Value {
        let op = &self.0["paths"][path]["get"];
        let r = self.resolve(&op["responses"]["200"]);
        self.resolve(&r["content"]["application/json"]["schema"])
    }
    fn schema(&self, name: &str) -> &Value {
        &self.0["components"]["schemas"][name]
    }
    fn check(&self, v: &Value, schema: &Value, at: &str, errs: &mut Vec<String>) {
        let s = self.resolve(schema);
        if v.is_null() {
            return;
        }
        let ty = s.get("type").and_then(Value::as_str);
        let ok = match (ty, v) {
            (None, _) => true,
            (Some("integer"), Value::Number(n)) => n.is_u64() || n.is_i64(),
            (Some("number"), Value::Number(_)) => true,
            (Some("string"), Value::String(_)) => true,
            (Some("boolean"), Value::Bool(_)) => true,
            (Some("array"), Value::Array(_)) => true,
            (Some("object"), Value::Object(_)) => true,
            _ => false,
        };
        if !ok {
            errs.push(format!("{at}: {v} is not of type {ty:?}"));
            return;
        }
        match v {
            Value::Array(items) => {
                if let Some(is) = s.get("items") {
                    for (i, x) in items.iter().enumerate().take(3) {
                        self.check(x, is, &format!("{at}[{i}]"), errs);
                    }
                }
            }
            Value::Object(m) => {
                if let Some(props) = s.get("properties").and_then(Value::as_object) {
                    for (k, x) in m {
                        match props.get(k) {
                            Some(ps) => self.check(x, ps, &format!("{at}.{k}"), errs),
                            None if ALLOWED_EXTRA.iter().any(|(a, _)| a == k) => {}
                            None => errs.push(format!("{at}.{k}: not in the spec")),
                        }
                    }
                } else if let Some(ap) = s.get("additionalProperties").filter(|a| a.is_object()) {
                    for (k, x) in m.iter().take(3) {
                        self.check(x, ap, &format!("{at}.{k}"), errs);
                    }
                }
            }
            _ => {}
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_conformance() {
    let spec = Spec::load();
    let (h, c) = start(config(20.0)).await;
    c.register(batch_job("oa", 2, 1)).await;
    c.wait_job_dead("oa", Duration::from_secs(20)).await;
    let alloc_id = c.get("/allocations").await.json()[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let node_id = c.get("/nodes").await.json()[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let eval_id = c.get("/evaluations").await.json()[0]["ID"]
        .as_str()
        .unwrap()
        .to_string();
    let cases: Vec<(String, &str)> = vec![
        ("/jobs".into(), "/jobs"),
        ("/job/oa".into(), "/job/{jobName}"),
        ("/job/oa/summary".into(), "/job/{jobName}/summary"),
        ("/job/oa/allocations".into(), "/job/{jobName}/allocations"),
        ("/job/oa/evaluations".into(), "/job/{jobName}/evaluations"),
        ("/allocations".into(), "/allocations"),
        (format!("/allocation/{alloc_id}"), "/allocation/{allocID}"),
        ("/nodes".into(), "/nodes"),
        (format!("/node/{node_id}"), "/node/{nodeId}"),
        ("/evaluations".into(), "/evaluations"),
        (format!("/evaluation/{eval_id}"), "/evaluation/{evalID}"),
        (
            "/operator/scheduler/configuration".into(),
            "/operator/scheduler/configuration",
        ),
        ("/status/leader".into(), "/status/leader"),
        ("/status/peers".into(), "/status/peers"),
    ];
    let mut errs = Vec::new();
    for (url, path) in &cases {
        let v = c.get(url).await.json();
        let schema = spec.response(path);
        assert!(!schema.is_null(), "spec has GET {path}");
        spec.check(&v, schema, url, &mut errs);
    }
    // The register response, and an allocation event's payload against the Allocation schema.
    let reg = c.register(batch_job("oa2", 1, 1)).await;
    spec.check(
        &reg,
        spec.schema("JobRegisterResponse"),
        "POST /jobs",
        &mut errs,
    );
    let mut s = c.stream("topic=Allocation:oa2").await;
    let b = s.batch(Duration::from_secs(10)).await.unwrap();
    spec.check(
        &b["Events"][0]["Payload"]["Allocation"],
        spec.schema("Allocation"),
        "event Allocation",
        &mut errs,
    );
    assert!(
        errs.is_empty(),
        "emitted properties not in the OpenAPI spec:\n{}",
        errs.join("\n")
    );
    h.shutdown().await;
}

fn service_job(id: &str, count: u32) -> Value {
    json!({"ID": id, "Name": id, "Type": "service", "Priority": 50, "Datacenters": ["dc1", "dc2"],
        "TaskGroups": [{"Name": "g", "Count": count,
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["3600"]},
                "Resources": {"CPU": 100, "MemoryMB": 64}}]}]})
}

async fn alloc_job_ids(c: &Client) -> Vec<String> {
    let v = c.get("/allocations?task_states=false").await.json();
    v.as_array()
        .unwrap()
        .iter()
        .map(|a| a["JobID"].as_str().unwrap().to_string())
        .collect()
}

/// Issue 13 finding 8: `PUT /v1/system/gc` is Nomad's forced GC (`forceGC` in nomad/core_sched.go): dead batch
/// jobs go with their evaluations and allocations; a running service job and its allocations stay.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_gc_reaps_dead_jobs_and_keeps_live_ones() {
    let (h, c) = start(config(20.0)).await;
    c.register(batch_job("gc-batch", 3, 1)).await;
    c.register(service_job("gc-svc", 2)).await;
    c.wait_job_dead("gc-batch", Duration::from_secs(20)).await;
    let t0 = Instant::now();
    while alloc_job_ids(&c)
        .await
        .iter()
        .filter(|j| *j == "gc-svc")
        .count()
        < 2
    {
        assert!(t0.elapsed() < Duration::from_secs(10), "service placed");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let evals_before = c.get("/job/gc-batch/evaluations").await.json();
    assert!(!evals_before.as_array().unwrap().is_empty());
    let eval_id = evals_before[0]["ID"].as_str().unwrap().to_string();
    // Nomad: PUT only.
    assert_eq!(c.get("/system/gc").await.status, 405);
    let r = c.put("/system/gc", "").await;
    assert_eq!(r.status, 200, "{}", r.text);
    assert_eq!(r.text, "", "Nomad answers an empty body");
    assert_eq!(r.header("X-Stampede-GC-Jobs").as_deref(), Some("1"));
    assert_eq!(r.header("X-Stampede-GC-Allocs").as_deref(), Some("3"));
    assert_eq!(c.get("/job/gc-batch").await.status, 404);
    assert_eq!(c.get(&format!("/evaluation/{eval_id}")).await.status, 404);
    let jobs = alloc_job_ids(&c).await;
    assert!(!jobs.iter().any(|j| j == "gc-batch"), "{jobs:?}");
    assert_eq!(jobs.iter().filter(|j| *j == "gc-svc").count(), 2);
    assert_eq!(c.get("/job/gc-svc").await.status, 200);
    let list = c.get("/jobs").await.json();
    assert_eq!(list.as_array().unwrap().len(), 1, "{list}");
    // A second forced GC finds nothing more.
    let r = c.put("/system/gc", "").await;
    assert_eq!(r.header("X-Stampede-GC-Jobs").as_deref(), Some("0"));
    assert_eq!(r.header("X-Stampede-GC-Allocs").as_deref(), Some("0"));
    // A stopped (not purged) service job is GC-able once its allocations are terminal.
    assert_eq!(c.delete("/job/gc-svc").await.status, 200);
    let t0 = Instant::now();
    loop {
        let r = c.put("/system/gc", "").await;
        if r.header("X-Stampede-GC-Jobs").as_deref() == Some("1") {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "stopped service job collected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(c.get("/job/gc-svc").await.status, 404);
    assert!(alloc_job_ids(&c).await.is_empty());
    // A purged job's allocations go with the next GC, and the job never comes back.
    c.register(service_job("gc-purged", 2)).await;
    let t0 = Instant::now();
    while alloc_job_ids(&c).await.len() < 2 {
        assert!(
            t0.elapsed() < Duration::from_secs(10),
            "purge target placed"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(c.delete("/job/gc-purged?purge=true").await.status, 200);
    let t0 = Instant::now();
    loop {
        c.put("/system/gc", "").await;
        if alloc_job_ids(&c).await.is_empty() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "purged job's allocations collected"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(c.get("/job/gc-purged").await.status, 404);
    h.shutdown().await;
}

/// Issue 13 finding 8: the periodic GC (`schedulePeriodic` → `jobGC`/`evalGC`) collects a dead batch job once
/// it is older than `job_gc_threshold` in simulated time, and not before.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn periodic_gc_follows_the_job_threshold() {
    let mut cfg = config(200.0);
    cfg.gc = stampede::emulator::gc::GcConfig {
        interval: Duration::from_secs(60),
        job_threshold: Duration::from_secs(20 * 60),
        eval_threshold: Duration::from_secs(20 * 60),
        batch_eval_threshold: Duration::from_secs(20 * 60),
    };
    let (h, c) = start(cfg).await;
    c.register(batch_job("pgc-a", 2, 1)).await;
    let t0 = Instant::now();
    c.wait_job_dead("pgc-a", Duration::from_secs(20)).await;
    // Keep Raft writes coming so the time table has entries past the job (as a busy cluster would).
    let mut n = 0;
    let gone = loop {
        n += 1;
        c.register(service_job(&format!("pgc-tick-{n}"), 1)).await;
        let st = c.get("/job/pgc-a").await.status;
        // 200 × wall = simulated time; 20 min of threshold + 5 min of time-table granularity + 1 min
        // interval ≈ 7.8 s of wall time.
        if st == 404 {
            break t0.elapsed();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(40),
            "dead batch job never collected"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    assert!(
        gone >= Duration::from_secs(5),
        "collected after {gone:?}: before job_gc_threshold (20 simulated min = 6 s here)"
    );
    assert!(!alloc_job_ids(&c).await.iter().any(|j| j == "pgc-a"));
    // Running service jobs are never collected.
    assert_eq!(c.get("/job/pgc-tick-1").await.status, 200);
    h.shutdown().await;
}

/// Issue 11 §7: a run against the emulator records the control plane from its Prometheus counters, named
/// as Nomad names them: the run's 10 jobs of 2 give at least 10 plans and scheduler passes (a few more for
/// re-plans and the allocation-update evaluations of batch jobs, not hundreds).
#[test]
fn run_records_control_plane_from_prometheus() {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let h = rt
        .block_on(emulator::start(crate::common::small_emulator(20.0)))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let out = dir.path().join("cp");
    let url = format!("http://{}", h.addr);
    let code = crate::common::cli(&crate::common::argv!(
        "run --addr",
        &url,
        "--jobs 10 --count 2 --cpu 20 --memory 16 --duration 1s --rate 20 --run-id cp",
        "--out",
        &out,
        "--no-report --quiet --timeout 120s"
    ))
    .unwrap();
    assert_eq!(code, 0);
    rt.block_on(h.shutdown());
    let rec = crate::common::read_record(&out);
    // The measured block is valid against the committed schema (optional fields absent).
    let schema: Value = serde_json::from_str(
        &std::fs::read_to_string(
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../reports/schema/run.schema.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let validator = jsonschema::validator_for(&schema).expect("schema compiles");
    let export: Value = serde_json::from_slice(
        &stampede::report::render(stampede::report::ExportFormat::Json, &rec).unwrap(),
    )
    .unwrap();
    let errs: Vec<String> = validator
        .iter_errors(&export)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errs.is_empty(), "schema violations: {errs:#?}");
    assert!(export.to_string().contains("\"source\":\"prometheus\""));
    let cp = rec.meta.control_plane.expect("control_plane");
    assert_eq!(cp.source, "prometheus");
    assert!((10..=30).contains(&cp.plans_submitted), "{cp:?}");
    assert!((10..=40).contains(&cp.evals_processed), "{cp:?}");
    assert!((20..=2_000).contains(&cp.raft_entries), "{cp:?}");
    assert!(cp.raft_leader_writes >= 1 && cp.raft_leader_writes <= cp.raft_entries);
    assert_eq!(cp.evals_by_trigger.get("job-register"), Some(&10), "{cp:?}");
    assert_eq!(cp.log_store, "boltdb");
    assert!(cp.raft_leader_fsyncs.is_some_and(|f| f >= 1), "{cp:?}");
    assert!(
        cp.servers.iter().map(|s| s.workers_s).sum::<f64>() > 0.0,
        "{cp:?}"
    );
    assert!(
        cp.servers.iter().map(|s| s.fsm_s).sum::<f64>() > 0.0,
        "{cp:?}"
    );
}

/// Issue 11 §6: a job's `Constraints`, `Affinities`, `Networks[0].ReservedPorts` and `EphemeralDisk` are
/// read and scheduled as Nomad does: a `${node.class}` constraint keeps every allocation on that class, a
/// static port never doubles on a node (the rest stay queued, the eval blocked with the group in
/// `FailedTGAllocs`), and a constraint no node meets places nothing. Bad ones are refused with Nomad's
/// status and a message naming the field.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn constraints_and_reserved_ports_shape_placement() {
    let (h, c) = start(config(20.0)).await;
    let ported = json!({"ID": "web", "Name": "web", "Type": "service", "Priority": 50,
        "Datacenters": ["dc1", "dc2"],
        "Constraints": [{"LTarget": "${attr.kernel.name}", "RTarget": "linux", "Operand": "="}],
        "TaskGroups": [{"Name": "g", "Count": 6,
            "Constraints": [{"LTarget": "${node.class}", "RTarget": "big", "Operand": "="}],
            "Affinities": [{"LTarget": "${attr.cpu.numcores}", "RTarget": "8", "Operand": ">=", "Weight": 50}],
            "Networks": [{"Mode": "host", "ReservedPorts": [{"Label": "http", "Value": 8080}],
                          "DynamicPorts": [{"Label": "admin"}]}],
            "EphemeralDisk": {"SizeMB": 500},
            "Tasks": [{"Name": "t", "Driver": "raw_exec",
                "Config": {"command": "/bin/sleep", "args": ["3600"]},
                "Resources": {"CPU": 100, "MemoryMB": 64}}]}]});
    let reg = c.register(ported).await;
    let eval_id = reg["EvalID"].as_str().unwrap().to_string();
    // The scheduler places what fits, then blocks the rest.
    let t0 = Instant::now();
    let eval = loop {
        let e = c.get(&format!("/evaluation/{eval_id}")).await.json();
        if e["Status"] == "complete" {
            break e;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "eval never completed: {e}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(
        eval["FailedTGAllocs"].get("g").is_some(),
        "the group is reported failed: {eval}"
    );
    assert!(
        !eval["BlockedEval"].as_str().unwrap_or("").is_empty(),
        "{eval}"
    );
    let allocs = c.get("/job/web/allocations").await.json();
    let allocs = allocs.as_array().unwrap();
    assert_eq!(allocs.len(), 4, "4 nodes of class big, port 8080 once each");
    let mut nodes: Vec<&str> = allocs
        .iter()
        .map(|a| a["NodeID"].as_str().unwrap())
        .collect();
    nodes.sort_unstable();
    nodes.dedup();
    assert_eq!(nodes.len(), 4, "no node holds 8080 twice");
    for n in nodes {
        let node = c.get(&format!("/node/{n}")).await.json();
        assert_eq!(node["NodeClass"], "big", "{node}");
        assert_eq!(node["Attributes"]["kernel.name"], "linux");
        assert_eq!(node["Attributes"]["cpu.arch"], "amd64");
        assert_eq!(node["NodePool"], "default");
    }
    // A constraint no node meets: nothing placed, the eval blocked.
    let mut win = service_job("win", 2);
    win["Constraints"] =
        json!([{"LTarget": "${attr.kernel.name}", "RTarget": "windows", "Operand": "="}]);
    let reg = c.register(win).await;
    let eval_id = reg["EvalID"].as_str().unwrap().to_string();
    let t0 = Instant::now();
    loop {
        let e = c.get(&format!("/evaluation/{eval_id}")).await.json();
        if e["Status"] == "complete" {
            assert!(e["FailedTGAllocs"].get("g").is_some(), "{e}");
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "eval never completed: {e}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let allocs = c.get("/job/win/allocations").await.json();
    assert_eq!(allocs.as_array().unwrap().len(), 0);
    // Bad constraints are refused, naming the field.
    for (c_json, want) in [
        (
            json!({"LTarget": "${attr.x}", "RTarget": "y", "Operand": "like"}),
            "unknown operator `like`",
        ),
        (
            json!({"LTarget": "${attr.x}", "RTarget": "(", "Operand": "regexp"}),
            "regexp `(`",
        ),
    ] {
        let mut j = service_job("bad", 1);
        j["TaskGroups"][0]["Constraints"] = json!([c_json]);
        let r = c.post("/jobs", &json!({ "Job": j }).to_string()).await;
        assert_eq!(r.status, 500, "{}", r.text);
        assert!(
            r.text.contains("Job.TaskGroups.Constraints[0]") && r.text.contains(want),
            "{}",
            r.text
        );
    }
    h.shutdown().await;
}
/// Issue 11 §6: a system job gets one allocation on every node (`scheduler/scheduler_system.go`); a
/// periodic job launches children `<parent>/periodic-<unix>` that `GET /v1/jobs` lists with their
/// `ParentID` (`nomad/periodic.go:deriveJob`); bad ones get Nomad's validation errors.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn system_and_periodic_jobs() {
    let (h, c) = start(config(20.0)).await;
    let nodes = c.get("/nodes").await.json();
    let node_count = nodes.as_array().unwrap().len();
    assert_eq!(node_count, 10);
    let mut agent = service_job("agent", 1);
    agent["Type"] = json!("system");
    c.register(agent).await;
    let t0 = Instant::now();
    let per_node = loop {
        let v = c.get("/job/agent/allocations").await.json();
        let mut per_node: BTreeMap<String, usize> = BTreeMap::new();
        for a in v.as_array().unwrap() {
            *per_node
                .entry(a["NodeID"].as_str().unwrap().to_string())
                .or_default() += 1;
        }
        if per_node.len() == node_count {
            break per_node;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "one alloc per node: {per_node:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    assert!(per_node.values().all(|&n| n == 1), "{per_node:?}");
    let job = c.get("/job/agent").await.json();
    assert_eq!(job["Type"], "system");
    // A system job's constraints filter its nodes (scheduler_system.go's feasibility stack): one
    // allocation on each `big` node and none elsewhere.
    let big: std::collections::BTreeSet<String> = nodes
        .as_array()
        .unwrap()
        .iter()
        .filter(|n| n["NodeClass"] == "big")
        .map(|n| n["ID"].as_str().unwrap().to_string())
        .collect();
    assert!(!big.is_empty() && big.len() < node_count, "{nodes}");
    let mut pinned = service_job("big-agent", 1);
    pinned["Type"] = json!("system");
    pinned["Constraints"] = json!([{"LTarget": "${node.class}", "RTarget": "big", "Operand": "="}]);
    c.register(pinned).await;
    let t0 = Instant::now();
    loop {
        let v = c.get("/job/big-agent/allocations").await.json();
        let on: Vec<String> = v
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a["NodeID"].as_str().unwrap().to_string())
            .collect();
        assert!(
            on.iter().all(|n| big.contains(n)),
            "{on:?} not all on {big:?}"
        );
        if on.len() == big.len() {
            break;
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "one alloc per big node: {on:?}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // A periodic batch job: every minute of simulated time (3 s of wall time at speed 20).
    let mut nightly = batch_job("nightly", 1, 1);
    nightly["Periodic"] = json!({"Spec": "* * * * *", "SpecType": "cron", "ProhibitOverlap": true});
    let r = c.register(nightly).await;
    assert_eq!(r["EvalID"], "", "a periodic parent gets no evaluation: {r}");
    let t0 = Instant::now();
    let child = loop {
        let list = c.get("/jobs").await.json();
        if let Some(j) = list
            .as_array()
            .unwrap()
            .iter()
            .find(|j| j["ParentID"] == "nightly")
        {
            break j.clone();
        }
        assert!(
            t0.elapsed() < Duration::from_secs(20),
            "a child launched: {list}"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let id = child["ID"].as_str().unwrap();
    let unix: u64 = id
        .strip_prefix("nightly/periodic-")
        .unwrap_or_else(|| panic!("{id}"))
        .parse()
        .unwrap();
    assert_eq!(unix % 60, 0, "launched on a whole minute: {id}");
    assert_eq!(child["Periodic"], false);
    let parent = c.get("/jobs?prefix=nightly").await.json();
    assert!(parent
        .as_array()
        .unwrap()
        .iter()
        .any(|j| j["ID"] == "nightly" && j["Periodic"] == true));
    let full = c.get(&format!("/job/{}", urlencode(id))).await.json();
    assert_eq!(full["ParentID"], "nightly");
    assert_eq!(full["Dispatched"], false);
    assert!(full["Periodic"].is_null(), "{}", full["Periodic"]);
    // Nomad's validation errors.
    for (edit, want) in [
        (
            json!({"Type": "system", "Count": 3}),
            "Count cannot exceed 1 with system scheduler",
        ),
        (
            json!({"Type": "service", "Periodic": {"Spec": "@daily"}}),
            "Periodic can only be used with",
        ),
        (
            json!({"Type": "batch", "Periodic": {"Spec": "61 * * * *"}}),
            "Invalid cron spec",
        ),
    ] {
        let mut j = batch_job("bad", 1, 1);
        j["Type"] = edit["Type"].clone();
        if let Some(n) = edit.get("Count") {
            j["TaskGroups"][0]["Count"] = n.clone();
        }
        if let Some(p) = edit.get("Periodic") {
            j["Periodic"] = p.clone();
        }
        let r = c.post("/jobs", &json!({ "Job": j }).to_string()).await;
        assert_eq!(r.status, 500, "{}", r.text);
        assert!(r.text.contains(want), "{}", r.text);
    }
    h.shutdown().await;
}

fn urlencode(s: &str) -> String {
    s.replace('/', "%2F")
}
