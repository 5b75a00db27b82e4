//! Client nodes: capacity and usage, image cache, heartbeats, and the 200 ms status-update batching.
//!
//! **Heartbeats are not events.** Nomad gives each node a TTL `T + U[0, T)` with
//! `T = max(min_heartbeat_ttl, N / max_heartbeats_per_second)` ([src] `nomad/heartbeat.go`), so ≈ 33
//! heartbeats/s reach the leader in a large cluster. The simulator never schedules them: the per-second
//! heartbeat count (and its CPU) is `ready_nodes / E[TTL]` accumulated exactly, and a node that dies gets
//! one detection event at `death + U(0, TTL] + grace` (the time left on its last TTL is uniform on
//! `(0, TTL]` for a node that heartbeats on schedule), which is what lazy expiry would compute. So a dead node
//! is found after `0.75·T + grace` on average and `2T + grace` at most.

use rand::Rng;

use crate::api::{NodeStatus, SimTime};
use crate::params::ModelParams;

/// One cached image on a node.
#[derive(Debug, Clone, Copy)]
pub struct CachedImage {
    /// Interned image id.
    pub image: u32,
    /// Allocations using it now.
    pub in_use: u32,
    /// When it was last released (for the 3-minute GC).
    pub released_at: SimTime,
    /// Present from boot and never collected (pre-pulled base images).
    pub pinned: bool,
    /// If a pull is in progress, when it finishes.
    pub pulling_until: Option<SimTime>,
}

/// A client node.
#[derive(Debug, Clone)]
pub struct Node {
    /// UUID.
    pub id: String,
    /// Name.
    pub name: String,
    /// Pool index.
    pub pool: u32,
    /// Datacenter index (into the cluster's datacenter list).
    pub dc: u32,
    /// Usable CPU (capacity − reserved), MHz.
    pub cpu_cap: u32,
    /// Usable memory, MB.
    pub mem_cap: u32,
    /// CPU in use by non-terminal allocations (plus verified in-flight plans), MHz.
    pub cpu_used: u32,
    /// Memory in use, MB.
    pub mem_used: u32,
    /// Disk for allocations, MB (`NodeResources.Disk.DiskMB`).
    pub disk_cap: u32,
    /// Ephemeral disk in use, MB.
    pub disk_used: u32,
    /// Status as the servers see it.
    pub status: NodeStatus,
    /// Scheduling eligibility.
    pub eligible: bool,
    /// Draining.
    pub drain: bool,
    /// The machine is gone (interrupted or scaled down), whether or not the servers noticed.
    pub dead: bool,
    /// Non-terminal allocations on the node.
    pub live_allocs: u32,
    /// Allocations ever placed here.
    pub total_allocs: u32,
    /// Image cache.
    pub images: Vec<CachedImage>,
    /// When the node's next client status flush is scheduled, if one is.
    pub flush_at: Option<SimTime>,
    /// Allocation status changes waiting for the next 200 ms flush.
    pub pending_updates: Vec<crate::ids::AllocIx>,
    /// When the node joined (ns).
    pub joined: SimTime,
    /// When it left.
    pub left: Option<SimTime>,
    /// Why it left.
    pub left_reason: &'static str,
    /// Last time it had no allocations (for scale-down).
    pub idle_since: SimTime,
    /// Raft index of creation.
    pub create_index: u64,
    /// Raft index of the last change.
    pub modify_index: u64,
    /// Last status change.
    pub status_updated_at: SimTime,
    /// Phase of the node's 200 ms update ticker, ns.
    pub tick_phase: u64,
}

impl Node {
    /// Whether an allocation of `cpu`/`mem` fits now.
    #[inline]
    pub fn fits(&self, cpu: u32, mem: u32) -> bool {
        self.cpu_used + cpu <= self.cpu_cap && self.mem_used + mem <= self.mem_cap
    }

    /// Whether the scheduler may place on it.
    #[inline]
    pub fn schedulable(&self) -> bool {
        self.status == NodeStatus::Ready && self.eligible && !self.drain
    }

    /// Free fractions after adding `cpu`/`mem` (the allocation being placed counts as used).
    #[inline]
    pub fn free_after(&self, cpu: u32, mem: u32) -> (f64, f64) {
        (
            1.0 - (self.cpu_used + cpu) as f64 / self.cpu_cap.max(1) as f64,
            1.0 - (self.mem_used + mem) as f64 / self.mem_cap.max(1) as f64,
        )
    }

    /// Image state at `now`: `Ok(())` if present, `Err(Some(t))` if a pull finishes at `t`, `Err(None)` if
    /// absent. Garbage-collects it if unused for longer than `gc_after`.
    pub fn image_state(
        &mut self,
        image: u32,
        now: SimTime,
        gc_after_ns: u64,
    ) -> Result<(), Option<SimTime>> {
        if let Some(i) = self.images.iter().position(|c| c.image == image) {
            let c = &mut self.images[i];
            if let Some(t) = c.pulling_until {
                if t > now {
                    return Err(Some(t));
                }
                c.pulling_until = None;
            }
            if c.pinned || c.in_use > 0 || now < c.released_at + gc_after_ns {
                return Ok(());
            }
            self.images.swap_remove(i);
        }
        Err(None)
    }

