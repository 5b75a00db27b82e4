#![no_main]
//! cargo-fuzz target `expressions`: see `stampede_fuzz::expressions`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::expressions(data));
