//! The embedded default target of `stampede run`: with no `--addr` and no `NOMAD_ADDR`, the run starts the
//! Nomad-compatible emulator in-process on a free loopback port and floods it instead of a real cluster.

use std::net::SocketAddr;

use anyhow::Context;
use stampede_sim::scenario::Scenario;

use crate::load::runner::EmbeddedStart;
use crate::load::EmbeddedTarget;

/// The cluster the embedded emulator simulates when the run names no scenario: `scenarios/smoke.toml`'s
/// control plane and fleet (3 servers, 20 nodes in two datacenters).
pub const DEFAULT_FLEET: &str = include_str!("../../scenarios/smoke.toml");

/// Starts the emulator on `127.0.0.1:0` with a scenario's cluster, in real time.
pub struct EmbeddedEmulator {
    /// The cluster (and fleet) to emulate.
    pub scenario: Scenario,
    /// Root seed of the emulated cluster.
    pub seed: u64,
    /// Print a line saying what is happening.
    pub announce: bool,
}

impl EmbeddedEmulator {
    /// The emulator for a scenario file, or the default fleet.
    pub fn for_scenario(
        path: Option<&std::path::Path>,
        seed: u64,
        announce: bool,
    ) -> anyhow::Result<Self> {
        let scenario = match path {
            Some(p) => crate::files::load_scenario(p, 1.0)?,
            None => Scenario::from_toml(
                "scenarios/smoke.toml (embedded default fleet)",
                DEFAULT_FLEET,
            )
            .context("parsing the embedded default fleet")?,
        };
        Ok(EmbeddedEmulator {
            scenario,
            seed,
            announce,
        })
    }
}

impl EmbeddedTarget for EmbeddedEmulator {
    fn start(&self) -> EmbeddedStart {
        let mut cfg = crate::emulator::EmulatorConfig::new(self.scenario.clone());
        cfg.listen = SocketAddr::from(([127, 0, 0, 1], 0));
        cfg.seed = self.seed;
        let announce = self.announce;
        let name = self.scenario.name.clone();
        let nodes = self.scenario.initial_nodes();
        Box::pin(async move {
            let h = crate::emulator::start(cfg)
                .await
                .context("starting the embedded emulator")?;
            let addr = format!("http://{}", h.addr);
            if announce {
                eprintln!(
                    "no --addr and no NOMAD_ADDR: running against the embedded emulator at {addr} \
                     (the simulator behind Nomad's HTTP API, cluster of scenario `{name}`, {nodes} nodes, real time)"
                );
            }
            Ok((addr, Box::new(h) as Box<dyn std::any::Any + Send>))
        })
    }
}
