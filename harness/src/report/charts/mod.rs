//! The charts of `report.html`, one file per chart (criterion's `plot/` layout), drawn with plotters' SVG
//! backend. Every chart:
//! - labels its axes with units;
//! - downsamples: time series to at most [`MAX_POINTS`] buckets, distributions to a few hundred quantiles,
//!   so a 2M-allocation, multi-hour record still gives a page of a few hundred KB that renders at once;
//! - draws a "no data" panel (never an error) when the record has nothing to plot.
//!
//! Text is emitted as SVG `<text>` (plotters without its `ttf` feature estimates text widths itself), so no
//! system font library is needed.

use anyhow::{anyhow, Result};
use plotters::chart::{ChartContext, MeshStyle};
use plotters::coord::ranged1d::ValueFormatter;
use plotters::coord::{CoordTranslate, Shift};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use stampede_sim::record::{MetricRow, RunRecord};

mod c2m;
mod latency;
pub mod overlay;
mod placement;
mod queues;
mod servers;

/// Most points per drawn time series.
pub const MAX_POINTS: usize = 600;

/// Width of every chart, px.
pub(crate) const WIDTH: u32 = 1100;

/// Font family of every text.
pub(crate) const FONT: &str = "sans-serif";

/// A rendered chart.
#[derive(Debug, Clone)]
pub struct Chart {
    /// Stable HTML id (`chart-c2m`, …).
    pub id: &'static str,
    /// Title shown above the chart.
    pub title: &'static str,
    /// What to read from the chart, one or two sentences.
    pub caption: String,
    /// The `<svg>` document.
    pub svg: String,
}

/// All five charts of a record, in reading order.
pub fn render_all(rec: &RunRecord) -> Result<Vec<Chart>> {
    Ok(vec![
        c2m::render(rec)?,
        latency::render(rec)?,
        servers::render(rec)?,
        queues::render(rec)?,
        placement::render(rec)?,
    ])
}

/// Errors inside a drawing closure.
pub(crate) type DrawResult = std::result::Result<(), Box<dyn std::error::Error>>;

/// The drawing area charts draw on.
pub(crate) type Area<'a> = DrawingArea<SVGBackend<'a>, Shift>;

/// Runs `f` on a fresh white SVG canvas of `size` px and returns the SVG text.
pub(crate) fn svg(size: (u32, u32), f: impl FnOnce(&Area<'_>) -> DrawResult) -> Result<String> {
    let mut buf = String::new();
    {
        let root = SVGBackend::with_string(&mut buf, size).into_drawing_area();
        root.fill(&WHITE)
            .map_err(|e| anyhow!("drawing chart: {e}"))?;
        f(&root).map_err(|e| anyhow!("drawing chart: {e}"))?;
        root.present().map_err(|e| anyhow!("drawing chart: {e}"))?;
    }
    Ok(buf)
}

/// Draws a framed panel titled `title` that says `msg` (for empty series).
pub(crate) fn no_data(area: &Area<'_>, title: &str, msg: &str) -> DrawResult {
    let (w, h) = area.dim_in_pixel();
    area.draw(&Rectangle::new(
        [(5, 5), (w as i32 - 5, h as i32 - 5)],
        RGBColor(190, 190, 190).stroke_width(1),
    ))?;
    area.draw(&Text::new(
        title.to_string(),
        (15, 12),
        (FONT, 18).into_font().color(&BLACK),
    ))?;
    let style = (FONT, 16)
        .into_font()
        .color(&RGBColor(110, 110, 110))
        .pos(Pos::new(HPos::Center, VPos::Center));
    area.draw(&Text::new(
        format!("no data: {msg}"),
        (w as i32 / 2, h as i32 / 2),
        style,
    ))?;
    Ok(())
}

/// Colours that stay apart for the usual colour-vision deficiencies (Okabe–Ito).
pub(crate) const COLORS: [RGBColor; 8] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // green
    RGBColor(204, 121, 167), // purple
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(86, 180, 233),  // sky
    RGBColor(120, 120, 120), // grey
    RGBColor(240, 228, 66),  // yellow
];

/// Colour of the n-th series.
pub(crate) fn color(i: usize) -> RGBColor {
    COLORS[i % COLORS.len()]
}

/// Red used for spot interruptions and leader changes.
pub(crate) const EVENT_RED: RGBColor = RGBColor(200, 30, 30);

/// The time axis: seconds, or minutes for runs longer than two hours.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TimeAxis {
    /// Seconds per axis unit.
    pub div: f64,
    /// Axis description with unit.
    pub desc: &'static str,
    /// Axis maximum, in axis units.
    pub max: f64,
}

