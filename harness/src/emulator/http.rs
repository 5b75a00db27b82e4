//! The axum router: Nomad's HTTP API over the emulator's state store.
//!
//! Errors are plain text with Nomad's status codes and bodies; every response carries `X-Nomad-Index`,
//! `X-Nomad-LastContact` and `X-Nomad-KnownLeader`. ACL: with a token configured, every endpoint except
//! `/v1/metrics` and `/v1/status/*` needs `X-Nomad-Token` (or `Authorization: Bearer`) equal to it.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Bytes;
use axum::extract::{Path, Query, Request, State};
use axum::http::Method;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{any, get, post, put};
use axum::Router;
use rand::Rng;
use serde_json::{json, Map, Value};
use stampede_sim::api::RequestOutcome;
use stampede_sim::scenario::Algorithm;
use tokio::sync::oneshot;

use super::driver::Command;
use super::state::{Store, TableIndexes};
use super::{jobspec, metrics, render, stream, ApiError, Shared};

type Sh = State<Arc<Shared>>;
type Params = Query<Vec<(String, String)>>;

/// An HTTP error: Nomad's status and plain-text body.
#[derive(Debug)]
pub struct HttpError(pub u16, pub String);

impl From<ApiError> for HttpError {
    fn from((s, m): ApiError) -> Self {
        HttpError(s, m)
    }
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let code = StatusCode::from_u16(self.0).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        let mut r = (code, self.1).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        r
    }
}

type HResult = Result<Response, HttpError>;

fn e400(m: impl Into<String>) -> HttpError {
    HttpError(400, m.into())
}

fn param<'a>(q: &'a [(String, String)], k: &str) -> Option<&'a str> {
    q.iter().find(|(a, _)| a == k).map(|(_, v)| v.as_str())
}

fn flag(q: &[(String, String)], k: &str) -> bool {
    matches!(param(q, k), Some("") | Some("true") | Some("1"))
}

/// A JSON response with `X-Nomad-Index`.
fn json_resp(v: &Value, index: u64, q: &[(String, String)]) -> Response {
    let body = if param(q, "pretty").is_some() {
        serde_json::to_string_pretty(v)
    } else {
        serde_json::to_string(v)
    }
    .unwrap_or_default();
    let mut r = (StatusCode::OK, body).into_response();
    let h = r.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    h.insert("X-Nomad-Index", HeaderValue::from(index.max(1)));
    r
}

/// The default scheduler configuration (Nomad's, with the scenario's algorithm).
pub fn default_sched_config(algorithm: &str) -> Map<String, Value> {
    match json!({"SchedulerAlgorithm": algorithm, "MemoryOversubscriptionEnabled": false,
        "RejectJobRegistration": false, "PauseEvalBroker": false, "NodeLimitForFeasibilityChecks": 100,
        "PreemptionConfig": {"SystemSchedulerEnabled": true, "SysBatchSchedulerEnabled": false,
                             "BatchSchedulerEnabled": false, "ServiceSchedulerEnabled": false}})
    {
        Value::Object(m) => m,
        _ => Map::new(),
    }
}

/// Builds the router.
pub fn router(sh: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/v1/jobs",
            get(jobs_list).post(jobs_register).put(jobs_register),
        )
        .route("/v1/jobs/parse", post(jobs_parse))
        .route("/v1/job/{*rest}", any(job_any))
        .route("/v1/allocations", get(allocs_list))
        .route("/v1/allocation/{id}", get(alloc_read))
        .route("/v1/nodes", get(nodes_list))
        .route("/v1/node/{id}", get(node_read))
        .route("/v1/node/{id}/allocations", get(node_allocs))
        .route("/v1/evaluations", get(evals_list))
        .route("/v1/evaluation/{id}", get(eval_read))
        .route("/v1/event/stream", get(event_stream))
        .route(
            "/v1/operator/scheduler/configuration",
            get(sched_get).put(sched_put).post(sched_put),
        )
        .route("/v1/operator/raft/configuration", get(raft_config))
        .route("/v1/metrics", get(metrics_get))
        .route("/v1/status/leader", get(status_leader))
        .route("/v1/status/peers", get(status_peers))
        .route("/v1/agent/self", get(agent_self))
        .route("/v1/agent/health", get(agent_health))
        .route("/v1/stampede/ground-truth", get(ground_truth))
        .route("/v1/system/gc", put(system_gc))
        .layer(middleware::from_fn_with_state(sh.clone(), common))
        .with_state(sh)
}

fn token_of(h: &HeaderMap) -> Option<&str> {
    if let Some(t) = h.get("X-Nomad-Token").and_then(|v| v.to_str().ok()) {
        return Some(t);
    }
    h.get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.strip_prefix("Bearer "))
}

/// Middleware: injected latency, ACL, 405 body, common headers.
async fn common(State(sh): Sh, req: Request, next: Next) -> Response {
    let lat = sh.cfg.faults.latency;
    if !lat.is_zero() {
        tokio::time::sleep(lat).await;
    }
    let path = req.uri().path();
    if let Some(tok) = &sh.cfg.token {
        let open = path == "/v1/metrics" || path.starts_with("/v1/status/");
        if !open && token_of(req.headers()) != Some(tok.as_str()) {
            return HttpError(403, "Permission denied".into()).into_response();
        }
    }
    let mut r = next.run(req).await;
    if r.status() == StatusCode::METHOD_NOT_ALLOWED {
        r = HttpError(405, "Invalid method".into()).into_response();
    }
    let (leader, last) = {
        let st = sh
            .status
            .read()
            .map(|s| (s.has_leader, s.raft_index))
            .unwrap_or((false, 0));
        (st.0, st.1)
    };
    let ok = r.status().is_success();
    let h = r.headers_mut();
    if !h.contains_key("X-Nomad-Index") && ok {
        h.insert("X-Nomad-Index", HeaderValue::from(last.max(1)));
    }
    h.insert("X-Nomad-LastContact", HeaderValue::from_static("0"));
    h.insert(
        "X-Nomad-KnownLeader",
        HeaderValue::from_static(if leader { "true" } else { "false" }),
    );
    r
}