    /// Marks a pull of `image` finishing at `until`.
    pub fn start_pull(&mut self, image: u32, now: SimTime, until: SimTime) {
        self.images.retain(|c| c.image != image);
        self.images.push(CachedImage {
            image,
            in_use: 0,
            released_at: now,
            pinned: false,
            pulling_until: Some(until),
        });
    }

    /// An allocation started using `image`.
    pub fn use_image(&mut self, image: u32) {
        if let Some(c) = self.images.iter_mut().find(|c| c.image == image) {
            c.in_use += 1;
        }
    }

    /// An allocation stopped using `image`.
    pub fn release_image(&mut self, image: u32, now: SimTime) {
        if let Some(c) = self.images.iter_mut().find(|c| c.image == image) {
            c.in_use = c.in_use.saturating_sub(1);
            c.released_at = now;
        }
    }
}

/// Mean heartbeat TTL for a cluster of `nodes` ready nodes, ns: `E[T + U[0,T)] = 1.5 T`.
pub fn mean_heartbeat_ttl_ns(p: &ModelParams, nodes: usize) -> f64 {
    1.5 * p.heartbeat_ttl_base_us(nodes) as f64 * 1_000.0
}

/// Time from a node's death until the servers mark it down, drawn as lazy expiry would find it:
/// `TTL ~ U[T, 2T)`, remaining `~ U(0, TTL]`, plus the grace period. `ttl_base_ns` is `T` (300 s after a
/// leader failover).
pub fn detection_delay_ns<R: Rng>(rng: &mut R, ttl_base_ns: u64, grace_ns: u64) -> u64 {
    let ttl = ttl_base_ns + rng.random_range(0..ttl_base_ns.max(1));
    let remaining = rng.random_range(1..=ttl.max(1));
    remaining + grace_ns
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::stream;

    #[test]
    fn detection_delay_matches_nomad_average_and_bound() {
        let p = ModelParams::default();
        let t = p.heartbeat_ttl_base_us(5_000) * 1_000; // 100 s
        let grace = p.heartbeat_grace_us * 1_000;
        let mut rng = stream(3, "hb");
        let n = 20_000;
        let mut sum = 0f64;
        let mut max = 0;
        for _ in 0..n {
            let d = detection_delay_ns(&mut rng, t, grace);
            sum += d as f64;
            max = max.max(d);
        }
        let mean_s = sum / n as f64 / 1e9;
        // 0.75·T + 10 s = 85 s at 5,000 nodes; max 2T + 10 s = 210 s.
        assert!((mean_s - 85.0).abs() < 1.5, "mean detection {mean_s}");
        assert!(max <= 2 * t + grace);
        assert!(mean_heartbeat_ttl_ns(&p, 5_000) / 1e9 > 149.0);
        // ≈ 33 heartbeats/s at N ≥ 500
        let rate = 5_000.0 / (mean_heartbeat_ttl_ns(&p, 5_000) / 1e9);
        assert!((rate - 33.3).abs() < 0.5, "{rate}");
    }

    #[test]
    fn image_cache_dedups_and_collects() {
        let mut n = Node {
            id: String::new(),
            name: String::new(),
            pool: 0,
            dc: 0,
            cpu_cap: 1000,
            mem_cap: 1000,
            cpu_used: 0,
            mem_used: 0,
            disk_cap: 1000,
            disk_used: 0,
            status: NodeStatus::Ready,
            eligible: true,
            drain: false,
            dead: false,
            live_allocs: 0,
            total_allocs: 0,
            images: vec![],
            flush_at: None,
            pending_updates: vec![],
            joined: 0,
            left: None,
            left_reason: "",
            idle_since: 0,
            create_index: 0,
            modify_index: 0,
            status_updated_at: 0,
            tick_phase: 0,
        };
        let gc = 180_000_000_000;
        assert_eq!(n.image_state(7, 0, gc), Err(None));
        n.start_pull(7, 0, 5_000);
        assert_eq!(
            n.image_state(7, 100, gc),
            Err(Some(5_000)),
            "concurrent pull is deduplicated"
        );
        assert_eq!(n.image_state(7, 5_000, gc), Ok(()));
        n.use_image(7);
        n.release_image(7, 10_000);
        assert_eq!(n.image_state(7, 10_000 + gc - 1, gc), Ok(()));
        assert_eq!(
            n.image_state(7, 10_000 + gc, gc),
            Err(None),
            "collected after 3 minutes unused"
        );
        assert!(n.fits(1000, 1000) && !n.fits(1001, 1));
    }
}
