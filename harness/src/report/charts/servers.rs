//! Chart 3: the control plane per server over time: CPU %, resident memory, Raft bytes written and fsyncs
//! per second. The leader's line is drawn thicker and labelled; leader changes are red vertical lines.

use std::collections::BTreeMap;

use anyhow::Result;
use stampede_sim::record::{MetricRow, RunRecord};

use super::{
    bucket_series, color, record_end_s, svg, time_panel, Agg, Chart, Line, TimeAxis, WIDTH,
};

/// Seconds at which the leader changed, with the new leader's name.
pub(crate) fn leader_changes(metrics: &[MetricRow]) -> Vec<(u64, String)> {
    let mut by_t: BTreeMap<u64, &str> = BTreeMap::new();
    for m in metrics.iter().filter(|m| m.leader) {
        by_t.entry(m.t_s).or_insert(&m.server);
    }
    let mut out = Vec::new();
    let mut cur: Option<&str> = None;
    for (t, s) in by_t {
        if cur.is_some_and(|c| c != s) {
            out.push((t, s.to_string()));
        }
        cur = Some(s);
    }
    out
}

/// Per-server bucketed lines of one metric.
fn per_server(
    metrics: &[MetricRow],
    leaders: &BTreeMap<String, u64>,
    f: impl Fn(&MetricRow) -> Option<f64>,
    scale: f64,
) -> (Vec<Line>, u64) {
    let mut by_server: BTreeMap<&str, Vec<(u64, f64)>> = BTreeMap::new();
    for m in metrics {
        if let Some(v) = f(m) {
            by_server
                .entry(&m.server)
                .or_default()
                .push((m.t_s, v * scale));
        }
    }
    let mut width = 1;
    let lines = by_server
        .into_iter()
        .enumerate()
        .map(|(i, (name, s))| {
            let (pts, w) = bucket_series(&s, Agg::Mean);
            width = width.max(w);
            let lead = leaders.get(name).copied().unwrap_or(0);
            let label = if lead > 0 {
                format!("{name} (leader {lead} s)")
            } else {
                name.to_string()
            };
            Line {
                label,
                pts,
                color: color(i),
                width: if lead > 0 { 3 } else { 1 },
            }
        })
        .collect();
    (lines, width)
}

/// Renders chart 3.
pub(crate) fn render(rec: &RunRecord) -> Result<Chart> {
    const TITLE: &str = "Servers: CPU, memory, Raft writes";
    let m = &rec.metrics;
    let mut leaders: BTreeMap<String, u64> = BTreeMap::new();
    for r in m.iter().filter(|r| r.leader) {
        *leaders.entry(r.server.clone()).or_default() += 1;
    }
    let changes = leader_changes(m);
    let marks: Vec<f64> = changes.iter().map(|c| c.0 as f64).collect();
    let ax = TimeAxis::new(record_end_s(rec));
    let (cpu, w) = per_server(m, &leaders, |r| r.cpu_pct, 1.0);
    let (rss, _) = per_server(m, &leaders, |r| r.rss_bytes, 1.0 / (1024.0 * 1024.0));
    let (raft, _) = per_server(m, &leaders, |r| r.raft_bytes_written, 1.0 / 1024.0);
    let (fsync, _) = per_server(m, &leaders, |r| r.fsyncs, 1.0);
    let svg = svg((WIDTH, 720), |root| {
        let panels = root.split_evenly((2, 2));
        time_panel(
            &panels[0],
            "CPU per server",
            "CPU (% of all cores)",
            ax,
            &cpu,
            &marks,
        )?;
        time_panel(
            &panels[1],
            "Resident memory per server",
            "RSS (MiB)",
            ax,
            &rss,
            &marks,
        )?;
        time_panel(
            &panels[2],
            "Raft log bytes written",
            "written (KiB/s)",
            ax,
            &raft,
            &marks,
        )?;
        time_panel(
            &panels[3],
            "Raft fsyncs",
            "fsyncs (1/s)",
            ax,
            &fsync,
            &marks,
        )?;
        Ok(())
    })?;
    let mut caption = format!(
        "Per server, each point the mean over {w} s. The thick line is the server that led (seconds as leader in the \
         legend); peaks are in the Server peaks table."
    );
    if changes.is_empty() {
        caption.push_str(" No leader change was recorded.");
    } else {
        let list: Vec<String> = changes
            .iter()
            .take(10)
            .map(|(t, s)| format!("{t} s → {s}"))
            .collect();
        caption.push_str(&format!(
            " Red lines: leader changes ({}).",
            list.join(", ")
        ));
    }
    Ok(Chart {
        id: "chart-servers",
        title: TITLE,
        caption,
        svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leader_changes_are_found() {
        let row = |t, s: &str, leader| MetricRow {
            t_s: t,
            server: s.into(),
            leader,
            ..Default::default()
        };
        let m = vec![
            row(0, "a", true),
            row(0, "b", false),
            row(1, "a", true),
            row(2, "b", true),
            row(3, "b", true),
        ];
        assert_eq!(leader_changes(&m), vec![(2, "b".to_string())]);
    }
}
