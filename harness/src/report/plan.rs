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
                "**Recommended: {} × {}, ${:.2}/day**, met by {:.0}% of seeds (worst measured {}).\n",
                r.nodes,
                r.instance_type,
                r.usd_per_day,
                r.confidence * 100.0,
                fmt_measure(r.measured_max, p.slo.metric)
            );
        }
        None => {
            let _ = writeln!(s, "**No candidate met the objective.** Raise `--max-nodes`, try other instance types, or relax the SLO.\n");
        }
    }
    let _ = writeln!(s, "| instance type | nodes | meets | confidence | measured mean | measured max | node-h/day | $/day |");
    let _ = writeln!(s, "|---|---:|:---:|---:|---:|---:|---:|---:|");
    for c in &p.candidates {
        let _ = writeln!(
            s,
            "| {} | {} | {} | {:.0}% | {} | {} | {:.1} | {:.2} |",
            c.instance_type,
            c.nodes,
            if c.meets { "yes" } else { "no" },
            c.confidence * 100.0,
            fmt_measure(c.measured_mean, p.slo.metric),
            fmt_measure(c.measured_max, p.slo.metric),
            c.node_hours_per_day,
            c.usd_per_day
        );
    }
    s
}

fn fmt_measure(v: f64, metric: Metric) -> String {
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

/// One line (with points) per instance type of `y` per candidate.
fn lines(
    chart: &mut Panel<'_, '_>,
    p: &PlanResult,
    types: &[String],
    y: impl Fn(&Candidate) -> f64,
) -> DrawResult {
    for (i, t) in types.iter().enumerate() {
        let col = color(i);
        let pts: Vec<(f64, f64)> = p
            .candidates
            .iter()
            .filter(|c| &c.instance_type == t)
            .map(|c| (c.nodes as f64, y(c)))
            .collect();
        chart
            .draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?
            .label(t.clone())
            .legend(legend_line(col, 3));
        chart.draw_series(
            pts.into_iter()
                .map(|(x, y)| Circle::new((x, y), 3, col.filled())),
        )?;
    }
    Ok(())
}

/// SVG chart on the shared chart set-up ([`crate::report::charts`]): SLO metric (worst over seeds) and
/// cost per day vs fleet size, one line per instance type.
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
        let mut types: Vec<String> = p
            .candidates
            .iter()
            .map(|c| c.instance_type.clone())
            .collect();
        types.dedup();
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
        lines(&mut c1, p, &types, |c| {
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
        lines(&mut c2, p, &types, |c| c.usd_per_day)?;
        if let Some(r) = &p.recommended {
            c2.draw_series(std::iter::once(Circle::new(
                (r.nodes as f64, r.usd_per_day),
                7,
                GREEN.stroke_width(3),
            )))?
            .label(format!("recommended: {} × {}", r.nodes, r.instance_type))
            .legend(|(x, y)| Circle::new((x + 7, y), 5, GREEN.stroke_width(2)));
        }
        legend(&mut c2, SeriesLabelPosition::UpperRight)
    })
}
