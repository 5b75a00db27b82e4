//! `stampede cost`: the cost model on hand-made records and scenarios with hand-computed answers.

use crate::common::{argv, bin_output, cli, fixture};
use stampede::cost::prices::PriceTable;
use stampede::cost::{run_cost, CostOptions, DAYS_PER_MONTH};
use stampede::files::record::write_record;
use stampede_sim::record::{
    AllocRow, AllocStatus, FleetEntry, NodeRow, RunEvent, RunMeta, RunRecord, ScenarioInfo,
    ServerInfo, Source, Summary, SCHEMA_VERSION,
};

fn close(a: f64, b: f64) -> bool {
    (a - b).abs() < 1e-9
}

const H: u64 = 3_600_000_000_000;

fn node(id: &str, ty: &str, spot: bool, joined_ns: u64, left_ns: Option<u64>) -> NodeRow {
    NodeRow {
        node_id: id.into(),
        name: id.into(),
        pool: ty.into(),
        instance_type: ty.into(),
        region: "us-east-1".into(),
        datacenter: "dc1".into(),
        spot,
        cpu_mhz: 1000,
        memory_mb: 1000,
        joined_ns,
        left_ns,
        left_reason: if left_ns.is_some() {
            "spot_interruption".into()
        } else {
            String::new()
        },
    }
}

fn alloc(id: &str, running_ns: Option<u64>, done_ns: Option<u64>, lost: bool) -> AllocRow {
    AllocRow {
        job_id: "j".into(),
        alloc_id: id.into(),
        node_id: "n2".into(),
        task_group: "g".into(),
        submit_ns: Some(0),
        sent_ns: Some(0),
        placed_ns: Some(0),
        running_ns,
        done_ns,
        status: if lost {
            AllocStatus::Lost
        } else {
            AllocStatus::Complete
        },
        lost,
        rescheduled: false,
        replaces: String::new(),
    }
}

/// A 2-hour run: two m5.xlarge spot nodes (one interrupted after 1 h), one on-demand i3.2xlarge from 0.5 h,
/// three servers of which two have a known type, 100 jobs, two lost allocations.
fn record() -> RunRecord {
    let server = |n: &str, t: Option<&str>| ServerInfo {
        name: n.into(),
        address: "a".into(),
        leader: false,
        instance_type: t.map(Into::into),
        cores: None,
    };
    let meta = RunMeta {
        schema_version: SCHEMA_VERSION,
        tool_version: "0".into(),
        run_id: "hand".into(),
        source: Source::Sim,
        seed: Some(1),
        nomad_version: "sim".into(),
        start_unix_ns: 0,
        duration_s: 7200.0,
        outcome: Default::default(),
        scenario: ScenarioInfo {
            name: "hand".into(),
            path: None,
            scale: 1.0,
            algorithm: "binpack".into(),
            jobs: 100,
            job_type: "batch".into(),
            groups_per_job: 1,
            count_per_group: 1,
            cpu_mhz: 100,
            memory_mb: 100,
            spread_block: false,
            arrival: "all-at-once".into(),
            slo: Default::default(),
        },
        servers: vec![
            server("s1", Some("i3.16xlarge")),
            server("s2", Some("i3.16xlarge")),
            server("s3", None),
        ],
        fleet: vec![FleetEntry {
            pool: "m5".into(),
            instance_type: "m5.xlarge".into(),
            region: "us-east-1".into(),
            datacenter: "dc1".into(),
            spot: true,
            nodes_initial: 2,
            nodes_peak: 2,
            node_hours: 10.0,
            cpu_mhz: 1000,
            memory_mb: 1000,
        }],
        summary: Summary {
            jobs_submitted: 100,
            ..Default::default()
        },
        events: vec![RunEvent {
            t_ns: H,
            kind: "spot_interruption".into(),
            node_id: Some("n2".into()),
            detail: String::new(),
        }],
        notes: vec![],
        control_plane: None,
        calibration: None,
    };
    RunRecord {
        meta,
        allocs: vec![
            alloc(
                "a1",
                Some(1000 * 1_000_000_000),
                Some(3600 * 1_000_000_000),
                true,
            ),
            alloc("a2", Some(3000 * 1_000_000_000), None, true),
            alloc("a3", Some(0), Some(H), false),
        ],
        metrics: vec![],
        nodes: vec![
            node("n1", "m5.xlarge", true, 0, None),
            node("n2", "m5.xlarge", true, 0, Some(H)),
            node("n3", "i3.2xlarge", false, H / 2, None),
        ],
    }
}

