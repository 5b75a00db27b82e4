#![no_main]
//! cargo-fuzz target `trace_jsonl`: see `stampede_fuzz::trace_jsonl`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::trace_jsonl(data));
