//! The summary tables of a run, independent of the output format (Markdown and HTML render the same tables).

use stampede_sim::record::{Percentiles, RunMeta};

/// A titled table. `header` is empty for key/value tables (two columns: what, value).
#[derive(Debug, Clone)]
pub(crate) struct Table {
    /// Section title.
    pub title: String,
    /// Column names.
    pub header: Vec<String>,
    /// Cells, row by row.
    pub rows: Vec<Vec<String>>,
    /// A sentence under the table (what to read from it), if any.
    pub note: Option<String>,
}

impl Table {
    fn kv(title: &str, rows: Vec<(&str, String)>) -> Table {
        Table {
            title: title.into(),
            header: vec!["".into(), "value".into()],
            rows: rows
                .into_iter()
                .map(|(k, v)| vec![k.to_string(), v])
                .collect(),
            note: None,
        }
    }
}

/// Thousands-separated integer (`1,234,567`).
pub(crate) fn int(n: u64) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A float with a precision that suits its size (3 significant digits for small values, no fraction for
/// large ones), thousands-separated.
pub(crate) fn num(x: f64) -> String {
    if !x.is_finite() {
        return "n/a".into();
    }
    let a = x.abs();
    if a >= 1000.0 {
        let s = int(a.round() as u64);
        if x < 0.0 {
            format!("-{s}")
        } else {
            s
        }
    } else if a >= 100.0 || a == 0.0 || x.fract() == 0.0 {
        format!("{x:.0}")
    } else if a >= 10.0 {
        format!("{x:.1}")
    } else {
        format!("{x:.2}")
    }
}

/// Bytes in binary units (`1.50 GiB`).
pub(crate) fn bytes(b: f64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = b;
    let mut u = 0;
    while v.abs() >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{} B", v.round())
    } else {
        format!("{v:.2} {}", UNITS[u])
    }
}

/// Seconds as `1h 02m 03s` / `2m 05.1s` / `4.20 s`.
pub(crate) fn secs(s: f64) -> String {
    if !s.is_finite() {
        return "n/a".into();
    }
    if s >= 3600.0 {
        let t = s.round() as u64;
        format!(
            "{}h {:02}m {:02}s ({} s)",
            t / 3600,
            t % 3600 / 60,
            t % 60,
            num(s)
        )
    } else if s >= 60.0 {
        format!("{}m {:04.1}s ({} s)", (s / 60.0).floor(), s % 60.0, num(s))
    } else {
        format!("{} s", num(s))
    }
}

/// A UTC timestamp of a Unix-nanosecond instant.
pub(crate) fn utc(unix_ns: u64) -> String {
    let secs = (unix_ns / 1_000_000_000) as i64;
    match chrono::DateTime::from_timestamp(secs, (unix_ns % 1_000_000_000) as u32) {
        Some(t) => t.format("%Y-%m-%d %H:%M:%S UTC").to_string(),
        None => format!("{unix_ns} ns since the Unix epoch"),
    }
}

/// Human name of a latency interval key.
pub(crate) fn interval_label(key: &str) -> &'static str {
    match key {
        "submit_to_placed" => "submit → placed",
        "placed_to_running" => "placed → running",
        "submit_to_running" => "submit → running (queue wait)",
        "running_to_done" => "running → done",
        "submit_to_done" => "submit → done",
        _ => "?",
    }
}

