//! Integration tests of the harness (one binary, one module per area).

mod aws;
mod bounds;
mod compare;
mod cost;
mod e2e;
mod emulator;
mod fuzz_corpora;
mod gate;
mod infra;
mod mock_nomad;
mod nomad;
mod parsers;
mod plan;
mod real_cluster;
mod real_conformance;
mod real_nodesim;
mod real_nomad;
mod real_tls;
mod record;
mod report;
mod run;
mod token_hygiene;
mod trace;