impl TimeAxis {
    /// An axis spanning `0..end_s` seconds.
    pub fn new(end_s: f64) -> TimeAxis {
        let end_s = if end_s.is_finite() && end_s > 0.0 {
            end_s
        } else {
            1.0
        };
        if end_s > 7200.0 {
            TimeAxis {
                div: 60.0,
                desc: "time since start (min)",
                max: end_s / 60.0,
            }
        } else {
            TimeAxis {
                div: 1.0,
                desc: "time since start (s)",
                max: end_s,
            }
        }
    }
    /// Converts seconds to axis units.
    pub fn x(&self, s: f64) -> f64 {
        s / self.div
    }
}

/// End of the record's time axis, seconds: the latest milestone, metric second or event, at least
/// `duration_s`.
pub(crate) fn record_end_s(rec: &RunRecord) -> f64 {
    let mut end = rec.meta.duration_s.max(0.0);
    for a in &rec.allocs {
        for t in [a.submit_ns, a.placed_ns, a.running_ns]
            .into_iter()
            .flatten()
        {
            end = end.max(t as f64 / 1e9);
        }
    }
    if let Some(m) = rec.metrics.iter().map(|m| m.t_s).max() {
        end = end.max(m as f64 + 1.0);
    }
    for e in &rec.meta.events {
        end = end.max(e.t_ns as f64 / 1e9);
    }
    end
}

/// How values falling in one time bucket combine.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Agg {
    /// Mean (rates: CPU %, bytes/s).
    Mean,
    /// Maximum (gauges whose peaks matter: queue depths).
    Max,
}

/// Buckets per-second `(t_s, value)` samples into at most [`MAX_POINTS`] buckets; returns
/// `(bucket start s, value)` and the bucket width in seconds.
pub(crate) fn bucket_series(samples: &[(u64, f64)], agg: Agg) -> (Vec<(f64, f64)>, u64) {
    let Some(last) = samples.iter().map(|s| s.0).max() else {
        return (Vec::new(), 1);
    };
    let width = (last + 1).div_ceil(MAX_POINTS as u64).max(1);
    let n = (last / width + 1) as usize;
    let mut acc = vec![(0.0f64, 0u32, f64::NEG_INFINITY); n];
    for &(t, v) in samples {
        let b = &mut acc[(t / width) as usize];
        b.0 += v;
        b.1 += 1;
        b.2 = b.2.max(v);
    }
    let pts = acc
        .iter()
        .enumerate()
        .filter(|(_, b)| b.1 > 0)
        .map(|(i, b)| {
            let v = match agg {
                Agg::Mean => b.0 / b.1 as f64,
                Agg::Max => b.2,
            };
            ((i as u64 * width) as f64, v)
        })
        .collect();
    (pts, width)
}

/// Per-second cluster-wide value of a metric: the leader's row when there is one that second, else the
/// largest value of any server (cluster-wide figures are repeated on every row, so rows are never summed).
pub(crate) fn cluster_series(
    metrics: &[MetricRow],
    f: impl Fn(&MetricRow) -> Option<f64>,
) -> Vec<(u64, f64)> {
    let mut by_t: std::collections::BTreeMap<u64, (Option<f64>, Option<f64>)> = Default::default();
    for m in metrics {
        if let Some(v) = f(m) {
            let e = by_t.entry(m.t_s).or_default();
            if m.leader {
                e.0 = Some(v);
            }
            e.1 = Some(e.1.map_or(v, |x: f64| x.max(v)));
        }
    }
    by_t.into_iter()
        .filter_map(|(t, (l, mx))| l.or(mx).map(|v| (t, v)))
        .collect()
}

/// Upper end of a value axis: a bit above the maximum so lines don't touch the frame; 1 when empty or 0.
pub(crate) fn y_top(max: f64) -> f64 {
    if max.is_finite() && max > 0.0 {
        max * 1.08
    } else {
        1.0
    }
}

/// Axis tick label: compact number (`1.2k`, `3.4M`).
pub(crate) fn tick(v: f64) -> String {
    let a = v.abs();
    if a >= 1e9 {
        format!("{:.1}G", v / 1e9)
    } else if a >= 1e6 {
        format!("{:.1}M", v / 1e6)
    } else if a >= 1e4 {
        format!("{:.0}k", v / 1e3)
    } else if a >= 1e3 {
        format!("{:.1}k", v / 1e3)
    } else if a >= 10.0 || v == v.round() {
        format!("{v:.0}")
    } else {
        format!("{v:.2}")
    }
}

/// Font of captions inside a chart.
pub(crate) fn caption_font() -> TextStyle<'static> {
    (FONT, 18).into_font().color(&BLACK)
}

/// Font of axis descriptions.
pub(crate) fn axis_font() -> TextStyle<'static> {
    (FONT, 15).into_font().color(&BLACK)
}

/// Font of tick labels.
pub(crate) fn label_font() -> TextStyle<'static> {
    (FONT, 13).into_font().color(&RGBColor(60, 60, 60))
}

