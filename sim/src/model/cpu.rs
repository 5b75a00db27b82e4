//! Server CPU that pushes back: processor sharing of a server's vCPUs between the goroutines that burn it.
//!
//! **What shares the CPU** ([src], `sim/MECHANISMS.md` §4): `num_schedulers` workers (default
//! `runtime.NumCPU()`, `nomad/config.go:DefaultConfig`), the plan applier goroutine and its `EvaluatePool` of
//! `NumCPU/2` verifiers (`nomad/plan_apply.go:planner.planApply`), the Raft leader loop and the FSM goroutine
//! (hashicorp/raft `raft.go:Raft.leaderLoop`, `fsm.go:Raft.runFSM`), one goroutine per RPC (`Node.UpdateAlloc`,
//! heartbeats `Node.UpdateStatus`, `Plan.Submit`, follower `Eval.Dequeue`) and the Go GC. GOMAXPROCS = vCPUs.
//!
//! **Model**: egalitarian processor sharing with a per-item cap of one vCPU (a goroutine runs on one thread
//! at a time). With `n` runnable items and `A` core-equivalents available, each item progresses at
//! `speed × min(1, A / n)`. `A = physical cores + (vCPUs − physical) × smt_yield − background`, where
//! `background` is fluid load that is not worth an item each (heartbeats, RPC decode, GC), set by the caller.
//! Under light load (`n ≤ A`) nothing slows; when demand exceeds the cores, everything slows together —
//! the serial goroutines (applier, FSM) included, so a small server makes the whole cluster slower.
//!
//! Work is in **reference-core ns**: ns on a 3.0 GHz Skylake-SP core. A core runs it at
//! `speed = clock_mhz / 3000 × ipc(generation)`; the IPC factors per generation are [est] (relative
//! single-thread throughput at equal clock, from public SPECint-class comparisons): Broadwell 0.90 (i3, m4),
//! Skylake-SP 1.00 (m5, c5, r5, t3), Cascade Lake 1.03 (m5n, c5 2nd gen), Zen 1 0.85 (m5a, t3a), Zen 2 1.05
//! (c5a), Zen 3 1.25 (m6a), Ice Lake 1.15 (m6i, c6i, i4i), Sapphire Rapids 1.25 (m7i), Graviton2 0.85 (m6g),
//! Graviton3 1.10 (m7g). `smt_yield` [est 0.25]: the second hyperthread of a busy core adds ~25% (a pair ≈
//! 1.25 cores).
//!
//! Exact PS in a discrete-event simulator: a virtual clock `V` counts the work each runnable item has
//! received; an item started at `V₀` with work `w` finishes when `V = V₀ + w`, so items sit in a heap keyed
//! by that tag and only the earliest needs a time. `O(log n)` per start/completion, no allocation per call
//! once the heap has grown to the peak number of items. Integer arithmetic throughout (u128 for `V`).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

/// Reference core clock, MHz (work is expressed in ns on this core at IPC 1.0).
pub(crate) const REFERENCE_MHZ: u64 = 3_000;

/// CPU micro-architecture of an instance family.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Microarch {
    /// Intel Broadwell (i3, m4).
    Broadwell,
    /// Intel Skylake-SP (m5, c5, r5, t3).
    Skylake,
    /// Intel Cascade Lake.
    CascadeLake,
    /// AMD Zen 1 (m5a, t3a).
    Zen1,
    /// AMD Zen 2 (c5a).
    Zen2,
    /// AMD Zen 3 (m6a, c6a).
    Zen3,
    /// Intel Ice Lake (m6i, c6i, r6i, i4i).
    IceLake,
    /// Intel Sapphire Rapids (m7i, c7i).
    SapphireRapids,
    /// AWS Graviton2 (m6g, c6g).
    Graviton2,
    /// AWS Graviton3 (m7g, c7g).
    Graviton3,
}

