//! The JSON Lines trace format (see the [module docs](super) for every field and its unit): parsing with
//! errors that name the line and the field, a streaming reader for big traces, and the writer.

use std::collections::BTreeMap;
use std::io::{BufRead, Write};

use serde_json::{Map, Value};

use super::{
    Exit, Trace, TraceAlloc, TraceError, TraceGroup, TraceHeader, TraceJob, TraceSource,
    TRACE_VERSION, TRACE_VERSION_MIN,
};
use crate::api::{DelayFunction, ReschedulePolicy, RestartMode, RestartPolicy};
use crate::scenario::JobType;

/// Parses a whole JSON Lines trace held in memory. Errors name the input as `trace`; use
/// [`parse_jsonl_named`] to name a file.
pub fn parse_jsonl(text: &str) -> Result<Trace, TraceError> {
    parse_jsonl_named(text, "trace")
}

/// Parses a whole JSON Lines trace; errors name `origin` (e.g. the file name) and the line.
pub fn parse_jsonl_named(text: &str, origin: &str) -> Result<Trace, TraceError> {
    // Large traces parse their job lines on every core (a replayed CI day is 60,000 lines, ~20 MB); the
    // order and count checks then run in file order, so the result and the first error reported are the
    // same as the streaming reader's.
    const PARALLEL_FROM_BYTES: usize = 1 << 20;
    let threads = std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .min(8);
    if text.len() < PARALLEL_FROM_BYTES || threads < 2 {
        return parse_jsonl_serial(text, origin);
    }
    let r = TraceReader::new(text.as_bytes(), origin)?;
    let header = r.header().clone();
    let header_lines = r.line;
    // The bytes the header reader consumed: `header_lines` lines.
    let mut body_start = 0;
    for _ in 0..header_lines {
        body_start = match text[body_start..].find('\n') {
            Some(i) => body_start + i + 1,
            None => text.len(),
        };
    }
    let body = &text[body_start..];
    // Chunks of whole lines, each with the 1-based number of its first line.
    let mut chunks: Vec<(usize, &str)> = Vec::with_capacity(threads);
    let (mut at, mut line) = (0usize, header_lines + 1);
    for k in 0..threads {
        let want = if k + 1 == threads {
            body.len()
        } else {
            (body.len() * (k + 1) / threads).max(at)
        };
        let end = match body.as_bytes()[want..].iter().position(|&b| b == b'\n') {
            Some(i) if k + 1 < threads => want + i + 1,
            _ => body.len(),
        };
        if end > at {
            let chunk = &body[at..end];
            chunks.push((line, chunk));
            line += chunk.bytes().filter(|&b| b == b'\n').count();
        }
        at = end;
    }
    type Parsed = (Vec<(usize, TraceJob)>, Option<TraceError>);
    let parsed: Vec<Parsed> = std::thread::scope(|sc| {
        let handles: Vec<_> = chunks
            .iter()
            .map(|&(first, chunk)| sc.spawn(move || parse_job_lines(chunk, first, origin)))
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|p| std::panic::resume_unwind(p)))
            .collect()
    });
    let mut jobs = Vec::with_capacity(header.jobs.min(1 << 20) as usize);
    let (mut last_submit, mut seen) = (0u64, 0u64);
    for (ok, err) in parsed {
        for (line, job) in ok {
            let cx = Cx { origin, line };
            if job.submit_ns < last_submit {
                return Err(cx.field(
                    "submit_ns",
                    format!("{} is before the previous job's {}: jobs must be in non-decreasing submit time", job.submit_ns, last_submit),
                ));
            }
            seen += 1;
            if seen > header.jobs {
                return Err(cx.line_err(format!(
                    "more jobs than the {} the header announces",
                    header.jobs
                )));
            }
            last_submit = job.submit_ns;
            jobs.push(job);
        }
        if let Some(e) = err {
            return Err(e);
        }
    }
    if seen != header.jobs {
        return Err(TraceError::Input {
            origin: origin.to_string(),
            msg: format!(
                "the header announces {} jobs but the file has {} (truncated or edited?)",
                header.jobs, seen
            ),
        });
    }
    Ok(Trace { header, jobs })
}

/// Parses the job lines of one chunk (first line numbered `first`), stopping at the first bad one.
fn parse_job_lines(
    chunk: &str,
    first: usize,
    origin: &str,
) -> (Vec<(usize, TraceJob)>, Option<TraceError>) {
    let mut out = Vec::with_capacity(chunk.len() / 256 + 1);
    for (i, raw) in chunk.split_inclusive('\n').enumerate() {
        if raw.trim().is_empty() {
            continue;
        }
        let cx = Cx {
            origin,
            line: first + i,
        };
        let v = match serde_json::from_str::<Value>(raw.trim_end_matches(['\n', '\r'])) {
            Ok(v) => v,
            Err(e) => return (out, Some(cx.line_err(format!("not a JSON object: {e}")))),
        };
        match parse_job(&v, &cx) {
            Ok(j) => out.push((cx.line, j)),
            Err(e) => return (out, Some(e)),
        }
    }
    (out, None)
}

