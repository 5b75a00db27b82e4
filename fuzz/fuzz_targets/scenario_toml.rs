#![no_main]
//! cargo-fuzz target `scenario_toml`: see `stampede_fuzz::scenario_toml`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::scenario_toml(data));
