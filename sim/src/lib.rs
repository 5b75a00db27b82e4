//! # stampede-sim: a deterministic discrete-event simulator of a Nomad cluster
//!
//! This crate is pure: no tokio, no network, no wall clock, no filesystem beyond parsing what it is
//! handed. It owns the data model every other part of stampede speaks: the [`scenario`], the [`trace`] and
//! the **run record** ([`record`]).
//!
//! ## Module map
//! | module | what |
//! |---|---|
//! | [`engine`] | integer-ns clock, `(time, seq)` event queue, budgets, tie-shuffle |
//! | [`rng`] | one root seed, named per-component ChaCha8 streams, seed-derived IDs |
//! | [`scenario`], [`params`], [`instances`] | scenario files, calibrated model parameters, EC2 types |
//! | [`cluster`] | the core: servers, broker, workers, plan applier, Raft, clients, faults |
//! | [`broker`] | eval broker: priority then FIFO, one eval per job in flight, nack/redelivery, blocked evals |
//! | [`ranking`] | shuffle, limit iterator, binpack/spread fit scores, anti-affinity |
//! | [`raft`] | log entries with byte sizes, fsync latency, replication, FSM apply, snapshots |
//! | [`clients`] | nodes, heartbeats (lazy expiry, no heap events), image cache, alloc lifecycle |
//! | [`resources`] | per-server CPU and memory models, per-second metric rows |
//! | [`workload`] | the `JobSource` interface: synthetic arrivals and trace replay |
//! | [`driver`] | the step-by-step interface in Nomad's shapes (used by the emulator) |
//! | [`runner`] | run a whole scenario as fast as possible, produce a [`record::RunRecord`] |
//! | [`record`], [`summary`] | the run record and its summary |
//! | [`trace`] | recorded CI traffic format |
//!
//! ## Determinism contract
//! For a given scenario, seed and input, every output (record, IDs, metrics) is bit-for-bit identical on
//! every run and machine: time is integer nanoseconds; events are ordered by `(time, seq)` with `seq` a
//! counter (FIFO ties); every random decision draws from a named ChaCha8 stream derived from the root seed;
//! no `HashMap`/`HashSet` (clippy bans them here); no wall clock (clippy bans it). Parallelism happens only
//! across runs. [`engine::EventQueue`] can permute same-time events with a second seed (tie-shuffle) to show
//! a result does not hinge on tie order.
#![deny(missing_docs)]

pub mod broker;
pub mod clients;
pub mod cluster;
pub mod driver;
pub mod duration;
pub mod engine;
pub mod error;
pub mod instances;
pub mod metric;
pub mod params;
pub mod raft;
pub mod ranking;
pub mod record;
pub mod resources;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod summary;
pub mod trace;
pub mod workload;

pub use error::SimError;