/// [`parse_jsonl_named`] on one thread, through the streaming reader.
fn parse_jsonl_serial(text: &str, origin: &str) -> Result<Trace, TraceError> {
    let mut r = TraceReader::new(text.as_bytes(), origin)?;
    let mut jobs = Vec::with_capacity(r.header().jobs.min(1 << 20) as usize);
    for j in &mut r {
        jobs.push(j?);
    }
    Ok(Trace {
        header: r.header().clone(),
        jobs,
    })
}

impl Trace {
    /// Writes the trace as JSON Lines (header, then one job per line). The header's `jobs` is set to the
    /// number of jobs written. Output is deterministic: same trace, same bytes.
    pub fn write_jsonl<W: Write>(&self, mut w: W) -> std::io::Result<()> {
        let mut header = self.header.clone();
        header.jobs = self.jobs.len() as u64;
        serde_json::to_writer(&mut w, &header)?;
        w.write_all(b"\n")?;
        for j in &self.jobs {
            write_job_jsonl(&mut w, j)?;
        }
        Ok(())
    }
}

/// Writes one job as one JSON line (with `\n`).
pub fn write_job_jsonl<W: Write>(mut w: W, job: &TraceJob) -> std::io::Result<()> {
    serde_json::to_writer(&mut w, job)?;
    w.write_all(b"\n")
}

/// Writes a header line (with `\n`); for streaming writers that know the job count in advance.
pub fn write_header_jsonl<W: Write>(mut w: W, header: &TraceHeader) -> std::io::Result<()> {
    serde_json::to_writer(&mut w, header)?;
    w.write_all(b"\n")
}

/// Streams the jobs of a JSON Lines trace from a reader, in order, after the header (the
/// `DatasetReader` shape: `next` yields jobs in non-decreasing submit time). It checks the order, and at
/// the end that the number of jobs matches the header, so a truncated file is an error.
pub struct TraceReader<R: BufRead> {
    r: R,
    origin: String,
    line: usize,
    header: TraceHeader,
    buf: String,
    last_submit: u64,
    seen: u64,
    done: bool,
}

impl<R: BufRead> TraceReader<R> {
    /// Reads the header line. `origin` names the input in errors.
    pub fn new(r: R, origin: &str) -> Result<Self, TraceError> {
        let mut me = TraceReader {
            r,
            origin: origin.to_string(),
            line: 0,
            header: TraceHeader {
                version: TRACE_VERSION,
                name: String::new(),
                source: TraceSource::Record,
                seed: None,
                start_unix_ns: 0,
                jobs: 0,
                description: String::new(),
                meta: BTreeMap::new(),
            },
            buf: String::new(),
            last_submit: 0,
            seen: 0,
            done: false,
        };
        if !me.next_line()? {
            return Err(TraceError::Input {
                origin: me.origin,
                msg: "empty trace: no header line".into(),
            });
        }
        let v = me.json()?;
        me.header = parse_header(&v, &me.cx())?;
        Ok(me)
    }

    /// The header.
    pub fn header(&self) -> &TraceHeader {
        &self.header
    }

    fn cx(&self) -> Cx<'_> {
        Cx {
            origin: &self.origin,
            line: self.line,
        }
    }

    /// Reads the next non-blank line into `buf`; false at end of input.
    fn next_line(&mut self) -> Result<bool, TraceError> {
        loop {
            self.buf.clear();
            self.line += 1;
            let n = self
                .r
                .read_line(&mut self.buf)
                .map_err(|source| TraceError::Io {
                    origin: self.origin.clone(),
                    line: self.line,
                    source,
                })?;
            if n == 0 {
                return Ok(false);
            }
            if !self.buf.trim().is_empty() {
                return Ok(true);
            }
        }
    }

    fn json(&self) -> Result<Value, TraceError> {
        serde_json::from_str::<Value>(self.buf.trim_end_matches(['\n', '\r'])).map_err(|e| {
            TraceError::Line {
                origin: self.origin.clone(),
                line: self.line,
                msg: format!("not a JSON object: {e}"),
            }
        })
    }

    fn read_job(&mut self) -> Result<Option<TraceJob>, TraceError> {
        if !self.next_line()? {
            if self.seen != self.header.jobs {
                return Err(TraceError::Input {
                    origin: self.origin.clone(),
                    msg: format!(
                        "the header announces {} jobs but the file has {} (truncated or edited?)",
                        self.header.jobs, self.seen
                    ),
                });
            }
            return Ok(None);
        }
        let v = self.json()?;
        let job = parse_job(&v, &self.cx())?;
        if job.submit_ns < self.last_submit {
            return Err(self.cx().field(
                "submit_ns",
                format!("{} is before the previous job's {}: jobs must be in non-decreasing submit time", job.submit_ns, self.last_submit),
            ));
        }
        self.seen += 1;
        if self.seen > self.header.jobs {
            return Err(TraceError::Line {
                origin: self.origin.clone(),
                line: self.line,
                msg: format!(
                    "more jobs than the {} the header announces",
                    self.header.jobs
                ),
            });
        }
        self.last_submit = job.submit_ns;
        Ok(Some(job))
    }
}