impl Microarch {
    /// Single-thread throughput per MHz relative to Skylake-SP, ×1000. [est] (module docs)
    pub(crate) fn ipc_milli(self) -> u64 {
        match self {
            Microarch::Broadwell => 900,
            Microarch::Skylake => 1_000,
            Microarch::CascadeLake => 1_030,
            Microarch::Zen1 => 850,
            Microarch::Zen2 => 1_050,
            Microarch::Zen3 => 1_250,
            Microarch::IceLake => 1_150,
            Microarch::SapphireRapids => 1_250,
            Microarch::Graviton2 => 850,
            Microarch::Graviton3 => 1_100,
        }
    }

    /// Whether the family runs two hardware threads per core (Graviton does not).
    pub(crate) fn smt(self) -> bool {
        !matches!(self, Microarch::Graviton2 | Microarch::Graviton3)
    }

    /// The micro-architecture of an EC2 instance type by its family (`m5a.xlarge` → Zen 1), if known.
    pub(crate) fn for_instance(name: &str) -> Option<Self> {
        let family = name.split('.').next()?;
        Some(match family {
            "i3" | "i3en" | "m4" | "c4" | "r4" => {
                if family == "i3en" {
                    Microarch::Skylake
                } else {
                    Microarch::Broadwell
                }
            }
            "m5" | "c5" | "r5" | "t3" | "m5d" | "c5d" | "r5d" => Microarch::Skylake,
            "m5n" | "c5n" | "r5n" | "m5zn" => Microarch::CascadeLake,
            "m5a" | "t3a" | "r5a" | "m5ad" => Microarch::Zen1,
            "c5a" | "c5ad" => Microarch::Zen2,
            "m6a" | "c6a" | "r6a" => Microarch::Zen3,
            "m6i" | "c6i" | "r6i" | "m6id" | "c6id" | "r6id" | "i4i" => Microarch::IceLake,
            "m7i" | "c7i" | "r7i" => Microarch::SapphireRapids,
            "m6g" | "c6g" | "r6g" | "t4g" | "m6gd" => Microarch::Graviton2,
            "m7g" | "c7g" | "r7g" | "m7gd" => Microarch::Graviton3,
            _ => return None,
        })
    }
}

/// Speed of one core relative to the reference, parts per million: reference work `w` ns takes
/// `w × 1e6 / speed_ppm` ns on it.
pub(crate) fn core_speed_ppm(mhz: u32, arch: Microarch) -> u64 {
    (mhz as u64 * arch.ipc_milli() * 1_000 / REFERENCE_MHZ).max(1)
}

/// Real ns a lone item of `work_ref_ns` reference work takes on a core of `speed_ppm`.
pub(crate) fn scale_ns(work_ref_ns: u64, speed_ppm: u64) -> u64 {
    ((work_ref_ns as u128 * 1_000_000).div_ceil(speed_ppm.max(1) as u128)) as u64
}

/// Size and speed of one server's CPU.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct CpuSpec {
    /// vCPUs (GOMAXPROCS).
    pub(crate) vcpus: u32,
    /// Per-core clock, MHz (the instance table's `mhz_per_core`).
    pub(crate) mhz: u32,
    /// Micro-architecture.
    pub(crate) arch: Microarch,
    /// Extra throughput of a core's second hyperthread, ×1000. [est] 250.
    pub(crate) smt_yield_milli: u32,
}

impl CpuSpec {
    /// A spec for EC2 type `name` with `vcpus` and `mhz` (from `crate::instances`); `None` for an unknown family.
    pub(crate) fn for_instance(name: &str, vcpus: u32, mhz: u32) -> Option<Self> {
        Some(CpuSpec {
            vcpus,
            mhz,
            arch: Microarch::for_instance(name)?,
            smt_yield_milli: 250,
        })
    }

    /// Physical cores: half the vCPUs with SMT, else every vCPU.
    pub(crate) fn physical(&self) -> u32 {
        let v = self.vcpus.max(1);
        if self.arch.smt() && v >= 2 {
            v / 2
        } else {
            v
        }
    }

    /// Core-equivalents of throughput when every vCPU is busy, ×1000.
    pub(crate) fn capacity_milli(&self) -> u64 {
        let v = self.vcpus.max(1) as u64;
        let physical = self.physical() as u64;
        physical * 1_000 + (v - physical) * self.smt_yield_milli as u64
    }