/// One-paragraph headline: what a person wants to know first.
pub(crate) fn headline(meta: &RunMeta) -> String {
    let s = &meta.summary;
    let replacements = if s.allocs_rescheduled > 0 {
        format!(" incl. {} replacements", int(s.allocs_rescheduled))
    } else {
        String::new()
    };
    // A record of a run that did not finish says so before any figure (its figures cover only part of it).
    let mut out = if meta.outcome.is_complete() {
        String::new()
    } else {
        format!(
            "INCOMPLETE RUN (outcome: {}): {} of {} jobs submitted, {} failed to submit; the figures below cover only what was observed. ",
            meta.outcome.as_str(),
            int(s.jobs_submitted),
            int(meta.scenario.jobs),
            int(s.jobs_failed_to_submit)
        )
    };
    out.push_str(&format!(
        "{} allocations placed ({} desired{replacements}), last one running after {} ({} allocs/s); \
         submit → running p50 {} ms, p99 {} ms.",
        int(s.allocs_placed),
        int(s.allocs_desired),
        secs(s.completion_s),
        num(s.placement_rate_per_s),
        num(s.latency_ms.submit_to_running.p50),
        num(s.latency_ms.submit_to_running.p99),
    ));
    if s.latency_ms.submit_to_done.count > 0 {
        out.push_str(&format!(
            " {} allocations finished; makespan {} (first submit → last finished); submit → done p50 {} ms, p99 {} ms.",
            int(s.latency_ms.submit_to_done.count),
            secs(s.makespan_s),
            num(s.latency_ms.submit_to_done.p50),
            num(s.latency_ms.submit_to_done.p99),
        ));
    }
    if !s.slo.is_empty() {
        let missed = s.slo.values().filter(|r| !r.met).count();
        if missed == 0 {
            out.push_str(&format!(" SLO: all {} objectives met.", s.slo.len()));
        } else {
            out.push_str(&format!(
                " SLO: {missed} of {} objectives MISSED.",
                s.slo.len()
            ));
        }
    }
    let failures = s.allocs_lost + s.allocs_failed + s.evals_failed + s.jobs_failed_to_submit;
    if failures > 0 {
        out.push_str(&format!(
            " Failures: {} lost, {} failed allocations, {} failed evaluations, {} jobs not submitted.",
            int(s.allocs_lost),
            int(s.allocs_failed),
            int(s.evals_failed),
            int(s.jobs_failed_to_submit)
        ));
    }
    out
}

fn job_shape(meta: &RunMeta) -> String {
    let sc = &meta.scenario;
    if sc.groups_per_job == 0 {
        return format!(
            "{} {} jobs of varying shape (trace)",
            int(sc.jobs),
            sc.job_type
        );
    }
    let per = |v: u32, unit: &str| {
        if v == 0 {
            "varies".to_string()
        } else {
            format!("{v} {unit}")
        }
    };
    format!(
        "{} {} jobs × {} group(s) × {} alloc(s) = {} allocs; each alloc asks {} CPU, {} memory{}",
        int(sc.jobs),
        sc.job_type,
        sc.groups_per_job,
        sc.count_per_group,
        int(sc.jobs * sc.groups_per_job as u64 * sc.count_per_group as u64),
        per(sc.cpu_mhz, "MHz"),
        per(sc.memory_mb, "MB"),
        if sc.spread_block {
            "; job-level spread block"
        } else {
            ""
        }
    )
}

fn servers_line(meta: &RunMeta) -> String {
    if meta.servers.is_empty() {
        return "none recorded".into();
    }
    let leader = meta
        .servers
        .iter()
        .find(|s| s.leader)
        .map(|s| s.name.as_str())
        .unwrap_or("unknown");
    let first = &meta.servers[0];
    let kind = match (&first.instance_type, first.cores) {
        (Some(t), Some(c)) => format!(", {t} ({c} cores)"),
        (Some(t), None) => format!(", {t}"),
        (None, Some(c)) => format!(", {c} cores"),
        (None, None) => String::new(),
    };
    format!("{} (leader at t = 0: {leader}{kind})", meta.servers.len())
}

fn fleet_line(meta: &RunMeta) -> String {
    if meta.fleet.is_empty() {
        return "none recorded".into();
    }
    meta.fleet
        .iter()
        .map(|f| {
            format!(
                "{} × {} ({}{})",
                int(f.nodes_initial as u64),
                f.instance_type,
                f.pool,
                if f.spot { ", spot" } else { "" }
            )
        })
        .collect::<Vec<_>>()
        .join(" + ")
}

/// "What ran": identity of the run.
pub(crate) fn what_ran(meta: &RunMeta) -> Table {
    let sc = &meta.scenario;
    let scenario = match &sc.path {
        Some(p) => format!("{} ({p})", sc.name),
        None => sc.name.clone(),
    };
    Table::kv(
        "What ran",
        vec![
            ("Run ID", meta.run_id.clone()),
            ("Scenario", scenario),
            ("Source", meta.source.as_str().to_string()),
            (
                "Seed",
                meta.seed
                    .map(|s| s.to_string())
                    .unwrap_or_else(|| "none".into()),
            ),
            ("Nomad version", meta.nomad_version.clone()),
            ("stampede version", meta.tool_version.clone()),
            ("Started", utc(meta.start_unix_ns)),
            ("Observed for", secs(meta.duration_s)),
            ("Scale", format!("{}×", num(sc.scale))),
            ("Scheduler algorithm", sc.algorithm.clone()),
            ("Job shape", job_shape(meta)),
            ("Arrival", sc.arrival.clone()),
            ("Servers", servers_line(meta)),
            ("Client fleet", fleet_line(meta)),
        ],
    )
}