// ---------------------------------------------------------------- blocking queries and pagination

/// Holds a blocking query until `table(idx) > index` or `wait` elapses; returns the table index then.
async fn block(
    sh: &Shared,
    q: &[(String, String)],
    table: fn(&TableIndexes) -> u64,
) -> Result<u64, HttpError> {
    let cur = || sh.store.read().map(|s| table(&s.idx)).unwrap_or(0);
    let Some(iv) = param(q, "index") else {
        return Ok(cur());
    };
    let index: u64 = iv.parse().map_err(|_| e400("Invalid index"))?;
    let max = Duration::from_secs(300);
    let wait = match param(q, "wait") {
        None => max,
        Some(w) => humantime::parse_duration(w).map_err(|_| e400("Invalid wait time"))?,
    }
    .min(max);
    let jitter = if wait.as_millis() >= 16 {
        let j = wait.as_millis() as u64 / 16;
        Duration::from_millis(
            sh.fault_rng
                .lock()
                .map(|mut r| r.random_range(0..=j))
                .unwrap_or(0),
        )
    } else {
        Duration::ZERO
    };
    let deadline = tokio::time::Instant::now() + wait + jitter;
    let mut rx = sh.index_tx.subscribe();
    let mut shut = sh.shutdown_tx.subscribe();
    loop {
        rx.borrow_and_update();
        let c = cur();
        if c > index || index == 0 {
            return Ok(c);
        }
        tokio::select! {
            r = rx.changed() => if r.is_err() { return Ok(cur()); },
            _ = tokio::time::sleep_until(deadline) => return Ok(cur()),
            _ = shut.changed() => return Ok(cur()),
        }
    }
}

/// Where a paged list starts: after `next_token` (inclusive), walking backwards when `reverse`.
#[derive(Debug, Clone, Copy)]
struct Seek<'q> {
    /// `next_token`, if any (empty = none).
    token: Option<&'q str>,
    /// `reverse`.
    reverse: bool,
}

impl<'q> Seek<'q> {
    fn of(q: &'q [(String, String)]) -> Seek<'q> {
        Seek {
            token: param(q, "next_token").filter(|t| !t.is_empty()),
            reverse: flag(q, "reverse"),
        }
    }

    /// Seeks an ordered string-keyed table: O(log n) to the start, then lazily key by key.
    fn map<'s, V>(
        self,
        m: &'s BTreeMap<String, V>,
        strip: &str,
    ) -> Box<dyn Iterator<Item = &'s String> + 's> {
        use std::ops::Bound::{Included, Unbounded};
        match (
            self.token.map(|t| t.strip_prefix(strip).unwrap_or(t)),
            self.reverse,
        ) {
            (None, false) => Box::new(m.keys()),
            (None, true) => Box::new(m.keys().rev()),
            (Some(t), false) => {
                Box::new(m.range::<str, _>((Included(t), Unbounded)).map(|(k, _)| k))
            }
            (Some(t), true) => Box::new(
                m.range::<str, _>((Unbounded, Included(t)))
                    .rev()
                    .map(|(k, _)| k),
            ),
        }
    }

    /// Seeks a `(CreateIndex, ID)` index (tokens `INDEX.ID`): O(log n) to the start.
    fn by_create<'s>(
        self,
        s: &'s BTreeSet<(u64, String)>,
    ) -> Box<dyn Iterator<Item = &'s (u64, String)> + 's> {
        let tk = self.token.map(|t| {
            let (n, id) = t.split_once('.').unwrap_or((t, ""));
            (n.parse::<u64>().unwrap_or(0), id.to_string())
        });
        match (tk, self.reverse) {
            (None, false) => Box::new(s.iter()),
            (None, true) => Box::new(s.iter().rev()),
            (Some(k), false) => Box::new(s.range(k..)),
            (Some(k), true) => Box::new(s.range(..=k).rev()),
        }
    }
}

fn with_next(mut r: Response, next: Option<String>) -> Response {
    if let Some(t) = next.and_then(|t| HeaderValue::from_str(&t).ok()) {
        r.headers_mut().insert("X-Nomad-NextToken", t);
    }
    r
}

fn create_token(k: &(u64, String)) -> String {
    format!("{}.{}", k.0, k.1)
}

/// How a list endpoint pages: not at all (per-job and per-node lists), or by key tokens.
enum Paging<K> {
    /// The whole list, no `filter` check.
    Whole,
    /// `per_page` / `next_token` / `reverse` over ordered keys; `filter` expressions are refused.
    Tokens {
        /// The `X-Nomad-NextToken` of a key.
        token: fn(&K) -> String,
    },
}

/// A page of keys and the key after it (its token is the next token).
type Page<K> = (Vec<K>, Option<K>);

/// The first `per_page` keys of `it` (all when 0) and the one after them: with a seeking `it`, a page costs
/// O(log n + page), not O(n).
fn take_page<K>(mut it: impl Iterator<Item = K>, per_page: usize) -> Page<K> {
    if per_page == 0 {
        return (it.collect(), None);
    }
    let page: Vec<K> = it.by_ref().take(per_page).collect();
    let next = if page.len() == per_page {
        it.next()
    } else {
        None
    };
    (page, next)
}

