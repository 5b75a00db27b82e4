//! The capacity plan rendered: `plan.md`, the SVG chart (on the shared chart set-up) and `plan.html`.

use anyhow::Result;
use plotters::chart::ChartContext;
use plotters::coord::types::RangedCoordf64;
use plotters::prelude::*;
use stampede_sim::metric::{Metric, Unit};

use super::charts::{caption_font, color, legend, legend_line, mesh, svg, tick, Area, DrawResult};
use super::html::esc;
use crate::planner::{Candidate, PlanResult};

/// Markdown summary of a plan.
pub fn plan_markdown(p: &PlanResult) -> String {
    use std::fmt::Write;
    let mut s = String::new();
    let _ = writeln!(s, "# Capacity plan: {}\n", p.scenario);
    let _ = writeln!(
        s,
        "- objective: `{}` (≤ {} {})",
        p.slo.text,
        p.slo.threshold,
        p.slo.metric.unit()
    );
    let _ = writeln!(
        s,
        "- trace: {}",
        p.trace.as_deref().unwrap_or("scenario workload")
    );
    let _ = writeln!(
        s,
        "- seeds per candidate: {:?} (common random numbers across candidates)",
        p.seeds
    );
    let _ = writeln!(
        s,
        "- sizing: {}; pricing: {}\n",
        if p.autoscale {
            "autoscaling maximum"
        } else {
            "fixed fleet"
        },
        p.pricing
    );
    match &p.recommended {
        Some(r) => {
            let _ = writeln!(
                s,
                "**Recommended: {} × {} with {} × {} servers, ${:.2}/day**, met by {:.0}% of seeds (worst measured {}).\n",
                r.nodes,
                r.instance_type,
                r.servers,
                r.server_type,
                r.usd_per_day,
                r.confidence * 100.0,
                fmt_measure(r.measured_max, p.slo.metric)
            );
        }
        None => {
            let _ = writeln!(s, "**No candidate met the objective.** Raise `--max-nodes`, try other instance types or larger servers (`--server-types`), or relax the SLO.\n");
        }
    }
    for n in &p.notes {
        let _ = writeln!(s, "- warning: {n}");
    }
    if !p.notes.is_empty() {
        let _ = writeln!(s);
    }
    let _ = writeln!(s, "## Servers\n");
    if let Some(first) = p.server_configs.first() {
        if !first.pinned.is_empty() && p.server_configs.len() > 1 {
            let _ = writeln!(
                s,
                "The scenario pins `{}` in `[cluster]`: kept as set for every server type, not taken from it.\n",
                first.pinned.join("`, `")
            );
        }
    }
    let _ = writeln!(s, "| servers | vCPU × MHz | memory GiB | storage | schedulers | servers $/day | best client fleet | $/day | verdict |");
    let _ = writeln!(s, "|---|---:|---:|---|---:|---:|---|---:|---|");
    for c in &p.server_configs {
        let (fleet, usd) = match &c.best {
            Some(b) => (
                format!("{} × {}", b.nodes, b.instance_type),
                format!("{:.2}", b.usd_per_day),
            ),
            None => ("none meets".into(), "–".into()),
        };
        let _ = writeln!(
            s,
            "| {}{} × {} | {} × {} | {} | {} | {} | {:.2} | {} | {} | {} |",
            if c.recommended { "**→** " } else { "" },
            c.servers,
            c.server_type,
            c.cores,
            c.mhz_per_core,
            crate::report::tables::num(c.memory_gib),
            c.storage,
            c.num_schedulers,
            c.usd_per_day,
            fleet,
            usd,
            c.verdict.replace('|', "\\|")
        );
    }
    let _ = writeln!(s);
    for c in &p.server_configs {
        let _ = writeln!(
            s,
            "## Client fleets with {} × {} servers\n",
            c.servers, c.server_type
        );
        let _ = writeln!(s, "| instance type | nodes | meets | confidence | measured mean | measured max | server CPU max | node-h/day | $/day |");
        let _ = writeln!(s, "|---|---:|:---:|---:|---:|---:|---:|---:|---:|");
        for x in p
            .candidates
            .iter()
            .filter(|x| x.server_type == c.server_type && x.servers == c.servers)
        {
            let _ = writeln!(
                s,
                "| {} | {} | {} | {:.0}% | {} | {} | {:.0}% | {:.1} | {:.2} |",
                x.instance_type,
                x.nodes,
                if x.meets { "yes" } else { "no" },
                x.confidence * 100.0,
                fmt_measure(x.measured_mean, p.slo.metric),
                fmt_measure(x.measured_max, p.slo.metric),
                x.server_cpu_pct_max,
                x.node_hours_per_day,
                x.usd_per_day
            );
        }
        let _ = writeln!(s);
    }
    s
}

/// A measured value of `metric` for people: latencies in seconds, "missed (work left over)" for work that
/// never ran.
pub(crate) fn fmt_measure(v: f64, metric: Metric) -> String {
    if !v.is_finite() {
        "missed (work left over)".into()
    } else {
        match metric.unit() {
            Unit::Ms => format!("{:.1} s", v / 1000.0),
            Unit::S => format!("{v:.0} s"),
            u => format!("{} {u}", crate::report::tables::num(v)),
        }
    }
}

