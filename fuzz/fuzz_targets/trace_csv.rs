#![no_main]
//! cargo-fuzz target `trace_csv`: see `stampede_fuzz::trace_csv`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::trace_csv(data));
