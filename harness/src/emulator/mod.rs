//! `stampede emulate`: the simulator core ([`stampede_sim::cluster::Cluster`]) served behind Nomad's HTTP
//! API, in real time.
//!
//! ## How it works
//! A driver thread ([`driver`]) owns the core. Every tick (2 ms) it advances simulated time to
//! `wall elapsed × speed`, submits the write requests the HTTP handlers queued, answers each handler
//! (through a oneshot channel) once the core says the response is due — a register is answered only after
//! its Raft apply — and folds the core's change batches into the state store and the event ring
//! ([`state`]). The HTTP side ([`http`], [`stream`], [`metrics`]) only reads the store and the ring.
//!
//! Times: the core counts ns from t = 0; Nomad's Unix ns are `base_unix_ns + t`, where `base_unix_ns` is the
//! wall clock when the emulator started. With `speed > 1` the Unix times run faster than the wall clock.
//!
//! ## Module map
//! | module | what |
//! |---|---|
//! | [`jobspec`] | Nomad job JSON → the core's `JobSpec` |
//! | [`render`] | the core's views → Nomad JSON objects |
//! | [`state`] | state tables, table indexes, the 100-batch event ring |
//! | [`gc`] | Nomad's job and evaluation GC over the state tables (periodic and `PUT /v1/system/gc`) |
//! | [`driver`] | the real-time driver thread around the core |
//! | [`http`] | the axum router: jobs, allocations, nodes, evaluations, operator, status, agent, ACL, faults |
//! | [`stream`] | `/v1/event/stream` |
//! | [`metrics`] | `/v1/metrics` (JSON and Prometheus text) |
//! | [`listener`] | the TCP listener with Nomad's per-client connection cap (429) |
//! | [`bench`] | the placements/s benchmark of the emulator |

pub mod bench;
pub mod driver;
pub mod gc;
pub mod http;
pub mod jobspec;
pub mod listener;
pub mod metrics;
pub mod render;
pub mod state;
pub mod stream;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use anyhow::Context;
use rand::SeedableRng;
use stampede_sim::api::ServerGauges;
use stampede_sim::cluster::{Cluster, ClusterOptions};
use stampede_sim::scenario::Scenario;
use tokio::sync::{mpsc, watch};

/// Fault injection knobs (all off by default).
#[derive(Debug, Clone)]
pub struct Faults {
    /// Close every event-stream connection after this long.
    pub drop_streams_every: Option<Duration>,
    /// Share (0–1) of write requests answered 500 `No cluster leader`.
    pub write_error_share: f64,
    /// Nomad's `http_max_conns_per_client`: concurrent connections per client IP (0 = unlimited).
    pub max_conns_per_client: usize,
    /// Latency added to every response.
    pub latency: Duration,
    /// Simulated time at which the leader steps down (writes answer 500 `No cluster leader` until a new
    /// leader is elected).
    pub leader_change_at: Option<Duration>,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            drop_streams_every: None,
            write_error_share: 0.0,
            max_conns_per_client: 100,
            latency: Duration::ZERO,
            leader_change_at: None,
        }
    }
}

/// Configuration of one emulator.
#[derive(Debug, Clone)]
pub struct EmulatorConfig {
    /// Address to listen on (`127.0.0.1:0` picks a free port).
    pub listen: SocketAddr,
    /// The cluster (servers, pools, params, scripted faults); the scenario's workload is ignored: jobs come
    /// over HTTP.
    pub scenario: Scenario,
    /// Root seed of the core.
    pub seed: u64,
    /// Simulated seconds per wall second.
    pub speed: f64,
    /// ACL token every endpoint except `/v1/metrics` and `/v1/status/*` requires, if set.
    pub token: Option<String>,
    /// Whether `/v1/metrics?format=prometheus` is enabled.
    pub prometheus: bool,
    /// Event-stream heartbeat interval (Nomad: 30 s).
    pub heartbeat: Duration,
    /// Faults.
    pub faults: Faults,
    /// Job and evaluation GC (Nomad's defaults).
    pub gc: gc::GcConfig,
}

impl EmulatorConfig {
    /// A config with Nomad's defaults for a scenario.
    pub fn new(scenario: Scenario) -> Self {
        EmulatorConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], 4646)),
            seed: scenario.seed,
            scenario,
            speed: 1.0,
            token: None,
            prometheus: true,
            heartbeat: Duration::from_secs(30),
            faults: Faults::default(),
            gc: gc::GcConfig::default(),
        }
    }
}

/// An error an HTTP handler answers with: status and Nomad's plain-text body.
pub type ApiError = (u16, String);

/// What the driver publishes for the HTTP side after each tick.
#[derive(Debug, Clone, Default)]
pub struct Status {
    /// Simulated now, ns since t = 0.
    pub now: u64,
    /// Whether a leader is elected.
    pub has_leader: bool,
    /// Index of the leader server.
    pub leader: usize,
    /// Server names.
    pub servers: Vec<String>,
    /// Live gauges per server.
    pub gauges: Vec<ServerGauges>,
    /// The last completed 10 s metrics interval: gauges at its start and end, and its end time (ns).
    pub interval: Option<(Vec<ServerGauges>, Vec<ServerGauges>, u64)>,
    /// Current Raft index.
    pub raft_index: u64,
    /// Set when the core failed (budget, bug); the emulator then answers 500 to writes.
    pub failed: Option<String>,
    /// Mean time of one Raft log-store batch commit (one fsync), ms: the core's median fsync latency
    /// (`raft_fsync_median_us`), exposed as `nomad.raft.boltdb.storeLogs`.
    pub store_ms: f64,
}

