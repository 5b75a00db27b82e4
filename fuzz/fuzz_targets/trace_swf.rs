#![no_main]
//! cargo-fuzz target `trace_swf`: see `stampede_fuzz::trace_swf`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::trace_swf(data));
