//! The capacity plan rendered: `plan.md`, the SVG chart (on the shared chart set-up) and `plan.html`.

use anyhow::Result;
use stampede_sim::metric::{Metric, Unit};

use crate::planner::PlanResult;
use crate::report::html::esc;

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

/// SVG chart (on the shared canvas of [`crate::report::charts::svg`]): SLO metric (worst over seeds) and cost per day vs fleet size, one line per instance type.
pub fn plan_svg(p: &PlanResult) -> Result<String> {
    use plotters::prelude::*;
    crate::report::charts::svg((1000, 700), |root| {
        let (top, bottom) = root.split_vertically(350);
        let max_n = p.candidates.iter().map(|c| c.nodes).max().unwrap_or(1) as f64;
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
        let colors = [BLUE, RED, GREEN, MAGENTA, CYAN, BLACK];
        let types: Vec<String> = {
            let mut t: Vec<String> = p
                .candidates
                .iter()
                .map(|c| c.instance_type.clone())
                .collect();
            t.dedup();
            t
        };
        let mut c1 = ChartBuilder::on(&top)
            .caption(
                format!(
                    "SLO metric ({}) vs fleet size — worst of {} seeds",
                    p.slo.text,
                    p.seeds.len()
                ),
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..max_n * 1.05, 0f64..finite_max * 1.1)?;
        c1.configure_mesh()
            .x_desc("nodes")
            .y_desc(match p.slo.metric.unit() {
                Unit::Ms => "seconds (latency)".to_string(),
                Unit::S => "seconds".to_string(),
                u => u.to_string(),
            })
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        c1.draw_series(LineSeries::new(
            [
                (0.0, p.slo.threshold / unit),
                (max_n * 1.05, p.slo.threshold / unit),
            ],
            RED.stroke_width(1),
        ))?
        .label("objective")
        .legend(|(x, y)| PathElement::new([(x, y), (x + 15, y)], RED));
        for (i, t) in types.iter().enumerate() {
            let col = colors[i % colors.len()];
            let pts: Vec<(f64, f64)> = p
                .candidates
                .iter()
                .filter(|c| &c.instance_type == t)
                .map(|c| {
                    (
                        c.nodes as f64,
                        if c.measured_max.is_finite() {
                            c.measured_max / unit
                        } else {
                            finite_max * 1.1
                        },
                    )
                })
                .collect();
            c1.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?
                .label(t.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], col));
            c1.draw_series(
                pts.into_iter()
                    .map(|(x, y)| Circle::new((x, y), 3, col.filled())),
            )?;
        }
        c1.configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
        let max_usd = p
            .candidates
            .iter()
            .map(|c| c.usd_per_day)
            .fold(1.0, f64::max);
        let mut c2 = ChartBuilder::on(&bottom)
            .caption(
                "Cost per day vs fleet size (pool + servers)",
                ("sans-serif", 18),
            )
            .margin(10)
            .x_label_area_size(40)
            .y_label_area_size(70)
            .build_cartesian_2d(0f64..max_n * 1.05, 0f64..max_usd * 1.1)?;
        c2.configure_mesh()
            .x_desc("nodes")
            .y_desc("USD per day")
            .light_line_style(RGBColor(235, 235, 235))
            .draw()?;
        for (i, t) in types.iter().enumerate() {
            let col = colors[i % colors.len()];
            let pts: Vec<(f64, f64)> = p
                .candidates
                .iter()
                .filter(|c| &c.instance_type == t)
                .map(|c| (c.nodes as f64, c.usd_per_day))
                .collect();
            c2.draw_series(LineSeries::new(pts.clone(), col.stroke_width(2)))?
                .label(t.clone())
                .legend(move |(x, y)| PathElement::new([(x, y), (x + 15, y)], col));
            c2.draw_series(
                pts.iter()
                    .map(|&(x, y)| Circle::new((x, y), 3, col.filled())),
            )?;
        }
        if let Some(r) = &p.recommended {
            c2.draw_series(std::iter::once(Circle::new(
                (r.nodes as f64, r.usd_per_day),
                7,
                GREEN.stroke_width(3),
            )))?
            .label(format!("recommended: {} × {}", r.nodes, r.instance_type))
            .legend(|(x, y)| Circle::new((x + 7, y), 5, GREEN.stroke_width(2)));
        }
        c2.configure_series_labels()
            .border_style(BLACK)
            .background_style(WHITE.mix(0.8))
            .draw()?;
        Ok(())
    })
}
