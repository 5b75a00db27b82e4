//! Integration tests of the simulator, one module per behaviour.

mod determinism;
mod golden;
mod scenarios;
mod scheduling;