/// A legend entry drawer: a short line in `c`.
pub(crate) fn legend_line(c: RGBColor, w: u32) -> impl Fn((i32, i32)) -> PathElement<(i32, i32)> {
    move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], c.stroke_width(w))
}

/// The one mesh set-up: unit-labelled axis descriptions, the shared fonts and the light grid. Callers add
/// label formatters and counts, then `draw()`.
pub(crate) fn mesh<'a, 'b, 's, X, Y>(
    chart: &'b mut ChartContext<'a, SVGBackend<'s>, Cartesian2d<X, Y>>,
    x_desc: &str,
    y_desc: &str,
) -> MeshStyle<'a, 'b, X, Y, SVGBackend<'s>>
where
    X: Ranged + ValueFormatter<X::ValueType>,
    Y: Ranged + ValueFormatter<Y::ValueType>,
{
    let mut m = chart.configure_mesh();
    m.x_desc(x_desc)
        .y_desc(y_desc)
        .axis_desc_style(axis_font())
        .label_style(label_font())
        .light_line_style(RGBColor(246, 246, 246));
    m
}

/// The one legend set-up: the series labels at `pos`, in the label font, on a light framed box.
pub(crate) fn legend<'a, 's: 'a, CT: CoordTranslate>(
    chart: &mut ChartContext<'a, SVGBackend<'s>, CT>,
    pos: SeriesLabelPosition,
) -> DrawResult {
    chart
        .configure_series_labels()
        .position(pos)
        .label_font(label_font())
        .background_style(WHITE.mix(0.9))
        .border_style(RGBColor(180, 180, 180))
        .draw()?;
    Ok(())
}

/// One line on a time panel.
pub(crate) struct Line {
    /// Legend label.
    pub label: String,
    /// `(seconds, value)` points (already downsampled).
    pub pts: Vec<(f64, f64)>,
    /// Colour.
    pub color: RGBColor,
    /// Stroke width, px.
    pub width: u32,
}

/// Draws a time-series panel: `lines` over `ax`, vertical red markers at `marks` (seconds), and a "no data"
/// panel when no line has a point.
pub(crate) fn time_panel(
    area: &Area<'_>,
    title: &str,
    y_desc: &str,
    ax: TimeAxis,
    lines: &[Line],
    marks: &[f64],
) -> DrawResult {
    if lines.iter().all(|l| l.pts.is_empty()) {
        return no_data(area, title, "the record has no values for this series");
    }
    let ymax = lines
        .iter()
        .flat_map(|l| l.pts.iter().map(|p| p.1))
        .fold(0.0, f64::max);
    let top = y_top(ymax);
    let mut chart = ChartBuilder::on(area)
        .caption(title, (FONT, 16).into_font().color(&BLACK))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(65)
        .build_cartesian_2d(0f64..ax.max, 0f64..top)?;
    mesh(&mut chart, ax.desc, y_desc)
        .x_label_formatter(&|v| tick(*v))
        .y_label_formatter(&|v| tick(*v))
        .x_labels(8)
        .y_labels(6)
        .draw()?;
    for &m in marks {
        let x = ax.x(m);
        chart.draw_series(std::iter::once(PathElement::new(
            vec![(x, 0.0), (x, top)],
            EVENT_RED.mix(0.6).stroke_width(1),
        )))?;
    }
    for l in lines {
        if l.pts.is_empty() {
            continue;
        }
        chart
            .draw_series(LineSeries::new(
                l.pts.iter().map(|&(t, v)| (ax.x(t), v)),
                l.color.stroke_width(l.width),
            ))?
            .label(l.label.clone())
            .legend(legend_line(l.color, l.width.max(2)));
    }
    legend(&mut chart, SeriesLabelPosition::UpperRight)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucketing_caps_points_and_keeps_peaks() {
        let samples: Vec<(u64, f64)> = (0..10_000u64)
            .map(|t| (t, if t == 5_000 { 99.0 } else { 1.0 }))
            .collect();
        let (pts, w) = bucket_series(&samples, Agg::Max);
        assert!(pts.len() <= MAX_POINTS, "{}", pts.len());
        assert_eq!(w, 17);
        assert!(pts.iter().any(|p| p.1 == 99.0));
        let (mean, _) = bucket_series(&samples, Agg::Mean);
        assert!(mean.iter().all(|p| p.1 < 99.0));
        assert!(bucket_series(&[], Agg::Mean).0.is_empty());
    }

    #[test]
    fn ticks_are_compact() {
        assert_eq!(tick(1500.0), "1.5k");
        assert_eq!(tick(2_000_000.0), "2.0M");
        assert_eq!(tick(0.5), "0.50");
        assert_eq!(tick(42.0), "42");
    }
}
