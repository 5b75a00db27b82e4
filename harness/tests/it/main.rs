//! Integration tests of the harness, one module per area.

mod compare;
mod report;
mod cost;
mod trace;
