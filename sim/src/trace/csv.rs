//! The CSV flavour of a trace, for spreadsheets: one row per task group.
//!
//! ```text
//! # {"stampede_trace":1,"name":"monorepo","source":"synth","seed":7,"start_unix_ns":1605571200000000000,"jobs":1}
//! submit_ns,job_id,type,priority,change,datacenters,job_meta,group,count,cpu_mhz,memory_mb,tasks,image,image_bytes,node_class,run_ns,exit
//! 1500000000,d0-c000001-t0042,batch,70,d0-c000001,,,ci,1,2800,3584,test;log-collector,ci-patch:d0-c000001,3000000,,41000000000,ok
//! ```
//!
//! * Line 1 (optional): `# ` followed by the JSON header of the [JSON Lines format](super). Without it the
//!   trace gets a default header (name = the input name, `source = record`, t = 0 at the Unix epoch).
//! * Then the column line, exactly as [`CSV_HEADER`]; then one row per task group. Consecutive rows with
//!   the same `job_id` are the groups of one job, and must agree on the job columns (`submit_ns` … `job_meta`).
//! * Columns mean what the JSON fields of the same name mean (units: ns, MHz, MB, bytes). List columns are
//!   `;`-separated: `datacenters`, `tasks`, and the per-allocation `run_ns` (ns) and `exit` (`ok`/`failed`)
//!   which must have the same length. `job_meta` is a JSON object (string → string) or empty. Empty
//!   `change`/`node_class` means none. Fields are quoted per RFC 4180 when needed; names must not contain
//!   `;` (the writer refuses them).

use std::collections::BTreeMap;
use std::io::Write;

use super::format::{validate_job, Cx};
use super::{
    Exit, Trace, TraceAlloc, TraceError, TraceGroup, TraceHeader, TraceJob, TraceSource,
    TRACE_VERSION,
};
use crate::record::{csv_field, split_csv_line};
use crate::scenario::JobType;

/// The column line.
pub const CSV_HEADER: &str = "submit_ns,job_id,type,priority,change,datacenters,job_meta,group,count,cpu_mhz,memory_mb,tasks,image,image_bytes,node_class,run_ns,exit";

fn join(items: &[String], what: &str) -> std::io::Result<String> {
    if let Some(bad) = items.iter().find(|s| s.contains(';') || s.is_empty()) {
        return Err(std::io::Error::new(
            std::io::ErrorKind::InvalidInput,
            format!("{what} `{bad}` cannot be written to CSV (empty, or contains `;`)"),
        ));
    }
    Ok(items.join(";"))
}

impl Trace {
    /// Writes the trace as CSV (header comment, column line, one row per group).
    pub fn write_csv<W: Write>(&self, mut w: W) -> std::io::Result<()> {
        let mut header = self.header.clone();
        header.jobs = self.jobs.len() as u64;
        w.write_all(b"# ")?;
        serde_json::to_writer(&mut w, &header)?;
        writeln!(w, "\n{CSV_HEADER}")?;
        for j in &self.jobs {
            let dcs = join(&j.datacenters, "datacenter")?;
            let meta = if j.meta.is_empty() {
                String::new()
            } else {
                serde_json::to_string(&j.meta)?
            };
            if j.periodic.is_some() {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::InvalidInput,
                    format!(
                        "job `{}` is periodic, which the CSV trace format cannot carry: write .jsonl",
                        j.id
                    ),
                ));
            }
            for g in &j.groups {
                if g.restart.is_some() || g.reschedule.is_some() || g.max_run_ns.is_some() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "job `{}` group `{}` has a restart or reschedule policy or a max_run_duration, which the CSV trace format cannot carry: write .jsonl",
                            j.id, g.name
                        ),
                    ));
                }
                if g.placement.is_some() || j.node_pool.is_some() {
                    return Err(std::io::Error::new(
                        std::io::ErrorKind::InvalidInput,
                        format!(
                            "job `{}` group `{}` has constraints, affinities, distinct_hosts, ports, disk_mb or a node_pool, which the CSV trace format cannot carry: write .jsonl",
                            j.id, g.name
                        ),
                    ));
                }
                let runs: Vec<String> = g.allocs.iter().map(|a| a.run_ns.to_string()).collect();
                let exits: Vec<&str> = g.allocs.iter().map(|a| a.exit.as_str()).collect();
                writeln!(
                    w,
                    "{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{},{}",
                    j.submit_ns,
                    csv_field(&j.id),
                    j.job_type.as_str(),
                    j.priority,
                    csv_field(j.change.as_deref().unwrap_or("")),
                    csv_field(&dcs),
                    csv_field(&meta),
                    csv_field(&g.name),
                    g.count,
                    g.cpu_mhz,
                    g.memory_mb,
                    csv_field(&join(&g.tasks, "task name")?),
                    csv_field(&g.image),
                    g.image_bytes,
                    csv_field(g.node_class.as_deref().unwrap_or("")),
                    runs.join(";"),
                    exits.join(";"),
                )?;
            }
        }
        Ok(())
    }
}