/// The one list helper: checks the query, holds the blocking query on `table`, seeks to the page's first
/// key, takes `per_page` keys (and one more for the next token), renders each item, and answers with
/// `X-Nomad-Index` (and `X-Nomad-NextToken` when paged).
async fn list<K>(
    sh: &Shared,
    q: &[(String, String)],
    table: fn(&TableIndexes) -> u64,
    paging: Paging<K>,
    keys: impl FnOnce(&Store, Seek<'_>, usize) -> Result<Page<K>, HttpError>,
    item: impl Fn(&Store, &K) -> Option<Value>,
) -> HResult {
    let per_page = match paging {
        Paging::Whole => 0,
        Paging::Tokens { .. } => {
            reject_filter(q)?;
            match param(q, "per_page") {
                Some(p) => p
                    .parse::<usize>()
                    .map_err(|_| e400(format!("Invalid per_page: {p}")))?,
                None => 0,
            }
        }
    };
    let index = block(sh, q, table).await?;
    let st = store(sh)?;
    let seek = match paging {
        Paging::Whole => Seek {
            token: None,
            reverse: false,
        },
        Paging::Tokens { .. } => Seek::of(q),
    };
    let (page, after) = keys(&st, seek, per_page)?;
    let v: Vec<Value> = page.iter().filter_map(|k| item(&st, k)).collect();
    let next = match paging {
        Paging::Tokens { token } => after.map(|k| token(&k)),
        Paging::Whole => None,
    };
    Ok(with_next(json_resp(&Value::Array(v), index, q), next))
}

/// The one read helper: holds the blocking query on `table`, then answers with the item (or its error)
/// and `X-Nomad-Index`.
async fn read(
    sh: &Shared,
    q: &[(String, String)],
    table: fn(&TableIndexes) -> u64,
    item: impl FnOnce(&Store) -> Result<Value, HttpError>,
) -> HResult {
    let index = block(sh, q, table).await?;
    let st = store(sh)?;
    Ok(json_resp(&item(&st)?, index, q))
}

/// `x`, or a 404 saying which `what` was not found.
fn found<'s, T>(x: Option<&'s T>, what: &str) -> Result<&'s T, HttpError> {
    x.ok_or_else(|| HttpError(404, format!("{what} not found")))
}

/// Paging by `(create index, id)` keys, tokens `INDEX.ID`.
const BY_CREATE: Paging<(u64, String)> = Paging::Tokens {
    token: create_token,
};

fn reject_filter(q: &[(String, String)]) -> Result<(), HttpError> {
    if param(q, "filter").is_some_and(|f| !f.is_empty()) {
        return Err(e400(
            "filter expressions are not supported by the stampede emulator; use prefix or per-job endpoints",
        ));
    }
    Ok(())
}

fn ns_ok(q: &[(String, String)]) -> bool {
    matches!(
        param(q, "namespace"),
        None | Some("") | Some("default") | Some("*")
    )
}

fn store(sh: &Shared) -> Result<std::sync::RwLockReadGuard<'_, Store>, HttpError> {
    sh.store
        .read()
        .map_err(|_| HttpError(500, "state store poisoned".into()))
}

// ---------------------------------------------------------------- jobs

async fn jobs_list(State(sh): Sh, Query(q): Params) -> HResult {
    let prefix = param(&q, "prefix").unwrap_or("");
    let meta = flag(&q, "meta");
    let paging = Paging::Tokens {
        token: |k: &String| format!("default.{k}"),
    };
    let ns = ns_ok(&q);
    let keys = |st: &Store, seek: Seek<'_>, n: usize| -> Result<Page<String>, HttpError> {
        Ok(if ns {
            take_page(
                seek.map(&st.jobs, "default.")
                    .filter(move |k| k.starts_with(prefix))
                    .cloned(),
                n,
            )
        } else {
            (Vec::new(), None)
        })
    };
    let item = |st: &Store, k: &String| {
        st.jobs
            .get(k)
            .map(|j| render::job_stub(j, sh.base_unix_ns, meta))
    };
    list(&sh, &q, |i| i.jobs, paging, keys, item).await
}

fn write_fault(sh: &Shared) -> Result<(), HttpError> {
    let share = sh.cfg.faults.write_error_share;
    if share > 0.0
        && sh
            .fault_rng
            .lock()
            .map(|mut r| r.random::<f64>() < share)
            .unwrap_or(false)
    {
        return Err(HttpError(500, "No cluster leader".into()));
    }
    if let Some(f) = sh.status.read().ok().and_then(|s| s.failed.clone()) {
        return Err(HttpError(
            500,
            format!("rpc error: simulator core failed: {f}"),
        ));
    }
    Ok(())
}

fn registration_rejected(sh: &Shared) -> Result<(), HttpError> {
    let rejected = sh
        .store
        .read()
        .ok()
        .and_then(|s| {
            s.sched
                .as_ref()
                .map(|c| c.config.get("RejectJobRegistration") == Some(&Value::Bool(true)))
        })
        .unwrap_or(false);
    if rejected {
        return Err(HttpError(
            403,
            "Job registration, dispatch, and scale are disabled by the scheduler configuration"
                .into(),
        ));
    }
    Ok(())
}

async fn send_cmd(
    sh: &Shared,
    mk: impl FnOnce(super::driver::Reply) -> Command,
) -> Result<RequestOutcome, HttpError> {
    let (tx, rx) = oneshot::channel();
    if sh.stop.load(Ordering::SeqCst) || sh.cmd_tx.send(mk(tx)).is_err() {
        return Err(HttpError(500, "No cluster leader".into()));
    }
    match rx.await {
        Ok(r) => r.map_err(HttpError::from),
        Err(_) => Err(HttpError(500, "No cluster leader".into())),
    }
}

