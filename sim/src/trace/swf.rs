//! Import of the Standard Workload Format (SWF) of the Parallel Workloads Archive.
//!
//! An SWF file has `;` comment/header lines (`; UnixStartTime: 1234` sets the trace's t = 0) and one job
//! per line of 18 whitespace-separated numbers, `-1` meaning unknown:
//!
//! | # | SWF field | mapping |
//! |---|-----------|---------|
//! | 1 | job number | job id `swf-<n>` |
//! | 2 | submit time, s | `submit_ns` = (submit − first submit) × 10⁹; jobs are sorted by submit time (stable) |
//! | 3 | wait time, s | ignored (the replay produces its own) |
//! | 4 | run time, s | `run_ns` of the job's allocations; a job with an unknown (`-1`) run time is skipped and counted |
//! | 5 | allocated processors | processors (else field 8); see [`ProcsAs`] |
//! | 6 | average CPU time used | ignored |
//! | 7 | used memory, KB per processor | memory, `⌈KB/1024⌉` MB (else field 10, else [`SwfOptions::default_memory_mb`]) |
//! | 8 | requested processors | fallback of field 5 (else 1) |
//! | 9 | requested time | ignored |
//! | 10 | requested memory, KB per processor | fallback of field 7 |
//! | 11 | status | 1 → `ok`, 0 → `failed`, 5 (cancelled) → skipped or `failed` per [`SwfOptions::keep_cancelled`]; 3/4 (last part of a checkpointed job, completed/failed) → `ok`/`failed`; 2 (partial execution, more follows) skipped; −1 → `ok` |
//! | 12–16 | user, group, application, queue, partition | kept as job meta `swf_user`, `swf_group`, `swf_app`, `swf_queue`, `swf_partition` when known |
//! | 17, 18 | preceding job, think time | ignored (the replay is open-loop) |
//!
//! Every job becomes a `batch` job at [`SwfOptions::priority`] with one group `main` (task `main`, image
//! `swf`, 0 bytes).

use std::collections::BTreeMap;

use super::format::{validate_job, Cx};
use super::{
    Exit, Trace, TraceAlloc, TraceError, TraceGroup, TraceHeader, TraceJob, TraceSource,
    TRACE_VERSION,
};
use crate::scenario::JobType;

/// How processors map to Nomad resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProcsAs {
    /// One allocation per processor (`count` = processors, `cpu_mhz` = `mhz_per_proc`).
    Count,
    /// One allocation with all processors (`count` = 1, `cpu_mhz` = processors × `mhz_per_proc`, memory ×
    /// processors).
    Cpu,
}

/// Import options.
#[derive(Debug, Clone, PartialEq)]
pub struct SwfOptions {
    /// Trace name.
    pub name: String,
    /// Processor mapping (default [`ProcsAs::Count`]).
    pub procs_as: ProcsAs,
    /// MHz per processor (default 2,500, one core of a current EC2 instance).
    pub mhz_per_proc: u32,
    /// Memory when the log has none, MB per processor (default 1,024).
    pub default_memory_mb: u32,
    /// Keep cancelled jobs (status 5) as failed allocations (default false: skip them).
    pub keep_cancelled: bool,
    /// Priority of every job (default 50).
    pub priority: u32,
}

impl Default for SwfOptions {
    fn default() -> Self {
        SwfOptions {
            name: "swf".into(),
            procs_as: ProcsAs::Count,
            mhz_per_proc: 2_500,
            default_memory_mb: 1_024,
            keep_cancelled: false,
            priority: 50,
        }
    }
}

/// What the import kept and skipped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SwfImportStats {
    /// Job lines read.
    pub lines: u64,
    /// Jobs imported.
    pub imported: u64,
    /// Cancelled jobs skipped.
    pub skipped_cancelled: u64,
    /// Jobs with an unknown run time skipped.
    pub skipped_unknown_runtime: u64,
    /// Partial-execution lines (status 2) skipped.
    pub skipped_partial: u64,
}

const NAMES: [&str; 18] = [
    "job",
    "submit",
    "wait",
    "run",
    "allocated_procs",
    "avg_cpu",
    "used_mem",
    "requested_procs",
    "requested_time",
    "requested_mem",
    "status",
    "user",
    "group",
    "app",
    "queue",
    "partition",
    "preceding_job",
    "think_time",
];

