//! `stampede trace inspect`: a trace's statistics as text.

use std::fmt::Write as _;

use stampede_sim::trace::fit::TraceStats;

fn bar(n: u64, max: u64, width: usize) -> String {
    let k = if max == 0 {
        0
    } else {
        ((n as f64 / max as f64) * width as f64).round() as usize
    };
    "#".repeat(k)
}

/// The text report of `trace inspect`.
pub fn render_stats(s: &TraceStats) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "trace `{}` (source {}{})",
        s.name,
        s.source,
        s.seed.map(|x| format!(", seed {x}")).unwrap_or_default()
    );
    let _ = writeln!(
        o,
        "totals: {} jobs, {} groups, {} allocations (+{} replacements), {:.1} compute-hours, first-attempt failure rate {:.2}%",
        s.jobs,
        s.groups,
        s.allocs,
        s.replacements,
        s.compute_hours,
        s.first_attempt_failure_rate * 100.0
    );
    let a = &s.arrivals;
    let _ = writeln!(
        o,
        "\narrivals over {:.1} h: mean {:.1} jobs/min, p99 {:.0} jobs/min, peak {} jobs/min at minute {} ({:02}:{:02})",
        a.span_s / 3600.0,
        a.mean_per_minute,
        a.p99_per_minute,
        a.peak_minute.jobs,
        a.peak_minute.index,
        (a.peak_minute.index / 60) % 24,
        a.peak_minute.index % 60
    );
    let max_h = a.per_hour.iter().map(|b| b.jobs).max().unwrap_or(0);
    for b in &a.per_hour {
        let _ = writeln!(
            o,
            "  hour {:>4} {:>7} jobs  {}",
            b.index,
            b.jobs,
            bar(b.jobs, max_h, 50)
        );
    }
    let f = &s.fanout;
    let _ = writeln!(
        o,
        "\nfan-out: {} changes ({} jobs without a change), jobs per change mean {:.1}, p50 {}, p90 {}, p99 {}, max {}",
        f.changes, f.jobs_without_change, f.mean, f.p50, f.p90, f.p99, f.max
    );
    for k in ["1", "2-9", "10-99", "100-999", "1000+"] {
        let n = f.by_decade.get(k).copied().unwrap_or(0);
        let _ = writeln!(
            o,
            "  {k:>8} jobs: {n:>6} changes  {}",
            bar(n, f.changes, 50)
        );
    }
    let d = &s.durations;
    let _ = writeln!(
        o,
        "\nrun times ({} outcomes): mean {:.1} s, p50 {:.1} s, p90 {:.1} s, p99 {:.1} s, max {:.1} s",
        d.n, d.mean_s, d.p50_s, d.p90_s, d.p99_s, d.max_s
    );
    match &d.lognormal {
        Some(l) => {
            let _ = writeln!(
                o,
                "  lognormal fit (MLE): mu {:.3}, sigma {:.3} (median {:.1} s, mean {:.1} s), KS D = {:.4}",
                l.mu, l.sigma, l.median_s, l.mean_s, l.ks
            );
        }
        None => o.push_str("  lognormal fit: not enough distinct positive run times\n"),
    }
    match &d.pareto_tail {
        Some(p) => {
            let _ = writeln!(
                o,
                "  Pareto tail fit (Hill) above {} = {:.1} s: alpha {:.3} over {} outcomes ({:.1}%), KS D = {:.4}",
                match d.tail_quantile {
                    Some(q) => format!("the p{}", q * 100.0),
                    None => "the min-KS threshold".to_string(),
                },
                p.x_min_s,
                p.alpha,
                p.n_tail,
                p.tail_fraction * 100.0,
                p.ks
            );
        }
        None => o.push_str("  Pareto tail fit: not enough distinct run times in the tail\n"),
    }
    let _ = writeln!(
        o,
        "\npriorities: {}",
        s.by_priority
            .iter()
            .map(|(p, n)| format!("{p}:{n}"))
            .collect::<Vec<_>>()
            .join(" ")
    );
    o
}
