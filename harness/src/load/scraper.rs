//! Scrapes every server's `/v1/metrics` once a second into `metrics.csv` rows.
//!
//! Servers come from `/v1/status/peers` (RPC addresses), mapped to HTTP addresses with the given
//! address's scheme and port; when a peer does not answer there, only the given address is scraped.
//! Prometheus format is used when the server serves it (CPU % and RSS need it); a 415 switches that
//! server to the JSON form for the rest of the run.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use stampede_sim::record::{MetricRow, RunEvent, ServerInfo};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use super::timeline::Timeline;
use crate::files::record::CsvAppender;
use crate::nomad::metrics::{ServerSnapshot, ServerSpan};
use crate::nomad::{prometheus, NomadClient};

/// One scraped server.
#[derive(Debug)]
pub struct Target {
    /// Name in `metrics.csv`.
    pub name: String,
    /// RPC address from the peers list (or the HTTP address).
    pub rpc: String,
    client: NomadClient,
    cores: f64,
    prometheus: bool,
    prev: Option<(Instant, ServerSnapshot)>,
    /// The run's first successful scrape (the control-plane baseline).
    first: Option<ServerSnapshot>,
}

/// Finds the servers to scrape: every server in `/v1/status/peers` (reached on the HTTP port of the given
/// address, with the same token), or only the given address when that fails or has one peer.
pub async fn discover(client: &NomadClient) -> Vec<Target> {
    discover_with(client, true).await
}

/// [`discover`]; with `peer_scrape == false` only the given address is scraped and `/v1/status/peers` is
/// not read, so the token goes to no other address (`stampede run --no-peer-scrape`).
pub async fn discover_with(client: &NomadClient, peer_scrape: bool) -> Vec<Target> {
    let base = client.base().to_string();
    let url = reqwest::Url::parse(&base).ok();
    let mut out = Vec::new();
    let peers = if peer_scrape {
        client.peers().await.ok()
    } else {
        None
    };
    if let (Some(peers), Some(url)) = (peers, url.as_ref()) {
        let port = url.port_or_known_default().unwrap_or(4646);
        for p in peers.iter().filter(|_| peers.len() > 1) {
            let host = p.rsplit_once(':').map_or(p.as_str(), |(h, _)| h);
            let http = format!("{}://{}:{}", url.scheme(), host, port);
            let Ok(c) = client.with_base(&http) else {
                continue;
            };
            let c = c.with_timeout(Duration::from_secs(2));
            if c.leader().await.is_ok() {
                out.push(Target {
                    name: format!("{host}:{port}"),
                    rpc: p.clone(),
                    client: c,
                    cores: 1.0,
                    prometheus: true,
                    prev: None,
                    first: None,
                });
            }
        }
        if out.len() != peers.len() {
            out.clear();
        }
    }
    if out.is_empty() {
        let name = url
            .as_ref()
            .map(|u| {
                format!(
                    "{}:{}",
                    u.host_str().unwrap_or("?"),
                    u.port_or_known_default().unwrap_or(4646)
                )
            })
            .unwrap_or(base.clone());
        let rpc = client.leader().await.unwrap_or_default();
        out.push(Target {
            name,
            rpc,
            client: client.clone().with_timeout(Duration::from_secs(2)),
            cores: 1.0,
            prometheus: true,
            prev: None,
            first: None,
        });
    }
    for t in &mut out {
        if let Ok(v) = t.client.agent_self().await {
            let cpus = v["stats"]["runtime"]["cpu_count"]
                .as_str()
                .and_then(|s| s.parse::<f64>().ok())
                .or_else(|| v["stats"]["runtime"]["cpu_count"].as_f64());
            t.cores = cpus.unwrap_or(1.0).max(1.0);
        }
    }
    out
}

/// `run.json` server entries for the targets.
pub fn server_infos(targets: &[Target], leader: &str) -> Vec<ServerInfo> {
    targets
        .iter()
        .map(|t| ServerInfo {
            name: t.name.clone(),
            address: t.rpc.clone(),
            leader: !leader.is_empty() && t.rpc == leader,
            instance_type: None,
            cores: Some(t.cores as u32),
        })
        .collect()
}

async fn scrape(t: &mut Target) -> Option<ServerSnapshot> {
    if t.prometheus {
        match t.client.metrics_prometheus().await {
            Ok(text) => match prometheus::parse(text.as_bytes()) {
                Ok(s) => return Some(ServerSnapshot::from_prometheus(&s)),
                Err(_) => t.prometheus = false,
            },
            Err(e) if e.status() == Some(415) || e.status() == Some(400) => t.prometheus = false,
            Err(_) => return None,
        }
    }
    t.client
        .metrics_json()
        .await
        .ok()
        .map(|m| ServerSnapshot::from_json(&m))
}

/// The current Raft leader's RPC address, asked of each target in turn until one answers with a leader
/// (a killed leader doesn't answer; during an election the answer is empty).
async fn current_leader(targets: &[Target]) -> Option<String> {
    for t in targets {
        if let Ok(l) = t.client.leader().await {
            if !l.is_empty() {
                return Some(l);
            }
        }
    }
    None
}

