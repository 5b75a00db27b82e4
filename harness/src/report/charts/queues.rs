//! Chart 4: scheduler pressure over time: eval broker ready / unacked / blocked and plan queue depth (top),
//! plan node rejections per second (bottom).

use anyhow::Result;
use stampede_sim::record::{MetricRow, RunRecord};

use super::{
    bucket_series, cluster_series, color, record_end_s, svg, time_panel, Agg, Chart, Line,
    TimeAxis, WIDTH,
};

fn line(
    m: &[MetricRow],
    label: &str,
    i: usize,
    agg: Agg,
    f: impl Fn(&MetricRow) -> Option<f64>,
) -> (Line, u64) {
    let (pts, w) = bucket_series(&cluster_series(m, f), agg);
    (
        Line {
            label: label.into(),
            pts,
            color: color(i),
            width: 2,
        },
        w,
    )
}

/// Renders chart 4.
pub(crate) fn render(rec: &RunRecord) -> Result<Chart> {
    const TITLE: &str = "Eval broker, plan queue and plan rejections";
    let m = &rec.metrics;
    let ax = TimeAxis::new(record_end_s(rec));
    let (ready, w) = line(m, "broker ready", 0, Agg::Max, |r| r.broker_ready);
    let (unacked, _) = line(m, "broker unacked", 1, Agg::Max, |r| r.broker_unacked);
    let (blocked, _) = line(m, "blocked evals", 4, Agg::Max, |r| r.broker_blocked);
    let (plan, _) = line(m, "plan queue depth", 2, Agg::Max, |r| r.plan_queue_depth);
    let (rej, _) = line(m, "plan node rejections", 4, Agg::Mean, |r| {
        r.plan_node_rejections
    });
    let svg = svg((WIDTH, 640), |root| {
        let (top, bottom) = root.split_vertically(400);
        time_panel(
            &top,
            "Queues (cluster-wide gauges)",
            "evaluations / plans (count)",
            ax,
            &[ready, unacked, blocked, plan],
            &[],
        )?;
        time_panel(
            &bottom,
            "Plan node rejections",
            "rejections (1/s)",
            ax,
            &[rej],
            &[],
        )?;
        Ok(())
    })?;
    Ok(Chart {
        id: "chart-queues",
        title: TITLE,
        caption: format!(
            "Queue gauges are the largest value in each {w}-s bucket (peaks are kept); rejections are the mean rate \
             per bucket. A growing ready queue means evaluations arrive faster than schedulers finish them; \
             blocked evaluations wait for capacity; rejections mean optimistic plans collided on a node."
        ),
        svg,
    })
}
