//! [`NomadClient`]: a thin reqwest + serde client for the dozen endpoints the harness needs.

use std::time::Duration;

use reqwest::header::{HeaderMap, HeaderValue};
use reqwest::{Method, RequestBuilder, Response};
use serde::de::DeserializeOwned;
use serde_json::Value;

use super::conn::{normalize_address, redact_url, split_userinfo, NomadConnArgs};
use super::error::NomadError;
use super::types::*;

/// Most bytes of an error body kept in [`NomadError::Status`].
const MAX_ERROR_BODY: usize = 4096;

/// A blocking-query and paging request for list endpoints.
#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    /// `prefix` (ID prefix).
    pub prefix: Option<String>,
    /// `filter` (go-bexpr expression).
    pub filter: Option<String>,
    /// `per_page`.
    pub per_page: Option<u32>,
    /// `next_token`.
    pub next_token: Option<String>,
    /// Blocking query: wait until the index exceeds this.
    pub index: Option<u64>,
    /// Blocking query: longest wait.
    pub wait: Option<Duration>,
    /// Extra query parameters (`task_states=true`, `resources=true`, …).
    pub extra: Vec<(String, String)>,
}

/// The Nomad HTTP client. Cheap to clone (shares the connection pool).
#[derive(Clone)]
pub struct NomadClient {
    http: reqwest::Client,
    base: String,
    headers: HeaderMap,
    /// Basic-auth credentials from the address's userinfo (sent by reqwest as a sensitive header).
    basic_auth: Option<(String, Option<String>)>,
    region: Option<String>,
    namespace: String,
    timeout: Duration,
}

impl std::fmt::Debug for NomadClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NomadClient")
            .field("base", &self.base)
            .field("namespace", &self.namespace)
            .finish_non_exhaustive()
    }
}

impl NomadClient {
    /// Builds a client from connection settings. Errors when no address is set.
    pub fn new(conn: &NomadConnArgs) -> Result<NomadClient, NomadError> {
        let addr = conn.address.as_deref().ok_or_else(|| {
            NomadError::Config("no Nomad address: pass --addr or set NOMAD_ADDR".into())
        })?;
        let base = normalize_address(addr)?;
        // Userinfo becomes a (sensitive) Authorization header, so the base URL, which appears in every
        // error message and in recorded traces, never carries it.
        let (base, userinfo) = split_userinfo(&base);
        let (http, base) = conn.build_http(&base)?;
        let mut headers = HeaderMap::new();
        if let Some(t) = conn.token.as_deref().filter(|t| !t.is_empty()) {
            let mut v = HeaderValue::from_str(t).map_err(|_| {
                NomadError::Config(
                    "NOMAD_TOKEN contains characters not allowed in an HTTP header".into(),
                )
            })?;
            v.set_sensitive(true);
            headers.insert("X-Nomad-Token", v);
        }
        Ok(NomadClient {
            http,
            base,
            headers,
            basic_auth: userinfo,
            region: conn.region.clone().filter(|s| !s.is_empty()),
            namespace: conn.namespace_or_default().to_string(),
            timeout: Duration::from_secs(60),
        })
    }

    /// Sets the per-request timeout of ordinary requests (default 60 s; blocking queries add their wait).
    pub fn with_timeout(mut self, t: Duration) -> Self {
        self.timeout = t;
        self
    }

    /// Base URL, e.g. `http://127.0.0.1:4646`.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The namespace used for job requests.
    pub fn namespace(&self) -> &str {
        &self.namespace
    }

    /// A client for another server of the same cluster (same TLS settings and token).
    pub fn with_base(&self, base: &str) -> Result<NomadClient, NomadError> {
        let mut c = self.clone();
        c.base = split_userinfo(&normalize_address(base)?).0;
        Ok(c)
    }

    fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    fn request(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
    ) -> (RequestBuilder, String) {
        let mut q: Vec<(String, String)> = Vec::with_capacity(query.len() + 2);
        if let Some(r) = &self.region {
            q.push(("region".into(), r.clone()));
        }
        q.extend(query.iter().cloned());
        let url = self.url(path);
        let shown = if q.is_empty() {
            url.clone()
        } else {
            let qs: Vec<String> = q.iter().map(|(k, v)| format!("{k}={v}")).collect();
            format!("{url}?{}", qs.join("&"))
        };
        let mut rb = self
            .http
            .request(method, &url)
            .headers(self.headers.clone())
            .query(&q)
            .timeout(self.timeout);
        if let Some((user, pass)) = &self.basic_auth {
            rb = rb.basic_auth(user, pass.as_deref());
        }
        (rb, shown)
    }

    async fn send(
        &self,
        rb: RequestBuilder,
        method: &str,
        url: &str,
    ) -> Result<Response, NomadError> {
        let resp = rb
            .send()
            .await
            .map_err(|e| NomadError::from_reqwest(method, url, e))?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        if status.is_redirection() {
            let to = resp
                .headers()
                .get(reqwest::header::LOCATION)
                .and_then(|v| v.to_str().ok())
                .map(redact_url)
                .unwrap_or_else(|| "(no Location)".into());
            return Err(NomadError::Status {
                method: method.into(),
                url: url.into(),
                status: status.as_u16(),
                body: format!(
                    "redirect to {to} not followed: Nomad never redirects API calls, and following \
                     would send the ACL token to another address"
                ),
            });
        }
        let bytes = resp.bytes().await.unwrap_or_default();
        let mut body = String::from_utf8_lossy(&bytes[..bytes.len().min(MAX_ERROR_BODY)])
            .trim()
            .to_string();
        if body.is_empty() {
            body = status.canonical_reason().unwrap_or("").to_string();
        }
        Err(NomadError::Status {
            method: method.into(),
            url: url.into(),
            status: status.as_u16(),
            body,
        })
    }