async fn register(
    sh: &Shared,
    body: &[u8],
    q: &[(String, String)],
    path_id: Option<&str>,
) -> HResult {
    let spec = jobspec::from_register_body(body).map_err(|e| HttpError(e.status, e.msg))?;
    if let Some(p) = path_id {
        if p != spec.id {
            return Err(e400("Job ID does not match name"));
        }
    }
    registration_rejected(sh)?;
    write_fault(sh)?;
    match send_cmd(sh, |r| Command::Register(Box::new(spec), r)).await? {
        RequestOutcome::Registered {
            eval_id,
            eval_create_index,
            job_modify_index,
            index,
        } => Ok(json_resp(
            &json!({"EvalID": eval_id, "EvalCreateIndex": eval_create_index,
                    "JobModifyIndex": job_modify_index, "Warnings": "", "Index": index,
                    "LastContact": 0, "KnownLeader": false, "NextToken": ""}),
            index,
            q,
        )),
        o => Err(HttpError(500, format!("unexpected outcome {o:?}"))),
    }
}

async fn jobs_register(State(sh): Sh, Query(q): Params, body: Bytes) -> HResult {
    register(&sh, &body, &q, None).await
}

/// `/v1/job/...`: like Nomad's `jobSpecificRequest`, the job ID may contain `/` (dispatched children), so
/// the action is read from the path's suffix.
async fn job_any(
    State(sh): Sh,
    method: Method,
    Path(rest): Path<String>,
    Query(q): Params,
    body: Bytes,
) -> HResult {
    let m405 = || Err(HttpError(405, "Invalid method".into()));
    let is_get = method == Method::GET;
    let is_write = method == Method::POST || method == Method::PUT;
    for (suffix, action) in [
        ("/summary", 0),
        ("/allocations", 1),
        ("/evaluations", 2),
        ("/dispatch", 3),
    ] {
        if let Some(id) = rest.strip_suffix(suffix).filter(|id| !id.is_empty()) {
            let id = id.to_string();
            return match (action, is_get, is_write) {
                (0, true, _) => job_summary(sh, id, q).await,
                (1, true, _) => job_allocs(sh, id, q).await,
                (2, true, _) => job_evals(sh, id, q).await,
                (3, _, true) => job_dispatch(sh, id, q, body).await,
                _ => m405(),
            };
        }
    }
    if rest.is_empty() {
        return Err(e400("Missing job ID"));
    }
    if is_get {
        job_read(sh, rest, q).await
    } else if is_write {
        register(&sh, &body, &q, Some(&rest)).await
    } else if method == Method::DELETE {
        job_delete(sh, rest, q).await
    } else {
        m405()
    }
}

async fn jobs_parse(body: Bytes) -> HResult {
    let v: Value = serde_json::from_slice(&body).map_err(|e| e400(e.to_string()))?;
    match v.get("JobHCL").and_then(Value::as_str) {
        None | Some("") => Err(e400("Job spec is empty")),
        Some(_) => Err(e400(
            "Failed to parse job: HCL parsing is not supported by the stampede emulator; convert with `stampede run --jobspec`",
        )),
    }
}

async fn job_read(sh: Arc<Shared>, id: String, q: Vec<(String, String)>) -> HResult {
    read(
        &sh,
        &q,
        |i| i.jobs,
        |st| {
            Ok(render::job_full(
                found(st.jobs.get(&id), "job")?,
                sh.base_unix_ns,
            ))
        },
    )
    .await
}

async fn job_summary(sh: Arc<Shared>, id: String, q: Vec<(String, String)>) -> HResult {
    read(
        &sh,
        &q,
        |i| i.jobs,
        |st| Ok(render::job_summary(found(st.jobs.get(&id), "job")?)),
    )
    .await
}

async fn job_allocs(sh: Arc<Shared>, id: String, q: Vec<(String, String)>) -> HResult {
    let keys = |st: &Store, _: Seek<'_>, n: usize| -> Result<Page<String>, HttpError> {
        Ok(take_page(
            st.job_allocs
                .get(&id)
                .into_iter()
                .flatten()
                .map(|(_, a)| a.clone()),
            n,
        ))
    };
    let item = |st: &Store, a: &String| {
        st.allocs
            .get(a)
            .map(|a| render::alloc_stub(a, sh.base_unix_ns, true))
    };
    list(&sh, &q, |i| i.allocs, Paging::Whole, keys, item).await
}

async fn job_evals(sh: Arc<Shared>, id: String, q: Vec<(String, String)>) -> HResult {
    let keys = |st: &Store, _: Seek<'_>, n: usize| -> Result<Page<String>, HttpError> {
        Ok(take_page(
            st.job_evals
                .get(&id)
                .into_iter()
                .flatten()
                .map(|(_, e)| e.clone()),
            n,
        ))
    };
    let item = |st: &Store, e: &String| st.evals.get(e).map(|e| render::eval(e, sh.base_unix_ns));
    list(&sh, &q, |i| i.evals, Paging::Whole, keys, item).await
}

async fn job_delete(sh: Arc<Shared>, id: String, q: Vec<(String, String)>) -> HResult {
    let purge = flag(&q, "purge");
    if !store(&sh)?.jobs.contains_key(&id) {
        return Err(HttpError(404, "job not found".into()));
    }
    write_fault(&sh)?;
    match send_cmd(&sh, |r| Command::Deregister(id, purge, r)).await? {
        RequestOutcome::Deregistered { eval_id, index } => Ok(json_resp(
            &json!({"EvalID": eval_id, "EvalCreateIndex": index, "JobModifyIndex": index, "VolumeEvalID": "",
                    "VolumeEvalIndex": 0, "Index": index, "LastContact": 0, "KnownLeader": false, "NextToken": ""}),
            index,
            &q,
        )),
        o => Err(HttpError(500, format!("unexpected outcome {o:?}"))),
    }
}

