#![no_main]
//! cargo-fuzz target `run_record`: see `stampede_fuzz::run_record`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::run_record(data));
