//! Chart 5: where allocations went and what was lost: a histogram of allocations per node (placement skew:
//! spread gives a narrow hump around the mean, binpack a pile of full nodes and a pile of empty ones), and
//! lost / rescheduled allocations over time with spot interruptions marked.

use std::collections::BTreeMap;

use anyhow::Result;
use plotters::prelude::*;
use stampede_sim::record::{AllocStatus, RunRecord};

use super::{
    bucket_series, color, mesh, no_data, record_end_s, svg, tick, time_panel, Agg, Chart, Line,
    TimeAxis, EVENT_RED, FONT, WIDTH,
};
use crate::report::tables::num;

/// Allocations placed per node, including nodes of `nodes.csv` that got none.
pub(crate) fn allocs_per_node(rec: &RunRecord) -> Vec<u64> {
    let mut per: BTreeMap<&str, u64> = rec.nodes.iter().map(|n| (n.node_id.as_str(), 0)).collect();
    for a in rec
        .allocs
        .iter()
        .filter(|a| a.placed_ns.is_some() && !a.node_id.is_empty())
    {
        *per.entry(&a.node_id).or_default() += 1;
    }
    per.into_values().collect()
}

/// Mean, population standard deviation, min and max.
pub(crate) fn stats(v: &[u64]) -> (f64, f64, u64, u64) {
    let n = v.len() as f64;
    let mean = v.iter().sum::<u64>() as f64 / n;
    let var = v.iter().map(|&x| (x as f64 - mean).powi(2)).sum::<f64>() / n;
    (
        mean,
        var.sqrt(),
        *v.iter().min().unwrap_or(&0),
        *v.iter().max().unwrap_or(&0),
    )
}

/// Histogram bins of `v`: at most 40 bins of equal integer width; `(lower bound, width, nodes)`.
pub(crate) fn bins(v: &[u64]) -> Vec<(u64, u64, u64)> {
    let max = v.iter().copied().max().unwrap_or(0);
    let width = (max + 1).div_ceil(40).max(1);
    let mut out: Vec<(u64, u64, u64)> = (0..=max / width).map(|i| (i * width, width, 0)).collect();
    for &x in v {
        out[(x / width) as usize].2 += 1;
    }
    out
}

fn skew(root: &super::Area<'_>, per_node: &[u64], algorithm: &str) -> super::DrawResult {
    const T: &str = "Allocations per node (placement skew)";
    if per_node.is_empty() {
        return no_data(root, T, "no allocation was placed on a node");
    }
    let (mean, sd, min, max) = stats(per_node);
    let b = bins(per_node);
    let ymax = b.iter().map(|x| x.2).max().unwrap_or(1) as f64;
    let xmax = (b.last().map(|x| x.0 + x.1).unwrap_or(1)) as f64;
    let title = format!(
        "{T}: {} nodes, mean {} ± {} (sd), min {min}, max {max}, CV {} ({algorithm})",
        per_node.len(),
        num(mean),
        num(sd),
        if mean > 0.0 {
            format!("{:.2}", sd / mean)
        } else {
            "n/a".into()
        }
    );
    let mut chart = ChartBuilder::on(root)
        .caption(title, (FONT, 16).into_font().color(&BLACK))
        .margin(10)
        .x_label_area_size(40)
        .y_label_area_size(65)
        .build_cartesian_2d(0f64..xmax, 0f64..ymax * 1.1)?;
    mesh(
        &mut chart,
        "allocations placed on the node (count)",
        "nodes (count)",
    )
    .x_label_formatter(&|v| tick(*v))
    .y_label_formatter(&|v| tick(*v))
    .draw()?;
    let c = color(0);
    chart.draw_series(b.iter().filter(|x| x.2 > 0).map(|&(lo, w, n)| {
        Rectangle::new(
            [
                (lo as f64, 0.0),
                ((lo + w) as f64 - 0.1 * w as f64, n as f64),
            ],
            c.mix(0.8).filled(),
        )
    }))?;
    Ok(())
}

