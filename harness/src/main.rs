//! The `stampede` binary: a thin shell over [`stampede::run`].

use std::process::ExitCode;

/// mimalloc instead of the system allocator: the simulator allocates and frees millions of small objects
/// per simulated day, and glibc's allocator spent ~15% of a replayed CI day in `malloc_consolidate` and
/// friends (perf, issue 11 speed bar). Output does not depend on the allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    stampede::main_entry()
}
