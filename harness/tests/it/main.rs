//! Integration tests of the harness, one module per area.

mod cost;
mod trace;