    /// Speed of one core, ppm of the reference.
    pub(crate) fn speed_ppm(&self) -> u64 {
        core_speed_ppm(self.mhz, self.arch)
    }
}

/// Processor-sharing CPU of one server (module docs).
#[derive(Debug, Clone)]
pub(crate) struct CpuServer {
    speed_ppm: u64,
    capacity_milli: u64,
    background_milli: u64,
    /// Virtual work clock: reference-work ns × 1e6 received by each runnable item.
    v: u128,
    last: u64,
    items: BinaryHeap<Reverse<(u128, u64, u64)>>,
    seq: u64,
    busy_milli_ns: u128,
}

/// Smallest capacity left for items whatever the background (keeps progress finite), ×1000.
const MIN_AVAILABLE_MILLI: u64 = 50;

impl CpuServer {
    /// An idle CPU of `spec`.
    pub(crate) fn new(spec: CpuSpec) -> Self {
        Self::with_capacity(spec, 64)
    }

    /// An idle CPU of `spec` with room for `items` runnable items before its heap grows (a client host,
    /// of which a run may have thousands, starts empty).
    pub(crate) fn with_capacity(spec: CpuSpec, items: usize) -> Self {
        CpuServer {
            speed_ppm: spec.speed_ppm(),
            capacity_milli: spec.capacity_milli(),
            background_milli: 0,
            v: 0,
            last: 0,
            items: BinaryHeap::with_capacity(items),
            seq: 0,
            busy_milli_ns: 0,
        }
    }

    fn available_milli(&self) -> u64 {
        self.capacity_milli
            .saturating_sub(self.background_milli)
            .max(MIN_AVAILABLE_MILLI)
    }

    /// Share of one core each runnable item gets now, ×1000 (1000 = a full core).
    pub(crate) fn share_milli(&self) -> u64 {
        let n = self.items.len() as u64;
        self.available_milli()
            .checked_div(n)
            .map_or(1_000, |s| s.min(1_000))
    }

    /// Rate of `v` per real ns.
    fn rate(&self) -> u128 {
        let n = self.items.len() as u128;
        let avail = self.available_milli() as u128;
        if n * 1_000 <= avail {
            self.speed_ppm as u128
        } else {
            self.speed_ppm as u128 * avail / (n * 1_000)
        }
    }

    /// Advances the clock to `now` (never backwards).
    pub(crate) fn advance(&mut self, now: u64) {
        if now <= self.last {
            return;
        }
        let dt = (now - self.last) as u128;
        let n = self.items.len() as u64;
        if n > 0 {
            self.v += dt * self.rate();
            self.busy_milli_ns += dt * (n * 1_000).min(self.available_milli()) as u128;
        }
        self.busy_milli_ns += dt * self.background_milli.min(self.capacity_milli) as u128;
        self.last = now;
    }

    /// Sets the fluid background load at `now`, in core-equivalents ×1000 (e.g. heartbeats/s × cost).
    pub(crate) fn set_background(&mut self, now: u64, milli_cores: u64) {
        self.advance(now);
        self.background_milli = milli_cores;
    }

    /// Starts item `id` needing `work_ref_ns` of reference-core work at `now`.
    pub(crate) fn start(&mut self, now: u64, id: u64, work_ref_ns: u64) {
        self.advance(now);
        let tag = self.v + work_ref_ns as u128 * 1_000_000;
        self.seq += 1;
        self.items.push(Reverse((tag, self.seq, id)));
    }

    /// The next item to finish and when, if nothing else starts or ends before.
    pub(crate) fn next_completion(&self) -> Option<(u64, u64)> {
        let Reverse((tag, _, id)) = *self.items.peek()?;
        let left = tag.saturating_sub(self.v);
        let dt = left.div_ceil(self.rate().max(1));
        Some((self.last + dt as u64, id))
    }