async fn job_dispatch(
    sh: Arc<Shared>,
    id: String,
    q: Vec<(String, String)>,
    body: Bytes,
) -> HResult {
    let v: Value = if body.iter().all(|b| b.is_ascii_whitespace()) {
        json!({})
    } else {
        serde_json::from_slice(&body).map_err(|e| e400(e.to_string()))?
    };
    if let Some(j) = v.get("JobID").and_then(Value::as_str) {
        if !j.is_empty() && j != id {
            return Err(e400("Job ID does not match"));
        }
    }
    let mut meta = BTreeMap::new();
    if let Some(m) = v.get("Meta").and_then(Value::as_object) {
        for (k, val) in m {
            let s = val
                .as_str()
                .ok_or_else(|| e400("json: cannot unmarshal value into Go struct field JobDispatchRequest.Meta of type string"))?;
            meta.insert(k.clone(), s.to_string());
        }
    }
    registration_rejected(&sh)?;
    write_fault(&sh)?;
    match send_cmd(&sh, |r| Command::Dispatch(id, meta, r)).await? {
        RequestOutcome::Dispatched {
            dispatched_job_id,
            eval_id,
            eval_create_index,
            job_create_index,
            index,
        } => Ok(json_resp(
            &json!({"DispatchedJobID": dispatched_job_id, "EvalID": eval_id,
                    "EvalCreateIndex": eval_create_index, "JobCreateIndex": job_create_index, "Index": index,
                    "LastContact": 0, "KnownLeader": false, "NextToken": ""}),
            index,
            &q,
        )),
        o => Err(HttpError(500, format!("unexpected outcome {o:?}"))),
    }
}

// ---------------------------------------------------------------- allocations, evaluations, nodes

async fn allocs_list(State(sh): Sh, Query(q): Params) -> HResult {
    let prefix = param(&q, "prefix").unwrap_or("");
    let ts = param(&q, "task_states") != Some("false");
    let ns = ns_ok(&q);
    let keys = |st: &Store, seek: Seek<'_>, n: usize| -> Result<Page<(u64, String)>, HttpError> {
        Ok(if ns {
            take_page(
                seek.by_create(&st.allocs_by_create)
                    .filter(move |(_, id)| id.starts_with(prefix))
                    .cloned(),
                n,
            )
        } else {
            (Vec::new(), None)
        })
    };
    let item = |st: &Store, (_, id): &(u64, String)| {
        st.allocs
            .get(id)
            .map(|a| render::alloc_stub(a, sh.base_unix_ns, ts))
    };
    list(&sh, &q, |i| i.allocs, BY_CREATE, keys, item).await
}

async fn alloc_read(State(sh): Sh, Path(id): Path<String>, Query(q): Params) -> HResult {
    read(
        &sh,
        &q,
        |i| i.allocs,
        |st| {
            let a = found(st.allocs.get(&id), "alloc")?;
            let job = st
                .jobs
                .get(&a.job_id)
                .map(|j| render::job_full(j, sh.base_unix_ns))
                .unwrap_or(Value::Null);
            Ok(render::alloc_full(a, sh.base_unix_ns, job))
        },
    )
    .await
}

async fn evals_list(State(sh): Sh, Query(q): Params) -> HResult {
    let prefix = param(&q, "prefix").unwrap_or("");
    let job = param(&q, "job");
    let status = param(&q, "status");
    let ns = ns_ok(&q);
    let keys = |st: &Store, seek: Seek<'_>, n: usize| -> Result<Page<(u64, String)>, HttpError> {
        Ok(if ns {
            let evals = &st.evals;
            take_page(
                seek.by_create(&st.evals_by_create)
                    .filter(move |(_, id)| id.starts_with(prefix))
                    .filter(move |(_, id)| {
                        evals.get(id).is_some_and(|e| {
                            job.is_none_or(|j| e.job_id == j)
                                && status.is_none_or(|s| e.status.as_str() == s)
                        })
                    })
                    .cloned(),
                n,
            )
        } else {
            (Vec::new(), None)
        })
    };
    let item = |st: &Store, (_, id): &(u64, String)| {
        st.evals.get(id).map(|e| render::eval(e, sh.base_unix_ns))
    };
    list(&sh, &q, |i| i.evals, BY_CREATE, keys, item).await
}

async fn eval_read(State(sh): Sh, Path(id): Path<String>, Query(q): Params) -> HResult {
    read(
        &sh,
        &q,
        |i| i.evals,
        |st| {
            Ok(render::eval(
                found(st.evals.get(&id), "eval")?,
                sh.base_unix_ns,
            ))
        },
    )
    .await
}

async fn nodes_list(State(sh): Sh, Query(q): Params) -> HResult {
    let prefix = param(&q, "prefix").unwrap_or("");
    let paging = Paging::Tokens {
        token: |k: &String| k.clone(),
    };
    let keys = |st: &Store, seek: Seek<'_>, n: usize| -> Result<Page<String>, HttpError> {
        Ok(take_page(
            seek.map(&st.nodes, "")
                .filter(move |k| k.starts_with(prefix))
                .cloned(),
            n,
        ))
    };
    let item = |st: &Store, k: &String| {
        st.nodes
            .get(k)
            .map(|n| render::node_stub(n, sh.base_unix_ns))
    };
    list(&sh, &q, |i| i.nodes, paging, keys, item).await
}

