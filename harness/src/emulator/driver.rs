//! The real-time driver: a thread that owns the core, advances it with the wall clock (× speed), submits
//! queued write requests, answers them when their response is due, and folds change batches into the
//! store and the event ring.

use std::collections::BTreeMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use stampede_sim::api::{JobSpec, RequestId, RequestOutcome, SimTime};
use stampede_sim::cluster::Cluster;
use stampede_sim::error::SimError;
use stampede_sim::record::AllocRow;
use stampede_sim::scenario::Algorithm;
use tokio::sync::{mpsc, oneshot};

use super::gc::{self, Reaped, Thresholds};
use super::{ApiError, Shared, Status};

/// How often the driver wakes up.
pub const TICK: Duration = Duration::from_millis(2);
const METRICS_INTERVAL_NS: u64 = 10_000_000_000;

/// Reply channel of a write request.
pub type Reply = oneshot::Sender<Result<RequestOutcome, ApiError>>;

/// A request to the driver.
#[derive(Debug)]
pub enum Command {
    /// Register a job.
    Register(Box<JobSpec>, Reply),
    /// Deregister a job.
    Deregister(String, bool, Reply),
    /// Dispatch a parameterized job.
    Dispatch(String, BTreeMap<String, String>, Reply),
    /// Change the scheduler algorithm.
    SetAlgorithm(Algorithm),
    /// Ground truth of every allocation (times as the core's ns since t = 0).
    GroundTruth(oneshot::Sender<Vec<AllocRow>>),
    /// `PUT /v1/system/gc`: a forced GC of the state store (after this tick's changes are folded).
    ForceGc(oneshot::Sender<Reaped>),
}

/// The status the HTTP side reads.
pub fn status_of(c: &Cluster, prev: Option<&Status>) -> Status {
    let gauges = c.server_gauges();
    let now = c.now();
    let mut interval = prev.and_then(|p| p.interval.clone());
    let mut st = Status {
        now,
        has_leader: c.has_leader(),
        leader: c.leader(),
        servers: c.server_names(),
        gauges: gauges.clone(),
        interval: None,
        raft_index: c.raft_index(),
        failed: prev.and_then(|p| p.failed.clone()),
        store_ms: c.params().raft_fsync_median_us as f64 / 1000.0,
    };
    let boundary = now / METRICS_INTERVAL_NS * METRICS_INTERVAL_NS;
    match &mut interval {
        None => interval = Some((gauges.clone(), gauges, boundary)),
        Some((start, end, t_end)) if boundary > *t_end => {
            *start = std::mem::take(end);
            *end = gauges;
            *t_end = boundary;
        }
        _ => {}
    }
    st.interval = interval;
    st
}

fn sim_err(e: SimError) -> ApiError {
    match e {
        SimError::NotFound(m) => (404, m),
        SimError::InvalidJob(m)
            if !m.starts_with("1 error") && m.contains("hasn't been provided") =>
        {
            (400, m)
        }
        e => (500, e.to_string()),
    }
}

/// Most events the driver processes before it looks at its queue and its stop flag again. At a speed the
/// core cannot keep up with, the emulator falls behind the wall clock (its Unix times lag) instead of
/// wedging in one `advance_to` that never returns: it stays responsive to requests and to Ctrl-C/SIGTERM.
const EVENTS_PER_TICK: usize = 20_000;

/// Advances the core towards `target`, processing at most [`EVENTS_PER_TICK`] events; the clock moves to
/// `target` only when no event at or before it is left. Returns whether it got there.
fn advance_bounded(c: &mut Cluster, target: SimTime) -> Result<bool, SimError> {
    for _ in 0..EVENTS_PER_TICK {
        match c.next_event_time() {
            Some(t) if t <= target => {
                c.step()?;
            }
            _ => {
                c.advance_to(target.max(c.now()))?;
                return Ok(true);
            }
        }
    }
    Ok(false)
}

/// One GC pass over the state store: selects under the read lock (HTTP readers keep going), removes
/// under the write lock.
pub fn collect_garbage(sh: &Shared, thr: Thresholds) -> Reaped {
    let victims = match sh.store.read() {
        Ok(st) => gc::select(&st, thr),
        Err(_) => return Reaped::default(),
    };
    if victims.is_empty() {
        return Reaped::default();
    }
    match sh.store.write() {
        Ok(mut st) => gc::reap(&mut st, victims),
        Err(_) => Reaped::default(),
    }
}

