//! The context every subsystem works in: the clock, the one event queue, the parameters, the shared sinks
//! (the Raft log every subsystem appends to, server CPU accounts, leadership) and the outputs (completed
//! requests, change batches, run events, counters).
//!
//! The Raft log sits here rather than in a subsystem of its own because every subsystem appends to it
//! the way it pushes events: an append may start a disk write, which schedules an event, and that event's
//! queue sequence number must be taken at the moment of the append (deferring appends would reorder ties).

use super::*;

/// Shared context of one cluster. See the module docs.
pub(super) struct Ctx {
    /// Model parameters.
    pub(super) p: ModelParams,
    /// Current simulated time, ns.
    pub(super) now: SimTime,
    /// The one event queue, `(time, seq)` ordered.
    pub(super) q: EventQueue<Ev>,
    /// Foreground events pending (background ones do not keep a run alive).
    pub(super) active_events: u64,
    /// Event budget.
    pub(super) max_events: u64,
    /// Time budget, ns.
    pub(super) max_time: SimTime,
    /// Whether change batches are recorded.
    pub(super) record_changes: bool,
    /// Change batches since the last take.
    pub(super) changes: Vec<ChangeBatch>,
    /// Notable events.
    pub(super) run_events: Vec<RunEvent>,
    /// Answered requests waiting to be taken.
    pub(super) completed: Vec<(RequestId, SimTime, RequestOutcome)>,
    /// Run counters.
    pub(super) counters: Counters,
    /// Per-server CPU accounts and gauges.
    pub(super) res: Vec<ServerRes>,
    /// Index of the leader server.
    pub(super) leader: usize,
    /// No leader before this time (an election is running).
    pub(super) election_until: SimTime,
    /// Heartbeat TTLs are the failover TTL until this time.
    pub(super) ttl_override_until: SimTime,
    /// Raft timing model of the leader.
    pub(super) raft: RaftModel,
    /// The Nomad version's mechanisms in force.
    pub(super) ver: VersionProfile,
    /// Every server's CPU.
    pub(super) cpu: Vec<cpu::ServerCpu>,
    /// Committed entries waiting for the leader's FSM goroutine, in log order.
    pub(super) fsm_queue: std::collections::VecDeque<u32>,
    /// The FSM goroutine is applying an entry.
    pub(super) fsm_busy: bool,
    /// Reference-core FSM work applied on the leader during the current second, ns (the followers apply
    /// the same entries: their background load).
    pub(super) fsm_ref_ns_sec: u64,
    /// Control-plane totals for the record.
    pub(super) cp: ControlPlaneTotals,
    /// Entry ids of leader writes waiting for their commit, in log order, and the size of each write.
    pub(super) commit_ids: std::collections::VecDeque<u32>,
    pub(super) commit_counts: std::collections::VecDeque<u32>,
    /// Scratch of finished CPU items.
    pub(super) cpu_buf: Vec<cpu::CpuJob>,
    /// Log entries appended and not yet applied, by slot.
    pub(super) entries: Vec<Option<Entry>>,
    /// Raft index of the entry in each slot.
    pub(super) entry_index: Vec<u64>,
    /// Free entry slots.
    pub(super) free_entries: Vec<u32>,
    /// Last Raft index handed out.
    pub(super) raft_index: u64,
    /// Scratch buffer of committed entries.
    pub(super) committed_buf: Vec<Committed>,
    /// Placements committed in the current second.
    pub(super) sec_placements: u64,
    /// Plan node rejections in the current second.
    pub(super) sec_rejections: u64,
}

impl Ctx {
    /// Schedules `ev` at `t`.
    #[inline]
    pub(super) fn push(&mut self, t: SimTime, ev: Ev) {
        if !ev.background() {
            self.active_events += 1;
        }
        self.q.push(t, ev);
    }

    /// Whether a leader is elected now.
    #[inline]
    pub(super) fn has_leader(&self) -> bool {
        self.now >= self.election_until
    }

    /// Charges `ref_ns` of reference-core work done off the critical path (fluid background) to server `s`.
    #[inline]
    pub(super) fn charge(&mut self, s: usize, ref_ns: u64) {
        let real = self.scaled(s, ref_ns);
        self.charge_fluid(s, real);
    }

    /// Charges `ref_ns` of background work to the leader.
    #[inline]
    pub(super) fn charge_leader(&mut self, ref_ns: u64) {
        self.charge(self.leader, ref_ns);
    }

    /// Charges `ref_ns` of background work to every server.
    #[inline]
    pub(super) fn charge_all(&mut self, ref_ns: u64) {
        for s in 0..self.res.len() {
            self.charge(s, ref_ns);
        }
    }
}

/// Control-plane totals accumulated over a run (see [`crate::record::ControlPlane`]).
#[derive(Debug, Clone, Default)]
pub(super) struct ControlPlaneTotals {
    /// Plans the workers submitted to the applier.
    pub(super) plans_submitted: u64,
    /// Plans with at least one node rejected (or stale).
    pub(super) plans_rejected: u64,
    /// Re-plans: a worker's pass after a partially rejected plan.
    pub(super) replans: u64,
    /// Most plans dispatched to Raft and not yet applied at once.
    pub(super) max_plans_in_flight: u32,
    /// Per server: real ns of worker passes, applier evaluate+sign, FSM applies.
    pub(super) busy_workers_ns: Vec<u64>,
    pub(super) busy_applier_ns: Vec<u64>,
    pub(super) busy_fsm_ns: Vec<u64>,
    /// Identity signatures made by the applier.
    pub(super) signatures: u64,
}