async fn node_read(State(sh): Sh, Path(id): Path<String>, Query(q): Params) -> HResult {
    read(
        &sh,
        &q,
        |i| i.nodes,
        |st| {
            Ok(render::node_full(
                found(st.nodes.get(&id), "node")?,
                sh.base_unix_ns,
            ))
        },
    )
    .await
}

async fn node_allocs(State(sh): Sh, Path(id): Path<String>, Query(q): Params) -> HResult {
    let keys = |st: &Store, _: Seek<'_>, n: usize| -> Result<Page<String>, HttpError> {
        found(st.nodes.get(&id), "node")?;
        Ok(take_page(
            st.node_allocs
                .get(&id)
                .into_iter()
                .flatten()
                .map(|(_, a)| a.clone()),
            n,
        ))
    };
    let item = |st: &Store, a: &String| {
        st.allocs.get(a).map(|a| {
            let job = st
                .jobs
                .get(&a.job_id)
                .map(|j| render::job_full(j, sh.base_unix_ns))
                .unwrap_or(Value::Null);
            render::alloc_full(a, sh.base_unix_ns, job)
        })
    };
    list(&sh, &q, |i| i.allocs, Paging::Whole, keys, item).await
}

async fn event_stream(State(sh): Sh, Query(q): Params) -> HResult {
    Ok(stream::serve(sh, &q)?)
}

// ---------------------------------------------------------------- operator

fn sched_value(c: &super::state::SchedulerConfig) -> Value {
    let mut m = c.config.clone();
    m.insert("CreateIndex".into(), json!(c.create_index));
    m.insert("ModifyIndex".into(), json!(c.modify_index));
    Value::Object(m)
}

async fn sched_get(State(sh): Sh, Query(q): Params) -> HResult {
    let st = store(&sh)?;
    let c = st
        .sched
        .as_ref()
        .ok_or_else(|| HttpError(500, "scheduler configuration not set".into()))?;
    let leader = sh.status.read().map(|s| s.has_leader).unwrap_or(false);
    Ok(json_resp(
        &json!({"SchedulerConfig": sched_value(c), "Index": c.modify_index, "LastContact": 0,
                "KnownLeader": leader, "NextToken": ""}),
        c.modify_index,
        &q,
    ))
}

fn parse_sched(body: &[u8]) -> Result<(Map<String, Value>, Algorithm), HttpError> {
    let perr = |m: String| e400(format!("Error parsing scheduler config: {m}"));
    let v: Value = serde_json::from_slice(body).map_err(|e| perr(e.to_string()))?;
    let o = v.as_object().ok_or_else(|| {
        perr("json: cannot unmarshal into Go value of type api.SchedulerConfiguration".into())
    })?;
    let b = |o: &Map<String, Value>, k: &str| -> Result<bool, HttpError> {
        match o.get(k) {
            None | Some(Value::Null) => Ok(false),
            Some(Value::Bool(x)) => Ok(*x),
            Some(_) => Err(perr(format!("json: cannot unmarshal into Go struct field SchedulerConfiguration.{k} of type bool"))),
        }
    };
    let alg = match o.get("SchedulerAlgorithm") {
        None | Some(Value::Null) => String::new(),
        Some(Value::String(s)) => s.clone(),
        Some(_) => return Err(perr("json: cannot unmarshal into Go struct field SchedulerConfiguration.SchedulerAlgorithm of type string".into())),
    };
    let algorithm = Algorithm::parse(&alg)
        .ok_or_else(|| e400(format!("invalid scheduler algorithm: {alg}")))?;
    let empty = Map::new();
    let pc = o
        .get("PreemptionConfig")
        .and_then(Value::as_object)
        .unwrap_or(&empty);
    let limit = match o.get("NodeLimitForFeasibilityChecks") {
        None | Some(Value::Null) => 100,
        Some(v) => v.as_u64().ok_or_else(|| perr("json: cannot unmarshal into Go struct field SchedulerConfiguration.NodeLimitForFeasibilityChecks of type int".into()))?,
    };
    let cfg = json!({
        "SchedulerAlgorithm": alg,
        "MemoryOversubscriptionEnabled": b(o, "MemoryOversubscriptionEnabled")?,
        "RejectJobRegistration": b(o, "RejectJobRegistration")?,
        "PauseEvalBroker": b(o, "PauseEvalBroker")?,
        "NodeLimitForFeasibilityChecks": if limit == 0 { 100 } else { limit },
        "PreemptionConfig": {
            "SystemSchedulerEnabled": b(pc, "SystemSchedulerEnabled")?,
            "SysBatchSchedulerEnabled": b(pc, "SysBatchSchedulerEnabled")?,
            "BatchSchedulerEnabled": b(pc, "BatchSchedulerEnabled")?,
            "ServiceSchedulerEnabled": b(pc, "ServiceSchedulerEnabled")?,
        },
    });
    match cfg {
        Value::Object(m) => Ok((m, algorithm)),
        _ => Err(HttpError(500, "internal".into())),
    }
}

async fn sched_put(State(sh): Sh, Query(q): Params, body: Bytes) -> HResult {
    let (cfg, algorithm) = parse_sched(&body)?;
    let cas = match param(&q, "cas") {
        Some(c) => Some(
            c.parse::<u64>()
                .map_err(|_| e400(format!("Error parsing cas value: {c}")))?,
        ),
        None => None,
    };
    let mut st = sh
        .store
        .write()
        .map_err(|_| HttpError(500, "state store poisoned".into()))?;
    let last = st.idx.last;
    let cur = st
        .sched
        .clone()
        .ok_or_else(|| HttpError(500, "scheduler configuration not set".into()))?;
    if cas.is_some_and(|c| c != cur.modify_index) {
        return Ok(json_resp(
            &json!({"Updated": false, "Index": cur.modify_index}),
            cur.modify_index,
            &q,
        ));
    }
    // One monotonic index: never below the Raft index, always above the previous config write.
    let index = last.max(cur.modify_index + 1);
    st.sched = Some(super::state::SchedulerConfig {
        config: cfg,
        create_index: cur.create_index,
        modify_index: index,
    });
    drop(st);
    let _ = sh.cmd_tx.send(Command::SetAlgorithm(algorithm));
    Ok(json_resp(
        &json!({"Updated": cas.is_some(), "Index": index}),
        index,
        &q,
    ))
}