impl<R: BufRead> Iterator for TraceReader<R> {
    type Item = Result<TraceJob, TraceError>;
    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.read_job() {
            Ok(Some(j)) => Some(Ok(j)),
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// Location of a line, for errors.
#[derive(Clone, Copy)]
pub(crate) struct Cx<'a> {
    pub(crate) origin: &'a str,
    pub(crate) line: usize,
}

impl Cx<'_> {
    pub(crate) fn field(&self, field: impl Into<String>, msg: impl Into<String>) -> TraceError {
        TraceError::Field {
            origin: self.origin.to_string(),
            line: self.line,
            field: field.into(),
            msg: msg.into(),
        }
    }
    pub(crate) fn line_err(&self, msg: impl Into<String>) -> TraceError {
        TraceError::Line {
            origin: self.origin.to_string(),
            line: self.line,
            msg: msg.into(),
        }
    }
}

/// An object being read field by field; `prefix` is the path of the object (`groups[0].`).
struct Obj<'a, 'c> {
    m: &'a Map<String, Value>,
    prefix: String,
    cx: &'c Cx<'c>,
}

impl<'a> Obj<'a, '_> {
    fn path(&self, k: &str) -> String {
        format!("{}{k}", self.prefix)
    }
    fn check_keys(&self, allowed: &[&str]) -> Result<(), TraceError> {
        for k in self.m.keys() {
            if !allowed.contains(&k.as_str()) {
                return Err(self.cx.field(
                    self.path(k),
                    format!("unknown field (known: {})", allowed.join(", ")),
                ));
            }
        }
        Ok(())
    }
    fn get(&self, k: &str) -> Option<&'a Value> {
        self.m.get(k).filter(|v| !v.is_null())
    }
    fn req(&self, k: &str) -> Result<&'a Value, TraceError> {
        self.get(k)
            .ok_or_else(|| self.cx.field(self.path(k), "missing"))
    }
    fn u64(&self, k: &str) -> Result<u64, TraceError> {
        let v = self.req(k)?;
        v.as_u64().ok_or_else(|| {
            self.cx
                .field(self.path(k), format!("`{v}` is not a non-negative integer"))
        })
    }
    fn opt_u64(&self, k: &str) -> Result<Option<u64>, TraceError> {
        match self.get(k) {
            None => Ok(None),
            Some(_) => self.u64(k).map(Some),
        }
    }
    fn u32(&self, k: &str) -> Result<u32, TraceError> {
        let v = self.u64(k)?;
        u32::try_from(v).map_err(|_| {
            self.cx
                .field(self.path(k), format!("{v} is too large (max {})", u32::MAX))
        })
    }
    fn str(&self, k: &str) -> Result<&'a str, TraceError> {
        let v = self.req(k)?;
        v.as_str().ok_or_else(|| {
            self.cx
                .field(self.path(k), format!("`{v}` is not a string"))
        })
    }
    fn opt_str(&self, k: &str) -> Result<Option<&'a str>, TraceError> {
        match self.get(k) {
            None => Ok(None),
            Some(_) => self.str(k).map(Some),
        }
    }
    fn arr(&self, k: &str) -> Result<&'a Vec<Value>, TraceError> {
        let v = self.req(k)?;
        v.as_array()
            .ok_or_else(|| self.cx.field(self.path(k), "not an array"))
    }
    fn opt_arr(&self, k: &str) -> Result<Option<&'a Vec<Value>>, TraceError> {
        match self.get(k) {
            None => Ok(None),
            Some(_) => self.arr(k).map(Some),
        }
    }
    fn strings(&self, k: &str, required: bool) -> Result<Vec<String>, TraceError> {
        let a = if required {
            Some(self.arr(k)?)
        } else {
            self.opt_arr(k)?
        };
        // Exact capacity: a day's trace keeps every parsed job for the whole run.
        let mut out = Vec::with_capacity(a.map_or(0, |a| a.len()));
        for (i, v) in a.into_iter().flatten().enumerate() {
            let s = v.as_str().ok_or_else(|| {
                self.cx
                    .field(format!("{}[{i}]", self.path(k)), "not a string")
            })?;
            out.push(s.to_string());
        }
        Ok(out)
    }
    fn string_map(&self, k: &str) -> Result<BTreeMap<String, String>, TraceError> {
        let mut out = BTreeMap::new();
        if let Some(v) = self.get(k) {
            let m = v
                .as_object()
                .ok_or_else(|| self.cx.field(self.path(k), "not an object"))?;
            for (mk, mv) in m {
                let s = mv.as_str().ok_or_else(|| {
                    self.cx
                        .field(format!("{}.{mk}", self.path(k)), "not a string")
                })?;
                out.insert(mk.clone(), s.to_string());
            }
        }
        Ok(out)
    }
    fn sub(&self, v: &'a Value, path: String) -> Result<Obj<'a, '_>, TraceError> {
        let m = v
            .as_object()
            .ok_or_else(|| self.cx.field(path.clone(), "not an object"))?;
        Ok(Obj {
            m,
            prefix: format!("{path}."),
            cx: self.cx,
        })
    }
}

