//! Integration tests of the harness.

mod aws;
mod infra;