async fn raft_config(State(sh): Sh, Query(q): Params) -> HResult {
    let st = sh.status.read().map(|s| s.clone()).unwrap_or_default();
    let servers: Vec<Value> = st
        .servers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            json!({"ID": format!("00000000-0000-4000-8000-00000000000{}", i + 1), "Node": format!("{n}.global"),
                   "Address": metrics::peer_addr(i), "Leader": st.has_leader && i == st.leader,
                   "Voter": true, "RaftProtocol": "3"})
        })
        .collect();
    Ok(json_resp(
        &json!({"Index": 0, "Servers": servers}),
        st.raft_index,
        &q,
    ))
}

// ---------------------------------------------------------------- metrics, status, agent

fn server_of(
    st: &super::Status,
    q: &[(String, String)],
    h: &HeaderMap,
) -> Result<usize, HttpError> {
    let want = param(q, "server").map(str::to_string).or_else(|| {
        h.get("X-Stampede-Server")
            .and_then(|v| v.to_str().ok())
            .map(str::to_string)
    });
    match want {
        None => Ok(st.leader),
        Some(w) => st
            .servers
            .iter()
            .enumerate()
            .position(|(i, n)| {
                *n == w
                    || metrics::peer_addr(i) == w
                    || metrics::peer_addr(i).split(':').next() == Some(w.as_str())
            })
            .ok_or_else(|| {
                e400(format!(
                    "unknown server {w:?}; servers are {}",
                    st.servers.join(", ")
                ))
            }),
    }
}

async fn metrics_get(State(sh): Sh, Query(q): Params, headers: HeaderMap) -> HResult {
    let st = sh.status.read().map(|s| s.clone()).unwrap_or_default();
    let i = server_of(&st, &q, &headers)?;
    if param(&q, "format") == Some("prometheus") {
        if !sh.cfg.prometheus {
            return Err(HttpError(415, "Prometheus is not enabled".into()));
        }
        let g = st
            .gauges
            .get(i)
            .ok_or_else(|| HttpError(500, "no gauges yet".into()))?;
        let mut r = (StatusCode::OK, metrics::prometheus(g, st.store_ms)).into_response();
        r.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return Ok(r);
    }
    let (start, end, t_end) = st
        .interval
        .clone()
        .ok_or_else(|| HttpError(500, "no metrics yet".into()))?;
    let (s, e) = match (start.get(i), end.get(i)) {
        (Some(s), Some(e)) => (s, e),
        _ => return Err(HttpError(500, "no metrics yet".into())),
    };
    Ok(json_resp(
        &metrics::json_summary(s, e, render::unix_ns(sh.base_unix_ns, t_end), st.store_ms),
        st.raft_index,
        &q,
    ))
}

async fn status_leader(State(sh): Sh, Query(q): Params) -> HResult {
    let st = sh.status.read().map(|s| s.clone()).unwrap_or_default();
    let l = if st.has_leader {
        metrics::peer_addr(st.leader)
    } else {
        String::new()
    };
    Ok(json_resp(&json!(l), st.raft_index, &q))
}

async fn status_peers(State(sh): Sh, Query(q): Params) -> HResult {
    let st = sh.status.read().map(|s| s.clone()).unwrap_or_default();
    let p: Vec<String> = (0..st.servers.len()).map(metrics::peer_addr).collect();
    Ok(json_resp(&json!(p), st.raft_index, &q))
}

async fn agent_self(State(sh): Sh, Query(q): Params, headers: HeaderMap) -> HResult {
    let st = sh.status.read().map(|s| s.clone()).unwrap_or_default();
    let i = server_of(&st, &q, &headers)?;
    let name = st.servers.get(i).cloned().unwrap_or_default();
    let leader = st.has_leader && i == st.leader;
    // `runtime.NumCPU()` of the emulated server (helper/goruntime/runtime.go:RuntimeStats): the vCPUs its
    // CPU % is of, as in a simulated record of the same cluster.
    let cpus = sh.cfg.scenario.cluster.cores.to_string();
    let v = json!({
        "config": {"Version": {"Version": render::VERSION, "Revision": "stampede", "VersionMetadata": "",
                               "VersionPrerelease": ""},
                   "Region": "global", "Datacenter": "dc1", "NodeName": name, "Server": {"Enabled": true},
                   "Client": {"Enabled": false}, "Telemetry": {"PrometheusMetrics": sh.cfg.prometheus},
                   "ACL": {"Enabled": sh.cfg.token.is_some()}},
        "member": {"Name": format!("{name}.global"), "Addr": metrics::peer_addr(i).split(':').next(),
                   "Port": 4648, "Status": "alive",
                   "Tags": {"role": "nomad", "region": "global", "dc": "dc1", "build": render::VERSION,
                            "port": "4647", "bootstrap": "0", "expect": st.servers.len().to_string(),
                            "stampede_emulator": "true"}},
        "stats": {
            "nomad": {"server": "true", "leader": leader.to_string(),
                      "leader_addr": if st.has_leader { metrics::peer_addr(st.leader) } else { String::new() },
                      "bootstrap": "false", "known_regions": "1"},
            "raft": {"state": if leader { "Leader" } else { "Follower" }, "commit_index": st.raft_index.to_string(),
                     "applied_index": st.raft_index.to_string(), "last_log_index": st.raft_index.to_string(),
                     "num_peers": st.servers.len().saturating_sub(1).to_string(), "protocol_version": "3"},
            "runtime": {"arch": "amd64", "os": "linux", "version": "go1.22", "goroutines": "200",
                        "max_procs": cpus, "cpu_count": cpus},
        },
    });
    Ok(json_resp(&v, st.raft_index, &q))
}

