//! The events of the cluster core, grouped by the subsystem that reacts to them.
//!
//! ## Order
//! Events run in `(time, seq)` order, `seq` being the order in which they were pushed: two events at the
//! same nanosecond run in the order they were scheduled (FIFO), whichever subsystem pushed them. A
//! reaction runs to completion (every event it pushes gets a later `seq`) before the next event starts.
//!
//! ## Stale events
//! Events are never cancelled in the queue; a handler finds out that its event no longer applies and does
//! nothing. The rules, per event:
//! - `NackTimeout { eval, seq }` applies only while `seq` equals the eval's `nack_seq` (re-arming, pausing
//!   or acking the eval bumps it) and the eval is still pending.
//! - `WorkerDone { plan }`: a plan whose delivery token differs from its eval's token (the eval was nacked
//!   and redelivered meanwhile) is abandoned; the applier rejects such plans too, and the FSM ignores an
//!   eval update carrying a stale token.
//! - `TaskExited { alloc, attempt }` applies only to the alloc's current attempt (a restart bumps it), and
//!   like `TaskStarted` only while the node is alive and the alloc is still desired to run.
//! - Node events (`NodeDeath`, `SpotNotice`, `NodeReady`) check that the machine is not already gone;
//!   `Reschedule` checks that the slot still waits for it and the job is not stopped; `Redeliver` that the
//!   eval is still pending.
//! - `ClientFlush` of a dead node drops its pending updates.
//! - `TaskLaunch` starts no CPU work when the node is dead or the alloc no longer desired to run; a
//!   `HostCpuDone { host, gen }` applies only while `gen` is the host's armed generation (like `CpuDone`).
//! - `PeriodicLaunch { job, gen }` applies only while `gen` is the parent's current generation (a
//!   re-register bumps it) and the parent is not stopped.

use crate::ids::{AllocIx, EvalIx, JobIx, NodeIx, PlanIx};

/// One event of the cluster core.
#[derive(Debug, Clone, Copy)]
pub(super) enum Ev {
    // -- requests
    /// A request reaches the leader (½ API RTT after it was sent).
    RequestArrive { req: u64 },

    // -- Raft log and FSM
    /// The leader's disk write finished.
    DiskDone,
    /// The oldest pending leader write reached a quorum: its entries are committed.
    Committed,

    // -- scheduler workers and broker
    /// A worker finished computing `plan`.
    WorkerDone { plan: PlanIx },
    /// The nack timer of `eval`, armed with `seq`, ran out.
    NackTimeout { eval: EvalIx, seq: u64 },
    /// A nacked `eval` goes back to the broker.
    Redeliver { eval: EvalIx },

    // -- blocked evaluations
    /// The coalesced unblock after a capacity change.
    Unblock,
    /// The failed passes of the last release of blocked evaluations are done (see `blocked.rs`).
    ChurnDone,

    // -- clients
    /// The node of `alloc` notices it.
    AllocNotice { alloc: AllocIx },
    /// The driver of `alloc`'s task is ready to start it: the start's CPU work begins on the node's host.
    TaskLaunch { alloc: AllocIx },
    /// The armed completion of client host `host`'s CPU (generation `gen`; stale generations do nothing).
    HostCpuDone { host: u32, gen: u32 },
    /// The task of `alloc` started.
    TaskStarted { alloc: AllocIx },
    /// The task of `alloc` (its attempt `attempt`) exited.
    TaskExited { alloc: AllocIx, attempt: u32 },
    /// The 200 ms update tick of `node`.
    ClientFlush { node: NodeIx },
    /// The leader's 50 ms batch of client updates.
    ServerFlush,
    /// The reschedule delay of failed `alloc` ran out.
    Reschedule { alloc: AllocIx },
    /// The batch `alloc`'s `max_run_duration` ran out on its node (it is stopped and reported complete).
    MaxRunExpired { alloc: AllocIx },
    /// The stopped `alloc`'s task was killed on its node.
    AllocKilled { alloc: AllocIx },

    // -- fleet and faults
    /// A spot interruption of `node` is due (background).
    NodeDeath { node: NodeIx },
    /// The servers notice that `node` missed its heartbeat.
    NodeDetected { node: NodeIx },
    /// The 2-minute interruption notice of `node` ran out.
    SpotNotice { node: NodeIx },
    /// Scripted fault number `fault` (background).
    Fault { fault: u32 },
    /// The autoscaler of `pool` ticks (background).
    AutoscaleTick { pool: u32 },
    /// Booting `node` registers.
    NodeReady { node: NodeIx },
    /// A new leader is elected.
    ElectionDone,

    // -- periodic jobs
    /// A launch time of periodic parent `job` (its generation `gen`; stale generations do nothing). In the
    /// foreground up to the scenario's `periodic_until`, in the background when launches go on for ever.
    PeriodicLaunch {
        job: JobIx,
        gen: u32,
        foreground: bool,
    },

    // -- server CPUs
    /// The armed completion of server `server`'s CPU (generation `gen`; stale generations do nothing).
    CpuDone { server: u8, gen: u32 },

    // -- telemetry
    /// A second closes (background).
    Second,
}

impl Ev {
    /// Background events do not keep a run alive: a run whose only pending events are background ones is
    /// idle.
    pub(super) fn background(&self) -> bool {
        matches!(
            self,
            Ev::Second
                | Ev::AutoscaleTick { .. }
                | Ev::NodeDeath { .. }
                | Ev::Fault { .. }
                // A timeout whose allocation already finished must not keep the run going.
                | Ev::MaxRunExpired { .. }
                | Ev::PeriodicLaunch { foreground: false, .. }
        )
    }
}