/// The client fleet by pool.
pub(crate) fn fleet(meta: &RunMeta) -> Table {
    Table {
        title: "Client fleet by pool".into(),
        header: [
            "pool",
            "instance type",
            "region",
            "datacenter",
            "spot",
            "nodes at t=0",
            "nodes peak",
            "node-hours (h)",
            "CPU/node (MHz)",
            "memory/node (MB)",
        ]
        .map(String::from)
        .to_vec(),
        rows: meta
            .fleet
            .iter()
            .map(|f| {
                vec![
                    f.pool.clone(),
                    f.instance_type.clone(),
                    f.region.clone(),
                    f.datacenter.clone(),
                    if f.spot { "yes" } else { "no" }.into(),
                    int(f.nodes_initial as u64),
                    int(f.nodes_peak as u64),
                    num(f.node_hours),
                    int(f.cpu_mhz as u64),
                    int(f.memory_mb as u64),
                ]
            })
            .collect(),
        note: None,
    }
}

/// Totals and throughput.
pub(crate) fn totals(meta: &RunMeta) -> Table {
    let s = &meta.summary;
    Table::kv(
        "Totals and throughput",
        vec![
            ("Jobs submitted", int(s.jobs_submitted)),
            ("Allocations desired", int(s.allocs_desired)),
            (
                "Allocations placed (incl. replacements)",
                int(s.allocs_placed),
            ),
            ("Allocations that reached running", int(s.allocs_running)),
            ("Allocations complete", int(s.allocs_complete)),
            (
                "Placement rate (allocs/s, first submit → last placement)",
                num(s.placement_rate_per_s),
            ),
            (
                "Completion (t = 0 → last allocation running)",
                secs(s.completion_s),
            ),
            ("Allocations failed", int(s.allocs_failed)),
            (
                "Makespan (first submit → last allocation finished)",
                if s.latency_ms.submit_to_done.count > 0 {
                    secs(s.makespan_s)
                } else {
                    "none finished".into()
                },
            ),
        ],
    )
}

fn pct_row(name: &str, p: &Percentiles) -> Vec<String> {
    vec![
        name.into(),
        int(p.count),
        num(p.mean),
        num(p.p50),
        num(p.p90),
        num(p.p95),
        num(p.p99),
        num(p.max),
    ]
}

/// Latency percentiles of the three intervals, ms.
pub(crate) fn latency(meta: &RunMeta) -> Table {
    let l = &meta.summary.latency_ms;
    Table {
        title: "Latency (ms)".into(),
        header: ["interval", "samples", "mean", "p50", "p90", "p95", "p99", "max"].map(String::from).to_vec(),
        rows: vec![
            pct_row(interval_label("submit_to_placed"), &l.submit_to_placed),
            pct_row(interval_label("placed_to_running"), &l.placed_to_running),
            pct_row(interval_label("submit_to_running"), &l.submit_to_running),
            pct_row(interval_label("running_to_done"), &l.running_to_done),
            pct_row(interval_label("submit_to_done"), &l.submit_to_done),
        ],
        note: Some(
            "Latencies are measured from the intended submission time (open-loop schedule), so a slow submitter \
             does not hide queueing (no coordinated omission). HDR histogram, 3 significant digits."
                .into(),
        ),
    }
}

/// Control-plane peaks and totals.
pub(crate) fn server_peaks(meta: &RunMeta) -> Table {
    let p = &meta.summary.servers;
    Table::kv(
        "Server peaks",
        vec![
            (
                "Highest CPU of any server (% of all its cores)",
                num(p.cpu_pct_max),
            ),
            (
                "Highest resident memory of any server",
                bytes(p.rss_bytes_max),
            ),
            (
                "Raft bytes written by the leader (total)",
                bytes(p.raft_bytes_written_total),
            ),
            ("Leader fsyncs (total)", int(p.fsyncs_total.round() as u64)),
            ("Deepest plan queue", num(p.plan_queue_depth_max)),
            (
                "Most evaluations ready in the broker",
                num(p.broker_ready_max),
            ),
            ("Most blocked evaluations", num(p.blocked_evals_max)),
        ],
    )
}

