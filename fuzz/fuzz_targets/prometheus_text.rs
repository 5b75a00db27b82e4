#![no_main]
//! cargo-fuzz target `prometheus_text`: see `stampede_fuzz::prometheus_text`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::prometheus_text(data));
