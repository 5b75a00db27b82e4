//! # stampede-sim: a deterministic discrete-event simulator of a Nomad cluster
//!
//! This crate is pure: no tokio, no network, no wall clock, no filesystem beyond parsing what it is
//! handed. It owns the data model every other part of stampede speaks: the [`scenario`], the [`trace`] and
//! the **run record** ([`record`]).
//!
//! ## Public surface
//! - [`runner::run_scenario`]: run a whole scenario as fast as possible into a [`record::RunRecord`].
//! - [`cluster::Cluster`]: the simulated cluster driven step by step (the emulator's backend): submit
//!   requests, advance time, inject faults, read Nomad-shaped views ([`api`]).
//! - [`scenario::Scenario`], [`trace`], [`workload`]: the inputs; [`record`], [`summary`]: the outputs;
//!   [`SimError`]: every error.
//!
//! ## Module map
//! | module | what |
//! |---|---|
//! | [`cluster`] | the core, one file per subsystem: requests, Raft log and FSM, scheduler workers, plan applier, blocked evals, clients, fleet and faults, metrics, views |
//! | [`api`] | the driving interface types in Nomad's shapes: job specs, request outcomes, views, change batches |
//! | [`runner`] | run a scenario to completion, produce a [`record::RunRecord`] |
//! | [`engine`] | integer-ns clock, `(time, seq)` event queue, tie-shuffle |
//! | [`rng`] | one root seed, named per-component ChaCha8 streams, seed-derived IDs |
//! | [`scenario`], [`params`], [`instances`], [`duration`] | scenario files, calibrated model parameters, EC2 types, durations |
//! | [`ranking`] | shuffle, limit iterator, binpack/spread fit scores, anti-affinity |
//! | [`placement`] | constraints, affinities, `distinct_hosts`, ports, disk, node pools and node attributes as Nomad's feasibility checks see them |
//! | [`workload`] | the `JobSource` interface: synthetic arrivals and trace replay |
//! | [`record`], [`summary`] | the run record and its summary |
//! | [`trace`] | recorded CI traffic format |
//! | `broker`, `raft`, `clients`, `resources` (private) | leaf models: eval broker and blocked evals, Raft timing, nodes and heartbeats, server CPU and memory |
//!
//! ## Ordering guarantees
//! - Every event carries a time in integer nanoseconds and a sequence number taken when it is scheduled;
//!   events run in `(time, seq)` order. Two events at the same nanosecond run in the order they were
//!   scheduled (FIFO), whichever subsystem scheduled them.
//! - One event's reaction runs to completion before the next event starts; everything it schedules (even
//!   at the same time) runs after it. The simulation is single-threaded: there is no interleaving.
//! - Events are never cancelled. A handler whose event no longer applies (a nack timer that was re-armed,
//!   a plan of a redelivered evaluation, a task attempt superseded by a restart, a node already gone)
//!   recognises it by a generation counter or a status check and does nothing; `cluster/event.rs` lists
//!   the rule for each event.
//! - [`cluster::Cluster::advance_to`]`(t)` runs every event with time ≤ `t`; requests submitted between
//!   calls are stamped with the current time and scheduled after every event already pending at it.
//!
//! ## Determinism contract
//! For a given scenario, seed and input, every output (record, IDs, metrics) is bit-for-bit identical on
//! every run and machine: time is integer nanoseconds; events are ordered by `(time, seq)` as above; every
//! random decision draws from a named ChaCha8 stream derived from the root seed ("scheduler", "clients",
//! "faults", "raft", …), so a change in one component does not shift another's draws; no
//! `HashMap`/`HashSet` (clippy bans them here); no wall clock (clippy bans it). Parallelism happens only
//! across runs. [`engine::EventQueue`] can permute same-time events with a second seed (tie-shuffle) to show
//! a result does not hinge on tie order. `tests/it/record_digests.rs` pins the SHA-256 of every record file
//! of several scenarios.
#![deny(missing_docs)]

pub mod api;
pub(crate) mod broker;
pub(crate) mod clients;
pub mod cluster;
pub mod cron;
pub mod duration;
pub mod engine;
pub mod error;
pub(crate) mod ids;
pub mod instances;
pub mod limits;
pub mod metric;
pub(crate) mod model;
pub mod params;
pub mod placement;
pub(crate) mod raft;
pub mod ranking;
pub mod record;
pub(crate) mod resources;
pub mod rng;
pub mod runner;
pub mod scenario;
pub mod summary;
pub mod trace;
pub mod workload;

pub use error::SimError;
