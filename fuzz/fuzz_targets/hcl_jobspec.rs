#![no_main]
//! cargo-fuzz target `hcl_jobspec`: see `stampede_fuzz::hcl_jobspec`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::hcl_jobspec(data));
