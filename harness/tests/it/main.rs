//! Integration tests of the harness (one binary, one module per area).

mod aws;
mod bounds;
mod compare;
mod cost;
mod e2e;
mod emulator;
mod infra;
mod mock_nomad;
mod nomad;
mod parsers;
mod plan;
mod record;
mod report;
mod run;
mod token_hygiene;
mod trace;
