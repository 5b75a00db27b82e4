//! Typed identity: index newtypes over arenas.
//!
//! Every entity of the cluster core lives in an [`Arena`] and is named by the index newtype of its kind,
//! so a job index cannot be used where an allocation index is meant, and "none" is `Option<_>` rather than
//! a sentinel value. Indexes are `u32` (a run holds well under 4 billion of anything) and are assigned in
//! creation order, which is also the order IDs are derived in ([`crate::rng::uuid`]).

use std::marker::PhantomData;
use std::num::NonZeroU32;
use std::ops::{Index, IndexMut};

/// An index newtype.
pub trait Idx: Copy + Eq + Ord + std::fmt::Debug {
    /// The index of position `i`.
    fn from_usize(i: usize) -> Self;
    /// The position.
    fn index(self) -> usize;
}

macro_rules! ids {
    ($($(#[$doc:meta])* $name:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// Stored as `index + 1` in a `NonZeroU32`, so `Option<Self>` is as small as the index itself.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub struct $name(NonZeroU32);

        impl $name {
            /// The index `i`.
            #[inline]
            pub const fn new(i: u32) -> Self {
                match NonZeroU32::new(i.wrapping_add(1)) {
                    Some(v) => $name(v),
                    None => panic!("index overflow"),
                }
            }

            /// The index as a number.
            #[inline]
            pub const fn raw(self) -> u32 {
                self.0.get() - 1
            }
        }

        impl Idx for $name {
            #[inline]
            fn from_usize(i: usize) -> Self {
                debug_assert!(i < u32::MAX as usize);
                $name::new(i as u32)
            }
            #[inline]
            fn index(self) -> usize {
                self.raw() as usize
            }
        }
    )*};
}

ids! {
    /// A job.
    JobIx;
    /// An evaluation.
    EvalIx;
    /// An allocation.
    AllocIx;
    /// A client node.
    NodeIx;
    /// A plan between a worker and the applier.
    PlanIx;
    /// A scheduler worker.
    WorkerIx;
}

/// A vector of `T` indexed by `I`.
#[derive(Debug, Clone)]
pub struct Arena<I, T> {
    items: Vec<T>,
    _ix: PhantomData<fn(I) -> I>,
}

impl<I, T> Default for Arena<I, T> {
    fn default() -> Self {
        Arena {
            items: Vec::new(),
            _ix: PhantomData,
        }
    }
}

impl<I: Idx, T> Arena<I, T> {
    /// An empty arena.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds `item`, returning its index.
    #[inline]
    pub fn push(&mut self, item: T) -> I {
        let i = I::from_usize(self.items.len());
        self.items.push(item);
        i
    }

    /// Room for `n` more items without growing (a workload that says its size up front).
    pub fn reserve_exact(&mut self, n: usize) {
        self.items.reserve_exact(n);
    }

    /// The index the next [`Arena::push`] returns.
    #[inline]
    pub fn next_ix(&self) -> I {
        I::from_usize(self.items.len())
    }

    /// Number of items.
    #[inline]
    pub fn len(&self) -> usize {
        self.items.len()
    }

    /// Whether the arena is empty.
    #[inline]
    pub fn is_empty(&self) -> bool {
        self.items.is_empty()
    }

    /// The items in index order.
    #[inline]
    pub fn iter(&self) -> std::slice::Iter<'_, T> {
        self.items.iter()
    }

    /// The items in index order, mutably.
    #[inline]
    pub fn iter_mut(&mut self) -> std::slice::IterMut<'_, T> {
        self.items.iter_mut()
    }

    /// `(index, item)` pairs in index order.
    #[inline]
    pub fn iter_enumerated(&self) -> impl Iterator<Item = (I, &T)> + '_ {
        self.items
            .iter()
            .enumerate()
            .map(|(i, t)| (I::from_usize(i), t))
    }

    /// Every index in order.
    #[inline]
    pub fn keys(&self) -> impl Iterator<Item = I> + use<I, T> {
        (0..self.items.len()).map(I::from_usize)
    }
}

impl<I: Idx, T> Index<I> for Arena<I, T> {
    type Output = T;
    #[inline]
    fn index(&self, i: I) -> &T {
        &self.items[i.index()]
    }
}

impl<I: Idx, T> IndexMut<I> for Arena<I, T> {
    #[inline]
    fn index_mut(&mut self, i: I) -> &mut T {
        &mut self.items[i.index()]
    }
}

impl<'a, I, T> IntoIterator for &'a Arena<I, T> {
    type Item = &'a T;
    type IntoIter = std::slice::Iter<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter()
    }
}

impl<'a, I, T> IntoIterator for &'a mut Arena<I, T> {
    type Item = &'a mut T;
    type IntoIter = std::slice::IterMut<'a, T>;
    fn into_iter(self) -> Self::IntoIter {
        self.items.iter_mut()
    }
}

macro_rules! niche_u64 {
    ($($(#[$doc:meta])* $name:ident, $new:ident;)*) => {$(
        $(#[$doc])*
        ///
        /// Stored as the bitwise complement in a `NonZeroU64`, so `Option<Self>` has a niche and costs no
        /// more than the number itself (allocations carry several of these; C2M holds two million
        /// allocations). The one value it cannot hold, `u64::MAX` ns, is 584 years.
        /// (No derived ordering: the complement would sort backwards; compare [`Self::get`].)
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub struct $name(std::num::NonZeroU64);

        impl $name {
            /// The value `ns`.
            #[inline]
            pub const fn $new(ns: u64) -> Self {
                match std::num::NonZeroU64::new(!ns) {
                    Some(v) => $name(v),
                    None => panic!("nanosecond overflow"),
                }
            }

            /// The value in ns.
            #[inline]
            pub const fn get(self) -> u64 {
                !self.0.get()
            }
        }
    )*};
}

niche_u64! {
    /// A point in simulated time (ns since t = 0) that may not have happened yet: `Option<Stamp>`.
    Stamp, at;
    /// A duration in ns that may be unbounded: `Option<Nanos>` (`None`: runs until stopped).
    Nanos, ns;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn push_returns_typed_indexes_in_order() {
        let mut a: Arena<JobIx, &str> = Arena::new();
        assert_eq!(a.next_ix(), JobIx::new(0));
        let x = a.push("x");
        let y = a.push("y");
        assert_eq!((x, y), (JobIx::new(0), JobIx::new(1)));
        a[y] = "z";
        assert_eq!(a[y], "z");
        assert_eq!(
            a.keys().collect::<Vec<_>>(),
            vec![JobIx::new(0), JobIx::new(1)]
        );
        assert_eq!(
            a.iter_enumerated().map(|(i, _)| i.index()).sum::<usize>(),
            1
        );
    }

    #[test]
    fn stamps_round_trip_and_cost_nothing_as_options() {
        for t in [0, 1, 1_000_000_007, u64::MAX - 1] {
            assert_eq!(Stamp::at(t).get(), t);
            assert_eq!(Nanos::ns(t).get(), t);
        }
        assert_eq!(std::mem::size_of::<Option<Stamp>>(), 8);
        assert_eq!(std::mem::size_of::<Option<Nanos>>(), 8);
        assert_ne!(Some(Stamp::at(0)), None);
    }
}
