//! `stampede emulate`: serve the simulator core behind Nomad's HTTP API, in real time.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;

use crate::emulator::{self, EmulatorConfig, Faults};

/// Arguments of `stampede emulate`.
#[derive(Debug, clap::Args)]
pub struct EmulateArgs {
    /// Address to serve Nomad's HTTP API on (port 0 picks a free one).
    #[arg(long, default_value = "127.0.0.1:4646")]
    pub listen: SocketAddr,
    /// Scenario file (TOML): the cluster to emulate (servers, pools, params, scripted faults). Its workload
    /// is ignored: jobs arrive over HTTP.
    #[arg(long, short = 's')]
    pub scenario: PathBuf,
    /// Override a scenario setting or model parameter (as `stampede sim --set`). Repeatable.
    #[arg(long = "set", value_name = "KEY=VALUE", value_parser = crate::files::parse_set)]
    pub set: Vec<(String, String)>,
    /// Simulated seconds per wall-clock second.
    #[arg(long, default_value_t = 1.0)]
    pub speed: f64,
    /// Root seed (default: the scenario's `seed`). The seed used is printed.
    #[arg(long)]
    pub seed: Option<u64>,
    /// Require this ACL token (`X-Nomad-Token` or `Authorization: Bearer`) on every endpoint except
    /// /v1/metrics and /v1/status/*.
    #[arg(long, env = "STAMPEDE_EMULATOR_TOKEN", hide_env_values = true)]
    pub token: Option<String>,
    /// Serve /v1/metrics?format=prometheus (default on, as `nomad agent -dev`).
    #[arg(long, overrides_with = "no_prometheus")]
    pub prometheus: bool,
    /// Answer /v1/metrics?format=prometheus with 415 `Prometheus is not enabled`.
    #[arg(long)]
    pub no_prometheus: bool,
    /// Event-stream heartbeat interval.
    #[arg(long, default_value = "30s", value_parser = super::parse_duration)]
    pub heartbeat: Duration,
    /// Nomad's `http_max_conns_per_client` (0 = unlimited); beyond it connections get a raw 429.
    #[arg(long, default_value_t = 100)]
    pub max_conns_per_client: usize,
    /// Fault: close every event-stream connection after this long.
    #[arg(long, value_parser = super::parse_duration)]
    pub fault_drop_streams_every: Option<Duration>,
    /// Fault: share (0–1) of write requests answered 500 `No cluster leader`.
    #[arg(long, default_value_t = 0.0)]
    pub fault_write_errors: f64,
    /// Fault: latency added to every response.
    #[arg(long, value_parser = super::parse_duration)]
    pub fault_latency: Option<Duration>,
    /// Fault: the leader steps down at this simulated time (e.g. `60s`).
    #[arg(long, value_parser = super::parse_duration)]
    pub fault_leader_change_at: Option<Duration>,
    /// Apply a calibration (`stampede calibrate` output) on top of the scenario's `[params]`.
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// Nomad's `job_gc_interval`/`eval_gc_interval`: how often (simulated time) the core scheduler's job and
    /// eval GC runs over the state store (`0s` = only on `PUT /v1/system/gc`).
    #[arg(long, default_value = "5m", value_parser = super::parse_duration)]
    pub gc_interval: Duration,
    /// Nomad's `job_gc_threshold`: dead jobs older than this (simulated) are collected with their
    /// evaluations and allocations.
    #[arg(long, default_value = "4h", value_parser = super::parse_duration)]
    pub job_gc_threshold: Duration,
    /// Nomad's `eval_gc_threshold`: terminal evaluations (non-batch) older than this are collected.
    #[arg(long, default_value = "1h", value_parser = super::parse_duration)]
    pub eval_gc_threshold: Duration,
    /// Nomad's `batch_eval_gc_threshold`: terminal batch evaluations older than this are collected.
    #[arg(long, default_value = "24h", value_parser = super::parse_duration)]
    pub batch_eval_gc_threshold: Duration,
}

impl EmulateArgs {
    /// The emulator configuration these flags describe (reads the scenario file).
    pub fn config(&self) -> anyhow::Result<EmulatorConfig> {
        let mut sc = crate::files::load_scenario_with(&self.scenario, 1.0, &self.set)?;
        crate::calibrate::apply_flag(&mut sc, self.calibration.as_deref())?;
        let mut cfg = EmulatorConfig::new(sc);
        cfg.listen = self.listen;
        cfg.speed = self.speed;
        if let Some(s) = self.seed {
            cfg.seed = s;
        }
        cfg.token = self.token.clone().filter(|t| !t.is_empty());
        cfg.prometheus = !self.no_prometheus;
        cfg.heartbeat = self.heartbeat;
        anyhow::ensure!(!self.heartbeat.is_zero(), "--heartbeat must be positive");
        cfg.faults = Faults {
            drop_streams_every: self.fault_drop_streams_every,
            write_error_share: self.fault_write_errors,
            max_conns_per_client: self.max_conns_per_client,
            latency: self.fault_latency.unwrap_or_default(),
            leader_change_at: self.fault_leader_change_at,
        };
        cfg.gc = emulator::gc::GcConfig {
            interval: self.gc_interval,
            job_threshold: self.job_gc_threshold,
            eval_threshold: self.eval_gc_threshold,
            batch_eval_threshold: self.batch_eval_gc_threshold,
        };
        Ok(cfg)
    }
}

/// Runs the command until Ctrl-C.
pub fn run(args: EmulateArgs) -> anyhow::Result<u8> {
    let statement = match &args.calibration {
        Some(c) => crate::calibrate::load_calibration(c)?.statement(),
        None => stampede_sim::record::UNCALIBRATED_STATEMENT.to_string(),
    };
    let cfg = args.config()?;
    eprintln!("stampede emulate: {statement}");
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    rt.block_on(async move {
        let nodes: u32 = cfg.scenario.pools.iter().map(|p| p.count).sum();
        let (name, seed, speed, acl) = (cfg.scenario.name.clone(), cfg.seed, cfg.speed, cfg.token.is_some());
        let h = emulator::start(cfg).await?;
        eprintln!(
            "stampede emulate: serving Nomad's HTTP API on {} (scenario {name}, {nodes} nodes, seed {seed}, speed {speed}x, ACL {})",
            h.url(),
            if acl { "on" } else { "off" }
        );
        eprintln!("export NOMAD_ADDR={}", h.url());
        tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
        let failure = h.failure();
        h.shutdown().await;
        if let Some(f) = failure {
            anyhow::bail!("the simulator core failed: {f}");
        }
        Ok(0)
    })
}
