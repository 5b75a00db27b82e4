//! Randomness: one root seed, a named ChaCha8 stream per component, and seed-derived IDs.
//!
//! Streams are derived by hashing the component name (FNV-1a) with the root seed through SplitMix64 into a
//! 256-bit ChaCha8 key. ChaCha8 is specified by its algorithm (not by the `rand` version), so a seed means the
//! same stream forever. IDs (evals, allocs, nodes) are UUID-shaped strings hashed from the seed, a kind and a
//! counter: never from a clock or `uuid::new_v4`.

use rand::SeedableRng;
use rand_chacha::ChaCha8Rng;

/// SplitMix64 step (Steele, Lea & Flood 2014): a fast, well-mixed 64-bit bijection.
#[inline]
pub fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// FNV-1a 64-bit hash of a string (stable across platforms and versions).
pub fn fnv1a(s: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in s.bytes() {
        h ^= b as u64;
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    h
}

/// The named stream `name` of root seed `seed`.
pub fn stream(seed: u64, name: &str) -> ChaCha8Rng {
    let mut key = [0u8; 32];
    let mut s = seed ^ fnv1a(name).rotate_left(17);
    for chunk in key.chunks_mut(8) {
        s = splitmix64(s);
        chunk.copy_from_slice(&s.to_le_bytes());
    }
    ChaCha8Rng::from_seed(key)
}

/// Kinds of seed-derived IDs (each its own ID space).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum IdKind {
    /// Client nodes.
    Node = 1,
    /// Evaluations.
    Eval = 2,
    /// Allocations.
    Alloc = 3,
    /// Dispatched child jobs.
    Dispatch = 4,
}

/// Formats the `n`-th ID of `kind` for root seed `seed` as a UUID-shaped string (8-4-4-4-12 hex).
pub fn uuid(seed: u64, kind: IdKind, n: u64) -> String {
    let a = splitmix64(seed ^ ((kind as u64) << 56) ^ splitmix64(n));
    let b = splitmix64(a ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    let mut s = String::with_capacity(36);
    use std::fmt::Write;
    let _ = write!(
        s,
        "{:08x}-{:04x}-{:04x}-{:04x}-{:012x}",
        (a >> 32) as u32,
        (a >> 16) as u16,
        a as u16,
        (b >> 48) as u16,
        b & 0xffff_ffff_ffff
    );
    s
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::RngCore;

    #[test]
    fn streams_are_stable_and_distinct() {
        let a1 = stream(42, "broker").next_u64();
        let a2 = stream(42, "broker").next_u64();
        let b = stream(42, "clients").next_u64();
        let c = stream(43, "broker").next_u64();
        assert_eq!(a1, a2);
        assert_ne!(a1, b);
        assert_ne!(a1, c);
    }

    #[test]
    fn uuids_are_shaped_and_unique() {
        let u = uuid(1, IdKind::Alloc, 0);
        assert_eq!(u.len(), 36);
        assert_eq!(u.matches('-').count(), 4);
        let mut all: Vec<String> = (0..10_000).map(|i| uuid(1, IdKind::Alloc, i)).collect();
        all.sort();
        all.dedup();
        assert_eq!(all.len(), 10_000);
        assert_ne!(uuid(1, IdKind::Alloc, 5), uuid(1, IdKind::Eval, 5));
        assert_ne!(uuid(1, IdKind::Alloc, 5), uuid(2, IdKind::Alloc, 5));
    }
}