fn root<'a, 'c>(v: &'a Value, cx: &'c Cx<'c>) -> Result<Obj<'a, 'c>, TraceError> {
    let m = v
        .as_object()
        .ok_or_else(|| cx.line_err("not a JSON object"))?;
    Ok(Obj {
        m,
        prefix: String::new(),
        cx,
    })
}

fn parse_header(v: &Value, cx: &Cx) -> Result<TraceHeader, TraceError> {
    let o = root(v, cx)?;
    if o.get("stampede_trace").is_none() {
        return Err(cx.field(
            "stampede_trace",
            "missing: the first line must be the trace header",
        ));
    }
    o.check_keys(&[
        "stampede_trace",
        "name",
        "source",
        "seed",
        "start_unix_ns",
        "jobs",
        "description",
        "meta",
    ])?;
    let version = o.u32("stampede_trace")?;
    if !(TRACE_VERSION_MIN..=TRACE_VERSION).contains(&version) {
        return Err(cx.field(
            "stampede_trace",
            format!("version {version} is not supported (this build reads {TRACE_VERSION_MIN} to {TRACE_VERSION})"),
        ));
    }
    let src = o.str("source")?;
    let source = TraceSource::parse(src)
        .ok_or_else(|| cx.field("source", format!("`{src}`: use synth, record or swf")))?;
    Ok(TraceHeader {
        version,
        name: o.str("name")?.to_string(),
        source,
        seed: o.opt_u64("seed")?,
        start_unix_ns: o.u64("start_unix_ns")?,
        jobs: o.u64("jobs")?,
        description: o.opt_str("description")?.unwrap_or_default().to_string(),
        meta: o.string_map("meta")?,
    })
}

