//! Integration tests of the harness (one binary, one module per area).

mod mock_nomad;
mod nomad;
mod parsers;
mod run;
