//! `stampede cost`: a run's or a scenario fleet's cost as text tables.

use std::fmt::Write as _;

use crate::cost::{RunCost, ScenarioCost};

/// The table printed for a run.
pub fn render_run(c: &RunCost) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "cost of run {} ({:.2} h, instance-hours from {}; prices: {})",
        c.run_id, c.duration_h, c.hours_from, c.prices
    );
    let _ = writeln!(
        o,
        "{:<14} {:<15} {:>5} {:>6} {:>11} {:>10} {:>12} {:>13}",
        "type", "region", "spot", "nodes", "inst-hours", "USD", "USD (other)", "interr./day"
    );
    for r in &c.by_type_region {
        let _ = writeln!(
            o,
            "{:<14} {:<15} {:>5} {:>6} {:>11.2} {:>10.2} {:>12.2} {:>13.3}",
            r.instance_type,
            r.region,
            if r.spot { "yes" } else { "no" },
            r.nodes,
            r.instance_hours,
            r.usd,
            r.usd_other,
            r.expected_interruptions_per_day
        );
    }
    let _ = writeln!(
        o,
        "servers: {} on demand in {} ({:.2} inst-hours) = {:.2} USD{}",
        c.servers.count,
        c.servers.region,
        c.servers.instance_hours,
        c.servers.usd,
        if c.servers.unpriced.is_empty() {
            String::new()
        } else {
            format!(
                " (unpriced, unknown type: {})",
                c.servers.unpriced.join(", ")
            )
        }
    );
    let _ = writeln!(
        o,
        "total: {:.2} USD (clients {:.2})",
        c.usd_total, c.usd_clients
    );
    let _ = writeln!(
        o,
        "per hour: {:.2} USD/h all spot, {:.2} USD/h all on demand",
        c.usd_per_hour.spot, c.usd_per_hour.on_demand
    );
    match c.usd_per_1000_jobs {
        Some(x) => {
            let _ = writeln!(o, "per 1,000 jobs: {x:.3} USD ({} jobs)", c.jobs);
        }
        None => o.push_str("per 1,000 jobs: n/a (no job submitted)\n"),
    }
    let _ = writeln!(
        o,
        "spot interruptions: {} observed ({} allocations lost, {:.2} compute-hours wasted); {:.3} expected per day at these rates",
        c.interruptions.observed, c.interruptions.allocs_lost, c.wasted_compute_hours, c.interruptions.expected_per_day
    );
    o
}

/// The table printed for a scenario.
pub fn render_scenario(c: &ScenarioCost) -> String {
    let mut o = String::new();
    let _ = writeln!(
        o,
        "hourly cost of scenario `{}` ({} client nodes; prices: {})",
        c.scenario, c.nodes, c.prices
    );
    let _ = writeln!(
        o,
        "{:<24} {:<14} {:<15} {:>5} {:>6} {:>10} {:>10} {:>10} {:>12}",
        "pool", "type", "region", "spot", "nodes", "USD/h", "spot", "on-demand", "interr./day"
    );
    for p in &c.by_pool {
        let _ = writeln!(
            o,
            "{:<24} {:<14} {:<15} {:>5} {:>6} {:>10.2} {:>10.2} {:>10.2} {:>12.3}",
            p.pool,
            p.instance_type,
            p.region,
            if p.spot { "yes" } else { "no" },
            p.nodes,
            p.usd_per_hour,
            p.usd_per_hour_spot,
            p.usd_per_hour_on_demand,
            p.expected_interruptions_per_day
        );
    }
    let types: Vec<String> = c
        .servers
        .by_type
        .iter()
        .map(|(t, n)| format!("{n} × {t}"))
        .collect();
    let _ = writeln!(
        o,
        "servers: {} on demand in {} = {:.2} USD/h",
        types.join(", "),
        c.servers.region,
        c.servers.usd_per_hour
    );
    let _ = writeln!(
        o,
        "total: {:.2} USD/h as configured; {:.2} USD/h all spot vs {:.2} USD/h all on demand ({:.0}% saved on spot)",
        c.usd_per_hour_total,
        c.usd_per_hour.spot,
        c.usd_per_hour.on_demand,
        if c.usd_per_hour.on_demand > 0.0 { (1.0 - c.usd_per_hour.spot / c.usd_per_hour.on_demand) * 100.0 } else { 0.0 }
    );
    let _ = writeln!(
        o,
        "expected spot interruptions: {:.2} per day",
        c.expected_interruptions_per_day
    );
    o
}
