//! Integration tests of the harness, one module per area.

mod compare;
mod emulator;
mod report;
