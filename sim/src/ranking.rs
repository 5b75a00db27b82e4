//! Ranking nodes for one placement, as Nomad's scheduler stack does ([src] `scheduler/rank.go`,
//! `scheduler/select.go`, `nomad/structs/funcs.go`).
//!
//! Shuffle the feasible nodes once per evaluation (Fisher–Yates, seeded), walk them from a cursor that
//! persists across the placements of one evaluation (Nomad's `StaticIterator`), score only `limit` nodes that
//! fit (the limit iterator, skipping up to 3 nodes with score ≤ 0), and take the maximum. The final score of a
//! node is the mean of the components that apply.

use rand::Rng;

use crate::scenario::{Algorithm, JobType};

/// Raw fit score (before dividing by 18) of a node with the given free fractions (0..=1, including the
/// allocation being placed). `binpack` rewards full nodes (best fit), `spread` empty ones (worst fit).
pub fn fit_raw(alg: Algorithm, free_cpu: f64, free_mem: f64) -> f64 {
    let total = 10f64.powf(free_cpu) + 10f64.powf(free_mem);
    match alg {
        Algorithm::Binpack => (20.0 - total).clamp(0.0, 18.0),
        Algorithm::Spread => (total - 2.0).clamp(0.0, 18.0),
    }
}

/// Normalised fit score in 0..=1.
pub fn fit_score(alg: Algorithm, free_cpu: f64, free_mem: f64) -> f64 {
    fit_raw(alg, free_cpu, free_mem) / 18.0
}

/// Job anti-affinity component: `-(collisions + 1) / desired_count` when the node already holds
/// allocations of this job's group, absent (None) otherwise ([src] `JobAntiAffinityIterator`).
pub fn anti_affinity(collisions: u32, desired_count: u32) -> Option<f64> {
    if collisions == 0 {
        None
    } else {
        Some(-((collisions + 1) as f64) / desired_count.max(1) as f64)
    }
}

/// How many fitting nodes the limit iterator scores for one placement ([src] `stack.go`):
/// batch 2 (power of two choices); service `max(2, ceil(log2 N))`; with a job `spread` block or affinities
/// `max(count, node_limit_for_feasibility_checks)`.
pub fn limit(
    job_type: JobType,
    spread_or_affinity: bool,
    count: u32,
    nodes: usize,
    node_limit: u32,
) -> usize {
    if spread_or_affinity {
        return count.max(node_limit) as usize;
    }
    match job_type {
        JobType::Batch => 2,
        JobType::Service => {
            let n = nodes.max(1) as f64;
            (n.log2().ceil() as usize).max(2)
        }
        // The system stack checks the one node it is asked about, for every node of the pool
        // ([src] `scheduler/scheduler_system.go:computePlacements`); `cluster/system.rs` walks them all.
        JobType::System | JobType::SysBatch => nodes.max(1),
    }
}

/// Nodes with score ≤ 0 that the limit iterator may skip before it must accept them ([src] `maxSkip`).
pub const MAX_SKIP: usize = 3;

/// Fisher–Yates shuffle of `order` with `rng`.
pub fn shuffle<T, R: Rng>(order: &mut [T], rng: &mut R) {
    for i in (1..order.len()).rev() {
        let j = rng.random_range(0..=i);
        order.swap(i, j);
    }
}

/// What the ranking stack sees of one node for one placement.
#[derive(Debug, Clone, Copy)]
pub struct Candidate {
    /// Feasible (ready, eligible, datacenter and class match) and the allocation fits.
    pub fits: bool,
    /// Final score (mean of the components that apply); meaningful only when `fits`.
    pub score: f64,
}

/// Result of a selection.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Selection {
    /// Chosen position in the shuffled order, if any node fits.
    pub chosen: Option<usize>,
    /// Best score.
    pub score: f64,
    /// Nodes examined (feasibility-checked), for the compute-cost model and `NodesEvaluated`.
    pub examined: u32,
}

/// Walks `n` shuffled positions from `*cursor` (wrapping), asking `candidate(pos)` about each, and returns the
/// best of the first `limit` fitting nodes (skipping up to [`MAX_SKIP`] nodes with score ≤ 0, which are used
/// only if fewer than `limit` others turn up). The cursor moves past the last node examined, so successive
/// placements of one evaluation continue around the ring, as Nomad's `StaticIterator` does.
#[inline]
pub fn select(
    n: usize,
    cursor: &mut usize,
    limit: usize,
    mut candidate: impl FnMut(usize) -> Candidate,
) -> Selection {
    let mut best: Option<(usize, f64)> = None;
    let mut skipped: [(usize, f64); MAX_SKIP] = [(0, 0.0); MAX_SKIP];
    let mut nskipped = 0;
    let mut seen = 0usize;
    let mut examined = 0u32;
    if n == 0 {
        return Selection {
            chosen: None,
            score: 0.0,
            examined,
        };
    }
    let start = *cursor % n;
    let mut pos = start;
    for _ in 0..n {
        let c = candidate(pos);
        examined += 1;
        pos = if pos + 1 == n { 0 } else { pos + 1 };
        if !c.fits {
            continue;
        }
        if c.score <= 0.0 && nskipped < MAX_SKIP {
            skipped[nskipped] = (pos_prev(pos, n), c.score);
            nskipped += 1;
            continue;
        }
        seen += 1;
        let p = pos_prev(pos, n);
        if best.is_none_or(|(_, s)| c.score > s) {
            best = Some((p, c.score));
        }
        if seen >= limit {
            break;
        }
    }
    *cursor = pos;
    if seen < limit {
        for &(p, s) in &skipped[..nskipped] {
            if best.is_none_or(|(_, b)| s > b) {
                best = Some((p, s));
            }
        }
    }
    Selection {
        chosen: best.map(|b| b.0),
        score: best.map(|b| b.1).unwrap_or(0.0),
        examined,
    }
}

