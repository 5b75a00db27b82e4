#![no_main]
//! cargo-fuzz target `emulator_register`: see `stampede_fuzz::emulator_register`.

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| stampede_fuzz::emulator_register(data));