/// Failures of any kind.
pub(crate) fn failures(meta: &RunMeta) -> Table {
    let s = &meta.summary;
    Table::kv(
        "Failures",
        vec![
            ("Jobs whose submission failed", int(s.jobs_failed_to_submit)),
            ("Allocations lost with their node", int(s.allocs_lost)),
            ("Allocations failed", int(s.allocs_failed)),
            (
                "Allocations rescheduled (replacements)",
                int(s.allocs_rescheduled),
            ),
            ("Evaluations blocked at some point", int(s.evals_blocked)),
            ("Evaluations failed (delivery limit)", int(s.evals_failed)),
            ("Spot interruptions", int(s.spot_interruptions)),
            (
                "Task restarts in place",
                s.task_restarts
                    .map_or_else(|| "not reported by this source".into(), int),
            ),
        ],
    )
}

/// The SLO verdict, when the scenario states SLOs.
pub(crate) fn slo(meta: &RunMeta) -> Option<Table> {
    let s = &meta.summary;
    if s.slo.is_empty() && meta.scenario.slo.is_empty() {
        return None;
    }
    let mut rows: Vec<Vec<String>> = s
        .slo
        .iter()
        .map(|(k, r)| {
            let unit = if k.ends_with("_ms") {
                " ms"
            } else if k.ends_with("_s") {
                " s"
            } else {
                ""
            };
            vec![
                k.clone(),
                format!("≤ {}{unit}", num(r.threshold)),
                format!("{}{unit}", num(r.measured)),
                if r.met { "met".into() } else { "MISSED".into() },
            ]
        })
        .collect();
    for (k, v) in &meta.scenario.slo {
        if !s.slo.contains_key(k) {
            rows.push(vec![
                k.clone(),
                format!("≤ {}", num(*v)),
                "not measured".into(),
                "unknown key".into(),
            ]);
        }
    }
    let missed = s.slo.values().filter(|r| !r.met).count();
    Some(Table {
        title: "SLO verdict".into(),
        header: ["objective", "threshold", "measured", "verdict"]
            .map(String::from)
            .to_vec(),
        rows,
        note: Some(if missed == 0 {
            format!("All {} stated objectives met.", s.slo.len())
        } else {
            format!("{missed} of {} stated objectives missed.", s.slo.len())
        }),
    })
}

/// Notable events (first 50) and notes.
pub(crate) fn events(meta: &RunMeta) -> Option<Table> {
    if meta.events.is_empty() && meta.notes.is_empty() {
        return None;
    }
    const SHOWN: usize = 50;
    let mut rows: Vec<Vec<String>> = meta
        .events
        .iter()
        .take(SHOWN)
        .map(|e| {
            vec![
                format!("{:.1}", e.t_ns as f64 / 1e9),
                e.kind.clone(),
                e.node_id.clone().unwrap_or_default(),
                e.detail.clone(),
            ]
        })
        .collect();
    for n in &meta.notes {
        rows.push(vec!["".into(), "note".into(), "".into(), n.clone()]);
    }
    let note = (meta.events.len() > SHOWN)
        .then(|| format!("{} more events are in run.json.", meta.events.len() - SHOWN));
    Some(Table {
        title: "Events and notes".into(),
        header: ["t (s)", "kind", "node", "detail"]
            .map(String::from)
            .to_vec(),
        rows,
        note,
    })
}

/// Every table in reading order: verdict first, then what ran, then the figures.
pub(crate) fn all(meta: &RunMeta) -> Vec<Table> {
    let mut t = Vec::new();
    if let Some(s) = slo(meta) {
        t.push(s);
    }
    t.push(what_ran(meta));
    t.push(totals(meta));
    t.push(latency(meta));
    t.push(server_peaks(meta));
    t.push(failures(meta));
    if !meta.fleet.is_empty() {
        t.push(fleet(meta));
    }
    if let Some(e) = events(meta) {
        t.push(e);
    }
    t
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn number_formats() {
        assert_eq!(int(0), "0");
        assert_eq!(int(1234567), "1,234,567");
        assert_eq!(int(100), "100");
        assert_eq!(num(1234.4), "1,234");
        assert_eq!(num(12.345), "12.3");
        assert_eq!(num(1.2345), "1.23");
        assert_eq!(num(-2500.0), "-2,500");
        assert_eq!(bytes(1536.0 * 1024.0 * 1024.0), "1.50 GiB");
        assert_eq!(secs(3723.0), "1h 02m 03s (3,723 s)");
        assert_eq!(secs(125.1), "2m 05.1s (125 s)");
    }
}
