//! One file per subcommand: its argument struct and its top level.

pub mod bench;
pub mod compare;
pub mod cost;
pub mod emulate;
pub mod plan;
pub mod provision;
pub mod report;
pub mod run;
pub mod sim;
pub mod trace;

/// A job source replaying a trace file (JSON Lines or CSV).
pub fn trace_source(
    path: &std::path::Path,
) -> anyhow::Result<Box<dyn stampede_sim::workload::JobSource>> {
    anyhow::bail!("trace replay is not built yet ({})", path.display())
}

/// A factory of job sources replaying one trace file, parsed once and shared across threads.
pub type TraceSourceFactory = std::sync::Arc<dyn Fn() -> anyhow::Result<Box<dyn stampede_sim::workload::JobSource>> + Send + Sync>;

/// Loads a trace once and returns a factory of sources replaying it.
pub fn trace_source_factory(path: &std::path::Path) -> anyhow::Result<TraceSourceFactory> {
    anyhow::bail!("trace replay is not built yet ({})", path.display())
}
