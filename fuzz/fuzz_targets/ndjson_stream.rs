#![no_main]
//! cargo-fuzz target `ndjson_stream`: see `stampede_fuzz::ndjson_stream`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::ndjson_stream(data));