/// Renders chart 5.
pub(crate) fn render(rec: &RunRecord) -> Result<Chart> {
    const TITLE: &str = "Placement skew, lost and rescheduled allocations";
    let per_node = allocs_per_node(rec);
    let ax = TimeAxis::new(record_end_s(rec));
    let mut lost: Vec<(u64, f64)> = Vec::new();
    let mut resched: Vec<(u64, f64)> = Vec::new();
    for a in &rec.allocs {
        if a.lost || a.status == AllocStatus::Lost {
            if let Some(t) = a.done_ns.or(a.running_ns).or(a.placed_ns) {
                lost.push((t / 1_000_000_000, 1.0));
            }
        }
        if a.rescheduled {
            if let Some(t) = a.placed_ns.or(a.submit_ns) {
                resched.push((t / 1_000_000_000, 1.0));
            }
        }
    }
    // Counts per bucket: sum per second first, then bucket by mean × width = sum.
    let sum_bucketed = |v: &[(u64, f64)]| -> (Vec<(f64, f64)>, u64) {
        let mut per_s: BTreeMap<u64, f64> = BTreeMap::new();
        for &(t, x) in v {
            *per_s.entry(t).or_default() += x;
        }
        let end = ax.max * ax.div;
        // include zero seconds so bucket means are per wall second
        let dense: Vec<(u64, f64)> = (0..=end.ceil() as u64)
            .map(|t| (t, per_s.get(&t).copied().unwrap_or(0.0)))
            .collect();
        let (pts, w) = bucket_series(&dense, Agg::Mean);
        (pts.into_iter().map(|(t, m)| (t, m * w as f64)).collect(), w)
    };
    let (lost_pts, w) = sum_bucketed(&lost);
    let (res_pts, _) = sum_bucketed(&resched);
    let spots: Vec<f64> = rec
        .meta
        .events
        .iter()
        .filter(|e| e.kind == "spot_interruption")
        .map(|e| e.t_ns as f64 / 1e9)
        .collect();
    let has_any = !lost.is_empty() || !resched.is_empty();
    let lines = if has_any {
        vec![
            Line {
                label: format!("lost ({} total)", lost.len()),
                pts: lost_pts,
                color: EVENT_RED,
                width: 2,
            },
            Line {
                label: format!("rescheduled ({} total)", resched.len()),
                pts: res_pts,
                color: color(2),
                width: 2,
            },
        ]
    } else {
        Vec::new()
    };
    let algorithm = rec.meta.scenario.algorithm.clone();
    let svg = svg((WIDTH, 720), |root| {
        let (top, bottom) = root.split_vertically(380);
        skew(&top, &per_node, &algorithm)?;
        let title = format!(
            "Lost and rescheduled allocations per {w} s; red lines: {} spot interruptions",
            spots.len()
        );
        if lines.is_empty() && !spots.is_empty() {
            // Interruptions without losses still deserve their marks.
            let zero = Line {
                label: "lost (0 total)".into(),
                pts: vec![(0.0, 0.0), (ax.max * ax.div, 0.0)],
                color: EVENT_RED,
                width: 1,
            };
            time_panel(
                &bottom,
                &title,
                "allocations (count per bucket)",
                ax,
                &[zero],
                &spots,
            )?;
        } else if lines.is_empty() {
            no_data(
                &bottom,
                &title,
                "no allocation was lost or rescheduled and no spot interruption happened",
            )?;
        } else {
            time_panel(
                &bottom,
                &title,
                "allocations (count per bucket)",
                ax,
                &lines,
                &spots,
            )?;
        }
        Ok(())
    })?;
    Ok(Chart {
        id: "chart-placement",
        title: TITLE,
        caption: "Top: how many nodes got how many allocations. Spread placement gives a narrow hump around the \
                  mean (low coefficient of variation, CV = sd / mean); binpack piles allocations onto few nodes \
                  and leaves others empty (high CV). Bottom: allocations lost with their node and their \
                  replacements, with spot interruptions (run.json events) as red vertical lines."
            .into(),
        svg,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_cover_every_value() {
        let v: Vec<u64> = (0..1000).collect();
        let b = bins(&v);
        assert!(b.len() <= 41, "{}", b.len());
        assert_eq!(b.iter().map(|x| x.2).sum::<u64>(), 1000);
        let (mean, sd, min, max) = stats(&[2, 4, 4, 4, 5, 5, 7, 9]);
        assert_eq!((mean, sd, min, max), (5.0, 2.0, 2, 9));
    }
}