/// The baseline scrape of every target not yet scraped: the first point of the per-second rates and of
/// the control-plane totals. The runner takes it before the first submission, so the totals hold every
/// plan of the run (taken inside [`run_scraper`], it raced the first jobs: 8 of 12 plans were counted).
pub async fn baseline(targets: &mut [Target]) {
    for t in targets.iter_mut().filter(|t| t.prev.is_none()) {
        if let Some(snap) = scrape(t).await {
            t.first = Some(snap.clone());
            t.prev = Some((Instant::now(), snap));
        }
    }
}

/// What the scraper produced.
pub struct ScrapeOutput {
    /// The metric rows (also appended to `metrics.csv`).
    pub rows: Vec<MetricRow>,
    /// The `metrics.csv` appender.
    pub appender: CsvAppender,
    /// The leader changes it saw (`leader_change` events for `run.json`).
    pub events: Vec<RunEvent>,
    /// Each server's first and last scrape (the control-plane totals are their differences).
    pub spans: Vec<ServerSpan>,
}

/// Scrapes every second until `stop`, appending rows. Each second it also asks who the leader is, so rows
/// carry the leader of that second and every change becomes a `leader_change` event.
pub async fn run_scraper(
    mut targets: Vec<Target>,
    t0: Instant,
    timeline: Arc<Mutex<Timeline>>,
    mut out: CsvAppender,
    stop: CancellationToken,
) -> anyhow::Result<ScrapeOutput> {
    let mut rows_all = Vec::new();
    let mut events = Vec::new();
    let mut tick = tokio::time::interval_at(t0 + Duration::from_secs(1), Duration::from_secs(1));
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Skip);
    let mut last_placed = 0u64;
    let mut leader_rpc = current_leader(&targets).await.unwrap_or_default();
    // Baseline scrape (counters need two points) unless [`baseline`] took it, then one per second, and a
    // final one at stop so even a sub-second run has a row.
    baseline(&mut targets).await;
    let mut last = false;
    let mut last_t_s = None;
    let mut last_at = Instant::now();
    while !last {
        tokio::select! {
            _ = stop.cancelled() => last = true,
            _ = tick.tick() => {}
        }
        let now = Instant::now();
        last_at = now;
        let t_s = now
            .saturating_duration_since(t0)
            .as_secs_f64()
            .ceil()
            .max(1.0) as u64
            - 1;
        if last && last_t_s == Some(t_s) {
            break;
        }
        last_t_s = Some(t_s);
        if let Some(l) = current_leader(&targets).await {
            if !leader_rpc.is_empty() && l != leader_rpc {
                let name = |rpc: &str| {
                    targets
                        .iter()
                        .find(|t| t.rpc == rpc)
                        .map_or_else(|| rpc.to_string(), |t| t.name.clone())
                };
                events.push(RunEvent {
                    t_ns: now.saturating_duration_since(t0).as_nanos() as u64,
                    kind: "leader_change".into(),
                    node_id: Some(name(&l)),
                    detail: format!(
                        "Raft leader changed from {} to {}",
                        name(&leader_rpc),
                        name(&l)
                    ),
                });
            }
            leader_rpc = l;
        }
        let p = timeline
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .progress();
        let mut rows = Vec::new();
        for t in targets.iter_mut() {
            let Some(snap) = scrape(t).await else {
                continue;
            };
            let (dt, prev) = match &t.prev {
                Some((at, s)) => (now.saturating_duration_since(*at).as_secs_f64(), Some(s)),
                None => (0.0, None),
            };
            // Unknown leader (status/leader failed): every row claims leadership rather than none.
            let leader = leader_rpc.is_empty() || t.rpc == leader_rpc;
            let mut row = snap.row(prev, dt, t.cores, t_s, &t.name, leader);
            row.allocs_running = Some((p.running - p.done.min(p.running)) as f64);
            row.placements = Some(if leader {
                (p.placed - last_placed) as f64
            } else {
                0.0
            });
            rows.push(row);
            if t.first.is_none() {
                t.first = Some(snap.clone());
            }
            t.prev = Some((now, snap));
        }
        last_placed = p.placed;
        out.append_metrics(&rows)?;
        rows_all.extend(rows);
    }
    // The control-plane totals are differences to the last scrape: a server whose final scrape failed
    // (2 s timeout on a loaded server) gets up to two more tries, with a longer timeout.
    let mut spans = Vec::new();
    for mut t in targets {
        let mut fresh = t.prev.as_ref().is_some_and(|(at, _)| *at >= last_at);
        for _ in 0..2 {
            if fresh {
                break;
            }
            t.client = t.client.clone().with_timeout(Duration::from_secs(5));
            if let Some(snap) = scrape(&mut t).await {
                t.prev = Some((Instant::now(), snap));
                fresh = true;
            }
        }
        if let (Some(first), Some((_, last))) = (t.first, t.prev) {
            spans.push(ServerSpan {
                name: t.name,
                first,
                last,
                complete: fresh,
            });
        }
    }
    Ok(ScrapeOutput {
        rows: rows_all,
        appender: out,
        events,
        spans,
    })
}