/// Parses an SWF log into a trace. Errors name `origin`, the line and the SWF field.
pub fn import_swf(
    text: &str,
    origin: &str,
    opts: &SwfOptions,
) -> Result<(Trace, SwfImportStats), TraceError> {
    let mut st = SwfImportStats::default();
    let mut start_unix_s: Option<u64> = None;
    let mut rows: Vec<(f64, TraceJob)> = Vec::new();
    for (i, raw) in text.lines().enumerate() {
        let cx = Cx {
            origin,
            line: i + 1,
        };
        let line = raw.trim();
        if line.is_empty() {
            continue;
        }
        if let Some(c) = line.strip_prefix(';') {
            if let Some((k, v)) = c.split_once(':') {
                if k.trim() == "UnixStartTime" {
                    let v = v.trim();
                    start_unix_s = Some(v.parse().map_err(|_| {
                        cx.field(
                            "UnixStartTime",
                            format!("`{v}` is not a non-negative integer"),
                        )
                    })?);
                }
            }
            continue;
        }
        let f: Vec<&str> = line.split_whitespace().collect();
        if f.len() != 18 {
            return Err(cx.line_err(format!(
                "expected 18 whitespace-separated fields, found {}",
                f.len()
            )));
        }
        let mut v = [0f64; 18];
        for (k, s) in f.iter().enumerate() {
            v[k] = match s.parse::<f64>() {
                Ok(x) if x.is_finite() && (x >= 0.0 || x == -1.0) => x,
                _ => return Err(cx.field(NAMES[k], format!("`{s}` is not a number ≥ 0 or -1"))),
            };
        }
        st.lines += 1;
        let known = |k: usize| (v[k] >= 0.0).then_some(v[k]);
        let exit = match v[10] as i64 {
            1 | 3 | -1 => Exit::Ok,
            0 | 4 => Exit::Failed,
            5 if opts.keep_cancelled => Exit::Failed,
            5 => {
                st.skipped_cancelled += 1;
                continue;
            }
            2 => {
                st.skipped_partial += 1;
                continue;
            }
            s => {
                return Err(cx.field(
                    "status",
                    format!("`{s}` is not an SWF status (0, 1, 2, 3, 4, 5 or -1)"),
                ))
            }
        };
        let run_s = match known(3) {
            Some(r) => r,
            None if exit == Exit::Failed && opts.keep_cancelled && v[10] as i64 == 5 => 0.0,
            None => {
                st.skipped_unknown_runtime += 1;
                continue;
            }
        };
        let submit_s = known(1)
            .ok_or_else(|| cx.field("submit", "unknown (-1): every job needs a submit time"))?;
        let job_no = known(0)
            .ok_or_else(|| cx.field("job", "unknown (-1): every job needs a number"))?
            as u64;
        // A fraction of a processor (0.4 rounds to 0) still ran the job on one.
        let procs = known(4)
            .filter(|p| *p > 0.0)
            .or(known(7).filter(|p| *p > 0.0))
            .unwrap_or(1.0)
            .round()
            .max(1.0);
        if procs > u32::MAX as f64 / opts.mhz_per_proc.max(1) as f64 {
            return Err(cx.field(
                if known(4).is_some() {
                    "allocated_procs"
                } else {
                    "requested_procs"
                },
                format!("{procs} processors is too many"),
            ));
        }
        let procs = procs as u32;
        let mem_kb = known(6)
            .filter(|m| *m > 0.0)
            .or(known(9).filter(|m| *m > 0.0));
        let mem_mb_per_proc = match mem_kb {
            Some(kb) => ((kb / 1024.0).ceil() as u64).clamp(1, u32::MAX as u64) as u32,
            None => opts.default_memory_mb.max(1),
        };
        let (count, cpu_mhz, memory_mb) = match opts.procs_as {
            ProcsAs::Count => (procs, opts.mhz_per_proc.max(1), mem_mb_per_proc),
            ProcsAs::Cpu => {
                let mem = (mem_mb_per_proc as u64 * procs as u64).min(u32::MAX as u64) as u32;
                (1, opts.mhz_per_proc.max(1) * procs, mem)
            }
        };
        let mut meta = BTreeMap::new();
        for (k, key) in [
            (11, "swf_user"),
            (12, "swf_group"),
            (13, "swf_app"),
            (14, "swf_queue"),
            (15, "swf_partition"),
        ] {
            if let Some(x) = known(k) {
                meta.insert(key.to_string(), format!("{}", x as u64));
            }
        }
        let job = TraceJob {
            submit_ns: 0,
            id: format!("swf-{job_no}"),
            job_type: JobType::Batch,
            priority: opts.priority.clamp(1, 100),
            change: None,
            datacenters: Vec::new(),
            meta,
            node_pool: None,
            periodic: None,
            groups: vec![TraceGroup {
                name: "main".into(),
                count,
                cpu_mhz,
                memory_mb,
                tasks: vec!["main".into()],
                image: "swf".into(),
                image_bytes: 0,
                node_class: None,
                restart: None,
                reschedule: None,
                max_run_ns: None,
                placement: None,
                allocs: vec![TraceAlloc {
                    run_ns: (run_s * 1e9).round().min(u64::MAX as f64) as u64,
                    exit,
                }],
            }],
        };
        // The import writes a trace the trace reader must accept: check the job by the same rules.
        validate_job(&job).map_err(|(f, m)| cx.line_err(format!("imported job `{f}`: {m}")))?;
        rows.push((submit_s, job));
    }
    rows.sort_by(|a, b| a.0.total_cmp(&b.0));
    let first = rows.first().map(|r| r.0).unwrap_or(0.0);
    let jobs: Vec<TraceJob> = rows
        .into_iter()
        .map(|(s, mut j)| {
            j.submit_ns = ((s - first) * 1e9).round().min(u64::MAX as f64) as u64;
            j
        })
        .collect();
    st.imported = jobs.len() as u64;
    let start_unix_ns = start_unix_s
        .map(|s| s.saturating_add(first as u64).saturating_mul(1_000_000_000))
        .unwrap_or(0);
    let mut meta = BTreeMap::new();
    meta.insert("swf_file".into(), origin.to_string());
    meta.insert(
        "procs_as".into(),
        format!("{:?}", opts.procs_as).to_lowercase(),
    );
    meta.insert("mhz_per_proc".into(), opts.mhz_per_proc.to_string());
    meta.insert("keep_cancelled".into(), opts.keep_cancelled.to_string());
    let header = TraceHeader {
        version: TRACE_VERSION,
        name: opts.name.clone(),
        source: TraceSource::Swf,
        seed: None,
        start_unix_ns,
        jobs: jobs.len() as u64,
        description: format!("imported from SWF {origin}"),
        meta,
    };
    Ok((Trace { header, jobs }, st))
}