/// The driver loop; returns when `shared.stop` is set or the core fails.
pub fn drive(
    mut c: Cluster,
    sh: Arc<Shared>,
    mut rx: mpsc::UnboundedReceiver<Command>,
    start: Instant,
) {
    let speed = sh.cfg.speed;
    let leader_change_at = sh.cfg.faults.leader_change_at.map(|d| d.as_nanos() as u64);
    let mut leader_changed = false;
    let mut pending: BTreeMap<RequestId, Reply> = BTreeMap::new();
    let mut due: Vec<(SimTime, RequestId, RequestOutcome)> = Vec::new();
    let mut last_status = Instant::now();
    let gc_cfg = sh.cfg.gc;
    let gc_every = u64::try_from(gc_cfg.interval.as_nanos()).unwrap_or(u64::MAX);
    let mut next_gc = gc_every;
    let mut force_gc: Vec<oneshot::Sender<Reaped>> = Vec::new();
    let fail = |sh: &Shared, msg: String| {
        eprintln!("emulator: simulator core failed: {msg}");
        if let Ok(mut s) = sh.status.write() {
            s.failed = Some(msg);
        }
    };
    while !sh.stop.load(Ordering::SeqCst) {
        let target = (start.elapsed().as_nanos() as f64 * speed) as u64;
        if let Some(at) = leader_change_at {
            if !leader_changed && target >= at {
                if let Err(e) = c.advance_to(at.max(c.now())) {
                    fail(&sh, e.to_string());
                    break;
                }
                c.inject_leader_change();
                leader_changed = true;
            }
        }
        let caught_up = match advance_bounded(&mut c, target) {
            Ok(b) => b,
            Err(e) => {
                fail(&sh, e.to_string());
                break;
            }
        };
        while let Ok(cmd) = rx.try_recv() {
            let now = c.now();
            match cmd {
                Command::Register(spec, reply) => {
                    if !c.has_leader() {
                        let _ = reply.send(Err((500, "No cluster leader".into())));
                        continue;
                    }
                    match c.submit_register(*spec, now) {
                        Ok(id) => {
                            pending.insert(id, reply);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(sim_err(e)));
                        }
                    }
                }
                Command::Deregister(id, purge, reply) => {
                    if !c.has_leader() {
                        let _ = reply.send(Err((500, "No cluster leader".into())));
                        continue;
                    }
                    match c.submit_deregister(&id, purge) {
                        Ok(id) => {
                            pending.insert(id, reply);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(sim_err(e)));
                        }
                    }
                }
                Command::Dispatch(parent, meta, reply) => {
                    if !c.has_leader() {
                        let _ = reply.send(Err((500, "No cluster leader".into())));
                        continue;
                    }
                    match c.submit_dispatch(&parent, meta, now) {
                        Ok(id) => {
                            pending.insert(id, reply);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(sim_err(e)));
                        }
                    }
                }
                Command::SetAlgorithm(a) => c.set_algorithm(a),
                Command::GroundTruth(reply) => {
                    let rows = (0..c.alloc_count()).map(|i| c.alloc_truth(i)).collect();
                    let _ = reply.send(rows);
                }
                Command::ForceGc(reply) => force_gc.push(reply),
            }
        }
        // Fold first: a reply must never reach a client before the state it reports.
        let changes = c.take_changes();
        if !changes.is_empty() {
            let base = sh.base_unix_ns;
            let mut folded = Vec::with_capacity(changes.len());
            let mut last = 0;
            if let Ok(mut st) = sh.store.write() {
                for b in changes {
                    let eb = st.fold(b, base);
                    folded.push(Arc::new(eb));
                }
                last = st.idx.last;
            }
            if let Ok(mut ring) = sh.ring.lock() {
                for eb in folded {
                    ring.batches.push_back(eb);
                }
                while ring.batches.len() > super::state::RING_SIZE {
                    ring.batches.pop_front();
                }
            }
            sh.index_tx.send_replace(last);
        }
        // Nomad's core scheduler: periodic job + eval GC every interval of simulated time, forced GC on demand.
        if !force_gc.is_empty() {
            let r = collect_garbage(&sh, Thresholds::FORCE);
            for reply in force_gc.drain(..) {
                let _ = reply.send(r);
            }
        }
        if gc_every > 0 && c.now() >= next_gc {
            let thr = match sh.store.read() {
                Ok(st) => Thresholds::at(&gc_cfg, &st.time_table, c.now()),
                Err(_) => Thresholds::at(&gc_cfg, &gc::TimeTable::default(), c.now()),
            };
            collect_garbage(&sh, thr);
            next_gc = c.now().saturating_add(gc_every);
        }
        for (id, t, out) in c.take_completed() {
            due.push((t, id, out));
        }
        if !due.is_empty() {
            let now = c.now();
            due.retain_mut(|(t, id, out)| {
                if *t > now {
                    return true;
                }
                if let Some(reply) = pending.remove(id) {
                    let out = std::mem::replace(out, RequestOutcome::Failed(String::new()));
                    let _ = reply.send(match out {
                        RequestOutcome::Failed(m) => Err((500, m)),
                        o => Ok(o),
                    });
                }
                false
            });
        }
        if last_status.elapsed() >= Duration::from_millis(20) {
            last_status = Instant::now();
            let prev = sh.status.read().map(|s| s.clone()).ok();
            let st = status_of(&c, prev.as_ref());
            if let Ok(mut s) = sh.status.write() {
                *s = st;
            }
        }
        if caught_up {
            std::thread::sleep(TICK);
        }
    }
    // Answer whoever still waits.
    for (_, reply) in pending {
        let _ = reply.send(Err((500, "No cluster leader".into())));
    }
}