/// `plan.html`: the Markdown summary and the chart, self-contained.
pub fn plan_html(p: &PlanResult) -> Result<String> {
    let md = plan_markdown(p);
    let svg = plan_svg(p)?;
    Ok(format!(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>Capacity plan: {}</title><style>body{{font-family:sans-serif;max-width:1050px;margin:2em auto}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:3px 8px}}</style></head><body><pre style=\"white-space:pre-wrap\">{}</pre>{}</body></html>\n",
        esc(&p.scenario),
        esc(&md),
        svg
    ))
}

/// A plan panel: fleet size (nodes) on x, linear y.
type Panel<'a, 's> = ChartContext<'a, SVGBackend<'s>, Cartesian2d<RangedCoordf64, RangedCoordf64>>;

/// A panel on the shared chart set-up (caption font, mesh, tick labels).
fn panel<'a, 's>(
    area: &'a Area<'s>,
    caption: &str,
    y_desc: &str,
    x_max: f64,
    y_max: f64,
) -> Result<Panel<'a, 's>, Box<dyn std::error::Error>> {
    let mut chart = ChartBuilder::on(area)
        .caption(caption, caption_font())
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(70)
        .build_cartesian_2d(0f64..x_max, 0f64..y_max)?;
    mesh(&mut chart, "nodes", y_desc)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .draw()?;
    Ok(chart)
}

/// A line of the chart: (server type, server count, client instance type).
type Line = (String, u32, String);

/// The lines of a plan in candidate order, and whether labels must name the servers (more than one server
/// configuration).
fn line_keys(p: &PlanResult) -> (Vec<Line>, bool) {
    let mut keys: Vec<Line> = Vec::new();
    for c in &p.candidates {
        let k = (c.server_type.clone(), c.servers, c.instance_type.clone());
        if !keys.contains(&k) {
            keys.push(k);
        }
    }
    (keys, p.server_configs.len() > 1)
}

/// One line (with points) per (servers, instance type) of `y` per candidate.
fn lines(
    chart: &mut Panel<'_, '_>,
    p: &PlanResult,
    keys: &(Vec<Line>, bool),
    y: impl Fn(&Candidate) -> f64,
) -> DrawResult {
    for (i, (st, sn, t)) in keys.0.iter().enumerate() {
        let col = color(i);
        let pts: Vec<(f64, f64)> = p
            .candidates
            .iter()
            .filter(|c| &c.instance_type == t && &c.server_type == st && c.servers == *sn)
            .map(|c| (c.nodes as f64, y(c)))
            .collect();
        let label = if keys.1 {
            format!("{t}, {sn} × {st} servers")
        } else {
            t.clone()
        };
        chart
            .draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?
            .label(label)
            .legend(legend_line(col, 3));
        chart.draw_series(
            pts.into_iter()
                .map(|(x, y)| Circle::new((x, y), 3, col.filled())),
        )?;
    }
    Ok(())
}

/// SVG chart on the shared chart set-up ([`crate::report::charts`]): SLO metric (worst over seeds) and
/// cost per day vs fleet size, one line per (server configuration, client instance type).
pub fn plan_svg(p: &PlanResult) -> Result<String> {
    svg((1000, 700), |root| {
        let (top, bottom) = root.split_vertically(350);
        let x_max = p.candidates.iter().map(|c| c.nodes).max().unwrap_or(1) as f64 * 1.05;
        // Latencies (ms) are drawn in seconds; other units as they are.
        let unit = if p.slo.metric.unit() == Unit::Ms {
            1000.0
        } else {
            1.0
        };
        let finite_max = p
            .candidates
            .iter()
            .map(|c| c.measured_max / unit)
            .filter(|v| v.is_finite())
            .fold(p.slo.threshold / unit, f64::max);
        let keys = line_keys(p);
        let y_desc = match p.slo.metric.unit() {
            Unit::Ms => "seconds (latency)".to_string(),
            Unit::S => "seconds".to_string(),
            u => u.to_string(),
        };
        let caption = format!(
            "SLO metric ({}) vs fleet size — worst of {} seeds",
            p.slo.text,
            p.seeds.len()
        );
        let mut c1 = panel(&top, &caption, &y_desc, x_max, finite_max * 1.1)?;
        let objective = p.slo.threshold / unit;
        c1.draw_series(LineSeries::new(
            [(0.0, objective), (x_max, objective)],
            RED.stroke_width(1),
        ))?
        .label("objective")
        .legend(legend_line(RED, 1));
        lines(&mut c1, p, &keys, |c| {
            if c.measured_max.is_finite() {
                c.measured_max / unit
            } else {
                finite_max * 1.1
            }
        })?;
        legend(&mut c1, SeriesLabelPosition::UpperRight)?;
        let max_usd = p
            .candidates
            .iter()
            .map(|c| c.usd_per_day)
            .fold(1.0, f64::max);
        let caption = "Cost per day vs fleet size (pool + servers)";
        let mut c2 = panel(&bottom, caption, "USD per day", x_max, max_usd * 1.1)?;
        lines(&mut c2, p, &keys, |c| c.usd_per_day)?;
        if let Some(r) = &p.recommended {
            c2.draw_series(std::iter::once(Circle::new(
                (r.nodes as f64, r.usd_per_day),
                7,
                GREEN.stroke_width(3),
            )))?
            .label(format!(
                "recommended: {} × {}, {} × {} servers",
                r.nodes, r.instance_type, r.servers, r.server_type
            ))
            .legend(|(x, y)| Circle::new((x + 7, y), 5, GREEN.stroke_width(2)));
        }
        legend(&mut c2, SeriesLabelPosition::UpperRight)
    })
}