/// Parses a CSV trace held in memory; errors name `origin` and the line.
pub fn parse_csv_named(text: &str, origin: &str) -> Result<Trace, TraceError> {
    let names: Vec<&str> = CSV_HEADER.split(',').collect();
    let mut header: Option<TraceHeader> = None;
    let mut saw_columns = false;
    let mut jobs: Vec<TraceJob> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let cx = Cx {
            origin,
            line: i + 1,
        };
        let line = raw.trim_end_matches('\r');
        if line.trim().is_empty() {
            continue;
        }
        if !saw_columns {
            if let Some(h) = line.strip_prefix('#') {
                if header.is_some() {
                    return Err(cx.line_err("a second header comment"));
                }
                let src = format!("{}\n", h.trim());
                let r = super::TraceReader::new(src.as_bytes(), origin)
                    .map_err(|e| relocate(e, i + 1))?;
                header = Some(r.header().clone());
                continue;
            }
            if line != CSV_HEADER {
                return Err(cx.line_err(format!("expected the column line `{CSV_HEADER}`")));
            }
            saw_columns = true;
            continue;
        }
        let f = split_csv_line(line).map_err(|m| cx.line_err(m))?;
        if f.len() != names.len() {
            return Err(cx.line_err(format!(
                "expected {} columns, found {}",
                names.len(),
                f.len()
            )));
        }
        let col = |k: usize| -> &str { &f[k] };
        let num = |k: usize| -> Result<u64, TraceError> {
            col(k).parse::<u64>().map_err(|_| {
                cx.field(
                    names[k],
                    format!("`{}` is not a non-negative integer", col(k)),
                )
            })
        };
        let num32 = |k: usize| -> Result<u32, TraceError> {
            let v = num(k)?;
            u32::try_from(v).map_err(|_| cx.field(names[k], format!("{v} is too large")))
        };
        let list = |k: usize| -> Vec<String> {
            if col(k).is_empty() {
                Vec::new()
            } else {
                col(k).split(';').map(str::to_string).collect()
            }
        };
        let opt =
            |k: usize| -> Option<String> { Some(col(k).to_string()).filter(|s| !s.is_empty()) };
        let job_type = JobType::parse(col(2)).ok_or_else(|| {
            cx.field(
                "type",
                format!("`{}`: use batch, service, system or sysbatch", col(2)),
            )
        })?;
        let meta: BTreeMap<String, String> = if col(6).is_empty() {
            BTreeMap::new()
        } else {
            serde_json::from_str(col(6))
                .map_err(|e| cx.field("job_meta", format!("not a JSON object of strings: {e}")))?
        };
        let runs = list(15);
        let exits = list(16);
        if runs.len() != exits.len() {
            return Err(cx.field(
                "exit",
                format!("{} exit statuses for {} run times", exits.len(), runs.len()),
            ));
        }
        let mut allocs = Vec::with_capacity(runs.len());
        for (k, (r, e)) in runs.iter().zip(&exits).enumerate() {
            let run_ns = r.parse::<u64>().map_err(|_| {
                cx.field(
                    format!("run_ns[{k}]"),
                    format!("`{r}` is not a non-negative integer"),
                )
            })?;
            let exit = Exit::parse(e).ok_or_else(|| {
                cx.field(format!("exit[{k}]"), format!("`{e}`: use ok or failed"))
            })?;
            allocs.push(TraceAlloc { run_ns, exit });
        }
        let group = TraceGroup {
            name: col(7).to_string(),
            count: num32(8)?,
            cpu_mhz: num32(9)?,
            memory_mb: num32(10)?,
            tasks: list(11),
            image: col(12).to_string(),
            image_bytes: num(13)?,
            node_class: opt(14),
            restart: None,
            reschedule: None,
            max_run_ns: None,
            placement: None,
            allocs,
        };
        let job = TraceJob {
            submit_ns: num(0)?,
            id: col(1).to_string(),
            job_type,
            priority: num32(3)?,
            change: opt(4),
            datacenters: list(5),
            meta,
            node_pool: None,
            periodic: None,
            groups: Vec::new(),
        };
        match jobs.last_mut() {
            Some(prev) if prev.id == job.id => {
                let same = prev.submit_ns == job.submit_ns
                    && prev.job_type == job.job_type
                    && prev.priority == job.priority
                    && prev.change == job.change
                    && prev.datacenters == job.datacenters
                    && prev.meta == job.meta;
                if !same {
                    return Err(cx.line_err(format!(
                        "job `{}` continues from the previous row but its job columns (submit_ns … job_meta) differ",
                        job.id
                    )));
                }
                prev.groups.push(group);
            }
            prev => {
                if let Some(p) = prev {
                    if job.submit_ns < p.submit_ns {
                        return Err(cx.field("submit_ns", format!("{} is before the previous job's {}: rows must be in non-decreasing submit time", job.submit_ns, p.submit_ns)));
                    }
                }
                let mut job = job;
                job.groups.push(group);
                jobs.push(job);
            }
        }
        let j = jobs.last().expect("just pushed");
        let gi = j.groups.len() - 1;
        // Validate this row's group (and the job once, on its first row).
        let mut probe = j.clone();
        probe.groups = vec![j.groups[gi].clone()];
        validate_job(&probe).map_err(|(field, msg)| {
            let field = match field.strip_prefix("groups[0].") {
                Some(rest) => match rest {
                    "name" => "group".to_string(),
                    "allocs" => "run_ns".to_string(),
                    other => other.to_string(),
                },
                None => field,
            };
            cx.field(field, msg)
        })?;
    }
    if !saw_columns {
        return Err(TraceError::Input {
            origin: origin.to_string(),
            msg: format!("no column line `{CSV_HEADER}`"),
        });
    }
    let header = match header {
        Some(h) => {
            if h.jobs != jobs.len() as u64 {
                return Err(TraceError::Input {
                    origin: origin.to_string(),
                    msg: format!(
                        "the header announces {} jobs but the file has {} (truncated or edited?)",
                        h.jobs,
                        jobs.len()
                    ),
                });
            }
            h
        }
        None => TraceHeader {
            version: TRACE_VERSION,
            name: origin.to_string(),
            source: TraceSource::Record,
            seed: None,
            start_unix_ns: 0,
            jobs: jobs.len() as u64,
            description: String::new(),
            meta: BTreeMap::new(),
        },
    };
    Ok(Trace { header, jobs })
}

