//! Integration tests of the simulator, one module per behaviour.

mod client_hosts;
mod determinism;
mod golden;
mod jobtypes;
mod mechanisms;
mod placement;
mod record_digests;
mod scenarios;
mod scheduling;
