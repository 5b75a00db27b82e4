//! Charts of `stampede compare --html`: the C2M chart and the latency CDFs of both sides overlaid (base in
//! blue, new in orange; one line per record).

use anyhow::Result;
use plotters::prelude::*;
use stampede_sim::record::RunRecord;

use super::{
    caption_font, legend, legend_line, mesh, no_data, record_end_s, svg, tick, TimeAxis, COLORS,
    WIDTH,
};

/// A record's label, its submitted/placed/running curves, and its colour.
type Curves = (String, Vec<Vec<(f64, f64)>>, RGBColor);

const BASE: RGBColor = COLORS[0];
const NEW: RGBColor = COLORS[1];

fn sides<'a>(
    base: &'a [RunRecord],
    new: &'a [RunRecord],
) -> Vec<(String, &'a RunRecord, RGBColor)> {
    let mut v = Vec::new();
    for (i, r) in base.iter().enumerate() {
        v.push((format!("base #{} ({})", i + 1, r.meta.run_id), r, BASE));
    }
    for (i, r) in new.iter().enumerate() {
        v.push((format!("new #{} ({})", i + 1, r.meta.run_id), r, NEW));
    }
    v
}

/// Placed and running cumulative curves of every record (submitted is the same schedule on both sides).
pub fn c2m(base: &[RunRecord], new: &[RunRecord]) -> Result<String> {
    const TITLE: &str = "Allocations placed (solid) and running (thin) over time";
    let recs = sides(base, new);
    let end = recs.iter().map(|r| record_end_s(r.1)).fold(1.0, f64::max);
    let curves: Vec<Curves> = recs
        .iter()
        .map(|(l, r, c)| {
            (
                l.clone(),
                super::c2m::curves(r, end)
                    .into_iter()
                    .map(|x| x.1)
                    .collect(),
                *c,
            )
        })
        .collect();
    svg((WIDTH, 460), |root| {
        let ymax = curves
            .iter()
            .flat_map(|c| c.1.iter().filter_map(|p| p.last().map(|x| x.1)))
            .fold(0.0, f64::max);
        if ymax == 0.0 {
            return no_data(root, TITLE, "no allocation rows on either side");
        }
        let ax = TimeAxis::new(end);
        let mut chart = ChartBuilder::on(root)
            .caption(TITLE, caption_font())
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..ax.max, 0f64..ymax * 1.05)?;
        mesh(&mut chart, ax.desc, "allocations (cumulative count)")
            .x_label_formatter(&|v| tick(*v))
            .y_label_formatter(&|v| tick(*v))
            .draw()?;
        for (label, series, c) in &curves {
            let c = *c;
            let placed = series[1].iter().map(|&(t, n)| (ax.x(t), n));
            chart
                .draw_series(LineSeries::new(placed, c.stroke_width(2)))?
                .label(label.clone())
                .legend(legend_line(c, 3));
            let running = series[2].iter().map(|&(t, n)| (ax.x(t), n));
            chart.draw_series(LineSeries::new(running, c.mix(0.7).stroke_width(1)))?;
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })
}

/// One CDF panel per interval, each with every record's curve.
pub fn cdfs(base: &[RunRecord], new: &[RunRecord]) -> Result<String> {
    let recs = sides(base, new);
    let per: Vec<Vec<(&'static str, Vec<f64>)>> = recs
        .iter()
        .map(|r| super::latency::intervals(r.1))
        .collect();
    svg((WIDTH, 1260), |root| {
        let panels = root.split_evenly((3, 1));
        for (i, panel) in panels.iter().enumerate() {
            let name = per.first().map(|p| p[i].0).unwrap_or("latency");
            let curves: Vec<(String, &[f64], RGBColor, u32)> = recs
                .iter()
                .zip(&per)
                .map(|((l, _, c), iv)| {
                    (
                        super::latency::stats_label(l, &iv[i].1),
                        iv[i].1.as_slice(),
                        *c,
                        2,
                    )
                })
                .collect();
            super::latency::draw_cdfs(panel, &format!("{name} latency (CDF)"), &curves)?;
        }
        Ok(())
    })
}