    async fn json<T: DeserializeOwned>(
        &self,
        resp: Response,
        method: &str,
        url: &str,
    ) -> Result<T, NomadError> {
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| NomadError::from_reqwest(method, url, e))?;
        serde_json::from_slice(&bytes).map_err(|e| NomadError::Decode {
            url: url.into(),
            msg: e.to_string(),
        })
    }

    fn meta(resp: &Response) -> QueryMeta {
        let h = resp.headers();
        let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::to_string);
        QueryMeta {
            index: get("x-nomad-index")
                .and_then(|v| v.parse().ok())
                .unwrap_or(0),
            next_token: get("x-nomad-nexttoken").filter(|s| !s.is_empty()),
            known_leader: get("x-nomad-knownleader").as_deref() == Some("true"),
        }
    }

    /// GET returning JSON and the index headers.
    pub async fn get<T: DeserializeOwned>(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<(T, QueryMeta), NomadError> {
        let (rb, url) = self.request(Method::GET, path, query);
        let resp = self.send(rb, "GET", &url).await?;
        let meta = Self::meta(&resp);
        Ok((self.json(resp, "GET", &url).await?, meta))
    }

    /// GET returning the raw response (status checked), for callers that need its headers (e.g. `Date`
    /// for the clock-offset measurement of sharded runs).
    pub async fn get_response(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<Response, NomadError> {
        let (rb, url) = self.request(Method::GET, path, query);
        self.send(rb, "GET", &url).await
    }

    /// GET returning text.
    pub async fn get_text(
        &self,
        path: &str,
        query: &[(String, String)],
    ) -> Result<String, NomadError> {
        let (rb, url) = self.request(Method::GET, path, query);
        let resp = self.send(rb, "GET", &url).await?;
        resp.text()
            .await
            .map_err(|e| NomadError::from_reqwest("GET", &url, e))
    }

    /// Sends a JSON body with `method`, returning JSON.
    pub async fn write<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        query: &[(String, String)],
        body: &Value,
    ) -> Result<T, NomadError> {
        let m = method.to_string();
        let (rb, url) = self.request(method, path, query);
        let resp = self.send(rb.json(body), &m, &url).await?;
        self.json(resp, &m, &url).await
    }

    fn ns_query(&self) -> Vec<(String, String)> {
        vec![("namespace".into(), self.namespace.clone())]
    }

    /// `PUT /v1/jobs`: registers `job` (a Job object, not wrapped).
    pub async fn register_job(&self, job: &Value) -> Result<RegisterResponse, NomadError> {
        let body = serde_json::json!({ "Job": job });
        self.write(Method::PUT, "/v1/jobs", &self.ns_query(), &body)
            .await
    }

    /// `DELETE /v1/job/:id` (with `purge=true` when asked).
    pub async fn deregister_job(&self, id: &str, purge: bool) -> Result<(), NomadError> {
        let mut q = self.ns_query();
        if purge {
            q.push(("purge".into(), "true".into()));
        }
        let (rb, url) = self.request(Method::DELETE, &format!("/v1/job/{}", path_escape(id)), &q);
        self.send(rb, "DELETE", &url).await.map(|_| ())
    }

    /// `GET /v1/jobs?prefix=`.
    pub async fn list_jobs(&self, prefix: &str) -> Result<Vec<JobListStub>, NomadError> {
        let mut q = self.ns_query();
        q.push(("prefix".into(), prefix.into()));
        Ok(self.get("/v1/jobs", &q).await?.0)
    }

    /// `POST /v1/job/:id/dispatch`.
    pub async fn dispatch_job(
        &self,
        id: &str,
        meta: &serde_json::Map<String, Value>,
    ) -> Result<DispatchResponse, NomadError> {
        let body = serde_json::json!({ "Meta": meta });
        self.write(
            Method::POST,
            &format!("/v1/job/{}/dispatch", path_escape(id)),
            &self.ns_query(),
            &body,
        )
        .await
    }

    /// `POST /v1/jobs/parse`: HCL2 → a bare (canonicalized) Job object.
    pub async fn parse_job(&self, hcl: &str, variables: &str) -> Result<Value, NomadError> {
        let body =
            serde_json::json!({ "JobHCL": hcl, "Variables": variables, "Canonicalize": true });
        self.write(Method::POST, "/v1/jobs/parse", &[], &body).await
    }

    /// `GET /v1/operator/scheduler/configuration`: the raw `SchedulerConfig` object (all fields kept).
    pub async fn scheduler_config(&self) -> Result<serde_json::Map<String, Value>, NomadError> {
        let url = self.url("/v1/operator/scheduler/configuration");
        let (v, _): (Value, _) = self
            .get("/v1/operator/scheduler/configuration", &[])
            .await?;
        match v.get("SchedulerConfig") {
            Some(Value::Object(m)) => Ok(m.clone()),
            _ => Err(NomadError::Decode {
                url,
                msg: "response has no `SchedulerConfig` object".into(),
            }),
        }
    }

    /// `PUT /v1/operator/scheduler/configuration?cas=N` with the whole (bare) config. Returns `Updated`.
    pub async fn put_scheduler_config(
        &self,
        cfg: &serde_json::Map<String, Value>,
        cas: Option<u64>,
    ) -> Result<bool, NomadError> {
        let q: Vec<(String, String)> = cas
            .map(|c| vec![("cas".to_string(), c.to_string())])
            .unwrap_or_default();
        let v: Value = self
            .write(
                Method::PUT,
                "/v1/operator/scheduler/configuration",
                &q,
                &Value::Object(cfg.clone()),
            )
            .await?;
        Ok(v.get("Updated").and_then(Value::as_bool).unwrap_or(false))
    }

    /// Sets only `SchedulerAlgorithm`, by GET-modify-PUT with `cas` (retried on a lost race, up to 5 times).
    /// Returns the configuration as it was before, to restore with [`NomadClient::restore_scheduler_config`].
    pub async fn set_scheduler_algorithm(
        &self,
        algorithm: &str,
    ) -> Result<serde_json::Map<String, Value>, NomadError> {
        let mut last = None;
        for _ in 0..5 {
            let old = self.scheduler_config().await?;
            let mut new = old.clone();
            new.insert("SchedulerAlgorithm".into(), Value::String(algorithm.into()));
            let cas = old.get("ModifyIndex").and_then(Value::as_u64);
            if self.put_scheduler_config(&new, cas).await? {
                return Ok(old);
            }
            last = Some(old);
        }
        let _ = last;
        Err(NomadError::Decode {
            url: self.url("/v1/operator/scheduler/configuration"),
            msg: "scheduler configuration kept changing under us (cas failed 5 times)".into(),
        })
    }

    /// Restores a configuration saved by [`NomadClient::set_scheduler_algorithm`]: GET the current
    /// `ModifyIndex`, PUT the old fields with that `cas`.
    pub async fn restore_scheduler_config(
        &self,
        old: &serde_json::Map<String, Value>,
    ) -> Result<(), NomadError> {
        for _ in 0..5 {
            let cur = self.scheduler_config().await?;
            let cas = cur.get("ModifyIndex").and_then(Value::as_u64);
            if self.put_scheduler_config(old, cas).await? {
                return Ok(());
            }
        }
        Err(NomadError::Decode {
            url: self.url("/v1/operator/scheduler/configuration"),
            msg: "could not restore the scheduler configuration (cas failed 5 times)".into(),
        })
    }

    fn list_params(&self, q: &ListQuery) -> Vec<(String, String)> {
        let mut p = self.ns_query();
        if let Some(x) = &q.prefix {
            p.push(("prefix".into(), x.clone()));
        }
        if let Some(x) = &q.filter {
            p.push(("filter".into(), x.clone()));
        }
        if let Some(x) = q.per_page {
            p.push(("per_page".into(), x.to_string()));
        }
        if let Some(x) = &q.next_token {
            p.push(("next_token".into(), x.clone()));
        }
        if let Some(x) = q.index {
            p.push(("index".into(), x.to_string()));
        }
        if let Some(w) = q.wait {
            p.push(("wait".into(), format!("{}ms", w.as_millis())));
        }
        p.extend(q.extra.iter().cloned());
        p
    }

    /// One page of a list endpoint, honouring blocking queries (the request timeout is extended by `wait`).
    pub async fn list_page<T: DeserializeOwned>(
        &self,
        path: &str,
        q: &ListQuery,
    ) -> Result<(Vec<T>, QueryMeta), NomadError> {
        let params = self.list_params(q);
        let (mut rb, url) = self.request(Method::GET, path, &params);
        if let Some(w) = q.wait {
            rb = rb.timeout(self.timeout + w + w / 16);
        }
        let resp = self.send(rb, "GET", &url).await?;
        let meta = Self::meta(&resp);
        Ok((self.json(resp, "GET", &url).await?, meta))
    }

    /// Every page of a list endpoint (follows `X-Nomad-NextToken`).
    pub async fn list_all<T: DeserializeOwned>(
        &self,
        path: &str,
        q: &ListQuery,
    ) -> Result<(Vec<T>, QueryMeta), NomadError> {
        let mut q = q.clone();
        q.index = None;
        q.wait = None;
        let mut out = Vec::new();
        let mut pages = 0u32;
        loop {
            let (mut page, meta) = self.list_page(path, &q).await?;
            out.append(&mut page);
            pages += 1;
            match meta.next_token.clone() {
                Some(t) if pages < 1_000_000 && q.next_token.as_deref() != Some(t.as_str()) => {
                    q.next_token = Some(t)
                }
                _ => return Ok((out, meta)),
            }
        }
    }

    /// `GET /v1/allocations` (one page; blocking when `q.index` is set).
    pub async fn allocations(
        &self,
        q: &ListQuery,
    ) -> Result<(Vec<AllocStub>, QueryMeta), NomadError> {
        self.list_page("/v1/allocations", q).await
    }

    /// `GET /v1/nodes` (one page; blocking when `q.index` is set).
    pub async fn nodes(&self, q: &ListQuery) -> Result<(Vec<NodeStub>, QueryMeta), NomadError> {
        self.list_page("/v1/nodes", q).await
    }

    /// `GET /v1/evaluations` (one page).
    pub async fn evaluations(
        &self,
        q: &ListQuery,
    ) -> Result<(Vec<Evaluation>, QueryMeta), NomadError> {
        self.list_page("/v1/evaluations", q).await
    }

    /// `GET /v1/metrics` (JSON).
    pub async fn metrics_json(&self) -> Result<MetricsSummary, NomadError> {
        Ok(self.get("/v1/metrics", &[]).await?.0)
    }

    /// `GET /v1/metrics?format=prometheus` (text; 415 when Prometheus is not enabled).
    pub async fn metrics_prometheus(&self) -> Result<String, NomadError> {
        self.get_text("/v1/metrics", &[("format".into(), "prometheus".into())])
            .await
    }

    /// `GET /v1/agent/self` as raw JSON.
    pub async fn agent_self(&self) -> Result<Value, NomadError> {
        Ok(self.get("/v1/agent/self", &[]).await?.0)
    }

    /// Nomad version from `/v1/agent/self` (`config.Version.Version`, plus `-Prerelease` when set).
    pub async fn version(&self) -> Result<String, NomadError> {
        let v = self.agent_self().await?;
        let ver = &v["config"]["Version"];
        let base = ver["Version"].as_str().unwrap_or("").to_string();
        if base.is_empty() {
            return Err(NomadError::Decode {
                url: self.url("/v1/agent/self"),
                msg: "no `config.Version.Version`".into(),
            });
        }
        Ok(
            match ver["VersionPrerelease"].as_str().filter(|p| !p.is_empty()) {
                Some(p) if !base.contains(p) => format!("{base}-{p}"),
                _ => base,
            },
        )
    }

    /// `GET /v1/status/leader` (`ip:rpc-port`).
    pub async fn leader(&self) -> Result<String, NomadError> {
        Ok(self.get("/v1/status/leader", &[]).await?.0)
    }

    /// `GET /v1/status/peers` (`ip:rpc-port` each).
    pub async fn peers(&self) -> Result<Vec<String>, NomadError> {
        Ok(self.get("/v1/status/peers", &[]).await?.0)
    }

    /// `GET /v1/operator/raft/configuration`.
    pub async fn raft_configuration(&self) -> Result<RaftConfiguration, NomadError> {
        Ok(self.get("/v1/operator/raft/configuration", &[]).await?.0)
    }

    /// Opens `GET /v1/event/stream` with the given topics from `index`. Returns the response, whose body is
    /// NDJSON (chunked or close-delimited); read it with [`super::stream::EventStream`].
    pub async fn event_stream_response(
        &self,
        topics: &[String],
        index: u64,
    ) -> Result<Response, NomadError> {
        let mut q: Vec<(String, String)> = topics
            .iter()
            .map(|t| ("topic".to_string(), t.clone()))
            .collect();
        q.push(("index".into(), index.to_string()));
        q.push(("namespace".into(), self.namespace.clone()));
        let (rb, url) = self.request(Method::GET, "/v1/event/stream", &q);
        // No overall timeout on a stream: heartbeats arrive every 30 s, the reader enforces its own idle limit.
        let rb = rb.timeout(Duration::from_secs(365 * 24 * 3600));
        self.send(rb, "GET", &url).await
    }
}

/// Escapes a path segment (job IDs may contain `/` for dispatched children).
pub fn path_escape(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(b as char)
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}
