//! The servers' CPUs: every piece of server work that sits on a critical path (a scheduler worker's pass,
//! the plan applier's evaluate + sign, the FSM apply of an entry) is an item on its server's processor-shared
//! cores (`crate::model::cpu::CpuServer`), so it takes `work / core speed` when the server has room and
//! longer when demand exceeds its cores. Work off the critical path (heartbeats, RPC decode, the failed
//! passes of released blocked evals, snapshots, the followers' FSM, Go GC and runtime overhead) is fluid background load,
//! set each second from the previous second's amount.
//!
//! An item carries what to do when it completes ([`CpuJob`]). The server's next completion is armed as one
//! `Ev::CpuDone { server, gen }` event; starting an item that finishes earlier re-arms it (a new `gen`), a
//! stale event (old `gen`) does nothing, and an event that fires before anything finished (the rate fell
//! since it was armed) just re-arms.

use super::*;
use crate::model::cpu::{scale_ns, CpuServer, CpuSpec};

/// What an item does when it completes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum CpuJob {
    /// A worker's scheduling pass that produced `plan`.
    Worker(PlanIx),
    /// The plan applier's evaluate (+ sign) of `plan`.
    Verify(PlanIx),
    /// The FSM apply of the entry in log slot `entry`.
    Fsm(u32),
}

impl CpuJob {
    fn encode(self) -> u64 {
        match self {
            CpuJob::Worker(p) => p.index() as u64,
            CpuJob::Verify(p) => (1 << 40) | p.index() as u64,
            CpuJob::Fsm(e) => (2 << 40) | e as u64,
        }
    }

    fn decode(v: u64) -> CpuJob {
        let ix = (v & ((1 << 40) - 1)) as usize;
        match v >> 40 {
            0 => CpuJob::Worker(PlanIx::new(ix as u32)),
            1 => CpuJob::Verify(PlanIx::new(ix as u32)),
            _ => CpuJob::Fsm(ix as u32),
        }
    }
}

/// One server's CPU.
pub(super) struct ServerCpu {
    ps: CpuServer,
    /// Generation of the armed completion event.
    gen: u32,
    /// Time the armed completion event fires, if one is armed.
    armed: Option<SimTime>,
    /// Fluid background work charged during the current second, real ns.
    fluid_ns: u64,
}

impl ServerCpu {
    pub(super) fn new(spec: CpuSpec) -> Self {
        ServerCpu {
            ps: CpuServer::new(spec),
            gen: 0,
            armed: None,
            fluid_ns: 0,
        }
    }

    /// Speed of one core, ppm of the reference core.
    pub(super) fn speed_ppm(&self) -> u64 {
        self.ps.speed_ppm()
    }

    /// Full-load capacity in core-equivalents ×1000.
    pub(super) fn capacity_milli(&self) -> u64 {
        self.ps.capacity_milli()
    }
}

impl Ctx {
    /// Real ns that `work_ref_ns` of reference-core work takes on one idle core of server `s`.
    #[inline]
    pub(super) fn scaled(&self, s: usize, work_ref_ns: u64) -> u64 {
        scale_ns(work_ref_ns, self.cpu[s].speed_ppm())
    }

    /// Starts `job` needing `work_ref_ns` of reference-core work on server `s` now, and charges its CPU.
    pub(super) fn cpu_start(&mut self, s: usize, work_ref_ns: u64, job: CpuJob) {
        let real = self.scaled(s, work_ref_ns);
        let r = &mut self.res[s];
        r.busy_ns += real;
        r.busy_ns_total += real;
        let now = self.now;
        self.cpu[s].ps.start(now, job.encode(), work_ref_ns);
        let next = self.cpu[s].ps.next_completion().map(|c| c.0);
        if let Some(t) = next {
            if self.cpu[s].armed.is_none_or(|a| t < a) {
                self.arm(s, t);
            }
        }
    }

    fn arm(&mut self, s: usize, t: SimTime) {
        let c = &mut self.cpu[s];
        c.gen = c.gen.wrapping_add(1);
        c.armed = Some(t);
        let gen = c.gen;
        let t = t.max(self.now);
        self.push(
            t,
            Ev::CpuDone {
                server: s as u8,
                gen,
            },
        );
    }

    /// The armed completion event of server `s` fired: pushes the finished items' jobs to `out` (in
    /// completion order) and re-arms. A stale event pushes nothing.
    pub(super) fn cpu_done(&mut self, s: usize, gen: u32, out: &mut Vec<CpuJob>) {
        if self.cpu[s].gen != gen {
            return;
        }
        self.cpu[s].armed = None;
        let now = self.now;
        while let Some(id) = self.cpu[s].ps.pop_finished(now) {
            out.push(CpuJob::decode(id));
        }
        if let Some((t, _)) = self.cpu[s].ps.next_completion() {
            self.arm(s, t);
        }
    }

    /// Charges `ns` of real CPU time of fluid (off-critical-path) work to server `s`: it counts in the
    /// server's CPU use now and loads its cores as background during the next second.
    #[inline]
    pub(super) fn charge_fluid(&mut self, s: usize, ns: u64) {
        let r = &mut self.res[s];
        r.busy_ns += ns;
        r.busy_ns_total += ns;
        self.cpu[s].fluid_ns += ns;
    }

    /// Closes a second of CPU (call before the second's metric row is taken): the followers are charged the
    /// FSM work the leader applied; the background load of the next second is this second's fluid work plus
    /// the runtime overhead (`cpu_overhead_factor − 1`) of all the work, in core-equivalents.
    pub(super) fn cpu_second(&mut self) {
        let now = self.now;
        let over = self.p.cpu_overhead_factor - 1.0;
        let fsm_ref = std::mem::take(&mut self.fsm_ref_ns_sec);
        for s in 0..self.cpu.len() {
            if s != self.leader {
                // Followers apply every committed entry too, off any critical path of the model.
                let real = self.scaled(s, fsm_ref);
                self.res[s].busy_ns += real;
                self.res[s].busy_ns_total += real;
                self.cpu[s].fluid_ns += real;
            }
            let busy = self.res[s].busy_ns as f64;
            let fluid = self.cpu[s].fluid_ns as f64;
            let milli = ((fluid + over * busy) / 1e6) as u64;
            self.cpu[s].fluid_ns = 0;
            self.cpu[s].ps.set_background(now, milli);
            // The rate of running items changed: their completion may be later or earlier now.
            if let Some((t, _)) = self.cpu[s].ps.next_completion() {
                if self.cpu[s].armed.is_none_or(|a| t < a) {
                    self.arm(s, t);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_round_trip_through_the_item_id() {
        for j in [
            CpuJob::Worker(PlanIx::new(0)),
            CpuJob::Verify(PlanIx::new(123_456)),
            CpuJob::Fsm(7),
        ] {
            assert_eq!(CpuJob::decode(j.encode()), j);
        }
    }
}