async fn agent_health(State(sh): Sh, Query(q): Params) -> HResult {
    let st = sh.status.read().map(|s| s.clone()).unwrap_or_default();
    if let Some(f) = st.failed {
        return Err(HttpError(
            500,
            format!("{{\"server\":{{\"ok\":false,\"message\":{}}}}}", json!(f)),
        ));
    }
    let server = if st.has_leader {
        json!({"ok": true, "message": "ok"})
    } else {
        json!({"ok": false, "message": "No cluster leader"})
    };
    if !st.has_leader {
        return Err(HttpError(500, json!({"server": server}).to_string()));
    }
    Ok(json_resp(&json!({"server": server}), st.raft_index, &q))
}

/// `PUT /v1/system/gc` (`command/agent/system_endpoint.go` `GarbageCollectRequest` → `System.GarbageCollect`):
/// a forced job + eval GC (see [`super::gc`]). Nomad answers 200 with an empty body; so does this, after the
/// GC ran (Nomad only enqueues it). The counts reaped go in `X-Stampede-GC-*` headers.
async fn system_gc(State(sh): Sh) -> HResult {
    let (tx, rx) = oneshot::channel();
    if sh.stop.load(Ordering::SeqCst) || sh.cmd_tx.send(Command::ForceGc(tx)).is_err() {
        return Err(HttpError(500, "the simulator core is not running".into()));
    }
    let r = rx
        .await
        .map_err(|_| HttpError(500, "the simulator core is not running".into()))?;
    let mut resp = StatusCode::OK.into_response();
    let h = resp.headers_mut();
    h.insert("X-Stampede-GC-Jobs", HeaderValue::from(r.jobs));
    h.insert("X-Stampede-GC-Evals", HeaderValue::from(r.evals));
    h.insert("X-Stampede-GC-Allocs", HeaderValue::from(r.allocs));
    Ok(resp)
}

async fn ground_truth(State(sh): Sh, Query(q): Params) -> HResult {
    let (tx, rx) = oneshot::channel();
    if sh.cmd_tx.send(Command::GroundTruth(tx)).is_err() {
        return Err(HttpError(500, "the simulator core is not running".into()));
    }
    let rows = rx
        .await
        .map_err(|_| HttpError(500, "the simulator core is not running".into()))?;
    let base = sh.base_unix_ns;
    let v: Vec<Value> = rows
        .iter()
        .map(|r| {
            let mut v = serde_json::to_value(r).unwrap_or(Value::Null);
            for k in ["submit_ns", "sent_ns", "placed_ns", "running_ns", "done_ns"] {
                if let Some(t) = v.get(k).and_then(Value::as_u64) {
                    v[k] = json!(render::unix_ns(base, t));
                }
            }
            v
        })
        .collect();
    let index = sh.status.read().map(|s| s.raft_index).unwrap_or(0);
    Ok(json_resp(&Value::Array(v), index, &q))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::cell::Cell;

    /// Issue 13 finding 8: a page seeks to its token and pulls `per_page + 1` keys, whatever the table size
    /// (the reconcile poll of 120 k allocations used to re-walk every key for every page).
    #[test]
    fn a_page_costs_its_own_size_not_the_table_size() {
        let set: BTreeSet<(u64, String)> =
            (0..100_000u64).map(|i| (i, format!("a{i:06}"))).collect();
        let q = vec![
            ("next_token".to_string(), "70000.a070000".to_string()),
            ("per_page".to_string(), "50".to_string()),
        ];
        let pulled = Cell::new(0usize);
        let it = Seek::of(&q)
            .by_create(&set)
            .inspect(|_| pulled.set(pulled.get() + 1))
            .cloned();
        let (page, next) = take_page(it, 50);
        assert_eq!(pulled.get(), 51, "keys pulled for a page of 50");
        assert_eq!(page.first(), Some(&(70_000, "a070000".to_string())));
        assert_eq!(page.len(), 50);
        assert_eq!(
            next.map(|k| create_token(&k)).as_deref(),
            Some("70050.a070050")
        );
        // Reverse: at or before the token, newest first.
        let q = vec![
            ("next_token".to_string(), "70000.a070000".to_string()),
            ("reverse".to_string(), "true".to_string()),
        ];
        let (page, next) = take_page(Seek::of(&q).by_create(&set).cloned(), 3);
        assert_eq!(page[0].0, 70_000);
        assert_eq!(page[2].0, 69_998);
        assert_eq!(next.map(|k| k.0), Some(69_997));
        // String-keyed tables strip the `default.` namespace prefix of job tokens.
        let m: BTreeMap<String, ()> = ["a", "b", "c", "d"]
            .iter()
            .map(|k| (k.to_string(), ()))
            .collect();
        let q = vec![("next_token".to_string(), "default.b".to_string())];
        let (page, next) = take_page(Seek::of(&q).map(&m, "default.").cloned(), 2);
        assert_eq!(page, vec!["b".to_string(), "c".to_string()]);
        assert_eq!(next.as_deref(), Some("d"));
        // The last page: no next token.
        let (page, next) = take_page(Seek::of(&q).map(&m, "default.").cloned(), 3);
        assert_eq!(page.len(), 3);
        assert_eq!(next, None);
    }
}