#[test]
fn run_cost_matches_the_hand_computation() {
    let prices =
        PriceTable::embedded_with_overrides(Some(&fixture("traces/prices_round.csv"))).unwrap();
    let c = run_cost(&record(), &prices, &CostOptions::default()).unwrap();
    // m5.xlarge spot: 2 h + 1 h = 3 instance-hours × 0.10 = 0.30 USD (on demand: × 0.20 = 0.60).
    let m5 = c
        .by_type_region
        .iter()
        .find(|r| r.instance_type == "m5.xlarge")
        .unwrap();
    assert!(
        close(m5.instance_hours, 3.0) && close(m5.usd, 0.30) && close(m5.usd_other, 0.60),
        "{m5:?}"
    );
    // i3.2xlarge on demand: 1.5 h × 0.60 = 0.90 USD (spot: × 0.20 = 0.30).
    let i3 = c
        .by_type_region
        .iter()
        .find(|r| r.instance_type == "i3.2xlarge")
        .unwrap();
    assert!(
        close(i3.instance_hours, 1.5) && close(i3.usd, 0.90) && close(i3.usd_other, 0.30),
        "{i3:?}"
    );
    assert_eq!(
        i3.expected_interruptions_per_day, 0.0,
        "on-demand nodes are not interrupted"
    );
    // Servers: 2 priced × 2 h × 5.00 = 20.00 USD; s3 has no type.
    assert!(close(c.servers.usd, 20.0) && c.servers.count == 2 && c.servers.unpriced == ["s3"]);
    // Total 0.30 + 0.90 + 20.00 = 21.20 USD; 100 jobs → 212 USD per 1,000 jobs.
    assert!(close(c.usd_total, 21.2), "{}", c.usd_total);
    assert!(close(c.usd_per_1000_jobs.unwrap(), 212.0));
    // Per hour: all spot (0.30 + 0.30 + 20) / 2 = 10.30; all on demand (0.60 + 0.90 + 20) / 2 = 10.75.
    assert!(
        close(c.usd_per_hour.spot, 10.30) && close(c.usd_per_hour.on_demand, 10.75),
        "{:?}",
        c.usd_per_hour
    );
    // Interruptions: 1 event; lost allocations ran 2,600 s and 4,200 s (to the end of the run) = 6,800 s.
    assert_eq!(
        (c.interruptions.observed, c.interruptions.allocs_lost),
        (1, 2)
    );
    assert!(close(c.wasted_compute_hours, 6800.0 / 3600.0));
    // Expected: 1.5 spot m5 nodes on average × 7.5%/month (5-10% bucket) / 30.4375 days.
    assert!(close(
        c.interruptions.expected_per_day,
        1.5 * 0.075 / DAYS_PER_MONTH
    ));
    assert_eq!(c.hours_from, "nodes.csv");

    // Override of the interruption rate.
    let mut o = CostOptions::default();
    o.interruption_rates.insert("m5.xlarge".into(), 0.3);
    let c2 = run_cost(&record(), &prices, &o).unwrap();
    assert!(close(
        c2.interruptions.expected_per_day,
        1.5 * 0.3 / DAYS_PER_MONTH
    ));

    // Without nodes.csv rows, run.json's fleet node-hours are used: 10 h × 0.10 = 1.00 USD of clients.
    let mut r = record();
    r.nodes.clear();
    let c3 = run_cost(&r, &prices, &CostOptions::default()).unwrap();
    assert_eq!(c3.hours_from, "run.json fleet");
    assert!(
        close(c3.usd_clients, 1.0) && close(c3.usd_total, 21.0),
        "{c3:?}"
    );
}