#[inline]
fn pos_prev(pos: usize, n: usize) -> usize {
    if pos == 0 {
        n - 1
    } else {
        pos - 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn close(a: f64, b: f64) -> bool {
        (a - b).abs() < 5e-4
    }

    #[test]
    fn fit_vectors_from_the_reference() {
        // (free_cpu, free_mem) → binpack / spread raw scores, Nomad `ScoreFitBinPack` / `ScoreFitSpread` ([src] `nomad/structs/funcs.go`).
        let v = [
            ((0.9, 0.9), 4.113, 13.887),
            ((0.5, 0.5), 13.675, 4.325),
            ((0.1, 0.1), 17.482, 0.518),
            ((0.2, 0.6), 14.434, 3.566),
        ];
        for ((c, m), bp, sp) in v {
            assert!(
                close(fit_raw(Algorithm::Binpack, c, m), bp),
                "binpack {c},{m}: {}",
                fit_raw(Algorithm::Binpack, c, m)
            );
            assert!(
                close(fit_raw(Algorithm::Spread, c, m), sp),
                "spread {c},{m}: {}",
                fit_raw(Algorithm::Spread, c, m)
            );
        }
        assert_eq!(fit_raw(Algorithm::Binpack, 1.0, 1.0), 0.0);
        assert_eq!(fit_raw(Algorithm::Spread, 0.0, 0.0), 0.0);
        assert!(close(fit_score(Algorithm::Spread, 1.0, 1.0), 1.0));
    }

    #[test]
    fn limit_iterator_sizes() {
        assert_eq!(limit(JobType::Batch, false, 4500, 5000, 100), 2);
        assert_eq!(limit(JobType::Service, false, 1000, 5000, 100), 13);
        assert_eq!(limit(JobType::Service, false, 1000, 6100, 100), 13);
        assert_eq!(limit(JobType::Service, false, 1, 3, 100), 2);
        assert_eq!(limit(JobType::Batch, true, 10, 5000, 100), 100);
        assert_eq!(limit(JobType::Service, true, 1000, 5000, 100), 1000);
    }

    #[test]
    fn anti_affinity_only_with_collisions() {
        assert_eq!(anti_affinity(0, 10), None);
        assert_eq!(anti_affinity(1, 10), Some(-0.2));
    }

    #[test]
    fn select_takes_best_of_limit_and_advances_cursor() {
        let scores = [0.1, 0.9, 0.5, 0.7, 0.95];
        let mut cur = 0;
        let s = select(5, &mut cur, 2, |p| Candidate {
            fits: true,
            score: scores[p],
        });
        assert_eq!(s.chosen, Some(1));
        assert_eq!(s.examined, 2);
        assert_eq!(cur, 2);
        let s = select(5, &mut cur, 2, |p| Candidate {
            fits: true,
            score: scores[p],
        });
        assert_eq!(s.chosen, Some(3));
        assert_eq!(cur, 4);
        // wraps around
        let s = select(5, &mut cur, 2, |p| Candidate {
            fits: true,
            score: scores[p],
        });
        assert_eq!(s.chosen, Some(4));
        assert_eq!(cur, 1);
    }

    #[test]
    fn select_skips_unfit_and_low_scores() {
        let fits = [false, true, true, false, true];
        let scores = [0.0, -0.5, 0.3, 0.0, 0.2];
        let mut cur = 0;
        let s = select(5, &mut cur, 2, |p| Candidate {
            fits: fits[p],
            score: scores[p],
        });
        // node 1 (score ≤ 0) is skipped; 2 and 4 are the two scored; 2 wins.
        assert_eq!(s.chosen, Some(2));
        assert_eq!(s.examined, 5);
        // nothing fits
        let s = select(5, &mut cur, 2, |_| Candidate {
            fits: false,
            score: 1.0,
        });
        assert_eq!(s.chosen, None);
        assert_eq!(s.examined, 5);
        // only a skipped node fits: it is used
        let s = select(3, &mut cur, 2, |p| Candidate {
            fits: p == 1,
            score: -1.0,
        });
        assert_eq!(s.chosen, Some(1));
    }
}
