//! # stampede: load-test and model HashiCorp Nomad clusters
//!
//! The harness crate: everything that touches the world (HTTP, the event stream, AWS, files, plots, the
//! CLI). It depends on `stampede-sim` for the data model (scenario, trace, run record) and the simulator.
//!
//! ## Module map
//! The rule: [`cli`] → library modules → {[`nomad`], [`files`], `stampede_sim`}; no library module uses
//! [`cli`], and there are no process globals (the embedded emulator is a parameter of
//! [`load::run_load_with`]).
//!
//! | module | what |
//! |---|---|
//! | [`cli`] | one file per subcommand: clap struct → typed request → one library call → printing |
//! | [`files`] | the one scenario loader, the one trace loader/writer (one extension rule), run-record IO, atomic writes |
//! | [`nomad`] | the Nomad HTTP client, event-stream reader, metrics parsers, wire types |
//! | [`load`] | `stampede run`: request → plan, load generator, observer/timeline, reconciler, metrics scraper, record writer |
//! | [`capture`] | `stampede trace record`: a real cluster's traffic from its event stream into a trace |
//! | [`calibrate`] | `stampede calibrate`: fit model parameters to recorded runs; `--calibration FILE` everywhere |
//! | [`simulate`] | the simulator on files: a scenario's job source (synthetic or trace), a simulation with context |
//! | [`planner`] | `stampede plan`: the SLO, candidate fleets, the grid-then-bisection search |
//! | [`distrib`] | past one machine: sharded floods (`run --shard`, `merge`), plans evaluated as Nomad batch jobs |
//! | [`jobspec`] | job JSON from a workload template, and HCL2 jobspec → job JSON conversion |
//! | [`emulator`] | `stampede emulate`: the simulator behind Nomad's HTTP API |
//! | [`embedded`] | the emulator started in-process as `stampede run`'s default target |
//! | [`report`] | summary.md, report.html, exports; the compare, plan, cost and trace renderings |
//! | [`cost`] | the cost model of a run record or a scenario fleet; the dated EC2 price table; live spot prices |
//! | [`aws`] | provisioning plan, journal, and (feature `aws`) EC2 provision/teardown |
#![deny(missing_docs)]

pub mod aws;
pub mod calibrate;
pub mod capture;
pub mod cli;
pub mod cost;
pub mod distrib;
pub mod embedded;
pub mod emulator;
pub mod files;
pub mod jobspec;
pub mod load;
pub mod nomad;
pub mod planner;
pub mod report;
pub mod simulate;
pub mod upgrade;

pub use cli::{main_entry, run, Command, Opts};

/// Exit code for "the command ran and found a regression / SLO breach" (compare, plan).
pub const EXIT_FAIL: u8 = 1;
/// Exit code for bad input or an error: the command could not run (also `run` when every submission failed).
pub const EXIT_ERROR: u8 = 2;
/// Exit code of `run` for a run that ran but is not complete: some submissions failed, placements were never
/// observed (drain timed out), `--timeout` ran out, or a signal stopped it. The counts are on stderr and the
/// record's `outcome` says which.
pub const EXIT_PARTIAL: u8 = 3;
