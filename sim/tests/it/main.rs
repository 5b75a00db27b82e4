//! Integration tests of the simulator, one module per behaviour.

mod determinism;
mod golden;
mod jobtypes;
mod mechanisms;
mod placement;
mod record_digests;
mod scenarios;
mod scheduling;
