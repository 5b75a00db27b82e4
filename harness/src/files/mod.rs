//! Files stampede reads and writes, each with one loader: scenarios, traces, run records; atomic writes.
//!
//! | file | what |
//! |---|---|
//! | [`scenario`] | the one scenario loader (TOML → validated [`stampede_sim::scenario::Scenario`], `--scale`) |
//! | [`trace`] | the one trace loader/writer, one extension rule (`.jsonl` / `.csv`), replay sources |
//! | [`record`] | run-record directories: whole records, `run.json`, streamed `.partial` CSV tables |
//! | [`atomic`] | output files: temp file + fsync + rename for regular files, write-through for devices and FIFOs, symlinks followed |

pub mod atomic;
pub mod record;
pub mod scenario;
pub mod trace;

pub use atomic::{write_atomic, write_atomic_with};
pub use scenario::{load_scenario, load_scenario_with, parse_set, read_scenario};
pub use trace::{
    read_trace, trace_source, trace_source_factory, write_trace, TraceFormat, TraceSourceFactory,
};