    /// Advances to `now` and removes one item that has finished by then, if any (call until `None`).
    pub(crate) fn pop_finished(&mut self, now: u64) -> Option<u64> {
        self.advance(now);
        let Reverse((tag, _, id)) = *self.items.peek()?;
        if tag <= self.v {
            self.items.pop();
            Some(id)
        } else {
            None
        }
    }

    /// Runnable items.
    pub(crate) fn runnable(&self) -> usize {
        self.items.len()
    }

    /// Core-equivalent ns of CPU used so far (items + background), for CPU % = busy / (capacity × interval).
    pub(crate) fn busy_core_ns(&self) -> u64 {
        (self.busy_milli_ns / 1_000) as u64
    }

    /// Full-load capacity, core-equivalents ×1000.
    pub(crate) fn capacity_milli(&self) -> u64 {
        self.capacity_milli
    }

    /// Speed of one core, ppm of the reference.
    pub(crate) fn speed_ppm(&self) -> u64 {
        self.speed_ppm
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spec(name: &str, vcpus: u32, mhz: u32) -> CpuSpec {
        CpuSpec::for_instance(name, vcpus, mhz).expect(name)
    }

    /// Every type of the instance table (the server candidates of `plan --server-types` included) has a
    /// known micro-architecture, so its core speed never falls back to a guess.
    #[test]
    fn every_instance_type_has_a_generation() {
        for t in crate::instances::INSTANCE_TYPES {
            assert!(Microarch::for_instance(t.name).is_some(), "{}", t.name);
        }
        assert_eq!(
            Microarch::for_instance("c5.xlarge"),
            Some(Microarch::Skylake)
        );
        assert_eq!(
            Microarch::for_instance("c6i.8xlarge"),
            Some(Microarch::IceLake)
        );
        assert_eq!(
            Microarch::for_instance("i4i.4xlarge"),
            Some(Microarch::IceLake)
        );
    }

    /// Runs `jobs` items of `work` each started at 0; returns the completion time of the last.
    fn makespan(spec: CpuSpec, jobs: u64, work: u64) -> u64 {
        let mut c = CpuServer::new(spec);
        for i in 0..jobs {
            c.start(0, i, work);
        }
        let mut last = 0;
        let mut done = 0;
        while let Some((t, _)) = c.next_completion() {
            while c.pop_finished(t).is_some() {
                done += 1;
            }
            last = t;
        }
        assert_eq!(done, jobs);
        last
    }

    #[test]
    fn speed_follows_clock_and_generation() {
        assert_eq!(core_speed_ppm(3_000, Microarch::Skylake), 1_000_000);
        let i3 = core_speed_ppm(2_300, Microarch::Broadwell);
        assert_eq!(i3, 690_000);
        assert!(
            core_speed_ppm(3_500, Microarch::IceLake) > core_speed_ppm(3_100, Microarch::Skylake)
        );
        assert_eq!(scale_ns(1_000, 500_000), 2_000);
        assert_eq!(
            Microarch::for_instance("m5a.2xlarge"),
            Some(Microarch::Zen1)
        );
        assert_eq!(
            Microarch::for_instance("i3.16xlarge"),
            Some(Microarch::Broadwell)
        );
        assert_eq!(Microarch::for_instance("z9.large"), None);
    }

    #[test]
    fn capacity_counts_hyperthreads_at_their_yield() {
        assert_eq!(
            spec("m5.2xlarge", 8, 3_100).capacity_milli(),
            4 * 1_000 + 4 * 250
        );
        assert_eq!(spec("m6g.2xlarge", 8, 2_500).capacity_milli(), 8_000);
        assert_eq!(spec("m5.large", 1, 3_100).capacity_milli(), 1_000);
    }

    #[test]
    fn light_load_has_no_slowdown() {
        let s = spec("m5.2xlarge", 8, 3_000);
        // 3 items on 5 core-equivalents: each runs at full core speed
        assert_eq!(makespan(s, 3, 1_000_000), 1_000_000);
        assert_eq!(makespan(s, 1, 7), 7);
    }

    #[test]
    fn overload_slows_everything_and_a_smaller_server_is_slower() {
        let small = spec("m5.2xlarge", 8, 3_000); // 5 core-equivalents
        let big = spec("m5.16xlarge", 64, 3_000); // 40
        let work = 1_000_000;
        let t_small = makespan(small, 64, work);
        let t_big = makespan(big, 64, work);
        // 64 ms of work: small needs 64/5 = 12.8 ms, big has 40 core-eq for 64 items: 1.6 ms
        assert!((t_small as i64 - 12_800_000).abs() < 1_000, "{t_small}");
        assert!((t_big as i64 - 1_600_000).abs() < 1_000, "{t_big}");
        assert!(t_small > 7 * t_big);
    }

    #[test]
    fn a_serial_item_is_slowed_by_contention() {
        // The FSM goroutine (one item) alone vs sharing with 15 workers on 4 vCPUs.
        let s = spec("m5.xlarge", 4, 3_000); // 2.5 core-eq
        let mut c = CpuServer::new(s);
        c.start(0, 0, 1_000_000);
        assert_eq!(c.next_completion(), Some((1_000_000, 0)));
        for i in 1..16 {
            c.start(0, i, 100_000_000);
        }
        let (t, id) = c.next_completion().unwrap();
        assert_eq!(id, 0);
        assert_eq!(t, 6_400_000, "1 ms of work at 2.5/16 of a core");
    }

    #[test]
    fn processor_sharing_is_exact_across_arrivals() {
        let s = spec("m6g.large", 1, 3_000); // 1 core, speed 0.85 × 1.0
        let mut c = CpuServer::new(s);
        let sp = c.speed_ppm();
        c.start(0, 1, 1_000_000); // alone for its first 500 µs of real time
        c.start(500_000, 2, 1_000_000);
        // item 1 had 0.425 ms of work at t=0.5ms; remaining 0.575 ms at half speed.
        let (t1, id) = c.next_completion().unwrap();
        assert_eq!(id, 1);
        let expect = 500_000 + scale_ns(2 * (1_000_000 - 500_000 * sp / 1_000_000), sp);
        assert!((t1 as i64 - expect as i64).abs() <= 2, "{t1} vs {expect}");
        assert_eq!(c.pop_finished(t1), Some(1));
        assert_eq!(c.pop_finished(t1), None);
        let (t2, _) = c.next_completion().unwrap();
        // total work 2 ms reference at full speed on one core, no idle time since t=0
        assert!(
            (t2 as i64 - scale_ns(2_000_000, sp) as i64).abs() <= 2,
            "{t2}"
        );
        assert_eq!(c.pop_finished(t2), Some(2));
        assert_eq!(c.runnable(), 0);
        assert!((c.busy_core_ns() as i64 - t2 as i64).abs() <= 2);
    }

    #[test]
    fn background_load_takes_capacity() {
        let s = spec("m5.xlarge", 4, 3_000); // 2.5 core-eq
        let mut c = CpuServer::new(s);
        c.set_background(0, 2_000);
        for i in 0..2 {
            c.start(0, i, 1_000_000);
        }
        // 0.5 core-eq left for two items: 0.25 core each
        assert_eq!(c.next_completion().unwrap().0, 4_000_000);
        c.advance(4_000_000);
        assert_eq!(c.busy_core_ns(), 4_000_000 / 2 + 8_000_000);
    }

    #[test]
    fn same_inputs_same_outputs() {
        let s = spec("c5.4xlarge", 16, 3_400);
        let run = || {
            let mut c = CpuServer::new(s);
            let mut out = Vec::new();
            for i in 0..200u64 {
                c.start(i * 10_000, i, 50_000 + (i * 7919) % 300_000);
                while let Some(id) = c.pop_finished(i * 10_000) {
                    out.push((i, id));
                }
            }
            while let Some((t, _)) = c.next_completion() {
                while let Some(id) = c.pop_finished(t) {
                    out.push((t, id));
                }
            }
            out
        };
        let a = run();
        assert_eq!(a.len(), 200);
        assert_eq!(a, run());
    }
}