fn parse_job(v: &Value, cx: &Cx) -> Result<TraceJob, TraceError> {
    let o = root(v, cx)?;
    o.check_keys(&[
        "submit_ns",
        "id",
        "type",
        "priority",
        "change",
        "datacenters",
        "meta",
        "node_pool",
        "periodic",
        "groups",
    ])?;
    let ty = o.str("type")?;
    let job_type = JobType::parse(ty).ok_or_else(|| {
        cx.field(
            "type",
            format!("`{ty}`: use batch, service, system or sysbatch"),
        )
    })?;
    let periodic = match o.get("periodic") {
        None => None,
        Some(v) => {
            let p = o.sub(v, "periodic".to_string())?;
            p.check_keys(&["cron", "prohibit_overlap", "time_zone"])?;
            let prohibit_overlap = match p.get("prohibit_overlap") {
                None => false,
                Some(Value::Bool(b)) => *b,
                Some(_) => {
                    return Err(cx.field(p.path("prohibit_overlap"), "must be true or false"))
                }
            };
            let cron = p.str("cron")?;
            let tz = p.opt_str("time_zone")?.unwrap_or("UTC");
            crate::api::PeriodicSpec::new(cron, prohibit_overlap, tz).map_err(|e| {
                let k = if e.starts_with("time_zone") {
                    "time_zone"
                } else {
                    "cron"
                };
                cx.field(p.path(k), e)
            })?;
            Some(super::TracePeriodic {
                cron: cron.trim().to_string(),
                prohibit_overlap,
            })
        }
    };
    // Exact capacities (groups, allocations): a day's trace keeps every parsed job for the whole run.
    let mut groups = Vec::with_capacity(o.arr("groups")?.len());
    for (i, g) in o.arr("groups")?.iter().enumerate() {
        let g = o.sub(g, format!("groups[{i}]"))?;
        g.check_keys(&[
            "name",
            "count",
            "cpu_mhz",
            "memory_mb",
            "tasks",
            "image",
            "image_bytes",
            "node_class",
            "restart",
            "reschedule",
            "max_run_ns",
            "allocs",
            "constraints",
            "affinities",
            "distinct_hosts",
            "ports",
            "disk_mb",
        ])?;
        let restart = match g.get("restart") {
            None => None,
            Some(v) => {
                let r = g.sub(v, g.path("restart"))?;
                r.check_keys(&["attempts", "interval_ns", "delay_ns", "mode"])?;
                let m = r.str("mode")?;
                let mode = RestartMode::parse(m)
                    .ok_or_else(|| cx.field(r.path("mode"), format!("`{m}`: use fail or delay")))?;
                let p = RestartPolicy {
                    attempts: r.u32("attempts")?,
                    interval_ns: r.u64("interval_ns")?,
                    delay_ns: r.u64("delay_ns")?,
                    mode,
                };
                p.validate()
                    .map_err(|e| cx.field(r.path("interval_ns"), e))?;
                Some(p)
            }
        };
        let reschedule = match g.get("reschedule") {
            None => None,
            Some(v) => {
                let r = g.sub(v, g.path("reschedule"))?;
                r.check_keys(&[
                    "attempts",
                    "interval_ns",
                    "delay_ns",
                    "delay_function",
                    "max_delay_ns",
                    "unlimited",
                ])?;
                let f = r.str("delay_function")?;
                let delay_function = DelayFunction::parse(f).ok_or_else(|| {
                    cx.field(
                        r.path("delay_function"),
                        format!("`{f}`: use constant, exponential or fibonacci"),
                    )
                })?;
                let unlimited = match r.req("unlimited")? {
                    Value::Bool(b) => *b,
                    _ => return Err(cx.field(r.path("unlimited"), "must be true or false")),
                };
                Some(ReschedulePolicy {
                    attempts: r.u32("attempts")?,
                    interval_ns: r.u64("interval_ns")?,
                    delay_ns: r.u64("delay_ns")?,
                    delay_function,
                    max_delay_ns: r.u64("max_delay_ns")?,
                    unlimited,
                })
            }
        };
        let mut allocs = Vec::with_capacity(g.arr("allocs")?.len());
        for (k, a) in g.arr("allocs")?.iter().enumerate() {
            let a = g.sub(a, g.path(&format!("allocs[{k}]")))?;
            a.check_keys(&["run_ns", "exit"])?;
            let e = a.str("exit")?;
            let exit = Exit::parse(e)
                .ok_or_else(|| cx.field(a.path("exit"), format!("`{e}`: use ok or failed")))?;
            allocs.push(TraceAlloc {
                run_ns: a.u64("run_ns")?,
                exit,
            });
        }
        groups.push(TraceGroup {
            name: g.str("name")?.to_string(),
            count: g.u32("count")?,
            cpu_mhz: g.u32("cpu_mhz")?,
            memory_mb: g.u32("memory_mb")?,
            tasks: g.strings("tasks", true)?,
            image: g.str("image")?.to_string(),
            image_bytes: g.u64("image_bytes")?,
            node_class: g.opt_str("node_class")?.map(str::to_string),
            restart,
            reschedule,
            max_run_ns: g.opt_u64("max_run_ns")?,
            placement: parse_placement(&g)?,
            allocs,
        });
    }
    let job = TraceJob {
        submit_ns: o.u64("submit_ns")?,
        id: o.str("id")?.to_string(),
        job_type,
        priority: o.u32("priority")?,
        change: o.opt_str("change")?.map(str::to_string),
        datacenters: o.strings("datacenters", false)?,
        meta: o.string_map("meta")?,
        node_pool: o.opt_str("node_pool")?.map(str::to_string),
        periodic,
        groups,
    };
    validate_job(&job).map_err(|(f, m)| cx.field(f, m))?;
    Ok(job)
}

/// A group's placement fields (version 3): `constraints` and `affinities` (`{"attribute", "operator",
/// "value"[, "weight"]}`), `distinct_hosts` (`"group"`/`"job"`), `ports` (`{"static": [..], "dynamic": n}`),
/// `disk_mb`; `None` when the group has none of them.
fn parse_placement(g: &Obj) -> Result<Option<crate::placement::GroupPlacement>, TraceError> {
    use crate::placement::{Affinity, Constraint, DistinctHosts, GroupPlacement, Ports};
    let keys = [
        "constraints",
        "affinities",
        "distinct_hosts",
        "ports",
        "disk_mb",
    ];
    if keys.iter().all(|k| g.get(k).is_none()) {
        return Ok(None);
    }
    let mut p = GroupPlacement::default();
    for (key, affinity) in [("constraints", false), ("affinities", true)] {
        for (i, c) in g.opt_arr(key)?.into_iter().flatten().enumerate() {
            let c = g.sub(c, g.path(&format!("{key}[{i}]")))?;
            let mut allowed = vec!["attribute", "operator", "value"];
            if affinity {
                allowed.push("weight");
            }
            c.check_keys(&allowed)?;
            let a = c.opt_str("attribute")?.unwrap_or("");
            let op = c.opt_str("operator")?.unwrap_or("=");
            let v = c.opt_str("value")?.unwrap_or("");
            let at = |e: String| g.cx.field(c.path("operator"), e);
            if affinity {
                let w = c.req("weight")?;
                let w = w
                    .as_i64()
                    .filter(|w| (-100..=100).contains(w))
                    .ok_or_else(|| {
                        g.cx.field(c.path("weight"), format!("`{w}`: use −100..=100"))
                    })?;
                p.affinities
                    .push(Affinity::new(a, op, v, w as i32).map_err(at)?);
            } else {
                p.constraints.push(Constraint::new(a, op, v).map_err(at)?);
            }
        }
    }
    if let Some(d) = g.opt_str("distinct_hosts")? {
        p.distinct_hosts = match d {
            "group" => DistinctHosts::Group,
            "job" => DistinctHosts::Job,
            _ => {
                return Err(g
                    .cx
                    .field(g.path("distinct_hosts"), format!("`{d}`: use group or job")))
            }
        };
    }
    if let Some(v) = g.get("ports") {
        let o = g.sub(v, g.path("ports"))?;
        o.check_keys(&["static", "dynamic"])?;
        let mut ports = Ports::default();
        for (i, x) in o.opt_arr("static")?.into_iter().flatten().enumerate() {
            let port = x
                .as_u64()
                .and_then(|x| u16::try_from(x).ok())
                .ok_or_else(|| {
                    g.cx.field(
                        format!("{}[{i}]", o.path("static")),
                        format!("`{x}`: use 1..=65535"),
                    )
                })?;
            ports.static_ports.push(port);
        }
        ports.dynamic = o.opt_u64("dynamic")?.unwrap_or(0).min(u32::MAX as u64) as u32;
        ports
            .validate()
            .map_err(|e| g.cx.field(g.path("ports"), e))?;
        p.ports = ports;
    }
    p.disk_mb = g.opt_u64("disk_mb")?.map(|d| d.min(u32::MAX as u64) as u32);
    Ok(Some(p))
}

