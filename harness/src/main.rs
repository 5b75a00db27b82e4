//! The `stampede` binary: a thin shell over [`stampede::run`].

use std::process::ExitCode;

/// mimalloc instead of the system allocator: the simulator allocates and frees millions of small objects
/// per simulated day, and glibc's allocator spent ~15% of a replayed CI day in `malloc_consolidate` and
/// friends (perf, issue 11 speed bar). Output does not depend on the allocator.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

/// `mi_option_purge_delay` (mimalloc v3 `include/mimalloc.h`, `mi_option_e`: the option after
/// `mi_option_deprecated_eager_commit_delay` = 14 and before `mi_option_use_numa_nodes` = 16).
const MI_OPTION_PURGE_DELAY: libmimalloc_sys::mi_option_t = 15;

fn main() -> ExitCode {
    // Never hand freed memory back to the OS during a run: with the default delay mimalloc purged and
    // re-faulted (transparent huge pages, zeroed 2 MiB at a time) ~4.5 GB over a replayed CI day of
    // 300 MB peak RSS — a third of its time in the kernel's `clear_page` (perf); with purging off the
    // faults fall from ~2,300 to ~560. Freed memory stays with the process for reuse (a long `emulate`
    // or `run` holds its high-water mark, not more); the OS gets it back at exit.
    // SAFETY: sets a process-wide allocator option before any thread is started; takes no pointers.
    unsafe { libmimalloc_sys::mi_option_set(MI_OPTION_PURGE_DELAY, -1) };
    // No transparent huge pages for this process (what `MIMALLOC_ALLOW_THP=0` does, but mimalloc reads
    // that option at its initialisation, before `main`). On this project's 2-core VMs the kernel zeroes a
    // 2 MiB huge page on first touch, with compaction when memory is fragmented: full C2M spent 2.9–4.5 s
    // of 8–12 s in the kernel with huge pages and 1.0–2.3 s without (6 alternating runs), a replayed CI
    // day 0.07–1.3 s vs ~0.3 s. Output does not depend on it.
    #[cfg(target_os = "linux")]
    // SAFETY: a process-wide flag (PR_SET_THP_DISABLE = 41); takes no pointers.
    unsafe {
        libc::prctl(41, 1, 0, 0, 0);
    }
    stampede::main_entry()
}
