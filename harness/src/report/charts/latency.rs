//! Chart 2: latency distributions of submit → placed, placed → running and submit → running as CDFs on a
//! logarithmic millisecond axis, with p50/p90/p99/max marked on each curve.

use anyhow::Result;
use plotters::prelude::*;
use stampede_sim::record::{AllocRow, RunRecord};

use super::{caption_font, color, legend, legend_line, mesh, no_data, svg, tick, Chart, WIDTH};
use crate::report::tables::num;

/// Quantiles drawn per curve: 300 evenly over 0–90 %, then 200 log-spaced into the tail (to 99.999 %).
pub(crate) fn quantile_grid() -> Vec<f64> {
    let mut q: Vec<f64> = (0..300).map(|i| 0.9 * i as f64 / 300.0).collect();
    q.extend((0..200).map(|i| 1.0 - 0.1 * 10f64.powf(-4.0 * i as f64 / 199.0)));
    q.push(1.0);
    q
}

/// Nearest-rank quantile of sorted `v` (non-empty), `q` in 0..=1.
pub(crate) fn quantile(v: &[f64], q: f64) -> f64 {
    let rank = ((q * v.len() as f64).ceil() as usize).clamp(1, v.len());
    v[rank - 1]
}

/// The marked statistics of a curve.
pub(crate) const MARKS: [(&str, f64); 4] =
    [("p50", 0.5), ("p90", 0.9), ("p99", 0.99), ("max", 1.0)];

/// Latencies of one interval in ms, sorted.
pub(crate) fn interval_ms(
    allocs: &[AllocRow],
    from: fn(&AllocRow) -> Option<u64>,
    to: fn(&AllocRow) -> Option<u64>,
) -> Vec<f64> {
    let mut v: Vec<f64> = allocs
        .iter()
        .filter_map(|a| match (from(a), to(a)) {
            (Some(f), Some(t)) => Some(t.saturating_sub(f) as f64 / 1e6),
            _ => None,
        })
        .collect();
    v.sort_by(|a, b| a.total_cmp(b));
    v
}

/// The three intervals: `(label, sorted ms)`.
pub(crate) fn intervals(rec: &RunRecord) -> Vec<(&'static str, Vec<f64>)> {
    vec![
        (
            "submit → placed",
            interval_ms(&rec.allocs, |a| a.submit_ns, |a| a.placed_ns),
        ),
        (
            "placed → running",
            interval_ms(&rec.allocs, |a| a.placed_ns, |a| a.running_ns),
        ),
        (
            "submit → running",
            interval_ms(&rec.allocs, |a| a.submit_ns, |a| a.running_ns),
        ),
    ]
}

/// Draws CDF curves of `(label, sorted ms, colour, dashed-ish thin?)` on `root`.
pub(crate) fn draw_cdfs(
    root: &super::Area<'_>,
    title: &str,
    curves: &[(String, &[f64], RGBColor, u32)],
) -> super::DrawResult {
    let all = curves.iter().flat_map(|c| c.1.iter().copied());
    let (mut lo, mut hi) = (f64::INFINITY, 0.0f64);
    for v in all {
        if v > 0.0 {
            lo = lo.min(v);
        }
        hi = hi.max(v);
    }
    if hi <= 0.0 {
        return no_data(
            root,
            title,
            "no allocation reached both milestones of any interval",
        );
    }
    let lo = (lo.min(hi) / 1.5).max(0.01);
    let hi = hi * 1.5;
    let mut chart = ChartBuilder::on(root)
        .caption(title, caption_font())
        .margin(12)
        .x_label_area_size(45)
        .y_label_area_size(70)
        .build_cartesian_2d((lo..hi).log_scale(), 0f64..101.0)?;
    mesh(
        &mut chart,
        "latency (ms, log scale)",
        "allocations at or below (%)",
    )
    .x_label_formatter(&|v| tick(*v))
    .y_label_formatter(&|v| format!("{v:.0}"))
    .draw()?;
    let grid = quantile_grid();
    for (label, v, c, w) in curves {
        if v.is_empty() {
            continue;
        }
        let c = *c;
        let pts: Vec<(f64, f64)> = grid
            .iter()
            .map(|&q| (quantile(v, q).max(lo), q * 100.0))
            .collect();
        chart
            .draw_series(LineSeries::new(pts, c.stroke_width(*w)))?
            .label(label.clone())
            .legend(legend_line(c, 3));
        chart.draw_series(
            MARKS
                .iter()
                .map(|&(_, q)| Circle::new((quantile(v, q).max(lo), q * 100.0), 5, c.filled())),
        )?;
    }
    legend(&mut chart, SeriesLabelPosition::LowerRight)
}

/// Legend label with the marked statistics: `submit → placed  p50 12 · p90 40 · p99 80 · max 120 ms`.
pub(crate) fn stats_label(name: &str, v: &[f64]) -> String {
    if v.is_empty() {
        return format!("{name}: no samples");
    }
    let parts: Vec<String> = MARKS
        .iter()
        .map(|&(n, q)| format!("{n} {}", num(quantile(v, q))))
        .collect();
    format!("{name}: {} ms (n={})", parts.join(" · "), v.len())
}

/// Renders chart 2.
pub(crate) fn render(rec: &RunRecord) -> Result<Chart> {
    const TITLE: &str = "Latency distributions (CDF)";
    let iv = intervals(rec);
    let curves: Vec<(String, &[f64], RGBColor, u32)> = iv
        .iter()
        .enumerate()
        .map(|(i, (n, v))| (stats_label(n, v), v.as_slice(), color(i), 2))
        .collect();
    let svg = svg((WIDTH, 480), |root| draw_cdfs(root, TITLE, &curves))?;
    Ok(Chart {
        id: "chart-latency",
        title: TITLE,
        caption: "Share of allocations whose latency is at or below x. Dots mark p50, p90, p99 and max (exact, from \
                  allocs.csv); a curve far to the right of another is the slow stage. Each curve is drawn from 501 \
                  quantiles, denser in the tail."
            .into(),
        svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nearest_rank_quantiles() {
        let v: Vec<f64> = (1..=100).map(f64::from).collect();
        assert_eq!(quantile(&v, 0.5), 50.0);
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&v, 1.0), 100.0);
        assert_eq!(quantile(&v, 0.0), 1.0);
        let g = quantile_grid();
        assert_eq!(g.len(), 501);
        assert!(g.windows(2).all(|w| w[0] < w[1]), "grid must increase");
    }
}
