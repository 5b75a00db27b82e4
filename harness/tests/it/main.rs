//! Integration tests of the harness (one binary, one module per area).

mod compare;
mod cost;
mod mock_nomad;
mod nomad;
mod parsers;
mod record;
mod report;
mod run;
mod trace;