#[test]
fn cost_cli_writes_cost_json_and_rejects_bad_input() {
    let d = tempfile::tempdir().unwrap();
    let dir = d.path().join("run");
    write_record(&dir, &record()).unwrap();
    let prices = fixture("traces/prices_round.csv");
    assert_eq!(cli(&argv!("cost", &dir, "--prices", &prices)).unwrap(), 0);
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("cost.json")).unwrap()).unwrap();
    assert!(close(v["usd_total"].as_f64().unwrap(), 21.2));
    assert!(close(v["usd_per_hour"]["spot"].as_f64().unwrap(), 10.3));
    assert!(close(v["usd_per_1000_jobs"].as_f64().unwrap(), 212.0));
    assert_eq!(v["interruptions"]["observed"].as_u64(), Some(1));
    assert_eq!(v["by_type_region"].as_array().unwrap().len(), 2);
    assert!(v["servers"]["usd"].as_f64().is_some() && v["wasted_compute_hours"].as_f64().is_some());

    let out = d.path().join("elsewhere.json");
    assert_eq!(
        cli(&argv!(
            "cost",
            &dir,
            "--out",
            &out,
            "--interruption-rate m5.xlarge=0.3 --json"
        ))
        .unwrap(),
        0
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    // Embedded prices this time: m5.xlarge 0.0768 spot × 3 h + i3.2xlarge 0.624 × 1.5 h + 2 × 4.992 × 2 h.
    assert!(
        close(
            v["usd_total"].as_f64().unwrap(),
            0.0768 * 3.0 + 0.624 * 1.5 + 4.992 * 4.0
        ),
        "{}",
        v["usd_total"]
    );

    let o = bin_output(&argv!("cost", &dir, "--interruption-rate m5.xlarge=often"));
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("--interruption-rate `m5.xlarge=often`"));
    let o = bin_output(&["cost", d.path().join("missing").to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&o.stderr).contains("run.json"));
    // A type the table does not know is an error naming it, not a silent zero.
    let mut r = record();
    r.nodes[0].instance_type = "x9.huge".into();
    let bad = d.path().join("bad");
    write_record(&bad, &r).unwrap();
    let o = bin_output(&["cost", bad.to_str().unwrap()]);
    assert_eq!(o.status.code(), Some(2));
    assert!(
        String::from_utf8_lossy(&o.stderr).contains("no price for x9.huge in us-east-1"),
        "{}",
        String::from_utf8_lossy(&o.stderr)
    );
    assert!(!bad.join("cost.json").exists());
}

#[test]
fn scenario_fleet_cost_per_hour() {
    let d = tempfile::tempdir().unwrap();
    let out = d.path().join("fleet.json");
    let sc = fixture("traces/fleet.toml");
    assert_eq!(
        cli(&argv!("cost --scenario", &sc, "--out", &out)).unwrap(),
        0
    );
    let v: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&out).unwrap()).unwrap();
    // Embedded us-east-1 prices: m5.xlarge 0.192 / 0.0768 spot, m5.2xlarge 0.384 / 0.1536, i3.16xlarge 4.992.
    let servers = 3.0 * 4.992;
    assert!(close(
        v["servers"]["usd_per_hour"].as_f64().unwrap(),
        servers
    ));
    assert!(close(
        v["usd_per_hour"]["spot"].as_f64().unwrap(),
        10.0 * 0.0768 + 4.0 * 0.1536 + servers
    ));
    assert!(close(
        v["usd_per_hour"]["on_demand"].as_f64().unwrap(),
        10.0 * 0.192 + 4.0 * 0.384 + servers
    ));
    // As configured: the m5.2xlarge pool is on demand.
    assert!(close(
        v["usd_per_hour_total"].as_f64().unwrap(),
        10.0 * 0.0768 + 4.0 * 0.384 + servers
    ));
    assert_eq!(v["nodes"].as_u64(), Some(14));
    // Only the spot pool is interrupted: 10 nodes × 7.5%/month.
    assert!(close(
        v["expected_interruptions_per_day"].as_f64().unwrap(),
        10.0 * 0.075 / DAYS_PER_MONTH
    ));

    let e = cli(&argv!(
        "cost --scenario",
        &fixture("traces/fleet_unpriced.toml")
    ))
    .unwrap_err();
    let e = format!("{e:#}");
    assert!(
        e.contains("pricing pool `spot-m5`")
            && e.contains("no price for m5.xlarge in mars-north-1"),
        "{e}"
    );
    assert!(cli(&argv!("cost --scenario", &fixture("traces/missing.toml"))).is_err());
}