/// The header comment is parsed as a one-line JSONL document: move its errors to the real line.
fn relocate(e: TraceError, line: usize) -> TraceError {
    match e {
        TraceError::Field {
            origin, field, msg, ..
        } => TraceError::Field {
            origin,
            line,
            field,
            msg,
        },
        TraceError::Line { origin, msg, .. } => TraceError::Line { origin, line, msg },
        TraceError::Io { origin, source, .. } => TraceError::Io {
            origin,
            line,
            source,
        },
        TraceError::Input { origin, msg } => TraceError::Line { origin, line, msg },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_round_trip_and_errors() {
        let jsonl = concat!(
            r#"{"stampede_trace":1,"name":"t","source":"swf","start_unix_ns":5,"jobs":2}"#,
            "\n",
            r#"{"submit_ns":10,"id":"a,1","type":"batch","priority":50,"change":"c1","datacenters":["dc1","dc2"],"meta":{"k":"v,\""},"groups":[{"name":"g","count":2,"cpu_mhz":100,"memory_mb":64,"tasks":["test","log"],"image":"img","image_bytes":3,"allocs":[{"run_ns":7,"exit":"ok"},{"run_ns":9,"exit":"failed"}]},{"name":"h","count":1,"cpu_mhz":1,"memory_mb":1,"tasks":["x"],"image":"i","image_bytes":0,"node_class":"big","allocs":[{"run_ns":1,"exit":"ok"}]}]}"#,
            "\n",
            r#"{"submit_ns":11,"id":"b","type":"service","priority":1,"groups":[{"name":"g","count":1,"cpu_mhz":1,"memory_mb":1,"tasks":["x"],"image":"i","image_bytes":0,"allocs":[]}]}"#,
            "\n",
        );
        let t = super::super::parse_jsonl(jsonl).unwrap();
        let mut out = Vec::new();
        t.write_csv(&mut out).unwrap();
        let csv = String::from_utf8(out).unwrap();
        assert_eq!(csv.lines().count(), 2 + 3, "{csv}");
        let back = parse_csv_named(&csv, "t.csv").unwrap();
        assert_eq!(back, t);

        let bad = csv.replace(",7;9,ok;failed", ",7;9,ok");
        let e = parse_csv_named(&bad, "t.csv").unwrap_err();
        assert_eq!(
            e.to_string(),
            "t.csv:3: field `exit`: 1 exit statuses for 2 run times"
        );
        let bad = csv.replace(",2,100,64,", ",0,100,64,");
        let e = parse_csv_named(&bad, "t.csv").unwrap_err();
        assert_eq!(e.to_string(), "t.csv:3: field `count`: must be at least 1");
        let no_hdr: String = csv.lines().skip(1).map(|l| format!("{l}\n")).collect();
        let t2 = parse_csv_named(&no_hdr, "x.csv").unwrap();
        assert_eq!(t2.jobs, t.jobs);
        assert_eq!(t2.header.name, "x.csv");
        let truncated: String = csv.lines().take(4).map(|l| format!("{l}\n")).collect();
        assert!(parse_csv_named(&truncated, "t.csv")
            .unwrap_err()
            .to_string()
            .contains("announces 2 jobs"));
    }
}