/// Semantic checks shared by every reader: returns the failing field path and the reason.
pub(crate) fn validate_job(j: &TraceJob) -> Result<(), (String, String)> {
    if j.id.is_empty() {
        return Err(("id".into(), "must not be empty".into()));
    }
    if !(1..=100).contains(&j.priority) {
        return Err((
            "priority".into(),
            format!("{} must be within 1..=100", j.priority),
        ));
    }
    if j.groups.is_empty() {
        return Err(("groups".into(), "at least one group is required".into()));
    }
    if j.periodic.is_some() && matches!(j.job_type, JobType::Service | JobType::System) {
        return Err((
            "periodic".into(),
            format!(
                "a {} job cannot be periodic (Nomad: only batch and sysbatch jobs)",
                j.job_type.as_str()
            ),
        ));
    }
    let mut total = 0u64;
    for (i, g) in j.groups.iter().enumerate() {
        let f = |k: &str| format!("groups[{i}].{k}");
        if g.name.is_empty() {
            return Err((f("name"), "must not be empty".into()));
        }
        if g.count == 0 {
            return Err((f("count"), "must be at least 1".into()));
        }
        total += g.count as u64;
        if total > crate::limits::MAX_JOB_COUNT {
            return Err((
                f("count"),
                format!(
                    "{total} allocations in this job is beyond Nomad's default job_max_count of {}",
                    crate::limits::MAX_JOB_COUNT
                ),
            ));
        }
        if g.cpu_mhz == 0 {
            return Err((f("cpu_mhz"), "must be at least 1".into()));
        }
        if g.memory_mb == 0 {
            return Err((f("memory_mb"), "must be at least 1".into()));
        }
        if g.tasks.is_empty() {
            return Err((f("tasks"), "at least one task is required".into()));
        }
        if g.tasks.iter().any(String::is_empty) {
            return Err((f("tasks"), "task names must not be empty".into()));
        }
        if g.allocs.is_empty() && matches!(j.job_type, JobType::Batch | JobType::SysBatch) {
            return Err((
                f("allocs"),
                "a batch group needs at least one recorded outcome".into(),
            ));
        }
        // [src] nomad/structs/structs.go `Job.Validate`: "Count cannot exceed 1 with system scheduler".
        if matches!(j.job_type, JobType::System | JobType::SysBatch) && g.count != 1 {
            return Err((
                f("count"),
                format!(
                    "{}: a {} job runs one allocation per eligible node; its count must be 1",
                    g.count,
                    j.job_type.as_str()
                ),
            ));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const HDR: &str =
        r#"{"stampede_trace":1,"name":"t","source":"record","start_unix_ns":5,"jobs":2}"#;
    const J1: &str = r#"{"submit_ns":10,"id":"a","type":"batch","priority":50,"change":"c1","groups":[{"name":"g","count":2,"cpu_mhz":100,"memory_mb":64,"tasks":["test","log"],"image":"img","image_bytes":3,"allocs":[{"run_ns":7,"exit":"ok"},{"run_ns":9,"exit":"failed"},{"run_ns":4,"exit":"ok"}]}]}"#;
    const J2: &str = r#"{"submit_ns":10,"id":"b","type":"service","priority":1,"groups":[{"name":"g","count":1,"cpu_mhz":1,"memory_mb":1,"tasks":["x"],"image":"i","image_bytes":0,"node_class":"big","allocs":[]}]}"#;

    fn text(lines: &[&str]) -> String {
        lines.iter().map(|l| format!("{l}\n")).collect()
    }

    #[test]
    fn parses_and_round_trips() {
        let t = parse_jsonl(&text(&[HDR, J1, J2])).unwrap();
        assert_eq!(t.jobs.len(), 2);
        assert_eq!(
            t.jobs[0].groups[0].allocs[1],
            TraceAlloc {
                run_ns: 9,
                exit: Exit::Failed
            }
        );
        assert_eq!(t.jobs[0].groups[0].compute_ns(), 7 + 9 + 4);
        assert_eq!(t.jobs[0].groups[0].replacements(), 1);
        assert_eq!(t.jobs[1].groups[0].node_class.as_deref(), Some("big"));
        let mut out = Vec::new();
        t.write_jsonl(&mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(s, text(&[HDR, J1, J2]));
        assert_eq!(parse_jsonl(&s).unwrap(), t);
    }

    #[test]
    fn to_job_spec_maps_outcomes() {
        let t = parse_jsonl(&text(&[HDR, J1, J2])).unwrap();
        let s = t.jobs[0].to_job_spec();
        assert_eq!(s.meta.get("change").map(String::as_str), Some("c1"));
        match &s.groups[0].run {
            crate::api::RunPlan::Recorded(v) => {
                assert_eq!(**v, vec![(7, true), (9, false), (4, true)])
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(s.groups[0].image_bytes, 3);
        assert_eq!(
            t.jobs[1].to_job_spec().groups[0].node_class.as_deref(),
            Some("big")
        );
    }

    /// The parallel parse of a large trace gives the streaming reader's trace, and its first error.
    #[test]
    fn parallel_parse_matches_the_serial_reader() {
        let t = crate::trace::synth::synth_monorepo(
            &crate::trace::synth::SynthProfile::monorepo(),
            1,
            3,
        );
        let mut out = Vec::new();
        t.write_jsonl(&mut out).unwrap();
        let mut s = String::from_utf8(out).unwrap();
        s.insert(s.find('\n').unwrap() + 1, '\n'); // a blank line shifts every line number
        assert!(s.len() > 1 << 20, "large enough to parse in parallel");
        let par = parse_jsonl_named(&s, "t.jsonl").unwrap();
        assert_eq!(par, parse_jsonl_serial(&s, "t.jsonl").unwrap());
        assert_eq!(par.jobs.len(), t.jobs.len());
        let lines: Vec<&str> = s.split_inclusive('\n').collect();
        let n = lines.len();
        let edit = |i: usize, f: &dyn Fn(&str) -> String| -> String {
            let mut v: Vec<String> = lines.iter().map(|l| l.to_string()).collect();
            v[i] = f(&v[i]);
            v.concat()
        };
        let cases = [
            // A broken line late in the file (in the last chunk) and early (in the first).
            edit(n - 3, &|l| l.replacen("\"count\":", "\"count\":x", 1)),
            edit(5, &|l| l.replacen("\"cpu_mhz\":", "\"cpu_mhz\":-", 1)),
            // Out of order in the middle, and a truncated file.
            edit(n / 2, &|l| {
                l.replacen("\"submit_ns\":", "\"submit_ns\":1", 1)
            }),
            lines[..n - 2].concat(),
        ];
        for (k, c) in cases.iter().enumerate() {
            let a = parse_jsonl_named(c, "t.jsonl").unwrap_err().to_string();
            let b = parse_jsonl_serial(c, "t.jsonl").unwrap_err().to_string();
            assert_eq!(a, b, "case {k}");
        }
    }

    #[test]
    fn errors_name_line_and_field() {
        let bad = J2.replace(r#""count":1"#, r#""count":0"#);
        let e = parse_jsonl_named(&text(&[HDR, J1, &bad]), "trace.jsonl").unwrap_err();
        assert_eq!(
            e.to_string(),
            "trace.jsonl:3: field `groups[0].count`: must be at least 1"
        );
        let bad = J1.replace(r#""exit":"failed""#, r#""exit":"meh""#);
        let e = parse_jsonl(&text(&[HDR, &bad, J2])).unwrap_err();
        assert_eq!(
            e.to_string(),
            "trace:2: field `groups[0].allocs[1].exit`: `meh`: use ok or failed"
        );
        let early = J2.replace(r#""submit_ns":10"#, r#""submit_ns":9"#);
        let e = parse_jsonl(&text(&[HDR, J1, &early])).unwrap_err();
        assert_eq!(e.line(), Some(3));
        assert!(e.to_string().contains("non-decreasing"), "{e}");
        let e = parse_jsonl(&text(&[HDR, J1])).unwrap_err();
        assert!(
            e.to_string()
                .contains("announces 2 jobs but the file has 1"),
            "{e}"
        );
        let e = parse_jsonl(&text(&[HDR, J1, J2, J2])).unwrap_err();
        assert_eq!(e.line(), Some(4));
        let e = parse_jsonl(&text(&[J1])).unwrap_err();
        assert!(
            e.to_string().starts_with("trace:1: field `stampede_trace`"),
            "{e}"
        );
        let e = parse_jsonl(&text(&[HDR, "{nope"])).unwrap_err();
        assert_eq!(e.line(), Some(2));
        let e = parse_jsonl(&text(&[HDR, &J1.replace("\"priority\"", "\"prio\"")])).unwrap_err();
        assert!(e.to_string().contains("field `prio`: unknown field"), "{e}");
        assert!(parse_jsonl("").is_err());
    }

    /// Version 3: system, sysbatch and periodic jobs round-trip; older versions still read; bad ones named.
    #[test]
    fn job_types_and_periodic_round_trip_and_bad_ones_are_named() {
        let hdr = HDR
            .replace("\"stampede_trace\":1", "\"stampede_trace\":3")
            .replace("\"jobs\":2", "\"jobs\":3");
        let sys = r#"{"submit_ns":0,"id":"agent","type":"system","priority":50,"groups":[{"name":"g","count":1,"cpu_mhz":200,"memory_mb":128,"tasks":["a"],"image":"i","image_bytes":0,"allocs":[]}]}"#;
        let nightly = r#"{"submit_ns":0,"id":"nightly","type":"batch","priority":50,"periodic":{"cron":"0 2 * * *","prohibit_overlap":true},"groups":[{"name":"g","count":4,"cpu_mhz":100,"memory_mb":64,"tasks":["t"],"image":"i","image_bytes":0,"allocs":[{"run_ns":5,"exit":"ok"}]}]}"#;
        let warm = r#"{"submit_ns":1,"id":"warm","type":"sysbatch","priority":50,"groups":[{"name":"g","count":1,"cpu_mhz":100,"memory_mb":64,"tasks":["t"],"image":"i","image_bytes":0,"allocs":[{"run_ns":5,"exit":"ok"}]}]}"#;
        let t = parse_jsonl(&text(&[&hdr, sys, nightly, warm])).unwrap();
        assert_eq!(t.jobs[0].job_type, JobType::System);
        assert_eq!(t.jobs[2].job_type, JobType::SysBatch);
        let spec = t.jobs[1].to_job_spec();
        let p = spec.periodic.as_ref().unwrap();
        assert_eq!((p.spec.as_str(), p.prohibit_overlap), ("0 2 * * *", true));
        let mut out = Vec::new();
        t.write_jsonl(&mut out).unwrap();
        let s = String::from_utf8(out).unwrap();
        assert_eq!(parse_jsonl(&s).unwrap(), t, "round trip");
        assert!(s.starts_with("{\"stampede_trace\":3"), "{s}");
        // The CSV format cannot carry a periodic schedule.
        let e = t.write_csv(Vec::new()).unwrap_err().to_string();
        assert!(e.contains("periodic") && e.contains(".jsonl"), "{e}");
        // Bad inputs name the line and the field.
        for (line, field, want) in [
            (
                sys.replace("\"count\":1", "\"count\":2"),
                "groups[0].count",
                "count must be 1",
            ),
            (
                nightly.replace("0 2 * * *", "0 2 * *"),
                "periodic.cron",
                "4 fields",
            ),
            (
                nightly.replace("\"prohibit_overlap\":true", "\"time_zone\":\"CET\""),
                "periodic.time_zone",
                "only UTC",
            ),
            (
                nightly.replace("\"batch\"", "\"service\""),
                "periodic",
                "cannot be periodic",
            ),
            (
                sys.replace("\"system\"", "\"daemon\""),
                "type",
                "batch, service, system or sysbatch",
            ),
            (
                warm.replace(
                    ",\"allocs\":[{\"run_ns\":5,\"exit\":\"ok\"}]",
                    ",\"allocs\":[]",
                ),
                "groups[0].allocs",
                "recorded outcome",
            ),
        ] {
            let e = parse_jsonl_named(&text(&[&hdr, sys, &line, warm]), "day.jsonl")
                .unwrap_err()
                .to_string();
            assert!(
                e.starts_with(&format!("day.jsonl:3: field `{field}`: ")),
                "{e}"
            );
            assert!(e.contains(want), "{e}");
        }
        // A version 2 trace (no new fields) still reads.
        let v2 = HDR.replace("\"stampede_trace\":1", "\"stampede_trace\":2");
        assert_eq!(parse_jsonl(&text(&[&v2, J1, J2])).unwrap().jobs.len(), 2);
    }

    #[test]
    fn streaming_reader_yields_in_order() {
        let s = text(&[HDR, "", J1, J2]);
        let r = TraceReader::new(std::io::Cursor::new(s), "x").unwrap();
        let ids: Vec<String> = r.map(|j| j.unwrap().id).collect();
        assert_eq!(ids, ["a", "b"]);
    }

    #[test]
    fn group_counts_are_bounded() {
        let bad = J2.replace(r#""count":1"#, r#""count":4000000000"#);
        let e = parse_jsonl_named(&text(&[HDR, J1, &bad]), "big.jsonl").unwrap_err();
        let msg = e.to_string();
        assert!(msg.starts_with("big.jsonl:"), "{msg}");
        assert!(
            msg.contains("groups[0].count") && msg.contains("job_max_count"),
            "{msg}"
        );
    }
}
