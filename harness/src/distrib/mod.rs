//! Past one machine: floods from many load generators, and capacity plans evaluated as Nomad batch jobs.
//!
//! | file | what |
//! |---|---|
//! | [`shard`] | `run --shard I/N --start-at T`: which jobs a generator owns, the aligned start, `shard.json` |
//! | [`clock`] | this machine's clock offset against the Nomad servers, from the HTTP `Date` header |
//! | [`flood`] | `run --as-nomad-job N`: the N generators placed by Nomad, their records read back and merged |
//! | [`merge`] | `stampede merge`: N generators' records → the one record a single generator would have written |
//! | [`plan`] | `plan --on-nomad`: work units dispatched as Nomad batch jobs, `stampede plan-worker`, results through the allocation filesystem API |

pub mod clock;
pub mod flood;
pub mod merge;
pub mod plan;
pub mod shard;

pub use merge::{merge, merge_into, ClockCorrection, MergeRequest};
pub use shard::{Shard, ShardInfo};
