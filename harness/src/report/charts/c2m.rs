//! Chart 1, "the C2M chart": cumulative allocations submitted, placed (scheduled) and running vs time, as in
//! HashiCorp's C1M/C2M write-ups. The gap between two curves at a height is the queueing delay of that
//! allocation; the slope of "placed" is the scheduler's throughput.

use anyhow::Result;
use plotters::prelude::*;
use stampede_sim::record::RunRecord;

use super::{
    caption_font, color, legend, legend_line, mesh, no_data, record_end_s, svg, tick, Chart,
    TimeAxis, MAX_POINTS, WIDTH,
};
use crate::report::tables::{int, num};

/// Cumulative count of sorted `times` (seconds) at `MAX_POINTS + 1` evenly spaced instants over `0..end`.
pub(crate) fn cumulative(times: &mut [f64], end: f64) -> Vec<(f64, f64)> {
    times.sort_by(|a, b| a.total_cmp(b));
    (0..=MAX_POINTS)
        .map(|i| {
            let t = end * i as f64 / MAX_POINTS as f64;
            (t, times.partition_point(|&x| x <= t) as f64)
        })
        .collect()
}

/// The three cumulative curves of a record: `(label, points)`, times in seconds.
pub(crate) fn curves(rec: &RunRecord, end: f64) -> Vec<(&'static str, Vec<(f64, f64)>)> {
    let pick = |f: &dyn Fn(&stampede_sim::record::AllocRow) -> Option<u64>| -> Vec<f64> {
        rec.allocs
            .iter()
            .filter_map(|a| f(a).map(|t| t as f64 / 1e9))
            .collect()
    };
    vec![
        ("Submitted", cumulative(&mut pick(&|a| a.submit_ns), end)),
        (
            "Scheduled (placed)",
            cumulative(&mut pick(&|a| a.placed_ns), end),
        ),
        ("Running", cumulative(&mut pick(&|a| a.running_ns), end)),
    ]
}

/// Renders chart 1.
pub(crate) fn render(rec: &RunRecord) -> Result<Chart> {
    const TITLE: &str = "Allocations over time (the C2M chart)";
    let end = record_end_s(rec);
    let series = curves(rec, end);
    let s = &rec.meta.summary;
    let caption = format!(
        "Cumulative allocations submitted, scheduled (placed on a node) and running. The horizontal gap between \
         two curves is how long allocations waited; the slope of the placed curve is the scheduler's throughput \
         ({} allocs/s over the placement window). Each curve is sampled at {} instants.",
        num(s.placement_rate_per_s),
        MAX_POINTS + 1
    );
    let svg = svg((WIDTH, 460), |root| {
        let ymax = series
            .iter()
            .filter_map(|(_, p)| p.last().map(|x| x.1))
            .fold(0.0, f64::max);
        if ymax == 0.0 {
            return no_data(root, TITLE, "the record has no allocation rows");
        }
        let ax = TimeAxis::new(end);
        let mut chart = ChartBuilder::on(root)
            .caption(
                format!("{TITLE}: {} placed", int(s.allocs_placed)),
                caption_font(),
            )
            .margin(12)
            .x_label_area_size(45)
            .y_label_area_size(80)
            .build_cartesian_2d(0f64..ax.max, 0f64..ymax * 1.05)?;
        mesh(&mut chart, ax.desc, "allocations (cumulative count)")
            .y_label_formatter(&|v| tick(*v))
            .x_label_formatter(&|v| tick(*v))
            .draw()?;
        for (i, (label, pts)) in series.iter().enumerate() {
            let c = color(i);
            chart
                .draw_series(LineSeries::new(
                    pts.iter().map(|&(t, n)| (ax.x(t), n)),
                    c.stroke_width(2),
                ))?
                .label(*label)
                .legend(legend_line(c, 3));
        }
        legend(&mut chart, SeriesLabelPosition::LowerRight)
    })?;
    Ok(Chart {
        id: "chart-c2m",
        title: TITLE,
        caption,
        svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cumulative_counts_are_monotone_and_complete() {
        let mut t: Vec<f64> = (0..1000).map(|i| (999 - i) as f64 / 10.0).collect();
        let c = cumulative(&mut t, 100.0);
        assert_eq!(c.len(), MAX_POINTS + 1);
        assert_eq!(c[0], (0.0, 1.0));
        assert_eq!(c.last().unwrap().1, 1000.0);
        assert!(c.windows(2).all(|w| w[0].1 <= w[1].1));
    }
}