#[cfg(test)]
mod tests {
    use super::*;

    const SWF: &str = "; Version: 2.2\n; UnixStartTime: 1000\n\
        1 10 5 100 4 -1 2048 4 200 -1 1 7 1 3 1 1 -1 -1\n\
        2 5 0 30 -1 -1 -1 2 60 4096 0 8 1 3 1 1 -1 -1\n\
        3 20 0 -1 1 -1 -1 1 60 -1 5 8 1 3 1 1 -1 -1\n";

    #[test]
    fn maps_fields() {
        let (t, st) = import_swf(SWF, "x.swf", &SwfOptions::default()).unwrap();
        assert_eq!(
            st,
            SwfImportStats {
                lines: 3,
                imported: 2,
                skipped_cancelled: 1,
                skipped_unknown_runtime: 0,
                skipped_partial: 0
            }
        );
        assert_eq!(t.jobs[0].id, "swf-2");
        assert_eq!(t.jobs[0].submit_ns, 0);
        assert_eq!(t.jobs[1].submit_ns, 5_000_000_000);
        assert_eq!(t.header.start_unix_ns, 1005 * 1_000_000_000);
        let g = &t.jobs[0].groups[0];
        assert_eq!(
            (g.count, g.memory_mb, g.allocs[0].exit),
            (2, 4, Exit::Failed)
        );
        let g = &t.jobs[1].groups[0];
        assert_eq!(
            (g.count, g.cpu_mhz, g.memory_mb, g.allocs[0].run_ns),
            (4, 2500, 2, 100_000_000_000)
        );
        let cpu = SwfOptions {
            procs_as: ProcsAs::Cpu,
            keep_cancelled: true,
            ..Default::default()
        };
        let (t, st) = import_swf(SWF, "x.swf", &cpu).unwrap();
        assert_eq!(st.imported, 3);
        assert_eq!(
            (
                t.jobs[1].groups[0].count,
                t.jobs[1].groups[0].cpu_mhz,
                t.jobs[1].groups[0].memory_mb
            ),
            (1, 10_000, 8)
        );
        assert_eq!(
            t.jobs[2].groups[0].allocs[0],
            TraceAlloc {
                run_ns: 0,
                exit: Exit::Failed
            }
        );
    }

    #[test]
    fn errors_name_line_and_field() {
        let e = import_swf("; c\n1 2 3\n", "a.swf", &SwfOptions::default()).unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.swf:2: expected 18 whitespace-separated fields, found 3"
        );
        let e = import_swf(
            &SWF.replace("4096 0", "4096 x"),
            "a.swf",
            &SwfOptions::default(),
        )
        .unwrap_err();
        assert_eq!(
            e.to_string(),
            "a.swf:4: field `status`: `x` is not a number ≥ 0 or -1"
        );
        let e = import_swf(
            &SWF.replace("4096 0", "4096 9"),
            "a.swf",
            &SwfOptions::default(),
        )
        .unwrap_err();
        assert!(e.to_string().starts_with("a.swf:4: field `status`"), "{e}");
    }

    /// Fuzz finding (fuzz/regressions/trace_swf/): `0.4` allocated processors rounded to a job with
    /// `count = 0`, which the import wrote and the trace reader then rejected.
    #[test]
    fn fractional_processors_make_one() {
        let swf = "1 0 3 60 .4 -1 2048 4 120 -1 1 -1 -1 -1 -1 -1 -1 -1\n";
        for procs_as in [ProcsAs::Count, ProcsAs::Cpu] {
            let opts = SwfOptions {
                procs_as,
                ..Default::default()
            };
            let (t, _) = import_swf(swf, "a.swf", &opts).unwrap();
            let g = &t.jobs[0].groups[0];
            assert_eq!((g.count, g.cpu_mhz), (1, 2500), "{procs_as:?}");
            let mut out = Vec::new();
            t.write_jsonl(&mut out).unwrap();
            let back = crate::trace::parse_jsonl(std::str::from_utf8(&out).unwrap()).unwrap();
            assert_eq!(back, t);
        }
    }
}