/// State shared by the driver and the HTTP handlers.
pub struct Shared {
    /// Config.
    pub cfg: EmulatorConfig,
    /// Unix ns of the core's t = 0.
    pub base_unix_ns: u64,
    /// State tables.
    pub store: RwLock<state::Store>,
    /// Event ring.
    pub ring: Mutex<state::Ring>,
    /// Latest folded Raft index (wakes blocking queries and stream subscribers).
    pub index_tx: watch::Sender<u64>,
    /// Commands to the driver.
    pub cmd_tx: mpsc::UnboundedSender<driver::Command>,
    /// Driver status.
    pub status: RwLock<Status>,
    /// Set on shutdown.
    pub stop: AtomicBool,
    /// Flips to true on shutdown (ends streams and blocking queries).
    pub shutdown_tx: watch::Sender<bool>,
    /// RNG of injected faults.
    pub fault_rng: Mutex<rand_chacha::ChaCha8Rng>,
}

/// A running emulator.
pub struct EmulatorHandle {
    /// Address it listens on.
    pub addr: SocketAddr,
    /// Unix ns of simulated t = 0 (add to the core's times).
    pub base_unix_ns: u64,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
    driver: Option<std::thread::JoinHandle<()>>,
}

impl EmulatorHandle {
    /// `http://ADDR`.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// The core's failure, if it failed.
    pub fn failure(&self) -> Option<String> {
        self.shared
            .status
            .read()
            .ok()
            .and_then(|s| s.failed.clone())
    }

    /// Waits until the server task ends (it only ends on shutdown or a listener error).
    pub async fn wait(&mut self) {
        let _ = (&mut self.server).await;
    }

    /// Stops the driver and the server, closing every connection.
    pub async fn shutdown(mut self) {
        self.shared.stop.store(true, Ordering::SeqCst);
        let _ = self.shared.shutdown_tx.send(true);
        self.server.abort();
        let _ = (&mut self.server).await;
        if let Some(d) = self.driver.take() {
            let _ = tokio::task::spawn_blocking(move || d.join()).await;
        }
    }
}

/// Builds the core, binds the listener and starts the driver and the server.
pub async fn start(cfg: EmulatorConfig) -> anyhow::Result<EmulatorHandle> {
    anyhow::ensure!(
        cfg.speed.is_finite() && cfg.speed > 0.0 && cfg.speed <= stampede_sim::limits::MAX_SPEED,
        "--speed must be a positive number ≤ {}, got {}",
        stampede_sim::limits::MAX_SPEED,
        cfg.speed
    );
    anyhow::ensure!(
        (0.0..=1.0).contains(&cfg.faults.write_error_share),
        "the write error share must be within 0..=1, got {}",
        cfg.faults.write_error_share
    );
    let mut sc = cfg.scenario.clone();
    // The emulator runs until stopped: the simulator's budgets are for batch runs.
    sc.sim.max_time_ns = u64::MAX;
    sc.sim.max_events = u64::MAX;
    // Periodic jobs launch for as long as the emulator runs (background events).
    sc.sim.periodic_until_ns = u64::MAX;
    let mut cluster = Cluster::new(
        &sc,
        cfg.seed,
        ClusterOptions {
            record_changes: true,
            ..Default::default()
        },
    )
    .with_context(|| format!("building the cluster of scenario `{}`", sc.name))?;
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    let addr = listener.local_addr().context("reading the bound address")?;
    let base_unix_ns = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let (cmd_tx, cmd_rx) = mpsc::unbounded_channel();
    let (index_tx, _) = watch::channel(0u64);
    let (shutdown_tx, _) = watch::channel(false);
    let mut store = state::Store::default();
    let mut ring = state::Ring::default();
    // The initial fleet registration (Raft indexes 1..=N) is state, and the newest batches are in the ring.
    for b in cluster.take_changes() {
        let eb = store.fold(b, base_unix_ns);
        ring.batches.push_back(Arc::new(eb));
        if ring.batches.len() > state::RING_SIZE {
            ring.batches.pop_front();
        }
    }
    let last = store.idx.last;
    store.sched = Some(state::SchedulerConfig {
        config: http::default_sched_config(cluster.algorithm().as_str()),
        create_index: 1,
        modify_index: 1,
    });
    let status = driver::status_of(&cluster, None);
    let shared = Arc::new(Shared {
        fault_rng: Mutex::new(rand_chacha::ChaCha8Rng::seed_from_u64(
            cfg.seed ^ 0x5eed_fa17,
        )),
        cfg,
        base_unix_ns,
        store: RwLock::new(store),
        ring: Mutex::new(ring),
        index_tx,
        cmd_tx,
        status: RwLock::new(status),
        stop: AtomicBool::new(false),
        shutdown_tx,
    });
    let _ = shared.index_tx.send(last);
    let start_instant = Instant::now();
    let sh = shared.clone();
    let driver = std::thread::Builder::new()
        .name("emulator-driver".into())
        .spawn(move || driver::drive(cluster, sh, cmd_rx, start_instant))
        .context("spawning the driver thread")?;
    let app = http::router(shared.clone());
    let capped = listener::CappedListener::new(listener, shared.cfg.faults.max_conns_per_client);
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(capped, app).await {
            eprintln!("emulator: server error: {e}");
        }
    });
    Ok(EmulatorHandle {
        addr,
        base_unix_ns,
        shared,
        server,
        driver: Some(driver),
    })
}
